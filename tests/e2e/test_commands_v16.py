"""Every OCPP 1.6 central-system operation over a real daphne process, answered by the product simulator.

The charge point is a `simulator` station (tests/e2e/stations.py): the
mobilityhouse `ocpp` ChargePoint over a `websockets` connection, answering each
operation as a charge point with all feature profiles does and sending the
follow-up messages real ones send (StartTransaction after
RemoteStartTransaction, firmware progress and a reboot after UpdateFirmware
…). Each test sends commands through
`POST /api/v1/chargepoints/<id>/commands/<Action>/` and checks the HTTP
answer, what the charge point received (its script's record) and did, and
the state the server stored: the REST API where it shows it, else the
deployment's database read directly.

One deployment, one server and one connected charge point serve the whole
module (starting them is most of the run time), so tests leave the charge
point as they found it: no transaction running, connectors operative, no
charging profile installed.
"""

from __future__ import annotations

import re
import time

import pytest

from simulator import VENDOR_ID, CallError
from tests.e2e.stations import charged, expiry, periods, ready, simulated, troubles
from tests.waiting import eventually

pytestmark = pytest.mark.e2e

CP = "E2E-CMD-1"
CORE = "E2E-CORE-1"
CARD = "E2E-CARD-1"


# --- fixtures: the module's deployment (conftest `csms`), one charge point on it ------------------


@pytest.fixture(scope="module")
def sim(csms):
    """The simulated charge point CP, registered, connected and booted, in a thread of its own."""
    assert csms.api("POST", "/api/v1/chargepoints/", {"id": CP})[0] == 201
    assert csms.api("POST", "/api/v1/id-tags/", {"id_tag": CARD})[0] == 201
    with simulated(csms.servers[0].ws("/ocpp/"), {CP: "1.6"}) as sim:
        ready(sim, CP)
        yield sim


@pytest.fixture
def cp(sim):
    """The charge point (a simulator.Station); after the test it must be connected, with nothing failed meanwhile."""
    station = ready(sim, CP)
    before = troubles(sim, station)
    yield station
    ready(sim, CP)
    assert troubles(sim, station) == before


# --- helpers ---------------------------------------------------------------------------------


def command(csms, action: str, payload: dict, charge_point: str = CP, timeout: float | None = None):
    path = f"/api/v1/chargepoints/{charge_point}/commands/{action}/"
    if timeout is not None:
        path += f"?timeout={timeout:g}"
    return csms.api("POST", path, payload)


def answered(csms, action: str, payload: dict, charge_point: str = CP) -> dict:
    """Send a command that must get a CALLRESULT; returns the CALLRESULT payload."""
    status, body = command(csms, action, payload, charge_point)
    assert status == 200, body
    assert body["action"] == action and body["charge_point"] == charge_point
    return body["response"]


def log_entry(csms, command_id: int) -> dict:
    status, entry = csms.api("GET", f"/api/v1/commands/{command_id}/")
    assert status == 200, entry
    return entry


def command_log(csms, charge_point: str = CP, **filters) -> list[dict]:
    query = "&".join(f"{k}={v}" for k, v in {"charge_point": charge_point, **filters}.items())
    status, page = csms.api("GET", f"/api/v1/commands/?{query}")
    assert status == 200, page
    return page["results"]


def charge_point(csms, charge_point_id: str = CP) -> dict:
    status, body = csms.api("GET", f"/api/v1/chargepoints/{charge_point_id}/")
    assert status == 200, body
    return body


def connector_status(csms, connector_id: int) -> str:
    return {c["connector_id"]: c["status"] for c in charge_point(csms)["connectors"]}.get(connector_id)


def transactions(csms, **filters) -> list[dict]:
    query = "&".join(f"{k}={v}" for k, v in {"charge_point": CP, **filters}.items())
    status, page = csms.api("GET", f"/api/v1/transactions/?{query}")
    assert status == 200, page
    return page["results"]


def sent_after(cp, mark: int, action: str) -> list[tuple]:
    """(request, answer) of the `action` CALLs the charge point sent since `len(cp.script.sent) == mark`."""
    return [(request, answer) for name, request, answer in cp.script.sent[mark:] if name == action]


def configuration(cp) -> dict[str, tuple]:
    """The charge point's configuration keys as it reports them: {key: (value, readonly)}; no value for a write-only key."""
    return {name: (None if key.writeonly else key.current(), key.readonly) for name, key in cp.config.keys.items()}


