"""Charge point credentials: Basic-auth passwords (security profiles 1 and 2) and their hashes.

OCPP 1.6 Security Whitepaper §2 (profile 1 and 2) and OCPP 2.0.1 Part 2
A00/A01: the charge point sends `Authorization: Basic base64(identity:password)`
on the WebSocket upgrade; the username must be the identity in the URL.

Passwords are machine secrets of 20 random bytes: a salted HMAC-SHA256 of
each is kept (`password_hash`), never the password. Django's PBKDF2 hasher
(about 0.3 s a check, DESIGN trap 7) is meant for guessable human passwords
and would cost a 1,000 charge point boot storm minutes of CPU; a salted
SHA-256 family hash of a 160-bit random secret cannot be brute-forced.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets

# 1.6 AuthorizationKey: 20 bytes, written as 40 hex characters (Security Whitepaper
# §3.1.2); 2.0.1 BasicAuthPassword: 16 to 40 characters (passwordString). 40 hex
# characters fit both.
PASSWORD_BYTES = 20
PASSWORD_MIN_LENGTH = 16
PASSWORD_MAX_LENGTH = 40
_SCHEME = "hmac-sha256"


def password_generate() -> str:
    """A new password: 20 random bytes as 40 lowercase hex characters (valid in 1.6 and 2.0.1)."""
    return secrets.token_hex(PASSWORD_BYTES)


def password_check_shape(password: str) -> None:
    """ValueError unless `password` is 16 to 40 printable ASCII characters (2.0.1 passwordString, 1.6 key)."""
    if not PASSWORD_MIN_LENGTH <= len(password) <= PASSWORD_MAX_LENGTH:
        raise ValueError(f"a password has {PASSWORD_MIN_LENGTH} to {PASSWORD_MAX_LENGTH} characters")
    if not all(32 < ord(c) < 127 for c in password):
        raise ValueError("a password has printable ASCII characters only, no spaces")


def password_hash(password: str) -> str:
    """ "hmac-sha256$<salt hex>$<digest hex>" of `password` with a fresh 16-byte salt."""
    salt = secrets.token_bytes(16)
    digest = hmac.new(salt, password.encode(), hashlib.sha256).hexdigest()
    return f"{_SCHEME}${salt.hex()}${digest}"


def password_matches(password: str, hashed: str) -> bool:
    """True when `password` is the one `hashed` (a `password_hash`) was made of; constant time. False for ""."""
    try:
        scheme, salt_hex, digest = hashed.split("$")
        salt = bytes.fromhex(salt_hex)
    except ValueError:
        return False
    if scheme != _SCHEME:
        return False
    candidate = hmac.new(salt, password.encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(candidate, digest)


def basic_credentials(header: bytes | str | None, identity: str | None = None) -> tuple[str, str] | None:
    """(username, password) of an `Authorization: Basic …` header value; None when absent or malformed.

    Basic auth splits "username:password" at the first colon (RFC 7617), but
    OCPP identities may hold colons ("CP:1"): when the decoded value starts
    with `identity` and a colon, the username is `identity` and the rest the
    password.

    1.6 charge points differ on whether they send the AuthorizationKey as its
    40 hex characters or as the 20 raw bytes: raw bytes (decoded as latin-1)
    are returned as their hex form, so both match the key that was set.
    """
    if header is None:
        return None
    if isinstance(header, bytes):
        header = header.decode("latin-1")
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("latin-1")
    except (binascii.Error, ValueError):
        return None
    if identity is not None and decoded.startswith(identity + ":"):
        username, password = identity, decoded[len(identity) + 1 :]
    else:
        username, sep, password = decoded.partition(":")
        if not sep:
            return None
    if len(password) == PASSWORD_BYTES and not all(32 < ord(c) < 127 for c in password):
        password = password.encode("latin-1").hex()
    return username, password


def basic_authorization(username: str, password: str) -> str:
    """The `Authorization` header value a charge point sends: "Basic base64(username:password)"."""
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


# --- Abuse limits ------------------------------------------------------------


def _counter_keys(identity: str, address: str | None) -> list[tuple[str, int]]:
    from django.conf import settings

    digest = hashlib.sha256(identity.encode()).hexdigest()[:32]
    keys = [(f"ocpp-auth-failures:id:{digest}", settings.OCPP_AUTH_FAILURES_PER_IDENTITY)]
    if address:
        keys.append((f"ocpp-auth-failures:addr:{address}", settings.OCPP_AUTH_FAILURES_PER_ADDRESS))
    return keys


def throttled(identity: str, address: str | None) -> bool:
    """True when `identity` or `address` failed to authenticate too often in the current window.

    The counters live in Django's cache (Redis when REDIS_URL is set, so all
    processes share them). A cache that fails does not lock charge points
    out: the attempt is then checked as usual.
    """
    from django.core.cache import cache

    try:
        counts = cache.get_many([key for key, _ in _counter_keys(identity, address)])
    except Exception:
        return False
    return any(counts.get(key, 0) >= limit for key, limit in _counter_keys(identity, address))


def failure_count(identity: str, address: str | None) -> bool:
    """Count a failed authentication of `identity` from `address` for OCPP_AUTH_FAILURE_WINDOW seconds.

    Returns True when this failure reached a limit: from now on the identity
    or the address is `throttled` until its window ends.
    """
    from django.conf import settings
    from django.core.cache import cache

    reached = False
    for key, limit in _counter_keys(identity, address):
        try:
            count = 1 if cache.add(key, 1, timeout=settings.OCPP_AUTH_FAILURE_WINDOW) else cache.incr(key)
        except Exception:
            return False
        reached = reached or count == limit
    return reached
