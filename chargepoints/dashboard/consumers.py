"""The dashboard's WebSocket (`ws/dashboard/`): one browser page, kept up to date.

Routed in csms/asgi.py behind AllowedHostsOriginValidator and
AuthMiddlewareStack (a browser route: DESIGN.md trap 2 keeps them off
/ocpp/). Only a user who may see the page (`views.may_view_dashboard`) is
accepted; anyone else is refused at the upgrade (HTTP 403).

Protocol, JSON both ways:

- browser → server: {"watch": [charge point id, …]}, the rows its page
  shows (at most MAX_WATCHED). Answered at once with an update.
- server → browser: {"counts": {...}, "rows": [[charge point id, "<tr>…</tr>"], …]}
  (`rows.live_update`): the current rows of watched charge points that
  changed, rendered as the page renders them, and the counts.

What changed comes as `dashboard.changed` messages to `live.GROUP` from every
process (`chargepoints.live`). They are coalesced here too: at most one
update every MIN_SEND_INTERVAL_S, carrying the state read when it is sent.
Every REFRESH_INTERVAL_S the page gets a full update anyway (what changes
with time alone: a charge point silent too long, a dead process's lease),
and the group is joined again (channels-redis forgets members after a day,
DESIGN.md trap 5).
"""

from __future__ import annotations

import asyncio
import logging
import time

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from chargepoints import live
from csms.channel_layer import LAYER_ERRORS

from .rows import live_update
from .views import may_view_dashboard

logger = logging.getLogger("csms.dashboard")

MIN_SEND_INTERVAL_S = 0.5
REFRESH_INTERVAL_S = 30.0
MAX_WATCHED = 200  # a page shows 50


class DashboardConsumer(AsyncJsonWebsocketConsumer):
    """One open dashboard page (see the module docstring)."""

    async def connect(self):
        # has_perm reads the user's permissions from the database.
        if not await database_sync_to_async(may_view_dashboard)(self.scope.get("user")):
            await self.close()  # before accept: HTTP 403
            return
        self.watched: set[str] = set()
        self.pending: set[str] = set()
        self.dirty_since: float | None = None  # monotonic time of the oldest change not sent yet
        self.last_sent = 0.0
        self.sender: asyncio.Task | None = None
        await self._join()
        await self.accept()
        self.refresher = asyncio.ensure_future(self._refresh_forever())

    async def disconnect(self, code):
        for task in (getattr(self, "sender", None), getattr(self, "refresher", None)):
            if task is not None:
                task.cancel()
        if hasattr(self, "watched"):
            try:
                await self.channel_layer.group_discard(live.GROUP, self.channel_name)
            except LAYER_ERRORS as error:
                logger.warning("dashboard: could not leave %s: %s", live.GROUP, error)

    @classmethod
    async def decode_json(cls, text_data):
        # A frame that is not JSON is ignored like one that is not a watch: it must not end the consumer.
        try:
            return await super().decode_json(text_data)
        except ValueError:
            return None

    async def receive_json(self, content, **kwargs):
        watch = content.get("watch") if isinstance(content, dict) else None
        if not isinstance(watch, list):
            return
        self.watched = {cp for cp in watch[:MAX_WATCHED] if isinstance(cp, str)}
        self._changed(self.watched)

    async def dashboard_changed(self, message):
        """`live.MESSAGE_TYPE`: these charge points changed (any of them, in any process)."""
        self._changed(set(message.get("charge_point_ids", ())) & self.watched)

    def _changed(self, charge_point_ids: set[str]) -> None:
        # Counts may have changed even when no watched row did.
        self.pending |= charge_point_ids
        if self.dirty_since is None:
            self.dirty_since = time.monotonic()
        if self.sender is None or self.sender.done():
            self.sender = asyncio.ensure_future(self._send_pending())

    async def _send_pending(self) -> None:
        # No await between the test of `dirty_since` and the return: a change noted later finds this task done.
        while self.dirty_since is not None:
            wait = self.last_sent + MIN_SEND_INTERVAL_S - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            ids, since = self.pending, self.dirty_since
            self.pending, self.dirty_since = set(), None
            try:
                update = await database_sync_to_async(live_update)(ids, counts_since_s=since)
                await self.send_json(update)
            except Exception:
                logger.exception("dashboard: update not sent")
            self.last_sent = time.monotonic()

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_INTERVAL_S)
            await self._join()
            self._changed(self.watched)

    async def _join(self) -> None:
        try:
            await self.channel_layer.group_add(live.GROUP, self.channel_name)
        except LAYER_ERRORS as error:
            # The page still gets its periodic refresh; the next one tries again.
            logger.warning("dashboard: could not join %s: %s", live.GROUP, error)
