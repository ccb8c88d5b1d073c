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
