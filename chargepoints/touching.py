"""Heartbeats and `last_seen` of many connections in one database transaction (group commit, `csms.batching`).

10,000 charge points beating every 5 minutes are 33 Heartbeats a second, and
each connection writes `last_seen` every OCPP_LAST_SEEN_WRITE_INTERVAL
seconds: one UPDATE, one commit and one ORM thread hop each, when written one
by one. Here the touches that arrive while one write runs go together into
the next (`services.charge_points_touch`: at most two UPDATEs a batch).
"""

from __future__ import annotations

from datetime import datetime

from csms.batching import GroupCommit, writer_for

from . import services


def _write(touches: list[tuple[str, bool]]) -> list[datetime]:
    return services.charge_points_touch(touches=touches)


def touch_writer() -> GroupCommit[tuple[str, bool], datetime]:
    """This event loop's group commit of (charge point id, heartbeat) touches."""
    return writer_for("last_seen write", _write)


async def touch(charge_point_id: str, *, heartbeat: bool = False) -> datetime:
    """Record that `charge_point_id` was heard from (and beat, with `heartbeat`), with the others of the moment; the time written.

    Returns once committed; raises what the write raised.
    """
    return await touch_writer().submit((charge_point_id, heartbeat))
