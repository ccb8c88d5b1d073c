"""manage.py demo — the CSMS and three simulated charge points, one of them charging, in one command.

    make demo                  # migrate, collectstatic, then: manage.py demo --host 0.0.0.0 --port 8000
    manage.py demo --host 127.0.0.1 --port 8765 --password s3cret

What it does, in order:

1. refuses to start when migrations are missing or the port is taken;
2. creates the demo data (`demo_setup`: admin user, API token, id tags
   DEMO-TAG-1..5, charge points DEMO-CP-1 (1.6), DEMO-CP-2 (2.0.1),
   DEMO-CP-3 (1.6)) and gives the admin a fresh random password (or
   --password) so that what it prints always logs in, and each charge point
   a fresh Basic-auth password that the simulator below sends (the demo runs
   at security profile 1, the default, like `make run`);
3. starts daphne as a child process, as `make run` does (settings from the
   environment and `.env`), with its output in a log file (var/demo/server.log),
   and waits until GET /health answers 200;
4. prints a banner: admin URL, username, password, API token, OCPP URL, log;
5. runs the three simulated charge points in this process (meter values
   every --sample-interval seconds, no automatic sessions, so that what
   charges is what someone started);
6. once DEMO-CP-1 has booted, starts a transaction on it for DEMO-TAG-1
   through the REST API (POST …/operations/start-charging/ with the admin's
   token), as an integrator would: the charge point's socket lives in the
   daphne process, and with the in-memory channel layer only that process can
   reach it;
7. shows the simulator's live view (a table on a terminal, log lines
   otherwise) until Ctrl-C or SIGTERM, which ends the session (the
   transaction is stopped and delivered), then stops daphne. A second
   Ctrl-C gives that stop at most STOP_DEADLINE_S more seconds; output to a
   pipe whose reader is gone (`make demo | tee log`, tee killed) is dropped
   without stopping the shutdown. A demo killed outright (SIGKILL) leaves its
   transaction active until DEMO-CP-1 boots again (the next run), which ends it
   (OCPP_CLOSE_ORPHANED_TRANSACTIONS).

The daphne child dies with this process even if it is killed (Linux
PR_SET_PDEATHSIG), and sits in a session of its own so that Ctrl-C reaches
only this process, which stops the charge points before the server.
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, connection, connections
from django.db.migrations.executor import MigrationExecutor
from django.http.request import validate_host

from simulator import Event, Simulation, SimulationOptions
from simulator.view import LogView, TableView

from . import simulate
from .demo_setup import CHARGE_POINTS, ID_TAGS, demo_data_create

CHARGING_CHARGE_POINT = "DEMO-CP-1"
CHARGING_ID_TAG = "DEMO-TAG-1"
# With this seed DEMO-CP-1's first car is a 77 kWh SUV arriving at 11 % that
# wants 98 %: about six hours at 11 kW, so the energy keeps growing for as long
# as anyone watches (other seeds may draw a car that is nearly full).
DEMO_SEED = 29
# How long the remotely started car stays plugged in: longer than it needs to
# charge, so the transaction runs until someone stops it (or the demo ends).
REMOTE_SESSION_S = 12 * 3600.0
HEALTH_TIMEOUT_S = 30.0
BOOT_TIMEOUT_S = 60.0
START_ATTEMPTS = 5
SERVER_STOP_TIMEOUT_S = 10.0
# After a second Ctrl-C, how long the charge points still get to deliver their
# StopTransaction before the demo quits anyway.
STOP_DEADLINE_S = 10.0
WILDCARD_HOSTS = {"", "0.0.0.0", "::", "*"}


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: ask Linux to SIGTERM daphne when
    # this process dies, even by SIGKILL, so that no server outlives the demo.
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def local_address(host: str) -> str:
    """The address to reach a server bound to `host` from this machine: loopback for a wildcard."""
    if host in WILDCARD_HOSTS:
        return "::1" if host == "::" else "127.0.0.1"
    return host


def url_host(address: str) -> str:
    """`address` as it goes in a URL: IPv6 literals in brackets."""
    return f"[{address}]" if ":" in address and not address.startswith("[") else address


def port_taken(host: str, port: int) -> str | None:
    """Why daphne could not listen on (`host`, `port`), or None when it can.

    Binds a socket like daphne's (SO_REUSEADDR, so that connections of an
    earlier run still in TIME_WAIT do not count) and closes it again.
    Raises CommandError when `host` does not resolve.
    """
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            None if host in ("", "*") else host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as error:
        raise CommandError(f"--host {host!r}: {error}") from None
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as error:
            return error.strerror or str(error)
    return None


class Unbreakable:
    """A text stream whose writes never raise: `make demo | tee log` must stop cleanly when `tee` is gone.

    The first failed write (BrokenPipeError, EIO …) points the stream's file
    descriptor at /dev/null, so that nothing later (nor Python's final flush)
    fails, and the shutdown (StopTransaction, then the server) goes on.
    """

    def __init__(self, stream):
        self.stream = stream
        self.broken = False

    def write(self, text: str) -> int:
        if not self.broken:
            try:
                self.stream.write(text)
            except (OSError, ValueError):
                self._break()
        return len(text)

    def flush(self) -> None:
        if not self.broken:
            try:
                self.stream.flush()
            except (OSError, ValueError):
                self._break()

    def _break(self) -> None:
        self.broken = True
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self.stream.fileno())
            os.close(devnull)
        except (OSError, ValueError, AttributeError):
            pass

    def isatty(self) -> bool:
        try:
            return not self.broken and self.stream.isatty()
        except (OSError, ValueError):
            return False

    def __getattr__(self, name):
        return getattr(self.stream, name)


class Api:
    """The CSMS REST API over HTTP with an admin token (urllib; JSON in and out).

    `base_url` is where to connect (http://127.0.0.1:8000); `host` the Host
    header to send, one that ALLOWED_HOSTS admits whatever address is dialled.
    """

    def __init__(self, base_url: str, token: str, host: str):
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.host = host

    def request(self, method: str, path: str, body: dict | None = None, *, timeout: float = 10.0) -> tuple[int, object]:
        """(HTTP status, decoded JSON body or its text or None). Raises OSError when the server cannot be reached."""
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Host": self.host, "Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Token {self.token}"
        if data is not None:
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(self.base_url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw.decode(errors="replace")


class Server:
    """daphne serving csms.asgi:application as a child process, its output in `log_path`."""

    def __init__(self, *, host: str, port: int, log_path: Path):
        self.host = host
        self.port = port
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    def command(self) -> list[str]:
        # As `make run` starts it (csms/serve.py adds the options OCPP needs), one daphne
        # process even with REDIS_URL set: the demo stops it by its pid.
        return [sys.executable, "-m", "csms.serve", "--workers", "1", "-b", self.host, "-p", str(self.port)]

    def start(self) -> None:
        """Start daphne in `settings.BASE_DIR`, in a session of its own, dying with this process."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("w") as log:
            self.process = subprocess.Popen(
                self.command(),
                cwd=settings.BASE_DIR,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Ctrl-C goes to the terminal's foreground process group; daphne stays out
                # of it so that the charge points end their sessions before it stops.
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait_healthy(self, api: Api, timeout_s: float = HEALTH_TIMEOUT_S) -> float:
        """Seconds until GET /health answered 200. Raises CommandError (with the log's tail) on exit or timeout."""
        started = time.monotonic()
        last = "no answer"
        while time.monotonic() - started < timeout_s:
            if not self.running:
                raise CommandError(
                    f"The server exited with code {self.process.returncode} while starting. "
                    f"Last lines of {self.log_path}:\n{self.log_tail()}"
                )
            try:
                status, body = api.request("GET", "/health", timeout=3)
                if status == 200:
                    return time.monotonic() - started
                last = f"HTTP {status}: {body}"
            except OSError as error:
                last = str(error)
            time.sleep(0.2)
        raise CommandError(
            f"The server did not answer GET /health with 200 within {timeout_s:.0f} s (last: {last}). "
            f"Last lines of {self.log_path}:\n{self.log_tail()}"
        )

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join("    " + line for line in text.splitlines()[-lines:]) or "    (empty)"

    def stop(self, timeout_s: float = SERVER_STOP_TIMEOUT_S) -> int | None:
        """SIGTERM daphne and wait for it (SIGKILL after `timeout_s`); its exit code, None if never started."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout_s)
            except (subprocess.TimeoutExpired, KeyboardInterrupt):
                self.process.kill()
                self.process.wait()
        return self.process.returncode


class DemoTableView(TableView):
    """The simulator's live table under the demo's banner, so the password stays in sight while it runs."""

    def __init__(self, stream, header: list[str]):
        super().__init__(stream)
        self.header = header
        self.status = ""

    def render(self, simulation, *, width: int = 120, height: int = 40) -> str:
        from simulator.view import BOLD, RESET

        lines = [line[:width] for line in self.header]
        lines[0] = BOLD + lines[0] + RESET
        if self.status:
            lines.append(BOLD + self.status[:width] + RESET)
        lines.append("")
        return "\n".join(lines) + "\n" + super().render(simulation, width=width, height=max(10, height - len(lines)))


class Command(BaseCommand):
    help = (
        "Demo: create the demo data, start the server (daphne) and three simulated charge points, "
        "start charging on DEMO-CP-1 through the REST API, and show them live until Ctrl-C."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1", help="address daphne listens on (make demo: 0.0.0.0)")
        parser.add_argument("--port", type=int, default=8000, help="port daphne listens on (default 8000)")
        parser.add_argument("--password", default=None, help="the admin's password (default: a new random one each run)")
        parser.add_argument("--sample-interval", type=simulate.positive, default=5.0, help="seconds between meter values (default 5)")
        parser.add_argument("--log-file", default=None, help="the server's log (default var/demo/server.log)")
        parser.add_argument(
            "--view", choices=("auto", "table", "log"), default="auto", help="live table on a terminal, log lines otherwise (default auto)"
        )

    def handle(self, *args, host, port, password, sample_interval, log_file, view, verbosity, **options):
        if not 0 < port < 65536:
            raise CommandError(f"--port {port}: not a TCP port")
        self._check_migrated()
        taken = port_taken(host, port)
        if taken:
            raise CommandError(
                f"Port {port} on {host} is taken ({taken}): is another server (make run, an earlier demo) running? "
                f"Stop it or choose another port: make demo PORT=8001, or manage.py demo --port 8001."
            )

        # Ctrl-C must work when the output goes to a pipe whose reader has gone.
        self.stdout._out = Unbreakable(self.stdout._out)
        self.stderr._out = Unbreakable(self.stderr._out)
        password = password or secrets.token_urlsafe(9)
        try:
            # Fresh charge point passwords each run: they are the demo's own stations, simulated here.
            data = demo_data_create(password=password, new_charge_point_passwords=True)
        except DatabaseError as error:
            raise CommandError(f"Could not write the demo data: {error}") from None
        finally:
            connections.close_all()  # nothing more to do here with the database: the server has it

        address = local_address(host)
        shown_host = "localhost" if host in WILDCARD_HOSTS or address in ("127.0.0.1", "::1", "localhost") else host
        public = f"http://{url_host(shown_host)}:{port}"
        api = Api(f"http://{url_host(address)}:{port}", data.token, f"{url_host(shown_host)}:{port}")
        log_path = Path(log_file) if log_file else settings.VAR_DIR / "demo" / "server.log"
        server = Server(host=host, port=port, log_path=log_path)

        write = self.stdout.write
        try:
            write(f"Starting the server on {host}:{port} (log: {self._relative(log_path)}) …")
            server.start()
            started_at = datetime.now(UTC)
            seconds = server.wait_healthy(api)
            write(f"Server up after {seconds:.1f} s (daphne pid {server.process.pid}).")

            printed, header = self._banner(public, data, password, host, log_path, sample_interval)
            write("")
            for line in printed:
                write("  " + line)
            write("")
            self.stdout.flush()

            kind = view if view != "auto" else ("table" if self.stdout.isatty() else "log")
            stream = self.stdout._out
            live = DemoTableView(stream, header) if kind == "table" else LogView(stream)
            options = self._simulation_options(f"ws://{url_host(address)}:{port}/ocpp/", sample_interval, data.charge_point_passwords)
            simulation = Simulation(options, events=live.event)
            helper = simulate.Command(stdout=stream, stderr=self.stderr._out)
            restore = helper._configure_logging(verbosity, live)
            try:
                asyncio.run(self._live(simulation, live, api, server, public, started_at))
            finally:
                restore()
            helper._summary(simulation)
            if not server.running:
                raise CommandError(
                    f"The server stopped unexpectedly (exit code {server.process.returncode}). "
                    f"Last lines of {log_path}:\n{server.log_tail()}"
                )
        except KeyboardInterrupt:
            self.stderr.write("Interrupted.")
        finally:
            if server.process is not None:
                code = server.stop()
                write(f"Server stopped (exit code {code}).")
                self.stdout.flush()

    # --- steps -----------------------------------------------------------------

    @staticmethod
    def _check_migrated() -> None:
        try:
            executor = MigrationExecutor(connection)
            pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
        except DatabaseError as error:
            raise CommandError(f"The database cannot be read ({error}). Check DATABASE_URL.") from None
        if pending:
            raise CommandError(
                f"The database lacks {len(pending)} migration(s): run `make migrate` "
                "(or manage.py migrate) first, or use `make demo`, which does."
            )

    @staticmethod
    def _simulation_options(url: str, sample_interval_s: float, passwords: dict) -> SimulationOptions:
        return SimulationOptions.build(
            passwords=passwords,  # Basic auth, security profile 1 like `make run`
            ids=[cp for cp, _, _ in CHARGE_POINTS],
            ocpp=",".join(version for _, version, _ in CHARGE_POINTS),
            url=url,
            seed=DEMO_SEED,
            connectors=2,
            id_tags=ID_TAGS,
            sample_interval_s=sample_interval_s,
            # No automatic sessions: what charges is what was started (here, or from the admin or API).
            sessions=False,
            session_s=(REMOTE_SESSION_S, REMOTE_SESSION_S),
            # Back quickly if the server restarts, without hammering it.
            backoff_base_s=1.0,
            backoff_cap_s=10.0,
            grace_s=5.0,
        )

    def _banner(self, public: str, data, password: str, host: str, log_path: Path, sample_interval_s: float):
        """(lines printed once, "Label: value"; the shorter header kept above the live table)."""
        ws = public.replace("http://", "ws://")
        log = self._relative(log_path)
        printed = [
            f"Admin:          {public}/admin/",
            f"Username:       {data.username}",
            f"Password:       {password}   (set on each run; --password chooses it)",
            f"API:            {public}/api/v1/   (docs: {public}/api/docs/)",
            f"API token:      {data.token}   (Authorization: Token …)",
            f"OCPP:           {ws}/ocpp/<charge point id>",
            "Charge points:  "
            + ", ".join(f"{cp} ({version})" for cp, version, _ in CHARGE_POINTS)
            + f", simulated here; meter values every {sample_interval_s:g} s",
            "                Basic-auth passwords (security profile 1) are set on each run and given to the simulator.",
            f"Sessions:       none automatic; {CHARGING_CHARGE_POINT} is started for {CHARGING_ID_TAG} through the REST API.",
            f"                Start others from the admin or the API (id tags {ID_TAGS[0]} … {ID_TAGS[-1]}).",
            f"Server log:     {log}",
            "Ctrl-C stops everything: the charge points end their sessions, then the server stops.",
        ]
        header = [
            f"CSMS demo   admin {public}/admin/   user {data.username}   password {password}",
            f"API token {data.token}   OCPP {ws}/ocpp/<id>",
            f"Server log {log}   meter values every {sample_interval_s:g} s   no automatic sessions   Ctrl-C stops",
        ]
        if host in WILDCARD_HOSTS:
            printed.append(f"Other machines: OCPP at ws://<this host>:{public.rsplit(':', 1)[1]}/ocpp/<id>; for the admin and API")
            printed.append("                under another host name, set ALLOWED_HOSTS and CSRF_TRUSTED_ORIGINS (.env).")
        name = public.split("//", 1)[1].rsplit(":", 1)[0]
        allowed = settings.ALLOWED_HOSTS or ([".localhost", "127.0.0.1", "[::1]"] if settings.DEBUG else [])
        if not validate_host(name, allowed):
            warning = f"Warning: ALLOWED_HOSTS ({', '.join(allowed) or 'empty'}) does not admit {name}: add it (.env)."
            printed.append(warning)
            header.append(warning)
        return printed, header

    @staticmethod
    def _relative(path: Path) -> str:
        try:
            return str(path.resolve().relative_to(Path.cwd().resolve()))
        except ValueError:
            return str(path)

    # --- live ------------------------------------------------------------------

    async def _live(self, simulation: Simulation, view, api: Api, server: Server, public: str, started_at) -> None:
        """Run the charge points, the remote start and the view until Ctrl-C/SIGTERM or the server's exit."""
        loop = asyncio.get_running_loop()
        main = asyncio.current_task()
        first_interrupt = None

        deadline = None

        def interrupted():
            nonlocal first_interrupt, deadline
            now = time.monotonic()
            if first_interrupt is None:
                first_interrupt = now
                # Stop first, talk after: the view may write to a closed pipe.
                simulation.stop()  # graceful: the running transaction is stopped and delivered
                say("stopping: ending the sessions, then the server")
            elif now - first_interrupt > 1.0 and deadline is None:
                # A repeat within a second is the same interrupt delivered twice (to the process
                # and to its group, as `timeout -s INT` does), not a person pressing again.
                # Quitting at once would leave the transaction open: the stop in flight gets
                # a few more seconds, no more.
                deadline = loop.call_later(STOP_DEADLINE_S, main.cancel)
                say(f"still ending the sessions; quitting in at most {STOP_DEADLINE_S:.0f} s")

        def say(text: str) -> None:
            try:
                view.event(Event(datetime.now(UTC), "CSMS", "demo", text))
            except (OSError, ValueError):
                pass  # no one to tell: the shutdown goes on

        def status(text: str) -> None:
            if isinstance(view, DemoTableView):
                view.status = text
            else:
                say(text)

        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, interrupted)
            except (NotImplementedError, RuntimeError):
                pass
        helpers = [
            asyncio.create_task(view.run(simulation)),
            asyncio.create_task(self._start_charging(api, public, started_at, say, status, view)),
            asyncio.create_task(self._watch(server, simulation, say)),
        ]
        try:
            await simulation.run()
        except asyncio.CancelledError:
            pass
        finally:
            if deadline is not None:
                deadline.cancel()
            for task in helpers:
                task.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)

    @staticmethod
    async def _watch(server: Server, simulation: Simulation, say) -> None:
        while server.running:
            await asyncio.sleep(1.0)
        say(f"the server exited (code {server.process.returncode}); stopping")
        simulation.stop()

    async def _start_charging(self, api: Api, public: str, started_at: datetime, say, status, view) -> None:
        """Wait for DEMO-CP-1's boot, start a transaction on it through the REST API, then follow its energy.

        Reports through `say` (an event line) and `status` (the table's status
        line, or an event line); never raises: the demo goes on without it.
        """
        try:
            await self._start_and_follow(api, public, started_at, say, status, view)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # a surprising answer must not end the demo
            status(f"{CHARGING_CHARGE_POINT}: could not start charging ({type(error).__name__}: {error})")

    async def _start_and_follow(self, api: Api, public: str, started_at: datetime, say, status, view) -> None:
        cp = CHARGING_CHARGE_POINT
        call = asyncio.to_thread
        status(f"{cp}: waiting for it to boot …")
        deadline = time.monotonic() + BOOT_TIMEOUT_S
        while True:
            try:
                code, body = await call(api.request, "GET", f"/api/v1/chargepoints/{cp}/")
                booted = code == 200 and isinstance(body, dict) and _after(body.get("last_boot_at"), started_at)
                if booted and body.get("online"):
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                status(f"{cp} did not boot within {BOOT_TIMEOUT_S:.0f} s: see the server log")
                return
            await asyncio.sleep(0.5)

        path = f"/api/v1/chargepoints/{cp}/operations/start-charging/"
        status(f"{cp}: booted; POST {path} {{id_tag: {CHARGING_ID_TAG}}} …")
        for attempt in range(1, START_ATTEMPTS + 1):
            try:
                code, body = await call(api.request, "POST", path, {"id_tag": CHARGING_ID_TAG}, timeout=45)
            except OSError as error:
                code, body = 0, str(error)
            # 409: not connected (yet); 504: no answer in time; 0: not reachable. Worth another try.
            if code == 200 or code not in (0, 409, 504) or attempt == START_ATTEMPTS:
                break
            await asyncio.sleep(2.0)
        if code != 200:
            detail = body.get("detail") if isinstance(body, dict) else body
            status(f"{cp}: start-charging failed: HTTP {code}: {detail}")
            return
        say(
            f"start-charging on {cp} for {CHARGING_ID_TAG} through the API: {body['action']} {body['status']} "
            f"(command {body['command_id']}, {body['round_trip_ms']} ms)"
        )
        if body["status"] != "Accepted":
            status(f"{cp}: the charge point answered {body['status']}")
            return

        status(f"{cp}: remote start accepted; waiting for its transaction …")
        announced = None
        last_report = 0.0
        while True:
            transaction = None
            try:
                code, body = await call(api.request, "GET", f"/api/v1/transactions/?charge_point={cp}&status=active")
                if code == 200:
                    fresh = [t for t in body["results"] if _after(t.get("start_timestamp"), started_at)]
                    transaction = fresh[0] if fresh else None
            except OSError:
                pass
            if transaction is not None:
                energy_kwh = (transaction.get("energy_wh") or 0) / 1000
                link = f"{public}/admin/transactions/transaction/{transaction['id']}/change/"
                if announced != transaction["id"]:
                    announced = transaction["id"]
                    last_report = time.monotonic()
                    elapsed = (datetime.now(UTC) - started_at).total_seconds()
                    say(f"{cp} is charging: transaction {announced}, {elapsed:.0f} s after the server started; {link}")
                # On a terminal the banner's status line follows the energy; in a log, a line a minute.
                text = f"{cp}: charging, transaction {announced}, {energy_kwh:.2f} kWh recorded by the CSMS — {link}"
                if isinstance(view, DemoTableView):
                    view.status = text
                elif time.monotonic() - last_report >= 60:
                    last_report = time.monotonic()
                    say(text)
            elif announced is not None:
                status(f"{cp}: transaction {announced} ended")
                return
            await asyncio.sleep(2.0 if announced is None else 5.0)


def _after(timestamp: str | None, moment: datetime) -> bool:
    """Whether the API's ISO 8601 `timestamp` is at or after `moment` (less a second of clock slack)."""
    if not timestamp:
        return False
    parsed = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    return parsed >= moment - timedelta(seconds=1)
