"""Every central-system operation gets a schema-valid answer from the simulator, in both versions.

No server here: a CALL frame goes into the station's `ocpp` ChargePoint
adapter and the frame it sends back is checked with the CSMS's own
validator (chargepoints.ocpp.rpc, the official schemas plus date-time
formats). Follow-up messages the station sends are recorded by a stand-in
link and validated the same way.
"""

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
from ocpp.charge_point import remove_nones, serialize_as_dict, snake_to_camel_case
from ocpp.v16 import call_result as result16
from ocpp.v201 import call_result as result201

from chargepoints.ocpp import rpc, v16, v201
from simulator.model import VEHICLE_MODELS, Session, Vehicle, utc_now
from simulator.script import CallError
from simulator.station import VENDOR_ID, Station, StationSettings

ACTIONS = {v16.VERSION: v16.ACTIONS, v201.VERSION: v201.ACTIONS}

FUTURE = (datetime.now(UTC) + timedelta(hours=2)).isoformat().replace("+00:00", "Z")
NOW = datetime.now(UTC).isoformat().replace("+00:00", "Z")
CERT = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"
HASH = {"hashAlgorithm": "SHA256", "issuerNameHash": "a1", "issuerKeyHash": "b2", "serialNumber": "01"}
SIGNED_FIRMWARE = {
    "location": "https://example.com/fw-2.0.0.bin",
    "retrieveDateTime": NOW,
    "signingCertificate": CERT,
    "signature": "c2lnbmVk",
}

