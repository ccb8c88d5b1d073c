"""OCPP 2.0.1 station messages through the consumer: every answer is schema-valid, and what is stored."""

from datetime import UTC, datetime

import pytest

from chargepoints.models import (
    BootNotification,
    ChargePoint,
    Command,
    CommandStatus,
    Connector,
    DataTransfer,
    DiagnosticsStatusNotification,
    FirmwareStatusNotification,
    SecurityEvent,
    StationMessage,
    StatusNotification,
    Variable,
)
from chargepoints.ocpp import data_transfer, rpc
from chargepoints.ocpp.datetimes import parse_timestamp

pytestmark = pytest.mark.django_db(transaction=True)

T0 = "2026-11-22T10:00:00Z"
BOOT = {"reason": "PowerUp", "chargingStation": {"vendorName": "Acme", "model": "Fast-2"}}


async def call_ok(client, action: str, payload: dict, *, unique_id: str | None = None) -> dict:
    """Send a schema-valid 2.0.1 CALL; assert a CALLRESULT whose payload is valid against the response schema."""
    rpc.validate_payload("2.0.1", action, payload)  # the test's own payload must be one a station may send
    reply = await client.call(action, payload, unique_id=unique_id)
    assert reply[0] == 3, reply
    rpc.validate_payload("2.0.1", action, reply[2], response=True)
    return reply[2]


@pytest.fixture
async def client(charge_point, ocpp_connect):
    """CP-1 connected over OCPP 2.0.1 whose last boot was Accepted: it is served without booting again."""
    await ChargePoint.objects.filter(pk="CP-1").aupdate(last_boot_status="Accepted")
    client, accepted, subprotocol = await ocpp_connect("/ocpp/CP-1", subprotocols=["ocpp2.0.1"])
    assert accepted and subprotocol == "ocpp2.0.1"
    return client


def close_to_now(value: str) -> bool:
    return abs((parse_timestamp(value) - datetime.now(UTC)).total_seconds()) < 5


# --- B01 BootNotification, G02 Heartbeat, G01 StatusNotification ----------


async def test_boot_notification_is_accepted_with_our_interval_and_stores_the_station(client, settings):
    settings.OCPP_HEARTBEAT_INTERVAL = 120
    payload = {
        "reason": "FirmwareUpdate",
        "chargingStation": {
            "serialNumber": "SN-201",
            "model": "Fast-2",
            "vendorName": "Acme",
            "firmwareVersion": "2.0.1-rc1",
            "modem": {"iccid": "89310410106543789301", "imsi": "262011234567890"},
        },
    }
    answer = await call_ok(client, "BootNotification", payload)
    assert answer["status"] == "Accepted"
    assert answer["interval"] == 120
    assert close_to_now(answer["currentTime"])

    boot = await BootNotification.objects.aget(charge_point_id="CP-1")
    assert (boot.vendor, boot.model, boot.serial_number, boot.firmware_version) == ("Acme", "Fast-2", "SN-201", "2.0.1-rc1")
    assert (boot.iccid, boot.imsi, boot.reason, boot.status) == (
        "89310410106543789301",
        "262011234567890",
        "FirmwareUpdate",
        "Accepted",
    )
    cp = await ChargePoint.objects.aget(pk="CP-1")
    assert (cp.vendor, cp.model, cp.serial_number, cp.firmware_version, cp.iccid, cp.imsi) == (
        "Acme",
        "Fast-2",
        "SN-201",
        "2.0.1-rc1",
        "89310410106543789301",
        "262011234567890",
    )
    assert cp.last_boot_status == "Accepted" and cp.last_boot_at is not None


async def test_a_minimal_boot_clears_what_an_earlier_boot_said(client):
    full = {"reason": "PowerUp", "chargingStation": {**BOOT["chargingStation"], "firmwareVersion": "1", "modem": {"imsi": "1"}}}
    await call_ok(client, "BootNotification", full)
    await call_ok(client, "BootNotification", {**BOOT, "reason": "Watchdog"})
    assert await BootNotification.objects.filter(charge_point_id="CP-1").acount() == 2
    cp = await ChargePoint.objects.aget(pk="CP-1")
    assert (cp.firmware_version, cp.imsi) == ("", "")
    latest = await BootNotification.objects.order_by("-id").afirst()
    assert latest.reason == "Watchdog"


