"""Charge point certificates over the consumer: SignCertificate → CertificateSigned in 1.6 and 2.0.1 (A02/A03),
what the answers keep, and renewals before expiry."""

import asyncio
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from chargepoints import pki
from chargepoints.models import Certificate, ChargePoint, Command, SecurityEvent
from tests.conftest import make_csr

pytestmark = pytest.mark.django_db(transaction=True)

BOOT16 = {"chargePointVendor": "Acme", "chargePointModel": "Fast-1", "chargePointSerialNumber": "SN-0042"}
BOOT201 = {"reason": "PowerUp", "chargingStation": {"vendorName": "Acme", "model": "Fast-2", "serialNumber": "SN-0042"}}
VERSIONS = {"1.6": (["ocpp1.6"], BOOT16), "2.0.1": (["ocpp2.0.1"], BOOT201)}


async def boot(ocpp_connect, version):
    subprotocols, boot_payload = VERSIONS[version]
    client, accepted, _ = await ocpp_connect("/ocpp/CP-1", subprotocols=subprotocols)
    assert accepted
    assert (await client.call("BootNotification", boot_payload))[2]["status"] == "Accepted"
    return client


async def certificates():
    return [c async for c in Certificate.objects.filter(charge_point_id="CP-1").order_by("id")]


async def wait_for(check, timeout=5.0):
    for _ in range(int(timeout / 0.05)):
        result = await check()
        if result:
            return result
        await asyncio.sleep(0.05)
    raise AssertionError("not true in time")


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
@pytest.mark.parametrize("common_name", ["CP-1", "SN-0042"])
async def test_a_csr_is_accepted_then_certificate_signed_brings_a_chain_that_verifies_against_the_ca(
    charge_point, charge_point_ca, ocpp_connect, version, common_name
):
    client = await boot(ocpp_connect, version)
    csr, key = make_csr(common_name)

    reply = await client.call("SignCertificate", {"csr": csr})
    assert reply[2] == {"status": "Accepted"}

    frame = await client.receive()
    assert frame[0] == 2 and frame[2] == "CertificateSigned"
    if version == "2.0.1":
        assert frame[3]["certificateType"] == "ChargingStationCertificate"
    chain = pki.load_certificates(frame[3]["certificateChain"])
    pki.verify_chain(chain, [charge_point_ca.root])
    assert chain[0].public_key().public_numbers() == key.public_key().public_numbers()
    assert charge_point_ca.root not in chain

    [issued] = await certificates()
    assert issued.status == Certificate.Status.ISSUED and issued.fingerprint_sha256 == pki.fingerprint(chain[0])
    await client.send_raw(json.dumps([3, frame[1], {"status": "Accepted"}]))

    async def installed():
        return (await Certificate.objects.aget(pk=issued.pk)).status == Certificate.Status.INSTALLED

    await wait_for(installed)
    command = await Command.objects.aget(action="CertificateSigned")
    assert command.response == {"status": "Accepted"}


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_a_rejected_certificate_is_kept_as_rejected_and_the_previous_one_stays_installed(
    charge_point, charge_point_ca, ocpp_connect, version
):
    client = await boot(ocpp_connect, version)
    for answer in ("Accepted", "Rejected"):
        await client.call("SignCertificate", {"csr": make_csr("CP-1")[0]})
        frame = await client.receive()
        await client.send_raw(json.dumps([3, frame[1], {"status": answer}]))

        async def answered(count=1 if answer == "Accepted" else 2):
            return await Command.objects.filter(action="CertificateSigned", status="answered").acount() == count

        await wait_for(answered)
    first, second = await certificates()
    assert (first.status, second.status) == (Certificate.Status.INSTALLED, Certificate.Status.REJECTED)


