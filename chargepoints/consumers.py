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

Rejections before the upgrade are answered by daphne with HTTP 403.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from ocpp.charge_point import remove_nones

from . import ocpp, redaction, security, services
from .exceptions import CommandOutcome, FailureReason
from .models import IDENTITY_RE, ChargePoint, CommandStatus, SecurityEvent
from .ocpp import rpc
from .ocpp.session import Session

logger = logging.getLogger("csms.ocpp")
protocol_logger = logging.getLogger("csms.protocol")

# channels-redis forgets group members after a day (DESIGN.md trap 5): re-join well before.
GROUP_REFRESH_SECONDS = 3600
TAKEOVER_CLOSE_CODE = 4000
# Handlers of these actions write last_seen themselves.
LAST_SEEN_WRITING_ACTIONS = {"BootNotification", "Heartbeat"}


class OcppConsumer(AsyncWebsocketConsumer):
    """Serves one charge point's OCPP-J WebSocket at /ocpp/<id> or /ocpp/<version>/<id>."""

    session: Session | None = None
    group_name: str | None = None
    closing = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Commands to the charge point: queued, sent one at a time by a task
        # of their own so this consumer keeps reading frames (trap 1).
        self._commands: asyncio.Queue = asyncio.Queue()
        self._command_worker: asyncio.Task | None = None
        self._pending: dict[str, asyncio.Future] = {}

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

        # Authentication (security profiles 1 and 2) before anything else touches
        # the charge point's session: a refused connection cannot take it over.
        # Every refusal looks the same to the client (HTTP 403): an unknown
        # identity, a wrong password and no credentials cannot be told apart.
        address, tls = self._client()
        if security.throttled(charge_point_id, address):
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
                source_address=address,
            )
        except services.ConnectionRefused as refused:
            logger.warning("%s: rejected connection from %s: %s", charge_point_id, address, refused.reason)
            if security.failure_count(charge_point_id, address):
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
        self.group_name = ChargePoint.group_name_for(charge_point_id)
        # Tell an older connection of this charge point to close, then join.
        await self.channel_layer.group_send(self.group_name, {"type": "session.takeover", "session_id": session_id})
        await self.channel_layer.group_add(self.group_name, self.channel_name)
        self._group_joined_at = time.monotonic()
        self._seen_written_at = time.monotonic()
        await self.accept(subprotocol)
        self.accepted = True
        logger.info("%s: connected (OCPP %s, session %s)", charge_point_id, version, session_id)

    def _header(self, name: bytes) -> bytes | None:
        """The value of request header `name` (lowercase), or None."""
        for key, value in self.scope.get("headers") or []:
            if key.lower() == name:
                return value
        return None

    def _client(self) -> tuple[str | None, bool]:
        """(the client's IP address, whether it connected over TLS), believing a trusted proxy's X-Forwarded-* headers."""
        address = (self.scope.get("client") or [None])[0]
        tls = self.scope.get("scheme") in ("wss", "https")
        if address and address in settings.OCPP_TRUSTED_PROXIES:
            forwarded_for = self._header(b"x-forwarded-for")
            if forwarded_for:
                address = forwarded_for.decode("latin-1").split(",")[-1].strip()
            forwarded_proto = self._header(b"x-forwarded-proto")
            if forwarded_proto:
                tls = forwarded_proto.decode("latin-1").strip().lower() in ("https", "wss")
        return address, tls

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
        await self._fail_commands()
        if self.group_name:
            await self.channel_layer.group_discard(self.group_name, self.channel_name)
        owned = await database_sync_to_async(services.charge_point_disconnect)(
            charge_point_id=self.session.charge_point_id, session_id=self.session.session_id
        )
        logger.info("%s: disconnected (code %s)%s", self.session.charge_point_id, code, "" if owned else " after takeover")

    async def session_takeover(self, event):
        """A newer connection of the same charge point took over: close this one."""
        if self.session and event["session_id"] != self.session.session_id:
            logger.info("%s: closing older connection after takeover", self.session.charge_point_id)
            self.closing = True
            await self.close(code=TAKEOVER_CLOSE_CODE)

    # --- frames in -----------------------------------------------------

    async def receive(self, text_data=None, bytes_data=None):
        if self.session is None:
            return
        binary = text_data is None
        if binary:
            text_data = (bytes_data or b"").decode("utf-8", errors="replace")
        cp_id = self.session.charge_point_id
        if protocol_logger.isEnabledFor(logging.DEBUG):
            protocol_logger.debug("%s in %s", cp_id, text_data)

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
            self._handle_reply(message)
        await self._touch()

    async def _handle_call(self, call: rpc.Call) -> None:
        version = self.session.version
        handler = ocpp.dialect(version).HANDLERS.get(call.action)
        try:
            if handler is None:
                if call.action in rpc.known_actions(version):
                    raise rpc.RpcError(
                        rpc.ErrorKind.NOT_SUPPORTED,
                        f"{call.action} is not an action a charge point sends to a central system",
                        unique_id=call.unique_id,
                    )
                raise rpc.RpcError(rpc.ErrorKind.NOT_IMPLEMENTED, f"Unknown action {call.action!r}", unique_id=call.unique_id)
            rpc.validate_payload(version, call.action, call.payload, unique_id=call.unique_id)
            self._check_registration(call)
            result = await handler(self.session, call.payload)
            payload = remove_nones(result)
            try:
                rpc.validate_payload(version, call.action, payload, response=True, unique_id=call.unique_id)
            except rpc.RpcError as error:
                # Our own answer is wrong: that is no fault of the charge point's.
                raise RuntimeError(f"invalid {call.action} response {payload}: {error.description}") from error
        except rpc.RpcError as error:
            logger.warning("%s: %s %s: %s", self.session.charge_point_id, call.action, error.kind.value, error.description)
            await self._send_frame(error.frame(version))
            return
        except Exception:
            logger.exception("%s: %s handler failed", self.session.charge_point_id, call.action)
            error = rpc.RpcError(rpc.ErrorKind.INTERNAL, f"{call.action} could not be processed", unique_id=call.unique_id)
            await self._send_frame(error.frame(version))
            return
        await self._send_frame(rpc.call_result_frame(call.unique_id, payload))

    def _check_registration(self, call: rpc.Call) -> None:
        """OCPP 2.0.1 B02/B03: until a boot is Accepted, only BootNotification and triggered messages pass."""
        session = self.session
        if session.accepted or call.action in ocpp.dialect(session.version).ALLOWED_BEFORE_ACCEPTED:
            return
        if call.action in session.triggered:
            session.triggered.discard(call.action)
            return
        raise rpc.RpcError(
            rpc.ErrorKind.SECURITY,
            f"{call.action} refused: the station's registration is not Accepted (send BootNotification)",
            unique_id=call.unique_id,
        )

    def _handle_reply(self, message: rpc.CallResult | rpc.CallError) -> None:
        future = self._pending.get(message.unique_id)
        if future is None or future.done():
            # A reply to nothing we are waiting for: too late, or never asked.
            logger.warning(
                "%s: unexpected %s for unique id %s",
                self.session.charge_point_id,
                message.message_type.name,
                message.unique_id,
            )
            return
        future.set_result(message)

    # --- commands out (chargepoints.commands) --------------------------

    async def ocpp_call(self, event):
        """Queue a command from `commands.acall` and acknowledge it at once; a task sends it."""
        if self.session is None or self.closing:
            return  # a closing connection stays silent; the caller waits for the live one
        limit = settings.OCPP_COMMAND_QUEUE_SIZE
        if self._commands.qsize() >= limit:
            outcome = CommandOutcome(status=CommandStatus.FAILED, reason=FailureReason.QUEUE_FULL, queued=limit)
            await self._finish(event, outcome)
            return
        event["queued_at"] = time.monotonic()
        self._commands.put_nowait(event)
        await self.channel_layer.send(event["reply_channel"], {"type": "ocpp.queued"})
        if self._command_worker is None or self._command_worker.done():
            self._command_worker = asyncio.create_task(self._run_commands())

    async def _run_commands(self) -> None:
        while not self._commands.empty():
            event = self._commands.get_nowait()
            try:
                outcome = await self._send_command(event)
            except asyncio.CancelledError:
                # Disconnected with this command in flight or about to be sent.
                await self._finish(event, CommandOutcome(status=CommandStatus.OFFLINE, reason=FailureReason.DISCONNECTED))
                raise
            except Exception:
                logger.exception("%s: command %s failed", self.session.charge_point_id, event["action"])
                outcome = CommandOutcome(status=CommandStatus.FAILED, reason=FailureReason.INTERNAL_ERROR)
            # Shielded: a disconnect right after the answer (Reset, then reboot)
            # must not cancel telling the caller what the charge point said.
            await asyncio.shield(self._finish(event, outcome))

    async def _send_command(self, event) -> CommandOutcome:
        """Send one CALL and wait for its answer within what is left of the caller's timeout."""
        command_id, action, payload = event["command_id"], event["action"], event["payload"]
        remaining = event["timeout"] - (time.monotonic() - event["queued_at"])
        if remaining <= 0:
            return CommandOutcome(status=CommandStatus.TIMEOUT)
        unique_id = uuid.uuid4().hex
        future = asyncio.get_running_loop().create_future()
        self._pending[unique_id] = future
        try:
            await database_sync_to_async(services.command_mark_sent)(command_id=command_id, unique_id=unique_id)
            sent = time.monotonic()
            # The protocol debug log shows the CALL with its secrets hidden (AuthorizationKey, BasicAuthPassword …).
            logged = redaction.redact(self.session.version, action, payload) if protocol_logger.isEnabledFor(logging.DEBUG) else None
            await self._send_frame(rpc.call_frame(unique_id, action, payload), logged=logged and rpc.call_frame(unique_id, action, logged))
            try:
                reply = await asyncio.wait_for(future, remaining)
            except TimeoutError:
                return CommandOutcome(status=CommandStatus.TIMEOUT)
        finally:
            self._pending.pop(unique_id, None)
        round_trip_ms = round((time.monotonic() - sent) * 1000)

        if isinstance(reply, rpc.CallError):
            return CommandOutcome(
                status=CommandStatus.CALL_ERROR,
                error_code=reply.error_code,
                error_description=reply.error_description,
                error_details=reply.error_details,
                round_trip_ms=round_trip_ms,
            )
        try:
            rpc.validate_payload(self.session.version, action, reply.payload, response=True)
        except rpc.RpcError as error:
            return CommandOutcome(
                status=CommandStatus.FAILED,
                reason=FailureReason.INVALID_RESPONSE,
                response=reply.payload,
                error_description=f"invalid answer: {error.description}",
                round_trip_ms=round_trip_ms,
            )
        if action == "TriggerMessage" and reply.payload.get("status") == "Accepted":
            # Before any await: the triggered message may be the very next frame.
            requested = payload["requestedMessage"]
            triggered = getattr(ocpp.dialect(self.session.version), "TRIGGERED_ACTIONS", {})
            self.session.triggered.add(triggered.get(requested, requested))
        return CommandOutcome(status=CommandStatus.ANSWERED, response=reply.payload, round_trip_ms=round_trip_ms)

    async def _finish(self, event, outcome: CommandOutcome) -> None:
        """Record the command's outcome (and apply what follows from it), then tell the caller.

        The caller hears of it even when recording fails: it would otherwise
        wait for its timeout for an answer the charge point gave.
        """
        try:
            await database_sync_to_async(services.command_finish)(command_id=event["command_id"], outcome=outcome)
        except Exception:
            logger.exception("%s: could not record command %s", self.session.charge_point_id, event["command_id"])
            if outcome.status == CommandStatus.ANSWERED:
                outcome = CommandOutcome(status=CommandStatus.FAILED, reason=FailureReason.INTERNAL_ERROR)
        await self.channel_layer.send(event["reply_channel"], outcome.to_message())

    async def _fail_commands(self) -> None:
        """On disconnect: the command in flight and every queued one end as offline."""
        if self._command_worker is not None and not self._command_worker.done():
            self._command_worker.cancel()
            try:
                await self._command_worker
            except (asyncio.CancelledError, Exception):
                pass
        while not self._commands.empty():
            event = self._commands.get_nowait()
            await self._finish(event, CommandOutcome(status=CommandStatus.OFFLINE, reason=FailureReason.DISCONNECTED))

    async def _send_frame(self, frame: str, *, logged: str | None = None) -> None:
        """Send `frame`; the protocol debug log shows `logged` in its place when given (a copy without secrets)."""
        if protocol_logger.isEnabledFor(logging.DEBUG):
            protocol_logger.debug("%s out %s", self.session.charge_point_id, logged or frame)
        await self.send(text_data=frame)

    async def _touch(self) -> None:
        """Write last_seen at most every OCPP_LAST_SEEN_WRITE_INTERVAL seconds; refresh group membership."""
        now = time.monotonic()
        if now - self._seen_written_at >= settings.OCPP_LAST_SEEN_WRITE_INTERVAL:
            self._seen_written_at = now
            await database_sync_to_async(services.charge_point_touch)(charge_point_id=self.session.charge_point_id)
        if now - self._group_joined_at >= GROUP_REFRESH_SECONDS:
            self._group_joined_at = now
            await self.channel_layer.group_add(self.group_name, self.channel_name)


class RejectConsumer(AsyncWebsocketConsumer):
    """Refuses WebSocket upgrades on paths that name no charge point (HTTP 403 from daphne)."""

    async def connect(self):
        logger.warning("Rejected WebSocket connection to %r: not /ocpp/<charge point id>", self.scope.get("path"))
        await self.close()
