"""What a back-end worker does with broken, oversized and repeated messages: answer or drop, store once, never die."""

from __future__ import annotations

import asyncio
import json

import aiomqtt
import pytest

from chargepoints.mqtt import connection, envelope
from tests.e2e.deployment import Database
from tests.mqtt.conftest import mqtt_deploy
from tests.mqtt.processes import start_worker
from tests.waiting import eventually

pytestmark = pytest.mark.e2e

CP = "MQ-FAULT-1"


async def answers(client, count: int, timeout: float = 10) -> list[tuple[str, dict]]:
    received = []
    async with asyncio.timeout(timeout):
        async for message in client.messages:
            received.append((str(message.topic), json.loads(message.payload)))
            if len(received) == count:
                return received


def test_broken_oversized_and_repeated_messages_are_answered_or_dropped_and_stored_once(tmp_path, broker_url, topics, redis_url):
    with mqtt_deploy(tmp_path, broker_url, topics, redis_url, MQTT_MAX_PAYLOAD_BYTES="2048", MQTT_IDLE_TIMEOUT="3") as dep:
        assert dep.api("POST", "/api/v1/chargepoints/", {"id": CP})[0] == 201
        assert dep.api("POST", "/api/v1/id-tags/", {"id_tag": "FAULT-CARD", "status": "Accepted"})[0] == 201
        worker = start_worker(dep, "W1")

        def upstream(action: str) -> str:
            return topics.upstream_topic(CP, {"MessageTypeId": 2, "Action": action})

        start = {
            "MessageTypeId": 2,
            "UniqueId": "start-1",
            "Action": "StartTransaction",
            "Payload": {"connectorId": 1, "idTag": "FAULT-CARD", "meterStart": 0, "timestamp": "2026-12-01T10:00:00+00:00"},
        }

        async def scenario():
            async with aiomqtt.Client(**connection.client_options(broker_url, identifier=None)) as client:
                await client.subscribe(topics.downstream_filter(CP), qos=1)
                publish = client.publish
                await publish(upstream("Heartbeat"), b"definitely not json", qos=1)  # dropped: no UniqueId to answer
                await publish(
                    upstream("Heartbeat"), b'{"MessageTypeId": 2, "UniqueId": "bad-1", "Action": "Heartbeat", "Payload": [1]}', qos=1
                )
                oversized = {
                    "MessageTypeId": 2,
                    "UniqueId": "big-1",
                    "Action": "DataTransfer",
                    "Payload": {"vendorId": "x", "data": "x" * 4000},
                }
                await publish(upstream("DataTransfer"), envelope.dumps(oversized), qos=1)
                got = await answers(client, 2)
                # A QoS 1 redelivery: the same StartTransaction twice.
                await publish(upstream("StartTransaction"), envelope.dumps(start), qos=1)
                await publish(upstream("StartTransaction"), envelope.dumps(start), qos=1)
                await publish(
                    upstream("Heartbeat"), envelope.dumps({"MessageTypeId": 2, "UniqueId": "hb-1", "Action": "Heartbeat", "Payload": {}})
                )
                return got + await answers(client, 3)

        got = asyncio.run(scenario())

        by_id = {}
        for topic, env in got:
            by_id.setdefault(env["UniqueId"], []).append((topic, env))
        [(topic, bad)] = by_id["bad-1"]
        assert topic == topics.downstream_topic(CP, {"MessageTypeId": 4, "Action": "Heartbeat"})
        assert bad["ErrorCode"] == "FormationViolation"
        [(_, big)] = by_id["big-1"]
        assert big["MessageTypeId"] == 4 and big["ErrorCode"] == "FormationViolation"
        first, second = (env for _, env in by_id["start-1"])
        assert first["MessageTypeId"] == 3 and second == first
        [(_, heartbeat)] = by_id["hb-1"]
        assert "currentTime" in heartbeat["Payload"]
        assert Database(dep.env["DATABASE_URL"]).value("SELECT COUNT(*) FROM transactions_transaction WHERE charge_point_id = %s", CP) == 1
        assert worker.process.poll() is None
        assert "dropped what is no envelope" in worker.log()
        # Silent for MQTT_IDLE_TIMEOUT: offline, though no gateway said so.
        assert dep.api("GET", f"/api/v1/chargepoints/{CP}/")[1]["online"]
        eventually(lambda: not dep.api("GET", f"/api/v1/chargepoints/{CP}/")[1]["online"], timeout=10)
        assert "silent for more than 3 s" in worker.log()
