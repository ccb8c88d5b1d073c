"""Throwaway CSMS deployments for end-to-end tests: a database of their own and daphne processes.

    with deploy(tmp_path, name="e2e-commands", env={"OCPP_COMMAND_TIMEOUT": "10"}, servers=1) as dep:
        status, body = dep.api("POST", "/api/v1/chargepoints/", {"id": "CP-1"})
        url = dep.servers[0].ws("/ocpp/CP-1")

A deployment is a database of its own (a SQLite file under `tmp`, or a fresh
PostgreSQL database when the test run's DATABASE_URL names PostgreSQL),
migrated by `manage.py migrate` as a user would, an admin user with an API
token, and the daphne processes serving `csms.asgi:application` on free
loopback ports. Channels groups live in Redis when REDIS_URL is set in the
deployment's env (inherited from the test run, or set before the first server
starts), under a key prefix of the deployment's own; else in each process's
memory. Leaving the `with` block, also on a failed test or Ctrl-C, stops the
servers, deletes the Redis keys and drops the database.

A plain module, so conftests and test modules share it without fixture
magic: tests/e2e/conftest.py and tests/simulator/conftest.py wrap it in
fixtures of the scope they need. Set-up failures call pytest.fail with the
command's output or daphne's log tail: a deployment that cannot start is a
failed test, never a skipped one. tests/bench/harness.py is its standalone
twin for benchmarks, which run without pytest and raise instead.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings

REPO = Path(__file__).resolve().parents[2]
LOG_TAIL_LINES = 40


def free_port() -> int:
    """A TCP port free on the loopback interface right now (another process may take it before daphne binds)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(text: str | bytes | None, lines: int = LOG_TAIL_LINES) -> str:
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return "\n".join((text or "").splitlines()[-lines:])


@dataclass
class Server:
    """One running daphne process: its loopback `port`, the `process` and the file its output goes to."""

    port: int
    process: subprocess.Popen
    log_path: Path

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ws(self, path: str) -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    def log(self) -> str:
        """Everything daphne and the CSMS logged so far."""
        return self.log_path.read_text(errors="replace")

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """The last `lines` lines of the log, for failure messages."""
        try:
            return _tail(self.log(), lines)
        except OSError:
            return ""


@dataclass
class Deployment:
    """A database, an admin token and the daphne processes that share them.

    `env` is what every `manage.py` and daphne subprocess gets; changing it
    (say, adding REDIS_URL) affects the servers started afterwards.
    """

    # Out of the repr: pytest prints it in tracebacks, and it holds the whole environment.
    env: dict = field(repr=False)
    tmp: Path
    token: str = field(default="", repr=False)
    servers: list[Server] = field(default_factory=list)

    def manage(self, *args: str, extra_env: dict | None = None) -> str:
        """Run `manage.py *args` on the deployment's database; returns its stdout, fails the test when it fails."""
        command = "manage.py " + " ".join(args)
        try:
            result = subprocess.run(
                [sys.executable, "manage.py", *args],
                cwd=REPO,
                env={**self.env, **(extra_env or {})},
                capture_output=True,
                text=True,
                timeout=120,
            )
        except subprocess.TimeoutExpired as exc:
            pytest.fail(f"{command} did not finish within 120 s:\n{_tail(exc.stdout)}\n{_tail(exc.stderr)}")
        if result.returncode != 0:
            pytest.fail(f"{command} failed with {result.returncode}:\n{_tail(result.stdout)}\n{_tail(result.stderr)}")
        return result.stdout

    def start_server(self) -> Server:
        """Start one more daphne process; returns it once GET /health answers 200.

        Fails the test with daphne's log tail when the process exits or is not
        healthy within 30 s; the deployment stops it either way.
        """
        port = free_port()
        # Numbered: a port freed by a stopped server may come round again, and its log must survive.
        log_path = self.tmp / f"daphne-{len(self.servers) + 1}-{port}.log"
        with log_path.open("w") as log:
            process = subprocess.Popen(
                # As `make run` starts it: csms/serve.py adds the options OCPP needs and execs daphne.
                [sys.executable, "-m", "csms.serve", "-b", "127.0.0.1", "-p", str(port)],
                cwd=REPO,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        server = Server(port, process, log_path)
        self.servers.append(server)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"daphne on port {port} exited with {process.returncode}:\n{server.log_tail()}")
            try:
                with urllib.request.urlopen(f"{server.http}/health", timeout=2) as response:
                    if response.status == 200:
                        return server
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            time.sleep(0.2)
        pytest.fail(f"daphne on port {port} did not become healthy within 30 s:\n{server.log_tail()}")

    def api(self, method: str, path: str, body=None, server: Server | None = None) -> tuple[int, object]:
        """Call the REST API as the admin (on the first server by default); returns (HTTP status, JSON or text)."""
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
        """Stop every server still running (SIGTERM, SIGKILL after 10 s); safe to call again."""
        running = [server.process for server in self.servers if server.process.poll() is None]
        for process in running:
            process.terminate()
        for process in running:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def delete_redis_keys(self) -> None:
        """Remove what the servers left in Redis under the deployment's REDIS_PREFIX (groups live a day otherwise)."""
        url = self.env.get("REDIS_URL")
        if not url:
            return
        import redis

        prefix = self.env["REDIS_PREFIX"]
        try:
            client = redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
            try:
                keys = list(client.scan_iter(match=f"{prefix}*", count=500))
                if keys:
                    client.delete(*keys)
            finally:
                client.close()
        except (redis.RedisError, ValueError) as exc:
            # A warning, not an error: keys left behind expire on their own, and
            # raising here would bury the failure that brought us to teardown.
            warnings.warn(f"could not delete the Redis keys under {prefix!r} at {url}: {exc}", stacklevel=2)


