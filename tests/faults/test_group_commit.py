"""kill -9 of a server process while it group-commits MeterValues: no acknowledged reading is lost (docs/reliability.md).

Twenty charge points send MeterValues back to back, each reading with its own
value, so that batches of many charge points are being written when the
process dies. Every reading a CALLRESULT acknowledged must be in the database:
the group commit (transactions/batching.py) answers only after its commit.
"""

from __future__ import annotations

import asyncio
import json
import time

import websockets

from tests.e2e.deployment import Database, auth_headers, deploy

CHARGE_POINTS = [f"CP-GC{n}" for n in range(20)]
LOAD_S = 3


async def pump(url: str, acknowledged: list[str], in_flight: dict[str, str], stop: asyncio.Event) -> None:
    """Send MeterValues one after the other until the connection dies; record each acknowledged reading's value."""
    cp_id = url.rsplit("/", 1)[-1]
    async with websockets.connect(url, subprotocols=["ocpp1.6"], additional_headers=auth_headers(url), open_timeout=10) as ws:
        await ws.send(json.dumps([2, "boot", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}]))
        assert json.loads(await ws.recv())[0] == 3
        n = 0
        try:
            while True:
                n += 1
                value = f"{cp_id}/{n}"
                seconds = n % 60
                minutes = n // 60
                reading = {"timestamp": f"2026-12-05T10:{minutes:02d}:{seconds:02d}Z", "sampledValue": [{"value": value}]}
                in_flight[cp_id] = value
                await ws.send(json.dumps([2, str(n), "MeterValues", {"connectorId": 1, "meterValue": [reading]}]))
                reply = json.loads(await ws.recv())
                assert reply[:2] == [3, str(n)], reply
                acknowledged.append(value)
                del in_flight[cp_id]
                if stop.is_set():
                    # Keep the load on until the process is gone.
                    await asyncio.sleep(0)
        except websockets.ConnectionClosed:
            return


def test_kill_9_during_group_commits_loses_no_acknowledged_reading(tmp_path):
    with deploy(tmp_path, name="faults-gc", servers=1) as dep:
        for cp_id in CHARGE_POINTS:
            assert dep.api("POST", "/api/v1/chargepoints/", {"id": cp_id})[0] == 201
        server = dep.servers[0]
        acknowledged: list[str] = []
        in_flight: dict[str, str] = {}

        async def run() -> None:
            stop = asyncio.Event()
            pumps = [asyncio.create_task(pump(server.ws(f"/ocpp/{cp_id}"), acknowledged, in_flight, stop)) for cp_id in CHARGE_POINTS]
            await asyncio.sleep(LOAD_S)
            stop.set()
            server.process.kill()  # SIGKILL: no shutdown, no flush
            await asyncio.wait_for(asyncio.gather(*pumps), 30)

        started = time.monotonic()
        asyncio.run(run())
        server.process.wait(10)

        database = Database(dep.env["DATABASE_URL"])
        stored = {row[0] for row in database.rows("SELECT value FROM transactions_metervalue")}
        lost = [value for value in acknowledged if value not in stored]
        assert len(acknowledged) > 100, f"only {len(acknowledged)} readings acknowledged in {time.monotonic() - started:.1f} s: no load"
        assert in_flight, "no reading was in flight when the process died"
        assert not lost, f"{len(lost)} acknowledged readings lost, e.g. {lost[:5]}"