def transaction_id(cp, connector_id: int) -> int | None:
    """The central system's id of the transaction running on the connector, as the charge point knows it."""
    session = cp.connectors[connector_id].session
    return session.server_transaction_id if session is not None else None


def reservation_ids(cp) -> set[int]:
    return {c.reservation.reservation_id for c in cp.connectors.values() if c.reservation is not None}


def installed_on_cp(cp) -> dict[int, int]:
    """Charging profiles installed on the charge point: {profile id: connector id}."""
    return {pid: profile.connector_id for pid, profile in cp.profiles.profiles.items()}


def stored_keys(database) -> dict[str, tuple]:
    return {
        key: (value, bool(readonly))
        for key, value, readonly in database.rows(
            "SELECT key, value, readonly FROM chargepoints_configurationkey WHERE charge_point_id = %s", CP
        )
    }


def start_remotely(csms, cp, connector_id: int, id_tag: str = CARD) -> dict:
    """RemoteStartTransaction, then wait for the transaction it leads to; returns it as the API shows it."""
    before = {tx["id"] for tx in transactions(csms)}
    assert answered(csms, "RemoteStartTransaction", {"idTag": id_tag, "connectorId": connector_id}) == {"status": "Accepted"}
    [tx] = eventually(lambda: [tx for tx in transactions(csms, status="active") if tx["id"] not in before])
    eventually(lambda: transaction_id(cp, connector_id) == tx["id"])
    return tx


def stop_remotely(csms, cp, transaction_id: int, status_after: str = "Available") -> dict:
    """RemoteStopTransaction; returns the transaction once completed and its connector shows `status_after`."""
    assert answered(csms, "RemoteStopTransaction", {"transactionId": transaction_id}) == {"status": "Accepted"}
    [tx] = eventually(lambda: [tx for tx in transactions(csms, status="completed") if tx["id"] == transaction_id])
    eventually(lambda: connector_status(csms, tx["connector_id"]) == status_after)
    return tx


# --- Core profile ------------------------------------------------------------------------------


def test_get_configuration_stores_every_key_the_charge_point_reports(csms, cp, database):
    response = answered(csms, "GetConfiguration", {})

    reported = {item["key"]: (item.get("value"), item["readonly"]) for item in response["configurationKey"]}
    assert reported == configuration(cp)
    assert stored_keys(database) == reported
    [entry] = command_log(csms, action="GetConfiguration")
    assert entry["status"] == "answered" and entry["source"] == "api" and entry["user"] == "admin"
    assert entry["response"] == response


def test_get_configuration_for_some_keys_reports_the_unknown_ones(csms, cp, database):
    answered(csms, "GetConfiguration", {})

    response = answered(csms, "GetConfiguration", {"key": ["HeartbeatInterval", "NoSuchKey"]})

    assert response["unknownKey"] == ["NoSuchKey"]
    assert [item["key"] for item in response["configurationKey"]] == ["HeartbeatInterval"]
    assert "NoSuchKey" not in stored_keys(database)
    assert len(stored_keys(database)) == len(cp.config.keys), "a partial answer must not shrink the snapshot"


def test_an_accepted_configuration_change_updates_the_snapshot(csms, cp, database):
    answered(csms, "GetConfiguration", {})

    assert answered(csms, "ChangeConfiguration", {"key": "MeterValueSampleInterval", "value": "15"}) == {"status": "Accepted"}
    assert cp.config.get("MeterValueSampleInterval") == "15"
    assert stored_keys(database)["MeterValueSampleInterval"] == ("15", False)

    assert answered(csms, "ChangeConfiguration", {"key": "WebSocketPingInterval", "value": "30"}) == {"status": "RebootRequired"}
    assert stored_keys(database)["WebSocketPingInterval"] == ("30", False)


def test_a_refused_configuration_change_leaves_the_snapshot_alone(csms, cp, database):
    answered(csms, "GetConfiguration", {})

    assert answered(csms, "ChangeConfiguration", {"key": "NumberOfConnectors", "value": "8"}) == {"status": "Rejected"}
    assert answered(csms, "ChangeConfiguration", {"key": "Volume", "value": "11"}) == {"status": "NotSupported"}

    keys = stored_keys(database)
    assert keys["NumberOfConnectors"] == ("2", True)
    assert "Volume" not in keys


