"""Secrets in commands: the log keeps what was changed, never the secret value.

The command log (`Command.payload`, shown in the admin and in
/api/v1/commands/) keeps every CALL the central system sent. A few carry a
credential of the charge point; the log keeps their field names, so operators
see what was changed, with the value replaced by `REDACTED`. The CALL sent to
the charge point keeps the real value: only the logged copy is redacted
(`services.command_create`). Which values are secrets is each version's
business: `chargepoints/ocpp/v16/redaction.py` (AuthorizationKey) and
`chargepoints/ocpp/v201/redaction.py` (BasicAuthPassword, WriteOnly
variables, SetNetworkProfile credentials). DataTransfer is vendor-defined and
left as sent.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection

# What the log shows instead of a secret. Short and not a plausible password.
REDACTED = "***"


def redact(version: str, action: str, payload: dict, *, write_only: Collection[tuple] = ()) -> dict:
    """`payload` (a schema-valid CALL of `action` in `version`, camelCase) with each secret value hidden.

    `write_only`: the `Variable.identity`s a 2.0.1 station reported WriteOnly.
    Returns a copy when anything was hidden, `payload` itself otherwise; never
    changes `payload`, which is what the charge point is sent.
    """
    from chargepoints import ocpp

    return ocpp.dialect(version).redaction.redact(action, payload, write_only=write_only)


def redact_for_log(*, charge_point_id: str, version: str, action: str, payload: dict) -> dict:
    """`redact` with the station's WriteOnly variables looked up: at most one query (SetVariables only)."""
    from chargepoints import selectors

    write_only: Collection[tuple] = ()
    if action == "SetVariables":
        write_only = selectors.write_only_variables(charge_point_id=charge_point_id, payload=payload)
    return redact(version, action, payload, write_only=write_only)


# A frame that may carry a secret names it: only such frames are parsed again (`redact_frame`).
_SECRET_NAMES = re.compile(r"authorizationkey|basicauthpassword", re.IGNORECASE)


def redact_frame(text: str) -> str:
    """`text`, an OCPP-J frame as a charge point sent it, as the protocol debug log and the console may show it.

    A station is not to report a secret (1.6 AuthorizationKey is write-only;
    2.0.1 BasicAuthPassword is WriteOnly), but one that does, in a
    GetConfiguration.conf, a GetVariables result or a NotifyReport, must not
    put it in front of every console watcher and into the logs: the value
    next to a secret's name (1.6 `{"key": …, "value": …}`, 2.0.1 a
    `variable` with its `attributeValue`, `actualValue` or
    `variableAttribute[].value`) becomes REDACTED. Works for both versions
    without knowing which. A frame naming no secret is returned as it is (one
    regular-expression search); one that does is re-encoded compactly; one
    that is not JSON is replaced by a note (it cannot be checked).
    """
    if not _SECRET_NAMES.search(text):
        return text
    try:
        frame = json.loads(text)
    except ValueError:
        return f"(a frame of {len(text)} characters that names a secret and is not JSON: not shown)"
    return json.dumps(_redact_values(frame), separators=(",", ":"), ensure_ascii=False)


def _redact_values(node):
    from chargepoints.ocpp.v16.redaction import is_secret_configuration_key
    from chargepoints.ocpp.v201.redaction import is_secret_variable

    def redact(node):
        if isinstance(node, list):
            return [redact(item) for item in node]
        if not isinstance(node, dict):
            return node
        node = {name: redact(value) for name, value in node.items()}
        key, variable, component = node.get("key"), node.get("variable"), node.get("component")
        if isinstance(key, str) and is_secret_configuration_key(key) and "value" in node:
            node["value"] = REDACTED
        if isinstance(component, dict) and isinstance(variable, dict) and is_secret_variable(component, variable):
            for name in ("attributeValue", "actualValue"):
                if name in node:
                    node[name] = REDACTED
            if isinstance(node.get("variableAttribute"), list):
                node["variableAttribute"] = [
                    {**attribute, "value": REDACTED} if isinstance(attribute, dict) and "value" in attribute else attribute
                    for attribute in node["variableAttribute"]
                ]
        return node

    return redact(node)
