"""The OCPP WebSocket consumer: one instance per charge point connection.

Lifecycle (OCPP-J 1.6 §3):
- connect: validate the identity from the URL, negotiate the subprotocol,
  check registration, take over any older connection of the same charge
  point, join the charge point's channel group, accept;
- receive: parse the frame (`ocpp.rpc`), validate the payload against the
  official schema, run the version's handler, answer with a CALLRESULT or the
  CALLERROR that fits; nothing a charge point sends ends the connection;
- disconnect: leave the group and mark the charge point offline unless a newer
  connection already owns it.

The live frame console (`chargepoints.console`): a console's `console.watch`
to the group makes this connection copy its frames to it (`self.console`, a
`FrameTap`) while the watch lasts; with no console watching, a frame costs
one empty-dict check.

Bridge mode (`chargepoints.mqtt.bridge`, MQTT_BRIDGE): each frame in and out
is also queued for publishing to MQTT in EMQX's envelope; off, it costs one
module-attribute check.

Rejections before the upgrade are answered by daphne with HTTP 403.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from csms.channel_layer import LAYER_ERRORS
from csms.consumers import NoDatabaseHopMixin

from . import ocpp, presence, redaction, security, services, touching
from .console.tap import FrameTap
from .models import IDENTITY_RE, ChargePoint, SecurityEvent
from .mqtt import bridge
from .ocpp import rpc
from .ocpp.outgoing import CommandRunner
from .ocpp.processing import CallProcessor
from .ocpp.session import Session

logger = logging.getLogger("csms.ocpp")
protocol_logger = logging.getLogger("csms.protocol")

# channels-redis forgets group members after a day (DESIGN.md trap 5): re-join well before.
GROUP_REFRESH_SECONDS = 3600
TAKEOVER_CLOSE_CODE = 4000
# Handlers of these actions write last_seen themselves.
LAST_SEEN_WRITING_ACTIONS = {"BootNotification", "Heartbeat"}


class OcppConsumer(NoDatabaseHopMixin, AsyncWebsocketConsumer):
    """Serves one charge point's OCPP-J WebSocket at /ocpp/<id> or /ocpp/<version>/<id>."""

    session: Session | None = None
    group_name: str | None = None
    closing = False
    console: FrameTap | None = None  # the live frame console's watchers, from connect on
    calls: CallProcessor | None = None  # answers this session's CALLs, from connect on
    commands: CommandRunner | None = None  # sends commands to it one at a time, from connect on

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Commands to the charge point: queued, sent one at a time by a task
        # of their own so this consumer keeps reading frames (trap 1).
        # Work handlers asked for after their answer (Session.after_answer), cancelled on disconnect.
        self._follow_ups: set[asyncio.Task] = set()
        self._touching: asyncio.Future | None = None  # the last_seen write in progress

    async def connect(self):
        kwargs = self.scope["url_route"]["kwargs"]
        charge_point_id = kwargs.get("charge_point_id") or ""
        self.accepted = False
        if not IDENTITY_RE.match(charge_point_id):
            logger.warning("Rejected connection: invalid charge point identity %r", charge_point_id[:100])
            await self.close()
            return

        offered = list(self.scope.get("subprotocols") or [])
        path_version = kwargs.get("version")
        subprotocol, version = self._negotiate(offered, path_version)
        if version is None:
            logger.warning("%s: rejected connection: no supported subprotocol in %s", charge_point_id, offered)
            await self.close()
            return
        if subprotocol is None:
            logger.info("%s: no subprotocol offered; speaking OCPP %s", charge_point_id, version)

        # Authentication (security profiles 1 to 3) before anything else touches
        # the charge point's session: a refused connection cannot take it over.
        # Every refusal looks the same to the client (HTTP 403): an unknown
        # identity, a wrong password and no credentials cannot be told apart.
        address, tls, client_cert_chain = self._client()
        # The counters may be in Redis: blocking I/O, in a thread of its own rather than the event loop or the ORM thread.
        if await sync_to_async(security.throttled, thread_sensitive=False)(charge_point_id, address):
            logger.warning("%s: rejected connection from %s: too many failed authentications", charge_point_id, address)
            await self.close()
            return
        session_id = uuid.uuid4().hex
        try:
            cp = await database_sync_to_async(services.charge_point_connect)(
                charge_point_id=charge_point_id,
                session_id=session_id,
                ocpp_version=version,
                allow_unknown=settings.OCPP_ALLOW_UNKNOWN_CHARGE_POINTS,
                credentials=security.basic_credentials(self._header(b"authorization"), charge_point_id),
                tls=tls,
                client_cert_chain=client_cert_chain,
                source_address=address,
                server_process_id=presence.PROCESS_ID,
            )
        except services.ConnectionRefused as refused:
            logger.warning("%s: rejected connection from %s: %s", charge_point_id, address, refused.reason)
            if await sync_to_async(security.failure_count, thread_sensitive=False)(charge_point_id, address):
                await database_sync_to_async(services.security_event_record)(
                    charge_point_id=charge_point_id,
                    type=SecurityEvent.AUTHENTICATION_THROTTLED,
                    tech_info="too many failed authentications: further attempts are refused unchecked for a while",
                    source_address=address,
                )
            await self.close()
            return

        self.session = Session(
            charge_point_id=charge_point_id,
            session_id=session_id,
            version=version,
            # 2.0.1 B02/B03: a station is served once a boot of it was Accepted;
            # one reconnecting without rebooting keeps that. 1.6 is not gated.
            accepted=not ocpp.dialect(version).REGISTRATION_GATED or cp.last_boot_status == "Accepted",
        )
        self.calls = CallProcessor(self.session)
        self.console = FrameTap(channel_layer=self.channel_layer, charge_point_id=charge_point_id, session_id=session_id, version=version)
        self.commands = CommandRunner(
            session=self.session, channel_layer=self.channel_layer, send_frame=self._send_frame, console=self.console
        )
        self.group_name = ChargePoint.group_name_for(charge_point_id)
        # Tell an older connection of this charge point to close, then join.
        # Without Redis the session is still served (frames need only the
        # database); the layer joins the group once Redis is back, and
        # commands answer 503 until then.
        try:
            await self.channel_layer.group_send(self.group_name, {"type": "session.takeover", "session_id": session_id})
        except LAYER_ERRORS as error:
            logger.error("%s: older connections not told to close (%s)", charge_point_id, error)
        try:
            await self.channel_layer.group_add(self.group_name, self.channel_name)
        except LAYER_ERRORS as error:
            logger.error("%s: not in its group yet (%s): commands reach it once the layer has joined it", charge_point_id, error)
        self._group_joined_at = time.monotonic()
        self._seen_written_at = time.monotonic()
        await self.accept(subprotocol)
        self.accepted = True
        presence.session_opened(charge_point_id, session_id)
        logger.info("%s: connected (OCPP %s, session %s)", charge_point_id, version, session_id)

    def _header(self, name: bytes) -> bytes | None:
        """The value of request header `name` (lowercase), or None."""
        for key, value in self.scope.get("headers") or []:
            if key.lower() == name:
                return value
        return None

    def _client(self) -> tuple[str | None, bool, list[str]]:
        """(the client's IP address, whether it connected over TLS, its TLS client certificate chain as PEM strings).

        From our own TLS (csms/tls.py): the scope's `scheme` and its ASGI TLS
        extension. From a proxy in OCPP_TRUSTED_PROXIES: its X-Forwarded-For,
        X-Forwarded-Proto and client certificate header
        (OCPP_PROXY_CLIENT_CERT_HEADER) instead; a certificate in the scope
        would then be the proxy's own, not the charge point's. Anyone else's
        forwarded headers are ignored.
        """
        address = (self.scope.get("client") or [None])[0]
        tls = self.scope.get("scheme") in ("wss", "https")
        tls_extension = (self.scope.get("extensions") or {}).get("tls") or {}
        chain = list(tls_extension.get("client_cert_chain") or []) if tls else []
        if address and address in settings.OCPP_TRUSTED_PROXIES:
            forwarded_for = self._header(b"x-forwarded-for")
            if forwarded_for:
                address = forwarded_for.decode("latin-1").split(",")[-1].strip()
            forwarded_proto = self._header(b"x-forwarded-proto")
            if forwarded_proto:
                tls = forwarded_proto.decode("latin-1").strip().lower() in ("https", "wss")
            header = settings.OCPP_PROXY_CLIENT_CERT_HEADER.lower().encode("latin-1")
            chain = security.client_cert_chain_from_header(self._header(header)) if tls else []
        return address, tls, chain

    @staticmethod
    def _negotiate(offered: list[str], path_version: str | None) -> tuple[str | None, str | None]:
        """Pick (subprotocol, version): the newest supported subprotocol offered.

        No subprotocol offered → OCPP 1.6 (or the path's version) without one;
        only unsupported ones offered → (None, None), the connection is refused.
        """
        if not offered:
            return None, path_version or "1.6"
        for name, version in ocpp.SUBPROTOCOLS.items():
            if name in offered and (path_version is None or path_version == version):
                return name, version
        return None, None

    async def disconnect(self, code):
        if self.session is None:
            return
        self.closing = True
        for task in list(self._follow_ups):
            task.cancel()
        await self.commands.fail_all()
        await self.console.close()
        presence.session_closed(self.session.charge_point_id, self.session.session_id)
        # Leaving the group and marking the charge point offline are independent,
        # and each runs to its end even when daphne cancels a disconnect that
        # waited too long behind others (a burst): shielded tasks of their own.
        leave = asyncio.ensure_future(self._leave_group()) if self.group_name else None
        owned = await asyncio.shield(
            database_sync_to_async(services.charge_point_disconnect)(
                charge_point_id=self.session.charge_point_id, session_id=self.session.session_id
            )
        )
        logger.info("%s: disconnected (code %s)%s", self.session.charge_point_id, code, "" if owned else " after takeover")
        if leave is not None:
            await asyncio.shield(leave)

    async def _leave_group(self) -> None:
        try:
            await self.channel_layer.group_discard(self.group_name, self.channel_name)
        except LAYER_ERRORS as error:
            # The membership expires with the group (group_expiry) and a
            # message to this closed channel is dropped; nothing is lost.
            logger.warning("%s: group not left (%s)", self.session.charge_point_id, error)

    async def csms_shutdown(self, event):
        """The server is stopping (csms/server.py): close with `event["code"]` (1012) once what came before is handled.

        Frames received before this message were processed first (one queue,
        in order). A command in flight gets up to `event["command_grace"]`
        seconds for its answer; queued ones fail as Offline on disconnect.
        The disconnect handler then marks the charge point offline.
        """
        if self.session is None:
            await self.close(code=event["code"])
            return
        self.closing = True
        in_flight = self.commands.in_flight()
        if in_flight:
            await asyncio.wait(in_flight, timeout=event["command_grace"])
        logger.info("%s: closing for a server shutdown (%s)", self.session.charge_point_id, event["code"])
        await self.close(code=event["code"])

    async def session_takeover(self, event):
        """A newer connection of the same charge point took over: close this one."""
        if self.session and event["session_id"] != self.session.session_id:
            logger.info("%s: closing older connection after takeover", self.session.charge_point_id)
            self.closing = True
            await self.close(code=TAKEOVER_CLOSE_CODE)

    # --- the live frame console (chargepoints.console) ------------------

    async def console_watch(self, event):
        """A console asks for this connection's frames (or renews): `event["channel"]` gets them for a minute."""
        if self.console is not None:
            self.console.watch(event.get("channel"))

    async def console_unwatch(self, event):
        """A console closed: stop copying frames to `event["channel"]`."""
        if self.console is not None:
            self.console.unwatch(event.get("channel"))

    # --- frames in -----------------------------------------------------

    async def receive(self, text_data=None, bytes_data=None):
        if self.session is None:
            return
        binary = text_data is None
        if binary:
            text_data = (bytes_data or b"").decode("utf-8", errors="replace")
        cp_id = self.session.charge_point_id
        debug = protocol_logger.isEnabledFor(logging.DEBUG)
        if debug or self.console.watchers:
            shown = redaction.redact_frame(text_data)  # a station that reports a secret back
            if debug:
                protocol_logger.debug("%s in %s", cp_id, shown)
            if self.console.watchers:
                self.console.frame("in", shown)
        if bridge.ACTIVE:
            bridge.frame(cp_id, self.session.version, "in", text_data)

        try:
            message = rpc.parse_frame(text_data)
            if binary:
                # OCPP-J 1.6 §3.1: messages are sent as WebSocket text frames.
                raise rpc.RpcError(rpc.ErrorKind.FORMAT, "OCPP-J frames must be text frames", unique_id=message.unique_id)
        except rpc.RpcError as error:
            logger.warning("%s: bad frame: %s", cp_id, error.description)
            await self._send_frame(error.frame(self.session.version))
            await self._touch()
            return

        if isinstance(message, rpc.Call):
            await self._handle_call(message)
            if message.action in LAST_SEEN_WRITING_ACTIONS:
                self._seen_written_at = time.monotonic()
        else:
            self.commands.answer(message)
        await self._touch()

    async def _handle_call(self, call: rpc.Call) -> None:
        frame, answered = await self.calls.answer(call)
        await self._send_frame(frame)
        if answered:
            self._start_follow_ups()

    def _start_follow_ups(self) -> None:
        """Start what the handler asked for after its answer (Session.after_answer), as tracked tasks."""
        follow_ups, self.session.follow_ups = self.session.follow_ups, []
        for make_coroutine in follow_ups:
            task = asyncio.create_task(self._follow_up(make_coroutine))
            self._follow_ups.add(task)
            task.add_done_callback(self._follow_ups.discard)

    async def _follow_up(self, make_coroutine) -> None:
        try:
            await make_coroutine()
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("%s: work after an answer failed", self.session.charge_point_id)

    # --- commands out (chargepoints.commands) --------------------------

    async def ocpp_call(self, event):
        """Queue a command from `commands.acall` and acknowledge it at once; a task sends it (`CommandRunner`)."""
        if self.session is None or self.closing:
            return  # a closing connection stays silent; the caller waits for the live one
        await self.commands.enqueue(event)

    async def _send_frame(self, frame: str, *, logged: str | None = None) -> None:
        """Send `frame`; the protocol debug log and the console show `logged` in its place when given (a copy without secrets)."""
        if protocol_logger.isEnabledFor(logging.DEBUG):
            protocol_logger.debug("%s out %s", self.session.charge_point_id, logged or frame)
        if self.console.watchers:
            # Before sending: the answer to this frame cannot then reach the console ahead of it.
            self.console.frame("out", logged or frame)
        if bridge.ACTIVE:
            bridge.frame(self.session.charge_point_id, self.session.version, "out", frame)
        await self.send(text_data=frame)

    def _touched(self, write: asyncio.Future) -> None:
        if not write.cancelled() and write.exception() is not None:
            logger.warning("%s: last_seen not written", self.session.charge_point_id if self.session else "?", exc_info=write.exception())

    async def _touch(self) -> None:
        """Write last_seen at most every OCPP_LAST_SEEN_WRITE_INTERVAL seconds; refresh group membership."""
        now = time.monotonic()
        if now - self._seen_written_at >= settings.OCPP_LAST_SEEN_WRITE_INTERVAL and (self._touching is None or self._touching.done()):
            # In the background, one write at a time: the next frame is not
            # held up by it, nor by a database that stopped answering.
            self._seen_written_at = now
            self._touching = asyncio.ensure_future(touching.touch(self.session.charge_point_id))
            self._touching.add_done_callback(self._touched)
        if now - self._group_joined_at >= GROUP_REFRESH_SECONDS:
            self._group_joined_at = now
            try:
                await self.channel_layer.group_add(self.group_name, self.channel_name)
            except LAYER_ERRORS as error:
                logger.warning("%s: group membership not refreshed (%s)", self.session.charge_point_id, error)


class RejectConsumer(AsyncWebsocketConsumer):
    """Refuses WebSocket upgrades on paths that name no charge point (HTTP 403 from daphne)."""

    async def connect(self):
        logger.warning("Rejected WebSocket connection to %r: not /ocpp/<charge point id>", self.scope.get("path"))
        await self.close()
