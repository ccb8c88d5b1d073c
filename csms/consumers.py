"""What every Channels consumer of ours shares."""

from __future__ import annotations

from channels.consumer import get_handler_name


class NoDatabaseHopMixin:
    """Channels' AsyncConsumer.dispatch without its database hop: put it before the consumer class.

    Channels (4.2 and later) first runs close_old_connections on the ORM
    thread for every message a consumer receives. Our consumers make every
    database call through database_sync_to_async, which does that itself on
    that thread; the extra hop made each message wait for the one ORM thread
    (DESIGN.md trap 4) before its handler even started: every OCPP frame
    behind a hung query, every console frame and fleet change behind the
    charge points' own work. Raises ValueError for a message type the
    consumer has no handler for, as Channels does.
    """

    async def dispatch(self, message):
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)