REQUESTS = {
    "1.6": {
        "ChangeAvailability": {"connectorId": 1, "type": "Inoperative"},
        "ChangeConfiguration": {"key": "HeartbeatInterval", "value": "42"},
        "ClearCache": {},
        "DataTransfer": {"vendorId": "com.example", "messageId": "m", "data": "d"},
        "GetConfiguration": {"key": ["HeartbeatInterval", "NoSuchKey"]},
        "RemoteStartTransaction": {"idTag": "TAG-1", "connectorId": 1},
        "RemoteStopTransaction": {"transactionId": 12345},
        "Reset": {"type": "Soft"},
        "UnlockConnector": {"connectorId": 1},
        "GetDiagnostics": {"location": "ftp://example.com/diagnostics"},
        "UpdateFirmware": {"location": "https://example.com/fw-2.bin", "retrieveDate": NOW},
        "GetLocalListVersion": {},
        "SendLocalList": {
            "listVersion": 3,
            "updateType": "Full",
            "localAuthorizationList": [{"idTag": "LOCAL-1", "idTagInfo": {"status": "Accepted"}}],
        },
        "CancelReservation": {"reservationId": 999},
        "ReserveNow": {"connectorId": 2, "expiryDate": FUTURE, "idTag": "TAG-1", "reservationId": 5},
        "ClearChargingProfile": {},
        "GetCompositeSchedule": {"connectorId": 1, "duration": 3600, "chargingRateUnit": "W"},
        "SetChargingProfile": {
            "connectorId": 0,
            "csChargingProfiles": {
                "chargingProfileId": 1,
                "stackLevel": 0,
                "chargingProfilePurpose": "ChargePointMaxProfile",
                "chargingProfileKind": "Absolute",
                "chargingSchedule": {
                    "startSchedule": NOW,
                    "chargingRateUnit": "A",
                    "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}],
                },
            },
        },
        "TriggerMessage": {"requestedMessage": "StatusNotification"},
        # Security extension (Security Whitepaper edition 3)
        "CertificateSigned": {"certificateChain": CERT},
        "DeleteCertificate": {"certificateHashData": HASH},
        "ExtendedTriggerMessage": {"requestedMessage": "SignChargePointCertificate"},
        "GetInstalledCertificateIds": {"certificateType": "CentralSystemRootCertificate"},
        "GetLog": {"log": {"remoteLocation": "https://example.com/logs"}, "logType": "SecurityLog", "requestId": 5},
        "InstallCertificate": {"certificateType": "CentralSystemRootCertificate", "certificate": CERT},
        "SignedUpdateFirmware": {"requestId": 12, "firmware": SIGNED_FIRMWARE},
    },
    "2.0.1": {
        "CancelReservation": {"reservationId": 999},
        "CertificateSigned": {"certificateChain": CERT},
        "ChangeAvailability": {"operationalStatus": "Inoperative", "evse": {"id": 1}},
        "ClearCache": {},
        "ClearChargingProfile": {"chargingProfileId": 77},
        "ClearDisplayMessage": {"id": 1},
        "ClearVariableMonitoring": {"id": [1, 2]},
        "CostUpdated": {"totalCost": 1.5, "transactionId": "tx-1"},
        "CustomerInformation": {"requestId": 1, "report": True, "clear": False, "customerIdentifier": "c-1"},
        "DataTransfer": {"vendorId": "com.example"},
        "DeleteCertificate": {"certificateHashData": HASH},
        "GetBaseReport": {"requestId": 2, "reportBase": "FullInventory"},
        "GetChargingProfiles": {"requestId": 3, "chargingProfile": {"chargingProfilePurpose": "TxDefaultProfile"}},
        "GetCompositeSchedule": {"duration": 600, "evseId": 1, "chargingRateUnit": "W"},
        "GetDisplayMessages": {"requestId": 4},
        "GetInstalledCertificateIds": {},
        "GetLocalListVersion": {},
        "GetLog": {"log": {"remoteLocation": "https://example.com/logs"}, "logType": "DiagnosticsLog", "requestId": 5},
        "GetMonitoringReport": {"requestId": 6},
        "GetReport": {"requestId": 7, "componentVariable": [{"component": {"name": "OCPPCommCtrlr"}}]},
        "GetTransactionStatus": {},
        "GetVariables": {
            "getVariableData": [
                {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}},
                {"component": {"name": "NoSuchCtrlr"}, "variable": {"name": "X"}},
            ]
        },
        "InstallCertificate": {"certificateType": "CSMSRootCertificate", "certificate": CERT},
        "PublishFirmware": {"location": "https://example.com/fw", "checksum": "0" * 32, "requestId": 8},
        "RequestStartTransaction": {"idToken": {"idToken": "TAG-1", "type": "Central"}, "remoteStartId": 9, "evseId": 1},
        "RequestStopTransaction": {"transactionId": "not-running"},
        "ReserveNow": {"id": 10, "expiryDateTime": FUTURE, "idToken": {"idToken": "TAG-1", "type": "ISO14443"}, "evseId": 2},
        "Reset": {"type": "Immediate"},
        "SendLocalList": {
            "versionNumber": 4,
            "updateType": "Full",
            "localAuthorizationList": [{"idToken": {"idToken": "LOCAL-1", "type": "ISO14443"}, "idTokenInfo": {"status": "Accepted"}}],
        },
        "SetChargingProfile": {
            "evseId": 0,
            "chargingProfile": {
                "id": 1,
                "stackLevel": 0,
                "chargingProfilePurpose": "ChargingStationMaxProfile",
                "chargingProfileKind": "Absolute",
                "chargingSchedule": [
                    {
                        "id": 1,
                        "startSchedule": NOW,
                        "chargingRateUnit": "W",
                        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 11000.0}],
                    }
                ],
            },
        },
        "SetDisplayMessage": {"message": {"id": 1, "priority": "NormalCycle", "message": {"format": "UTF8", "content": "Hi"}}},
        "SetMonitoringBase": {"monitoringBase": "All"},
        "SetMonitoringLevel": {"severity": 5},
        "SetNetworkProfile": {
            "configurationSlot": 1,
            "connectionData": {
                "ocppVersion": "OCPP20",
                "ocppTransport": "JSON",
                "ocppCsmsUrl": "wss://example.com/ocpp",
                "messageTimeout": 30,
                "securityProfile": 1,
                "ocppInterface": "Wired0",
            },
        },
        "SetVariableMonitoring": {
            "setMonitoringData": [
                {"value": 1.0, "type": "UpperThreshold", "severity": 5, "component": {"name": "EVSE"}, "variable": {"name": "Power"}}
            ]
        },
        "SetVariables": {
            "setVariableData": [{"attributeValue": "45", "component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}]
        },
        "TriggerMessage": {"requestedMessage": "Heartbeat"},
        "UnlockConnector": {"evseId": 1, "connectorId": 1},
        "UnpublishFirmware": {"checksum": "0" * 32},
        "UpdateFirmware": {"requestId": 11, "firmware": {"location": "https://example.com/fw-2", "retrieveDateTime": NOW}},
    },
}


