"""Commands across processes: two daphne processes sharing one database and one Redis channel layer.

What a fleet behind a load balancer does: a charge point holds its socket on
one process while the API request that commands it lands on another. The
command must cross the Redis channel layer to the process holding the socket
and its answer must come back (DESIGN.md "Commands out"); when the charge point
reconnects to another process, or a second connection takes over, commands
must follow it.

The servers always get REDIS_URL (this run's, else the local default) with
the deployment's unique REDIS_PREFIX, and the deployment's own database: a
fresh PostgreSQL database when DATABASE_URL names PostgreSQL, else a SQLite
file, which two processes share through WAL. So these tests also run in the
default CI run. Without a reachable Redis they fail under CI and skip
elsewhere.

Commands are sent one at a time: concurrent writers from two processes make
SQLite fail some of them with "database is locked" (see docs/performance.md);
`make bench` measures the concurrent case.

The charge point is the mobilityhouse `ocpp` library's v16 ChargePoint over
`websockets`, as in test_session_v16.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import urllib.parse

import pytest
import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint as OcppChargePoint
from ocpp.v16 import call, call_result
from ocpp.v16.enums import (
    Action,
    AvailabilityStatus,
    RegistrationStatus,
    ResetStatus,
    TriggerMessageStatus,
)

from tests.e2e.deployment import auth_headers

pytestmark = pytest.mark.e2e

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
TAKEOVER_CLOSE_CODE = 4000  # chargepoints.consumers.TAKEOVER_CLOSE_CODE


def shared_redis_url() -> str:
    """The Redis both servers share: this run's REDIS_URL, else the local default.

    Fails the test under CI (env CI non-empty) when Redis does not answer a
    PING within 3 s, and skips it elsewhere: the multi-process path cannot be
    tested without a shared channel layer.
    """
    import redis

    url = os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL
    try:
        redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3).ping()
    except redis.RedisError as exc:
        message = f"the multi-process test needs Redis at {url} (set REDIS_URL); it is unreachable: {exc}"
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return url


@pytest.fixture
def two_servers(deployment):
    """(A, B): two daphne processes on the deployment's database sharing Redis under its REDIS_PREFIX."""
    # Before the first server starts: each reads REDIS_URL once; the deployment stops
    # the servers and clears the keys under its prefix when it ends.
    deployment.env["REDIS_URL"] = shared_redis_url()
    a = deployment.start_server()
    b = deployment.start_server()
    for server in (a, b):
        status, health = deployment.api("GET", "/health", server=server)
        assert status == 200, health
        assert health["channel_layer"]["backend"].endswith("RedisChannelLayer"), health
    return a, b


class Station(OcppChargePoint):
    """An OCPP 1.6 charge point that accepts what the central system asks and remembers each CALL.

    `received` lists (action, payload as the handler got it, snake_case) in
    arrival order: which connection a command reached is which Station's list
    grew.
    """

    def __init__(self, *args, reset_delay_s: float = 0, **kwargs):
        super().__init__(*args, **kwargs)
        self.received: list[tuple[str, dict]] = []
        self.reset_delay_s = reset_delay_s

    @on(Action.reset)
    async def on_reset(self, type):
        self.received.append(("Reset", {"type": type}))
        # A charge point may take seconds to answer (it finishes a write to flash first, say).
        await asyncio.sleep(self.reset_delay_s)
        return call_result.Reset(status=ResetStatus.accepted)

    @on(Action.change_availability)
    def on_change_availability(self, connector_id, type):
        self.received.append(("ChangeAvailability", {"connector_id": connector_id, "type": type}))
        return call_result.ChangeAvailability(status=AvailabilityStatus.accepted)

    @on(Action.trigger_message)
    def on_trigger_message(self, requested_message, connector_id=None):
        self.received.append(("TriggerMessage", {"requested_message": requested_message}))
        return call_result.TriggerMessage(status=TriggerMessageStatus.accepted)

    @on(Action.get_configuration)
    def on_get_configuration(self, key=None):
        self.received.append(("GetConfiguration", {"key": key}))
        return call_result.GetConfiguration(
            configuration_key=[
                {"key": "HeartbeatInterval", "readonly": False, "value": "300"},
                {"key": "NumberOfConnectors", "readonly": True, "value": "2"},
            ]
        )


