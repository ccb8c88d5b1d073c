"""A throwaway CSMS deployment for benchmarks: its own database, an admin token, daphne processes.

    with Deployment(redis_url=..., log=print) as dep:
        dep.setup()                       # database, migrate, admin + API token
        a, b = dep.start_servers(2)       # daphne on free loopback ports, sharing Redis
        status, body = dep.api("POST", "/api/v1/chargepoints/", {"id": "CP-1"}, server=b)

The database is a SQLite file in a temporary directory, or, when DATABASE_URL
names PostgreSQL, a fresh database on that server created for the run and
dropped after it. With a Redis URL every server shares the channel layer in
Redis under a key prefix of its own, so runs never see each other's groups;
with `redis_url=None` the one server runs the in-memory layer, as `make run`
does by default. `close()` (or leaving the `with` block, also on Ctrl-C)
stops the servers, drops the database, deletes the Redis keys and removes
the temporary directory.

Standalone on purpose: benchmarks run without pytest, so this does not reuse
tests/e2e/conftest.py (which fails tests rather than raising).
"""

from __future__ import annotations

import ctypes
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
LOOPBACK = "127.0.0.1"
POSTGRES_SCHEMES = {"postgres", "postgresql", "pgsql", "psql"}


class HarnessError(RuntimeError):
    """Setting up the deployment failed; the message says what to fix."""


def free_port() -> int:
    """A TCP port free on the loopback interface right now (another process may take it before we bind)."""
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def redis_url() -> str:
    """REDIS_URL from the environment, else the local default."""
    return os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL


def configured_redis_url() -> str | None:
    """REDIS_URL from the environment, None when unset: the deployment then runs the in-memory layer."""
    return os.environ.get("REDIS_URL") or None


