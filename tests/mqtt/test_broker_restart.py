"""The broker restarting under a live charge point: gateway and worker reconnect with backoff and the session goes on."""

from __future__ import annotations

import asyncio

import pytest
import websockets
from ocpp.v16 import ChargePoint as OcppClient
from ocpp.v16 import call
from ocpp.v16.enums import RegistrationStatus

from tests.e2e.deployment import auth_headers
from tests.mqtt.conftest import mqtt_deploy
from tests.mqtt.mosquitto import MosquittoServer
from tests.mqtt.processes import start_gateway, start_worker
from tests.waiting import eventually

pytestmark = pytest.mark.e2e

CP = "MQ-RESTART-1"


def test_gateway_and_worker_reconnect_after_the_broker_restarts_and_the_session_goes_on(tmp_path, topics, redis_url):
    with MosquittoServer(tmp_path) as broker, mqtt_deploy(tmp_path, broker.url, topics, redis_url) as dep:
        assert dep.api("POST", "/api/v1/chargepoints/", {"id": CP})[0] == 201
        gateway = start_gateway(dep)
        worker = start_worker(dep, "W1")
        url = gateway.ws(f"/ocpp/{CP}")

        async def scenario():
            async with websockets.connect(url, subprotocols=["ocpp1.6"], additional_headers=auth_headers(url)) as ws:
                station = OcppClient(CP, ws, response_timeout=10)
                listener = asyncio.create_task(station.start())
                try:
                    boot = await station.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
                    assert boot.status == RegistrationStatus.accepted
                    broker.kill()
                    await asyncio.sleep(1)
                    broker.start()

                    def reconnected():
                        return gateway.log().count("connected to the broker") >= 2 and worker.log().count("connected to the broker") >= 2

                    await asyncio.to_thread(eventually, reconnected, 30)
                    await asyncio.sleep(0.5)  # subscriptions are made again right after connecting
                    return await station.call(call.Heartbeat())
                finally:
                    listener.cancel()

        heartbeat = asyncio.run(scenario())

        assert heartbeat.current_time
        assert "broker connection lost" in worker.log()