def camel(payload) -> dict:
    return remove_nones(snake_to_camel_case(serialize_as_dict(payload)))


class FakeConnection:
    def __init__(self):
        self.sent: list[str] = []

    async def send(self, message):
        self.sent.append(message)

    async def recv(self):
        await asyncio.Event().wait()


class RecordingLink:
    """Stands in for the station's connection: records and validates every CALL the station sends."""

    def __init__(self, version: str):
        self.version = version
        self.calls: list[tuple[str, dict]] = []
        self.answers: dict[str, object] = {}  # action → the central system's answer (None when absent)
        self.closed = asyncio.Event()
        self.is_closed = False

    async def call(self, payload):
        action = type(payload).__name__
        body = camel(payload)
        rpc.validate_payload(self.version, action, body)
        self.calls.append((action, body))
        if action == "BootNotification":
            return result16.BootNotification(current_time=NOW, interval=300, status="Accepted")
        return self.answers.get(action)

    async def close(self):
        self.closed.set()

    def actions(self) -> list[str]:
        return [action for action, _ in self.calls]


@pytest.fixture
def make_station():
    made = []

    def make(version: str) -> Station:
        station = Station(
            StationSettings(station_id=f"UNIT-{version}", version=version, connectors=2, step_s=0.0, shutdown_s=0.0),
            url=lambda: "ws://127.0.0.1:9/ocpp/",
            seed=1,
        )
        station.link = RecordingLink(version)
        station.registered.set()
        station.boots = 1
        station.state = "online"
        made.append(station)
        return station

    yield make
    for station in made:
        for task in list(station._tasks):
            task.cancel()


async def answer(station: Station, action: str, payload: dict) -> list:
    """Route one CALL into a fresh adapter; return the frame it answered with, after follow-ups ran."""
    connection = FakeConnection()
    adapter = station.protocol.adapter(connection)
    await adapter.route_message(json.dumps([2, "u-1", action, payload]))
    await asyncio.sleep(0)
    for _ in range(100):  # let follow-ups finish
        if not station._tasks:
            break
        await asyncio.sleep(0.01)
    assert connection.sent, f"no answer to {action}"
    return json.loads(connection.sent[0])


def running_session(station: Station, connector_id: int = 1) -> Session:
    session = Session(
        local_id=1,
        connector_id=connector_id,
        id_tag="TAG-1",
        vehicle=Vehicle(VEHICLE_MODELS[3], 30),
        meter_start_wh=1000,
        started_at=utc_now(),
        transaction_id="tx-abc",
        server_transaction_id=4242,
    )
    station.connectors[connector_id].session = session
    station.connectors[connector_id].plugged = True
    return session


@pytest.mark.parametrize(("version", "action"), [(v, a) for v in ("1.6", "2.0.1") for a in ACTIONS[v]])
async def test_every_central_system_operation_is_answered_with_a_valid_callresult(make_station, version, action):
    payload = REQUESTS[version][action]
    rpc.validate_payload(version, action, payload)  # the sample itself is a valid request
    station = make_station(version)
    frame = await answer(station, action, payload)
    assert frame[0] == 3, f"{action} answered {frame}"
    assert frame[1] == "u-1"
    rpc.validate_payload(version, action, frame[2], response=True)


def test_every_operation_has_a_sample_request():
    for version, actions in ACTIONS.items():
        assert set(actions) == set(REQUESTS[version])