async def test_heartbeat_answers_the_time_and_records_it(client):
    answer = await call_ok(client, "Heartbeat", {})
    assert close_to_now(answer["currentTime"])
    cp = await ChargePoint.objects.aget(pk="CP-1")
    assert cp.last_heartbeat is not None and cp.last_seen >= cp.last_heartbeat


async def test_status_notifications_keep_the_status_per_evse_and_connector_with_history(client):
    for evse_id, connector_id, status, minute in [(1, 1, "Available", 0), (2, 1, "Occupied", 1), (1, 1, "Faulted", 2)]:
        payload = {
            "timestamp": f"2026-11-22T10:0{minute}:00Z",
            "connectorStatus": status,
            "evseId": evse_id,
            "connectorId": connector_id,
        }
        assert await call_ok(client, "StatusNotification", payload) == {}

    connectors = {(c.evse_id, c.connector_id): c async for c in Connector.objects.filter(charge_point_id="CP-1")}
    assert set(connectors) == {(1, 1), (2, 1)}
    assert connectors[(1, 1)].status == "Faulted"
    assert connectors[(1, 1)].status_timestamp == datetime(2026, 11, 22, 10, 2, tzinfo=UTC)
    assert connectors[(2, 1)].status == "Occupied"
    history = [(s.evse_id, s.connector_id, s.status) async for s in StatusNotification.objects.order_by("id")]
    assert history == [(1, 1, "Available"), (2, 1, "Occupied"), (1, 1, "Faulted")]


async def test_a_late_older_status_is_kept_in_history_but_does_not_overwrite_the_current_one(client):
    new = {"timestamp": "2026-11-22T10:05:00Z", "connectorStatus": "Occupied", "evseId": 1, "connectorId": 1}
    await call_ok(client, "StatusNotification", new)
    await call_ok(client, "StatusNotification", {**new, "timestamp": T0, "connectorStatus": "Available"})
    assert (await Connector.objects.aget(charge_point_id="CP-1", evse_id=1, connector_id=1)).status == "Occupied"
    assert await StatusNotification.objects.acount() == 2


# --- B07/B08 NotifyReport: the device model -------------------------------


def report(*report_data, seq_no: int = 0, tbc: bool = False) -> dict:
    return {"requestId": 7, "generatedAt": T0, "seqNo": seq_no, "tbc": tbc, "reportData": list(report_data)}


POWER = {
    "component": {"name": "EVSE", "evse": {"id": 1}},
    "variable": {"name": "Power"},
    "variableAttribute": [
        {"type": "Actual", "value": "0", "mutability": "ReadOnly"},
        {"type": "MaxSet", "value": "22000", "mutability": "ReadWrite", "persistent": True},
    ],
    "variableCharacteristics": {"unit": "W", "dataType": "decimal", "maxLimit": 22000, "supportsMonitoring": True},
}
HEARTBEAT_INTERVAL = {
    "component": {"name": "OCPPCommCtrlr"},
    "variable": {"name": "HeartbeatInterval"},
    "variableAttribute": [{"value": "300"}],
    "variableCharacteristics": {"unit": "s", "dataType": "integer", "minLimit": 1, "supportsMonitoring": False},
}
CONNECTOR_TYPE = {
    "component": {"name": "Connector", "instance": "left", "evse": {"id": 1, "connectorId": 2}},
    "variable": {"name": "ConnectorType", "instance": "plug"},
    "variableAttribute": [{"value": "cType2", "mutability": "ReadOnly", "persistent": True, "constant": True}],
    "variableCharacteristics": {"dataType": "OptionList", "valuesList": "cType2,cCCS2", "supportsMonitoring": False},
}


