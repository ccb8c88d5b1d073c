# ruff: noqa: F811 (the fixtures of test_operations are imported, then named as arguments)
"""Certificate operations (install, list, delete, renew) and `manage.py certificates_renew`, through the fake stations
of test_operations: each answer is applied as the consumer applies it, so the tests read what a user sees."""

from datetime import timedelta
from io import StringIO

import pytest
from asgiref.sync import sync_to_async
from django.core.management import call_command
from django.utils import timezone

from chargepoints import commands, pki
from chargepoints.models import Certificate, ChargePoint, InstalledCertificate
from tests.chargepoints.test_operations import CP16, CS201, cps, run_operation, station, stations  # noqa: F401
from tests.conftest import make_csr

pytestmark = pytest.mark.django_db

ROOT = pki.ca_generate(root_only=True)[0].certificate


@pytest.mark.parametrize("version, sent_type", [("1.6", "CentralSystemRootCertificate"), ("2.0.1", "CSMSRootCertificate")])
def test_an_accepted_install_lists_the_root_as_installed_on_the_charge_point(cps, stations, version, sent_type):
    result = run_operation(
        "install-certificate", charge_point_id=station(version), certificate_type="CSMSRootCertificate", certificate=pki.pem_of(ROOT)
    )

    assert result.extra["status"] == "Accepted"
    assert stations.last == ("InstallCertificate", {"certificateType": sent_type, "certificate": pki.pem_of(ROOT)})
    installed = InstalledCertificate.objects.get(charge_point_id=station(version))
    assert installed.certificate_type == sent_type
    assert installed.hash_data() == pki.hash_data(ROOT)
    assert "Charge point CA" in installed.subject


def test_a_rejected_install_lists_nothing(cps, stations):
    stations.answers["InstallCertificate"] = {"status": "Rejected"}
    run_operation("install-certificate", charge_point_id=CS201, certificate_type="V2GRootCertificate", certificate=pki.pem_of(ROOT))
    assert not InstalledCertificate.objects.exists()


def test_install_refuses_what_is_not_one_certificate_and_what_16_cannot_hold(cps, stations):
    with pytest.raises(commands.InvalidArguments, match="certificate"):
        run_operation("install-certificate", charge_point_id=CS201, certificate_type="CSMSRootCertificate", certificate="hello")
    with pytest.raises(commands.InvalidArguments, match="OCPP 1.6 knows"):
        run_operation("install-certificate", charge_point_id=CP16, certificate_type="V2GRootCertificate", certificate=pki.pem_of(ROOT))
    assert stations.sent == []


def test_the_listed_certificates_replace_what_was_known_of_those_types(cps, stations):
    InstalledCertificate.objects.create(
        charge_point_id=CS201,
        certificate_type="CSMSRootCertificate",
        hash_algorithm="SHA256",
        issuer_name_hash="aa",
        issuer_key_hash="bb",
        serial_number="1",
    )
    kept = InstalledCertificate.objects.create(
        charge_point_id=CS201,
        certificate_type="MORootCertificate",
        hash_algorithm="SHA256",
        issuer_name_hash="cc",
        issuer_key_hash="dd",
        serial_number="2",
    )
    listed = {"certificateType": "CSMSRootCertificate", "certificateHashData": pki.hash_data(ROOT)}
    stations.answers["GetInstalledCertificateIds"] = {"status": "Accepted", "certificateHashDataChain": [listed]}

    result = run_operation("get-installed-certificate-ids", charge_point_id=CS201, certificate_types=["CSMSRootCertificate"])

    assert stations.last == ("GetInstalledCertificateIds", {"certificateType": ["CSMSRootCertificate"]})
    assert result.extra["certificates"] == [listed]
    rows = {(row.certificate_type, row.serial_number) for row in InstalledCertificate.objects.filter(charge_point_id=CS201)}
    assert rows == {("CSMSRootCertificate", pki.serial_hex(ROOT)), ("MORootCertificate", kept.serial_number)}


