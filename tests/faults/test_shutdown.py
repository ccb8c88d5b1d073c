"""SIGTERM and kill -9 of a server process with live sessions (docs/reliability.md, "Shutdown").

Process A holds the charge points; commands go through process B's API
over a redis-server of the test's own, so B sees what A leaves behind.
"""

from __future__ import annotations

import signal
import threading
import time

from tests.e2e.deployment import Database, deploy
from tests.faults.redis_server import RedisServer
from tests.faults.test_redis import ChargePoint

CHARGE_POINTS = ["CP-1", "CP-2", "CP-3"]


def status(info: str) -> dict:
    return {"connectorId": 1, "errorCode": "NoError", "status": "Available", "info": info}


def test_sigterm_closes_every_socket_with_1012_answers_what_it_received_and_leaves_none_online(tmp_path):
    env = {"OCPP_SHUTDOWN_TIMEOUT": "8"}
    with RedisServer(tmp_path) as redis, deploy(tmp_path, name="faults-term", env={**env, "REDIS_URL": redis.url}, servers=2) as dep:
        a, b = dep.servers
        for cp_id in CHARGE_POINTS:
            assert dep.api("POST", "/api/v1/chargepoints/", {"id": cp_id}, b)[0] == 201
        cps = {cp_id: ChargePoint(a.ws(f"/ocpp/{cp_id}"), answer_delay=1.5 if cp_id == "CP-1" else 0) for cp_id in CHARGE_POINTS}
        for cp in cps.values():
            cp.call("BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})
        assert all(dep.api("GET", f"/api/v1/chargepoints/{cp_id}/", server=b)[1]["connected"] for cp_id in CHARGE_POINTS)

        # A command in flight to CP-1 (it answers after 1.5 s) when the SIGTERM arrives.
        command = {}
        sender = threading.Thread(
            target=lambda: command.update(
                outcome=dep.api(
                    "POST", "/api/v1/chargepoints/CP-1/commands/ChangeAvailability/", {"connectorId": 0, "type": "Operative"}, b
                )
            )
        )
        sender.start()
        deadline = time.monotonic() + 10
        while not cps["CP-1"].calls_received and time.monotonic() < deadline:
            time.sleep(0.05)
        assert cps["CP-1"].calls_received == ["ChangeAvailability"]

        sent_at = time.monotonic()
        a.process.send_signal(signal.SIGTERM)
        a.process.wait(20)
        took = time.monotonic() - sent_at
        sender.join(20)

        for cp in cps.values():
            cp.wait_closed(5)
        assert {cp_id: cp.closed_with for cp_id, cp in cps.items()} == {cp_id: 1012 for cp_id in CHARGE_POINTS}
        assert took < 8 + 4
        assert command["outcome"][0] == 200, command["outcome"]
        listed = dep.api("GET", "/api/v1/chargepoints/", server=b)[1]["results"]
        assert [(cp["id"], cp["connected"], cp["online"]) for cp in listed] == [(cp_id, False, False) for cp_id in CHARGE_POINTS]
        database = Database(dep.env["DATABASE_URL"])
        assert database.value("SELECT status FROM chargepoints_command WHERE action = %s", "ChangeAvailability") == "answered"


def test_kill_9_leaves_no_charge_point_online_beyond_the_lease_and_no_command_hanging(tmp_path):
    env = {"OCPP_PRESENCE_TTL": "6", "OCPP_COMMAND_TIMEOUT": "4"}
    with RedisServer(tmp_path) as redis, deploy(tmp_path, name="faults-kill", env={**env, "REDIS_URL": redis.url}, servers=2) as dep:
        a, b = dep.servers
        for cp_id in CHARGE_POINTS:
            assert dep.api("POST", "/api/v1/chargepoints/", {"id": cp_id}, b)[0] == 201
        # CP-2 would answer a command only after 30 s: one is in flight when A dies.
        cps = {cp_id: ChargePoint(a.ws(f"/ocpp/{cp_id}"), answer_delay=30 if cp_id == "CP-2" else 0) for cp_id in CHARGE_POINTS}
        for cp in cps.values():
            cp.call("BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})
        assert all(cp["online"] for cp in dep.api("GET", "/api/v1/chargepoints/", server=b)[1]["results"])
        in_flight = {"sent_at": time.monotonic()}

        def send():
            in_flight["outcome"] = dep.api("POST", "/api/v1/chargepoints/CP-2/commands/ClearCache/", {}, b)
            in_flight["answered_at"] = time.monotonic()

        sender = threading.Thread(target=send)
        sender.start()
        deadline = time.monotonic() + 10
        while not cps["CP-2"].calls_received and time.monotonic() < deadline:
            time.sleep(0.05)
        assert cps["CP-2"].calls_received == ["ClearCache"]

        a.process.kill()
        killed_at = time.monotonic()
        deadline = killed_at + 6 + 10
        while any(cp["online"] for cp in dep.api("GET", "/api/v1/chargepoints/", server=b)[1]["results"]):
            assert time.monotonic() < deadline, "still shown online long after the lease expired"
            time.sleep(0.2)
        offline_after = time.monotonic() - killed_at
        # B's sweep clears the flags too, so commands fail at once instead of waiting for an acknowledgement.
        while any(cp["connected"] for cp in dep.api("GET", "/api/v1/chargepoints/", server=b)[1]["results"]):
            assert time.monotonic() < deadline, "connected flags not cleared by the sweep"
            time.sleep(0.2)
        started = time.monotonic()
        status_code, body = dep.api(
            "POST", "/api/v1/chargepoints/CP-1/commands/ChangeAvailability/", {"connectorId": 0, "type": "Operative"}, b
        )
        sender.join(20)

        assert offline_after <= 6 + 2
        assert status_code == 409, body
        assert time.monotonic() - started < 2
        # The command in flight is not left hanging: with the process that held the socket gone, the
        # caller's own deadline (4 s timeout + 5 s grace for an outcome, chargepoints/commands.py) ends
        # it as a timeout, in the command log too (not "sent" for ever).
        assert in_flight["outcome"][0] == 504, in_flight
        assert in_flight["answered_at"] - in_flight["sent_at"] < 4 + 5 + 2
        database = Database(dep.env["DATABASE_URL"])
        assert database.value("SELECT status FROM chargepoints_command WHERE action = %s", "ClearCache") == "timeout"


def test_a_server_starting_after_a_crash_clears_at_once_what_its_dead_predecessor_held(tmp_path):
    # A renewal every 4 s (a third of the TTL): clearing within 3 s of starting is the start's own sweep.
    env = {"OCPP_PRESENCE_TTL": "12"}
    with RedisServer(tmp_path) as redis, deploy(tmp_path, name="faults-restart", env={**env, "REDIS_URL": redis.url}, servers=1) as dep:
        (a,) = dep.servers
        for cp_id in CHARGE_POINTS:
            assert dep.api("POST", "/api/v1/chargepoints/", {"id": cp_id}, a)[0] == 201
        cps = [ChargePoint(a.ws(f"/ocpp/{cp_id}")) for cp_id in CHARGE_POINTS]
        for cp in cps:
            cp.call("BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})
        database = Database(dep.env["DATABASE_URL"])
        connected = "SELECT count(*) FROM chargepoints_chargepoint WHERE connected"
        assert database.value(connected) == len(CHARGE_POINTS)

        # The only server dies; its lease runs out with nobody left to sweep it.
        a.process.kill()
        a.process.wait(10)
        time.sleep(12 + 1)
        assert database.value(connected) == len(CHARGE_POINTS)

        (b,) = dep.start_servers(1)
        started = time.monotonic()
        while database.value(connected):
            assert time.monotonic() - started < 3, "the starting server did not sweep its dead predecessor's lease"
            time.sleep(0.1)
        status_code, body = dep.api(
            "POST", "/api/v1/chargepoints/CP-1/commands/ChangeAvailability/", {"connectorId": 0, "type": "Operative"}, b
        )

        assert status_code == 409, body
        assert database.value("SELECT count(*) FROM chargepoints_serverprocess") == 1  # B's own lease only