def test_change_availability_takes_a_connector_out_of_service_and_back(csms, cp):
    assert answered(csms, "ChangeAvailability", {"connectorId": 2, "type": "Inoperative"}) == {"status": "Accepted"}
    eventually(lambda: connector_status(csms, 2) == "Unavailable")

    assert answered(csms, "ChangeAvailability", {"connectorId": 2, "type": "Operative"}) == {"status": "Accepted"}
    eventually(lambda: connector_status(csms, 2) == "Available")


def test_change_availability_of_a_charging_connector_is_scheduled(csms, cp):
    tx = start_remotely(csms, cp, 1)

    assert answered(csms, "ChangeAvailability", {"connectorId": 1, "type": "Inoperative"}) == {"status": "Scheduled"}

    # The change applies once the transaction is over.
    stop_remotely(csms, cp, tx["id"], status_after="Unavailable")
    assert answered(csms, "ChangeAvailability", {"connectorId": 1, "type": "Operative"}) == {"status": "Accepted"}
    eventually(lambda: connector_status(csms, 1) == "Available")


def test_clear_cache_is_answered(csms, cp):
    assert answered(csms, "ClearCache", {}) == {"status": "Accepted"}
    assert cp.script.received[-1] == ("ClearCache", {})


def test_data_transfer_returns_the_vendors_answer(csms, cp):
    payload = {"vendorId": VENDOR_ID, "messageId": "Echo", "data": '{"ping": 1}'}
    assert answered(csms, "DataTransfer", payload) == {"status": "Accepted", "data": '{"ping": 1}'}
    assert answered(csms, "DataTransfer", {"vendorId": "com.other"}) == {"status": "UnknownVendorId"}


def test_unlock_connector_is_answered_per_connector(csms, cp):
    assert answered(csms, "UnlockConnector", {"connectorId": 1}) == {"status": "Unlocked"}
    assert answered(csms, "UnlockConnector", {"connector_id": 7}) == {"status": "NotSupported"}
    assert cp.script.received[-1] == ("UnlockConnector", {"connectorId": 7}), "snake_case is sent as camelCase"


def test_reset_reboots_the_charge_point(csms, cp):
    boots_before = charge_point(csms)["last_boot_at"]
    booted = cp.boots

    assert answered(csms, "Reset", {"type": "Soft"}) == {"status": "Accepted"}

    eventually(lambda: charge_point(csms)["last_boot_at"] != boots_before)
    eventually(lambda: cp.boots == booted + 1)  # it booted once more (the server may have answered first)


def test_remote_start_opens_a_transaction_and_remote_stop_closes_it(csms, cp, database):
    tx = start_remotely(csms, cp, 1)
    assert tx["id_tag"] == CARD and tx["connector_id"] == 1 and tx["status"] == "active"
    assert tx["id_tag_status"] == "Accepted"
    eventually(lambda: connector_status(csms, 1) == "Charging")
    charged(cp, 1)

    stopped = stop_remotely(csms, cp, tx["id"])

    assert stopped["status"] == "completed"
    assert stopped["stop_reason"] == "Remote"
    assert stopped["energy_wh"] > 0
    requested_at = database.value("SELECT remote_stop_requested_at FROM transactions_transaction WHERE id = %s", tx["id"])
    assert requested_at is not None
    eventually(lambda: connector_status(csms, 1) == "Available")


def test_remote_stop_of_an_unknown_transaction_is_rejected(csms, cp):
    assert answered(csms, "RemoteStopTransaction", {"transactionId": 999_999}) == {"status": "Rejected"}


# --- Firmware Management profile ----------------------------------------------------------------


def test_get_diagnostics_reports_the_file_and_the_upload(csms, cp, database):
    status, body = command(csms, "GetDiagnostics", {"location": "ftp://logs.example.com/uploads/"})
    assert status == 200, body
    assert re.fullmatch(rf"diagnostics-{CP}-\d{{8}}T\d{{6}}\.log", body["response"]["fileName"]), body
    assert list(body["response"]) == ["fileName"]

    eventually(lambda: charge_point(csms)["diagnostics_status"] == "Uploaded")
    linked = database.rows(
        "SELECT status, command_id FROM chargepoints_diagnosticsstatusnotification WHERE charge_point_id = %s ORDER BY id", CP
    )
    assert linked == [("Uploading", body["command_id"]), ("Uploaded", body["command_id"])]