class Connection:
    """One open socket of a Station: `station`, `ws`, and the task reading frames (`listener`)."""

    def __init__(self, station: Station, ws, listener: asyncio.Task):
        self.station = station
        self.ws = ws
        self.listener = listener

    async def close(self) -> None:
        self.listener.cancel()
        with contextlib.suppress(asyncio.CancelledError, websockets.ConnectionClosed):
            await self.listener
        await self.ws.close()


async def connect(server, charge_point_id: str, *, boot: bool = True, reset_delay_s: float = 0) -> Connection:
    """Open a socket to `server` as `charge_point_id` (subprotocol ocpp1.6) and boot; raises on refusal.

    `reset_delay_s`: seconds the station waits before answering a Reset.
    """
    url = server.ws("/ocpp/" + urllib.parse.quote(charge_point_id, safe=""))
    # No client pings: they would be channel-layer-silent traffic that hides an idle connection's fate.
    ws = await websockets.connect(url, subprotocols=["ocpp1.6"], open_timeout=10, ping_interval=None, additional_headers=auth_headers(url))
    assert ws.subprotocol == "ocpp1.6"
    station = Station(charge_point_id, ws, reset_delay_s=reset_delay_s)
    connection = Connection(station, ws, asyncio.create_task(station.start()))
    if boot:
        answer = await asyncio.wait_for(station.call(call.BootNotification(charge_point_vendor="Acme", charge_point_model="MP")), 10)
        assert answer.status == RegistrationStatus.accepted
    return connection


def command_path(charge_point_id: str, action: str) -> str:
    return f"/api/v1/chargepoints/{urllib.parse.quote(charge_point_id, safe='')}/commands/{action}/"


async def send_command(deployment, server, charge_point_id: str, action: str, payload: dict) -> tuple[int, dict]:
    """POST the command through `server`'s API without blocking the loop the Station answers on."""
    return await asyncio.to_thread(deployment.api, "POST", command_path(charge_point_id, action), payload, server)


def wait_until_disconnected(deployment, charge_point_id: str, timeout_s: float = 10) -> None:
    """Poll the API until the charge point is recorded as not connected (its old process handled the close)."""
    path = "/api/v1/chargepoints/" + urllib.parse.quote(charge_point_id, safe="") + "/"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status, body = deployment.api("GET", path)
        assert status == 200, body
        if not body["connected"]:
            return
        time.sleep(0.1)
    pytest.fail(f"{charge_point_id} still recorded as connected {timeout_s:g} s after closing its socket")


def command_log(deployment, server, charge_point_id: str) -> list[dict]:
    """The command log of one charge point through `server`'s API, oldest first."""
    status, page = deployment.api(
        "GET", "/api/v1/commands/?limit=100&charge_point=" + urllib.parse.quote(charge_point_id, safe=""), server=server
    )
    assert status == 200, page
    return sorted(page["results"], key=lambda entry: entry["id"])


def assert_offline_on_both(deployment, servers, charge_point_id: str) -> None:
    for server in servers:
        status, body = deployment.api("POST", command_path(charge_point_id, "Reset"), {"type": "Soft"}, server=server)
        assert status == 409, (server.port, status, body)
        assert "not connected" in body["detail"]


COMMANDS = [
    ("Reset", {"type": "Soft"}, {"status": "Accepted"}),
    ("ChangeAvailability", {"connectorId": 1, "type": "Inoperative"}, {"status": "Accepted"}),
    ("TriggerMessage", {"requestedMessage": "Heartbeat"}, {"status": "Accepted"}),
    (
        "GetConfiguration",
        {},
        {
            "configurationKey": [
                {"key": "HeartbeatInterval", "readonly": False, "value": "300"},
                {"key": "NumberOfConnectors", "readonly": True, "value": "2"},
            ]
        },
    ),
]


