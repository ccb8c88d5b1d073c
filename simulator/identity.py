"""The simulated charge point's own key and certificate (1.6 Security Whitepaper A02/A03, 2.0.1 A02/A03).

`csr()` makes a fresh EC P-256 key and a real PKCS#10 request for it (CN =
the identity); `install(chain)` takes the CertificateSigned chain only when
its first certificate is for that key and each certificate is issued by the
next, then keeps key and chain as the station's client certificate.
`write(directory)` saves them (key 0600) for `--client-cert/--client-key`.
No Django here: the simulator runs on its own.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def _public(key) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


class StationIdentity:
    """A station's key pair and certificate chain; `chain_pem` is None until a CertificateSigned was installed."""

    def __init__(self, common_name: str):
        self.common_name = common_name
        self.pending_key = None
        self.key = None
        self.chain_pem: str | None = None

    @property
    def csr_pending(self) -> bool:
        return self.pending_key is not None

    def csr(self) -> str:
        """A new key (kept pending) and a PEM CSR for it, signed with it (SHA-256)."""
        self.pending_key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, self.common_name)])
        request = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(self.pending_key, hashes.SHA256())
        return request.public_bytes(serialization.Encoding.PEM).decode()

    def cancel(self) -> None:
        """The CSR was refused: forget the pending key."""
        self.pending_key = None

    def install(self, chain_pem: str) -> str | None:
        """Install `chain_pem` (leaf first) for the pending key; None when installed, else why not (nothing changes then)."""
        try:
            chain = x509.load_pem_x509_certificates(chain_pem.encode())
        except ValueError:
            return "not PEM certificates"
        if self.pending_key is None:
            return "no CSR is pending"
        if _public(chain[0].public_key()) != _public(self.pending_key.public_key()):
            return "the certificate is not for the key of the CSR"
        for child, parent in zip(chain, chain[1:], strict=False):
            try:
                child.verify_directly_issued_by(parent)
            except (ValueError, TypeError, InvalidSignature):
                return "the chain is broken"
        self.key, self.chain_pem, self.pending_key = self.pending_key, chain_pem, None
        return None

    def key_pem(self) -> str:
        return self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()

    def write(self, directory: str | Path) -> tuple[Path, Path]:
        """Save the chain (`<id>.crt`) and the key (`<id>.key`, 0600) in `directory`; returns (cert path, key path)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        name = "".join(c if c.isalnum() or c in "-_." else "_" for c in self.common_name)
        cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
        cert_path.write_text(self.chain_pem)
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write(self.key_pem())
        return cert_path, key_path