def test_update_firmware_ends_installed_with_the_new_version_booted(csms, cp, database):
    payload = {"location": "https://fw.example.com/sim-2/fw-2.1.0.bin", "retrieveDate": expiry(0)}
    status, body = command(csms, "UpdateFirmware", payload)
    assert status == 200, body
    assert body["response"] == {}

    eventually(lambda: charge_point(csms)["firmware_status"] == "Installed")
    eventually(lambda: charge_point(csms)["firmware_version"] == "2.1.0")
    linked = database.rows(
        "SELECT status, command_id FROM chargepoints_firmwarestatusnotification WHERE charge_point_id = %s ORDER BY id", CP
    )
    assert [status for status, _ in linked] == ["Downloading", "Downloaded", "Installing", "Installed"]
    assert {command_id for _, command_id in linked} == {body["command_id"]}


# --- Local Auth List Management profile ---------------------------------------------------------


def test_send_local_list_installs_the_id_tags_and_sets_the_list_version(csms, cp, database):
    for tag, status in (("LL-GROUP", "Accepted"), ("LL-A", "Accepted"), ("LL-B", "Blocked")):
        assert csms.api("POST", "/api/v1/id-tags/", {"id_tag": tag, "status": status})[0] == 201
    assert csms.api("PATCH", "/api/v1/id-tags/LL-A/", {"parent_id_tag": "LL-GROUP"})[0] == 200
    status, page = csms.api("GET", "/api/v1/id-tags/")
    assert status == 200
    full_list = [
        {
            "idTag": tag["id_tag"],
            "idTagInfo": {"status": tag["status"], **({"parentIdTag": tag["parent_id_tag"]} if tag["parent_id_tag"] else {})},
        }
        for tag in page["results"]
    ]
    version = cp.local_list.version + 1

    assert answered(csms, "SendLocalList", {"listVersion": version, "updateType": "Full", "localAuthorizationList": full_list}) == {
        "status": "Accepted"
    }

    action, list_sent = cp.script.received[-1]
    assert action == "SendLocalList"
    assert {e["idTag"]: e["idTagInfo"] for e in list_sent["localAuthorizationList"]}["LL-A"] == {
        "status": "Accepted",
        "parentIdTag": "LL-GROUP",
    }
    assert cp.local_list.entries == {tag["id_tag"]: tag["status"] for tag in page["results"]}
    assert cp.local_list.entries["LL-B"] == "Blocked"
    assert database.value("SELECT local_list_version FROM chargepoints_chargepoint WHERE id = %s", CP) == version
    assert answered(csms, "GetLocalListVersion", {}) == {"listVersion": version}


def test_a_differential_list_that_does_not_build_on_the_current_one_changes_nothing(csms, cp, database):
    current = cp.local_list.version
    stored = database.value("SELECT local_list_version FROM chargepoints_chargepoint WHERE id = %s", CP)

    response = answered(
        csms,
        "SendLocalList",
        {"listVersion": current, "updateType": "Differential", "localAuthorizationList": [{"idTag": "LL-C"}]},
    )

    assert response == {"status": "VersionMismatch"}
    assert database.value("SELECT local_list_version FROM chargepoints_chargepoint WHERE id = %s", CP) == stored


def test_get_local_list_version_records_what_the_charge_point_reports(csms, cp, database):
    cp.local_list.version = 41  # e.g. a list installed by another system

    assert answered(csms, "GetLocalListVersion", {}) == {"listVersion": 41}

    assert database.value("SELECT local_list_version FROM chargepoints_chargepoint WHERE id = %s", CP) == 41


# --- Reservation profile ------------------------------------------------------------------------


def reservation(database, reservation_id: int) -> tuple | None:
    rows = database.rows("SELECT status, evse_id, id_tag, transaction_id FROM transactions_reservation WHERE id = %s", reservation_id)
    return rows[0] if rows else None


def test_a_transaction_started_on_a_reservation_marks_it_used(csms, cp, database):
    payload = {"connectorId": 2, "expiryDate": expiry(30), "idTag": CARD, "reservationId": 501}
    assert answered(csms, "ReserveNow", payload) == {"status": "Accepted"}
    assert reservation(database, 501) == ("Accepted", 2, CARD, None)
    eventually(lambda: connector_status(csms, 2) == "Reserved")

    tx = start_remotely(csms, cp, 2)

    assert tx["reservation_id"] == 501
    assert reservation(database, 501) == ("Used", 2, CARD, tx["id"])
    stop_remotely(csms, cp, tx["id"])


