"""2,000 charge points connecting and then disconnecting at once against one server process (docs/reliability.md, "Bursts").

Every connect is either served or, past daphne's 30 s handshake limit, dropped
for the charge point to retry: never answered with an error. The test's
charge points retry as real ones do (a pause, then again) until every one is
connected, so a machine slower than this one changes how long the burst takes,
not what it must end in.

Over a redis-server of the test's own: every connect joins a group and every
disconnect leaves it, 2,000 at a time, through one process's connection
pool. Afterwards the database must show exactly the sockets that are open
(all, then none) and Redis must hold no group membership.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter

import redis
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.e2e.deployment import Database, deploy
from tests.faults.redis_server import RedisServer

BURST = 2000


RETRY_DEADLINE = 180  # s: every charge point must be connected by then
RETRY_PAUSE = (1.0, 5.0)  # s: a charge point's pause before it tries again, drawn at random


async def _open_all(url_of, count: int) -> tuple[list, list]:
    """Connect `count` charge points at once; each one that fails tries again after a pause.

    Returns (the open connections, every failed attempt's exception).
    A server error (HTTP 5xx) is not retried: the test fails on it.
    """
    failures: list[BaseException] = []
    deadline = asyncio.get_running_loop().time() + RETRY_DEADLINE

    async def one(n: int):
        while True:
            try:
                return await connect(url_of(n), subprotocols=["ocpp1.6"], open_timeout=60, ping_interval=None)
            except Exception as error:  # noqa: BLE001 - every kind of failed attempt is tallied
                failures.append(error)
                server_error = isinstance(error, InvalidStatus) and error.response.status_code >= 500
                if server_error or asyncio.get_running_loop().time() > deadline:
                    return None
                await asyncio.sleep(random.uniform(*RETRY_PAUSE))

    results = await asyncio.gather(*(one(n) for n in range(count)))
    return [ws for ws in results if ws is not None], failures


def _tally(failures: list[BaseException]) -> str:
    """'12 TimeoutError, 3 InvalidStatus(403)': the kinds of failed attempts, for an assertion's message."""
    kinds = Counter(f"{type(f).__name__}({f.response.status_code})" if isinstance(f, InvalidStatus) else type(f).__name__ for f in failures)
    return ", ".join(f"{n} {kind}" for kind, n in kinds.most_common()) or "none"


def _wait_for(check, timeout: float) -> bool:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.5)
    return check()


def test_a_burst_of_connects_and_disconnects_leaves_flags_and_groups_true(tmp_path):
    env = {"OCPP_SECURITY_PROFILE": "none", "OCPP_ALLOW_UNKNOWN_CHARGE_POINTS": "true", "OCPP_LOG_LEVEL": "WARNING"}
    with RedisServer(tmp_path) as server, deploy(tmp_path, name="faults-burst", env={**env, "REDIS_URL": server.url}, servers=1) as dep:
        database = Database(dep.env["DATABASE_URL"])
        base = dep.servers[0]

        async def burst() -> tuple[int, list, int]:
            opened, failed = await _open_all(lambda n: base.ws(f"/ocpp/BURST-{n:04d}"), BURST)
            connected = await asyncio.to_thread(
                _wait_for, lambda: database.value("SELECT count(*) FROM chargepoints_chargepoint WHERE connected") == len(opened), 60
            )
            await asyncio.gather(*(ws.close() for ws in opened), return_exceptions=True)
            return len(opened), failed, connected

        opened, failed, all_connected_shown = asyncio.run(burst())

        # A handshake the server could not take in within daphne's 30 s (two
        # shared cores: how many depends on the machine's load) is dropped, or
        # refused by daphne (403: at profile none nothing else refuses), and the
        # charge point tries again. None may be a server error (HTTP 5xx), every
        # charge point must get in, and the flags must match the open sockets.
        errors = [f for f in failed if isinstance(f, InvalidStatus) and f.response.status_code >= 500]
        assert errors == [], f"{len(errors)} connects were answered with a server error, e.g. {errors[0]!r}"
        assert opened == BURST, (
            f"{opened} of {BURST} charge points connected within {RETRY_DEADLINE} s; failed attempts: {_tally(failed)}\n{base.log_tail()}"
        )
        assert all_connected_shown, database.value("SELECT count(*) FROM chargepoints_chargepoint WHERE connected")
        assert _wait_for(lambda: database.value("SELECT count(*) FROM chargepoints_chargepoint WHERE connected") == 0, 60), database.value(
            "SELECT count(*) FROM chargepoints_chargepoint WHERE connected"
        )
        groups = [key for key in redis.Redis.from_url(server.url).scan_iter(f"{dep.redis_prefix}*") if b"group" in key]
        assert groups == []
        assert "Too many connections" not in base.log()
