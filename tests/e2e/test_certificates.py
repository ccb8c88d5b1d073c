"""Charge point certificates over a real daphne process, with the product simulator in both versions.

The operator asks for a renewal (the renew-certificate operation); the
station sends a real CSR (SignCertificate), the server's CA signs it and
sends CertificateSigned; the station installs the chain only if it is for its
key. The issued chain must verify against the CA with `cryptography`, and the
API must show the certificate installed.
"""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization

from chargepoints import pki
from tests.e2e.deployment import deploy
from tests.e2e.stations import ready, simulated
from tests.waiting import eventually

pytestmark = pytest.mark.e2e

IDS = {"1.6": "E2E-PKI-16", "2.0.1": "E2E-PKI-201"}


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    """A root + intermediate CA written as the server reads it: (CertificateAuthority, cert path, key path)."""
    directory = tmp_path_factory.mktemp("ca")
    authority, _ = pki.ca_generate(organization="E2E CPO")
    cert_path, key_path = directory / "charge_point_ca.crt", directory / "charge_point_ca.key"
    cert_path.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (authority.certificate, *authority.chain)))
    key_path.write_bytes(pki._key_pem(authority.key))
    key_path.chmod(0o600)
    return authority, cert_path, key_path


@pytest.fixture(scope="module")
def csms(ca, tmp_path_factory):
    _, cert_path, key_path = ca
    env = {"OCPP_COMMAND_TIMEOUT": "10", "OCPP_CHARGE_POINT_CA_CERT": str(cert_path), "OCPP_CHARGE_POINT_CA_KEY": str(key_path)}
    env["OCPP_CERTIFICATE_ORGANIZATION"] = "E2E CPO"  # the O of every issued subject
    with deploy(tmp_path_factory.mktemp("e2e-pki"), name="e2e-pki", env=env, servers=1) as dep:
        yield dep


@pytest.fixture(scope="module")
def sim(csms):
    for station_id in IDS.values():
        assert csms.api("POST", "/api/v1/chargepoints/", {"id": station_id})[0] == 201
    with simulated(csms.servers[0].ws("/ocpp/"), {station_id: version for version, station_id in IDS.items()}) as sim:
        for station_id in IDS.values():
            ready(sim, station_id)
        yield sim


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_a_renewal_brings_the_station_a_certificate_for_its_own_key_signed_by_the_ca(csms, ca, sim, version):
    authority, _, _ = ca
    station_id = IDS[version]
    station = sim.stations[station_id]

    status, answer = csms.api("POST", f"/api/v1/chargepoints/{station_id}/operations/renew-certificate/", {})

    assert status == 200, answer
    assert answer["action"] == ("ExtendedTriggerMessage" if version == "1.6" else "TriggerMessage")
    assert answer["status"] == "Accepted"
    chain_pem = eventually(lambda: sim.call(lambda: station.identity.chain_pem), 15)
    chain = pki.load_certificates(chain_pem)
    pki.verify_chain(chain, [authority.root])
    assert chain[0].subject.rfc4514_string() == f"O=E2E CPO,CN={station_id}"
    assert authority.root not in chain

    def installed():
        status, page = csms.api("GET", f"/api/v1/certificates/?charge_point={station_id}")
        assert status == 200, page
        return [row for row in page["results"] if row["status"] == "installed"]

    [row] = eventually(installed, 10)
    assert row["fingerprint_sha256"] == pki.fingerprint(chain[0])
