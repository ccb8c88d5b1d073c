"""What the OCPP consumer does for the live frame console (`chargepoints.console`).

An unwatched charge point pays one empty-dict check per frame: nothing is
copied, redacted or sent to the channel layer. Watched, each frame becomes
one `console.frame` message per watching console:

    {"type": "console.frame", "charge_point_id": str, "session_id": str,
     "seq": int (1, 2 … per connection; a gap means frames were dropped),
     "direction": "in" | "out" (seen from the central system),
     "at": ISO 8601 UTC with milliseconds, when the frame was read or sent,
     "message_type": 2 | 3 | 4 | None (CALL, CALLRESULT, CALLERROR; None: unreadable),
     "unique_id": str | None, "action": str | None (a reply's is its CALL's, when seen),
     "text": the frame as sent, a CALL's secrets replaced by `redaction.REDACTED`}

A watch (`{"type": "console.watch", "channel": <the console's channel>}`,
sent to the charge point's group) is answered with `console.attached`
(`session_id`, `version`, `seq`) and lasts WATCH_SECONDS unless renewed;
`console.unwatch` ends it; the connection's end sends `console.detached`
(`session_id`). A console whose channel is full (it stopped reading) is
dropped until its next watch.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import time
from datetime import UTC, datetime

from channels.db import database_sync_to_async
from channels.exceptions import ChannelFull

from .. import redaction

logger = logging.getLogger("csms.console")

# How long a watch lasts without renewal; consoles renew every RENEW_SECONDS (consumers.py).
WATCH_SECONDS = 60.0
# Frames waiting for the sender task; past this they are dropped (the console sees a gap in `seq`).
QUEUE_SIZE = 1000
# At most this long, on disconnect, to tell the consoles the connection ended.
DETACH_TIMEOUT_S = 0.5
# Unique ids of CALLs remembered to name their replies' action; a few in flight is normal.
MAX_OPEN_CALLS = 256
MESSAGE_TYPES = {2, 3, 4}


class FrameTap:
    """The consoles watching one OCPP connection, and the copies of its frames on their way to them.

    `watchers` is the dict the consumer checks before every frame (truthy
    while any console watches). `frame` never blocks and never raises for a
    console's sake: frames go through a bounded queue to one sender task,
    which keeps their order and logs what the channel layer refuses.
    """

    def __init__(self, *, channel_layer, charge_point_id: str, session_id: str, version: str):
        self.channel_layer = channel_layer
        self.charge_point_id = charge_point_id
        self.session_id = session_id
        self.version = version
        self.watchers: dict[str, float] = {}  # console channel → time.monotonic() when its watch expires
        self.seq = 0
        self.dropped = 0
        # A plain deque, not an asyncio.Queue: only put and taken without waiting, and a third of the memory.
        self._queue: collections.deque = collections.deque()
        self._sender: asyncio.Task | None = None
        # (direction the CALL went, unique id) → action, to name the replies.
        self._open_calls: dict[tuple[str, str], str] = {}

    # --- watches (channel-layer messages to the OCPP consumer) -------------

    def watch(self, channel: str) -> None:
        """Start or renew `channel`'s watch for WATCH_SECONDS and answer it with `console.attached`."""
        if not isinstance(channel, str) or not channel:
            return
        self.watchers[channel] = time.monotonic() + WATCH_SECONDS
        message = {"type": "console.attached", "session_id": self.session_id, "version": self.version, "seq": self.seq}
        self._enqueue(message, (channel,))

    def unwatch(self, channel: str) -> None:
        """End `channel`'s watch (the console closed)."""
        self.watchers.pop(channel, None)

    # --- frames ------------------------------------------------------------

    def frame(self, direction: str, text: str) -> None:
        """Copy one frame (`direction` "in" or "out", `text` already free of secrets) to the watching consoles."""
        now = time.monotonic()
        for channel, expires in list(self.watchers.items()):
            if expires <= now:
                del self.watchers[channel]
        if not self.watchers:
            return
        message_type, unique_id, action = self._describe(direction, text)
        self.seq += 1
        message = {
            "type": "console.frame",
            "charge_point_id": self.charge_point_id,
            "session_id": self.session_id,
            "seq": self.seq,
            "direction": direction,
            "at": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "message_type": message_type,
            "unique_id": unique_id,
            "action": action,
            "text": text,
        }
        self._enqueue(message, None)

    async def redacted_call(self, action: str, payload: dict) -> dict:
        """A CALL's payload as the command log keeps it (`redaction.redact_for_log`: 2.0.1 WriteOnly variables too).

        Only SetVariables needs the database (the station's WriteOnly
        variables, one query); the rest is redacted here.
        """
        if action == "SetVariables":
            try:
                return await database_sync_to_async(redaction.redact_for_log)(
                    charge_point_id=self.charge_point_id, version=self.version, action=action, payload=payload
                )
            except Exception:  # noqa: BLE001 - the command goes out regardless; the console shows every value hidden
                logger.warning(
                    "%s: WriteOnly variables not read for the console; every value is hidden", self.charge_point_id, exc_info=True
                )
                entries = payload.get("setVariableData", [])
                return {**payload, "setVariableData": [{**entry, "attributeValue": redaction.REDACTED} for entry in entries]}
        return redaction.redact(self.version, action, payload)

    def _describe(self, direction: str, text: str) -> tuple[int | None, str | None, str | None]:
        """(message type, unique id, action) of a frame; Nones for what cannot be read."""
        try:
            frame = json.loads(text)
        except ValueError:
            return None, None, None
        if not isinstance(frame, list) or len(frame) < 3 or frame[0] not in MESSAGE_TYPES or not isinstance(frame[1], str):
            return None, None, None
        message_type, unique_id = frame[0], frame[1]
        if message_type == 2:
            action = frame[2] if isinstance(frame[2], str) else None
            if action is not None:
                if len(self._open_calls) >= MAX_OPEN_CALLS:
                    self._open_calls.pop(next(iter(self._open_calls)))
                self._open_calls[(direction, unique_id)] = action
            return message_type, unique_id, action
        # A reply goes the other way from its CALL.
        call_direction = "out" if direction == "in" else "in"
        return message_type, unique_id, self._open_calls.pop((call_direction, unique_id), None)

    # --- sending -----------------------------------------------------------

    def _enqueue(self, message: dict, channels: tuple[str, ...] | None) -> None:
        if len(self._queue) >= QUEUE_SIZE:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % QUEUE_SIZE == 0:
                logger.warning(
                    "%s: console frames dropped (%d so far): the channel layer is slower than the frames",
                    self.charge_point_id,
                    self.dropped,
                )
            return
        self._queue.append((message, channels))
        if self._sender is None or self._sender.done():
            self._sender = asyncio.create_task(self._send_all())

    async def _send_all(self) -> None:
        while self._queue:
            message, channels = self._queue.popleft()
            for channel in channels if channels is not None else list(self.watchers):
                await self._send(channel, message)

    async def _send(self, channel: str, message: dict) -> None:
        try:
            await self.channel_layer.send(channel, message)
        except ChannelFull:
            # The console stopped reading (closed without unwatch, or too slow): drop it until it renews.
            if self.watchers.pop(channel, None) is not None:
                logger.info("%s: console %s dropped: its channel is full", self.charge_point_id, channel)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001 - a console must never break the charge point's session
            logger.warning("%s: console frame not sent to %s (%s)", self.charge_point_id, channel, error)

    async def close(self) -> None:
        """The connection ended: tell the consoles (within DETACH_TIMEOUT_S), then stop sending."""
        if self.watchers:
            self._enqueue({"type": "console.detached", "session_id": self.session_id}, None)
        sender = self._sender
        if sender is not None and not sender.done():
            done, _ = await asyncio.wait({sender}, timeout=DETACH_TIMEOUT_S)
            if not done:
                sender.cancel()
        self.watchers.clear()
