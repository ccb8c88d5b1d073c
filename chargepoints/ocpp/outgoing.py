"""Commands to one charge point, whatever carries them (a WebSocket, an MQTT broker).

`CommandRunner` is the receiving end of `commands.acall` (docs/architecture.md
"A command out", steps 4 and 5): it acknowledges an `ocpp.call` message at
once, queues it (one CALL in flight per charge point, OCPP-J 1.6 §4.1.1; at
most OCPP_COMMAND_QUEUE_SIZE waiting), sends the CALL from a task of its own
(DESIGN.md trap 1), matches the charge point's answer by unique id
(`answer`), records the outcome (`services.command_finish`) and sends it to
the caller's reply channel.

Used by the WebSocket consumer and the MQTT back end; each gives it
`send_frame(frame, logged=…)` for its transport.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
import uuid
from collections.abc import Awaitable, Callable

from channels.db import database_sync_to_async
from django.conf import settings

from .. import ocpp, redaction, services
from ..exceptions import CommandOutcome, FailureReason
from ..models import CommandStatus
from . import rpc
from .session import Session

logger = logging.getLogger("csms.ocpp")
protocol_logger = logging.getLogger("csms.protocol")


class CommandRunner:
    """Sends `commands.acall`'s commands to the charge point of `session`, one at a time.

    `send_frame(frame, logged=None)` sends one frame (`logged`: the copy the
    console and the protocol log show, secrets redacted); `console` is the
    connection's FrameTap, or None where there is none.
    """

    def __init__(self, *, session: Session, channel_layer, send_frame: Callable[..., Awaitable[None]], console=None):
        self.session = session
        self.channel_layer = channel_layer
        self.send_frame = send_frame
        self.console = console
        # A plain deque, not an asyncio.Queue: only put and taken without waiting, and a third of the memory.
        self._commands: collections.deque = collections.deque()
        self._command_worker: asyncio.Task | None = None
        self._pending: dict[str, asyncio.Future] = {}

    async def enqueue(self, event: dict) -> None:
        """Queue an `ocpp.call` message and acknowledge it (`ocpp.queued`); a full queue fails it as QueueFull."""
        limit = settings.OCPP_COMMAND_QUEUE_SIZE
        if len(self._commands) >= limit:
            outcome = CommandOutcome(status=CommandStatus.FAILED, reason=FailureReason.QUEUE_FULL, queued=limit)
            await self._finish(event, outcome)
            return
        event["queued_at"] = time.monotonic()
        self._commands.append(event)
        await self.channel_layer.send(event["reply_channel"], {"type": "ocpp.queued"})
        if self._command_worker is None or self._command_worker.done():
            self._command_worker = asyncio.create_task(self._run_commands())

    def answer(self, message: rpc.CallResult | rpc.CallError) -> bool:
        """Hand the charge point's answer to the command waiting for it; False (and a warning) when none waits."""
        future = self._pending.get(message.unique_id)
        if future is None or future.done():
            # A reply to nothing we are waiting for: too late, or never asked.
            logger.warning(
                "%s: unexpected %s for unique id %s",
                self.session.charge_point_id,
                message.message_type.name,
                message.unique_id,
            )
            return False
        future.set_result(message)
        return True

    def waits_for(self, unique_id: str) -> bool:
        """Whether a CALL with `unique_id` waits for its answer here."""
        future = self._pending.get(unique_id)
        return future is not None and not future.done()

    def in_flight(self) -> list[asyncio.Future]:
        """The answers still awaited (at most one)."""
        return [future for future in self._pending.values() if not future.done()]

    async def _run_commands(self) -> None:
        while self._commands:
            event = self._commands.popleft()
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
            # The protocol debug log and the console show the CALL with its secrets hidden (AuthorizationKey, BasicAuthPassword …).
            logged = None
            if self.console is not None and self.console.watchers:
                logged = await self.console.redacted_call(action, payload)
            elif protocol_logger.isEnabledFor(logging.DEBUG):
                logged = redaction.redact(self.session.version, action, payload)
            sent = time.monotonic()
            await self.send_frame(rpc.call_frame(unique_id, action, payload), logged=logged and rpc.call_frame(unique_id, action, logged))
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

    async def fail_all(self) -> None:
        """On disconnect: the command in flight and every queued one end as offline."""
        if self._command_worker is not None and not self._command_worker.done():
            self._command_worker.cancel()
            try:
                await self._command_worker
            except (asyncio.CancelledError, Exception):
                pass
        while self._commands:
            event = self._commands.popleft()
            await self._finish(event, CommandOutcome(status=CommandStatus.OFFLINE, reason=FailureReason.DISCONNECTED))
