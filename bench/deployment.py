"""A throwaway CSMS deployment: a database of its own, an admin token and daphne processes.

    with Deployment(name="e2e", env={"OCPP_LOG_LEVEL": "INFO"}) as dep:
        dep.setup(admin_password="pw")   # database, migrate, admin + API token
        a, b = dep.start_servers(2)      # daphne on free loopback ports
        status, body = dep.api("POST", "/api/v1/chargepoints/", {"id": "CP-1"}, b)

The database is a SQLite file in the deployment's directory or, when the
DATABASE_URL it inherits names PostgreSQL, a fresh database on that server
created for it and dropped after it. Channels groups live in Redis when
REDIS_URL is set in the deployment's env (inherited, or set before a server
starts), under a key prefix of the deployment's own, so deployments never see
each other's groups; else in each process's memory. `close()` (or leaving the
`with` block, also on a failure or Ctrl-C) stops the servers, drops the
database, deletes the Redis keys and removes the directory when it made it.

Charge points registered through `api()` (POST /api/v1/chargepoints/) get
their Basic-auth password for security profiles 1 and 2 at once:
`charge_point_password(id)`, derived from the identity, so every client (the
simulator, the benchmarks' lean client, a test's own websockets client) sends
`basic_auth_headers(id)` without asking. `charge_point_passwords_set(ids)`
does the same for charge points registered otherwise (bulk imports).

One implementation for both users, and free of pytest and Django because
the benchmarks run without them: bench/harness.py adds what they measure
with, tests/e2e/deployment.py turns DeploymentError into pytest.fail.
"""

from __future__ import annotations

import base64
import ctypes
import hashlib
import hmac
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LOOPBACK = "127.0.0.1"
POSTGRES_SCHEMES = {"postgres", "postgresql", "pgsql", "psql"}
LOG_TAIL_LINES = 40


# Throwaway deployments only (a test's or a benchmark's): the passwords are derived
# from the identity with a key anyone can read here, so clients know them offline.
_PASSWORD_KEY = b"csms throwaway deployment"


def charge_point_password(charge_point_id: str) -> str:
    """The Basic-auth password a throwaway deployment gives `charge_point_id`: 40 hex characters (1.6 and 2.0.1)."""
    return hmac.new(_PASSWORD_KEY, charge_point_id.encode(), hashlib.sha1).hexdigest()


def basic_auth_headers(charge_point_id: str) -> dict[str, str]:
    """{"Authorization": "Basic base64(id:password)"} for websockets' `additional_headers` (security profile 1/2)."""
    token = base64.b64encode(f"{charge_point_id}:{charge_point_password(charge_point_id)}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


class DeploymentError(RuntimeError):
    """Setting up the deployment failed; the message says what, with the command's output or daphne's log tail."""


def free_port() -> int:
    """A TCP port free on the loopback interface right now (another process may take it before daphne binds)."""
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def tail(text: str | bytes | None, lines: int = LOG_TAIL_LINES) -> str:
    """The last `lines` lines of `text` (bytes decoded, None as empty), for error messages."""
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return "\n".join((text or "").splitlines()[-lines:])


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
    """Delete every key under `prefix` (channels-redis groups would otherwise live a day); returns how many.

    Raises redis.RedisError (or ValueError for a bad URL) when Redis cannot be reached.
    """
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=500))
        if keys:
            client.delete(*keys)
        return len(keys)
    finally:
        client.close()


@dataclass
class ThrowawayDatabase:
    """A database made for one deployment: its DATABASE_URL, "sqlite" or "postgresql", the server version, how to drop it."""

    url: str
    engine: str
    version: str
    drop: Callable[[], None]


