"""Charge point credentials: Basic-auth passwords (security profiles 1 and 2), client certificates (profile 3).

OCPP 1.6 Security Whitepaper §2 (profile 1 and 2) and OCPP 2.0.1 Part 2
A00/A01: the charge point sends `Authorization: Basic base64(identity:password)`
on the WebSocket upgrade; the username must be the identity in the URL.

Passwords are machine secrets of 20 random bytes: a salted HMAC-SHA256 of
each is kept (`password_hash`), never the password. Django's PBKDF2 hasher
(about 0.3 s a check, DESIGN trap 7) is meant for guessable human passwords
and would cost a 1,000 charge point boot storm minutes of CPU; a salted
SHA-256 family hash of a 160-bit random secret cannot be brute-forced.

Profile 3 (1.6 Security Whitepaper §2.3, 2.0.1 A00): the charge point
presents a TLS client certificate, ended in our process (csms/tls.py puts
it in the scope) or at a trusted proxy (a header); `client_certificate_verify`
checks it against the charge point CA.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os
import secrets
from datetime import UTC, datetime

# 1.6 AuthorizationKey: 20 bytes, written as 40 hex characters (Security Whitepaper
# §3.1.2); 2.0.1 BasicAuthPassword: 16 to 40 characters (passwordString). 40 hex
# characters fit both.
PASSWORD_BYTES = 20
PASSWORD_MIN_LENGTH = 16
PASSWORD_MAX_LENGTH = 40
_SCHEME = "hmac-sha256"
logger = logging.getLogger("csms.security")


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
    processes share them), through the process's one instance (`csms.cache`):
    blocking I/O, call from a thread. A cache that fails does not lock charge points
    out: the attempt is then checked as usual.
    """
    from csms.cache import shared as shared_cache

    try:
        counts = shared_cache().get_many([key for key, _ in _counter_keys(identity, address)])
    except Exception:
        return False
    return any(counts.get(key, 0) >= limit for key, limit in _counter_keys(identity, address))


def failure_count(identity: str, address: str | None) -> bool:
    """Count a failed authentication of `identity` from `address` for OCPP_AUTH_FAILURE_WINDOW seconds.

    Returns True when this failure reached a limit: from now on the identity
    or the address is `throttled` until its window ends.
    """
    from django.conf import settings

    from csms.cache import shared as shared_cache

    cache = shared_cache()
    reached = False
    for key, limit in _counter_keys(identity, address):
        try:
            count = 1 if cache.add(key, 1, timeout=settings.OCPP_AUTH_FAILURE_WINDOW) else cache.incr(key)
        except Exception:
            return False
        reached = reached or count == limit
    return reached


# --- Client certificates (security profile 3) ---------------------------------


