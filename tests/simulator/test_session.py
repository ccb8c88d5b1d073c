"""A station's session loop without a central system: what it queues, in which order, at which rate."""

import asyncio
import random
from datetime import datetime

from simulator.station import SessionRequest, Station, StationSettings


def offline_station(version: str, **settings) -> Station:
    station = Station(
        StationSettings(station_id=f"OFF-{version}", version=version, connectors=1, step_s=0.0, shutdown_s=0.0, **settings),
        url=lambda: "ws://127.0.0.1:9/ocpp/",
        seed=2,
    )
    station.boots = 1  # booted once, now without a connection
    station.local_list.update(version=1, full=True, entries={"LISTED": "Accepted"})
    return station


def energy_of(event) -> float:
    [value] = [v["value"] for v in event.meter_value[0]["sampledValue"] if v["measurand"] == "Energy.Active.Import.Register"]
    return value


async def test_an_offline_201_session_queues_started_updates_and_ended_in_order_flagged_offline():
    station = offline_station("2.0.1", sample_interval_s=0.05, session_s=(0.6, 0.6))
    await station._run_session(station.connectors[1], SessionRequest("LISTED"), random.Random(1))
    events = [m.build() for m in station.tx_queue]
    kinds = [e.event_type for e in events]
    assert kinds[0] == "Started" and kinds[-1] == "Ended" and set(kinds[1:-1]) == {"Updated"}
    assert 4 <= len(kinds) - 2 <= 13  # about one sample per 50 ms for 0.6 s (fewer on a busy machine)
    assert [e.seq_no for e in events] == list(range(len(events)))
    assert all(e.offline for e in events)
    assert len({e.transaction_info["transactionId"] for e in events}) == 1
    energy = [energy_of(e) for e in events]
    assert energy == sorted(energy) and energy[-1] > energy[0]
    stamps = [e.meter_value[0]["timestamp"] for e in events]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    assert events[-1].transaction_info["stoppedReason"] in ("Local", "EVDisconnected")
    assert station.connectors[1].status == "Available" and station.connectors[1].session is None


async def test_an_unknown_id_tag_does_not_charge_offline():
    station = offline_station("1.6", session_s=(0.2, 0.2))
    await station._run_session(station.connectors[1], SessionRequest("STRANGER"), random.Random(1))
    assert len(station.tx_queue) == 0 and station.stats["sessions"] == 0
    station.config.set("AllowOfflineTxForUnknownId", "true")
    await station._run_session(station.connectors[1], SessionRequest("STRANGER"), random.Random(1))
    assert [m.action for m in station.tx_queue][0] == "StartTransaction"


async def test_a_new_meter_value_sample_interval_applies_to_the_running_session():
    station = offline_station("2.0.1", sample_interval_s=0.04, session_s=(0.8, 0.8))
    session = asyncio.create_task(station._run_session(station.connectors[1], SessionRequest("LISTED"), random.Random(1)))
    await asyncio.sleep(0.4)
    assert station.config.set("MeterValueSampleInterval", "0.2") == "Accepted"
    changed = datetime.now().astimezone()
    await session
    updates = [m.build() for m in station.tx_queue if m.action == "TransactionEvent Updated"]
    stamps = [datetime.fromisoformat(u.meter_value[0]["timestamp"].replace("Z", "+00:00")) for u in updates]
    before = [s for s in stamps if s < changed]
    after = [s for s in stamps if s >= changed]
    assert len(before) >= 3
    assert 1 <= len(after) <= 3


async def test_a_remote_stop_ends_the_session_with_reason_remote():
    station = offline_station("1.6", sample_interval_s=0.05, session_s=(30, 30))
    session = asyncio.create_task(station._run_session(station.connectors[1], SessionRequest("LISTED"), random.Random(1)))
    await asyncio.sleep(0.2)
    running = station.connectors[1].session
    running.server_transaction_id = 900  # as if the StartTransaction had been answered
    assert station.remote_stop(900)
    await asyncio.wait_for(session, 2)
    stop = [m for m in station.tx_queue if m.action == "StopTransaction"][0].build()
    assert (stop.reason, stop.transaction_id) == ("Remote", 900)


def test_readings_of_a_connector_never_share_a_millisecond():
    station = offline_station("1.6")
    connector = station.connectors[1]
    stamps = [station.reading(connector, "Sample.Periodic").timestamp for _ in range(50)]
    sent = [s.isoformat(timespec="milliseconds") for s in stamps]
    assert len(set(sent)) == 50 and sent == sorted(sent)
