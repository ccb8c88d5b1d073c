"""Two back-end workers sharing a fleet through the shared subscription, and one of them dying (SIGKILL)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import UTC, datetime, timedelta

import pytest
import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint as OcppClient
from ocpp.v16 import call, call_result
from ocpp.v16.enums import Action, ChargePointErrorCode, ChargePointStatus, RegistrationStatus

from tests.e2e.deployment import Database, auth_headers
from tests.mqtt.conftest import mqtt_deploy
from tests.mqtt.processes import start_gateway, start_worker

pytestmark = pytest.mark.e2e

FLEET = ["MQ-FLEET-1", "MQ-FLEET-2", "MQ-FLEET-3"]


class Station(OcppClient):
    @on(Action.get_configuration)
    def get_configuration(self, **kwargs):
        return call_result.GetConfiguration(configuration_key=[{"key": "HeartbeatInterval", "readonly": False, "value": "300"}])


@contextlib.asynccontextmanager
async def connected(url: str):
    async with websockets.connect(url, subprotocols=["ocpp1.6"], additional_headers=auth_headers(url)) as ws:
        station = Station(url.rsplit("/", 1)[-1], ws, response_timeout=10)
        listener = asyncio.create_task(station.start())
        try:
            yield station
        finally:
            listener.cancel()


def status(n: int) -> call.StatusNotification:
    # A new timestamp each: every one is a row of the status history.
    moment = datetime(2026, 12, 1, tzinfo=UTC) + timedelta(seconds=n)
    return call.StatusNotification(
        connector_id=1, error_code=ChargePointErrorCode.no_error, status=ChargePointStatus.available, timestamp=moment.isoformat()
    )


def test_two_workers_share_a_fleet_and_one_survives_the_other_s_death_with_no_lost_message(tmp_path, broker_url, topics, redis_url):
    with mqtt_deploy(tmp_path, broker_url, topics, redis_url, OCPP_PRESENCE_TTL="3") as dep:
        for charge_point_id in FLEET:
            assert dep.api("POST", "/api/v1/chargepoints/", {"id": charge_point_id})[0] == 201
        gateway = start_gateway(dep)
        first = start_worker(dep, "W1")
        start_worker(dep, "W2")

        async def scenario():
            async with contextlib.AsyncExitStack() as stack:
                stations = [await stack.enter_async_context(connected(gateway.ws(f"/ocpp/{cp}"))) for cp in FLEET]
                for station in stations:
                    assert (await station.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))).status == (
                        RegistrationStatus.accepted
                    )
                for n in range(6):
                    await asyncio.gather(*(station.call(status(n)) for station in stations))
                await asyncio.to_thread(first.kill)
                # Every message after the death is answered (the ocpp client raises on a 10 s timeout).
                for n in range(6, 12):
                    await asyncio.gather(*(station.call(status(n)) for station in stations))
                # Once W1's lease expired (OCPP_PRESENCE_TTL 3 s), the next message makes W2 hold its charge points.
                await asyncio.sleep(6)
                await asyncio.gather(*(station.call(call.Heartbeat()) for station in stations))
                answers = await asyncio.gather(*(asyncio.to_thread(command, dep, cp) for cp in FLEET))
                return answers

        answers = asyncio.run(scenario())

        assert [status for status, _ in answers] == [200, 200, 200]
        assert all(body["response"]["configurationKey"][0]["key"] == "HeartbeatInterval" for _, body in answers)
        database = Database(dep.env["DATABASE_URL"])
        for charge_point_id in FLEET:
            stored = database.value("SELECT COUNT(*) FROM chargepoints_statusnotification WHERE charge_point_id = %s", charge_point_id)
            assert stored == 12, charge_point_id
        logs = [process.log() for process in dep._mqtt_processes if process.name.startswith("worker")]
        assert all("connected through the gateway" in log for log in logs), "both workers served"


def command(dep, charge_point_id: str):
    deadline = time.monotonic() + 10
    while True:
        status, body = dep.api("POST", f"/api/v1/chargepoints/{charge_point_id}/commands/GetConfiguration/", {})
        if status == 200 or time.monotonic() > deadline:
            return status, body
        time.sleep(0.5)
