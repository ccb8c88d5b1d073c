"""PostgreSQL hung or cut under a live charge point session (docs/reliability.md, "Database faults").

A TCP proxy (tests/faults/proxy.py) sits between one daphne process and
PostgreSQL. Whatever the test run's own database, these use PostgreSQL: a
hung server is a network fault, and SQLite has no network. PostgreSQL at
FAULTS_DATABASE_URL (or the run's DATABASE_URL when it is PostgreSQL) must be
reachable: the deployment fails the test otherwise, never skips it.
"""

from __future__ import annotations

import json
import os
import time
import urllib.parse
import uuid

import pytest
from websockets.sync.client import connect

from tests.e2e.deployment import Database, auth_headers, deploy
from tests.faults.proxy import TcpProxy

HANDLER_TIMEOUT_S = 3


def postgres_url() -> str:
    url = os.environ.get("DATABASE_URL", "")
    if url.split(":", 1)[0] in ("postgres", "postgresql"):
        return url
    return os.environ.get("FAULTS_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")


def via(url: str, port: int) -> str:
    """`url` with its host and port replaced by the proxy's."""
    parts = urllib.parse.urlsplit(url)
    user = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    return urllib.parse.urlunsplit((parts.scheme, f"{user}127.0.0.1:{port}", parts.path, parts.query, ""))


def call(ws, action: str, payload: dict, timeout: float = 20) -> tuple[list, float]:
    """Send one CALL and return (the reply frame, seconds it took)."""
    unique_id = uuid.uuid4().hex
    started = time.monotonic()
    ws.send(json.dumps([2, unique_id, action, payload]))
    reply = json.loads(ws.recv(timeout))
    assert reply[1] == unique_id
    return reply, time.monotonic() - started


def status(info: str) -> dict:
    return {"connectorId": 1, "errorCode": "NoError", "status": "Available", "info": info}


@pytest.fixture
def hung_database_deployment(tmp_path):
    source = urllib.parse.urlsplit(postgres_url())
    with (
        TcpProxy(source.hostname or "127.0.0.1", source.port or 5432) as proxy,
        deploy(
            tmp_path,
            name="faults-db",
            env={"DATABASE_URL": postgres_url(), "OCPP_HANDLER_TIMEOUT": str(HANDLER_TIMEOUT_S)},
        ) as dep,
    ):
        direct_url = dep.env["DATABASE_URL"]
        dep.env["DATABASE_URL"] = via(direct_url, proxy.port)
        dep.start_servers(1)
        status_code, _ = dep.api("POST", "/api/v1/chargepoints/", {"id": "CP-1"})
        assert status_code == 201
        yield dep, proxy, Database(direct_url)


def test_a_hung_database_gets_internal_errors_in_bounded_time_and_health_still_answers(hung_database_deployment):
    dep, proxy, database = hung_database_deployment
    url = dep.servers[0].ws("/ocpp/CP-1")
    with connect(url, subprotocols=["ocpp1.6"], additional_headers=auth_headers(url), open_timeout=10) as ws:
        boot, _ = call(ws, "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})
        assert boot[2]["status"] == "Accepted"

        proxy.hang()
        during, took = call(ws, "StatusNotification", status("during the hang"))
        health_started = time.monotonic()
        health_status, health = dep.api("GET", "/health", timeout=15)
        health_took = time.monotonic() - health_started
        ws.ping().wait(5)  # the socket is up and daphne answers pings

        assert during[0] == 4 and during[2] == "InternalError", during
        # Silent for HANDLER_TIMEOUT_S counted from the last statement that returned, checked every quarter of it.
        assert took < 2 * HANDLER_TIMEOUT_S + 2
        assert health_status == 503 and health["database"]["ok"] is False
        assert health_took < 5  # issue 11: /health answers within 5 s whatever the database does

        proxy.resume()
        after, _ = call(ws, "StatusNotification", status("after the hang"))
        assert after[0] == 3, after

    assert dep.api("GET", "/health")[0] == 200
    assert database.value("SELECT count(*) FROM chargepoints_statusnotification WHERE info = %s", "after the hang") == 1


def test_a_cut_database_connection_loses_no_acknowledged_frame(hung_database_deployment):
    dep, proxy, database = hung_database_deployment
    url = dep.servers[0].ws("/ocpp/CP-1")
    acknowledged = []
    with connect(url, subprotocols=["ocpp1.6"], additional_headers=auth_headers(url), open_timeout=10) as ws:
        call(ws, "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})
        for n in range(6):
            if n in (1, 3):
                proxy.cut()
            reply, _ = call(ws, "StatusNotification", status(f"frame {n}"))
            if reply[0] == 3:
                acknowledged.append(f"frame {n}")

    # The server reconnects on its own: every frame after a cut is answered and stored.
    assert acknowledged == [f"frame {n}" for n in range(6)]
    stored = {row[0] for row in database.rows("SELECT info FROM chargepoints_statusnotification WHERE info LIKE %s", "frame %")}
    assert stored == set(acknowledged)
    assert proxy.connections >= 3
