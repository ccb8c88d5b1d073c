"""The development gateway (chargepoints/mqtt/gateway.py) against Mosquitto: EMQX's topics and envelope both ways."""

from __future__ import annotations

import asyncio
import contextlib
import json

import aiomqtt
import pytest
import websockets
from channels.db import database_sync_to_async

from bench.deployment import free_port
from chargepoints import security, services
from chargepoints.mqtt import connection, envelope
from chargepoints.mqtt.gateway import Gateway


@contextlib.asynccontextmanager
async def running_gateway(broker_url, topics, *, authenticate=False):
    gateway = Gateway(host="127.0.0.1", port=free_port(), mqtt_url=broker_url, topics=topics, authenticate=authenticate)
    task = asyncio.create_task(gateway.run())
    try:
        await asyncio.wait_for(gateway.ready.wait(), 10)
        yield gateway
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@contextlib.asynccontextmanager
async def service(broker_url, topics):
    """An MQTT client subscribed to every upstream topic, as a back end would be."""
    async with aiomqtt.Client(**connection.client_options(broker_url, identifier=None)) as client:
        for topic_filter in topics.upstream_filters():
            await client.subscribe(topic_filter, qos=1)
        yield client


async def next_message(client, timeout=5):
    async with asyncio.timeout(timeout):
        async for message in client.messages:
            return message


async def test_a_charge_point_s_call_is_published_in_emqx_s_envelope_on_its_action_topic(broker_url, topics):
    async with running_gateway(broker_url, topics) as gateway, service(broker_url, topics) as client:
        url = f"ws://127.0.0.1:{gateway.port}/ocpp/CP-1"
        async with websockets.connect(url, subprotocols=["ocpp1.6"]) as socket:
            await socket.send(json.dumps([2, "u1", "Heartbeat", {}]))
            message = await next_message(client)

            assert str(message.topic) == topics.upstream.replace("${cid}", "CP-1").replace("${action}", "Heartbeat")
            assert json.loads(message.payload) == {"MessageTypeId": 2, "UniqueId": "u1", "Action": "Heartbeat", "Payload": {}}
            assert envelope.version_of(message.properties) == "1.6"

            # The service answers on the downstream topic; the charge point gets the frame.
            answer = {"MessageTypeId": 3, "UniqueId": "u1", "Action": "Heartbeat", "Payload": {"currentTime": "2026-01-01T00:00:00Z"}}
            await client.publish(topics.downstream_topic("CP-1", answer), envelope.dumps(answer), qos=1)
            assert json.loads(await asyncio.wait_for(socket.recv(), 5)) == [3, "u1", {"currentTime": "2026-01-01T00:00:00Z"}]


async def test_a_service_call_reaches_the_charge_point_and_its_answer_goes_to_the_reply_topic_with_the_action(broker_url, topics):
    async with (
        running_gateway(broker_url, topics) as gateway,
        service(broker_url, topics) as client,
        websockets.connect(f"ws://127.0.0.1:{gateway.port}/ocpp/CP-2", subprotocols=["ocpp2.0.1"]) as socket,
    ):
        await asyncio.sleep(0.2)  # the gateway subscribes ocpp/CP-2/+/+ once the socket is open
        call = {"MessageTypeId": 2, "UniqueId": "c1", "Action": "Reset", "Payload": {"type": "Immediate"}}
        await client.publish(topics.downstream_topic("CP-2", call), envelope.dumps(call), qos=1)
        assert json.loads(await asyncio.wait_for(socket.recv(), 5)) == [2, "c1", "Reset", {"type": "Immediate"}]

        await socket.send(json.dumps([3, "c1", {"status": "Accepted"}]))
        message = await next_message(client)

        assert str(message.topic) == topics.reply.replace("${cid}", "CP-2")
        assert json.loads(message.payload) == {
            "MessageTypeId": 3,
            "UniqueId": "c1",
            "Action": "Reset",
            "Payload": {"status": "Accepted"},
        }
        assert envelope.version_of(message.properties) == "2.0.1"


async def test_a_frame_that_is_no_ocpp_j_is_answered_by_the_gateway_and_not_published(broker_url, topics):
    async with (
        running_gateway(broker_url, topics) as gateway,
        service(broker_url, topics) as client,
        websockets.connect(f"ws://127.0.0.1:{gateway.port}/ocpp/CP-3", subprotocols=["ocpp1.6"]) as socket,
    ):
        await socket.send("{not json")
        answer = json.loads(await asyncio.wait_for(socket.recv(), 5))

        assert answer[0] == 4
        with pytest.raises(TimeoutError):
            await next_message(client, timeout=0.5)


@pytest.mark.django_db(transaction=True)
async def test_it_accepts_a_charge_point_with_its_password_and_refuses_one_without(broker_url, topics):
    def register():
        services.charge_point_create(charge_point_id="CP-4")
        return services.charge_point_password_set(charge_point_id="CP-4")

    password = await database_sync_to_async(register)()
    async with running_gateway(broker_url, topics, authenticate=True) as gateway:
        url = f"ws://127.0.0.1:{gateway.port}/ocpp/CP-4"
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(url, subprotocols=["ocpp1.6"]):
                pass
        assert refused.value.response.status_code == 401

        headers = {"Authorization": security.basic_authorization("CP-4", password)}
        async with websockets.connect(url, subprotocols=["ocpp1.6"], additional_headers=headers) as socket:
            assert socket.subprotocol == "ocpp1.6"
