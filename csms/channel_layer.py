"""The Redis channel layer as this project runs it: sized for bursts, and riding out Redis outages.

`RedisChannelLayer` is channels-redis's layer (CHANNEL_LAYERS in
csms/settings.py when REDIS_URL is set) with three changes, each for a fault
in docs/reliability.md:

- **A blocking connection pool.** redis-py's default pool fails at once
  ("Too many connections") when its 100 connections are in use, which a
  burst of a thousand connects or disconnects on one process reaches. Here
  a call waits up to `pool_timeout` seconds for one of `max_connections`.
- **Receiving survives an outage.** A consumer's channel receive that fails
  (Redis down, restarting, unreachable) is retried with a growing pause (up
  to RETRY_MAX_S) instead of raising, which would end the consumer and close
  its charge point's socket with 1011. OCPP frames are served meanwhile: they
  need only the database.
- **Group memberships come back.** The groups this process's channels joined
  are remembered; after an outage (the first successful receive after a
  failure) they are joined again, since a restarted Redis holds none of them
  and commands from other processes find a charge point through its group.

Calls that must not wait for Redis to return (group_send, group_add, send)
still raise: `LAYER_ERRORS` lists what they raise, so callers can catch
exactly that (commands answer 503, the consumer carries on).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict

from channels_redis.core import RedisChannelLayer as _RedisChannelLayer
from redis import asyncio as aioredis
from redis.exceptions import RedisError

logger = logging.getLogger("csms.channel_layer")

# What a channel-layer call raises when Redis is unreachable, restarting or overloaded.
LAYER_ERRORS: tuple[type[BaseException], ...] = (RedisError, OSError)

RETRY_FIRST_S = 0.2
RETRY_MAX_S = 5.0


class RedisChannelLayer(_RedisChannelLayer):
    """channels-redis's layer with a blocking pool, receive retries and group re-joining (see the module docstring).

    `max_connections`: per Redis host and event loop (default 500);
    `pool_timeout`: seconds a call waits for a free connection before it
    raises redis's ConnectionError (default 10). Other arguments as
    channels_redis.core.RedisChannelLayer.
    """

    def __init__(self, *args, max_connections: int = 500, pool_timeout: float = 10.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.max_connections = max_connections
        self.pool_timeout = pool_timeout
        self._memberships: defaultdict[str, set[str]] = defaultdict(set)
        self._failing = False
        self._rejoining: asyncio.Task | None = None

    def create_pool(self, index: int) -> aioredis.ConnectionPool:
        """A BlockingConnectionPool for host `index` (an "address" host; others as channels-redis makes them)."""
        host = dict(self.hosts[index])
        if "address" not in host:
            return super().create_pool(index)
        address = host.pop("address")
        return aioredis.BlockingConnectionPool.from_url(address, max_connections=self.max_connections, timeout=self.pool_timeout, **host)

    async def group_add(self, group: str, channel: str) -> None:
        """Join `group` in Redis, remembered first so it is joined again after an outage even when this raises.

        A failure (Redis away, or no free connection within `pool_timeout` in a
        burst) also schedules `rejoin` with a growing pause until it succeeds:
        the consumer carries on and is found by commands once it has.
        """
        self._memberships[group].add(channel)
        try:
            await super().group_add(group, channel)
        except LAYER_ERRORS:
            self._rejoin_later()
            raise

    async def group_discard(self, group: str, channel: str) -> None:
        """Leave `group`: forgotten here at once, then removed in Redis (which may raise; a restarted Redis has forgotten it too)."""
        members = self._memberships.get(group)
        if members is not None:
            members.discard(channel)
            if not members:
                del self._memberships[group]
        await super().group_discard(group, channel)

    async def receive(self, channel: str) -> dict:
        """The next message of `channel`, waiting out Redis failures (retried, never raised); cancellable."""
        pause = RETRY_FIRST_S
        while True:
            try:
                if self._failing:
                    # A blocked read may wait for a message that cannot come (groups
                    # are lost with a restarted Redis): ask Redis itself first.
                    for index in range(self.ring_size):
                        await self.connection(index).ping()
                    self._recovered()
                return await super().receive(channel)
            except LAYER_ERRORS as error:
                if not self._failing:
                    logger.error("channel layer: Redis unreachable (%s); retrying, OCPP sessions carry on", error)
                    self._failing = True
                await asyncio.sleep(pause)
                pause = min(pause * 2, RETRY_MAX_S)

    def _recovered(self) -> None:
        if self._failing:
            self._failing = False
            logger.warning("channel layer: Redis reachable again; joining %d groups again", len(self._memberships))
            self._rejoin_later(pause=0)

    def _rejoin_later(self, pause: float = RETRY_FIRST_S) -> None:
        """Run `rejoin` in the background (once at a time), retrying with a growing pause until it succeeds."""
        if self._rejoining is None or self._rejoining.done():
            self._rejoining = asyncio.ensure_future(self._rejoin_until_done(pause))

    async def _rejoin_until_done(self, pause: float) -> None:
        while True:
            await asyncio.sleep(pause)
            if await self.rejoin():
                return
            pause = min(max(pause, RETRY_FIRST_S) * 2, RETRY_MAX_S)

    async def rejoin(self) -> bool:
        """Add every remembered membership to Redis again; True when all were added (a failure is logged, the rest left)."""
        for group, channels in list(self._memberships.items()):
            for channel in list(channels):
                try:
                    await super().group_add(group, channel)
                except LAYER_ERRORS as error:
                    logger.warning("channel layer: could not join %s again: %s", group, error)
                    return False
        return True
