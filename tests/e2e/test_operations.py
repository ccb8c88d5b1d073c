"""Every version-neutral operation over a real daphne process, against an OCPP 1.6 and an OCPP 2.0.1 station.

Both stations are the product simulator's (tests/e2e/stations.py: the
mobilityhouse `ocpp` library's client side) on one module-scoped server, a
1.6 charge point and a 2.0.1 station with two EVSEs each. Each test calls
`POST /api/v1/chargepoints/<id>/operations/<operation>/` with the same
neutral body for both (only configuration keys differ: a 2.0.1 key names
its component) and checks the HTTP answer, the message the station received,
what it did, and the state the server stored — through the REST API where it
shows it, else in the deployment's database read directly.

Tests leave the stations as they found them: no transaction running,
everything operative.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest

import simulator
from tests.e2e.stations import charged, expiry, periods, ready, simulated, troubles
from tests.waiting import eventually

pytestmark = pytest.mark.e2e

CARD = "E2E-OP-CARD"
VERSIONS = ["1.6", "2.0.1"]


@dataclass
class Station:
    id: str
    version: str
    sim: simulator.BackgroundSimulation

    @property
    def cp(self) -> simulator.Station:
        return self.sim.stations[self.id]

    def key(self, name: str) -> str:
        """A configuration key as the version spells it: 1.6 "HeartbeatInterval", 2.0.1 "OCPPCommCtrlr.HeartbeatInterval"."""
        components = {
            "HeartbeatInterval": "OCPPCommCtrlr",
            "WebSocketPingInterval": "OCPPCommCtrlr",
            "Nope": "OCPPCommCtrlr",
        }
        if self.version == "1.6":
            return name
        return f"{components.get(name, 'SecurityCtrlr')}.{name}"

    def configuration_value(self, name: str) -> str:
        """The value the station holds for the configuration key (1.6) or device model variable (2.0.1)."""
        if self.version == "1.6":
            return self.cp.config.get(name)
        component, variable = self.key(name).split(".")
        found, _ = self.cp.protocol.find_variable({"name": component}, {"name": variable})
        return self.cp.config.get(found.key)

    def transaction(self, evse_id: int):
        """The session running on the EVSE (1.6: the connector), None when none runs."""
        return self.cp.connectors[evse_id].session

    def profiles(self) -> dict[int, tuple[int, str]]:
        """Charging profiles installed on the station: {profile id: (EVSE id, purpose)}."""
        return {pid: (p.connector_id, p.purpose) for pid, p in self.cp.profiles.profiles.items()}

    def reservation_ids(self) -> set[int]:
        return {c.reservation.reservation_id for c in self.cp.connectors.values() if c.reservation is not None}


@pytest.fixture(scope="module")
def stations(csms):
    """A connected, booted 1.6 charge point and 2.0.1 station, and an id tag they both accept."""
    assert csms.api("POST", "/api/v1/id-tags/", {"id_tag": CARD})[0] == 201
    ids = {"1.6": "E2E-OP-16", "2.0.1": "E2E-OP-201"}
    for station_id in ids.values():
        assert csms.api("POST", "/api/v1/chargepoints/", {"id": station_id})[0] == 201
    with simulated(csms.servers[0].ws("/ocpp/"), {station_id: version for version, station_id in ids.items()}) as sim:
        for station_id in ids.values():
            ready(sim, station_id)
        yield {version: Station(station_id, version, sim) for version, station_id in ids.items()}


@pytest.fixture(params=VERSIONS)
def st(request, stations):
    """One of the two stations; after the test it must be connected, with nothing failed meanwhile."""
    station = stations[request.param]
    ready(station.sim, station.id)
    before = troubles(station.sim, station.cp)
    yield station
    ready(station.sim, station.id)
    assert troubles(station.sim, station.cp) == before


# --- helpers ---------------------------------------------------------------------------------


def operation(csms, station: Station, name: str, body: dict | None = None, timeout: float | None = None):
    path = f"/api/v1/chargepoints/{station.id}/operations/{name}/"
    if timeout is not None:
        path += f"?timeout={timeout:g}"
    return csms.api("POST", path, body or {})


def done(csms, station: Station, name: str, body: dict | None = None) -> dict:
    """An operation that must be answered: returns the API's answer after checking its shape."""
    status, answer = operation(csms, station, name, body)
    assert status == 200, answer
    assert (answer["operation"], answer["ocpp_version"], answer["charge_point"]) == (name, station.version, station.id)
    assert station.cp.script.received[-1][0] == answer["action"], "the message the API names is the one the station got"
    return answer


