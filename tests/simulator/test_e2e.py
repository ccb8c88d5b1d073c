"""The simulator against a real CSMS: sessions become transactions, commands are answered and acted on.

One daphne process (module fixture `csms`); each test registers its own
charge points, runs a simulation in a thread and checks what the REST API
(and, where it shows nothing, the database) says.
"""

from datetime import UTC, datetime

import pytest

from .conftest import TAG, Database, eventually, register, run_simulation

pytestmark = pytest.mark.e2e

ENERGY = "Energy.Active.Import.Register"


def get(csms, path: str):
    status, body = csms.api("GET", path)
    assert status == 200, body
    return body


def transactions(csms, charge_point: str, **filters) -> list[dict]:
    query = "&".join(f"{k}={v}" for k, v in {"charge_point": charge_point, "limit": 500, **filters}.items())
    return get(csms, f"/api/v1/transactions/?{query}")["results"]


def charge_point(csms, charge_point_id: str) -> dict:
    return get(csms, f"/api/v1/chargepoints/{charge_point_id}/")


def statuses(csms, charge_point_id: str) -> dict:
    return {c["connector_id"]: c["status"] for c in charge_point(csms, charge_point_id)["connectors"]}


def evse_statuses(csms, charge_point_id: str) -> list[str]:
    """A 2.0.1 station's connector statuses in EVSE order (the API lists connectors by EVSE, without its id)."""
    return [c["status"] for c in charge_point(csms, charge_point_id)["connectors"]]


def command(csms, charge_point_id: str, action: str, payload: dict) -> dict:
    status, body = csms.api("POST", f"/api/v1/chargepoints/{charge_point_id}/commands/{action}/", payload)
    assert status == 200, (action, status, body)
    return body["response"]


def samples(tx: dict, measurand: str, phase: str = "") -> list[tuple[datetime, float]]:
    """(timestamp, value) of a transaction's sampled values of `measurand` (and `phase`), oldest first."""
    return [
        (datetime.fromisoformat(mv["timestamp"].replace("Z", "+00:00")), float(mv["value"]))
        for mv in tx["meter_values"]
        if mv["measurand"] == measurand and mv["phase"] == phase
    ]


def utc_now() -> datetime:
    return datetime.now(UTC)


def utc_iso() -> str:
    return utc_now().isoformat().replace("+00:00", "Z")


def test_sessions_of_both_versions_become_transactions_with_growing_energy(csms):
    ids = ["SIMT-S16", "SIMT-S201"]
    register(csms, *ids)
    url = csms.servers[0].ws("/ocpp/")
    with run_simulation(url, ids, "1.6,2.0.1"):
        for cp in ids:
            eventually(lambda cp=cp: len([t for t in transactions(csms, cp, status="completed") if t["energy_wh"]]) >= 2, 25)
    # A graceful stop ends the running sessions and delivers them.
    for cp in ids:
        assert transactions(csms, cp, status="active") == []
        done = transactions(csms, cp, status="completed")
        assert not any(t["is_orphan"] for t in done)
        assert {t["id_tag"] for t in done} == {TAG} and {t["connector_id"] for t in done} <= {1, 2}
        tx = get(csms, f"/api/v1/transactions/{max(done, key=lambda t: t['energy_wh'])['id']}/")
        energy = [value for _, value in samples(tx, ENERGY)]
        assert len(energy) >= 3 and energy == sorted(energy) and energy[-1] > energy[0]
        assert tx["energy_wh"] == tx["meter_stop_wh"] - tx["meter_start_wh"] > 0
        power = [value for _, value in samples(tx, "Power.Active.Import")]
        assert power and max(power) > 1000
        assert samples(tx, "Current.Import", "L1") and samples(tx, "Voltage", "L3-N")
        soc = [value for _, value in samples(tx, "SoC")]
        assert soc == sorted(soc) and 0 < soc[0] <= 100
        assert set(evse_statuses(csms, cp)) == {"Available"}


