"""`manage.py demo` for real: a subprocess on a free port and a database of its own, checked as a person would.

Within a minute the admin logs in with the printed password, the API (with
the printed token) shows DEMO-CP-1..3 online and DEMO-CP-1 charging with
growing energy; Ctrl-C (SIGINT) ends the transaction, stops the server and
leaves no process and no listening port behind.
"""

from __future__ import annotations

import html
import http.cookiejar
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request

import pytest

from tests.e2e.deployment import REPO, Database, deploy, free_port

from .conftest import eventually

pytestmark = pytest.mark.e2e

CHARGE_POINTS = {"DEMO-CP-1", "DEMO-CP-2", "DEMO-CP-3"}


class Demo:
    """A running `manage.py demo` process, its output file and what it printed."""

    def __init__(self, env: dict, port: int, tmp):
        self.env = env
        self.port = port
        self.output_path = tmp / "demo.out"
        self.log_path = tmp / "server.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        with self.output_path.open("w") as out:
            self.process = subprocess.Popen(
                [sys.executable, "manage.py", "demo", "--host", "127.0.0.1", "--port", str(self.port), "--log-file", str(self.log_path)],
                cwd=REPO,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def output(self) -> str:
        return self.output_path.read_text(errors="replace")

    def printed(self, pattern: str) -> str:
        """The first group of `pattern` in the output, waiting for it to appear (fails if the demo exits first)."""

        def found():
            match = re.search(pattern, self.output())
            assert self.process.poll() is None or match, f"demo exited with {self.process.returncode}:\n{self.output()}"
            return match.group(1) if match else None

        return eventually(found, timeout=30, interval=0.2)

    def api(self, path: str, token: str):
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", headers={"Authorization": f"Token {token}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
            return json.loads(response.read())

    def stop(self) -> None:
        """SIGINT (Ctrl-C), then SIGKILL if it is still there after 30 s (daphne dies with it)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def demo(tmp_path):
    """A migrated database of the test's own (and Redis prefix, when REDIS_URL is set); the demo not started yet."""
    # The server's default, not the e2e fixtures' 0: "online" must show up as it does for a user.
    with deploy(tmp_path, name="demo", env={"OCPP_LAST_SEEN_WRITE_INTERVAL": "30"}) as dep:
        running = Demo(dep.env, free_port(), tmp_path)
        try:
            yield running
        finally:
            running.stop()


def log_in(port: int, username: str, password: str) -> str:
    """Log in to the admin as a browser would; returns the charge point list page's HTML."""
    base = f"http://127.0.0.1:{port}"
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    with opener.open(f"{base}/admin/login/", timeout=10) as response:
        form = response.read().decode()
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
    body = urllib.parse.urlencode({"csrfmiddlewaretoken": csrf, "username": username, "password": password, "next": "/admin/"}).encode()
    with opener.open(urllib.request.Request(f"{base}/admin/login/", data=body), timeout=10) as response:
        assert response.url.endswith("/admin/"), "login refused"
    with opener.open(f"{base}/admin/chargepoints/chargepoint/", timeout=10) as response:
        return html.unescape(response.read().decode())


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_demo_shows_three_charge_points_one_charging_and_stops_cleanly_on_ctrl_c(demo):
    started = time.monotonic()
    demo.start()
    token = demo.printed(r"API token:\s+(\w+)")
    username = demo.printed(r"Username:\s+(\S+)")
    password = demo.printed(r"Password:\s+(\S+)")
    daphne_pid = int(demo.printed(r"daphne pid (\d+)"))

    def three_online():
        listed = {cp["id"]: cp for cp in demo.api("/api/v1/chargepoints/", token)["results"]}
        assert set(listed) >= CHARGE_POINTS, listed.keys()
        assert all(listed[cp]["online"] and listed[cp]["connected"] for cp in CHARGE_POINTS), listed
        return True

    eventually(three_online, timeout=60 - (time.monotonic() - started), interval=0.5)

    def charging():
        active = demo.api("/api/v1/transactions/?charge_point=DEMO-CP-1&status=active", token)["results"]
        assert len(active) == 1, active
        assert active[0]["id_tag"] == "DEMO-TAG-1"
        return active[0]

    transaction = eventually(charging, timeout=max(1.0, 60 - (time.monotonic() - started)), interval=0.5)
    first_wh = transaction["energy_wh"] or 0

    def grown():
        now = charging()
        assert now["id"] == transaction["id"]
        assert (now["energy_wh"] or 0) > first_wh, (first_wh, now["energy_wh"])
        return now["energy_wh"]

    eventually(grown, timeout=max(1.0, 60 - (time.monotonic() - started)), interval=1.0)
    assert time.monotonic() - started < 60

    page = log_in(demo.port, username, password)
    assert all(cp in page for cp in CHARGE_POINTS)

    demo.process.send_signal(signal.SIGINT)
    assert demo.process.wait(30) == 0, demo.output()
    assert "Server stopped (exit code 0)" in demo.output()

    def daphne_gone():
        try:
            os.kill(daphne_pid, 0)
        except ProcessLookupError:
            return True
        raise AssertionError(f"daphne {daphne_pid} still running")

    eventually(daphne_gone, timeout=5)
    assert not port_open(demo.port)
    # Ctrl-C ended the session: its StopTransaction reached the server before it stopped.
    rows = Database(demo.env["DATABASE_URL"]).rows("SELECT stop_reason FROM transactions_transaction WHERE id = %s", transaction["id"])
    assert rows == [("Other",)]


def test_demo_piped_into_a_reader_that_quit_still_ends_the_transaction_on_ctrl_c_pressed_twice(demo):
    """`make demo | tee log`, tee gone, Ctrl-C, Ctrl-C again: the session still ends and everything stops."""
    demo.process = subprocess.Popen(
        [sys.executable, "manage.py", "demo", "--host", "127.0.0.1", "--port", str(demo.port), "--log-file", str(demo.log_path)],
        cwd=REPO,
        env=demo.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    database = Database(demo.env["DATABASE_URL"])
    reading = threading.Event()
    reading.set()

    def drain():  # the reader, until it quits
        while reading.is_set() and demo.process.stdout.read1(4096):
            pass

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()

    def charging():
        rows = database.rows("SELECT id FROM transactions_transaction WHERE stop_timestamp IS NULL AND charge_point_id = %s", "DEMO-CP-1")
        assert demo.process.poll() is None, f"demo exited with {demo.process.returncode}"
        return rows[0][0] if rows else None

    transaction_id = eventually(charging, timeout=90, interval=0.5)
    reading.clear()
    demo.process.stdout.close()  # the reader quits: the next write gets EPIPE

    demo.process.send_signal(signal.SIGINT)
    time.sleep(1.5)  # a person pressing again, not the same interrupt delivered twice
    demo.process.send_signal(signal.SIGINT)

    assert demo.process.wait(30) == 0
    assert not port_open(demo.port)
    rows = database.rows("SELECT stop_reason, stop_source FROM transactions_transaction WHERE id = %s", transaction_id)
    assert rows == [("Other", "charge_point")]
