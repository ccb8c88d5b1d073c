"""A Mosquitto broker of a test's own, on a free port, to kill and restart under live sessions.

    with MosquittoServer(tmp_path) as broker:
        url = broker.url          # mqtt://127.0.0.1:<port>
        broker.kill()             # SIGKILL: an outage (no persistence: sessions and queued messages lost)
        broker.start()            # the same port again

Fails the test (pytest.fail) when mosquitto is not installed: CI installs it,
and a fault test must never be skipped there.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from bench.deployment import free_port


class MosquittoServer:
    """mosquitto on 127.0.0.1:`port`, anonymous, its config and log in `tmp`."""

    def __init__(self, tmp: Path):
        self.binary = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")
        if self.binary is None:
            pytest.fail("mosquitto is not installed; the MQTT fault tests need their own (apt-get install mosquitto)")
        self.port = free_port()
        self.config = tmp / f"mosquitto-{self.port}.conf"
        self.config.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
        self.log_path = tmp / f"mosquitto-{self.port}.log"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def __enter__(self) -> MosquittoServer:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.kill()

    def start(self, timeout: float = 10) -> None:
        """Start it (again) on its port and wait until it accepts connections."""
        with self.log_path.open("a") as log:
            self.process = subprocess.Popen([self.binary, "-c", str(self.config)], stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        pytest.fail(f"mosquitto did not start on port {self.port}:\n{self.log_path.read_text(errors='replace')}")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