async def test_change_configuration_and_set_variables_change_the_heartbeat_rate(make_station):
    v16 = make_station("1.6")
    assert (await answer(v16, "ChangeConfiguration", {"key": "HeartbeatInterval", "value": "7"}))[2] == {"status": "Accepted"}
    assert v16.config.get_int("HeartbeatInterval") == 7 and v16._heartbeat_changed.is_set()
    frame = await answer(v16, "GetConfiguration", {"key": ["HeartbeatInterval", "NumberOfConnectors", "Nope"]})
    assert frame[2]["configurationKey"] == [
        {"key": "HeartbeatInterval", "readonly": False, "value": "7"},
        {"key": "NumberOfConnectors", "readonly": True, "value": "2"},
    ]
    assert frame[2]["unknownKey"] == ["Nope"]

    v201 = make_station("2.0.1")
    frame = await answer(
        v201,
        "SetVariables",
        {
            "setVariableData": [
                {"attributeValue": "9", "component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}},
                {"attributeValue": "2", "component": {"name": "SampledDataCtrlr"}, "variable": {"name": "TxUpdatedInterval"}},
                {"attributeValue": "x", "component": {"name": "SecurityCtrlr"}, "variable": {"name": "SecurityProfile"}},
            ]
        },
    )
    assert [r["attributeStatus"] for r in frame[2]["setVariableResult"]] == ["Accepted", "Accepted", "Rejected"]
    assert v201.config.get_int("HeartbeatInterval") == 9
    assert v201.config.get_float("MeterValueSampleInterval") == 2
    frame = await answer(
        v201,
        "GetVariables",
        {
            "getVariableData": [
                {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}},
                {"component": {"name": "EVSE", "evse": {"id": 2}}, "variable": {"name": "AvailabilityState"}},
                {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "Nope"}},
            ]
        },
    )
    results = frame[2]["getVariableResult"]
    assert (results[0]["attributeStatus"], results[0]["attributeValue"]) == ("Accepted", "9")
    assert results[1]["attributeValue"] == "Available"
    assert results[2]["attributeStatus"] == "UnknownVariable"


async def test_get_base_report_sends_the_whole_device_model_in_notify_reports(make_station):
    station = make_station("2.0.1")
    assert (await answer(station, "GetBaseReport", {"requestId": 3, "reportBase": "FullInventory"}))[2] == {"status": "Accepted"}
    reports = [body for action, body in station.link.calls if action == "NotifyReport"]
    assert len(reports) >= 2 and [r["seqNo"] for r in reports] == list(range(len(reports)))
    assert [r["tbc"] for r in reports] == [True] * (len(reports) - 1) + [False]
    reported = {(d["component"]["name"], d["variable"]["name"]) for r in reports for d in r["reportData"]}
    assert ("OCPPCommCtrlr", "HeartbeatInterval") in reported and ("SampledDataCtrlr", "TxUpdatedInterval") in reported
    assert len(reported) == len({(v.component, v.variable) for v in station.protocol.variables})


async def test_reservations_make_the_connector_reserved_until_cancelled(make_station):
    for version, reserve, cancel in (
        ("1.6", REQUESTS["1.6"]["ReserveNow"], {"reservationId": 5}),
        ("2.0.1", REQUESTS["2.0.1"]["ReserveNow"], {"reservationId": 10}),
    ):
        station = make_station(version)
        assert (await answer(station, "ReserveNow", reserve))[2]["status"] == "Accepted"
        assert station.connectors[2].status == "Reserved"
        assert (await answer(station, "ReserveNow", {**reserve, **({"reservationId": 6} if version == "1.6" else {"id": 11})}))[2][
            "status"
        ] == "Occupied"
        assert (await answer(station, "CancelReservation", cancel))[2]["status"] == "Accepted"
        assert station.connectors[2].status == "Available"
        statuses = [b.get("status") or b.get("connectorStatus") for a, b in station.link.calls if a == "StatusNotification"]
        assert statuses == ["Reserved", "Available"]


async def test_a_reservation_expires_by_itself(make_station):
    station = make_station("2.0.1")
    soon = (datetime.now(UTC) + timedelta(seconds=1)).isoformat().replace("+00:00", "Z")
    await answer(station, "ReserveNow", {**REQUESTS["2.0.1"]["ReserveNow"], "expiryDateTime": soon})
    ticker = asyncio.create_task(station._reservation_ticker())
    try:
        for _ in range(40):
            await asyncio.sleep(0.1)
            if station.connectors[2].reservation is None:
                break
    finally:
        ticker.cancel()
    assert station.connectors[2].status == "Available"
    assert ("ReservationStatusUpdate", {"reservationId": 10, "reservationUpdateStatus": "Expired"}) in station.link.calls


async def test_unlock_ends_a_16_session_but_not_a_201_one(make_station):
    v16 = make_station("1.6")
    session = running_session(v16)
    assert (await answer(v16, "UnlockConnector", {"connectorId": 1}))[2] == {"status": "Unlocked"}
    assert session.stop_reason == "UnlockCommand"
    v201 = make_station("2.0.1")
    session = running_session(v201)
    assert (await answer(v201, "UnlockConnector", {"evseId": 1, "connectorId": 1}))[2] == {"status": "OngoingAuthorizedTransaction"}
    assert session.stop_reason is None