async def test_a_newer_installed_certificate_supersedes_the_older(charge_point, charge_point_ca, ocpp_connect):
    client = await boot(ocpp_connect, "2.0.1")
    for _ in range(2):
        await client.call("SignCertificate", {"csr": make_csr("CP-1")[0]})
        frame = await client.receive()
        await client.send_raw(json.dumps([3, frame[1], {"status": "Accepted"}]))

    async def both_answered():
        return await Command.objects.filter(action="CertificateSigned", status="answered").acount() == 2

    await wait_for(both_answered)
    first, second = await certificates()
    assert (first.status, second.status) == (Certificate.Status.SUPERSEDED, Certificate.Status.INSTALLED)


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_without_a_ca_a_csr_is_rejected_and_recorded(charge_point, ocpp_connect, version):
    client = await boot(ocpp_connect, version)

    reply = await client.call("SignCertificate", {"csr": make_csr("CP-1")[0]})

    assert reply[2]["status"] == "Rejected"
    if version == "2.0.1":
        assert reply[2]["statusInfo"]["reasonCode"] == "NoCAConfigured"
    event = await SecurityEvent.objects.aget(charge_point_id="CP-1")
    assert event.type == SecurityEvent.CERTIFICATE_SIGNING_REJECTED and "no charge point CA" in event.tech_info
    assert await certificates() == []
    assert not await Command.objects.filter(action="CertificateSigned").aexists()


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_a_csr_for_another_charge_point_is_rejected_and_nothing_is_sent(charge_point, charge_point_ca, ocpp_connect, version):
    client = await boot(ocpp_connect, version)

    reply = await client.call("SignCertificate", {"csr": make_csr("CP-2")[0]})

    assert reply[2]["status"] == "Rejected"
    if version == "2.0.1":
        assert reply[2]["statusInfo"]["reasonCode"] == "InvalidCSR"
    event = await SecurityEvent.objects.aget(charge_point_id="CP-1")
    assert "CN 'CP-2'" in event.tech_info
    assert await certificates() == []
    # Nothing follows the rejection: the next frame is the answer to our heartbeat.
    assert (await client.call("Heartbeat", {}))[0] == 3


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
@pytest.mark.parametrize("claimed", ["CP-2", "SN-OF-CP-2"])
async def test_a_serial_number_that_names_another_charge_point_gets_no_certificate(
    charge_point, charge_point_ca, ocpp_connect, version, claimed
):
    # A charge point chooses the serial number it reports: reporting another one's identity or serial
    # number must not get it a certificate it could connect as that one with (security profile 3).
    await ChargePoint.objects.acreate(id="CP-2", serial_number="SN-OF-CP-2")
    subprotocols, boot_payload = VERSIONS[version]
    boot_payload = json.loads(json.dumps(boot_payload).replace("SN-0042", claimed))
    client, accepted, _ = await ocpp_connect("/ocpp/CP-1", subprotocols=subprotocols)
    assert accepted and (await client.call("BootNotification", boot_payload))[2]["status"] == "Accepted"

    reply = await client.call("SignCertificate", {"csr": make_csr(claimed)[0]})

    assert reply[2]["status"] == "Rejected"
    assert await certificates() == []


async def test_a_v2g_csr_is_not_ours_to_sign(charge_point, charge_point_ca, ocpp_connect):
    client = await boot(ocpp_connect, "2.0.1")
    reply = await client.call("SignCertificate", {"csr": make_csr("CP-1")[0], "certificateType": "V2GCertificate"})
    assert reply[2]["status"] == "Rejected"
    assert await certificates() == []


# --- Renewals -------------------------------------------------------------------------------------


async def issue_certificate(days_left: float, status=Certificate.Status.INSTALLED):
    issued = pki.sign_csr(make_csr("CP-1")[0], allowed_names=["CP-1"])
    now = timezone.now()
    return await Certificate.objects.acreate(
        charge_point_id="CP-1",
        status=status,
        serial_number=pki.serial_hex(issued.certificate),
        subject="CN=CP-1",
        issuer="CN=Charge point CA",
        not_before=now - timedelta(days=300),
        not_after=now + timedelta(days=days_left),
        fingerprint_sha256=pki.fingerprint(issued.certificate),
        pem=issued.pem,
        chain_pem=issued.chain_pem,
    )


@pytest.mark.parametrize(
    "version, action, requested",
    [("1.6", "ExtendedTriggerMessage", "SignChargePointCertificate"), ("2.0.1", "TriggerMessage", "SignChargingStationCertificate")],
)
async def test_a_charge_point_whose_certificate_ends_soon_is_asked_for_a_new_csr_when_it_boots_and_only_once(
    charge_point, charge_point_ca, ocpp_connect, settings, version, action, requested
):
    settings.OCPP_CERTIFICATE_RENEWAL_DAYS = 30
    await issue_certificate(days_left=10)
    client = await boot(ocpp_connect, version)

    frame = await client.receive()
    assert frame[0] == 2 and frame[2:] == [action, {"requestedMessage": requested}]
    await client.send_raw(json.dumps([3, frame[1], {"status": "Accepted"}]))

    # The CSR that follows is served (2.0.1: a triggered message) and signed.
    async def asked():
        return (await ChargePoint.objects.aget(pk="CP-1")).certificate_renewal_requested_at

    await wait_for(asked)
    reply = await client.call("SignCertificate", {"csr": make_csr("CP-1")[0]})
    assert reply[2] == {"status": "Accepted"}
    assert (await client.receive())[2] == "CertificateSigned"

    # A reboot right after does not ask again.
    await client.call("BootNotification", VERSIONS[version][1])
    assert (await client.call("Heartbeat", {}))[0] == 3
    assert await Command.objects.filter(action=action).acount() == 1


async def test_a_charge_point_whose_certificate_is_far_from_its_end_is_not_asked(charge_point, charge_point_ca, ocpp_connect):
    await issue_certificate(days_left=200)
    client = await boot(ocpp_connect, "2.0.1")
    assert (await client.call("Heartbeat", {}))[0] == 3  # no TriggerMessage came first
    assert not await Command.objects.filter(action="TriggerMessage").aexists()
