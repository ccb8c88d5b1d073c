"""Redis killed and restarted under live sessions on two server processes (docs/reliability.md, "Redis outage").

The charge point is on process A, commands go through process B's API, so
every command crosses Redis. The deployment's Redis is a redis-server of the
test's own (tests/faults/redis_server.py), killed with SIGKILL and started
again empty, as a crash and restart of Redis would leave it.
"""

from __future__ import annotations

import json
import queue
import threading
import time
import uuid

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.e2e.deployment import Database, auth_headers, deploy
from tests.faults.redis_server import RedisServer


class ChargePoint:
    """A 1.6 charge point on a real socket: answers every CALL of the central system with an Accepted status."""

    def __init__(self, url: str, answer_delay: float = 0):
        self.ws = connect(url, subprotocols=["ocpp1.6"], additional_headers=auth_headers(url), open_timeout=10)
        self.replies: queue.Queue = queue.Queue()
        self.calls_received: list[str] = []
        self.answer_delay = answer_delay
        self.closed_with: int | None = None
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        try:
            while True:
                frame = json.loads(self.ws.recv())
                if frame[0] == 2:
                    self.calls_received.append(frame[2])
                    threading.Timer(self.answer_delay, self._answer, [frame[1]]).start()
                else:
                    self.replies.put(frame)
        except ConnectionClosed as closed:
            self.closed_with = closed.rcvd.code if closed.rcvd else 1006

    def _answer(self, unique_id: str) -> None:
        try:
            self.ws.send(json.dumps([3, unique_id, {"status": "Accepted"}]))
        except ConnectionClosed:
            pass

    def wait_closed(self, timeout: float) -> None:
        """Wait until the server has closed the socket (`closed_with` set) or `timeout` seconds passed."""
        self._reader.join(timeout)

    def call(self, action: str, payload: dict, timeout: float = 20) -> list:
        unique_id = uuid.uuid4().hex
        self.ws.send(json.dumps([2, unique_id, action, payload]))
        reply = self.replies.get(timeout=timeout)
        assert reply[1] == unique_id
        return reply

    def close(self) -> None:
        self.ws.close()


def status(info: str) -> dict:
    return {"connectorId": 1, "errorCode": "NoError", "status": "Available", "info": info}


def command(dep, server):
    return dep.api("POST", "/api/v1/chargepoints/CP-1/commands/ChangeAvailability/", {"connectorId": 0, "type": "Operative"}, server)


def test_a_redis_outage_keeps_sessions_up_answers_503_to_commands_and_recovers_alone(tmp_path):
    with RedisServer(tmp_path) as redis, deploy(tmp_path, name="faults-redis", env={"REDIS_URL": redis.url}, servers=2) as dep:
        a, b = dep.servers
        assert dep.api("POST", "/api/v1/chargepoints/", {"id": "CP-1"}, a)[0] == 201
        cp = ChargePoint(a.ws("/ocpp/CP-1"))
        try:
            assert cp.call("BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})[2]["status"] == "Accepted"
            assert command(dep, b)[0] == 200

            redis.kill()
            during = cp.call("StatusNotification", status("during the outage"))
            refused_status, refused = command(dep, b)
            time.sleep(1)
            still_up = cp.call("Heartbeat", {})

            assert during[0] == 3 and still_up[0] == 3
            assert refused_status == 503, refused
            assert "channel layer" in refused["detail"] and refused["command_id"]
            assert cp.closed_with is None

            redis.start()
            deadline = time.monotonic() + 30
            while (outcome := command(dep, b))[0] != 200 and time.monotonic() < deadline:
                time.sleep(0.5)
            assert outcome[0] == 200, outcome
            assert cp.call("StatusNotification", status("after the outage"))[0] == 3
            assert dep.api("GET", "/health", server=a)[0] == 200
            assert cp.closed_with is None
        finally:
            cp.close()
        database = Database(dep.env["DATABASE_URL"])
        infos = {row[0] for row in database.rows("SELECT info FROM chargepoints_statusnotification WHERE info LIKE %s", "%outage")}
        assert infos == {"during the outage", "after the outage"}
        assert database.value("SELECT status FROM chargepoints_command WHERE id = %s", refused["command_id"]) == "failed"


@pytest.mark.parametrize("redis_alive", [True, False])
def test_a_disconnect_marks_the_charge_point_offline_whatever_redis_does(tmp_path, redis_alive):
    with RedisServer(tmp_path) as redis, deploy(tmp_path, name="faults-redis-dc", env={"REDIS_URL": redis.url}, servers=1) as dep:
        assert dep.api("POST", "/api/v1/chargepoints/", {"id": "CP-1"})[0] == 201
        cp = ChargePoint(dep.servers[0].ws("/ocpp/CP-1"))
        cp.call("BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})
        assert dep.api("GET", "/api/v1/chargepoints/CP-1/")[1]["connected"] is True
        if not redis_alive:
            redis.kill()
        cp.close()
        deadline = time.monotonic() + 10
        while dep.api("GET", "/api/v1/chargepoints/CP-1/")[1]["connected"] and time.monotonic() < deadline:
            time.sleep(0.2)
        assert dep.api("GET", "/api/v1/chargepoints/CP-1/")[1]["connected"] is False


def test_charge_points_connecting_do_not_each_hold_a_redis_connection(tmp_path):
    # Django's `cache` is one instance per async context, hence per charge point connection: the
    # failed-authentication counters read through it once held a Redis connection per charge point,
    # and a 10,000 boot storm ran Redis out of clients (every later connect then got 403).
    import redis as redis_py

    fleet = [f"CP-{i}" for i in range(60)]
    with RedisServer(tmp_path) as redis, deploy(tmp_path, name="faults-clients", env={"REDIS_URL": redis.url}, servers=1) as dep:
        (a,) = dep.servers
        for cp_id in fleet:
            assert dep.api("POST", "/api/v1/chargepoints/", {"id": cp_id}, a)[0] == 201
        before = redis_py.Redis.from_url(redis.url).info("clients")["connected_clients"]
        cps = [ChargePoint(a.ws(f"/ocpp/{cp_id}")) for cp_id in fleet]
        for cp in cps:
            cp.call("Heartbeat", {})
        during = redis_py.Redis.from_url(redis.url).info("clients")["connected_clients"]
        for cp in cps:
            cp.close()

    assert during - before < len(fleet) // 2, (before, during)