async def test_a_16_unlock_of_a_connector_the_charge_point_lacks_is_not_supported(make_station):
    v16 = make_station("1.6")
    assert (await answer(v16, "UnlockConnector", {"connectorId": 7}))[2] == {"status": "NotSupported"}


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_data_transfer_to_the_simulators_own_vendor_echoes_the_data(make_station, version):
    station = make_station(version)
    echo = {"vendorId": VENDOR_ID, "messageId": "Echo", "data": '{"ping": 1}'}
    frame = await answer(station, "DataTransfer", echo)
    assert frame[2] == {"status": "Accepted", "data": '{"ping": 1}'}
    rpc.validate_payload(version, "DataTransfer", frame[2], response=True)
    assert (await answer(station, "DataTransfer", {**echo, "messageId": "Other"}))[2] == {"status": "UnknownMessageId"}
    assert (await answer(station, "DataTransfer", {**echo, "vendorId": "com.other"}))[2] == {"status": "UnknownVendorId"}


async def test_a_script_answers_in_the_stations_place_and_records_what_it_received(make_station):
    station = make_station("1.6")
    script = station.script
    script.record = True
    script.answers["ClearCache"] = {"status": "Rejected"}
    script.answers["ReserveNow"] = CallError("NotImplemented", "no reservations on this unit", {"profile": "Core"})
    script.answers["DataTransfer"] = lambda payload: {"status": "Rejected"} if payload["vendorId"] == "com.x" else None

    assert (await answer(station, "ClearCache", {}))[2] == {"status": "Rejected"}
    assert await answer(station, "ReserveNow", REQUESTS["1.6"]["ReserveNow"]) == [
        4,
        "u-1",
        "NotImplemented",
        "no reservations on this unit",
        {"profile": "Core"},
    ]
    assert station.connectors[2].reservation is None, "a scripted answer replaces the handler"
    assert (await answer(station, "DataTransfer", {"vendorId": "com.x"}))[2] == {"status": "Rejected"}
    assert (await answer(station, "DataTransfer", {"vendorId": "com.y"}))[2] == {"status": "UnknownVendorId"}, (
        "None from a callable: the station answers itself"
    )

    script.silent.add("Reset")
    connection = FakeConnection()
    await station.protocol.adapter(connection).route_message(json.dumps([2, "u-2", "Reset", {"type": "Hard"}]))
    assert connection.sent == [] and station.rebooting is None

    assert script.received == [
        ("ClearCache", {}),
        ("ReserveNow", REQUESTS["1.6"]["ReserveNow"]),
        ("DataTransfer", {"vendorId": "com.x"}),
        ("DataTransfer", {"vendorId": "com.y"}),
        ("Reset", {"type": "Hard"}),
    ]


async def test_a_scripted_delay_holds_the_answer_back(make_station):
    station = make_station("2.0.1")
    station.script.delays_s["ClearCache"] = 0.3
    started = asyncio.get_running_loop().time()
    assert (await answer(station, "ClearCache", {}))[2] == {"status": "Accepted"}
    assert asyncio.get_running_loop().time() - started >= 0.3
    assert station.script.received == [], "recording is off unless asked for"


async def test_remote_stop_finds_the_transaction_by_the_versions_id(make_station):
    v16 = make_station("1.6")
    session = running_session(v16)
    assert (await answer(v16, "RemoteStopTransaction", {"transactionId": 4242}))[2] == {"status": "Accepted"}
    assert session.stop_reason == "Remote"
    v201 = make_station("2.0.1")
    session = running_session(v201)
    assert (await answer(v201, "RequestStopTransaction", {"transactionId": "tx-abc"}))[2] == {"status": "Accepted"}
    assert session.stop_reason == "Remote"


async def test_a_tx_profile_needs_a_running_transaction_and_then_caps_its_power(make_station):
    station = make_station("1.6")
    profile = {
        "connectorId": 1,
        "csChargingProfiles": {
            "chargingProfileId": 8,
            "stackLevel": 1,
            "chargingProfilePurpose": "TxProfile",
            "chargingProfileKind": "Relative",
            "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 8.0}]},
        },
    }
    assert (await answer(station, "SetChargingProfile", profile))[2] == {"status": "Rejected"}
    session = running_session(station)
    station._update_power(station.connectors[1])
    assert session.current_a == 32
    assert (await answer(station, "SetChargingProfile", profile))[2] == {"status": "Accepted"}
    assert session.current_a == 8 and session.power_w == pytest.approx(8 * 3 * 230, rel=0.03)
    assert (await answer(station, "ClearChargingProfile", {"id": 8}))[2] == {"status": "Accepted"}
    assert session.current_a == 32


