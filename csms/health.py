"""GET /health: is this process able to serve? For load balancers and monitors.

No authentication. Answers JSON, 200 when every check passes and 503
otherwise:

    {"status": "ok" | "error",
     "database": {"ok": bool, "error"?: str},
     "channel_layer": {"ok": bool, "backend": "<dotted class path>", "error"?: str}}

The checks run concurrently, each bounded by a timeout, so a hung database
or Redis answers 503 within a few seconds instead of hanging the monitor.
"""

from __future__ import annotations

import asyncio
import logging
import secrets

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

logger = logging.getLogger("csms.health")

# Seconds each check may take before it counts as failed.
DATABASE_TIMEOUT_S = 5.0
CHANNEL_LAYER_TIMEOUT_S = 2.0

# Error strings are public (no authentication): keep them short.
_MAX_ERROR_CHARS = 200


def _describe(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "timed out"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text[:_MAX_ERROR_CHARS]


def _select_one() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        row = cursor.fetchone()
    if row is None or row[0] != 1:
        raise RuntimeError(f"SELECT 1 returned {row!r}")


async def check_database() -> dict:
    """Run `SELECT 1` on the default database: {"ok": True} or {"ok": False, "error": str}.

    Runs on Django's thread for sync code (thread_sensitive), where the
    request's connection lives and is cleaned up at the end of the request.
    """
    try:
        await asyncio.wait_for(sync_to_async(_select_one)(), timeout=DATABASE_TIMEOUT_S)
    except Exception as exc:
        logger.warning("health: database check failed", exc_info=True)
        return {"ok": False, "error": _describe(exc)}
    return {"ok": True}


async def check_channel_layer() -> dict:
    """Send a message to a new channel of the default layer and receive it back.

    Returns {"ok": bool, "backend": dotted class path or "", "error"?: str};
    fails when no layer is configured, on any layer error, on a different
    message, or when the round trip takes more than CHANNEL_LAYER_TIMEOUT_S.
    """
    layer = get_channel_layer()
    if layer is None:
        return {"ok": False, "backend": "", "error": "no channel layer configured (CHANNEL_LAYERS)"}
    backend = f"{type(layer).__module__}.{type(layer).__qualname__}"
    nonce = secrets.token_hex(8)

    async def round_trip():
        channel = await layer.new_channel()
        await layer.send(channel, {"type": "health.check", "nonce": nonce})
        message = await layer.receive(channel)
        if message.get("nonce") != nonce:
            raise RuntimeError("received a different message than was sent")

    try:
        await asyncio.wait_for(round_trip(), timeout=CHANNEL_LAYER_TIMEOUT_S)
    except Exception as exc:
        logger.warning("health: channel layer check failed (%s)", backend, exc_info=True)
        return {"ok": False, "backend": backend, "error": _describe(exc)}
    return {"ok": True, "backend": backend}


@never_cache
@require_safe
async def health(request):
    """GET/HEAD /health: 200 {"status": "ok", ...} when the database and channel layer work, else 503."""
    database, channel_layer = await asyncio.gather(check_database(), check_channel_layer())
    ok = database["ok"] and channel_layer["ok"]
    body = {"status": "ok" if ok else "error", "database": database, "channel_layer": channel_layer}
    return JsonResponse(body, status=200 if ok else 503)