def check_redis(url: str) -> str:
    """PING Redis at `url` within 3 s; returns its server version. Raises HarnessError when unreachable."""
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
        try:
            client.ping()
            return str(client.info("server").get("redis_version", "?"))
        finally:
            client.close()
    except redis.RedisError as exc:
        raise HarnessError(f"Redis at {url} is unreachable ({exc}); start it or set REDIS_URL") from exc


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: ask Linux to SIGTERM it when
    # the benchmark dies, even by SIGKILL, so no daphne outlives a run.
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Server:
    """One daphne process: `name` ("A", "B" …), loopback `port`, its log file."""

    name: str
    port: int
    process: subprocess.Popen
    log_path: Path

    @property
    def http(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def ws(self, path: str) -> str:
        return f"ws://{LOOPBACK}:{self.port}{path}"

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def rss_bytes(self) -> int | None:
        """Resident set size of the process now, in bytes (Linux /proc), None elsewhere."""
        try:
            for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        except (OSError, ValueError):
            pass
        return None

    def cpu_seconds(self) -> float | None:
        """User + system CPU seconds the process has used so far (Linux /proc), None elsewhere."""
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        # Fields 14 and 15 of stat(5) (utime, stime), counted after the ")" that ends the command name.
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Deployment:
    """A database, an admin token and daphne processes sharing them and one Redis channel layer.

    `log` receives one progress line at a time (print by default).
    """

    redis_url: str | None
    log: callable = print
    token: str = ""
    servers: list[Server] = field(default_factory=list)
    database: str = ""  # "sqlite" or "postgresql"
    postgres_version: str = ""
    # Not under "csms": a test run flushing its layer (prefix "csms" by default) deletes "csms*".
    redis_prefix: str = field(default_factory=lambda: "bench-csms-" + uuid.uuid4().hex[:8])
    tmp: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="csms-bench-")))
    env: dict = field(default_factory=dict)
    _drop_database: callable = None

    # --- set up -------------------------------------------------------------

    def setup(self) -> None:
        """Create and migrate the database, create the admin and its API token. Raises HarnessError."""
        url = self._create_database()
        self.env = {
            **os.environ,
            "DATABASE_URL": url,
            # Empty: the in-memory layer, even if a .env file names Redis.
            "REDIS_URL": self.redis_url or "",
            "REDIS_PREFIX": self.redis_prefix,
            "SECRET_KEY": "bench-" + uuid.uuid4().hex,
            "DEBUG": "false",
            "OCPP_ALLOW_UNKNOWN_CHARGE_POINTS": "false",
            "OCPP_PROTOCOL_DEBUG": "false",
            # Per-frame INFO lines would cost the servers as much as the work measured.
            "OCPP_LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
        self.env.pop("DJANGO_SETTINGS_MODULE", None)
        started = time.monotonic()
        self.manage("migrate", "--noinput", "-v0")
        self.manage(
            "createsuperuser", "--noinput", "--username", "bench", "--email", "bench@example.com",
            extra_env={"DJANGO_SUPERUSER_PASSWORD": uuid.uuid4().hex},
        )
        # Output: "Generated token <key> for user bench"
        self.token = self.manage("drf_create_token", "bench").split()[2]
        self.log(f"  migrated, admin and API token created in {time.monotonic() - started:.1f} s")

    def _create_database(self) -> str:
        """The DATABASE_URL the servers get; registers how to drop it."""
        source = os.environ.get("DATABASE_URL", "")
        scheme = source.split(":", 1)[0].lower() if source else ""
        if scheme in POSTGRES_SCHEMES:
            return self._create_postgres_database(source)
        if scheme not in ("", "sqlite"):
            raise HarnessError(f"DATABASE_URL: unsupported scheme {scheme!r} for the benchmark (PostgreSQL or unset)")
        self.database = "sqlite"
        path = self.tmp / "bench.sqlite3"
        self.log(f"  database: SQLite file {path}")
        return f"sqlite:///{path}"

    def _create_postgres_database(self, source: str) -> str:
        import psycopg

        parts = urllib.parse.urlsplit(source)
        name = f"csms_bench_{uuid.uuid4().hex[:12]}"
        # libpq understands postgres:// and postgresql:// URIs, not Django's aliases.
        maintenance = urllib.parse.urlunsplit(("postgresql", parts.netloc, "/postgres", parts.query, ""))
        try:
            with psycopg.connect(maintenance, autocommit=True, connect_timeout=5) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
                version = conn.execute("SHOW server_version").fetchone()[0]
        except psycopg.Error as exc:
            raise HarnessError(f"PostgreSQL at {parts.hostname}:{parts.port or 5432} refused to create a database: {exc}") from exc

        def drop():
            with psycopg.connect(maintenance, autocommit=True, connect_timeout=5) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

        self._drop_database = drop
        self.database = "postgresql"
        self.postgres_version = version
        # Only the host part is logged: the URL may carry a password.
        self.log(f"  database: PostgreSQL {version} at {parts.hostname}:{parts.port or 5432}, throwaway database {name}")
        return urllib.parse.urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, ""))

    def manage(self, *args: str, extra_env: dict | None = None, stdin: str | None = None) -> str:
        """Run `manage.py *args` against this deployment; returns stdout. Raises HarnessError on failure."""
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=REPO,
            env={**self.env, **(extra_env or {})},
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if result.returncode != 0:
            raise HarnessError(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result.stdout

    def start_servers(self, count: int, timeout_s: float = 30) -> list[Server]:
        """Start `count` daphne processes at once and wait until each answers /health with 200.

        Raises HarnessError when one exits or is not healthy within `timeout_s` seconds.
        """
        if not self.redis_url and len(self.servers) + count > 1:
            raise HarnessError("more than one server needs Redis: set REDIS_URL")
        started = time.monotonic()
        new = []
        for index in range(count):
            name = chr(ord("A") + len(self.servers))
            port = free_port()
            log_path = self.tmp / f"daphne-{name}-{port}.log"
            with log_path.open("w") as log_file:
                process = subprocess.Popen(
                    # As `make run` starts it (csms/serve.py execs daphne: same pid, measured as daphne).
                    [sys.executable, "-m", "csms.serve", "-b", LOOPBACK, "-p", str(port)],
                    cwd=REPO,
                    env=self.env,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    # Its own session: a Ctrl-C in the terminal reaches only the benchmark,
                    # which then stops the servers in order.
                    start_new_session=True,
                    preexec_fn=_die_with_parent,
                )
            server = Server(name, port, process, log_path)
            self.servers.append(server)
            new.append(server)
        for server in new:
            self._wait_healthy(server, started + timeout_s)
        self.log(
            "  servers: " + ", ".join(f"{s.name} pid {s.process.pid} on {s.http}" for s in new)
            + f" (healthy after {time.monotonic() - started:.1f} s)"
        )
        return new

    def _wait_healthy(self, server: Server, deadline: float) -> None:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                raise HarnessError(f"daphne {server.name} exited with {server.process.returncode}:\n{server.log_tail()}")
            try:
                status, body = self.api("GET", "/health", server=server, timeout=2)
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise HarnessError(f"daphne {server.name} was not healthy in time:\n{server.log_tail()}")

    # --- use ----------------------------------------------------------------

    def register_charge_points(self, ids: list[str]) -> None:
        """Register `ids` as Accepted charge points in one bulk insert (an operator's import, not measured).

        Raises HarnessError when manage.py fails.
        """
        script = (
            "import json, sys\n"
            "from chargepoints.models import ChargePoint\n"
            "ids = json.loads(sys.stdin.read())\n"
            "ChargePoint.objects.bulk_create([ChargePoint(pk=i) for i in ids], batch_size=500)\n"
        )
        self.manage("shell", "-c", script, stdin=json.dumps(ids))

    def query(self, expression: str):
        """Evaluate a Python `expression` in `manage.py shell` against the deployment's database; returns its JSON value.

        The expression may use the models of both apps under their names
        (ChargePoint, Command, MeterValue, Transaction, …). Raises HarnessError.
        """
        script = (
            "import json\n"
            "from chargepoints.models import *\n"
            "from transactions.models import *\n"
            f"print(json.dumps({expression}))\n"
        )
        return json.loads(self.manage("shell", "-c", script).strip().splitlines()[-1])

    def api(self, method: str, path: str, body=None, *, server: Server, timeout: float = 30) -> tuple[int, object]:
        """One REST call with the admin token on a new connection: (HTTP status, decoded JSON or text).

        Raises OSError (including socket.timeout) when the server does not answer.
        """
        connection = http.client.HTTPConnection(LOOPBACK, server.port, timeout=timeout)
        try:
            return request_json(connection, method, path, body, self.token)
        finally:
            connection.close()

    # --- tear down ----------------------------------------------------------

    def close(self) -> None:
        """Stop the servers (SIGTERM, then SIGKILL after 10 s), drop the database, delete the Redis keys, remove tmp.

        Never raises: each step reports its own failure and the next still runs.
        """
        for server in self.servers:
            if server.process.poll() is None:
                server.process.terminate()
        for server in self.servers:
            try:
                server.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.process.kill()
                server.process.wait()
        if self._drop_database is not None:
            try:
                self._drop_database()
            except Exception as exc:  # noqa: BLE001 - report and carry on cleaning
                self.log(f"  warning: could not drop the benchmark database: {exc}")
        if self.redis_url:
            try:
                delete_redis_keys(self.redis_url, self.redis_prefix)
            except Exception as exc:  # noqa: BLE001
                self.log(f"  warning: could not delete Redis keys {self.redis_prefix}*: {exc}")
        if os.environ.get("BENCH_KEEP_LOGS"):
            self.log(f"  logs kept in {self.tmp}")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> "Deployment":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def request_json(connection: http.client.HTTPConnection, method: str, path: str, body, token: str) -> tuple[int, object]:
    """Send one request on `connection` (kept alive by the caller); returns (status, decoded JSON or text).

    Raises OSError or http.client.HTTPException when the connection fails.
    """
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Authorization": f"Token {token}", "Accept": "application/json"}
    if data is not None:
        headers["Content-Type"] = "application/json"
    connection.request(method, path, body=data, headers=headers)
    response = connection.getresponse()
    raw = response.read()
    try:
        return response.status, json.loads(raw) if raw else None
    except ValueError:
        return response.status, raw.decode(errors="replace")


def delete_redis_keys(url: str, prefix: str) -> int:
    """Delete every key under `prefix` (channels-redis groups would otherwise live a day); returns how many."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=500))
        if keys:
            client.delete(*keys)
        return len(keys)
    finally:
        client.close()
