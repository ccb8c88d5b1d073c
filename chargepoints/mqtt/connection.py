"""One MQTT connection that comes back: the broker from MQTT_URL, reconnected with backoff.

    await connection.run(serve, identifier="csms-backend-1a2b")   # serve(client) runs per connection

`serve` subscribes and reads `client.messages`; when the broker goes away
(aiomqtt.MqttError) the connection is made again after 0.5 s, 1 s, 2 s … at
most MAX_BACKOFF_S (with jitter), and `serve` runs again on the new client,
so subscriptions are made again too. Cancel the task to stop.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import ssl
import urllib.parse
from collections.abc import Awaitable, Callable

import aiomqtt
from django.conf import settings

logger = logging.getLogger("csms.mqtt")

MAX_BACKOFF_S = 15.0


def client_options(url: str, *, identifier: str) -> dict:
    """aiomqtt.Client keyword arguments for a broker URL mqtt[s]://[user[:password]@]host[:port] (MQTT v5).

    mqtts:// verifies the broker against MQTT_TLS_CA_FILE, or the system's CAs when unset.
    """
    parts = urllib.parse.urlsplit(url)
    tls = parts.scheme == "mqtts"
    options = {
        "hostname": parts.hostname or "127.0.0.1",
        "port": parts.port or (8883 if tls else 1883),
        "username": urllib.parse.unquote(parts.username) if parts.username else None,
        "password": urllib.parse.unquote(parts.password) if parts.password else None,
        "identifier": identifier,
        "protocol": aiomqtt.ProtocolVersion.V5,
        "keepalive": 30,
        # Small publishes back and forth: without it Nagle's algorithm holds each for the peer's
        # delayed ACK (a CALL's round trip through the gateway took ~90 ms instead of ~10; docs/performance.md).
        "socket_options": ((socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),),
    }
    if tls:
        options["tls_context"] = ssl.create_default_context(cafile=settings.MQTT_TLS_CA_FILE or None)
    return options


async def run(serve: Callable[[aiomqtt.Client], Awaitable[None]], *, identifier: str, url: str | None = None, name: str = "mqtt") -> None:
    """Connect to `url` (MQTT_URL by default) and run `serve(client)`, again after every broker failure, forever.

    Exceptions other than aiomqtt.MqttError from `serve` propagate (a bug, not the broker).
    """
    options = client_options(url or settings.MQTT_URL, identifier=identifier)
    backoff = 0.5
    while True:
        try:
            async with aiomqtt.Client(**options) as client:
                logger.info("%s: connected to the broker at %s:%s", name, options["hostname"], options["port"])
                backoff = 0.5
                await serve(client)
        except aiomqtt.MqttError as error:
            delay = backoff * random.uniform(0.8, 1.2)
            logger.warning("%s: broker connection lost or refused (%s); again in %.1f s", name, error, delay)
            await asyncio.sleep(delay)
            backoff = min(backoff * 2, MAX_BACKOFF_S)