async def test_notify_report_stores_every_variable_attribute_with_its_characteristics(client):
    assert await call_ok(client, "NotifyReport", report(POWER, HEARTBEAT_INTERVAL, CONNECTOR_TYPE)) == {}

    rows = {
        (v.component, v.component_instance, v.evse_id, v.connector_id, v.variable, v.variable_instance, v.attribute_type): v
        async for v in Variable.objects.filter(charge_point_id="CP-1")
    }
    assert set(rows) == {
        ("EVSE", "", 1, 0, "Power", "", "Actual"),
        ("EVSE", "", 1, 0, "Power", "", "MaxSet"),
        ("OCPPCommCtrlr", "", 0, 0, "HeartbeatInterval", "", "Actual"),
        ("Connector", "left", 1, 2, "ConnectorType", "plug", "Actual"),
    }
    actual = rows[("EVSE", "", 1, 0, "Power", "", "Actual")]
    assert (actual.value, actual.mutability, actual.unit, actual.data_type, actual.max_limit) == (
        "0",
        "ReadOnly",
        "W",
        "decimal",
        22000,
    )
    max_set = rows[("EVSE", "", 1, 0, "Power", "", "MaxSet")]
    assert (max_set.value, max_set.mutability, max_set.persistent) == ("22000", "ReadWrite", True)
    interval = rows[("OCPPCommCtrlr", "", 0, 0, "HeartbeatInterval", "", "Actual")]
    # An attribute without type is the Actual one, without mutability ReadWrite (2.0.1 defaults).
    assert (interval.value, interval.mutability, interval.unit, interval.data_type, interval.min_limit) == (
        "300",
        "ReadWrite",
        "s",
        "integer",
        1,
    )
    plug = rows[("Connector", "left", 1, 2, "ConnectorType", "plug", "Actual")]
    assert (plug.value, plug.constant, plug.persistent, plug.values_list, plug.data_type) == (
        "cType2",
        True,
        True,
        "cType2,cCCS2",
        "OptionList",
    )
    assert plug.component_path == "Connector[left]@EVSE1/2" and plug.variable_path == "ConnectorType[plug]"


async def test_a_second_report_updates_the_variables_instead_of_adding_rows(client):
    await call_ok(client, "NotifyReport", report(POWER, HEARTBEAT_INTERVAL, tbc=True))
    changed = {**HEARTBEAT_INTERVAL, "variableAttribute": [{"value": "60", "mutability": "ReadWrite"}]}
    await call_ok(client, "NotifyReport", report(changed, seq_no=1))
    assert await Variable.objects.filter(charge_point_id="CP-1").acount() == 3
    interval = await Variable.objects.aget(charge_point_id="CP-1", variable="HeartbeatInterval")
    assert interval.value == "60"


async def test_a_report_without_report_data_is_answered_and_stores_nothing(client):
    assert await call_ok(client, "NotifyReport", {"requestId": 7, "generatedAt": T0, "seqNo": 0}) == {}
    assert not await Variable.objects.aexists()


# --- L01 FirmwareStatusNotification, N01 LogStatusNotification ------------


async def test_firmware_status_is_set_on_the_charge_point_with_history_linked_to_the_update(client):
    update = await Command.objects.acreate(
        charge_point_id="CP-1",
        action="UpdateFirmware",
        ocpp_version="2.0.1",
        status=CommandStatus.ANSWERED,
        response={"status": "Accepted"},
    )
    for status in ["Downloading", "Downloaded", "SignatureVerified", "Installing", "Installed"]:
        assert await call_ok(client, "FirmwareStatusNotification", {"status": status, "requestId": 5}) == {}
    cp = await ChargePoint.objects.aget(pk="CP-1")
    assert cp.firmware_status == "Installed" and cp.firmware_status_at is not None
    history = [(r.status, r.command_id) async for r in FirmwareStatusNotification.objects.order_by("id")]
    assert history == [(s, update.pk) for s in ["Downloading", "Downloaded", "SignatureVerified", "Installing", "Installed"]]


async def test_log_status_is_kept_as_the_diagnostics_status_with_history_linked_to_get_log(client):
    get_log = await Command.objects.acreate(
        charge_point_id="CP-1", action="GetLog", ocpp_version="2.0.1", status=CommandStatus.ANSWERED, response={}
    )
    await call_ok(client, "LogStatusNotification", {"status": "Uploading", "requestId": 3})
    await call_ok(client, "LogStatusNotification", {"status": "UploadFailure", "requestId": 3})
    cp = await ChargePoint.objects.aget(pk="CP-1")
    assert cp.diagnostics_status == "UploadFailure" and cp.diagnostics_status_at is not None
    history = [(r.status, r.command_id) async for r in DiagnosticsStatusNotification.objects.order_by("id")]
    assert history == [("Uploading", get_log.pk), ("UploadFailure", get_log.pk)]


