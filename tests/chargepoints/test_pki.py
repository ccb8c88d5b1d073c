"""The charge point CA: creating and loading it, and what it signs (1.6 Security Whitepaper §4, 2.0.1 A02/A03)."""

import base64
import stat

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from django.core.management import CommandError, call_command

from chargepoints import pki
from tests.conftest import make_csr


def test_ca_create_writes_a_root_and_an_intermediate_with_private_keys_only_readable_by_the_owner(charge_point_ca, settings):
    assert charge_point_ca.certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert len(charge_point_ca.chain) == 1 and charge_point_ca.root.issuer == charge_point_ca.root.subject
    key_mode = stat.S_IMODE(settings.OCPP_CHARGE_POINT_CA_KEY.stat().st_mode)
    root_key_mode = stat.S_IMODE((settings.OCPP_CA_DIR / pki.ROOT_KEY_NAME).stat().st_mode)
    assert key_mode == 0o600 and root_key_mode == 0o600


def test_ca_create_refuses_to_replace_an_existing_ca_without_force(charge_point_ca, settings):
    before = settings.OCPP_CHARGE_POINT_CA_CERT.read_bytes()
    with pytest.raises(CommandError, match="exists; use --force"):
        call_command("ca_create")
    assert settings.OCPP_CHARGE_POINT_CA_CERT.read_bytes() == before
    call_command("ca_create", "--force", "--root-only")
    assert settings.OCPP_CHARGE_POINT_CA_CERT.read_bytes() != before
    assert len(pki.ca_load_configured().chain) == 0


def test_ca_load_takes_an_external_ca_after_checking_its_key(no_charge_point_ca, settings, tmp_path):
    ca, _ = pki.ca_generate(organization="Operator")
    chain = tmp_path / "chain.pem"
    chain.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (ca.certificate, *ca.chain)))
    other_key = tmp_path / "other.key"
    other_key.write_bytes(pki._key_pem(ec.generate_private_key(ec.SECP256R1())))
    with pytest.raises(CommandError, match="does not match"):
        call_command("ca_load", "--cert", str(chain), "--key", str(other_key))
    assert not settings.OCPP_CHARGE_POINT_CA_CERT.exists()

    key = tmp_path / "ca.key"
    key.write_bytes(pki._key_pem(ca.key))
    call_command("ca_load", "--cert", str(chain), "--key", str(key))
    assert pki.ca_load_configured().certificate == ca.certificate
    assert stat.S_IMODE(settings.OCPP_CHARGE_POINT_CA_KEY.stat().st_mode) == 0o600


def test_ca_load_refuses_a_certificate_that_is_not_a_ca(no_charge_point_ca, tmp_path):
    ca, _ = pki.ca_generate()
    csr, leaf_key = make_csr("CP-1")
    leaf = pki.sign_csr(csr, allowed_names=["CP-1"], ca=ca).certificate
    (tmp_path / "leaf.pem").write_text(pki.pem_of(leaf))
    (tmp_path / "leaf.key").write_bytes(pki._key_pem(leaf_key))
    with pytest.raises(CommandError, match="not a CA certificate"):
        call_command("ca_load", "--cert", str(tmp_path / "leaf.pem"), "--key", str(tmp_path / "leaf.key"))


def test_a_signed_csr_is_a_client_certificate_for_the_charge_point_that_verifies_against_the_ca(charge_point_ca, settings):
    settings.OCPP_CERTIFICATE_VALIDITY_DAYS = 90
    csr, key = make_csr("CP-1", organization="Whatever")
    issued = pki.sign_csr(csr, allowed_names=["CP-1", "SN-1"])

    chain = pki.load_certificates(issued.chain_pem)
    assert len(chain) == 2  # leaf and intermediate, not the root
    pki.verify_chain(chain, [charge_point_ca.root])
    leaf = chain[0]
    assert leaf.public_key().public_numbers() == key.public_key().public_numbers()
    assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "CP-1"
    assert 89 <= (leaf.not_valid_after_utc - leaf.not_valid_before_utc).days <= 90
    extensions = leaf.extensions
    assert extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    usage = extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.key_agreement
    assert list(extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)