def charge_point(csms, station: Station) -> dict:
    status, body = csms.api("GET", f"/api/v1/chargepoints/{station.id}/")
    assert status == 200, body
    return body


def transactions(csms, station: Station, **filters) -> list[dict]:
    query = "&".join(f"{k}={v}" for k, v in {"charge_point": station.id, **filters}.items())
    status, page = csms.api("GET", f"/api/v1/transactions/?{query}")
    assert status == 200, page
    return page["results"]


def evse_status(database, station: Station, evse_id: int) -> str | None:
    """Status of the EVSE's (first) connector; for 1.6 the connector of that number."""
    return database.value(
        "SELECT status FROM chargepoints_connector WHERE charge_point_id = %s AND evse_id = %s ORDER BY connector_id",
        station.id,
        evse_id,
    )


def start(csms, station: Station, evse_id: int) -> tuple[dict, dict]:
    """start-charging, then wait for the transaction it leads to; returns (API answer, the transaction)."""
    before = {tx["id"] for tx in transactions(csms, station)}
    answer = done(csms, station, "start-charging", {"id_tag": CARD, "evse_id": evse_id})
    assert answer["status"] == "Accepted", answer
    [tx] = eventually(lambda: [tx for tx in transactions(csms, station, status="active") if tx["id"] not in before])
    eventually(lambda: station.transaction(evse_id) is not None)
    return answer, tx


def stop(csms, station: Station, transaction_id: int) -> dict:
    answer = done(csms, station, "stop-charging", {"transaction": transaction_id})
    assert answer["status"] == "Accepted", answer
    [tx] = eventually(lambda: [tx for tx in transactions(csms, station, status="completed") if tx["id"] == transaction_id])
    return tx


# --- transactions ----------------------------------------------------------------------------


def test_start_charging_opens_a_transaction_and_stop_charging_ends_it(csms, st, database):
    answer, tx = start(csms, st, 1)

    expected_action = "RemoteStartTransaction" if st.version == "1.6" else "RequestStartTransaction"
    assert answer["action"] == expected_action
    assert tx["id_tag"] == CARD and tx["status"] == "active"
    if st.version == "2.0.1":
        # The remoteStartId the CSMS allocated comes back on the transaction.
        assert answer["details"]["remote_start_id"] == st.transaction(1).remote_start_id
        assert (
            database.value("SELECT remote_start_id FROM transactions_transaction WHERE id = %s", tx["id"])
            == (answer["details"]["remote_start_id"])
        )
    eventually(lambda: evse_status(database, st, 1) in ("Charging", "Occupied"))
    charged(st.cp, 1)

    stopped = stop(csms, st, tx["id"])

    assert stopped["stop_reason"] == "Remote"
    assert stopped["energy_wh"] > 0
    assert st.cp.script.received[-1][0] == ("RemoteStopTransaction" if st.version == "1.6" else "RequestStopTransaction")
    assert st.transaction(1) is None
    eventually(lambda: evse_status(database, st, 1) == "Available")


def test_stopping_a_transaction_the_station_does_not_run_is_rejected(csms, st):
    _, tx = start(csms, st, 2)
    stop(csms, st, tx["id"])

    assert done(csms, st, "stop-charging", {"transaction": tx["id"]})["status"] == "Rejected"


# --- the station -----------------------------------------------------------------------------


def test_reset_reboots_the_station(csms, st):
    booted = charge_point(csms, st)["last_boot_at"]
    boots = st.cp.boots

    answer = done(csms, st, "reset", {"type": "soft"})

    assert answer["status"] == "Accepted"
    assert st.cp.script.received[-1][1] == {"type": "Soft" if st.version == "1.6" else "OnIdle"}
    eventually(lambda: charge_point(csms, st)["last_boot_at"] != booted)
    eventually(lambda: st.cp.boots == boots + 1)  # it booted once more (the server may have answered first)


