"""The charge point CA this CSMS runs: create or load it, sign charge points' CSRs, describe certificates.

Built on `cryptography`; no Django models here (the rows are `services`'),
only settings. The CA lives in two PEM files:

- OCPP_CHARGE_POINT_CA_CERT: the signing CA certificate first, then the
  certificates above it up to the root (an intermediate and its root, or one
  self-signed root). It is also what profile 3 client certificates are checked
  against.
- OCPP_CHARGE_POINT_CA_KEY: the signing CA's private key (mode 0600).

`ca_create` makes a root and an intermediate by default: the intermediate
signs, the root's key is written beside them (ROOT_KEY_NAME, 0600) so the
operator can take it offline. `root_only=True` makes a single self-signed CA
that signs itself. `ca_load` copies an external CA in after checking it.

`sign_csr` follows the OCPP 1.6 Security Whitepaper (edition 3) §4 and OCPP
2.0.1 Part 2 A00.FR.4xx / A02 / A03: the CSR's signature must verify, its key
be RSA of 2048 bits or more or EC on P-256 / P-384, and its subject CN the
charge point's identity or its serial number. The issued certificate carries
BasicConstraints CA=false, KeyUsage digitalSignature + keyAgreement (EC) or
keyEncipherment (RSA), ExtendedKeyUsage clientAuth, and SKI/AKI. The chain a
charge point receives (CertificateSigned certificateChain) is the leaf and the
intermediates, never the self-signed root.
"""

from __future__ import annotations

import datetime
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from django.conf import settings

ROOT_KEY_NAME = "charge_point_root_ca.key"
ACCEPTED_CURVES = {"secp256r1", "secp384r1"}
MIN_RSA_BITS = 2048
CA_VALIDITY_DAYS = 3650 * 2  # the root; the intermediate gets 3650
# Issued certificates start this much in the past: a charge point whose clock is
# a little behind must not find its new certificate "not yet valid".
BACKDATE = datetime.timedelta(minutes=5)


class PkiError(Exception):
    """A CA or certificate problem; `str()` says what, in words for an operator."""


class NoCertificateAuthority(PkiError):
    """No charge point CA is configured (the files are missing or unreadable)."""


class CsrRejected(PkiError):
    """A certificate signing request that must not be signed; `str()` says why."""


@dataclass(frozen=True)
class CertificateAuthority:
    """The signing CA: `certificate` (signs), `key` (its private key), `chain` (the certificates above it, root last)."""

    certificate: x509.Certificate
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    chain: tuple[x509.Certificate, ...] = ()

    @property
    def intermediates(self) -> list[x509.Certificate]:
        """The signing certificate and those above it that are not self-signed: what goes after a leaf in a chain."""
        return [cert for cert in (self.certificate, *self.chain) if not _self_signed(cert)]

    @property
    def root(self) -> x509.Certificate:
        return (self.certificate, *self.chain)[-1]


@dataclass(frozen=True)
class Issued:
    """A certificate `sign_csr` issued: the leaf `certificate`, `chain_pem` (leaf + intermediates) and what describes it."""

    certificate: x509.Certificate
    chain_pem: str

    @property
    def pem(self) -> str:
        return pem_of(self.certificate)


# --- describing certificates ------------------------------------------------------------


