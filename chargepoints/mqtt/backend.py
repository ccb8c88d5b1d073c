"""Serving charge points connected to an EMQX OCPP gateway (`manage.py ocpp_mqtt`).

    charge point ──WebSocket──▶ EMQX (or ocpp_mqtt_gateway) ──MQTT──▶ this worker (× N, shared subscription)

Each worker subscribes to the upstream CALL topics as a shared subscription
(`$share/<MQTT_SHARE_GROUP>/ocpp/cp/+/+`: the broker gives each message to
one worker of the group, so N workers split the load and the survivors take
a dead worker's share at once), and to the reply and error topics without
sharing (every worker reads every answer and keeps those it waits for).

A CALL runs the WebSocket consumer's steps (`ocpp.processing.CallProcessor`:
schema, registration gate, limits, the version's handler with a `Session`)
and its CALLRESULT or CALLERROR goes to the downstream topic
(`ocpp/<id>/Reply/<action>`), as the envelope EMQX expects.

Presence: the gateway's connect/disconnect events are not used (EMQX puts
them on $SYS topics; Mosquitto forbids clients to publish there). A charge
point is connected by the first worker that hears from it while it is not
online (`services.charge_point_connect`, stamped with the worker's presence
lease, `chargepoints.presence`); that worker *holds* it: it joins the charge
point's channel-layer group, so `commands.acall` from the API, admin or CLI
reaches it and it sends the CALL downstream (`ocpp.outgoing.CommandRunner`).
Another worker that gets a message of a charge point held elsewhere answers
it all the same. A held charge point is marked offline when it has been
silent for MQTT_IDLE_TIMEOUT seconds; when its worker dies, the worker's
lease expires (OCPP_PRESENCE_TTL) and the next message makes a survivor hold
it. A WebSocket connection of the same identity takes it over (`session.takeover`).

Faults: a payload that is no envelope, larger than MQTT_MAX_PAYLOAD_BYTES, or
no well-formed frame is answered with the CALLERROR OCPP-J prescribes when
its UniqueId is readable, else dropped with a log line. A CALL delivered
twice (QoS 1) gets its first answer again without running its handler when
the same worker sees both; across workers the services' idempotence keeps
one row (StartTransaction, MeterValues, TransactionEvent). Nothing a message
carries stops the worker.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import time
import uuid
from dataclasses import dataclass, field

import aiomqtt
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.utils import timezone

from csms.channel_layer import LAYER_ERRORS

from .. import ocpp, presence, selectors, services, touching
from ..models import ChargePoint
from ..ocpp import rpc
from ..ocpp.outgoing import CommandRunner
from ..ocpp.processing import CallProcessor
from ..ocpp.session import Session
from . import connection, envelope
from .envelope import EnvelopeError, TopicError, Topics

logger = logging.getLogger("csms.mqtt.backend")

ANSWERED_CACHE_SIZE = 10_000  # (identity, UniqueId) of CALLs answered, for QoS 1 redeliveries
ELSEWHERE_RECHECK_S = 5.0  # how long a charge point is taken as held by another worker before asking again
MAX_CONCURRENT_MESSAGES = 200


@dataclass
class Served:
    """A charge point as this worker serves it: `held` when this worker connected it (group member, commands)."""

    session: Session
    calls: CallProcessor
    held: bool
    commands: CommandRunner | None = None
    channel: str | None = None
    receiver: asyncio.Task | None = None
    checked_at: float = field(default_factory=time.monotonic)
    seen_written_at: float = field(default_factory=time.monotonic)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class Backend:
    """One `manage.py ocpp_mqtt` worker. `run()` serves until cancelled, then lets go of the charge points it holds."""

    def __init__(self, *, topics: Topics | None = None, group: str | None = None, url: str | None = None):
        self.topics = topics or Topics.from_settings()
        self.group = group or settings.MQTT_SHARE_GROUP
        self.url = url or settings.MQTT_URL
        self.identifier = f"{settings.MQTT_CLIENT_ID_PREFIX}-backend-{presence.PROCESS_ID[:12]}"
        self.channel_layer = get_channel_layer()
        self.client: aiomqtt.Client | None = None
        self.served: dict[str, Served] = {}
        self._deciding: dict[str, asyncio.Lock] = {}
        self._answered: collections.OrderedDict[tuple[str, str], tuple[str, str]] = collections.OrderedDict()
        self._tasks: set[asyncio.Task] = set()
        self._slots = asyncio.Semaphore(MAX_CONCURRENT_MESSAGES)
        self.ready = asyncio.Event()  # set while subscribed

    async def run(self) -> None:
        """Serve until cancelled; on the way out, mark the charge points held here offline."""
        beats = asyncio.create_task(presence.run())
        sweeps = asyncio.create_task(self._sweep_idle())
        try:
            await connection.run(self._serve_broker, identifier=self.identifier, url=self.url, name="ocpp_mqtt")
        finally:
            beats.cancel()
            sweeps.cancel()
            for task in list(self._tasks):
                task.cancel()
            for charge_point_id in [cp for cp, served in self.served.items() if served.held]:
                await asyncio.shield(self._let_go(charge_point_id, "worker stopping"))

    # --- the broker ---------------------------------------------------------

    async def _serve_broker(self, client: aiomqtt.Client) -> None:
        for topic_filter in self.topics.call_filters():
            await client.subscribe(f"$share/{self.group}/{topic_filter}", qos=1)
        for topic_filter in self.topics.answer_filters():
            await client.subscribe(topic_filter, qos=1)
        self.client = client
        self.ready.set()
        logger.info("ocpp_mqtt: serving %s as share group %r", ", ".join(self.topics.upstream_filters()), self.group)
        try:
            async for message in client.messages:
                if envelope.user_property(message.properties, envelope.ORIGIN_PROPERTY):
                    continue  # a WebSocket charge point's frame mirrored by a bridge: served already
                await self._slots.acquire()
                self._spawn(self._handle(str(message.topic), bytes(message.payload or b""), message.properties))
        finally:
            self.ready.clear()
            self.client = None

    def _spawn(self, coroutine) -> asyncio.Task:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _publish(self, charge_point_id: str, frame: str, *, version: str, action: str | None = None) -> None:
        """Send `frame` to the charge point: its envelope to the downstream topic (QoS 1); dropped with a log line when the broker is away."""
        env = envelope.frame_to_envelope(frame, action=action)
        try:
            topic = self.topics.downstream_topic(charge_point_id, env)
        except TopicError:
            # An action that cannot be a topic level (a CALL of "Heart/beat" answered NotImplemented): EMQX routes by identity.
            env.pop("Action", None)
            topic = self.topics.downstream_topic(charge_point_id, env)
        if self.client is None:
            logger.warning("%s: broker unreachable; %s dropped", charge_point_id, topic)
            return
        try:
            await self.client.publish(topic, envelope.dumps(env), qos=1, properties=envelope.properties_for(version))
        except aiomqtt.MqttError as error:
            logger.warning("%s: %s not published (%s)", charge_point_id, topic, error)

    # --- messages in ----------------------------------------------------------

    async def _handle(self, topic: str, data: bytes, properties) -> None:
        try:
            await self._handle_message(topic, data, envelope.version_of(properties))
        except Exception:
            logger.exception("ocpp_mqtt: message on %s failed", topic)
        finally:
            self._slots.release()

    async def _handle_message(self, topic: str, data: bytes, version: str) -> None:
        if version not in ocpp.VERSIONS:
            logger.warning("ocpp_mqtt: %s: unsupported OCPP version %r; dropped", topic, version)
            return
        try:
            frame = envelope.envelope_to_frame(data, max_bytes=settings.MQTT_MAX_PAYLOAD_BYTES)
        except EnvelopeError as error:
            charge_point_id = self.topics.upstream_charge_point(topic, 2)
            if error.unique_id and charge_point_id:
                logger.warning("%s: bad envelope on %s: %s", charge_point_id, topic, error.reason)
                answer = rpc.RpcError(rpc.ErrorKind.FORMAT, f"not an OCPP envelope: {error.reason}", unique_id=error.unique_id)
                await self._publish(charge_point_id, answer.frame(version), version=version)
            else:
                logger.warning("ocpp_mqtt: %s: dropped what is no envelope (%s)", topic, error.reason)
            return
        raw = json.loads(frame)
        message_type = raw[0]
        charge_point_id = self.topics.upstream_charge_point(topic, message_type)
        if charge_point_id is None:
            logger.warning("ocpp_mqtt: %s: no identity in the topic for a message of type %s; dropped", topic, message_type)
            return
        try:
            message = rpc.parse_frame(frame)
        except rpc.RpcError as error:
            if message_type == 2:
                logger.warning("%s: bad frame: %s", charge_point_id, error.description)
                action = raw[2] if isinstance(raw[2], str) else None
                await self._publish(charge_point_id, error.frame(version), version=version, action=action)
            else:
                logger.warning("%s: bad answer dropped: %s", charge_point_id, error.description)
            return
        if isinstance(message, rpc.Call):
            await self._handle_call(charge_point_id, version, message)
        else:
            self._handle_answer(charge_point_id, message)

    def _handle_answer(self, charge_point_id: str, message: rpc.CallResult | rpc.CallError) -> None:
        # Every worker reads every answer: only the one that sent the CALL waits for it.
        served = self.served.get(charge_point_id)
        if served is not None and served.commands is not None and served.commands.waits_for(message.unique_id):
            served.commands.answer(message)

    async def _handle_call(self, charge_point_id: str, version: str, call: rpc.Call) -> None:
        key = (charge_point_id, call.unique_id)
        if key in self._answered:
            # A QoS 1 redelivery (or the charge point repeating itself): the same answer, not a second row.
            frame, action = self._answered[key]
            logger.info("%s: %s %s delivered again; answered as before", charge_point_id, call.action, call.unique_id)
            await self._publish(charge_point_id, frame, version=version, action=action)
            return
        try:
            served = await self._serve(charge_point_id, version)
        except services.ConnectionRefused as refused:
            logger.warning("%s: refused: %s", charge_point_id, refused.reason)
            error = rpc.RpcError(rpc.ErrorKind.SECURITY, "not a registered charge point", unique_id=call.unique_id)
            await self._publish(charge_point_id, error.frame(version), version=version, action=call.action)
            return
        except Exception:
            # The database or the channel layer failed: the charge point may retry an InternalError.
            logger.exception("%s: could not be served", charge_point_id)
            error = rpc.RpcError(rpc.ErrorKind.INTERNAL, f"{call.action} could not be processed", unique_id=call.unique_id)
            await self._publish(charge_point_id, error.frame(version), version=version, action=call.action)
            return
        async with served.lock:  # one CALL of a charge point at a time, in order
            if not served.session.accepted and call.action not in ocpp.dialect(version).ALLOWED_BEFORE_ACCEPTED:
                # The boot may have been answered by another worker.
                cp = await database_sync_to_async(selectors.charge_point_get)(charge_point_id=charge_point_id)
                served.session.accepted = cp is not None and cp.last_boot_status == "Accepted"
            frame, answered = await served.calls.answer(call)
            self._remember(key, frame, call.action)
            await self._publish(charge_point_id, frame, version=version, action=call.action)
            if answered:
                self._start_follow_ups(served)
        self._touch(served)

    def _remember(self, key: tuple[str, str], frame: str, action: str) -> None:
        self._answered[key] = (frame, action)
        if len(self._answered) > ANSWERED_CACHE_SIZE:
            self._answered.popitem(last=False)

    def _start_follow_ups(self, served: Served) -> None:
        follow_ups, served.session.follow_ups = served.session.follow_ups, []
        for make_coroutine in follow_ups:
            self._spawn(self._follow_up(served, make_coroutine))

    async def _follow_up(self, served: Served, make_coroutine) -> None:
        try:
            await make_coroutine()
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("%s: work after an answer failed", served.session.charge_point_id)

    def _touch(self, served: Served) -> None:
        now = time.monotonic()
        if now - served.seen_written_at < settings.OCPP_LAST_SEEN_WRITE_INTERVAL:
            return
        served.seen_written_at = now
        # In the background: the next message is not held up by it.
        self._spawn(self._write_last_seen(served.session.charge_point_id))

    async def _write_last_seen(self, charge_point_id: str) -> None:
        try:
            await touching.touch(charge_point_id)
        except Exception:
            logger.warning("%s: last_seen not written", charge_point_id, exc_info=True)

    # --- presence: which worker holds which charge point ----------------------

    async def _serve(self, charge_point_id: str, version: str) -> Served:
        """How this worker serves `charge_point_id` now: held here, held by another live worker, or connected here now.

        One decision at a time per charge point: messages of a charge point
        arriving together (a redelivery beside a new CALL) must not each connect it.
        Raises services.ConnectionRefused for an identity that may not connect.
        """
        lock = self._deciding.setdefault(charge_point_id, asyncio.Lock())
        async with lock:
            return await self._decide(charge_point_id, version)

    async def _decide(self, charge_point_id: str, version: str) -> Served:
        served = self.served.get(charge_point_id)
        if (
            served is not None
            and served.session.version == version
            and (served.held or time.monotonic() - served.checked_at < ELSEWHERE_RECHECK_S)
        ):
            return served
        cp = await database_sync_to_async(selectors.charge_point_presence)(charge_point_id=charge_point_id)
        if (
            cp is not None
            and cp.online
            and cp.server_process_id not in (None, presence.PROCESS_ID)
            and cp.ocpp_version == version
            and not (served is not None and served.held)
        ):
            session = self._session(charge_point_id, cp.session_id or uuid.uuid4().hex, version, cp.last_boot_status)
            served = self.served[charge_point_id] = Served(session=session, calls=CallProcessor(session), held=False)
            return served
        if served is not None and served.held:
            await self._let_go(charge_point_id, "version changed")
        return await self._hold(charge_point_id, version)

    @staticmethod
    def _session(charge_point_id: str, session_id: str, version: str, last_boot_status: str | None) -> Session:
        return Session(
            charge_point_id=charge_point_id,
            session_id=session_id,
            version=version,
            # 2.0.1 B02/B03, as over WebSocket: served once a boot of it was Accepted.
            accepted=not ocpp.dialect(version).REGISTRATION_GATED or last_boot_status == "Accepted",
        )

    async def _hold(self, charge_point_id: str, version: str) -> Served:
        session_id = uuid.uuid4().hex
        cp = await database_sync_to_async(services.charge_point_connect)(
            charge_point_id=charge_point_id,
            session_id=session_id,
            ocpp_version=version,
            allow_unknown=settings.OCPP_ALLOW_UNKNOWN_CHARGE_POINTS,
            via_gateway=True,
            server_process_id=presence.PROCESS_ID,
        )
        session = self._session(charge_point_id, session_id, version, cp.last_boot_status)
        served = Served(session=session, calls=CallProcessor(session), held=True)
        served.commands = CommandRunner(
            session=session,
            channel_layer=self.channel_layer,
            send_frame=lambda frame, logged=None: self._publish(charge_point_id, frame, version=version),
        )
        self.served[charge_point_id] = served
        presence.session_opened(charge_point_id, session_id)
        group = ChargePoint.group_name_for(charge_point_id)
        try:
            served.channel = await self.channel_layer.new_channel()
            # Whoever held it before (a WebSocket, another worker) lets go; then this worker joins.
            await self.channel_layer.group_send(group, {"type": "session.takeover", "session_id": session_id})
            await self.channel_layer.group_add(group, served.channel)
            served.receiver = asyncio.create_task(self._receive(charge_point_id, served))
        except LAYER_ERRORS as error:
            logger.error("%s: not in its group (%s): commands cannot reach it", charge_point_id, error)
        logger.info("%s: connected through the gateway (OCPP %s, session %s)", charge_point_id, version, session_id)
        return served

    async def _receive(self, charge_point_id: str, served: Served) -> None:
        """Channel-layer messages to the held charge point: commands, takeovers (trap 10: a layer failure is retried, never fatal)."""
        group = ChargePoint.group_name_for(charge_point_id)
        joined = time.monotonic()
        while True:
            try:
                event = await self.channel_layer.receive(served.channel)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                logger.warning("%s: channel layer receive failed (%s); retrying", charge_point_id, error)
                await asyncio.sleep(1)
                continue
            kind = event.get("type")
            if kind == "ocpp.call":
                await served.commands.enqueue(event)
            elif kind == "session.takeover" and event.get("session_id") != served.session.session_id:
                logger.info("%s: taken over by another connection", charge_point_id)
                self._spawn(self._let_go(charge_point_id, "taken over", served=served, disconnect=False))
                return
            if time.monotonic() - joined > 3600:  # channels-redis forgets members after a day (trap 5)
                joined = time.monotonic()
                try:
                    await self.channel_layer.group_add(group, served.channel)
                except LAYER_ERRORS:
                    pass

    async def _let_go(self, charge_point_id: str, reason: str, *, served: Served | None = None, disconnect: bool = True) -> None:
        """Stop holding `charge_point_id` (its session `served`, by default the current one): fail its commands, leave its group, and (with `disconnect`) mark it offline."""
        current = self.served.get(charge_point_id)
        served = served or current
        if served is None or not served.held:
            return
        if current is served:
            del self.served[charge_point_id]
        presence.session_closed(charge_point_id, served.session.session_id)
        if served.receiver is not None and served.receiver is not asyncio.current_task():
            served.receiver.cancel()
        await served.commands.fail_all()
        if served.channel is not None:
            try:
                await self.channel_layer.group_discard(ChargePoint.group_name_for(charge_point_id), served.channel)
            except LAYER_ERRORS as error:
                logger.warning("%s: group not left (%s)", charge_point_id, error)
        if disconnect:
            await database_sync_to_async(services.charge_point_disconnect)(
                charge_point_id=charge_point_id, session_id=served.session.session_id
            )
        logger.info("%s: no longer held here (%s)", charge_point_id, reason)

    async def _sweep_idle(self) -> None:
        """Every few seconds: let go of held charge points silent for MQTT_IDLE_TIMEOUT seconds (marked offline)."""
        idle = settings.MQTT_IDLE_TIMEOUT
        if not idle:
            return
        while True:
            await asyncio.sleep(min(30.0, max(1.0, idle / 4)))
            held = [cp for cp, served in self.served.items() if served.held]
            if not held:
                continue
            try:
                last_seen = await database_sync_to_async(selectors.charge_points_last_seen)(charge_point_ids=held)
            except Exception:
                logger.warning("ocpp_mqtt: idle charge points not checked", exc_info=True)
                continue
            now = timezone.now()
            for charge_point_id in held:
                seen = last_seen.get(charge_point_id)
                if seen is None or (now - seen).total_seconds() > idle:
                    await self._let_go(charge_point_id, f"silent for more than {idle:g} s")