# --- P02 DataTransfer ------------------------------------------------------


async def test_data_transfer_from_an_unknown_vendor_is_stored_and_answered_unknown_vendor_id(client):
    answer = await call_ok(client, "DataTransfer", {"vendorId": "com.nobody", "messageId": "hello", "data": {"a": 1}})
    assert answer == {"status": "UnknownVendorId"}
    row = await DataTransfer.objects.aget(charge_point_id="CP-1")
    assert (row.vendor_id, row.message_id, row.status) == ("com.nobody", "hello", "UnknownVendorId")
    assert row.data == '{"a": 1}', "structured 2.0.1 data is kept as JSON text"


async def test_data_transfer_goes_to_a_registered_vendor_handler(client):
    seen = []

    def acme(charge_point_id, message_id, data):
        seen.append((charge_point_id, message_id, data))
        return "Accepted", "pong"

    data_transfer.register_vendor("com.acme", acme)
    try:
        answer = await call_ok(client, "DataTransfer", {"vendorId": "com.acme", "messageId": "ping", "data": "x"})
    finally:
        data_transfer.unregister_vendor("com.acme")
    assert answer == {"status": "Accepted", "data": "pong"}
    assert seen == [("CP-1", "ping", "x")]
    row = await DataTransfer.objects.aget(charge_point_id="CP-1")
    assert (row.status, row.response_data) == ("Accepted", "pong")


# --- Messages kept as sent (StationMessage) -------------------------------

SCHEDULE = {"id": 1, "chargingRateUnit": "W", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 11000.0}]}

STORED = [
    (
        "NotifyEvent",
        {
            "generatedAt": T0,
            "seqNo": 0,
            "eventData": [
                {
                    "eventId": 1,
                    "timestamp": T0,
                    "trigger": "Alerting",
                    "actualValue": "true",
                    "eventNotificationType": "HardWiredNotification",
                    "component": {"name": "Connector", "evse": {"id": 1, "connectorId": 1}},
                    "variable": {"name": "Problem"},
                }
            ],
        },
        {},
    ),
    ("NotifyChargingLimit", {"chargingLimit": {"chargingLimitSource": "EMS", "isGridCritical": False}, "evseId": 1}, {}),
    ("ClearedChargingLimit", {"chargingLimitSource": "EMS", "evseId": 1}, {}),
    (
        "ReportChargingProfiles",
        {
            "requestId": 4,
            "chargingLimitSource": "CSO",
            "evseId": 1,
            "chargingProfile": [
                {
                    "id": 10,
                    "stackLevel": 0,
                    "chargingProfilePurpose": "TxDefaultProfile",
                    "chargingProfileKind": "Relative",
                    "chargingSchedule": [SCHEDULE],
                }
            ],
        },
        {},
    ),
    (
        "NotifyEVChargingNeeds",
        {"evseId": 1, "chargingNeeds": {"requestedEnergyTransfer": "AC_three_phase"}},
        {"status": "Rejected", "statusInfo": {"reasonCode": "NotSupported"}},
    ),
    ("NotifyEVChargingSchedule", {"timeBase": T0, "evseId": 1, "chargingSchedule": SCHEDULE}, {"status": "Accepted"}),
    (
        "NotifyDisplayMessages",
        {
            "requestId": 2,
            "messageInfo": [{"id": 1, "priority": "NormalCycle", "message": {"format": "UTF8", "content": "Hello"}}],
        },
        {},
    ),
    ("NotifyCustomerInformation", {"data": "no data kept", "seqNo": 0, "generatedAt": T0, "requestId": 3}, {}),
    ("NotifyMonitoringReport", {"requestId": 5, "seqNo": 0, "generatedAt": T0}, {}),
    (
        "Get15118EVCertificate",
        {"iso15118SchemaVersion": "urn:iso:15118:2:2013:MsgDef", "action": "Install", "exiRequest": "gAQ="},
        {"status": "Failed", "exiResponse": "", "statusInfo": {"reasonCode": "NotSupported"}},
    ),
    (
        "GetCertificateStatus",
        {
            "ocspRequestData": {
                "hashAlgorithm": "SHA256",
                "issuerNameHash": "a1" * 32,
                "issuerKeyHash": "b2" * 32,
                "serialNumber": "0123456789",
                "responderURL": "http://ocsp.example.com",
            }
        },
        {"status": "Failed", "statusInfo": {"reasonCode": "NotSupported"}},
    ),
    (
        "PublishFirmwareStatusNotification",
        {"status": "Published", "location": ["http://cp.local/fw.bin"], "requestId": 9},
        {},
    ),
]


