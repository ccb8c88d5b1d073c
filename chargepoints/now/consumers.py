"""The "Now" panel's WebSocket (`ws/chargepoints/<charge point id>/now/`): one charge point's page, kept up to date.

Routed in `routing.py` behind AllowedHostsOriginValidator and
AuthMiddlewareStack (a browser route: DESIGN.md trap 2 keeps them off
/ocpp/). Refused at the upgrade (HTTP 403) unless the user may view charge
points (active staff with the view or change permission,
`console.access.can_watch`) and the charge point exists.

Protocol: the browser sends nothing; the server sends {"panel": "<div id="now" …>…</div>"},
the panel rendered by `panel.now_panel_html` (the template the page was
rendered with), once on connect (what changed between the page's render and
the socket's opening) and again whenever the charge point changes, or
{"gone": true} when the charge point was deleted.

What changed comes from `chargepoints.live`: its `dashboard.changed`
messages to `live.GROUP` name the charge points whose status, connection,
transactions or meter values changed, in any process (meter values keep power
now fresh while a transaction runs). They are coalesced: at most one update
every MIN_SEND_INTERVAL_S, carrying the state read when it is sent. Every
REFRESH_INTERVAL_S the panel is sent anyway (duration, a charge point gone
silent, a dead process's lease) and the group joined again (channels-redis
forgets members after a day, DESIGN.md trap 5).
"""

from __future__ import annotations

import asyncio
import logging
import time

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from csms.channel_layer import LAYER_ERRORS
from csms.consumers import NoDatabaseHopMixin

from .. import live
from ..console.access import can_watch
from ..models import ChargePoint
from .panel import now_panel_html

logger = logging.getLogger("csms.now")

MIN_SEND_INTERVAL_S = 0.5
REFRESH_INTERVAL_S = 10.0


def _may_watch(user, charge_point_id: str) -> bool:
    return can_watch(user) and ChargePoint.objects.filter(pk=charge_point_id).exists()


class NowPanelConsumer(NoDatabaseHopMixin, AsyncJsonWebsocketConsumer):
    """One charge point page's "Now" panel (see the module docstring)."""

    charge_point_id = ""
    sender: asyncio.Task | None = None
    refresher: asyncio.Task | None = None

    async def connect(self):
        charge_point_id = self.scope["url_route"]["kwargs"]["charge_point_id"]
        # has_perm reads the user's permissions from the database.
        if not await database_sync_to_async(_may_watch)(self.scope.get("user"), charge_point_id):
            await self.close()  # before accept: HTTP 403
            return
        self.charge_point_id = charge_point_id
        self.dirty = False
        self.last_sent = 0.0
        await self._join()
        await self.accept()
        self._changed()
        self.refresher = asyncio.ensure_future(self._refresh_forever())

    async def disconnect(self, code):
        for task in (self.sender, self.refresher):
            if task is not None:
                task.cancel()
        if self.charge_point_id:
            try:
                await self.channel_layer.group_discard(live.GROUP, self.channel_name)
            except LAYER_ERRORS as error:
                logger.warning("now panel: could not leave %s: %s", live.GROUP, error)

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        """The browser has nothing to say: whatever it sends is ignored."""

    async def dashboard_changed(self, message):
        """`live.MESSAGE_TYPE`: these charge points changed (any of them, in any process)."""
        if self.charge_point_id in message.get("charge_point_ids", ()):
            self._changed()

    def _changed(self) -> None:
        self.dirty = True
        if self.sender is None or self.sender.done():
            self.sender = asyncio.ensure_future(self._send_pending())

    async def _send_pending(self) -> None:
        # No await between the test of `dirty` and the return: a change noted later finds this task done.
        while self.dirty:
            wait = self.last_sent + MIN_SEND_INTERVAL_S - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            self.dirty = False
            try:
                html = await database_sync_to_async(now_panel_html)(charge_point_id=self.charge_point_id)
                await self.send_json({"gone": True} if html is None else {"panel": html})
            except Exception:
                logger.exception("now panel: update of %s not sent", self.charge_point_id)
            self.last_sent = time.monotonic()

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_INTERVAL_S)
            await self._join()
            self._changed()

    async def _join(self) -> None:
        try:
            await self.channel_layer.group_add(live.GROUP, self.channel_name)
        except LAYER_ERRORS as error:
            # The panel still gets its periodic refresh; the next one tries again.
            logger.warning("now panel: could not join %s: %s", live.GROUP, error)
