"""Webhooks end to end: a real server, a simulated session, `manage.py webhooks_worker` killed and restarted mid-way.

The receiver must get every event of the session; deliveries may repeat
(at least once), so it counts them by event id, as an integrator would.
"""

import asyncio
import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.deployment import Database
from tests.e2e.test_session_v16 import drive_session
from tests.waiting import eventually
from tests.webhooks.receiver import Receiver
from webhooks.signing import verify

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]


def start_worker(deployment, log: Path) -> subprocess.Popen:
    command = [sys.executable, "manage.py", "webhooks_worker", "--poll", "0.2", "--batch", "2", "--concurrency", "1"]
    process = subprocess.Popen(
        command, cwd=REPO, env={**deployment.env, "WEBHOOK_TIMEOUT": "2"}, stdout=log.open("a"), stderr=subprocess.STDOUT
    )
    eventually(lambda: "worker started" in log.read_text(), timeout=30, interval=0.2)
    return process


def test_every_event_of_a_session_reaches_the_receiver_once_by_id_across_a_worker_kill(deployment, server, tmp_path):
    log = tmp_path / "worker.log"
    with Receiver(delay=0.2) as receiver:
        status, sub = deployment.api("POST", "/api/v1/webhooks/subscriptions/", {"url": receiver.url})
        assert status == 201, sub
        assert deployment.api("POST", "/api/v1/chargepoints/", {"id": "E2E*CP:1"})[0] == 201
        assert deployment.api("POST", "/api/v1/id-tags/", {"id_tag": "E2E-CARD", "status": "Accepted"})[0] == 201
        worker = start_worker(deployment, log)
        try:
            tx_id = asyncio.run(drive_session(server.ws("/ocpp/E2E%2ACP%3A1")))
            eventually(lambda: len(receiver.received) >= 3, timeout=30, interval=0.05)
            worker.send_signal(signal.SIGKILL)  # mid-way: a delivery in flight, more waiting
            worker.wait(10)
            got_before_restart = len(receiver.events())
            worker = start_worker(deployment, log)

            database = Database(deployment.env["DATABASE_URL"])
            # The session's last event: its socket closed.
            eventually(lambda: database.value("SELECT count(*) FROM webhooks_event WHERE type = 'chargepoint.disconnected'"), timeout=30)
            expected = {str(row[0]).replace("-", ""): row[1] for row in database.rows("SELECT id, type FROM webhooks_event")}
            eventually(lambda: {k.replace("-", "") for k in receiver.events()} >= set(expected), timeout=60, interval=0.2)
            # A delivery the killed worker sent but did not record is sent again once its claim's lease ends.
            undelivered = "SELECT count(*) FROM webhooks_delivery WHERE status != 'delivered'"
            eventually(lambda: database.value(undelivered) == 0, timeout=60, interval=0.2)
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(15)

    events = receiver.events()
    assert got_before_restart < len(expected), "the worker was killed before it had delivered everything"
    assert {k.replace("-", "") for k in events} == set(expected), "every event, and no other"
    types = [e["type"] for e in sorted(events.values(), key=lambda e: e["created_at"])]
    wanted_types = ("chargepoint.connected", "chargepoint.status_changed", "transaction.started", "meter_values", "transaction.ended")
    for wanted in (*wanted_types, "chargepoint.disconnected"):
        assert wanted in types, (wanted, types)
    assert types.count("meter_values") == 3 and types.count("transaction.started") == 1 and types.count("transaction.ended") == 1
    ended = next(e for e in events.values() if e["type"] == "transaction.ended")
    assert ended["data"]["transaction_id"] == tx_id and ended["data"]["meter_stop_wh"] == 10_500
    secret = database.value("SELECT secret FROM webhooks_subscription")
    for headers, body in receiver.received:
        assert verify(secret=secret, timestamp=int(headers["x-csms-timestamp"]), body=body, header=headers["x-csms-signature"])
        assert json.loads(body)["id"] == headers["x-csms-event-id"]
    assert len(receiver.received) >= len(expected), "at least once"
