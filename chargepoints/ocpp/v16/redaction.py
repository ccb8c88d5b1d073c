"""OCPP 1.6 secrets: which values of a CALL must not be logged or stored.

ChangeConfiguration (§5.3) of `AuthorizationKey`, the Basic-auth password of
security profiles 1 and 2 (1.6 Security Whitepaper, a write-only
configuration key: GetConfiguration never returns its value): `value`.
"""

from __future__ import annotations

from collections.abc import Collection

from ocpp.v16.enums import ConfigurationKey

from chargepoints.redaction import REDACTED

# Configuration keys whose value is a secret (Security Whitepaper).
SECRET_CONFIGURATION_KEYS = frozenset({ConfigurationKey.authorization_key.casefold()})


def is_secret_configuration_key(key: str) -> bool:
    """True for a configuration key whose value must not be stored (AuthorizationKey).

    Compared without case: stations differ on whether key names are
    case-sensitive, and hiding one value too many costs nothing.
    """
    return key.casefold() in SECRET_CONFIGURATION_KEYS


def redact(action: str, payload: dict, *, write_only: Collection[tuple] = ()) -> dict:
    """`payload` with a secret configuration value replaced by REDACTED (a copy), else `payload` itself."""
    if action == "ChangeConfiguration" and is_secret_configuration_key(payload.get("key", "")):
        return {**payload, "value": REDACTED}
    return payload


def sets_password(action: str, payload: dict) -> bool:
    """True for a CALL that sets the Basic-auth password: ChangeConfiguration of AuthorizationKey."""
    return action == "ChangeConfiguration" and is_secret_configuration_key(payload.get("key", ""))