def test_a_16_charge_point_lists_one_type_and_not_found_means_none(cps, stations):
    InstalledCertificate.objects.create(
        charge_point_id=CP16,
        certificate_type="CentralSystemRootCertificate",
        hash_algorithm="SHA256",
        issuer_name_hash="aa",
        issuer_key_hash="bb",
        serial_number="1",
    )
    stations.answers["GetInstalledCertificateIds"] = {"status": "NotFound"}
    with pytest.raises(commands.InvalidArguments, match="one certificate type at a time"):
        run_operation("get-installed-certificate-ids", charge_point_id=CP16)

    run_operation("get-installed-certificate-ids", charge_point_id=CP16, certificate_types=["CentralSystemRootCertificate"])

    assert stations.last == ("GetInstalledCertificateIds", {"certificateType": "CentralSystemRootCertificate"})
    assert not InstalledCertificate.objects.filter(charge_point_id=CP16).exists()


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_an_accepted_delete_forgets_the_certificate(cps, stations, version):
    data = pki.hash_data(ROOT)
    InstalledCertificate.objects.create(
        charge_point_id=station(version),
        certificate_type="CSMSRootCertificate",
        hash_algorithm="SHA256",
        issuer_name_hash=data["issuerNameHash"],
        issuer_key_hash=data["issuerKeyHash"],
        serial_number=data["serialNumber"],
    )
    run_operation(
        "delete-certificate",
        charge_point_id=station(version),
        issuer_name_hash=data["issuerNameHash"].upper(),
        issuer_key_hash=data["issuerKeyHash"],
        serial_number=data["serialNumber"],
    )
    assert stations.last == ("DeleteCertificate", {"certificateHashData": data})
    assert not InstalledCertificate.objects.exists()


# --- manage.py certificates_renew ---------------------------------------------------------------------


@pytest.fixture
def async_stations(stations, monkeypatch):
    """The fake stations behind `commands.acall` too, which the renewals use."""

    async def acall(charge_point_id, action, payload, **kwargs):
        return await sync_to_async(stations)(charge_point_id, action, payload, **kwargs)

    monkeypatch.setattr(commands, "acall", acall)
    return stations


def certificate_for(charge_point_id: str, days_left: float) -> Certificate:
    issued = pki.sign_csr(make_csr(charge_point_id)[0], allowed_names=[charge_point_id])
    return Certificate.objects.create(
        charge_point_id=charge_point_id,
        status=Certificate.Status.INSTALLED,
        serial_number=pki.serial_hex(issued.certificate),
        subject=f"CN={charge_point_id}",
        issuer="CN=Charge point CA",
        not_before=timezone.now() - timedelta(days=300),
        not_after=timezone.now() + timedelta(days=days_left),
        fingerprint_sha256=pki.fingerprint(issued.certificate),
        pem=issued.pem,
        chain_pem=issued.chain_pem,
    )


def renew() -> str:
    out = StringIO()
    call_command("certificates_renew", stdout=out)
    return out.getvalue()


def test_certificates_renew_asks_each_due_charge_point_in_its_version_and_not_twice(cps, async_stations, charge_point_ca, settings):
    settings.OCPP_CERTIFICATE_RENEWAL_DAYS = 30
    certificate_for(CP16, days_left=5)
    certificate_for(CS201, days_left=20)
    ChargePoint.objects.create(id="CP-FINE", ocpp_version="2.0.1", connected=True)
    certificate_for("CP-FINE", days_left=90)

    output = renew()

    sent = {(s.charge_point_id, s.action, s.payload["requestedMessage"]) for s in async_stations.sent}
    assert sent == {
        (CP16, "ExtendedTriggerMessage", "SignChargePointCertificate"),
        (CS201, "TriggerMessage", "SignChargingStationCertificate"),
    }
    assert f"{CP16} (OCPP 1.6)" in output and f"{CS201} (OCPP 2.0.1)" in output and "CP-FINE" not in output
    assert "2 charge point(s) due" in output
    assert ChargePoint.objects.get(pk=CP16).certificate_renewal_requested_at is not None

    assert "0 charge point(s) due" in renew()
    assert len(async_stations.sent) == 2


def test_certificates_renew_asks_again_after_the_retry_interval_and_skips_offline_ones(cps, async_stations, charge_point_ca, settings):
    certificate_for(CP16, days_left=5)
    ChargePoint.objects.filter(pk=CP16).update(certificate_renewal_requested_at=timezone.now() - timedelta(hours=25))
    certificate_for(CS201, days_left=5)
    ChargePoint.objects.filter(pk=CS201).update(connected=False)

    output = renew()

    assert [s.charge_point_id for s in async_stations.sent] == [CP16]
    assert f"{CS201} (OCPP 2.0.1)" in output and "offline" in output