def pem_of(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def load_certificates(pem: str | bytes) -> list[x509.Certificate]:
    """Every certificate in PEM text, in order. Raises PkiError when there is none or one is malformed."""
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        certificates = x509.load_pem_x509_certificates(data)
    except ValueError as error:
        raise PkiError(f"not PEM certificates: {error}") from None
    return certificates


def fingerprint(certificate: x509.Certificate) -> str:
    """SHA-256 of the DER certificate, 64 lowercase hex characters."""
    return certificate.fingerprint(hashes.SHA256()).hex()


def serial_hex(certificate: x509.Certificate) -> str:
    """The serial number as OCPP's CertificateHashDataType writes it: hex, lowercase, no leading zeros."""
    return format(certificate.serial_number, "x")


def subject_text(certificate: x509.Certificate) -> str:
    """The subject as RFC 4514 text ("CN=CP-1,O=Example")."""
    return certificate.subject.rfc4514_string()


def hash_data(certificate: x509.Certificate, issuer: x509.Certificate | None = None, algorithm: str = "SHA256") -> dict:
    """OCPP CertificateHashDataType of `certificate` (2.0.1 §2.6, 1.6 Whitepaper §7): {hashAlgorithm, issuerNameHash,
    issuerKeyHash, serialNumber}, hashes in lowercase hex.

    issuerNameHash hashes the DER issuer name, issuerKeyHash the issuer's
    public key bits (as OCSP CertID, RFC 6960); `issuer` defaults to the
    certificate itself (a root). `algorithm`: SHA256, SHA384 or SHA512.
    """
    digest = {"SHA256": hashlib.sha256, "SHA384": hashlib.sha384, "SHA512": hashlib.sha512}[algorithm]
    issuer = issuer or certificate
    key_bits = issuer.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return {
        "hashAlgorithm": algorithm,
        "issuerNameHash": digest(certificate.issuer.public_bytes()).hexdigest(),
        "issuerKeyHash": digest(_subject_public_key_bits(key_bits)).hexdigest(),
        "serialNumber": serial_hex(certificate),
    }


def _subject_public_key_bits(spki_der: bytes) -> bytes:
    """The subjectPublicKey BIT STRING's content (without its unused-bits byte) of a DER SubjectPublicKeyInfo."""

    def read(data: bytes, at: int) -> tuple[int, int, int]:
        # (tag, start of content, end of content) of the DER element at `at`
        tag, length, at = data[at], data[at + 1], at + 2
        if length & 0x80:
            count = length & 0x7F
            length, at = int.from_bytes(data[at : at + count], "big"), at + count
        return tag, at, at + length

    _, start, _ = read(spki_der, 0)  # SEQUENCE SubjectPublicKeyInfo
    _, _, algorithm_end = read(spki_der, start)  # SEQUENCE AlgorithmIdentifier
    tag, bits_start, bits_end = read(spki_der, algorithm_end)  # BIT STRING
    assert tag == 0x03
    return spki_der[bits_start + 1 : bits_end]


def _self_signed(certificate: x509.Certificate) -> bool:
    if certificate.issuer != certificate.subject:
        return False
    try:
        certificate.verify_directly_issued_by(certificate)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _is_ca(certificate: x509.Certificate) -> bool:
    try:
        return certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def _public_bytes(key) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def verify_chain(chain: list[x509.Certificate], trusted: list[x509.Certificate]) -> None:
    """Check that `chain` (leaf first, then intermediates) leads to a certificate in `trusted` by signatures
    and validity dates. Raises PkiError saying where it breaks. Used by tests and `ca_load`."""
    now = datetime.datetime.now(datetime.UTC)
    for certificate in chain:
        if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
            raise PkiError(f"{subject_text(certificate)} is not valid now")
    for child, parent in zip(chain, chain[1:], strict=False):
        try:
            child.verify_directly_issued_by(parent)
        except (ValueError, TypeError, InvalidSignature):
            raise PkiError(f"{subject_text(child)} is not issued by {subject_text(parent)}") from None
    last = chain[-1]
    for anchor in trusted:
        if anchor == last:
            return
        try:
            last.verify_directly_issued_by(anchor)
            return
        except (ValueError, TypeError, InvalidSignature):
            continue
    raise PkiError(f"{subject_text(last)} is not issued by a trusted CA")


# --- the CA's files -------------------------------------------------------------------


def _cert_path() -> Path:
    return Path(settings.OCPP_CHARGE_POINT_CA_CERT)


def _key_path() -> Path:
    return Path(settings.OCPP_CHARGE_POINT_CA_KEY)


_cache: dict = {}


def configured() -> bool:
    """Whether the CA's certificate and key files exist (cheap: no parsing)."""
    return _cert_path().is_file() and _key_path().is_file()


def ca_load_configured() -> CertificateAuthority:
    """The configured CA, parsed once per change of its files. Raises NoCertificateAuthority (missing files) or PkiError."""
    cert_path, key_path = _cert_path(), _key_path()
    try:
        stamp = (str(cert_path), cert_path.stat().st_mtime_ns, str(key_path), key_path.stat().st_mtime_ns)
    except OSError:
        raise NoCertificateAuthority(f"no charge point CA: {cert_path} and {key_path} must exist (manage.py ca_create)") from None
    if _cache.get("stamp") != stamp:
        _cache["ca"] = ca_from_pem(cert_path.read_bytes(), key_path.read_bytes())
        _cache["stamp"] = stamp
    return _cache["ca"]


def ca_from_pem(certificates_pem: bytes, key_pem: bytes, password: bytes | None = None) -> CertificateAuthority:
    """Parse and check a CA: the first certificate signs and must be a CA (BasicConstraints CA=true, keyCertSign
    when KeyUsage is present) whose public key is `key_pem`'s; each further certificate must have issued the one
    before it. Raises PkiError naming the problem."""
    certificates = load_certificates(certificates_pem)
    try:
        key = serialization.load_pem_private_key(key_pem, password=password)
    except (ValueError, TypeError, UnsupportedAlgorithm) as error:
        raise PkiError(f"not a readable PEM private key: {error}") from None
    if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        raise PkiError("the CA key must be RSA or EC")
    signer = certificates[0]
    if not _is_ca(signer):
        raise PkiError(f"{subject_text(signer)} is not a CA certificate (BasicConstraints CA=true)")
    try:
        usage = signer.extensions.get_extension_for_class(x509.KeyUsage).value
        if not usage.key_cert_sign:
            raise PkiError(f"{subject_text(signer)} may not sign certificates (KeyUsage keyCertSign)")
    except x509.ExtensionNotFound:
        pass
    if _public_bytes(key.public_key()) != _public_bytes(signer.public_key()):
        raise PkiError("the key does not match the CA certificate (the first certificate of the file)")
    for child, parent in zip(certificates, certificates[1:], strict=False):
        try:
            child.verify_directly_issued_by(parent)
        except (ValueError, TypeError, InvalidSignature):
            raise PkiError(f"{subject_text(child)} is not issued by the next certificate, {subject_text(parent)}") from None
    if signer.not_valid_after_utc <= datetime.datetime.now(datetime.UTC):
        raise PkiError(f"{subject_text(signer)} expired on {signer.not_valid_after_utc:%Y-%m-%d}")
    return CertificateAuthority(certificate=signer, key=key, chain=tuple(certificates[1:]))


def _write(path: Path, data: bytes, mode: int, force: bool) -> None:
    if path.exists() and not force:
        raise PkiError(f"{path} exists; use --force to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    # Created with its final mode: a key is never readable by others, not even for a moment.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as file:
        file.write(data)
    os.chmod(path, mode)


def _key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def ca_install(ca: CertificateAuthority, *, force: bool = False) -> list[Path]:
    """Write `ca` to the configured files (certificates 0644, key 0600); returns the paths written.

    Raises PkiError when a file exists and not `force`.
    """
    cert_path, key_path = _cert_path(), _key_path()
    if not force:
        for path in (cert_path, key_path):
            if path.exists():
                raise PkiError(f"{path} exists; use --force to replace it")
    _write(key_path, _key_pem(ca.key), 0o600, force=True)
    _write(cert_path, b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (ca.certificate, *ca.chain)), 0o644, force=True)
    _cache.clear()
    return [cert_path, key_path]


def _name(common_name: str, organization: str = "") -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attributes)


