"""A stand-in for EMQX's OCPP gateway, for development and tests (`manage.py ocpp_mqtt_gateway`).

Charge points connect over WebSocket to ws://host:port/ocpp/<id> (OCPP-J,
subprotocol ocpp1.6 or ocpp2.0.1), with HTTP Basic auth as EMQX asks for it.
Every frame becomes an MQTT publish with EMQX's topics and envelope
(`envelope.Topics`), QoS 1, its OCPP version as the `ocpp-version` user
property; what the service publishes to ocpp/<id>/+/+ is sent to the charge
point as a frame. No handler runs here and nothing is stored: the back end
(`manage.py ocpp_mqtt`) does that.

Authentication (EMQX's authn, here against the CSMS database): with
`authenticate` on, a charge point must send the Basic-auth username of its
identity and its password (or the pending one of a rotation); others are
refused with HTTP 401 before the upgrade.

What EMQX does that this does not: its own schema validation, keepalive
enforcement, client events on $SYS topics (Mosquitto refuses client
publishes there).
"""

from __future__ import annotations

import asyncio
import http
import json
import logging
import urllib.parse
import uuid
from dataclasses import dataclass, field

import aiomqtt
from channels.db import database_sync_to_async
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from .. import ocpp, security
from ..models import IDENTITY_RE, ChargePoint
from ..ocpp import rpc
from . import connection, envelope
from .envelope import EnvelopeError, TopicError, Topics

logger = logging.getLogger("csms.mqtt.gateway")


@dataclass
class _ChargePoint:
    """One charge point connected here: its socket, version, and the CALLs sent to it by unique id → action."""

    socket: ServerConnection
    version: str
    calls: dict[str, str] = field(default_factory=dict)


def _credentials_valid(charge_point_id: str, credentials: tuple[str, str] | None) -> bool:
    """Whether `credentials` are the identity and (current or pending) password of a registered charge point."""
    if credentials is None or credentials[0] != charge_point_id:
        return False
    cp = ChargePoint.objects.filter(pk=charge_point_id).only("password_hash", "pending_password_hash").first()
    if cp is None:
        return False
    return security.password_matches(credentials[1], cp.password_hash) or security.password_matches(
        credentials[1], cp.pending_password_hash
    )