class Database:
    """Read-only SQL on a deployment's database (`url` is its DATABASE_URL), for what the REST API does not show.

    Write `%s` placeholders; they become `?` on SQLite.
    """

    def __init__(self, url: str):
        self.url = url

    def rows(self, sql: str, *params) -> list[tuple]:
        if self.url.startswith("sqlite:"):
            conn = sqlite3.connect(self.url.removeprefix("sqlite:///"), timeout=10)
            try:
                return conn.execute(sql.replace("%s", "?"), params).fetchall()
            finally:
                conn.close()
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            return conn.execute(sql, params).fetchall()

    def value(self, sql: str, *params):
        """The first column of the first row, None when there is no row."""
        rows = self.rows(sql, *params)
        return rows[0][0] if rows else None


def throwaway_database(tmp: Path) -> tuple[str, Callable[[], None]]:
    """A fresh database for one deployment, as (DATABASE_URL, drop it).

    A SQLite file under `tmp` (dropped with the directory) when the test run
    uses SQLite; else a new database, named csms_e2e_<random>, on the test
    run's PostgreSQL server.
    """
    db = settings.DATABASES["default"]
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{tmp / 'e2e.sqlite3'}", lambda: None
    import psycopg

    name = f"csms_e2e_{uuid.uuid4().hex[:12]}"
    params = dict(host=db["HOST"] or None, port=db["PORT"] or None, user=db["USER"] or None, password=db["PASSWORD"] or None)
    try:
        with psycopg.connect(dbname="postgres", autocommit=True, **params) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        pytest.fail(f"cannot create the throwaway database {name} on {db['HOST'] or 'localhost'}: {exc}")

    def drop():
        # FORCE: a server killed mid-query may leave a backend connected, which blocks a plain DROP.
        with psycopg.connect(dbname="postgres", autocommit=True, **params) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    user = db["USER"] or ""
    auth = f"{user}:{db['PASSWORD']}@" if db["PASSWORD"] else (f"{user}@" if user else "")
    return f"postgres://{auth}{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{name}", drop


def _check_redis_prefix(prefix: str) -> None:
    # The test process flushes its own channel layer before every test
    # (tests/conftest.py), and channels-redis flushes by the pattern
    # "<its prefix>*": a deployment prefix starting with it ("csms…" by
    # default) would have its servers' groups emptied under them.
    if settings.REDIS_URL:
        own = settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"]
        if prefix.startswith(own):
            raise ValueError(f"REDIS_PREFIX {prefix!r} starts with the test process's own prefix {own!r}")


@contextmanager
def deploy(
    tmp: Path,
    *,
    name: str = "e2e",
    env: dict[str, str] | None = None,
    admin_password: str | None = None,
    servers: int = 0,
) -> Iterator[Deployment]:
    """A migrated deployment with `servers` daphne processes running; torn down on leaving the block.

    `tmp`: a directory of the deployment's own (SQLite file, daphne logs).
    `name`: prefix of its SECRET_KEY and of its REDIS_PREFIX ("<name>-<8 hex>",
    unique per deployment; it must not start with the test process's own
    prefix). `env`: added to, or overriding, the defaults below (say
    OCPP_COMMAND_TIMEOUT, OCPP_ALLOW_UNKNOWN_CHARGE_POINTS, REDIS_URL).
    `admin_password`: the password of the superuser "admin" (None: none, it
    can only use its API token, `Deployment.token`).

    Fails the test (pytest.fail) when migrating, creating the admin or
    starting a server fails.
    """
    redis_prefix = f"{name}-{uuid.uuid4().hex[:8]}"
    _check_redis_prefix(redis_prefix)
    url, drop = throwaway_database(tmp)
    try:
        full_env = {
            **os.environ,
            "DATABASE_URL": url,
            "SECRET_KEY": f"{name}-{uuid.uuid4().hex}",
            "OCPP_ALLOW_UNKNOWN_CHARGE_POINTS": "false",
            "OCPP_LAST_SEEN_WRITE_INTERVAL": "0",
            "OCPP_LOG_LEVEL": "INFO",
            "REDIS_PREFIX": redis_prefix,
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        # pytest-django's value: manage.py and csms.asgi pick their settings themselves, as in production.
        full_env.pop("DJANGO_SETTINGS_MODULE", None)
        dep = Deployment(env=full_env, tmp=tmp)
        try:
            dep.manage("migrate", "--noinput", "-v0")
            password_env = {"DJANGO_SUPERUSER_PASSWORD": admin_password} if admin_password is not None else {}
            admin = ("--username", "admin", "--email", "admin@example.com")
            dep.manage("createsuperuser", "--noinput", *admin, extra_env=password_env)
            dep.token = dep.manage("drf_create_token", "admin").split()[2]
            for _ in range(servers):
                dep.start_server()
            yield dep
        finally:
            dep.stop()
            dep.delete_redis_keys()
    finally:
        drop()