def test_the_organization_setting_names_the_cpo_in_every_issued_subject(charge_point_ca, settings):
    settings.OCPP_CERTIFICATE_ORGANIZATION = "Example CPO"
    csr, _ = make_csr("SN-1", organization="Station's own idea")
    leaf = pki.sign_csr(csr, allowed_names=["CP-1", "SN-1"]).certificate
    assert leaf.subject.rfc4514_string() == "O=Example CPO,CN=SN-1"


def test_an_rsa_2048_csr_is_signed_with_key_encipherment(charge_point_ca):
    csr, _ = make_csr("CP-1", key=rsa.generate_private_key(65537, 2048))
    usage = pki.sign_csr(csr, allowed_names=["CP-1"]).certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_encipherment and not usage.key_agreement


def test_a_csr_for_another_name_is_rejected(charge_point_ca):
    csr, _ = make_csr("CP-2")
    with pytest.raises(pki.CsrRejected, match="neither the charge point's identity nor its serial number"):
        pki.sign_csr(csr, allowed_names=["CP-1", ""])


def test_a_csr_whose_signature_does_not_verify_is_rejected(charge_point_ca):
    csr, _ = make_csr("CP-1")
    der = bytearray(x509.load_pem_x509_csr(csr.encode()).public_bytes(serialization.Encoding.DER))
    der[-3] ^= 0xFF  # inside the signature
    tampered = "-----BEGIN CERTIFICATE REQUEST-----\n" + base64.encodebytes(bytes(der)).decode() + "-----END CERTIFICATE REQUEST-----\n"
    with pytest.raises(pki.CsrRejected, match="signature does not verify"):
        pki.sign_csr(tampered, allowed_names=["CP-1"])


def test_weak_keys_are_rejected(charge_point_ca):
    small_rsa, _ = make_csr("CP-1", key=rsa.generate_private_key(65537, 1024))
    with pytest.raises(pki.CsrRejected, match="RSA key of 1024 bits"):
        pki.sign_csr(small_rsa, allowed_names=["CP-1"])
    other_curve, _ = make_csr("CP-1", key=ec.generate_private_key(ec.SECP256K1()))
    with pytest.raises(pki.CsrRejected, match="P-256 or P-384"):
        pki.sign_csr(other_curve, allowed_names=["CP-1"])


def test_garbage_is_rejected(charge_point_ca):
    with pytest.raises(pki.CsrRejected, match="not a PEM certificate signing request"):
        pki.sign_csr("-----BEGIN CERTIFICATE REQUEST-----\nabc\n-----END CERTIFICATE REQUEST-----", allowed_names=["CP-1"])


def test_without_a_ca_nothing_is_signed(no_charge_point_ca):
    csr, _ = make_csr("CP-1")
    assert not pki.configured()
    with pytest.raises(pki.NoCertificateAuthority):
        pki.sign_csr(csr, allowed_names=["CP-1"])


def test_hash_data_of_a_root_names_its_own_name_and_key(charge_point_ca):
    root = charge_point_ca.root
    data = pki.hash_data(root)
    assert data["hashAlgorithm"] == "SHA256" and len(data["issuerNameHash"]) == 64
    assert data["serialNumber"] == format(root.serial_number, "x")
    # The intermediate's issuer is the root: same name and key hashes as the root's own.
    assert pki.hash_data(charge_point_ca.certificate, charge_point_ca.root)["issuerKeyHash"] == data["issuerKeyHash"]


def test_hash_data_agrees_with_ocsp_cert_id(charge_point_ca):
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509 import ocsp

    leaf = pki.sign_csr(make_csr("CP-1")[0], allowed_names=["CP-1"]).certificate
    request = ocsp.OCSPRequestBuilder().add_certificate(leaf, charge_point_ca.certificate, hashes.SHA256()).build()
    data = pki.hash_data(leaf, charge_point_ca.certificate)
    assert data["issuerNameHash"] == request.issuer_name_hash.hex()
    assert data["issuerKeyHash"] == request.issuer_key_hash.hex()
