"""Offline replay: the central system goes away mid-session, comes back, and gets every transaction message once, in order.

The daphne process is terminated while both charge points (1.6 and 2.0.1)
are charging; they keep charging, start new sessions on their authorization
cache, queue StartTransaction / MeterValues / StopTransaction (1.6) and
TransactionEvents flagged offline (2.0.1), reconnect with backoff to a new
process on the same database, and deliver the queue.
"""

import time
from datetime import UTC, datetime, timedelta

import pytest

from .conftest import Database, eventually, register, run_simulation

pytestmark = pytest.mark.e2e

CP16, CP201 = "SIMT-OFF16", "SIMT-OFF201"
ENERGY = "Energy.Active.Import.Register"


def completed(deployment, server, charge_point: str) -> list[dict]:
    status, page = deployment.api("GET", f"/api/v1/transactions/?charge_point={charge_point}&limit=500", server=server)
    assert status == 200, page
    return page["results"]


def offline_starts(sim, charge_point: str) -> list:
    """Sessions whose start message is waiting in the queue, created while offline."""

    def collect():
        return [
            m.session
            for m in sim.stations[charge_point].tx_queue
            if m.queued_offline and m.action in ("StartTransaction", "TransactionEvent Started")
        ]

    return sim.call(collect)


def collapse(values: list) -> list:
    """Consecutive duplicates merged: a message retried after a lost answer shows up twice in a row."""
    return [v for i, v in enumerate(values) if i == 0 or v != values[i - 1]]


def test_transactions_queued_while_the_central_system_is_down_arrive_in_order_exactly_once(deployment, server):
    assert deployment.api("POST", "/api/v1/id-tags/", {"id_tag": "SIMT-TAG"})[0] == 201
    register(deployment, CP16, CP201)
    database = Database(deployment)
    with run_simulation(
        server.ws("/ocpp/"),
        [CP16, CP201],
        "1.6,2.0.1",
        connectors=1,
        sample_interval_s=0.25,
        session_s=(1.5, 2.0),
        pause_s=(0.2, 0.4),
        backoff_cap_s=0.5,
    ) as sim:
        for cp in (CP16, CP201):
            eventually(lambda cp=cp: any(t["stop_timestamp"] for t in completed(deployment, server, cp)), 20)

        down_at = datetime.now(UTC)
        server.process.terminate()
        server.process.wait(10)
        eventually(lambda cp=cp: all(sim.stations[cp].state in ("offline", "connecting") for cp in (CP16, CP201)), 10)
        # Charging goes on: wait for sessions started offline, with meter values queued behind them.
        started_offline = {}
        for cp in (CP16, CP201):
            started_offline[cp] = eventually(lambda cp=cp: offline_starts(sim, cp), 10)
        eventually(lambda cp=cp: all(len(sim.stations[cp].tx_queue) >= 6 for cp in (CP16, CP201)), 10)
        queued_while_down = {cp: len(sim.stations[cp].tx_queue) for cp in (CP16, CP201)}
        assert all(sim.stations[cp].state != "online" for cp in (CP16, CP201))

        second = deployment.start_server()
        up_at = datetime.now(UTC)
        sim.set_url(second.ws("/ocpp/"))
        for cp in (CP16, CP201):
            eventually(lambda cp=cp: sim.stations[cp].state == "online" and len(sim.stations[cp].tx_queue) == 0, 20)
        time.sleep(0.5)
    # Stopped gracefully: running sessions ended and delivered.
    sessions = {cp: sim.stations[cp].stats["sessions"] for cp in (CP16, CP201)}
    assert sim.stations[CP16].tx_queue.given_up == sim.stations[CP201].tx_queue.given_up == 0
    assert min(queued_while_down.values()) >= 6
    window = (down_at + timedelta(seconds=0.5), up_at)

    # --- 1.6: every StartTransaction once (one transaction per session), the queued ones mapped to their ids.
    transactions = completed(deployment, second, CP16)
    assert len(transactions) == sessions[CP16]
    assert all(t["stop_timestamp"] and not t["is_orphan"] for t in transactions)
    for session in started_offline[CP16]:
        assert session.server_transaction_id in {t["id"] for t in transactions}
    [(unlinked,)] = database.rows(
        "SELECT COUNT(*) FROM transactions_metervalue WHERE charge_point_id = %s AND transaction_id IS NULL", CP16
    )
    assert unlinked == 0
    for tx in transactions:
        rows = database.rows(
            "SELECT timestamp FROM transactions_metervalue WHERE transaction_id = %s AND measurand = %s AND phase = '' ORDER BY id",
            tx["id"],
            ENERGY,
        )
        arrived = [_moment(ts) for (ts,) in rows]
        assert collapse(arrived) == sorted(set(arrived)), f"meter values of {tx['id']} out of order"
        offline = [ts for ts in arrived if window[0] <= ts <= window[1]]
        assert len(offline) == len(set(offline)), f"meter values of {tx['id']} queued offline arrived twice"
    offline_tx = [t for t in transactions if t["id"] in {s.server_transaction_id for s in started_offline[CP16]}]
    assert offline_tx and all(t["energy_wh"] > 0 for t in offline_tx)

    # --- 2.0.1: every event once, in seqNo order, those generated offline flagged so.
    transactions = completed(deployment, second, CP201)
    assert len(transactions) == sessions[CP201]
    offline_ids = {s.transaction_id for s in started_offline[CP201]}
    seen_offline = set()
    for tx in transactions:
        [(station_tx_id,)] = database.rows("SELECT station_transaction_id FROM transactions_transaction WHERE id = %s", tx["id"])
        events = database.rows(
            "SELECT seq_no, event_type, offline FROM transactions_transactionevent WHERE transaction_id = %s ORDER BY id", tx["id"]
        )
        assert [seq for seq, _, _ in events] == list(range(len(events))), f"events of {station_tx_id} out of order"
        assert events[0][1] == "Started" and events[-1][1] == "Ended"
        if station_tx_id in offline_ids:
            assert events[0][2], "a Started event queued offline is flagged offline"
            seen_offline.add(station_tx_id)
        rows = database.rows(
            "SELECT timestamp FROM transactions_metervalue WHERE transaction_id = %s AND measurand = %s AND phase = '' ORDER BY id",
            tx["id"],
            ENERGY,
        )
        arrived = [_moment(ts) for (ts,) in rows]
        assert arrived == sorted(set(arrived)), f"meter values of {station_tx_id} out of order or repeated"
        assert tx["energy_wh"] is not None and tx["energy_wh"] >= 0
    assert seen_offline == offline_ids


def _moment(value) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)