def test_a_reservation_on_a_charging_connector_is_stored_as_occupied(csms, cp, database):
    tx = start_remotely(csms, cp, 1)

    payload = {"connectorId": 1, "expiryDate": expiry(30), "idTag": "E2E-OTHER", "reservationId": 502}
    assert answered(csms, "ReserveNow", payload) == {"status": "Occupied"}

    assert reservation(database, 502)[0] == "Occupied"
    stop_remotely(csms, cp, tx["id"])


def test_cancel_reservation_cancels_it(csms, cp, database):
    payload = {"connectorId": 1, "expiryDate": expiry(30), "idTag": CARD, "reservationId": 503}
    assert answered(csms, "ReserveNow", payload) == {"status": "Accepted"}

    assert answered(csms, "CancelReservation", {"reservationId": 503}) == {"status": "Accepted"}

    assert reservation(database, 503)[0] == "Cancelled"
    assert 503 not in reservation_ids(cp)
    eventually(lambda: connector_status(csms, 1) == "Available")
    assert answered(csms, "CancelReservation", {"reservationId": 503}) == {"status": "Rejected"}
    assert reservation(database, 503)[0] == "Cancelled"


# --- Smart Charging profile ---------------------------------------------------------------------


def profile(profile_id: int, purpose: str = "TxDefaultProfile", stack_level: int = 0, limit_a: float = 16.0) -> dict:
    return {
        "chargingProfileId": profile_id,
        "stackLevel": stack_level,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": "Absolute",
        "chargingSchedule": {
            "chargingRateUnit": "A",
            "startSchedule": "2026-01-01T00:00:00Z",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit_a}],
        },
    }


def installed(database) -> dict[int, int]:
    """Active installations on CP: {profile id: connector id}."""
    return dict(
        database.rows(
            "SELECT p.charging_profile_id, i.evse_id FROM chargepoints_chargingprofileinstallation i"
            " JOIN chargepoints_chargingprofile p ON p.id = i.profile_id"
            " WHERE i.charge_point_id = %s AND i.cleared_at IS NULL",
            CP,
        )
    )


def test_set_charging_profile_installs_it_and_clear_charging_profile_clears_it(csms, cp, database):
    assert answered(csms, "SetChargingProfile", {"connectorId": 0, "csChargingProfiles": profile(11, limit_a=16)}) == {"status": "Accepted"}
    assert installed(database) == {11: 0}

    composite = answered(csms, "GetCompositeSchedule", {"connectorId": 1, "duration": 3600, "chargingRateUnit": "A"})
    assert composite["status"] == "Accepted"
    assert periods(composite["chargingSchedule"]) == [(0, 16)]

    assert answered(csms, "ClearChargingProfile", {"id": 11}) == {"status": "Accepted"}
    assert installed(database) == {}
    assert installed_on_cp(cp) == {}


def test_a_profile_with_the_same_purpose_and_stack_level_replaces_the_installed_one(csms, cp, database):
    answered(csms, "SetChargingProfile", {"connectorId": 0, "csChargingProfiles": profile(21, limit_a=32)})

    answered(csms, "SetChargingProfile", {"connectorId": 0, "csChargingProfiles": profile(22, limit_a=10)})

    assert installed(database) == {22: 0}
    assert installed_on_cp(cp) == {22: 0}
    composite = answered(csms, "GetCompositeSchedule", {"connectorId": 2, "duration": 600})
    assert periods(composite["chargingSchedule"]) == [(0, 10)]
    answered(csms, "ClearChargingProfile", {})
    assert installed(database) == {}