def _ca_certificate(subject: x509.Name, key, issuer_cert: x509.Certificate | None, issuer_key, days: int, path_length: int | None):
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_cert.subject if issuer_cert else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(
            min(now + datetime.timedelta(days=days), issuer_cert.not_valid_after_utc)
            if issuer_cert
            else now + datetime.timedelta(days=days)
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if issuer_cert is not None:
        builder = builder.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def ca_generate(
    *, organization: str = "", common_name: str = "Charge point CA", root_only: bool = False
) -> tuple[CertificateAuthority, object]:
    """A new CA on EC P-256 keys: (the signing CA, the root's private key).

    Default: a root (valid 20 years) and an intermediate (10 years) that
    signs; the CA's chain is (root,) and the root key is returned for the
    caller to keep offline. `root_only`: one self-signed CA that signs; the
    root key is then the CA's own key.
    """
    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = _name(f"{common_name} root" if not root_only else common_name, organization)
    root = _ca_certificate(root_name, root_key, None, root_key, CA_VALIDITY_DAYS, None if root_only else 1)
    if root_only:
        return CertificateAuthority(certificate=root, key=root_key), root_key
    key = ec.generate_private_key(ec.SECP256R1())
    intermediate = _ca_certificate(_name(common_name, organization), key, root, root_key, CA_VALIDITY_DAYS // 2, 0)
    return CertificateAuthority(certificate=intermediate, key=key, chain=(root,)), root_key


def ca_create(*, organization: str = "", common_name: str = "Charge point CA", root_only: bool = False, force: bool = False) -> list[Path]:
    """Generate a CA (`ca_generate`) and write it to the configured files, and the root key beside them
    (ROOT_KEY_NAME, 0600) unless `root_only`. Returns the paths written; raises PkiError when a file exists and
    not `force` (nothing is written then)."""
    root_key_path = _cert_path().parent / ROOT_KEY_NAME
    if not force:
        for path in (_cert_path(), _key_path(), *(() if root_only else (root_key_path,))):
            if path.exists():
                raise PkiError(f"{path} exists; use --force to replace it")
    ca, root_key = ca_generate(organization=organization, common_name=common_name, root_only=root_only)
    written = ca_install(ca, force=True)
    if not root_only:
        _write(root_key_path, _key_pem(root_key), 0o600, force=True)
        written.append(root_key_path)
    return written


# --- signing ---------------------------------------------------------------------------


def csr_parse(csr_pem: str) -> x509.CertificateSigningRequest:
    """A PEM CSR (PKCS#10) whose signature verifies. Raises CsrRejected otherwise."""
    text = (csr_pem or "").strip()
    try:
        csr = x509.load_pem_x509_csr(text.encode())
    except ValueError:
        # Some stations send the base64 body alone, without the PEM armour.
        try:
            csr = x509.load_pem_x509_csr(f"-----BEGIN CERTIFICATE REQUEST-----\n{text}\n-----END CERTIFICATE REQUEST-----\n".encode())
        except ValueError:
            raise CsrRejected("not a PEM certificate signing request") from None
    try:
        valid = csr.is_signature_valid
    except (UnsupportedAlgorithm, ValueError):
        valid = False
    if not valid:
        raise CsrRejected("the CSR's signature does not verify")
    return csr


def _check_key(public_key) -> None:
    if isinstance(public_key, rsa.RSAPublicKey):
        if public_key.key_size < MIN_RSA_BITS:
            raise CsrRejected(f"RSA key of {public_key.key_size} bits; at least {MIN_RSA_BITS} are required")
        return
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        if public_key.curve.name not in ACCEPTED_CURVES:
            raise CsrRejected(f"EC key on {public_key.curve.name}; P-256 or P-384 are required")
        return
    raise CsrRejected(f"{type(public_key).__name__.removeprefix('_')} keys are not accepted; RSA (2048+) or EC P-256/P-384 are")


def sign_csr(
    csr_pem: str, *, allowed_names: list[str], ca: CertificateAuthority | None = None, now: datetime.datetime | None = None
) -> Issued:
    """Sign a charge point's CSR into a client certificate (1.6 Whitepaper §4, 2.0.1 A02/A03, A00.FR.4xx).

    `allowed_names`: what the subject CN may be (the identity, its serial
    numbers; empty strings are ignored). The issued subject is the CSR's CN
    and O, O replaced by OCPP_CERTIFICATE_ORGANIZATION when that is set. Valid
    from now (5 minutes back) for OCPP_CERTIFICATE_VALIDITY_DAYS, never past
    the CA's own end. `ca` defaults to the configured one.

    Raises NoCertificateAuthority, CsrRejected (unreadable, bad signature,
    weak or unknown key type, CN not allowed); never signs then.
    """
    ca = ca or ca_load_configured()
    csr = csr_parse(csr_pem)
    public_key = csr.public_key()
    _check_key(public_key)
    names = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    common_name = str(names[0].value) if len(names) == 1 else ""
    allowed = [name for name in allowed_names if name]
    if not common_name:
        raise CsrRejected("the CSR's subject has no single CN")
    if common_name not in allowed:
        raise CsrRejected(f"CN {common_name!r} is neither the charge point's identity nor its serial number")
    organizations = csr.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    organization = settings.OCPP_CERTIFICATE_ORGANIZATION or (str(organizations[0].value) if organizations else "")

    now = now or datetime.datetime.now(datetime.UTC)
    not_after = min(now + datetime.timedelta(days=settings.OCPP_CERTIFICATE_VALIDITY_DAYS), ca.certificate.not_valid_after_utc)
    is_ec = isinstance(public_key, ec.EllipticCurvePublicKey)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name, organization))
        .issuer_name(ca.certificate.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=not is_ec,
                data_encipherment=False,
                key_agreement=is_ec,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False)
        .sign(ca.key, hashes.SHA256())
    )
    chain_pem = "".join(pem_of(cert) for cert in (certificate, *ca.intermediates))
    return Issued(certificate=certificate, chain_pem=chain_pem)


def chain_matches_key(chain_pem: str, private_key) -> bool:
    """Whether the first certificate of `chain_pem` is for `private_key` (what a charge point checks before installing)."""
    try:
        leaf = load_certificates(chain_pem)[0]
    except PkiError:
        return False
    return _public_bytes(leaf.public_key()) == _public_bytes(private_key.public_key())


__all__ = [
    "CertificateAuthority",
    "CsrRejected",
    "Issued",
    "NoCertificateAuthority",
    "PkiError",
    "ca_create",
    "ca_from_pem",
    "ca_generate",
    "ca_install",
    "ca_load_configured",
    "configured",
    "fingerprint",
    "hash_data",
    "load_certificates",
    "sign_csr",
    "verify_chain",
]
