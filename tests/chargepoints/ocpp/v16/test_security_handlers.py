"""OCPP 1.6 security extension (Security Whitepaper edition 3): what charge points send, through the consumer."""

from datetime import UTC, datetime

import pytest

from chargepoints.models import (
    ChargePoint,
    Command,
    CommandStatus,
    DiagnosticsStatusNotification,
    FirmwareStatusNotification,
    SecurityEvent,
    StationMessage,
)
from chargepoints.ocpp import rpc, v16

pytestmark = pytest.mark.django_db(transaction=True)

T0 = "2026-11-22T10:00:00Z"
CSR = "-----BEGIN CERTIFICATE REQUEST-----\nMIIBCjCBsQIBADBPMQswCQYDVQQGEwJERTEPMA0GA1UECgwGQWNtZSBDUE8x\n-----END CERTIFICATE REQUEST-----"


async def call_ok(client, action: str, payload: dict) -> dict:
    """Send a schema-valid 1.6 CALL; assert a CALLRESULT whose payload is valid against the response schema."""
    rpc.validate_payload("1.6", action, payload)
    reply = await client.call(action, payload)
    assert reply[0] == 3, reply
    rpc.validate_payload("1.6", action, reply[2], response=True)
    return reply[2]


@pytest.fixture
async def client(charge_point, ocpp_connect):
    client, accepted, _ = await ocpp_connect("/ocpp/CP-1")
    assert accepted
    return client


def answered(action: str) -> Command:
    return Command.objects.acreate(charge_point_id="CP-1", action=action, ocpp_version="1.6", status=CommandStatus.ANSWERED, response={})


# --- SecurityEventNotification


async def test_a_security_event_notification_is_recorded_as_a_security_event_of_the_charge_point(client):
    answer = await call_ok(client, "SecurityEventNotification", {"type": "FirmwareUpdated", "timestamp": T0, "techInfo": "fw 1.2.4"})

    assert answer == {}
    event = await SecurityEvent.objects.aget(charge_point_id="CP-1")
    assert (event.type, event.source, event.tech_info) == ("FirmwareUpdated", SecurityEvent.Source.STATION, "fw 1.2.4")
    assert event.timestamp == datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
    assert event.received_at is not None


async def test_a_security_event_without_tech_info_is_recorded_too(client):
    await call_ok(client, "SecurityEventNotification", {"type": "SettingSystemTime", "timestamp": T0})

    event = await SecurityEvent.objects.aget(charge_point_id="CP-1")
    assert (event.type, event.tech_info) == ("SettingSystemTime", "")


async def test_a_security_event_without_a_timestamp_gets_occurence_constraint_violation(client):
    reply = await client.call("SecurityEventNotification", {"type": "FirmwareUpdated"})

    assert reply[0] == 4 and reply[2] == "OccurenceConstraintViolation"
    assert reply[4]["field"] == "timestamp"
    assert not await SecurityEvent.objects.aexists()


async def test_a_security_event_with_an_unknown_field_gets_formation_violation(client):
    reply = await client.call("SecurityEventNotification", {"type": "FirmwareUpdated", "timestamp": T0, "severity": 1})

    assert reply[0] == 4 and reply[2] == "FormationViolation"
    assert not await SecurityEvent.objects.aexists()


# --- SignCertificate


async def test_a_csr_is_refused_while_there_is_no_certificate_authority_and_the_refusal_is_recorded(client):
    answer = await call_ok(client, "SignCertificate", {"csr": CSR})

    assert answer == {"status": "Rejected"}
    event = await SecurityEvent.objects.aget(charge_point_id="CP-1")
    assert event.type == SecurityEvent.CERTIFICATE_SIGNING_REJECTED
    # (Signing, and the other refusals, are tested in tests/chargepoints/test_certificates.py.)


async def test_a_csr_over_5500_characters_gets_type_constraint_violation(client):
    reply = await client.call("SignCertificate", {"csr": "A" * 5501})

    assert reply[0] == 4 and reply[2] == "TypeConstraintViolation"
    assert reply[4]["field"] == "csr"
    assert not await StationMessage.objects.aexists()


# --- LogStatusNotification


async def test_log_status_is_kept_as_the_diagnostics_status_linked_to_get_log(client):
    get_log = await answered("GetLog")
    await answered("GetDiagnostics")  # a newer diagnostics request is not what a log status reports on

    await call_ok(client, "LogStatusNotification", {"status": "Uploading", "requestId": 7})
    await call_ok(client, "LogStatusNotification", {"status": "Uploaded", "requestId": 7})

    cp = await ChargePoint.objects.aget(pk="CP-1")
    assert cp.diagnostics_status == "Uploaded" and cp.diagnostics_status_at is not None
    history = [(r.status, r.command_id) async for r in DiagnosticsStatusNotification.objects.order_by("id")]
    assert history == [("Uploading", get_log.pk), ("Uploaded", get_log.pk)]


async def test_a_log_status_outside_the_enumeration_gets_property_constraint_violation(client):
    reply = await client.call("LogStatusNotification", {"status": "Idling"})

    assert reply[0] == 4 and reply[2] == "PropertyConstraintViolation"
    assert not await DiagnosticsStatusNotification.objects.aexists()


# --- SignedFirmwareStatusNotification


async def test_signed_firmware_status_is_the_firmware_status_linked_to_the_signed_update(client):
    update = await answered("SignedUpdateFirmware")
    statuses = ["Downloading", "Downloaded", "SignatureVerified", "Installing", "InstallRebooting", "Installed"]

    for status in statuses:
        assert await call_ok(client, "SignedFirmwareStatusNotification", {"status": status, "requestId": 3}) == {}

    cp = await ChargePoint.objects.aget(pk="CP-1")
    assert cp.firmware_status == "Installed" and cp.firmware_status_at is not None
    history = [(r.status, r.command_id) async for r in FirmwareStatusNotification.objects.order_by("id")]
    assert history == [(status, update.pk) for status in statuses]


async def test_an_invalid_signature_is_kept_as_the_firmware_status(client):
    await call_ok(client, "SignedFirmwareStatusNotification", {"status": "InvalidSignature"})

    assert (await ChargePoint.objects.aget(pk="CP-1")).firmware_status == "InvalidSignature"


async def test_a_signed_firmware_status_with_a_text_request_id_gets_type_constraint_violation(client):
    reply = await client.call("SignedFirmwareStatusNotification", {"status": "Installed", "requestId": "3"})

    assert reply[0] == 4 and reply[2] == "TypeConstraintViolation"
    assert reply[4]["field"] == "requestId"
    assert not await FirmwareStatusNotification.objects.aexists()


# --- Completeness


def test_every_charge_point_initiated_16_action_has_a_handler():
    central_system_only = set(v16.ACTIONS) - {"DataTransfer"}  # DataTransfer goes both ways
    assert set(v16.HANDLERS) == rpc.known_actions("1.6") - central_system_only


def test_the_security_extensions_central_system_messages_are_offered_as_commands():
    extension = {
        "CertificateSigned",
        "DeleteCertificate",
        "ExtendedTriggerMessage",
        "GetInstalledCertificateIds",
        "GetLog",
        "InstallCertificate",
        "SignedUpdateFirmware",
    }
    assert extension <= set(v16.ACTIONS)