def test_a_16_charge_point_answers_and_acts_on_every_kind_of_command(csms):
    cp = "SIMT-C16"
    register(csms, cp)
    database = Database(csms)
    with run_simulation(csms.servers[0].ws("/ocpp/"), [cp], "1.6", sessions=False, sample_interval_s=0.2) as sim:
        station = sim.stations[cp]
        first_boot = eventually(lambda: charge_point(csms, cp)["last_boot_at"])
        eventually(lambda: statuses(csms, cp) == {0: "Available", 1: "Available", 2: "Available"})

        keys = {k["key"]: k for k in command(csms, cp, "GetConfiguration", {})["configurationKey"]}
        assert keys["HeartbeatInterval"]["value"] == "300" and keys["NumberOfConnectors"]["readonly"]
        assert command(csms, cp, "ChangeConfiguration", {"key": "HeartbeatInterval", "value": "1"}) == {"status": "Accepted"}
        beats = database.rows("SELECT COUNT(*) FROM chargepoints_configurationkey WHERE charge_point_id = %s", cp)[0][0]
        assert beats > 10  # the GetConfiguration snapshot was stored
        before = station.stats["heartbeats"]
        eventually(lambda: station.stats["heartbeats"] >= before + 2, 6)
        heartbeat = charge_point(csms, cp)["last_heartbeat"]
        eventually(lambda: charge_point(csms, cp)["last_heartbeat"] != heartbeat, 4)

        # Remote start → a transaction; a TxProfile caps its power; remote stop ends it.
        assert command(csms, cp, "RemoteStartTransaction", {"idTag": TAG, "connectorId": 1}) == {"status": "Accepted"}
        [tx] = eventually(lambda: transactions(csms, cp, status="active"))
        eventually(lambda: len(samples(get(csms, f"/api/v1/transactions/{tx['id']}/"), "Current.Import", "L1")) >= 2)
        sent_at = utc_now()
        profile = {
            "chargingProfileId": 71,
            "transactionId": tx["id"],
            "stackLevel": 0,
            "chargingProfilePurpose": "TxProfile",
            "chargingProfileKind": "Relative",
            "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 8.0}]},
        }
        assert command(csms, cp, "SetChargingProfile", {"connectorId": 1, "csChargingProfiles": profile}) == {"status": "Accepted"}
        capped_at = utc_now()  # answered: installed by now

        def capped():
            detail = get(csms, f"/api/v1/transactions/{tx['id']}/")
            after = [v for at, v in samples(detail, "Current.Import", "L1") if at > capped_at]
            power = [v for at, v in samples(detail, "Power.Active.Import") if at > capped_at]
            assert len(after) >= 2 and len(power) >= 2
            return detail, after, power

        detail, current_after, power_after = eventually(capped)
        current_before = [v for at, v in samples(detail, "Current.Import", "L1") if at < sent_at]
        assert min(current_before) > 8.0
        assert max(current_after) <= 8.0 and max(power_after) <= 8.0 * 3 * 235
        composite = command(csms, cp, "GetCompositeSchedule", {"connectorId": 1, "duration": 60, "chargingRateUnit": "A"})
        assert composite["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"] == 8.0
        assert command(csms, cp, "ClearChargingProfile", {"id": 71}) == {"status": "Accepted"}
        assert command(csms, cp, "RemoteStopTransaction", {"transactionId": tx["id"]}) == {"status": "Accepted"}
        [done] = eventually(lambda: transactions(csms, cp, status="completed"))
        assert done["stop_reason"] == "Remote" and done["energy_wh"] > 0
        eventually(lambda: statuses(csms, cp)[1] == "Available")

        # Reservations, availability, unlock, trigger.
        expiry = datetime.fromtimestamp(datetime.now().timestamp() + 600, UTC).isoformat()
        reserve = {"connectorId": 2, "expiryDate": expiry, "idTag": TAG, "reservationId": 501}
        assert command(csms, cp, "ReserveNow", reserve) == {"status": "Accepted"}
        eventually(lambda: statuses(csms, cp)[2] == "Reserved")
        assert command(csms, cp, "RemoteStartTransaction", {"idTag": "SOMEONE-ELSE", "connectorId": 2}) == {"status": "Rejected"}
        assert command(csms, cp, "RemoteStartTransaction", {"idTag": TAG, "connectorId": 2}) == {"status": "Accepted"}
        [on_reservation] = eventually(lambda: transactions(csms, cp, status="active"))
        assert on_reservation["reservation_id"] == 501 and on_reservation["connector_id"] == 2
        assert command(csms, cp, "RemoteStopTransaction", {"transactionId": on_reservation["id"]}) == {"status": "Accepted"}
        eventually(lambda: statuses(csms, cp)[2] == "Available")
        assert command(csms, cp, "ReserveNow", {**reserve, "reservationId": 502}) == {"status": "Accepted"}
        eventually(lambda: statuses(csms, cp)[2] == "Reserved")
        assert command(csms, cp, "CancelReservation", {"reservationId": 502}) == {"status": "Accepted"}
        eventually(lambda: statuses(csms, cp)[2] == "Available")
        assert command(csms, cp, "ChangeAvailability", {"connectorId": 2, "type": "Inoperative"}) == {"status": "Accepted"}
        eventually(lambda: statuses(csms, cp)[2] == "Unavailable")
        assert command(csms, cp, "RemoteStartTransaction", {"idTag": TAG, "connectorId": 2}) == {"status": "Rejected"}
        assert command(csms, cp, "ChangeAvailability", {"connectorId": 2, "type": "Operative"}) == {"status": "Accepted"}
        eventually(lambda: statuses(csms, cp)[2] == "Available")
        assert command(csms, cp, "UnlockConnector", {"connectorId": 1}) == {"status": "Unlocked"}
        assert command(csms, cp, "TriggerMessage", {"requestedMessage": "StatusNotification", "connectorId": 1}) == {"status": "Accepted"}

        # Local list, diagnostics, firmware (with its reboot), reset.
        local = {"listVersion": 5, "updateType": "Full", "localAuthorizationList": [{"idTag": TAG, "idTagInfo": {"status": "Accepted"}}]}
        assert command(csms, cp, "SendLocalList", local) == {"status": "Accepted"}
        assert command(csms, cp, "GetLocalListVersion", {}) == {"listVersion": 5}
        assert command(csms, cp, "GetDiagnostics", {"location": "ftp://example.com/up"})["fileName"].startswith("diagnostics-")
        eventually(lambda: charge_point(csms, cp)["diagnostics_status"] == "Uploaded")
        assert command(csms, cp, "UpdateFirmware", {"location": "https://example.com/fw.bin", "retrieveDate": utc_iso()}) == {}
        eventually(lambda: charge_point(csms, cp)["firmware_status"] == "Installed", 10)
        rebooted = charge_point(csms, cp)
        assert rebooted["firmware_version"] == "1.0.1" and rebooted["last_boot_at"] > first_boot
        assert command(csms, cp, "Reset", {"type": "Soft"}) == {"status": "Accepted"}
        eventually(lambda: charge_point(csms, cp)["last_boot_at"] > rebooted["last_boot_at"], 10)
        eventually(lambda: charge_point(csms, cp)["online"])
        assert station.boots == 3
        assert command(csms, cp, "GetConfiguration", {"key": ["HeartbeatInterval"]})["configurationKey"][0]["value"] == "300"


