"""Which values of a command's payload are secrets, and the payload with them hidden.

The command log (`Command.payload`, shown in the admin and in
/api/v1/commands/) keeps every CALL the central system sent. A few carry a
credential of the charge point; the log keeps their field names, so operators
see what was changed, with the value replaced by `REDACTED`. The CALL sent to
the charge point keeps the real value: only the logged copy is redacted
(`services.command_create`).

Secrets, by version and action:

- OCPP 1.6 ChangeConfiguration (§5.3) of `AuthorizationKey`: the Basic-auth
  password of security profiles 1 and 2 (OCPP 1.6 Security Whitepaper,
  configuration key "AuthorizationKey", write-only: GetConfiguration never
  returns its value): `value`.
- OCPP 2.0.1 SetVariables (Part 2 B05) of `SecurityCtrlr.BasicAuthPassword`
  (Part 2 A01 "Update Charging Station Password for HTTP Basic
  Authentication"; a WriteOnly variable in the Part 2 appendix), or of any
  variable the station reported WriteOnly in its device model
  (MutabilityEnumType WriteOnly, Part 1 §4 Device model: a value that can be
  written but is never reported back): `attributeValue`.
- OCPP 2.0.1 SetNetworkProfile (Part 2 B09): its NetworkConnectionProfileType
  has no Basic-auth password (OCPP 2.1 adds `basicAuthPassword`), but its APN
  and VPN carry `apn.apnPassword`, `apn.simPin`, `vpn.password`, `vpn.key`.

DataTransfer is vendor-defined and left as sent.
"""

from __future__ import annotations

import copy
from collections.abc import Collection

from ocpp.v16.enums import ConfigurationKey as ConfigurationKeyV16
from ocpp.v201.enums import MutabilityEnumType

from .models import Variable

# What the log shows instead of a secret. Short and not a plausible password.
REDACTED = "***"

# OCPP 1.6 configuration keys whose value is a secret (Security Whitepaper).
SECRET_CONFIGURATION_KEYS = frozenset({ConfigurationKeyV16.authorization_key.casefold()})

# OCPP 2.0.1 (component name, variable name) pairs whose value is a secret
# whatever the station reported (Part 2 Appendix: standardized, WriteOnly).
SECRET_VARIABLES = frozenset({("SecurityCtrlr", "BasicAuthPassword")})

# OCPP 2.0.1 SetNetworkProfile: secret fields of connectionData, as (object, field).
NETWORK_PROFILE_SECRETS = (("apn", "apnPassword"), ("apn", "simPin"), ("vpn", "password"), ("vpn", "key"))


def is_secret_configuration_key(key: str) -> bool:
    """True for a 1.6 configuration key whose value must not be stored (AuthorizationKey).

    Compared without case: stations differ on whether key names are
    case-sensitive, and hiding one value too many costs nothing.
    """
    return key.casefold() in SECRET_CONFIGURATION_KEYS


def is_secret_variable(component: dict, variable: dict) -> bool:
    """True for a 2.0.1 ComponentType/VariableType pair that is a secret by the spec (any instance or EVSE)."""
    return (component.get("name"), variable.get("name")) in SECRET_VARIABLES


def variable_identity(component: dict, variable: dict) -> tuple:
    """(component, instance, EVSE id, connector id, variable, instance), 0 and "" for absent parts.

    The same identity `Variable` stores, without the attribute type.
    """
    evse = component.get("evse") or {}
    return (
        component.get("name", ""),
        component.get("instance", ""),
        evse.get("id", 0),
        evse.get("connectorId", 0),
        variable.get("name", ""),
        variable.get("instance", ""),
    )


def write_only_variables(charge_point_id: str, payload: dict) -> frozenset[tuple]:
    """The `variable_identity`s of a SetVariables payload's entries the station reported WriteOnly.

    One query, whatever the number of entries. Any attribute type reported
    WriteOnly counts for every attribute of that variable: when in doubt, hide.
    """
    names = {entry["variable"]["name"] for entry in payload.get("setVariableData", [])}
    if not names:
        return frozenset()
    rows = Variable.objects.filter(charge_point_id=charge_point_id, mutability=MutabilityEnumType.write_only, variable__in=names)
    fields = ("component", "component_instance", "evse_id", "connector_id", "variable", "variable_instance")
    return frozenset(rows.values_list(*fields))


def redact(version: str, action: str, payload: dict, *, write_only: Collection[tuple] = ()) -> dict:
    """`payload` (a schema-valid CALL of `action`, camelCase) with each secret value replaced by REDACTED.

    `write_only` holds the `variable_identity`s a 2.0.1 station reported
    WriteOnly (see `write_only_variables`). Returns a copy when anything was
    hidden, `payload` itself otherwise; never changes `payload`, which is
    what the charge point is sent. Raises nothing for a valid payload.
    """
    if version == "1.6" and action == "ChangeConfiguration":
        if is_secret_configuration_key(payload.get("key", "")):
            return {**payload, "value": REDACTED}
        return payload
    if version == "2.0.1" and action == "SetVariables":
        entries = payload.get("setVariableData", [])
        secret = [
            is_secret_variable(e["component"], e["variable"])
            or variable_identity(e["component"], e["variable"]) in write_only
            for e in entries
        ]
        if not any(secret):
            return payload
        return {
            **payload,
            "setVariableData": [
                {**entry, "attributeValue": REDACTED} if hide else entry for entry, hide in zip(entries, secret)
            ],
        }
    if version == "2.0.1" and action == "SetNetworkProfile":
        profile = payload.get("connectionData", {})
        found = [(part, name) for part, name in NETWORK_PROFILE_SECRETS if name in (profile.get(part) or {})]
        if not found:
            return payload
        redacted = copy.deepcopy(payload)
        for part, name in found:
            redacted["connectionData"][part][name] = REDACTED
        return redacted
    return payload


def redact_for_log(*, charge_point_id: str, version: str, action: str, payload: dict) -> dict:
    """`redact` with the station's WriteOnly variables looked up: at most one query (2.0.1 SetVariables only)."""
    write_only: Collection[tuple] = ()
    if version == "2.0.1" and action == "SetVariables":
        write_only = write_only_variables(charge_point_id, payload)
    return redact(version, action, payload, write_only=write_only)
