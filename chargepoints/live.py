"""Live push to the operators' dashboard: which charge points changed, coalesced, through the channel layer.

The services call `publish(charge_point_id, kind)` where they emit the
matching webhook (connected, disconnected, status changed, transaction
started or ended, meter values). Nothing is sent from there:

1. `publish` registers a `transaction.on_commit` hook, so a rolled back
   change is never announced and the dashboard reads committed rows.
2. The hook runs on the thread that committed, usually the process's one
   ORM thread (`database_sync_to_async`, DESIGN.md trap 4). It only hands
   the identity to the server's event loop (`call_soon_threadsafe`, no
   channel-layer round trip) where a per-loop `_Flusher` collects it in a set.
3. The flusher, an asyncio task started lazily on that loop by the first
   identity, sends the set in one `group_send` to GROUP, then sleeps
   FLUSH_INTERVAL_S; identities noted meanwhile go in the next message. A
   burst of any size becomes one message per interval per process (split
   every MAX_IDS_PER_MESSAGE identities); the task ends when a sleep brings
   nothing new, and the next identity starts it again.
4. Every dashboard consumer, in whichever process, is a member of GROUP
   (`chargepoints.dashboard.consumers`): it reads the current rows of the
   identities its page shows and the counts, at most every few hundred
   milliseconds, and sends them to its browser.

A failed send (Redis away, a full channel) is logged and the identities
dropped: the OCPP path never sees it, and dashboards refresh themselves
periodically anyway.

A process with no event loop reachable from the committing thread (a
management command, a sync test) sends each identity at once with
`async_to_sync` on that thread: these are few, and not the server's ORM
thread.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import weakref

from asgiref.sync import SyncToAsync, async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from csms.channel_layer import LAYER_ERRORS

logger = logging.getLogger("csms.live")

# The channel-layer group of every open dashboard (DESIGN.md trap 3: [A-Za-z0-9._-], under 100 characters).
GROUP = "dashboard.fleet"
# The message type a dashboard consumer handles (`dashboard_changed`).
MESSAGE_TYPE = "dashboard.changed"
FLUSH_INTERVAL_S = 0.25
# Identities are up to 48 characters: 1,000 keep one message near 50 kB (channels-redis holds messages in Redis lists).
MAX_IDS_PER_MESSAGE = 1000
# What changed; only for logs, the dashboard reads the current state whatever it was.
KINDS = frozenset({"connected", "disconnected", "status_changed", "transaction_started", "transaction_ended", "meter_values"})


def publish(charge_point_id: str, kind: str) -> None:
    """Announce to every open dashboard, after the current transaction commits, that `charge_point_id` changed.

    `kind` is one of KINDS. Never raises for a channel-layer failure (logged
    and dropped); ValueError for an unknown kind. Call it inside the service's
    transaction, where the webhook is emitted.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown live change {kind!r}")
    transaction.on_commit(lambda: _note(charge_point_id))


def _note(charge_point_id: str) -> None:
    """Hand `charge_point_id` to this process's flusher (or send it now when no event loop runs here)."""
    loop = _server_loop()
    if loop is None:
        _send_now([charge_point_id])
        return
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        _flusher_for(loop).add(charge_point_id)
    else:
        try:
            loop.call_soon_threadsafe(_add_on_loop, charge_point_id)
        except RuntimeError:  # the loop closed meanwhile (shutdown)
            logger.debug("live: loop closed; change of %s not pushed", charge_point_id)


def _server_loop() -> asyncio.AbstractEventLoop | None:
    """The event loop this thread's work was called from: the running one, or the one `database_sync_to_async` left in asgiref's threadlocal."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        pass
    # asgiref sets these on the thread of every SyncToAsync call (what AsyncToSync uses to find its way back).
    loop = getattr(SyncToAsync.threadlocal, "main_event_loop", None)
    if loop is None or getattr(SyncToAsync.threadlocal, "main_event_loop_pid", None) != os.getpid():
        return None
    return loop if loop.is_running() and not loop.is_closed() else None


def _add_on_loop(charge_point_id: str) -> None:
    _flusher_for(asyncio.get_running_loop()).add(charge_point_id)


_flushers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Flusher] = weakref.WeakKeyDictionary()
_flushers_lock = threading.Lock()


def _flusher_for(loop: asyncio.AbstractEventLoop) -> _Flusher:
    with _flushers_lock:
        flusher = _flushers.get(loop)
        if flusher is None:
            flusher = _flushers[loop] = _Flusher(loop)
        return flusher


class _Flusher:
    """The identities changed in this process since the last send, and the task that sends them (on `loop` only)."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.pending: set[str] = set()
        self.task: asyncio.Task | None = None
        self.messages_sent = 0  # for tests and curiosity

    def add(self, charge_point_id: str) -> None:
        self.pending.add(charge_point_id)
        if self.task is None or self.task.done():
            self.task = self.loop.create_task(self.run())

    async def run(self) -> None:
        # No await between the test of `pending` and the return: an identity
        # added later finds the task done and starts a new one.
        while self.pending:
            ids, self.pending = sorted(self.pending), set()
            for start in range(0, len(ids), MAX_IDS_PER_MESSAGE):
                await _send(ids[start : start + MAX_IDS_PER_MESSAGE])
                self.messages_sent += 1
            await asyncio.sleep(FLUSH_INTERVAL_S)


async def _send(charge_point_ids: list[str]) -> None:
    """One group_send of `charge_point_ids` to GROUP; a failure is logged, never raised."""
    try:
        await get_channel_layer().group_send(GROUP, {"type": MESSAGE_TYPE, "charge_point_ids": charge_point_ids})
    except (TimeoutError, *LAYER_ERRORS) as error:
        logger.warning("live: %d changed charge points not pushed to dashboards: %s", len(charge_point_ids), error)
    except Exception:
        # ChannelFull and whatever else a layer raises: the dashboards' periodic refresh catches up.
        logger.exception("live: %d changed charge points not pushed to dashboards", len(charge_point_ids))


def _send_now(charge_point_ids: list[str]) -> None:
    try:
        async_to_sync(_send)(charge_point_ids)
    except Exception:
        logger.exception("live: could not push %s", charge_point_ids)
