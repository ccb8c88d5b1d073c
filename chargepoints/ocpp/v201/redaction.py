"""OCPP 2.0.1 secrets: which values of a CALL must not be logged or stored.

- SetVariables (Part 2 B05) of `SecurityCtrlr.BasicAuthPassword` (A01
  "Update Charging Station Password for HTTP Basic Authentication"; WriteOnly
  in the Part 2 appendix), or of any variable the station reported WriteOnly
  in its device model (Part 1 §4: written, never reported back): `attributeValue`.
- SetNetworkProfile (B09): its NetworkConnectionProfileType has no Basic-auth
  password (OCPP 2.1 adds `basicAuthPassword`), but its APN and VPN carry
  `apn.apnPassword`, `apn.simPin`, `vpn.password`, `vpn.key`.
"""

from __future__ import annotations

import copy
from collections.abc import Collection

from chargepoints.models import Variable
from chargepoints.redaction import REDACTED

# (component name, variable name) pairs whose value is a secret whatever the
# station reported (Part 2 Appendix: standardized, WriteOnly).
SECRET_VARIABLES = frozenset({("SecurityCtrlr", "BasicAuthPassword")})

# SetNetworkProfile: secret fields of connectionData, as (object, field).
NETWORK_PROFILE_SECRETS = (("apn", "apnPassword"), ("apn", "simPin"), ("vpn", "password"), ("vpn", "key"))


def is_secret_variable(component: dict, variable: dict) -> bool:
    """True for a ComponentType/VariableType pair that is a secret by the spec (any instance or EVSE)."""
    return (component.get("name"), variable.get("name")) in SECRET_VARIABLES


def redact(action: str, payload: dict, *, write_only: Collection[tuple] = ()) -> dict:
    """`payload` with each secret value replaced by REDACTED (a copy), else `payload` itself.

    `write_only` holds the `Variable.identity`s the station reported
    WriteOnly (`selectors.write_only_variables`).
    """
    if action == "SetVariables":
        entries = payload.get("setVariableData", [])
        secret = [
            is_secret_variable(e["component"], e["variable"]) or Variable.identity(e["component"], e["variable"]) in write_only
            for e in entries
        ]
        if not any(secret):
            return payload
        hidden = [{**entry, "attributeValue": REDACTED} if hide else entry for entry, hide in zip(entries, secret, strict=True)]
        return {**payload, "setVariableData": hidden}
    if action == "SetNetworkProfile":
        profile = payload.get("connectionData", {})
        found = [(part, name) for part, name in NETWORK_PROFILE_SECRETS if name in (profile.get(part) or {})]
        if not found:
            return payload
        redacted = copy.deepcopy(payload)
        for part, name in found:
            redacted["connectionData"][part][name] = REDACTED
        return redacted
    return payload


def sets_password(action: str, payload: dict) -> bool:
    """True for a CALL that sets the Basic-auth password: SetVariables of SecurityCtrlr.BasicAuthPassword."""
    if action != "SetVariables":
        return False
    return any(is_secret_variable(e["component"], e["variable"]) for e in payload.get("setVariableData", []))
