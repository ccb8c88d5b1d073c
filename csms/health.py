"""GET /health: is this process able to serve? For load balancers and monitors.

No authentication. Answers JSON, 200 when every check passes and 503
otherwise:

    {"status": "ok" | "error",
     "database": {"ok": bool, "error"?: str},
     "channel_layer": {"ok": bool, "backend": "<dotted class path>", "error"?: str}}

The checks run concurrently, each bounded by a timeout, so a hung database
or Redis answers 503 within a few seconds instead of hanging the monitor.
The database check runs on a thread of its own, with a connection of its
own, not on the thread that does all of the process's ORM work: a query stuck
there must not hold /health. For the same reason daphne serves /health with
`asgi_health` (csms/asgi.py), before Django's request handling, which waits
for that thread at the start and end of every request; the Django view is
the same check for the test client and the URL configuration.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

logger = logging.getLogger("csms.health")

# Seconds each check may take before it counts as failed: /health answers within 5 s, with room
# for the request itself on a loaded process.
DATABASE_TIMEOUT_S = 3.0
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


def _select_one_on_a_fresh_connection() -> None:
    try:
        _select_one()
    finally:
        # This thread's own connection: not left open in the executor's thread.
        connection.close()


async def check_database() -> dict:
    """Run `SELECT 1` on the default database: {"ok": True} or {"ok": False, "error": str}.

    On an executor thread (not thread_sensitive) with a connection opened and
    closed for the check, so it answers within DATABASE_TIMEOUT_S seconds
    even while the ORM thread is stuck in a query.
    """
    try:
        await asyncio.wait_for(sync_to_async(_select_one_on_a_fresh_connection, thread_sensitive=False)(), timeout=DATABASE_TIMEOUT_S)
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


async def report() -> tuple[int, dict]:
    """(200 or 503, the JSON body described above): both checks, run concurrently."""
    database, channel_layer = await asyncio.gather(check_database(), check_channel_layer())
    ok = database["ok"] and channel_layer["ok"]
    body = {"status": "ok" if ok else "error", "database": database, "channel_layer": channel_layer}
    from chargepoints.mqtt import bridge

    if bridge.ACTIVE:
        # Reported, not judged: a broker outage costs the mirror, never the OCPP sessions.
        body["mqtt_bridge"] = bridge.get().stats()
    return (200 if ok else 503), body


@never_cache
@require_safe
async def health(request):
    """GET/HEAD /health: 200 {"status": "ok", ...} when the database and channel layer work, else 503."""
    status, body = await report()
    return JsonResponse(body, status=status)


HEALTH_PATHS = ("/health", "/health/")


async def asgi_health(scope, receive, send) -> None:
    """ASGI application for GET/HEAD /health (the paths in HEALTH_PATHS), the same answer as `health`.

    Other methods get 405 with Allow: GET, HEAD. Answers within
    max(DATABASE_TIMEOUT_S, CHANNEL_LAYER_TIMEOUT_S) seconds whatever the
    database, Redis or the ORM thread are doing.
    """
    headers = [(b"cache-control", b"max-age=0, no-cache, no-store, must-revalidate, private")]
    if scope["method"] not in ("GET", "HEAD"):
        status, payload = 405, b""
        headers.append((b"allow", b"GET, HEAD"))
    else:
        status, body = await report()
        payload = json.dumps(body).encode()
        headers.append((b"content-type", b"application/json"))
    headers.append((b"content-length", str(len(payload)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else payload})
