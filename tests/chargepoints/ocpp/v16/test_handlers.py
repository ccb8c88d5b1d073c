"""OCPP 1.6 charge point messages end to end through the consumer: the answer and what is stored."""

from datetime import UTC, datetime

import pytest

from chargepoints.models import (
    BootNotification,
    ChargePoint,
    Connector,
    DataTransfer,
    DiagnosticsStatusNotification,
    FirmwareStatusNotification,
    StatusNotification,
)
from chargepoints.ocpp import data_transfer
from chargepoints.ocpp.datetimes import parse_timestamp

pytestmark = pytest.mark.django_db(transaction=True)

FULL_BOOT = {
    "chargePointVendor": "Acme",
    "chargePointModel": "Fast-1",
    "chargePointSerialNumber": "SN-1",
    "chargeBoxSerialNumber": "BOX-1",
    "firmwareVersion": "1.2.3",
    "iccid": "8931",
    "imsi": "2620",
    "meterType": "ABB",
    "meterSerialNumber": "M-9",
}


@pytest.fixture
async def client(charge_point, ocpp_connect):
    client, accepted, _ = await ocpp_connect("/ocpp/CP-1")
    assert accepted
    return client


async def test_boot_notification_is_accepted_with_our_interval_and_stored(client, settings):
    settings.OCPP_HEARTBEAT_INTERVAL = 120
    reply = await client.call("BootNotification", FULL_BOOT)
    assert reply[0] == 3
    assert reply[2]["status"] == "Accepted"
    assert reply[2]["interval"] == 120
    assert abs((parse_timestamp(reply[2]["currentTime"]) - datetime.now(UTC)).total_seconds()) < 5

    boot = await BootNotification.objects.aget(charge_point_id="CP-1")
    assert (boot.vendor, boot.model, boot.serial_number, boot.charge_box_serial_number) == ("Acme", "Fast-1", "SN-1", "BOX-1")
    assert (boot.firmware_version, boot.iccid, boot.imsi, boot.meter_type, boot.meter_serial_number) == (
        "1.2.3",
        "8931",
        "2620",
        "ABB",
        "M-9",
    )
    cp = await ChargePoint.objects.aget(pk="CP-1")
    assert (cp.vendor, cp.model, cp.firmware_version, cp.meter_serial_number) == ("Acme", "Fast-1", "1.2.3", "M-9")
    assert cp.last_boot_at is not None


async def test_every_boot_is_kept_and_the_latest_describes_the_charge_point(client):
    await client.call("BootNotification", FULL_BOOT)
    await client.call("BootNotification", {**FULL_BOOT, "firmwareVersion": "2.0.0"})
    assert await BootNotification.objects.filter(charge_point_id="CP-1").acount() == 2
    assert (await ChargePoint.objects.aget(pk="CP-1")).firmware_version == "2.0.0"


async def test_heartbeat_answers_the_time_and_records_it(client):
    reply = await client.call("Heartbeat", {})
    assert abs((parse_timestamp(reply[2]["currentTime"]) - datetime.now(UTC)).total_seconds()) < 5
    cp = await ChargePoint.objects.aget(pk="CP-1")
    assert cp.last_heartbeat is not None and cp.last_seen >= cp.last_heartbeat


async def test_status_notifications_keep_history_and_current_status_per_connector(client):
    await client.call(
        "StatusNotification",
        {"connectorId": 0, "errorCode": "NoError", "status": "Available", "timestamp": "2026-11-22T10:00:00Z"},
    )
    await client.call(
        "StatusNotification",
        {"connectorId": 1, "errorCode": "NoError", "status": "Preparing", "timestamp": "2026-11-22T10:00:01Z"},
    )
    await client.call(
        "StatusNotification",
        {
            "connectorId": 1,
            "errorCode": "GroundFailure",
            "status": "Faulted",
            "info": "RCD tripped",
            "vendorId": "com.acme",
            "vendorErrorCode": "E42",
            "timestamp": "2026-11-22T10:00:02Z",
        },
    )
    assert await StatusNotification.objects.filter(charge_point_id="CP-1").acount() == 3
    c0 = await Connector.objects.aget(charge_point_id="CP-1", connector_id=0)
    c1 = await Connector.objects.aget(charge_point_id="CP-1", connector_id=1)
    assert c0.status == "Available"
    assert (c1.status, c1.error_code, c1.info, c1.vendor_id, c1.vendor_error_code) == (
        "Faulted",
        "GroundFailure",
        "RCD tripped",
        "com.acme",
        "E42",
    )
    assert c1.status_timestamp == datetime(2026, 11, 22, 10, 0, 2, tzinfo=UTC)


async def test_a_late_older_status_is_kept_in_history_but_does_not_overwrite_the_current_one(client):
    await client.call(
        "StatusNotification",
        {"connectorId": 1, "errorCode": "NoError", "status": "Charging", "timestamp": "2026-11-22T10:05:00Z"},
    )
    await client.call(
        "StatusNotification",
        {"connectorId": 1, "errorCode": "NoError", "status": "Preparing", "timestamp": "2026-11-22T10:00:00Z"},
    )
    assert (await Connector.objects.aget(charge_point_id="CP-1", connector_id=1)).status == "Charging"
    assert await StatusNotification.objects.filter(status="Preparing").aexists()


async def test_data_transfer_from_an_unknown_vendor_is_stored_and_answered_unknown_vendor_id(client):
    reply = await client.call("DataTransfer", {"vendorId": "com.nobody", "messageId": "hello", "data": '{"a":1}'})
    assert reply[2] == {"status": "UnknownVendorId"}
    row = await DataTransfer.objects.aget(charge_point_id="CP-1")
    assert (row.vendor_id, row.message_id, row.data, row.status) == ("com.nobody", "hello", '{"a":1}', "UnknownVendorId")


async def test_data_transfer_goes_to_a_registered_vendor_handler(client):
    seen = []

    def acme(charge_point_id, message_id, data):
        seen.append((charge_point_id, message_id, data))
        return "Accepted", "pong"

    data_transfer.register_vendor("com.acme", acme)
    try:
        reply = await client.call("DataTransfer", {"vendorId": "com.acme", "messageId": "ping", "data": "x"})
    finally:
        data_transfer.unregister_vendor("com.acme")
    assert reply[2] == {"status": "Accepted", "data": "pong"}
    assert seen == [("CP-1", "ping", "x")]
    row = await DataTransfer.objects.aget(charge_point_id="CP-1")
    assert (row.status, row.response_data) == ("Accepted", "pong")


async def test_firmware_status_is_set_on_the_charge_point_with_history(client):
    for status in ["Downloading", "Downloaded", "Installing", "Installed"]:
        assert (await client.call("FirmwareStatusNotification", {"status": status}))[2] == {}
    cp = await ChargePoint.objects.aget(pk="CP-1")
    assert cp.firmware_status == "Installed" and cp.firmware_status_at is not None
    history = [r.status async for r in FirmwareStatusNotification.objects.order_by("id")]
    assert history == ["Downloading", "Downloaded", "Installing", "Installed"]


async def test_diagnostics_status_is_set_on_the_charge_point_with_history(client):
    await client.call("DiagnosticsStatusNotification", {"status": "Uploading"})
    await client.call("DiagnosticsStatusNotification", {"status": "UploadFailed"})
    cp = await ChargePoint.objects.aget(pk="CP-1")
    assert cp.diagnostics_status == "UploadFailed"
    assert await DiagnosticsStatusNotification.objects.acount() == 2