async def test_change_availability_of_a_charging_connector_is_scheduled(make_station):
    station = make_station("1.6")
    running_session(station, 2)
    assert (await answer(station, "ChangeAvailability", {"connectorId": 0, "type": "Inoperative"}))[2] == {"status": "Scheduled"}
    assert station.connectors[1].status == "Unavailable"
    assert station.connectors[2].inoperative_scheduled
    sent = [(b["connectorId"], b["status"]) for a, b in station.link.calls if a == "StatusNotification"]
    assert sent == [(1, "Unavailable"), (0, "Unavailable")]


async def test_trigger_message_sends_what_was_asked(make_station):
    v16 = make_station("1.6")
    await answer(v16, "TriggerMessage", {"requestedMessage": "MeterValues", "connectorId": 1})
    await answer(v16, "TriggerMessage", {"requestedMessage": "BootNotification"})
    assert v16.link.actions() == ["MeterValues", "BootNotification"]
    v201 = make_station("2.0.1")
    # F06.FR.17: already Accepted, so no new boot on request.
    assert (await answer(v201, "TriggerMessage", {"requestedMessage": "BootNotification"}))[2]["status"] == "Rejected"
    await answer(v201, "TriggerMessage", {"requestedMessage": "StatusNotification", "evse": {"id": 2}})
    assert v201.link.actions() == ["StatusNotification"]


async def test_diagnostics_and_log_uploads_walk_through_their_statuses(make_station):
    v16 = make_station("1.6")
    await answer(v16, "GetDiagnostics", {"location": "ftp://example.com/"})
    v201 = make_station("2.0.1")
    await answer(v201, "GetLog", REQUESTS["2.0.1"]["GetLog"])
    assert [b["status"] for a, b in v16.link.calls] == ["Uploading", "Uploaded"]
    assert [(b["status"], b["requestId"]) for a, b in v201.link.calls] == [("Uploading", 5), ("Uploaded", 5)]


async def test_send_local_list_keeps_the_list_for_offline_authorization(make_station):
    station = make_station("2.0.1")
    await answer(station, "SendLocalList", REQUESTS["2.0.1"]["SendLocalList"])
    assert (await answer(station, "GetLocalListVersion", {}))[2] == {"versionNumber": 4}
    station.registered.clear()
    assert await station.authorize("LOCAL-1")
    assert not await station.authorize("STRANGER")


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_every_message_of_a_session_is_schema_valid(make_station, version):
    station = make_station(version)
    session = running_session(station)
    session.server_transaction_id = 77
    station._update_power(station.connectors[1])
    protocol = station.protocol
    messages = [
        protocol.boot_notification("PowerUp"),
        protocol.heartbeat(),
        protocol.authorize("TAG-1"),
        *[m for m in protocol.status_notifications() if m is not None],
        protocol.transaction_started(session).build(),
        protocol.meter_values(session, station.reading(station.connectors[1], "Sample.Periodic")).build(),
        protocol.transaction_ended(session, "Local", station.reading(station.connectors[1], "Transaction.End")).build(),
        protocol.firmware_status("Downloading", 3),
        protocol.firmware_status("Downloading"),
        protocol.log_status("Uploaded", 3),
        protocol.log_status("Uploaded"),
        protocol.security_event("FirmwareUpdated", "firmware 2.0.0"),
    ]
    for message in messages:
        rpc.validate_payload(version, type(message).__name__, camel(message))
    if version == "2.0.1":
        events = [camel(m) for m in messages if type(m).__name__ == "TransactionEvent"]
        assert [(e["eventType"], e["seqNo"]) for e in events] == [("Started", 0), ("Updated", 1), ("Ended", 2)]
        sampled = {(v["measurand"], v.get("phase")) for v in events[1]["meterValue"][0]["sampledValue"]}
        assert {
            ("Energy.Active.Import.Register", None),
            ("Power.Active.Import", None),
            ("Current.Import", "L3"),
            ("Voltage", "L1-N"),
            ("SoC", None),
        } <= sampled