def test_clear_charging_profile_by_criteria_clears_only_the_matching_ones(csms, cp, database):
    answered(csms, "SetChargingProfile", {"connectorId": 0, "csChargingProfiles": profile(31, "ChargePointMaxProfile")})
    answered(csms, "SetChargingProfile", {"connectorId": 1, "csChargingProfiles": profile(32, stack_level=1)})
    answered(csms, "SetChargingProfile", {"connectorId": 2, "csChargingProfiles": profile(33, stack_level=1)})

    assert answered(csms, "ClearChargingProfile", {"connectorId": 1, "chargingProfilePurpose": "TxDefaultProfile"}) == {
        "status": "Accepted"
    }
    assert installed(database) == {31: 0, 33: 2}
    assert installed_on_cp(cp) == {31: 0, 33: 2}

    assert answered(csms, "ClearChargingProfile", {"stackLevel": 7}) == {"status": "Unknown"}
    assert installed(database) == {31: 0, 33: 2}

    assert answered(csms, "ClearChargingProfile", {}) == {"status": "Accepted"}
    assert installed(database) == {}


def test_a_tx_profile_without_a_transaction_is_rejected_and_not_installed(csms, cp, database):
    payload = {"connectorId": 1, "csChargingProfiles": {**profile(41, "TxProfile"), "transactionId": 12345}}
    assert answered(csms, "SetChargingProfile", payload) == {"status": "Rejected"}
    assert installed(database) == {}
    # Nothing installed: the connector's own rating is all that limits it.
    composite = answered(csms, "GetCompositeSchedule", {"connectorId": 1, "duration": 60})
    assert composite["status"] == "Accepted"
    assert periods(composite["chargingSchedule"]) == [(0, cp.settings.max_current_a)]


# --- Remote Trigger profile ---------------------------------------------------------------------


def test_trigger_message_heartbeat_makes_the_charge_point_send_one(csms, cp):
    before = charge_point(csms)["last_heartbeat"]
    mark = len(cp.script.sent)

    assert answered(csms, "TriggerMessage", {"requestedMessage": "Heartbeat"}) == {"status": "Accepted"}

    [(_, answer)] = eventually(lambda: sent_after(cp, mark, "Heartbeat"))
    assert answer.current_time
    after = charge_point(csms)["last_heartbeat"]
    assert after is not None and after != before


def test_trigger_message_status_notification_refreshes_the_connectors_status(csms, cp):
    def connector_2():
        return next(c for c in charge_point(csms)["connectors"] if c["connector_id"] == 2)

    before = connector_2()
    mark = len(cp.script.sent)

    assert answered(csms, "TriggerMessage", {"requestedMessage": "StatusNotification", "connectorId": 2}) == {"status": "Accepted"}

    [(request, _)] = eventually(lambda: sent_after(cp, mark, "StatusNotification"))
    assert request.connector_id == 2
    after = eventually(lambda: [c for c in [connector_2()] if c["updated_at"] != before["updated_at"]])[0]
    assert after["status"] == "Available"


def test_trigger_message_for_a_connector_the_charge_point_lacks_is_rejected(csms, cp):
    mark = len(cp.script.sent)

    response = answered(csms, "TriggerMessage", {"requestedMessage": "MeterValues", "connectorId": 9})

    assert response == {"status": "Rejected"}
    time.sleep(0.2)
    assert cp.script.sent[mark:] == []


# --- Failures over the real server ------------------------------------------------------------


def test_a_registered_charge_point_that_is_not_connected_is_a_409(csms, cp):
    assert csms.api("POST", "/api/v1/chargepoints/", {"id": "E2E-OFFLINE"})[0] == 201

    status, body = command(csms, "ClearCache", {}, charge_point="E2E-OFFLINE")

    assert status == 409
    assert "not connected" in body["detail"]
    assert log_entry(csms, body["command_id"])["status"] == "offline"
    assert answered(csms, "ClearCache", {}) == {"status": "Accepted"}, "other charge points are unaffected"


def test_a_charge_point_that_never_answers_is_a_504_and_the_connection_stays_usable(csms, cp):
    cp.script.silent.add("ClearCache")
    try:
        started = time.monotonic()
        status, body = command(csms, "ClearCache", {}, timeout=1)
        elapsed = time.monotonic() - started
    finally:
        cp.script.silent.discard("ClearCache")

    assert status == 504, body
    assert 1 <= elapsed < 4
    assert cp.script.received[-1] == ("ClearCache", {}), "the CALL did reach the charge point"
    entry = log_entry(csms, body["command_id"])
    assert entry["status"] == "timeout" and entry["response"] is None
    assert answered(csms, "ClearCache", {}) == {"status": "Accepted"}