def test_a_201_station_answers_and_acts_on_every_kind_of_command(csms):
    cp = "SIMT-C201"
    register(csms, cp)
    database = Database(csms)
    with run_simulation(csms.servers[0].ws("/ocpp/"), [cp], "2.0.1", sessions=False, sample_interval_s=0.2) as sim:
        station = sim.stations[cp]
        first_boot = eventually(lambda: charge_point(csms, cp)["last_boot_at"])
        eventually(lambda: evse_statuses(csms, cp) == ["Available", "Available"])

        get_heartbeat = {"getVariableData": [{"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}]}
        assert command(csms, cp, "GetVariables", get_heartbeat)["getVariableResult"][0]["attributeValue"] == "300"
        set_heartbeat = {
            "setVariableData": [{"attributeValue": "1", "component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}]
        }
        assert command(csms, cp, "SetVariables", set_heartbeat)["setVariableResult"][0]["attributeStatus"] == "Accepted"
        before = station.stats["heartbeats"]
        eventually(lambda: station.stats["heartbeats"] >= before + 2, 6)
        assert command(csms, cp, "GetBaseReport", {"requestId": 1, "reportBase": "FullInventory"}) == {"status": "Accepted"}
        variables = len(station.protocol.variables)
        eventually(lambda: database.rows("SELECT COUNT(*) FROM chargepoints_variable WHERE charge_point_id = %s", cp)[0][0] == variables)
        [(stored,)] = database.rows(
            "SELECT value FROM chargepoints_variable WHERE charge_point_id = %s AND component = %s AND variable = %s",
            cp,
            "OCPPCommCtrlr",
            "HeartbeatInterval",
        )
        assert stored == "1"

        # Remote start → a transaction; a TxProfile caps its power; remote stop ends it.
        start = {"idToken": {"idToken": TAG, "type": "Central"}, "remoteStartId": 4711, "evseId": 1}
        assert command(csms, cp, "RequestStartTransaction", start) == {"status": "Accepted"}
        [tx] = eventually(lambda: transactions(csms, cp, status="active"))
        eventually(lambda: len(samples(get(csms, f"/api/v1/transactions/{tx['id']}/"), "Power.Active.Import")) >= 2)
        # The API does not show the station's transactionId; the database does.
        [(station_tx_id, remote_start_id)] = database.rows(
            "SELECT station_transaction_id, remote_start_id FROM transactions_transaction WHERE id = %s", tx["id"]
        )
        assert remote_start_id == 4711
        sent_at = utc_now()
        profile = {
            "id": 72,
            "stackLevel": 0,
            "chargingProfilePurpose": "TxProfile",
            "chargingProfileKind": "Relative",
            "transactionId": station_tx_id,
            "chargingSchedule": [{"id": 1, "chargingRateUnit": "W", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 4600.0}]}],
        }
        assert command(csms, cp, "SetChargingProfile", {"evseId": 1, "chargingProfile": profile})["status"] == "Accepted"
        capped_at = utc_now()  # answered: installed by now

        def capped():
            detail = get(csms, f"/api/v1/transactions/{tx['id']}/")
            after = [v for at, v in samples(detail, "Power.Active.Import") if at > capped_at]
            assert len(after) >= 2
            return detail, after

        detail, power_after = eventually(capped)
        assert min(v for at, v in samples(detail, "Power.Active.Import") if at < sent_at) > 4600
        assert 0 < max(power_after) <= 4600 * 1.001
        status = command(csms, cp, "GetTransactionStatus", {"transactionId": station_tx_id})
        assert status["ongoingIndicator"] is True
        assert command(csms, cp, "UnlockConnector", {"evseId": 1, "connectorId": 1}) == {"status": "OngoingAuthorizedTransaction"}
        assert command(csms, cp, "RequestStopTransaction", {"transactionId": station_tx_id}) == {"status": "Accepted"}
        [done] = eventually(lambda: transactions(csms, cp, status="completed"))
        assert done["stop_reason"] == "Remote" and done["energy_wh"] > 0
        events = database.rows(
            "SELECT seq_no, event_type FROM transactions_transactionevent WHERE transaction_id = %s ORDER BY id", tx["id"]
        )
        assert [seq for seq, _ in events] == list(range(len(events)))
        assert events[0][1] == "Started" and events[-1][1] == "Ended"

        # Reservations, availability, trigger.
        expiry = datetime.fromtimestamp(datetime.now().timestamp() + 600, UTC).isoformat()
        reserve = {"id": 503, "expiryDateTime": expiry, "idToken": {"idToken": TAG, "type": "ISO14443"}, "evseId": 2}
        assert command(csms, cp, "ReserveNow", reserve) == {"status": "Accepted"}
        eventually(lambda: evse_statuses(csms, cp)[1] == "Reserved")
        start = {"idToken": {"idToken": TAG, "type": "ISO14443"}, "remoteStartId": 4712, "evseId": 2}
        assert command(csms, cp, "RequestStartTransaction", start) == {"status": "Accepted"}
        [on_reservation] = eventually(lambda: transactions(csms, cp, status="active"))
        assert on_reservation["reservation_id"] == 503
        on_reservation_tx_id = station.connectors[2].session.transaction_id
        assert command(csms, cp, "RequestStopTransaction", {"transactionId": on_reservation_tx_id}) == {"status": "Accepted"}
        eventually(lambda: evse_statuses(csms, cp)[1] == "Available")
        assert command(csms, cp, "ReserveNow", {**reserve, "id": 504}) == {"status": "Accepted"}
        eventually(lambda: evse_statuses(csms, cp)[1] == "Reserved")
        assert command(csms, cp, "CancelReservation", {"reservationId": 504}) == {"status": "Accepted"}
        eventually(lambda: evse_statuses(csms, cp)[1] == "Available")
        assert command(csms, cp, "ChangeAvailability", {"operationalStatus": "Inoperative"}) == {"status": "Accepted"}
        eventually(lambda: set(evse_statuses(csms, cp)) == {"Unavailable"})
        assert command(csms, cp, "ChangeAvailability", {"operationalStatus": "Operative"}) == {"status": "Accepted"}
        eventually(lambda: set(evse_statuses(csms, cp)) == {"Available"})
        assert command(csms, cp, "TriggerMessage", {"requestedMessage": "BootNotification"}) == {"status": "Rejected"}
        assert command(csms, cp, "TriggerMessage", {"requestedMessage": "Heartbeat"}) == {"status": "Accepted"}

        # Local list, logs, firmware (with its reboot), reset.
        local = {
            "versionNumber": 6,
            "updateType": "Full",
            "localAuthorizationList": [{"idToken": {"idToken": TAG, "type": "ISO14443"}, "idTokenInfo": {"status": "Accepted"}}],
        }
        assert command(csms, cp, "SendLocalList", local) == {"status": "Accepted"}
        assert command(csms, cp, "GetLocalListVersion", {}) == {"versionNumber": 6}
        log = {"log": {"remoteLocation": "https://example.com/logs"}, "logType": "DiagnosticsLog", "requestId": 9}
        assert command(csms, cp, "GetLog", log)["status"] == "Accepted"
        eventually(lambda: charge_point(csms, cp)["diagnostics_status"] == "Uploaded")
        update = {"requestId": 10, "firmware": {"location": "https://example.com/fw", "retrieveDateTime": utc_iso()}}
        assert command(csms, cp, "UpdateFirmware", update) == {"status": "Accepted"}
        eventually(lambda: charge_point(csms, cp)["firmware_status"] == "Installed", 10)
        rebooted = charge_point(csms, cp)
        assert rebooted["firmware_version"] == "1.0.1" and rebooted["last_boot_at"] > first_boot
        assert command(csms, cp, "Reset", {"type": "Immediate"}) == {"status": "Accepted"}
        eventually(lambda: charge_point(csms, cp)["last_boot_at"] > rebooted["last_boot_at"], 10)
        eventually(lambda: charge_point(csms, cp)["online"])
        reasons = [
            r for (r,) in database.rows("SELECT reason FROM chargepoints_bootnotification WHERE charge_point_id = %s ORDER BY id", cp)
        ]
        assert reasons == ["PowerUp", "FirmwareUpdate", "RemoteReset"]


def test_injected_faults_lose_or_corrupt_no_transaction(csms):
    from simulator import FaultRates

    ids = ["SIMT-F16", "SIMT-F201"]
    register(csms, *ids)
    database = Database(csms)
    faults = FaultRates(drop=0.05, duplicate=0.2, delay_s=0.02, disconnect_mid_transaction=0.05, malformed=0.1)
    with run_simulation(
        csms.servers[0].ws("/ocpp/"),
        ids,
        "1.6,2.0.1",
        seed=3,
        faults=faults,
        response_timeout_s=1.0,
        session_s=(1.0, 1.5),
        pause_s=(0.1, 0.3),
        grace_s=15.0,
    ) as sim:

        def counts():
            return {
                name: sum(s.faults.counts[name] for s in sim.stations.values())
                for name in ("dropped", "duplicated", "disconnected", "malformed")
            }

        for cp in ids:
            eventually(lambda cp=cp: len(transactions(csms, cp, status="completed")) >= 2, 30)
        eventually(lambda: all(sim.call(counts).values()), 30)
    assert all(len(s.tx_queue) == 0 and s.tx_queue.given_up == 0 for s in sim.stations.values())
    for cp in ids:
        done = transactions(csms, cp)
        # A duplicated StartTransaction gets the same transaction; every session is one transaction, ended.
        assert len(done) == sim.stations[cp].stats["sessions"]
        assert all(t["stop_timestamp"] and not t["is_orphan"] and t["energy_wh"] >= 0 for t in done)
        for tx in done:
            rows = database.rows(
                "SELECT timestamp FROM transactions_metervalue WHERE transaction_id = %s AND measurand = %s AND phase = '' ORDER BY id",
                tx["id"],
                ENERGY,
            )
            arrived = [str(ts) for (ts,) in rows]
            # Duplicated MeterValues (1.6) and TransactionEvents (2.0.1) are stored once, in order.
            assert arrived == sorted(set(arrived))
            if cp == "SIMT-F201":
                events = database.rows(
                    "SELECT seq_no FROM transactions_transactionevent WHERE transaction_id = %s ORDER BY seq_no", tx["id"]
                )
                assert [seq for (seq,) in events] == list(range(len(events)))