# --- 1.6 security extension (Security Whitepaper edition 3)


async def test_an_extended_trigger_for_a_certificate_sends_a_csr_and_the_signed_certificate_is_then_accepted(make_station):
    station = make_station("1.6")
    station.link.answers["SignCertificate"] = result16.SignCertificate(status="Accepted")

    frame = await answer(station, "ExtendedTriggerMessage", {"requestedMessage": "SignChargePointCertificate"})

    assert frame[2] == {"status": "Accepted"}
    [(action, body)] = station.link.calls
    assert action == "SignCertificate"
    chain = signed_chain(body["csr"], station.id)
    assert (await answer(station, "CertificateSigned", {"certificateChain": chain}))[2] == {"status": "Accepted"}
    assert station.identity.chain_pem == chain
    assert (await answer(station, "CertificateSigned", {"certificateChain": chain}))[2] == {"status": "Rejected"}, "no CSR pending any more"


def signed_chain(csr: str, identity: str) -> str:
    """The chain a CSMS's CA issues for `csr` (a real CA: chargepoints.pki), leaf first."""
    from chargepoints import pki

    return pki.sign_csr(csr, allowed_names=[identity], ca=pki.ca_generate()[0]).chain_pem


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_a_chain_for_another_key_is_rejected_and_reported(make_station, version):
    from tests.conftest import make_csr

    station = make_station(version)
    results = result16 if version == "1.6" else result201
    station.link.answers["SignCertificate"] = results.SignCertificate(status="Accepted")
    await station.request_certificate()
    foreign = signed_chain(make_csr(station.id)[0], station.id)

    frame = await answer(station, "CertificateSigned", {"certificateChain": foreign})

    assert frame[2]["status"] == "Rejected"
    assert station.identity.chain_pem is None
    action, body = station.link.calls[-1]
    assert action == "SecurityEventNotification" and "not for the key of the CSR" in body["techInfo"]


async def test_a_201_station_triggered_for_a_certificate_sends_a_real_csr_and_keeps_the_signed_chain_as_its_client_certificate(
    make_station, tmp_path
):
    from cryptography import x509

    station = make_station("2.0.1")
    station.settings.certificate_dir = str(tmp_path)
    station.link.answers["SignCertificate"] = result201.SignCertificate(status="Accepted")

    assert (await answer(station, "TriggerMessage", {"requestedMessage": "SignChargingStationCertificate"}))[2] == {"status": "Accepted"}
    [(action, body)] = station.link.calls
    assert action == "SignCertificate" and body["certificateType"] == "ChargingStationCertificate"
    csr = x509.load_pem_x509_csr(body["csr"].encode())
    assert csr.is_signature_valid and csr.subject.rfc4514_string() == f"CN={station.id}"

    chain = signed_chain(body["csr"], station.id)
    frame = await answer(station, "CertificateSigned", {"certificateChain": chain, "certificateType": "ChargingStationCertificate"})

    assert frame[2] == {"status": "Accepted"}
    assert (tmp_path / f"{station.id}.crt").read_text() == chain
    assert oct((tmp_path / f"{station.id}.key").stat().st_mode & 0o777) == "0o600"


async def test_a_csr_the_central_system_refused_leaves_no_certificate_to_accept(make_station):
    station = make_station("1.6")
    station.link.answers["SignCertificate"] = result16.SignCertificate(status="Rejected")
    await answer(station, "ExtendedTriggerMessage", {"requestedMessage": "SignChargePointCertificate"})

    assert (await answer(station, "CertificateSigned", {"certificateChain": CERT}))[2] == {"status": "Rejected"}


async def test_a_certificate_that_is_no_certificate_is_rejected_and_reported_as_a_security_event(make_station):
    station = make_station("1.6")

    assert (await answer(station, "CertificateSigned", {"certificateChain": "garbage"}))[2] == {"status": "Rejected"}
    [(action, body)] = station.link.calls
    assert (action, body["type"]) == ("SecurityEventNotification", "InvalidChargePointCertificate")


