"""Presence that cannot go stale: a lease per server process on the charge point connections it holds.

docs/reliability.md, "Presence". `PROCESS_ID` names this process. A charge
point that connects is stamped with it (`services.charge_point_connect`
renews the lease in the same transaction). `run()`, started by the server
(csms/server.py), then every OCPP_PRESENCE_TTL / 3 seconds:

- renews this process's lease (`services.server_process_renew`); a lease
  that was swept while this process lived (a stall longer than the TTL) is
  made again, and the connections still open here are claimed again;
- sweeps dead leases (`services.server_processes_sweep`): their charge
  points' `connected` flags are cleared and the leases deleted. A starting
  server sweeps at once, so what a crashed predecessor held is cleared.

`ChargePoint.online` needs the lease alive, so a dead process's charge
points read offline within OCPP_PRESENCE_TTL seconds, before any sweep.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid

from channels.db import database_sync_to_async
from django.conf import settings

from . import services

logger = logging.getLogger("csms.presence")

PROCESS_ID = uuid.uuid4().hex
HOSTNAME = socket.gethostname()
# charge point id -> session id of the connections open in this process.
local_sessions: dict[str, str] = {}
_beaten = False  # whether this process renewed its lease before (the first beat makes it)


def session_opened(charge_point_id: str, session_id: str) -> None:
    """Note an accepted connection of this process (claimed again if the lease had to be made again)."""
    local_sessions[charge_point_id] = session_id


def session_closed(charge_point_id: str, session_id: str) -> None:
    """Forget a connection of this process that closed (unless a newer one of the charge point took its place)."""
    if local_sessions.get(charge_point_id) == session_id:
        del local_sessions[charge_point_id]


def renew_interval() -> float:
    """Seconds between renewals: a third of OCPP_PRESENCE_TTL, so two may fail before the lease expires."""
    return settings.OCPP_PRESENCE_TTL / 3


async def beat() -> tuple[bool, int]:
    """Renew this process's lease, then sweep dead ones: (whether the lease was still there, charge points marked offline)."""
    kept = await database_sync_to_async(services.server_process_renew)(
        process_id=PROCESS_ID, hostname=HOSTNAME, pid=os.getpid(), sessions=dict(local_sessions)
    )
    global _beaten
    if not kept and _beaten:
        logger.warning("presence: this process's lease had expired; made again, %d connections claimed again", len(local_sessions))
    _beaten = True
    swept = await database_sync_to_async(services.server_processes_sweep)(ttl_s=settings.OCPP_PRESENCE_TTL, keep=PROCESS_ID)
    if swept:
        logger.warning("presence: %d charge points of dead server processes marked offline", swept)
    return kept, swept


async def run() -> None:
    """Renew and sweep forever (every `renew_interval()` seconds); failures are logged and retried. Cancellable."""
    while True:
        try:
            await beat()
        except Exception:
            logger.exception("presence: lease not renewed")
        await asyncio.sleep(renew_interval())