def test_commands_through_one_process_reach_a_charge_point_connected_to_the_other(deployment, two_servers):
    a, b = two_servers
    cp_id = "MP*CP:1"
    assert deployment.api("POST", "/api/v1/chargepoints/", {"id": cp_id}, server=b)[0] == 201
    assert_offline_on_both(deployment, (a, b), cp_id)

    async def scenario():
        connection = await connect(a, cp_id)
        try:
            answers = [await send_command(deployment, b, cp_id, action, payload) for action, payload, _ in COMMANDS]
            return answers, list(connection.station.received)
        finally:
            await connection.close()

    answers, received = asyncio.run(scenario())

    for (status, body), (action, _, expected) in zip(answers, COMMANDS, strict=True):
        assert status == 200, (action, status, body)
        assert body["action"] == action and body["charge_point"] == cp_id
        assert body["response"] == expected
        assert isinstance(body["round_trip_ms"], int) and body["round_trip_ms"] >= 0
    assert [action for action, _ in received] == [action for action, _, _ in COMMANDS]
    assert received[1] == ("ChangeAvailability", {"connector_id": 1, "type": "Inoperative"})

    # Both processes read the same command log: every command answered, by the admin, through the API.
    for server in (a, b):
        log = command_log(deployment, server, cp_id)
        answered = [entry for entry in log if entry["status"] == "answered"]
        assert [entry["id"] for entry in answered] == sorted(body["command_id"] for _, body in answers)
        for entry, (_, body) in zip(answered, answers, strict=True):
            assert entry["response"] == body["response"]
            assert entry["round_trip_ms"] == body["round_trip_ms"]
            assert entry["source"] == "api" and entry["user"] == "admin"
            assert entry["unique_id"] and entry["sent_at"] and entry["completed_at"]
        assert [entry["status"] for entry in log if entry["status"] != "answered"] == ["offline", "offline"]

    # The socket really was on A: only A logged the connection.
    assert f"{cp_id}: connected" in a.log()
    assert f"{cp_id}: connected" not in b.log()

    wait_until_disconnected(deployment, cp_id)
    assert_offline_on_both(deployment, (a, b), cp_id)


def test_commands_follow_a_charge_point_that_reconnects_to_the_other_process(deployment, two_servers):
    a, b = two_servers
    cp_id = "MP-RECONNECT"
    assert deployment.api("POST", "/api/v1/chargepoints/", {"id": cp_id}, server=a)[0] == 201

    async def on_a_then_on_b():
        first = await connect(a, cp_id)
        try:
            before = await send_command(deployment, b, cp_id, "Reset", {"type": "Soft"})
        finally:
            await first.close()
        await asyncio.to_thread(wait_until_disconnected, deployment, cp_id)
        await asyncio.to_thread(assert_offline_on_both, deployment, (a, b), cp_id)

        second = await connect(b, cp_id)
        try:
            after = [await send_command(deployment, a, cp_id, action, payload) for action, payload, _ in COMMANDS]
        finally:
            await second.close()
        return before, after, first.station.received, second.station.received

    before, after, first_received, second_received = asyncio.run(on_a_then_on_b())

    assert before[0] == 200 and before[1]["response"] == {"status": "Accepted"}, before
    assert [action for action, _ in first_received] == ["Reset"]
    for (status, body), (action, _, expected) in zip(after, COMMANDS, strict=True):
        assert status == 200, (action, status, body)
        assert body["response"] == expected
    assert [action for action, _ in second_received] == [action for action, _, _ in COMMANDS]

    log = command_log(deployment, b, cp_id)
    assert [entry["status"] for entry in log] == ["answered", "offline", "offline"] + ["answered"] * len(COMMANDS)

    wait_until_disconnected(deployment, cp_id)
    assert_offline_on_both(deployment, (a, b), cp_id)


def test_a_takeover_on_the_other_process_closes_the_first_socket_and_commands_follow(deployment, two_servers):
    a, b = two_servers
    cp_id = "MP-TAKEOVER"
    assert deployment.api("POST", "/api/v1/chargepoints/", {"id": cp_id})[0] == 201

    async def takeover():
        first = await connect(a, cp_id)
        second = None
        try:
            assert (await send_command(deployment, b, cp_id, "Reset", {"type": "Soft"}))[0] == 200
            # Connect again, to B, without closing the first socket.
            second = await connect(b, cp_id)
            # A closes the older socket when B announces the takeover through Redis.
            with contextlib.suppress(asyncio.CancelledError, websockets.ConnectionClosed):
                await asyncio.wait_for(asyncio.shield(first.listener), 10)
            first_close_code = first.ws.close_code
            # Through A, which held the first socket: the commands must cross to B.
            answers = [await send_command(deployment, a, cp_id, action, payload) for action, payload, _ in COMMANDS]
            return first_close_code, answers, first.station.received, second.station.received
        finally:
            await first.close()
            if second is not None:
                await second.close()

    first_close_code, answers, first_received, second_received = asyncio.run(takeover())

    assert first_close_code == TAKEOVER_CLOSE_CODE
    assert [action for action, _ in first_received] == ["Reset"]
    for (status, body), (action, _, expected) in zip(answers, COMMANDS, strict=True):
        assert status == 200, (action, status, body)
        assert body["response"] == expected
    assert [action for action, _ in second_received] == [action for action, _, _ in COMMANDS]

    wait_until_disconnected(deployment, cp_id)
    # The older socket's close did not mark the charge point offline: the newer one owned it.
    assert f"{cp_id}: disconnected (code {TAKEOVER_CLOSE_CODE}) after takeover" in a.log()
    assert_offline_on_both(deployment, (a, b), cp_id)


