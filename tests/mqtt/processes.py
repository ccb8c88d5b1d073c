"""`manage.py ocpp_mqtt_gateway` and `manage.py ocpp_mqtt` processes of an e2e deployment (tests/e2e/deployment.py).

    gateway = start_gateway(dep)            # charge points: gateway.ws("/ocpp/CP-1")
    worker = start_worker(dep, "W1")        # waits until it serves
    worker.kill()                           # SIGKILL: a worker dying

They run with the deployment's env (its database, Redis prefix, MQTT_URL and
topic templates). A process that exits or does not get ready in time fails
the test with its log tail.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from bench.deployment import LOOPBACK, REPO, free_port, tail


@dataclass
class Process:
    """One manage.py process: its `name`, the Popen, its log, and (the gateway) its WebSocket `port`."""

    name: str
    process: subprocess.Popen
    log_path: Path
    port: int | None = None

    def ws(self, path: str) -> str:
        return f"ws://{LOOPBACK}:{self.port}{path}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL: no clean-up runs (a crash)."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _start(dep, name: str, args: list[str], ready: str, timeout: float = 30) -> Process:
    log_path = dep.tmp / f"{name}.log"
    with log_path.open("w") as log:
        popen = subprocess.Popen(
            [sys.executable, "manage.py", *args],
            cwd=REPO,
            env=dep.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    process = Process(name, popen, log_path)
    dep._mqtt_processes = [*getattr(dep, "_mqtt_processes", []), process]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if popen.poll() is not None:
            pytest.fail(f"{name} exited with {popen.returncode}:\n{tail(process.log())}")
        if ready in process.log():
            return process
        time.sleep(0.1)
    pytest.fail(f"{name} was not ready within {timeout:g} s:\n{tail(process.log())}")


def start_gateway(dep) -> Process:
    """The development gateway on a free port, connected to the broker."""
    port = free_port()
    process = _start(dep, f"gateway-{port}", ["ocpp_mqtt_gateway", "--port", str(port)], "gateway: connected to the broker")
    process.port = port
    return process


def start_worker(dep, name: str) -> Process:
    """One back-end worker, subscribed."""
    return _start(dep, f"worker-{name}", ["ocpp_mqtt"], "ocpp_mqtt: serving")


def stop_all(dep) -> None:
    for process in getattr(dep, "_mqtt_processes", []):
        process.stop()