class Gateway:
    """Serves charge point WebSockets on `host`:`port` and relays them through the broker at `mqtt_url` (EMQX's contract)."""

    def __init__(self, *, host: str, port: int, mqtt_url: str, topics: Topics | None = None, authenticate: bool = True):
        self.host, self.port, self.mqtt_url = host, port, mqtt_url
        self.topics = topics or Topics()
        self.authenticate = authenticate
        self.connected: dict[str, _ChargePoint] = {}
        self.client: aiomqtt.Client | None = None
        self.identifier = f"ocpp-gateway-{uuid.uuid4().hex[:8]}"
        self.ready = asyncio.Event()  # set while connected to the broker

    async def run(self) -> None:
        """Serve until cancelled."""
        async with serve(
            self._serve_socket,
            self.host,
            self.port,
            subprotocols=list(ocpp.SUBPROTOCOLS),
            select_subprotocol=self._select_subprotocol,
            process_request=self._check_request,
        ):
            logger.info("gateway: charge points at ws://%s:%s/ocpp/<id>", self.host, self.port)
            await connection.run(self._serve_broker, identifier=self.identifier, url=self.mqtt_url, name="gateway")

    @staticmethod
    def _select_subprotocol(socket: ServerConnection, offered) -> str | None:
        for name in ocpp.SUBPROTOCOLS:  # newest first, as the CSMS chooses
            if name in offered:
                return name
        return None  # none offered: OCPP 1.6 without one

    @staticmethod
    def _identity(path: str) -> str | None:
        parts = urllib.parse.urlsplit(path).path.rstrip("/").split("/")
        if len(parts) < 3 or parts[1] != "ocpp":
            return None
        identity = urllib.parse.unquote(parts[-1])
        return identity if IDENTITY_RE.match(identity) else None

    async def _check_request(self, socket: ServerConnection, request):
        identity = self._identity(request.path)
        if identity is None:
            return socket.respond(http.HTTPStatus.NOT_FOUND, "not /ocpp/<charge point id>\n")
        try:
            self.topics.downstream_filter(identity)
        except TopicError:
            logger.warning("gateway: refused %r: the identity cannot be an MQTT topic level", identity)
            return socket.respond(http.HTTPStatus.BAD_REQUEST, "identity cannot be an MQTT topic level\n")
        if self.authenticate:
            credentials = security.basic_credentials(request.headers.get("Authorization"), identity)
            if not await database_sync_to_async(_credentials_valid)(identity, credentials):
                logger.warning("gateway: refused %s: authentication failed", identity)
                return socket.respond(http.HTTPStatus.UNAUTHORIZED, "authentication failed\n")
        return None

    async def _serve_socket(self, socket: ServerConnection) -> None:
        identity = self._identity(socket.request.path)
        version = ocpp.SUBPROTOCOLS.get(socket.subprotocol, "1.6")
        older = self.connected.get(identity)
        if older is not None:
            await older.socket.close(4000, "replaced by a newer connection")
        me = self.connected[identity] = _ChargePoint(socket, version)
        await self._subscribe(identity)
        logger.info("gateway: %s connected (OCPP %s)", identity, version)
        try:
            async for frame in socket:
                if isinstance(frame, bytes):
                    frame = frame.decode("utf-8", errors="replace")
                await self._upstream(identity, me, frame)
        except ConnectionClosed:
            pass
        finally:
            if self.connected.get(identity) is me:
                del self.connected[identity]
                await self._unsubscribe(identity)
            logger.info("gateway: %s disconnected", identity)

    async def _upstream(self, identity: str, me: _ChargePoint, frame: str) -> None:
        try:
            message = json.loads(frame)
            unique_id = message[1] if isinstance(message, list) and len(message) > 1 else None
            action = me.calls.pop(unique_id, None) if isinstance(unique_id, str) and message[0] in (3, 4) else None
            env = envelope.frame_to_envelope(frame, action=action)
            topic = self.topics.upstream_topic(identity, env)
        except (ValueError, EnvelopeError, TopicError) as error:
            # EMQX answers what it cannot turn into an envelope itself.
            try:
                rpc.parse_frame(frame)
                answer = rpc.RpcError(rpc.ErrorKind.FORMAT, f"cannot be relayed: {error}")
            except rpc.RpcError as parse_error:
                answer = parse_error
            logger.warning("gateway: %s: frame not relayed: %s", identity, error)
            await me.socket.send(answer.frame(me.version))
            return
        if self.client is None:
            logger.warning("gateway: %s: broker unreachable, frame dropped", identity)
            return
        try:
            await self.client.publish(topic, envelope.dumps(env), qos=1, properties=envelope.properties_for(me.version))
        except aiomqtt.MqttError as error:
            logger.warning("gateway: %s: frame not published (%s)", identity, error)

    async def _subscribe(self, identity: str) -> None:
        if self.client is not None:
            try:
                await self.client.subscribe(self.topics.downstream_filter(identity), qos=1, timeout=5)
            except aiomqtt.MqttError as error:
                logger.warning("gateway: %s: not subscribed yet (%s)", identity, error)

    async def _unsubscribe(self, identity: str) -> None:
        if self.client is not None:
            try:
                await self.client.unsubscribe(self.topics.downstream_filter(identity), timeout=2)
            except aiomqtt.MqttError:
                pass

    async def _serve_broker(self, client: aiomqtt.Client) -> None:
        self.client = client
        try:
            for identity in list(self.connected):
                await self._subscribe(identity)
            self.ready.set()
            async for message in client.messages:
                await self._downstream(str(message.topic), message.payload)
        finally:
            self.ready.clear()
            self.client = None

    async def _downstream(self, topic: str, payload) -> None:
        identity = self.topics.downstream_charge_point(topic)
        me = self.connected.get(identity) if identity else None
        if me is None:
            logger.info("gateway: message to %s dropped: not connected here", identity or topic)
            return
        try:
            frame = envelope.envelope_to_frame(payload if isinstance(payload, bytes | str) else bytes(payload))
        except EnvelopeError as error:
            logger.warning("gateway: %s: downstream message dropped: %s", identity, error)
            return
        message = json.loads(frame)
        if message[0] == 2 and isinstance(message[1], str):
            me.calls[message[1]] = message[2]
            if len(me.calls) > 100:  # answers never given: keep the newest
                me.calls.pop(next(iter(me.calls)))
        try:
            await me.socket.send(frame)
        except ConnectionClosed:
            logger.info("gateway: %s: downstream message dropped: the socket closed", identity)