def test_unlock_frees_a_cable(csms, st):
    assert done(csms, st, "unlock", {"evse_id": 1})["status"] == "Unlocked"


def test_change_availability_takes_an_evse_out_of_service_and_back(csms, st, database):
    assert done(csms, st, "change-availability", {"operative": False, "evse_id": 2})["status"] == "Accepted"
    eventually(lambda: evse_status(database, st, 2) == "Unavailable")

    assert done(csms, st, "change-availability", {"operative": True, "evse_id": 2})["status"] == "Accepted"
    eventually(lambda: evse_status(database, st, 2) == "Available")


def test_trigger_message_makes_the_station_send_it(csms, st):
    heartbeat = charge_point(csms, st)["last_heartbeat"]

    assert done(csms, st, "trigger-message", {"message": "Heartbeat"})["status"] == "Accepted"
    eventually(lambda: charge_point(csms, st)["last_heartbeat"] not in (None, heartbeat))

    answer = done(csms, st, "trigger-message", {"message": "DiagnosticsStatusNotification"})
    assert answer["status"] == "Accepted"
    sent = "DiagnosticsStatusNotification" if st.version == "1.6" else "LogStatusNotification"
    assert st.cp.script.received[-1][1]["requestedMessage"] == sent
    eventually(lambda: charge_point(csms, st)["diagnostics_status"] == "Idle")


# --- reservations ----------------------------------------------------------------------------


def reservation(database, reservation_id: int) -> tuple | None:
    rows = database.rows("SELECT status, evse_id, id_tag, charge_point_id FROM transactions_reservation WHERE id = %s", reservation_id)
    return rows[0] if rows else None


def test_reserve_and_cancel_a_reservation(csms, st, database):
    answer = done(csms, st, "reserve", {"id_tag": CARD, "evse_id": 2, "expiry": expiry(30)})

    reservation_id = answer["details"]["reservation_id"]
    assert answer["status"] == "Accepted"
    assert reservation(database, reservation_id) == ("Accepted", 2, CARD, st.id)
    assert reservation_id in st.reservation_ids()
    eventually(lambda: evse_status(database, st, 2) == "Reserved")

    assert done(csms, st, "cancel-reservation", {"reservation_id": reservation_id})["status"] == "Accepted"

    assert reservation(database, reservation_id)[0] == "Cancelled"
    assert reservation_id not in st.reservation_ids()
    eventually(lambda: evse_status(database, st, 2) == "Available")


def test_a_reservation_of_a_busy_evse_is_stored_as_occupied(csms, st, database):
    _, tx = start(csms, st, 1)

    answer = done(csms, st, "reserve", {"id_tag": "E2E-OTHER", "evse_id": 1, "expiry": expiry(30)})

    assert answer["status"] == "Occupied"
    assert reservation(database, answer["details"]["reservation_id"])[0] == "Occupied"
    stop(csms, st, tx["id"])


# --- smart charging --------------------------------------------------------------------------


def profile(profile_id: int, limit_a: float) -> dict:
    return {
        "evse_id": 0,
        "charging_profile_id": profile_id,
        "stack_level": 0,
        "purpose": "TxDefaultProfile",
        "kind": "Absolute",
        "start_schedule": "2026-01-01T00:00:00Z",
        "charging_rate_unit": "A",
        "periods": [{"start_period_s": 0, "limit": limit_a}],
    }


def test_set_charging_profile_shapes_the_composite_schedule_until_cleared(csms, st):
    assert done(csms, st, "set-charging-profile", profile(11, 16))["status"] == "Accepted"
    assert st.profiles() == {11: (0, "TxDefaultProfile")}

    composite = done(csms, st, "composite-schedule", {"evse_id": 1, "duration_s": 3600, "charging_rate_unit": "A"})

    assert composite["status"] == "Accepted"
    schedule_key = "chargingSchedule" if st.version == "1.6" else "schedule"
    assert periods(composite["response"][schedule_key]) == [(0, 16)]

    assert done(csms, st, "clear-charging-profile", {"charging_profile_id": 11})["status"] == "Accepted"
    assert st.profiles() == {}
    # Nothing installed any more: the EVSE's own rating is all that limits it.
    composite = done(csms, st, "composite-schedule", {"evse_id": 1, "duration_s": 60})
    assert composite["status"] == "Accepted"
    assert periods(composite["response"][schedule_key]) == [(0, st.cp.settings.max_current_a)]
    assert done(csms, st, "clear-charging-profile", {"stack_level": 7})["status"] == "Unknown"


