"""Real servers for end-to-end tests: daphne processes on free loopback ports.

Each test gets a database of its own (a SQLite file, or a fresh PostgreSQL
database when DATABASE_URL names PostgreSQL), migrated by `manage.py migrate`
as a user would, an admin user with an API token, and one or more daphne
processes serving `csms.asgi:application`. Channels groups live in Redis when
REDIS_URL is set (with a per-test key prefix), else in each process's memory.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    """One running daphne process."""

    port: int
    process: subprocess.Popen
    log_path: Path

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ws(self, path: str) -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@dataclass
class Deployment:
    """A database, an admin token and the daphne processes that share them."""

    env: dict
    tmp: Path
    token: str = ""
    servers: list[Server] = field(default_factory=list)

    def manage(self, *args: str, extra_env: dict | None = None) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=REPO,
            env={**self.env, **(extra_env or {})},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
        return result.stdout

    def start_server(self) -> Server:
        port = free_port()
        log_path = self.tmp / f"daphne-{port}.log"
        process = subprocess.Popen(
            [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port), "csms.asgi:application"],
            cwd=REPO,
            env=self.env,
            stdout=log_path.open("w"),
            stderr=subprocess.STDOUT,
        )
        server = Server(port, process, log_path)
        self.servers.append(server)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"daphne exited with {process.returncode}:\n{server.log()}")
            try:
                with urllib.request.urlopen(f"{server.http}/health", timeout=2) as response:
                    if response.status == 200:
                        return server
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.2)
        pytest.fail(f"daphne did not become healthy within 30 s:\n{server.log()}")

    def api(self, method: str, path: str, body=None, server: Server | None = None) -> tuple[int, object]:
        """Call the REST API with the admin token; returns (HTTP status, decoded JSON or None)."""
        server = server or self.servers[0]
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            server.http + path,
            data=data,
            method=method,
            headers={"Authorization": f"Token {self.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                raw = response.read()
                return response.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as error:
            raw = error.read()
            try:
                return error.code, json.loads(raw)
            except ValueError:
                return error.code, raw.decode(errors="replace")

    def stop(self) -> None:
        for server in self.servers:
            if server.process.poll() is None:
                server.process.terminate()
                try:
                    server.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    server.process.kill()


def _database_url(tmp: Path) -> tuple[str, callable]:
    """A fresh database for one test, and how to drop it."""
    db = settings.DATABASES["default"]
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{tmp / 'e2e.sqlite3'}", lambda: None
    import psycopg

    name = f"csms_e2e_{uuid.uuid4().hex[:12]}"
    params = dict(host=db["HOST"] or None, port=db["PORT"] or None, user=db["USER"] or None, password=db["PASSWORD"] or None)
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop():
        with psycopg.connect(dbname="postgres", autocommit=True, **params) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    user = db["USER"] or ""
    auth = f"{user}:{db['PASSWORD']}@" if db["PASSWORD"] else (f"{user}@" if user else "")
    return f"postgres://{auth}{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{name}", drop


@pytest.fixture
def deployment(tmp_path):
    """A migrated database with an admin (password 'e2e-admin-pw', API token) and no server yet."""
    url, drop = _database_url(tmp_path)
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "SECRET_KEY": "e2e-" + uuid.uuid4().hex,
        "OCPP_ALLOW_UNKNOWN_CHARGE_POINTS": "false",
        "OCPP_LAST_SEEN_WRITE_INTERVAL": "0",
        "OCPP_LOG_LEVEL": "INFO",
        # Outside "csms*": the test process flushes its own prefix before each test.
        "REDIS_PREFIX": "e2e-" + uuid.uuid4().hex[:8],
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    dep = Deployment(env=env, tmp=tmp_path)
    try:
        dep.manage("migrate", "--noinput", "-v0")
        dep.manage(
            "createsuperuser",
            "--noinput",
            "--username",
            "admin",
            "--email",
            "admin@example.com",
            extra_env={"DJANGO_SUPERUSER_PASSWORD": "e2e-admin-pw"},
        )
        dep.token = dep.manage("drf_create_token", "admin").split()[2]
        yield dep
    finally:
        dep.stop()
        drop()


@pytest.fixture
def server(deployment) -> Server:
    return deployment.start_server()
