"""Bridge mode: the WebSocket charge points' frames, mirrored to MQTT as EMQX's gateway publishes them.

With MQTT_BRIDGE on (and MQTT_URL), every daphne process publishes every
frame in and out of every charge point connected to it over WebSocket:

    charge point → CSMS   CALL        ocpp/cp/<id>/<action>          (upstream, EMQX's topics)
                          answer      ocpp/cp/Reply/<id>, ocpp/cp/Error/<id>
    CSMS → charge point   any         ocpp/<id>/Request|Reply|Error/<action>   (downstream)

in EMQX's envelope (`envelope.frame_to_envelope`, answers with the Action
of the CALL they answer), QoS 1, with the user properties `ocpp-version`
and `csms-origin: bridge` (so that a back end or another bridge process
never takes a mirrored frame for its own work).

Commands from other services: a CALL envelope published by anyone else to
ocpp/<id>/Request/<action> is sent to the charge point through the command
path (`commands.acall`: command log, one CALL in flight, the permissions of
MQTT_SERVICE_USER, source "system"); the charge point's answer is published
to ocpp/cp/Reply/<id> (or a CALLERROR to ocpp/cp/Error/<id>) with the
service's UniqueId. One bridge process of the deployment takes each such
CALL (shared subscription $share/<MQTT_SHARE_GROUP>-bridge/…).

The session never waits for the broker: `frame()` puts the frame on a
bounded queue (MQTT_BRIDGE_QUEUE_SIZE) and returns; one task publishes. A
full queue or a broker outage drops frames, counted in `stats()` and shown
by /health. With the bridge off the consumer's cost is one check of `ACTIVE`.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging

import aiomqtt
from channels.db import database_sync_to_async
from django.conf import settings

from . import connection, envelope
from .envelope import EnvelopeError, TopicError, Topics

logger = logging.getLogger("csms.mqtt.bridge")

ACTIVE: bool = bool(settings.MQTT_BRIDGE and settings.MQTT_URL)
ORIGIN = "bridge"
_CALLS_REMEMBERED = 10_000


class Bridge:
    """The process's bridge: a bounded queue of frames, one publishing task, one reader of downstream CALLs."""

    def __init__(self, *, topics: Topics | None = None, url: str | None = None, queue_size: int | None = None):
        self.topics = topics or Topics.from_settings()
        self.url = url or settings.MQTT_URL
        self.queue: asyncio.Queue = asyncio.Queue(maxsize=queue_size or settings.MQTT_BRIDGE_QUEUE_SIZE)
        self.published = 0
        self.dropped = 0
        self.connected = False
        self._calls: collections.OrderedDict[tuple[str, str], str] = collections.OrderedDict()
        self._task: asyncio.Task | None = None
        self._commands: set[asyncio.Task] = set()

    # --- the hot path -------------------------------------------------------

    def frame(self, charge_point_id: str, version: str, direction: str, text: str) -> None:
        """Queue one frame (`direction` "in": from the charge point, "out": to it) for publishing; never blocks, never raises."""
        if self._task is None or self._task.done():
            self.start()
        try:
            self.queue.put_nowait((charge_point_id, version, direction, text))
        except asyncio.QueueFull:
            self.dropped += 1

    def stats(self) -> dict:
        """{"connected", "queued", "published", "dropped"}: for /health."""
        return {"connected": self.connected, "queued": self.queue.qsize(), "published": self.published, "dropped": self.dropped}

    # --- the publishing task ------------------------------------------------

    def start(self) -> None:
        """Start publishing (and reading downstream CALLs) on the running loop; cancel `self._task` to stop."""
        self._task = asyncio.get_running_loop().create_task(
            connection.run(self._serve, identifier=f"{settings.MQTT_CLIENT_ID_PREFIX}-bridge-{id(self):x}", url=self.url, name="bridge")
        )

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def _serve(self, client: aiomqtt.Client) -> None:
        await client.subscribe(f"$share/{settings.MQTT_SHARE_GROUP}-bridge/{self.topics.downstream_call_filter()}", qos=1)
        self.connected = True
        reader = asyncio.create_task(self._read(client))
        try:
            while True:
                item = await self.queue.get()
                try:
                    await self._publish(client, *item)
                except aiomqtt.MqttError:
                    self.dropped += 1
                    raise
        finally:
            self.connected = False
            reader.cancel()

    async def _publish(self, client: aiomqtt.Client, charge_point_id: str, version: str, direction: str, text: str) -> None:
        try:
            message = json.loads(text)
            unique_id = message[1]
            action = None
            if message[0] == 2:
                self._remember(charge_point_id, unique_id, message[2])
            else:
                action = self._calls.pop((charge_point_id, unique_id), None)
            env = envelope.frame_to_envelope(text, action=action)
            if direction == "in":
                topic = self.topics.upstream_topic(charge_point_id, env)
            else:
                topic = self.topics.downstream_topic(charge_point_id, env)
        except (ValueError, TypeError, IndexError, KeyError, EnvelopeError, TopicError):
            # A frame that is no OCPP-J (answered by the consumer) has no envelope.
            self.dropped += 1
            return
        await client.publish(topic, envelope.dumps(env), qos=1, properties=envelope.properties_for(version, origin=ORIGIN))
        self.published += 1

    def _remember(self, charge_point_id: str, unique_id, action) -> None:
        if isinstance(unique_id, str) and isinstance(action, str):
            self._calls[(charge_point_id, unique_id)] = action
            if len(self._calls) > _CALLS_REMEMBERED:
                self._calls.popitem(last=False)

    # --- CALLs from other services --------------------------------------------

    async def _read(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            if envelope.user_property(message.properties, envelope.ORIGIN_PROPERTY):
                continue  # a frame mirrored by a bridge: not a command
            version = envelope.version_of(message.properties)
            task = asyncio.create_task(self._command(client, str(message.topic), bytes(message.payload or b""), version))
            self._commands.add(task)
            task.add_done_callback(self._commands.discard)

    async def _command(self, client: aiomqtt.Client, topic: str, data: bytes, version: str) -> None:
        from .. import commands
        from ..models import CommandSource

        charge_point_id = self.topics.downstream_charge_point(topic)
        try:
            env = json.loads(data)
        except ValueError:
            env = None
        if (
            charge_point_id is None
            or not isinstance(env, dict)
            or env.get("MessageTypeId") != 2
            or not isinstance(env.get("UniqueId"), str)
        ):
            logger.warning("bridge: %s: not a CALL envelope; dropped", topic)
            return
        unique_id, action, payload = env["UniqueId"], env.get("Action"), env.get("Payload")
        answer: dict
        try:
            user = await database_sync_to_async(_service_user)()
            if user is None:
                raise commands.CommandError("no MQTT_SERVICE_USER with the send_command permission", error_code="SecurityError")
            if not isinstance(action, str) or not isinstance(payload, dict):
                raise commands.CommandError("Action must be a string and Payload an object", error_code="FormationViolation")
            result = await commands.acall(charge_point_id, action, payload, source=CommandSource.SYSTEM, user=user)
            answer = {"MessageTypeId": 3, "UniqueId": unique_id, "Action": action, "Payload": result.response}
        except commands.CommandError as error:
            answer = {
                "MessageTypeId": 4,
                "UniqueId": unique_id,
                "Action": action,
                "ErrorCode": error.details.get("error_code") or "InternalError",
                "ErrorDescription": error.details.get("error_description") or error.message,
                "ErrorDetails": {"reason": type(error).__name__},
            }
        except Exception:
            logger.exception("bridge: %s: command %s failed", charge_point_id, action)
            answer = {
                "MessageTypeId": 4,
                "UniqueId": unique_id,
                "Action": action,
                "ErrorCode": "InternalError",
                "ErrorDescription": "failed",
            }
        try:
            topic = self.topics.upstream_topic(charge_point_id, answer)
            await client.publish(topic, envelope.dumps(answer), qos=1, properties=envelope.properties_for(version))
        except (aiomqtt.MqttError, TopicError) as error:
            logger.warning("bridge: %s: answer to %s not published (%s)", charge_point_id, unique_id, error)


def _service_user():
    """The MQTT_SERVICE_USER when it exists and may send commands, else None."""
    from django.contrib.auth import get_user_model

    from ..permissions import can_send_commands

    if not settings.MQTT_SERVICE_USER:
        return None
    user = get_user_model().objects.filter(username=settings.MQTT_SERVICE_USER).first()
    return user if can_send_commands(user) else None


_bridge: Bridge | None = None


def get() -> Bridge:
    """The process's Bridge (made on first use)."""
    global _bridge
    if _bridge is None:
        _bridge = Bridge()
    return _bridge


def frame(charge_point_id: str, version: str, direction: str, text: str) -> None:
    """Mirror one frame of a WebSocket charge point (see the module docstring); call only when ACTIVE."""
    get().frame(charge_point_id, version, direction, text)