def test_an_answer_after_the_timeout_is_ignored_and_the_next_command_is_answered(csms, cp):
    cp.script.delays_s["UnlockConnector"] = 1.5
    try:
        status, body = command(csms, "UnlockConnector", {"connectorId": 1}, timeout=1)
        assert status == 504, body
    finally:
        del cp.script.delays_s["UnlockConnector"]

    assert answered(csms, "UnlockConnector", {"connectorId": 2}) == {"status": "Unlocked"}
    entry = log_entry(csms, body["command_id"])
    assert entry["status"] == "timeout" and entry["response"] is None, "the late answer must not rewrite the outcome"


@pytest.fixture(scope="module")
def core_sim(csms):
    """A second charge point, with the Core profile only and firmware that refuses DataTransfer.

    Its script answers DataTransfer with the CALLERROR NotSupported, ReserveNow
    (another profile) with NotImplemented, and ClearCache with Rejected.
    """
    assert csms.api("POST", "/api/v1/chargepoints/", {"id": CORE})[0] == 201
    with simulated(csms.servers[0].ws("/ocpp/"), {CORE: "1.6"}) as sim:
        station = sim.stations[CORE]
        sim.call(lambda: station.config.set("SupportedFeatureProfiles", "Core", force=True))
        station.script.answers.update(
            DataTransfer=lambda payload: CallError(
                "NotSupported", "DataTransfer is disabled on this unit", {"vendorId": payload["vendorId"]}
            ),
            ReserveNow=CallError("NotImplemented", "Reservation is not a feature profile of this unit"),
            ClearCache={"status": "Rejected"},
        )
        yield sim


@pytest.fixture
def core_only(core_sim):
    station = ready(core_sim, CORE)
    before = troubles(core_sim, station)
    yield station
    ready(core_sim, CORE)
    assert troubles(core_sim, station) == before


def test_a_callerror_is_a_502_with_its_code_and_the_connection_stays_usable(csms, core_only):
    status, body = command(csms, "DataTransfer", {"vendorId": VENDOR_ID}, charge_point=CORE)

    assert status == 502, body
    assert body["error_code"] == "NotSupported"
    assert body["error_description"] == "DataTransfer is disabled on this unit"
    assert body["error_details"] == {"vendorId": VENDOR_ID}
    entry = log_entry(csms, body["command_id"])
    assert (entry["status"], entry["error_code"]) == ("call_error", "NotSupported")
    booted = core_only.boots
    assert answered(csms, "Reset", {"type": "Hard"}, charge_point=CORE) == {"status": "Accepted"}
    eventually(lambda: core_only.boots == booted + 1, 15)


def test_an_operation_the_charge_point_does_not_implement_changes_nothing(csms, core_only, database):
    payload = {"connectorId": 1, "expiryDate": expiry(30), "idTag": CARD, "reservationId": 601}

    status, body = command(csms, "ReserveNow", payload, charge_point=CORE)

    assert status == 502, body
    assert body["error_code"] == "NotImplemented"
    assert reservation(database, 601) is None
    assert answered(csms, "ClearCache", {}, charge_point=CORE) == {"status": "Rejected"}


def test_an_invalid_payload_is_a_400_naming_the_field_and_nothing_is_sent(csms, cp):
    received, logged = len(cp.script.received), len(command_log(csms))

    for action, payload, field in [
        ("Reset", {"type": "Gentle"}, "type"),
        ("ChangeConfiguration", {"key": "HeartbeatInterval"}, "value"),
        ("RemoteStartTransaction", {"idTag": "X" * 21}, "idTag"),
        (
            "SetChargingProfile",
            {"connectorId": 1, "csChargingProfiles": {**profile(1), "stackLevel": "top"}},
            "csChargingProfiles/stackLevel",
        ),
        ("ClearCache", {"please": True}, "please"),
    ]:
        status, body = command(csms, action, payload)
        assert status == 400, (action, body)
        assert body["field"] == field, (action, body)

    time.sleep(0.2)
    assert len(cp.script.received) == received, "no CALL may reach the charge point"
    assert len(command_log(csms)) == logged
    assert answered(csms, "ClearCache", {}) == {"status": "Accepted"}


def test_an_unknown_action_is_a_404_listing_the_operations(csms, cp):
    status, body = command(csms, "BootNotification", {"chargePointVendor": "a", "chargePointModel": "b"})
    assert status == 404
    assert "TriggerMessage" in body["detail"]
