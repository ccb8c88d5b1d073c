"""Bridge mode (chargepoints/mqtt/bridge.py) on a real daphne process: WebSocket frames mirrored in EMQX's envelope; downstream CALLs as commands."""

from __future__ import annotations

import asyncio
import json

import aiomqtt
import pytest

from chargepoints.mqtt import connection, envelope
from tests.e2e.stations import ready, simulated
from tests.mqtt.conftest import topics_env

pytestmark = pytest.mark.e2e

CP = "BRIDGE-1"


@pytest.fixture
def bridged(tmp_path, broker_url, topics, redis_url):
    from tests.e2e.deployment import deploy

    env = {
        "MQTT_URL": broker_url,
        "MQTT_BRIDGE": "true",
        "MQTT_SERVICE_USER": "admin",
        "REDIS_URL": redis_url,
        "OCPP_COMMAND_TIMEOUT": "10",
        **topics_env(topics),
    }
    with deploy(tmp_path, name="e2e-bridge", env=env, servers=1) as dep:
        yield dep


async def collect(client, messages: list, until, timeout: float = 20):
    """Append (topic, envelope, properties) to `messages` until `until(messages)` is true."""
    async with asyncio.timeout(timeout):
        async for message in client.messages:
            messages.append((str(message.topic), json.loads(message.payload), message.properties))
            if until(messages):
                return


def test_a_session_s_frames_are_published_in_emqx_s_envelope_and_a_downstream_reset_is_a_command(bridged, broker_url, topics):
    dep = bridged
    assert dep.api("POST", "/api/v1/chargepoints/", {"id": CP})[0] == 201
    boot_topic = topics.upstream_topic(CP, {"MessageTypeId": 2, "Action": "BootNotification"})
    boot_answer_topic = topics.downstream_topic(CP, {"MessageTypeId": 3, "Action": "BootNotification"})
    reply_topic = topics.upstream_topic(CP, {"MessageTypeId": 3})

    async def scenario():
        async with aiomqtt.Client(**connection.client_options(broker_url, identifier=None)) as client:
            for topic_filter in [*topics.upstream_filters(), topics.downstream_filter(CP)]:
                await client.subscribe(topic_filter, qos=1)
            # Subscribed before the charge point connects: its boot is seen.
            with simulated(dep.servers[0].ws("/ocpp/"), {CP: "1.6"}) as sim:
                return await session(client, sim)

    async def session(client, sim):
        seen: list = []
        await asyncio.to_thread(ready, sim, CP)
        await collect(client, seen, lambda m: any(t == boot_answer_topic for t, _, _ in m))
        [(_, boot, properties)] = [m for m in seen if m[0] == boot_topic][:1]
        assert boot["MessageTypeId"] == 2 and boot["Action"] == "BootNotification"
        assert boot["Payload"]["chargePointVendor"]
        assert envelope.version_of(properties) == "1.6"
        [(_, answer, _)] = [m for m in seen if m[0] == boot_answer_topic][:1]
        assert answer["MessageTypeId"] == 3 and answer["UniqueId"] == boot["UniqueId"]
        assert answer["Action"] == "BootNotification" and answer["Payload"]["status"] == "Accepted"

        # A third-party service resets the charge point by publishing a CALL downstream.
        reset = {"MessageTypeId": 2, "UniqueId": "svc-1", "Action": "Reset", "Payload": {"type": "Soft"}}
        await client.publish(topics.downstream_topic(CP, reset), envelope.dumps(reset), qos=1)
        seen.clear()
        await collect(client, seen, lambda m: any(t == reply_topic and e["UniqueId"] == "svc-1" for t, e, _ in m))
        [reply] = [e for t, e, _ in seen if t == reply_topic and e["UniqueId"] == "svc-1"]
        return reply

    reply = asyncio.run(scenario())

    assert reply == {"MessageTypeId": 3, "UniqueId": "svc-1", "Action": "Reset", "Payload": {"status": "Accepted"}}
    status, page = dep.api("GET", f"/api/v1/commands/?charge_point={CP}&action=Reset")
    assert status == 200
    assert [(c["status"], c["source"]) for c in page["results"]] == [("answered", "system")]
    status, health = dep.api("GET", "/health")
    assert health["mqtt_bridge"]["published"] > 0
    assert health["mqtt_bridge"]["dropped"] == 0