def test_profiles_cleared_by_criteria(csms, st):
    done(csms, st, "set-charging-profile", profile(21, 32))
    done(csms, st, "set-charging-profile", {**profile(22, 10), "stack_level": 1})

    assert done(csms, st, "clear-charging-profile", {"evse_id": 0, "stack_level": 1})["status"] == "Accepted"

    assert set(st.profiles()) == {21}
    done(csms, st, "clear-charging-profile", {})
    assert st.profiles() == {}


def test_a_station_wide_limit_is_set_under_each_versions_name(csms, st):
    # The answer must come back on PostgreSQL too: ChargingProfile.purpose (varchar 24) is shorter than
    # "ChargingStationMaxProfile", which `results` therefore leaves unrecorded rather than failing the command.
    try:
        answer = done(csms, st, "set-charging-profile", {**profile(31, 32), "purpose": "ChargingStationMaxProfile"})

        assert answer["status"] == "Accepted"
        expected = "ChargePointMaxProfile" if st.version == "1.6" else "ChargingStationMaxProfile"
        assert st.profiles() == {31: (0, expected)}
        assert done(csms, st, "clear-charging-profile", {"purpose": "ChargingStationMaxProfile"})["status"] == "Accepted"
        assert st.profiles() == {}
    finally:
        operation(csms, st, "clear-charging-profile", {})


# --- local authorization list ----------------------------------------------------------------


def test_send_local_list_installs_the_id_tags(csms, st, database):
    for tag, status in (("E2E-LL-A", "Accepted"), ("E2E-LL-B", "Blocked")):
        csms.api("POST", "/api/v1/id-tags/", {"id_tag": tag, "status": status})

    answer = done(csms, st, "send-local-list", {"update_type": "Full"})

    assert answer["status"] == "Accepted"
    version = answer["details"]["list_version"]
    assert st.cp.local_list.version == version
    assert {CARD, "E2E-LL-A", "E2E-LL-B"} <= set(st.cp.local_list.entries)
    assert st.cp.local_list.entries["E2E-LL-B"] == "Blocked"
    assert database.value("SELECT local_list_version FROM chargepoints_chargepoint WHERE id = %s", st.id) == version


# --- firmware and logs -----------------------------------------------------------------------


def test_update_firmware_ends_installed_with_the_new_version_booted(csms, st):
    answer = done(
        csms,
        st,
        "update-firmware",
        {"location": f"https://fw.example.com/sim/fw-{st.version}.7.bin", "retrieve_date": expiry(0)},
    )

    assert answer["status"] == "Accepted"
    eventually(lambda: charge_point(csms, st)["firmware_status"] == "Installed")
    eventually(lambda: charge_point(csms, st)["firmware_version"] == f"{st.version}.7")


def test_fetch_logs_reports_the_upload(csms, st):
    answer = done(csms, st, "fetch-logs", {"location": "ftp://logs.example.com/uploads/"})

    assert answer["action"] == ("GetDiagnostics" if st.version == "1.6" else "GetLog")
    assert answer["status"] == "Accepted"
    eventually(lambda: charge_point(csms, st)["diagnostics_status"] == "Uploaded")


# --- configuration ---------------------------------------------------------------------------


def test_get_configuration_of_everything_is_stored(csms, st, database):
    answer = done(csms, st, "get-configuration")

    if st.version == "1.6":
        assert answer["action"] == "GetConfiguration"
        assert answer["details"]["configuration"]["HeartbeatInterval"] == "300"
        stored = dict(database.rows("SELECT key, value FROM chargepoints_configurationkey WHERE charge_point_id = %s", st.id))
        assert stored["HeartbeatInterval"] == "300" and len(stored) == len(st.cp.config.keys)
    else:
        assert (answer["action"], answer["status"]) == ("GetBaseReport", "Accepted")

        # The report arrives afterwards, in NotifyReports of 20 variables at most: every variable, one row each.
        def reported():
            rows = database.rows("SELECT component, variable, value FROM chargepoints_variable WHERE charge_point_id = %s", st.id)
            return rows if len(rows) == len(st.cp.protocol.variables) else None

        stored = {f"{c}.{v}": value for c, v, value in eventually(reported)}
        assert stored["OCPPCommCtrlr.HeartbeatInterval"] == "300"