async def test_installed_root_certificates_are_listed_by_type_and_deleted_by_their_hash(make_station):
    station = make_station("1.6")
    install = {"certificateType": "CentralSystemRootCertificate", "certificate": CERT}
    assert (await answer(station, "InstallCertificate", install))[2] == {"status": "Accepted"}
    assert (await answer(station, "InstallCertificate", {**install, "certificate": "not PEM"}))[2] == {"status": "Rejected"}

    listed = (await answer(station, "GetInstalledCertificateIds", {"certificateType": "CentralSystemRootCertificate"}))[2]
    other = (await answer(station, "GetInstalledCertificateIds", {"certificateType": "ManufacturerRootCertificate"}))[2]

    assert listed["status"] == "Accepted" and len(listed["certificateHashData"]) == 1
    assert other == {"status": "NotFound"}
    hash_data = listed["certificateHashData"][0]
    assert (await answer(station, "DeleteCertificate", {"certificateHashData": hash_data}))[2] == {"status": "Accepted"}
    assert (await answer(station, "DeleteCertificate", {"certificateHashData": hash_data}))[2] == {"status": "NotFound"}
    assert (await answer(station, "GetInstalledCertificateIds", {"certificateType": "CentralSystemRootCertificate"}))[2] == {
        "status": "NotFound"
    }


async def test_get_log_uploads_with_log_status_notifications_of_its_request(make_station):
    station = make_station("1.6")

    frame = await answer(station, "GetLog", REQUESTS["1.6"]["GetLog"])

    assert frame[2]["status"] == "Accepted" and frame[2]["filename"].startswith("securitylog-")
    assert station.link.calls == [
        ("LogStatusNotification", {"status": "Uploading", "requestId": 5}),
        ("LogStatusNotification", {"status": "Uploaded", "requestId": 5}),
    ]


async def test_a_signed_firmware_update_reports_signed_statuses_and_then_the_security_event(make_station):
    station = make_station("1.6")

    assert (await answer(station, "SignedUpdateFirmware", REQUESTS["1.6"]["SignedUpdateFirmware"]))[2] == {"status": "Accepted"}

    sent = [(a, b["status"], b.get("requestId")) for a, b in station.link.calls]
    assert sent == [
        ("SignedFirmwareStatusNotification", status, 12)
        for status in ("Downloading", "Downloaded", "SignatureVerified", "Installing", "InstallRebooting")
    ]
    assert station.rebooting == "FirmwareUpdate" or station.needs_boot
    # Back from the reboot: Installed, then the security event.
    station.registered.set()
    for follow_up in station.after_boot:
        await follow_up()
    assert station.link.calls[-2] == ("SignedFirmwareStatusNotification", {"status": "Installed", "requestId": 12})
    action, event = station.link.calls[-1]
    assert (action, event["type"], event["techInfo"]) == ("SecurityEventNotification", "FirmwareUpdated", "firmware 2.0.0")


async def test_a_signed_firmware_update_with_an_invalid_signing_certificate_is_refused(make_station):
    station = make_station("1.6")
    request = {"requestId": 1, "firmware": {**SIGNED_FIRMWARE, "signingCertificate": "nope"}}

    assert (await answer(station, "SignedUpdateFirmware", request))[2] == {"status": "InvalidCertificate"}
    assert station.link.calls == []


async def test_an_unsigned_16_firmware_update_still_reports_plain_firmware_statuses(make_station):
    station = make_station("1.6")
    await answer(station, "UpdateFirmware", {"location": "https://example.com/fw-3.0.0.bin", "retrieveDate": NOW})

    assert [(a, b["status"]) for a, b in station.link.calls] == [
        ("FirmwareStatusNotification", status) for status in ("Downloading", "Downloaded", "Installing")
    ]


@pytest.mark.parametrize(
    ("requested", "sent"),
    [
        ("FirmwareStatusNotification", ("SignedFirmwareStatusNotification", {"status": "Idle"})),
        ("LogStatusNotification", ("LogStatusNotification", {"status": "Idle"})),
        ("Heartbeat", ("Heartbeat", {})),
    ],
)
async def test_an_extended_trigger_sends_the_message_asked_for(make_station, requested, sent):
    station = make_station("1.6")

    assert (await answer(station, "ExtendedTriggerMessage", {"requestedMessage": requested}))[2] == {"status": "Accepted"}
    assert station.link.calls == [sent]


async def test_an_extended_trigger_for_a_connector_the_charge_point_lacks_is_rejected(make_station):
    station = make_station("1.6")
    frame = await answer(station, "ExtendedTriggerMessage", {"requestedMessage": "StatusNotification", "connectorId": 9})
    assert frame[2] == {"status": "Rejected"}