# --- One process holding sockets and serving the API -------------------------
#
# A load balancer sends API requests to every process, so a command often
# lands on the process that holds the socket, next to its consumers.


def test_a_process_serves_commands_and_health_for_the_charge_points_it_holds(deployment, two_servers):
    # channels-redis reads all of a process's channels behind one receive lock,
    # BZPOPMIN-ing only "specific.<process>!": reply and health channels under
    # other prefixes were not read while a consumer waited, so commands to a
    # charge point on the API's own process ended in 500/409 after 5-10 s and
    # /health answered 503 there (fixed in 6ffd280: default prefixes).
    a, b = two_servers
    cp_id = "MP-LOCAL"
    assert deployment.api("POST", "/api/v1/chargepoints/", {"id": cp_id})[0] == 201

    async def on_b_through_b():
        connection = await connect(b, cp_id)
        try:
            started = time.monotonic()
            health = [await asyncio.to_thread(deployment.api, "GET", "/health", None, b) for _ in range(2)]
            answers = [await send_command(deployment, b, cp_id, action, payload) for action, payload, _ in COMMANDS]
            return health, answers, time.monotonic() - started, connection.station.received
        finally:
            await connection.close()

    health, answers, elapsed_s, received = asyncio.run(on_b_through_b())
    for status, body in health:
        assert status == 200, body
    for (status, body), (action, _, expected) in zip(answers, COMMANDS, strict=True):
        assert status == 200, (action, status, body)
        assert body["response"] == expected
    assert [action for action, _ in received] == [action for action, _, _ in COMMANDS]
    # Loopback answers take milliseconds; the defect showed as 5 s stalls.
    assert elapsed_s < 4, f"2 health checks and {len(COMMANDS)} commands took {elapsed_s:.1f} s"


# --- Idle connections on the Redis channel layer -----------------------------

IDLE_S = 6.5  # longer than channels-redis's 5 s BZPOPMIN and redis-py 8's default 5 s socket timeout


def test_an_idle_charge_point_stays_reachable_and_slow_answers_come_back(deployment, two_servers):
    # redis-py 8 cut every channel-layer read idle for 5 s with TimeoutError
    # (channels_redis#422): the consumer of an idle charge point crashed (socket
    # closed 1011, `connected` left true) and answers slower than 5 s gave HTTP
    # 500 (fixed in 6ffd280: csms/settings.py gives the layer no socket timeout).
    a, b = two_servers
    cp_id = "MP-IDLE"
    assert deployment.api("POST", "/api/v1/chargepoints/", {"id": cp_id})[0] == 201

    async def idle_then_slow():
        connection = await connect(a, cp_id, reset_delay_s=IDLE_S)
        try:
            await asyncio.sleep(IDLE_S)
            # Nothing happened on the channel layer for longer than Redis reads may block.
            assert connection.ws.close_code is None, f"the server closed the idle socket ({connection.ws.close_code})"
            quick = await send_command(deployment, b, cp_id, "TriggerMessage", {"requestedMessage": "Heartbeat"})
            slow = await send_command(deployment, b, cp_id, "Reset", {"type": "Soft"})
            return quick, slow
        finally:
            await connection.close()

    quick, slow = asyncio.run(idle_then_slow())
    assert quick[0] == 200, quick
    assert slow[0] == 200 and slow[1]["response"] == {"status": "Accepted"}, slow
    assert slow[1]["round_trip_ms"] >= IDLE_S * 1000