def test_get_configuration_of_some_keys_names_the_unknown_ones(csms, st):
    answer = done(csms, st, "get-configuration", {"keys": [st.key("HeartbeatInterval"), st.key("Nope")]})

    assert answer["action"] == ("GetConfiguration" if st.version == "1.6" else "GetVariables")
    assert answer["details"]["configuration"] == {st.key("HeartbeatInterval"): st.configuration_value("HeartbeatInterval")}
    assert answer["details"]["unknown_keys"] == [st.key("Nope")]


def test_change_configuration_reports_the_stations_verdict(csms, st):
    answer = done(csms, st, "change-configuration", {"key": st.key("HeartbeatInterval"), "value": "120"})
    assert (answer["action"], answer["status"]) == ("ChangeConfiguration" if st.version == "1.6" else "SetVariables", "Accepted")
    assert st.configuration_value("HeartbeatInterval") == "120"

    reboot = done(csms, st, "change-configuration", {"key": st.key("WebSocketPingInterval"), "value": "30"})
    assert reboot["status"] == "RebootRequired"

    read_only = "NumberOfConnectors" if st.version == "1.6" else "SecurityProfile"
    assert done(csms, st, "change-configuration", {"key": st.key(read_only), "value": "x"})["status"] == "Rejected"
    done(csms, st, "change-configuration", {"key": st.key("HeartbeatInterval"), "value": "300"})


# --- failures and the raw endpoint -----------------------------------------------------------


def test_invalid_arguments_are_a_400_and_nothing_reaches_the_station(csms, st):
    received = len(st.cp.script.received)

    for name, body, field in [
        ("reset", {"type": "gentle"}, "type"),
        ("start-charging", {"id_tag": "X" * 37}, "id_tag"),
        ("stop-charging", {"transaction": 987654}, "transaction"),
        ("change-configuration", {"key": "K" * 60, "value": "1"}, "key"),
    ]:
        status, body = operation(csms, st, name, body)
        assert status == 400, (name, body)
        assert body["field"] == field, (name, body)

    time.sleep(0.1)
    assert len(st.cp.script.received) == received


def test_a_station_that_does_not_answer_is_a_504(csms, st):
    st.cp.script.silent.add("UnlockConnector")
    try:
        status, body = operation(csms, st, "unlock", {"evse_id": 1}, timeout=1)
    finally:
        st.cp.script.silent.discard("UnlockConnector")

    assert status == 504, body
    assert done(csms, st, "unlock", {"evse_id": 2})["status"] == "Unlocked"


def test_a_registered_station_that_is_not_connected_is_a_409(csms, stations):
    assert csms.api("POST", "/api/v1/chargepoints/", {"id": "E2E-OP-OFFLINE"})[0] == 201

    status, body = csms.api("POST", "/api/v1/chargepoints/E2E-OP-OFFLINE/operations/reset/", {})

    assert status == 409, body
    assert "not connected" in body["detail"]


def test_version_specific_messages_stay_reachable_through_the_raw_endpoint(csms, stations):
    v16, v201 = stations["1.6"], stations["2.0.1"]

    status, body = csms.api("POST", f"/api/v1/chargepoints/{v16.id}/commands/ClearCache/", {})
    assert (status, body["response"]) == (200, {"status": "Accepted"})

    payload = {"getVariableData": [{"component": {"name": "SecurityCtrlr"}, "variable": {"name": "OrganizationName"}}]}
    status, body = csms.api("POST", f"/api/v1/chargepoints/{v201.id}/commands/GetVariables/", payload)
    assert status == 200, body
    assert body["response"]["getVariableResult"][0]["attributeValue"] == v201.configuration_value("OrganizationName")
