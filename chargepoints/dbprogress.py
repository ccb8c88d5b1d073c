"""Is the database answering? The time its last statement returned, in this process.

A CALL waiting on the database is answered InternalError after
OCPP_HANDLER_TIMEOUT only when the database made no progress for that long
(`stalled`): a hung server, not a long queue. During a boot storm a thousand
BootNotifications queue on the one ORM thread (trap 4) for longer than the
timeout while statements keep returning; they must wait their turn, not be
refused (a refused boot comes back and lengthens the queue).

`install` (from ChargepointsConfig.ready) adds an execute wrapper to every
new database connection; it costs one monotonic clock read per statement.
"""

from __future__ import annotations

import time

from django.db.backends.signals import connection_created

_last_returned = time.monotonic()


def _record(execute, sql, params, many, context):
    global _last_returned
    try:
        return execute(sql, params, many, context)
    finally:
        # An error is an answer too: the database is there.
        _last_returned = time.monotonic()


def _on_connection_created(sender, connection, **kwargs) -> None:
    if _record not in connection.execute_wrappers:
        connection.execute_wrappers.append(_record)


def install() -> None:
    """Record statement returns on every database connection made from now on."""
    connection_created.connect(_on_connection_created, dispatch_uid="chargepoints.dbprogress")


def stalled(seconds: float) -> bool:
    """True when no statement of this process has returned for `seconds` seconds."""
    return time.monotonic() - _last_returned > seconds
