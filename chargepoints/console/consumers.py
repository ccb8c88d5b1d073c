"""The browser's side of the live frame console: ws/console/<charge point id>/ (`chargepoints.console`).

Session-authenticated (AuthMiddlewareStack) and behind
AllowedHostsOriginValidator in `routing.py`: a browser always sends Origin,
and a page of another site must not open a staff member's console. Refused
(HTTP 403 from daphne) unless `access.can_watch` and the charge point exists.

To the browser, JSON objects:

    {"kind": "status", "online": bool, "version": "1.6" | "2.0.1" | null, "charge_point_id": str}
    {"kind": "frame", "seq", "direction", "at", "message_type", "unique_id", "action", "text", "session_id"}

(the frame's fields are `tap`'s `console.frame`). The browser sends nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from csms.channel_layer import LAYER_ERRORS
from csms.consumers import NoDatabaseHopMixin

from ..models import ChargePoint
from . import access

logger = logging.getLogger("csms.console")

# A watch is renewed this often while a connection answers (tap.WATCH_SECONDS is three times that) …
RENEW_SECONDS = 20.0
# … and asked for this often while none does, so the frames start within that of the charge point connecting.
OFFLINE_POLL_SECONDS = 2.0
# A connection that has not answered a watch for this long after it was sent is taken as gone (its process died).
ANSWER_GRACE_SECONDS = 5.0


class ConsoleConsumer(NoDatabaseHopMixin, AsyncJsonWebsocketConsumer):
    """One browser watching one charge point's frames."""

    charge_point_id = ""
    group_name = ""
    _renewer: asyncio.Task | None = None

    async def connect(self):
        charge_point_id = self.scope["url_route"]["kwargs"]["charge_point_id"]
        user = self.scope.get("user")
        charge_point = await database_sync_to_async(access.charge_point_for_console)(user=user, charge_point_id=charge_point_id)
        if charge_point is None:
            logger.warning("Console of %r refused to %s", charge_point_id[:100], getattr(user, "username", None) or "an anonymous user")
            await self.close()
            return
        self.charge_point_id = charge_point.pk
        self.group_name = ChargePoint.group_name_for(charge_point.pk)
        # Session ids of the connections that answered our watch (two during a takeover).
        self.sessions: dict[str, str] = {}
        self.answered_at = 0.0
        await self.accept()
        await self._status(None)
        self._renewer = asyncio.create_task(self._renew())

    async def disconnect(self, code):
        if self._renewer is None:
            return
        self._renewer.cancel()
        try:
            await self.channel_layer.group_send(self.group_name, {"type": "console.unwatch", "channel": self.channel_name})
        except LAYER_ERRORS as error:
            logger.info("%s: console unwatch not sent (%s); the watch expires by itself", self.charge_point_id, error)

    async def _renew(self) -> None:
        """Ask the charge point's group for its frames, again and again; notice a connection gone without a word."""
        while True:
            asked_at = time.monotonic()
            try:
                await self.channel_layer.group_send(self.group_name, {"type": "console.watch", "channel": self.channel_name})
            except LAYER_ERRORS as error:
                logger.warning("%s: console watch not sent (%s)", self.charge_point_id, error)
            await asyncio.sleep(RENEW_SECONDS if self.sessions else OFFLINE_POLL_SECONDS)
            if self.sessions and self.answered_at < asked_at and time.monotonic() - asked_at > ANSWER_GRACE_SECONDS:
                # Its process died (no console.detached): no answer to the last watch.
                self.sessions.clear()
                await self._status(None)

    async def _status(self, version: str | None) -> None:
        await self.send_json({"kind": "status", "online": bool(self.sessions), "version": version, "charge_point_id": self.charge_point_id})

    # --- from the OCPP consumer (tap.FrameTap) ---------------------------

    async def console_attached(self, event):
        self.answered_at = time.monotonic()
        new = event["session_id"] not in self.sessions
        self.sessions[event["session_id"]] = event.get("version")
        if new:
            await self._status(event.get("version"))

    async def console_detached(self, event):
        if self.sessions.pop(event["session_id"], None) is not None:
            version = next(iter(self.sessions.values()), None)
            await self._status(version)

    async def console_frame(self, event):
        await self.send_json({"kind": "frame", **{key: value for key, value in event.items() if key != "type"}})