def throwaway_database(source_url: str, tmp: Path, name: str) -> ThrowawayDatabase:
    """A fresh database next to what `source_url` (a DATABASE_URL, "" for the default) names.

    A SQLite file `<name>.sqlite3` under `tmp` (dropped with the directory)
    for SQLite or an empty URL; for PostgreSQL a new database
    csms_<name>_<random> on the same server, reached with the same
    credentials. Raises DeploymentError for another scheme or when
    PostgreSQL refuses.
    """
    scheme = source_url.split(":", 1)[0].lower() if source_url else ""
    if scheme in ("", "sqlite"):
        return ThrowawayDatabase(f"sqlite:///{tmp / (name + '.sqlite3')}", "sqlite", "", lambda: None)
    if scheme not in POSTGRES_SCHEMES:
        raise DeploymentError(f"DATABASE_URL: unsupported scheme {scheme!r} for a throwaway deployment (PostgreSQL or SQLite)")
    import psycopg

    parts = urllib.parse.urlsplit(source_url)
    database = f"csms_{re.sub(r'[^a-z0-9]', '_', name.lower())[:30]}_{uuid.uuid4().hex[:12]}"
    # libpq understands postgres:// and postgresql:// URIs, not Django's aliases.
    maintenance = urllib.parse.urlunsplit(("postgresql", parts.netloc, "/postgres", parts.query, ""))
    try:
        with psycopg.connect(maintenance, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{database}"')
            version = conn.execute("SHOW server_version").fetchone()[0]
    except psycopg.Error as exc:
        # Only the host part: the URL may carry a password.
        raise DeploymentError(
            f"PostgreSQL at {parts.hostname}:{parts.port or 5432} refused to create the database {database}: {exc}"
        ) from exc

    def drop():
        # FORCE: a server killed mid-query may leave a backend connected, which blocks a plain DROP.
        with psycopg.connect(maintenance, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')

    url = urllib.parse.urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, ""))
    return ThrowawayDatabase(url, "postgresql", version, drop)


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: ask Linux to SIGTERM it when
    # the parent dies, even by SIGKILL, so no daphne outlives a benchmark.
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Server:
    """One daphne process: `name` ("A", "B" …, in start order), loopback `port`, the `process`, its log file.

    `tls_port`: where it also serves TLS (started with TLS_CERT_FILE in its env), else None.
    `workers`: daphne processes behind the port (`csms.serve --workers`); above 1,
    `process` is their supervisor.
    """

    name: str
    port: int
    process: subprocess.Popen
    log_path: Path
    tls_port: int | None = None
    workers: int = 1

    @property
    def http(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def ws(self, path: str) -> str:
        return f"ws://{LOOPBACK}:{self.port}{path}"

    def wss(self, path: str) -> str:
        """The `wss://` URL of `path` on the TLS port ("localhost": what a test server certificate names). ValueError without TLS."""
        if self.tls_port is None:
            raise ValueError(f"server {self.name} serves no TLS (no TLS_CERT_FILE in its env)")
        return f"wss://localhost:{self.tls_port}{path}"

    def log(self) -> str:
        """Everything daphne and the CSMS logged so far. Raises OSError once the log is removed."""
        return self.log_path.read_text(errors="replace")

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """The last `lines` lines of the log, for failure messages ("" when unreadable)."""
        try:
            return tail(self.log(), lines)
        except OSError:
            return ""

    def pids(self) -> list[int]:
        """The process and, with workers, its worker processes now (Linux /proc; the process alone elsewhere)."""
        pids = [self.process.pid]
        if self.workers > 1:
            try:
                pids += [int(p) for p in Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()]
            except (OSError, ValueError):
                pass
        return pids

    def rss_bytes(self) -> int | None:
        """Resident set size of the process (with workers: summed over them) now, in bytes (Linux /proc), None elsewhere."""
        total = None
        for pid in self.pids():
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total = (total or 0) + int(line.split()[1]) * 1024
            except (OSError, ValueError):
                pass
        return total

    def cpu_seconds(self) -> float | None:
        """User + system CPU seconds the process (with workers: the running ones too) has used so far (Linux /proc), None elsewhere.

        A worker that died takes its seconds with it.
        """
        total = None
        for pid in self.pids():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            # Fields 14 and 15 of stat(5) (utime, stime), counted after the ")" that ends the command name.
            total = (total or 0) + (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return total


def _server_name(index: int) -> str:
    return chr(ord("A") + index) if index < 26 else f"S{index + 1}"


class Deployment:
    """A database, an admin token and daphne processes sharing them (and Redis, when REDIS_URL is set).

    `name`: prefix of the Redis key prefix ("<name>-<8 hex>", unique per
    deployment), the SECRET_KEY, the database and the directory. `env`: added
    to, or overriding, the inherited environment (DATABASE_URL there names the
    server to make the throwaway database on). `tmp`: a directory of the
    caller's, left in place; None: one made here and removed by `close()`
    unless `keep_tmp`. `log` gets one progress line at a time (none by
    default), `warn` each clean-up problem (warnings.warn by default).
    `die_with_parent`: Linux SIGTERMs the servers when the thread that
    started them ends, so only for callers that start servers from their main
    thread and nothing else (preexec_fn is unsafe next to other threads).

    `env` is what every `manage.py` and daphne subprocess gets; changing it
    (say, adding REDIS_URL) affects the servers started afterwards.
    """

    def __init__(
        self,
        *,
        name: str,
        env: dict[str, str] | None = None,
        tmp: Path | None = None,
        log: Callable[[str], None] | None = None,
        warn: Callable[[str], None] | None = None,
        die_with_parent: bool = False,
        keep_tmp: bool = False,
    ):
        self.name = name
        self.redis_prefix = f"{name}-{uuid.uuid4().hex[:8]}"
        self._owns_tmp = tmp is None
        self.tmp = Path(tempfile.mkdtemp(prefix=f"csms-{name}-")) if tmp is None else tmp
        self.log = log or (lambda line: None)
        self.warn = warn or warnings.warn
        self.die_with_parent = die_with_parent
        self.keep_tmp = keep_tmp
        inherited = dict(os.environ)
        # pytest-django's value, say: manage.py and csms.asgi pick their settings themselves, as in production.
        inherited.pop("DJANGO_SETTINGS_MODULE", None)
        self.env: dict[str, str] = {
            **inherited,
            "SECRET_KEY": f"{name}-{uuid.uuid4().hex}",
            "REDIS_PREFIX": self.redis_prefix,
            "PYTHONUNBUFFERED": "1",
            # The bench and the e2e tests send thousands of API calls from one user and address.
            "API_THROTTLE_USER": "off",
            "API_THROTTLE_ANON": "off",
            **(env or {}),
        }
        self.token = ""
        # Whether the servers have POST /api/v1/chargepoints/<id>/password/ (None: not tried yet).
        self._password_api: bool | None = None
        self.servers: list[Server] = []
        self.database = ""  # "sqlite" or "postgresql", once set up
        self.postgres_version = ""
        self._drop_database: Callable[[], None] | None = None

    def __repr__(self) -> str:
        # Not the env: pytest prints the repr in tracebacks, and it holds the whole environment.
        return f"<{type(self).__name__} {self.redis_prefix} {self.database or 'not set up'}, {len(self.servers)} servers>"

    @property
    def redis_url(self) -> str | None:
        """The REDIS_URL servers get now, None for the in-memory layer."""
        return self.env.get("REDIS_URL") or None

    # --- set up -------------------------------------------------------------

    def setup(self, *, admin: str = "admin", admin_password: str | None = None) -> None:
        """Create and migrate the database, create the superuser `admin` and its API token (`self.token`).

        `admin_password` None: the admin has none and can only use its token.
        Raises DeploymentError; `close()` still drops what was created.
        """
        started = time.monotonic()
        database = throwaway_database(self.env.get("DATABASE_URL", ""), self.tmp, self.name)
        self._drop_database = database.drop
        self.database, self.postgres_version = database.engine, database.version
        self.env["DATABASE_URL"] = database.url
        if database.engine == "postgresql":
            parts = urllib.parse.urlsplit(database.url)
            # Host and name only: the URL may carry a password.
            self.log(
                f"  database: PostgreSQL {database.version} at {parts.hostname}:{parts.port or 5432},"
                f" throwaway database {parts.path.lstrip('/')}"
            )
        else:
            self.log(f"  database: SQLite file {database.url.removeprefix('sqlite:///')}")
        self.manage("migrate", "--noinput", "-v0")
        password_env = {"DJANGO_SUPERUSER_PASSWORD": admin_password} if admin_password is not None else {}
        self.manage("createsuperuser", "--noinput", "--username", admin, "--email", f"{admin}@example.com", extra_env=password_env)
        # Output: the token alone (a hashed knox token; this is the only time it is shown).
        self.token = self.manage("token_create", admin).strip()
        self.log(f"  migrated, admin and API token created in {time.monotonic() - started:.1f} s")

    def manage(self, *args: str, extra_env: dict | None = None, stdin: str | None = None, timeout: float = 120) -> str:
        """Run `manage.py *args` against this deployment (`stdin` as its input); returns its stdout.

        Raises DeploymentError with the output's tail when it fails or runs past `timeout` seconds.
        """
        command = "manage.py " + " ".join(args)
        try:
            result = subprocess.run(
                [sys.executable, "manage.py", *args],
                cwd=REPO,
                env={**self.env, **(extra_env or {})},
                input=stdin,
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired as exc:
            raise DeploymentError(f"{command} did not finish within {timeout:g} s:\n{tail(exc.stdout)}\n{tail(exc.stderr)}") from None
        if result.returncode != 0:
            raise DeploymentError(f"{command} failed with {result.returncode}:\n{tail(result.stdout)}\n{tail(result.stderr)}")
        return result.stdout

    def start_servers(self, count: int, timeout_s: float = 30, *, workers: int = 1) -> list[Server]:
        """Start `count` servers at once; returns them once each answers GET /health with 200.

        Each is `python -m csms.serve --workers <workers>`: one daphne process,
        or a supervisor with that many behind its port (needs REDIS_URL).

        With TLS_CERT_FILE (and TLS_KEY_FILE) in `env`, each also serves TLS
        on a free port of its own (`Server.tls_port`, its TLS_PORT).

        Raises DeploymentError with daphne's log tail when one exits or is
        not healthy within `timeout_s` seconds; `stop()` stops it either way.
        """
        started = time.monotonic()
        new = []
        for _ in range(count):
            name = _server_name(len(self.servers))
            port = free_port()
            env = self.env
            tls_port = None
            if env.get("TLS_CERT_FILE"):
                tls_port = free_port()
                env = {**env, "TLS_PORT": str(tls_port)}
            # Named by start order: a port freed by a stopped server may come round again, and its log must survive.
            log_path = self.tmp / f"daphne-{name}-{port}.log"
            with log_path.open("w") as log_file:
                process = subprocess.Popen(
                    # As `make run` starts it (csms/serve.py adds the options OCPP needs and
                    # execs daphne: same pid, measured as daphne).
                    # --workers always: csms.serve would otherwise run one per core when REDIS_URL is set.
                    [sys.executable, "-m", "csms.serve", "--workers", str(workers), "-b", LOOPBACK, "-p", str(port)],
                    cwd=REPO,
                    env=env,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    # Its own session: a Ctrl-C in the terminal reaches only the caller,
                    # which then stops the servers in order.
                    start_new_session=True,
                    preexec_fn=_die_with_parent if self.die_with_parent else None,
                )
            server = Server(name, port, process, log_path, tls_port, workers)
            self.servers.append(server)
            new.append(server)
        for server in new:
            self._wait_healthy(server, started + timeout_s)
        self.log(
            "  servers: "
            + ", ".join(f"{s.name} pid {s.process.pid}{f' ({workers} workers)' if workers > 1 else ''} on {s.http}" for s in new)
            + f" (healthy after {time.monotonic() - started:.1f} s)"
        )
        return new

    def start_server(self, timeout_s: float = 30, *, workers: int = 1) -> Server:
        """Start one more server; as `start_servers(1)`."""
        return self.start_servers(1, timeout_s, workers=workers)[0]

    def _wait_healthy(self, server: Server, deadline: float) -> None:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                raise DeploymentError(
                    f"daphne {server.name} on port {server.port} exited with {server.process.returncode}:\n{server.log_tail()}"
                )
            try:
                status, _ = self.api("GET", "/health", server=server, timeout=2)
                if status == 200:
                    return
            except (OSError, http.client.HTTPException):
                pass
            time.sleep(0.2)
        raise DeploymentError(f"daphne {server.name} on port {server.port} was not healthy in time:\n{server.log_tail()}")

    # --- use ----------------------------------------------------------------

    def api(self, method: str, path: str, body=None, server: Server | None = None, *, timeout: float = 30) -> tuple[int, object]:
        """One REST call as the admin on a new connection to `server` (the first by default): (HTTP status, JSON or text).

        Redirects are returned, not followed. A charge point registered here
        (POST /api/v1/chargepoints/ answered 201) is given its
        `charge_point_password` before this returns. Raises OSError (including
        socket.timeout) or http.client.HTTPException when the server does not
        answer, DeploymentError when the password cannot be set.
        """
        server = server or self.servers[0]
        status, answer = self._request(method, path, body, server, timeout)
        if method == "POST" and path.rstrip("/") == "/api/v1/chargepoints" and status == 201 and isinstance(answer, dict):
            self._password_after_registering(str(answer.get("id", (body or {}).get("id"))), server, timeout)
        return status, answer

    def _request(self, method: str, path: str, body, server: Server, timeout: float) -> tuple[int, object]:
        connection = http.client.HTTPConnection(LOOPBACK, server.port, timeout=timeout)
        try:
            return request_json(connection, method, path, body, self.token)
        finally:
            connection.close()

    def _password_after_registering(self, charge_point_id: str, server: Server, timeout: float) -> None:
        # The REST endpoint when the servers have it (fast), else one manage.py run.
        if self._password_api is not False:
            path = f"/api/v1/chargepoints/{urllib.parse.quote(charge_point_id, safe='')}/password/"
            status, answer = self._request("POST", path, {"password": charge_point_password(charge_point_id)}, server, timeout)
            if 200 <= status < 300:
                self._password_api = True
                return
            if self._password_api or status not in (404, 405):
                raise DeploymentError(f"setting the password of {charge_point_id} answered {status}: {answer}")
            self._password_api = False
        self.charge_point_passwords_set([charge_point_id])

    def charge_point_passwords_set(self, ids: list[str]) -> None:
        """Give each registered charge point of `ids` its `charge_point_password`, in one manage.py run.

        Through services.charge_point_password_set, as an operator would
        (`manage.py charge_point_password`). Raises DeploymentError.
        """
        script = (
            "import json, sys\n"
            "from django.db import transaction\n"
            "from chargepoints import services\n"
            "passwords = json.loads(sys.stdin.read())\n"
            "with transaction.atomic():\n"
            "    for charge_point_id, password in passwords.items():\n"
            "        services.charge_point_password_set(charge_point_id=charge_point_id, password=password)\n"
        )
        self.manage("shell", "-c", script, stdin=json.dumps({i: charge_point_password(i) for i in ids}))

    # --- tear down ----------------------------------------------------------

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

    def close(self) -> None:
        """Stop the servers, drop the database, delete the Redis keys, remove the directory made here.

        Never raises: each step reports its failure to `warn` and the next
        still runs (keys left behind expire on their own, and raising here
        would bury the failure that brought us to teardown).
        """
        self.stop()
        if self._drop_database is not None:
            try:
                self._drop_database()
                self._drop_database = None
            except Exception as exc:  # noqa: BLE001 - report and carry on cleaning
                self.warn(f"could not drop the throwaway database: {exc}")
        if self.redis_url:
            try:
                delete_redis_keys(self.redis_url, self.redis_prefix)
            except Exception as exc:  # noqa: BLE001
                self.warn(f"could not delete the Redis keys under {self.redis_prefix!r} at {self.redis_url}: {exc}")
        if self._owns_tmp:
            if self.keep_tmp:
                self.log(f"  logs kept in {self.tmp}")
            else:
                shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> Deployment:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
