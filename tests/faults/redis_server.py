"""A redis-server of a test's own, on a free port, to kill and restart under live sessions.

    with RedisServer(tmp_path) as redis:
        url = redis.url          # redis://127.0.0.1:<port>/0
        redis.kill()             # SIGKILL: an outage, every key lost (nothing is saved)
        redis.start()            # the same port again, empty

Fails the test (pytest.fail) when redis-server is not installed: .ci/run
runs where it is, and a fault test must never be skipped there.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from bench.deployment import free_port


class RedisServer:
    """redis-server on 127.0.0.1:`port`, no persistence, its log in `tmp`/redis-<port>.log."""

    def __init__(self, tmp: Path):
        self.binary = shutil.which("redis-server")
        if self.binary is None:
            pytest.fail("redis-server is not installed; the Redis fault tests need their own (apt-get install redis-server)")
        self.port = free_port()
        self.log_path = tmp / f"redis-{self.port}.log"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.kill()

    def start(self, timeout: float = 10) -> None:
        """Start it (again) on its port and wait until it accepts connections."""
        with self.log_path.open("a") as log:
            self.process = subprocess.Popen(
                [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.1)
        pytest.fail(f"redis-server on port {self.port} did not start:\n{self.log_path.read_text()[-2000:]}")

    def kill(self) -> None:
        """SIGKILL it and wait for it to go (nothing is saved: a restart starts empty)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