class CertificateRefused(Exception):
    """A client certificate that does not prove the identity; `reason` says why (no secret in it)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def client_cert_chain_from_header(value: bytes | str | None) -> list[str]:
    """The PEM certificates of a proxy's client-certificate header: [leaf, intermediates …]; [] when absent or empty.

    nginx sends `$ssl_client_escaped_cert` (the leaf's PEM, URL-encoded);
    plain PEM is accepted too. A value that holds no certificate comes back
    as it is, one string, which `client_certificate_verify` refuses as
    unreadable.
    """
    import urllib.parse

    from cryptography import x509

    if value is None:
        return []
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    text = urllib.parse.unquote(value.strip())
    if not text:
        return []
    try:
        certificates = x509.load_pem_x509_certificates(text.encode("latin-1"))
    except ValueError:
        return [text]
    return [_pem(certificate) for certificate in certificates]


def _pem(certificate) -> str:
    from cryptography.hazmat.primitives.serialization import Encoding

    return certificate.public_bytes(Encoding.PEM).decode("ascii")


_anchors_cache: dict[str, tuple[tuple[int, int], list]] = {}


def _trust_anchors(ca_file) -> list:
    """The CA certificates of `ca_file` (PEM), re-read when the file changes. Raises CertificateRefused when unreadable."""
    from cryptography import x509

    path = str(ca_file)
    try:
        stat = os.stat(path)
        stamp = (stat.st_mtime_ns, stat.st_size)
        cached = _anchors_cache.get(path)
        if cached and cached[0] == stamp:
            return cached[1]
        with open(path, "rb") as f:
            anchors = x509.load_pem_x509_certificates(f.read())
    except (OSError, ValueError) as exc:
        logger.error("The charge point CA %s cannot be read (%s): no client certificate can be checked", path, exc)
        raise CertificateRefused("no charge point CA to check client certificates against (OCPP_CHARGE_POINT_CA_CERT)") from exc
    _anchors_cache[path] = (stamp, anchors)
    return anchors


def client_certificate_verify(chain: list[str], *, ca_file, identities: list[str], now: datetime | None = None) -> str:
    """Check a TLS client certificate of security profile 3; returns its subject's common name (CN).

    `chain`: PEM strings, the client's certificate first, then any
    intermediates it sent (the ASGI TLS extension's `client_cert_chain`).
    `ca_file`: PEM file of the trusted charge point CA certificate(s)
    (OCPP_CHARGE_POINT_CA_CERT); `identities`: the names the CN may be (the
    identity in the URL, the serial number from the charge point's boot);
    `now`: the validation time (aware UTC; the current time when None).

    Checked (OCPP 2.0.1 A00.FR.4xx, 1.6 Security Whitepaper §2.3.3): the
    chain to one of the CA certificates by signature, each certificate's
    validity period and the CA constraints (RFC 5280 with the web PKI's
    extension rules, via `cryptography.x509.verification`, except that a
    charge point certificate need not carry a subjectAltName or authority
    key identifier); an extended key usage, when present, must allow client
    authentication; then the CN. Raises CertificateRefused with the reason.
    """
    from cryptography import x509
    from cryptography.x509 import verification
    from cryptography.x509.oid import NameOID

    if not chain:
        raise CertificateRefused("no client certificate")
    try:
        leaf, *intermediates = (x509.load_pem_x509_certificate(pem.encode("latin-1")) for pem in chain)
    except (ValueError, UnicodeEncodeError) as exc:
        raise CertificateRefused("the client certificate cannot be read") from exc
    now = now or datetime.now(UTC)
    if now < leaf.not_valid_before_utc:
        raise CertificateRefused("the client certificate is not valid yet")
    if now > leaf.not_valid_after_utc:
        raise CertificateRefused(f"the client certificate expired on {leaf.not_valid_after_utc:%Y-%m-%d %H:%M} UTC")
    anchors = _trust_anchors(ca_file)
    ee_policy = (
        verification.ExtensionPolicy.webpki_defaults_ee()
        .may_be_present(x509.SubjectAlternativeName, verification.Criticality.AGNOSTIC, None)
        .may_be_present(x509.AuthorityKeyIdentifier, verification.Criticality.NON_CRITICAL, None)
    )
    verifier = (
        verification.PolicyBuilder()
        .store(verification.Store(anchors))
        .time(now)
        .extension_policies(ca_policy=verification.ExtensionPolicy.webpki_defaults_ca(), ee_policy=ee_policy)
        .build_client_verifier()
    )
    try:
        verifier.verify(leaf, intermediates)
    except verification.VerificationError as exc:
        raise CertificateRefused(f"the client certificate does not chain to the charge point CA: {_short(exc)}") from exc
    names = [attribute.value for attribute in leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    common_name = str(names[0]) if names else ""
    if not common_name or common_name not in [i for i in identities if i]:
        raise CertificateRefused(f"the client certificate's CN {common_name[:64]!r} is neither the identity nor the serial number")
    return common_name


def _short(error: Exception) -> str:
    # cryptography appends "(encountered processing <Certificate(…)>)": the reason is what comes before.
    return str(error).split(" (encountered processing", 1)[0].removeprefix("validation failed: ")[:120]
