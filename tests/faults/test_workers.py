"""`python -m csms.serve --workers 2`: two daphne processes behind one port, supervised (docs/reliability.md, "Workers").

Real processes on PostgreSQL and a redis-server of the test's own, whatever
the test run's own database: several workers on one SQLite file is not the
deployment this supervises. PostgreSQL at FAULTS_DATABASE_URL (or the run's
DATABASE_URL when it is PostgreSQL) and redis-server must be there: the
tests fail without them, never skip.
"""

from __future__ import annotations

import os
import signal
import time

from tests.e2e.deployment import Database, deploy
from tests.faults.redis_server import RedisServer
from tests.faults.test_database import postgres_url
from tests.faults.test_redis import ChargePoint

BOOT = {"chargePointVendor": "V", "chargePointModel": "M"}


def worker_pids(server, count: int = 2, timeout: float = 30) -> list[int]:
    """The supervisor's `count` worker pids once that many are running."""
    deadline = time.monotonic() + timeout
    while len(pids := server.pids()[1:]) != count:
        assert time.monotonic() < deadline, f"workers running: {pids}\n{server.log_tail()}"
        time.sleep(0.1)
    return pids


def serving_pids(database: Database) -> dict[str, int]:
    """{charge point id: pid of the worker holding its connection}, from the presence leases."""
    rows = database.rows(
        "SELECT c.id, p.pid FROM chargepoints_chargepoint c JOIN chargepoints_serverprocess p ON c.server_process_id = p.id"
        " WHERE c.connected"
    )
    return dict(rows)


def connect(dep, server, ids: list[str]) -> dict[str, ChargePoint]:
    cps = {}
    for cp_id in ids:
        if dep.api("GET", f"/api/v1/chargepoints/{cp_id}/", server=server)[0] == 404:
            assert dep.api("POST", "/api/v1/chargepoints/", {"id": cp_id}, server)[0] == 201
        cps[cp_id] = cp = ChargePoint(server.ws(f"/ocpp/{cp_id}"))
        assert cp.call("BootNotification", BOOT)[2]["status"] == "Accepted"
    return cps


def test_two_workers_share_the_port_and_one_killed_is_restarted_and_serves_again(tmp_path):
    env = {"DATABASE_URL": postgres_url(), "OCPP_PRESENCE_TTL": "6"}
    with RedisServer(tmp_path) as redis, deploy(tmp_path, name="faults-workers", env={**env, "REDIS_URL": redis.url}) as dep:
        (server,) = dep.start_servers(1, workers=2)
        pids = worker_pids(server)
        database = Database(dep.env["DATABASE_URL"])
        # The kernel spreads connections over the workers' sockets by a hash of the client's
        # port: sixteen connections all on one worker would happen once in 30,000 runs.
        first = connect(dep, server, [f"CP-{n}" for n in range(1, 17)])
        try:
            served = serving_pids(database)
            assert set(served) == set(first)
            assert set(served.values()) == set(pids)

            victim = pids[0]
            os.kill(victim, signal.SIGKILL)
            deadline = time.monotonic() + 30
            while victim in (now := server.pids()[1:]) or len(now) != 2:
                assert time.monotonic() < deadline, server.log_tail()
                time.sleep(0.1)
            restarted = next(pid for pid in now if pid not in pids)
            second = connect(dep, server, [f"CP-{n}" for n in range(17, 33)])
            try:
                served = serving_pids(database)
                assert {served[cp_id] for cp_id in second} == {pids[1], restarted}
                # The survivor's charge points never noticed.
                survivors = [cp_id for cp_id, cp in first.items() if cp.closed_with is None]
                assert survivors and all(first[cp_id].call("Heartbeat", {})[0] == 3 for cp_id in survivors)
            finally:
                for cp in second.values():
                    cp.close()
        finally:
            for cp in first.values():
                cp.close()
        log = server.log()
        assert f"worker 1 (pid {victim}) was killed by signal 9" in log or f"worker 2 (pid {victim}) was killed by signal 9" in log
        assert f"started, pid {restarted}" in log


def test_sigterm_to_the_supervisor_closes_every_charge_point_with_1012_and_exits_0(tmp_path):
    env = {"DATABASE_URL": postgres_url(), "OCPP_SHUTDOWN_TIMEOUT": "8"}
    with RedisServer(tmp_path) as redis, deploy(tmp_path, name="faults-workers-term", env={**env, "REDIS_URL": redis.url}) as dep:
        (server,) = dep.start_servers(1, workers=2)
        pids = worker_pids(server)
        database = Database(dep.env["DATABASE_URL"])
        cps = connect(dep, server, [f"CP-{n}" for n in range(1, 13)])
        assert set(serving_pids(database).values()) == set(pids)

        sent_at = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        code = server.process.wait(30)
        took = time.monotonic() - sent_at
        for cp in cps.values():
            cp.wait_closed(5)

        assert code == 0, server.log_tail()
        assert {cp_id: cp.closed_with for cp_id, cp in cps.items()} == {cp_id: 1012 for cp_id in cps}
        assert took < 8 + 4
        assert database.value("SELECT count(*) FROM chargepoints_chargepoint WHERE connected") == 0
        for pid in pids:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                continue
            raise AssertionError(f"worker {pid} still running after the supervisor exited")