@pytest.mark.parametrize("action, payload, expected", STORED, ids=[s[0] for s in STORED])
async def test_a_message_without_a_table_of_its_own_is_kept_as_sent_and_answered(client, action, payload, expected):
    answer = await call_ok(client, action, payload)
    assert answer == expected
    message = await StationMessage.objects.aget(charge_point_id="CP-1")
    assert message.action == action
    assert message.payload == payload
    assert message.received_at is not None


async def test_every_station_initiated_201_action_has_a_handler_and_a_test():
    from chargepoints.ocpp import v201

    csms_only = set(v201.ACTIONS) - {"DataTransfer"}  # DataTransfer goes both ways
    station_initiated = rpc.known_actions("2.0.1") - csms_only
    assert set(v201.HANDLERS) == station_initiated
    # Tested in this module, or in tests/chargepoints/ocpp/v201/test_transaction_handlers.py (Authorize … ReservationStatusUpdate).
    tested = {"BootNotification", "Heartbeat", "StatusNotification", "NotifyReport", "FirmwareStatusNotification"}
    tested |= {"LogStatusNotification", "DataTransfer", "SecurityEventNotification"} | {action for action, _, _ in STORED}
    tested |= {"Authorize", "TransactionEvent", "MeterValues", "ReservationStatusUpdate"}
    tested |= {"SignCertificate"}  # tests/chargepoints/test_certificates.py
    assert tested == station_initiated


async def test_each_stored_message_is_kept_once_per_request(client):
    payload = {"requestId": 5, "seqNo": 0, "generatedAt": T0}
    await call_ok(client, "NotifyMonitoringReport", payload)
    await call_ok(client, "NotifyMonitoringReport", {**payload, "generatedAt": "2026-11-22T10:01:00Z"})
    stamps = [m.payload["generatedAt"] async for m in StationMessage.objects.order_by("id")]
    assert stamps == [T0, "2026-11-22T10:01:00Z"]


# --- A04 SecurityEventNotification ------------------------------------------


async def test_a_security_event_notification_is_recorded_as_a_security_event_of_the_station(client):
    answer = await call_ok(client, "SecurityEventNotification", {"type": "FirmwareUpdated", "timestamp": T0, "techInfo": "2.0.1-rc1"})

    assert answer == {}
    event = await SecurityEvent.objects.aget(charge_point_id="CP-1")
    assert (event.type, event.source, event.tech_info) == ("FirmwareUpdated", SecurityEvent.Source.STATION, "2.0.1-rc1")
    assert event.timestamp == datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
    assert event.received_at is not None and event.source_address is None
    assert not await StationMessage.objects.aexists(), "kept once, as a security event"


async def test_a_security_event_without_tech_info_is_recorded_with_none(client):
    await call_ok(client, "SecurityEventNotification", {"type": "StartupOfTheDevice", "timestamp": T0})
    await call_ok(client, "SecurityEventNotification", {"type": "StartupOfTheDevice", "timestamp": "2026-11-22T10:01:00Z"})

    events = [(e.type, e.tech_info) async for e in SecurityEvent.objects.order_by("id")]
    assert events == [("StartupOfTheDevice", ""), ("StartupOfTheDevice", "")]


async def test_a_security_event_with_too_long_a_type_is_refused_with_a_callerror(client):
    reply = await client.call("SecurityEventNotification", {"type": "x" * 51, "timestamp": T0})

    assert reply[0] == 4 and reply[2] == "TypeConstraintViolation"
    assert reply[4]["field"] == "type"
    assert not await SecurityEvent.objects.aexists()
