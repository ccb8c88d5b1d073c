"""Start daphne as this project deploys it: `python -m csms.serve [--workers N] [daphne options]`.

    python -m csms.serve -b 0.0.0.0 -p 8000              # what `make run` does
    python -m csms.serve -b 0.0.0.0 -p 8000 --workers 4  # four daphne processes behind port 8000
    python -m csms.serve -p 8000 --ping-interval 30      # any daphne option; later ones win

Runs daphne's command line with our Server (csms/server.py: on SIGTERM it
closes charge point connections with 1012 and marks them offline within
OCPP_SHUTDOWN_TIMEOUT seconds), serving `csms.asgi:application` with the
options OCPP needs on top of daphne's defaults (DESIGN, trap 6):

- `--websocket_timeout -1`: daphne would otherwise close every WebSocket
  after 86,400 s; a charge point's connection is meant to stay up for months.
- `--websocket_connect_timeout 30`: daphne refuses a handshake the application
  has not accepted within 5 s, which during a boot storm (a restart, a site
  power cut) turns a queue of connects into failed ones that come back.
  Charge points wait about 30 s for a handshake themselves.
- `--application-close-timeout 60`: daphne cancels a connection's handler
  10 s after its socket closed; in a burst of disconnects the handlers wait
  their turn for the database longer than that.

Workers. One daphne process uses one core (its ORM work runs on one
thread, DESIGN trap 4). `--workers N` runs N daphne processes behind the one
`-b`/`-p` address: this process (the supervisor) binds N listening sockets
to it with SO_REUSEPORT, so the kernel spreads new connections evenly over
them (IPv4), and hands socket i to worker i (daphne's `--fd`). It restarts
a worker that dies, after 1 s, doubling up to 30 s while it keeps dying
within a minute, and logs each death and restart; a restarted worker takes
over the same socket, so connections that arrived meanwhile wait in its
queue instead of being refused. On SIGTERM or SIGINT it sends SIGTERM to
every worker, each of which shuts down as one process does (1012 to its
charge points), and exits 0 when all of them did. Workers share sessions
through the Redis channel layer only: more than one needs REDIS_URL (refused
otherwise); SQLite with several writers is warned about. Default: one worker
per core with REDIS_URL set, else 1. Workers die with the supervisor, even
when it is killed with SIGKILL (Linux).

Every process raises its open-file limit to the hard limit: each
connection is a file descriptor, and the usual soft limit (1,024) would
cap a process at about a thousand charge points.

With TLS_CERT_FILE and TLS_KEY_FILE set (csms/settings.py), it serves
`wss://` / `https://` (csms/tls.py) on TLS_PORT (8443 by default) at the
`-b` address too, beside the plain port (one worker only, for now):

    TLS_CERT_FILE=server.crt TLS_KEY_FILE=server.key python -m csms.serve -b 0.0.0.0 -p 8000
"""

from __future__ import annotations

import ctypes
import logging
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

APPLICATION = "csms.asgi:application"
DAPHNE_OPTIONS = ("--websocket_timeout", "-1", "--websocket_connect_timeout", "30", "--application-close-timeout", "60")
DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8000
# Restart delays of a dying worker: the first, the most, and how long it must live for the delay to start over.
RESTART_DELAY_S, RESTART_DELAY_MAX_S, RESTART_RESET_AFTER_S = 1.0, 30.0, 60.0
# What a worker may take to stop on top of OCPP_SHUTDOWN_TIMEOUT (daphne's application close, exit) before SIGKILL.
STOP_GRACE_S = 15.0
LISTEN_BACKLOG = 4096  # the kernel caps it at net.core.somaxconn

logger = logging.getLogger("csms.serve")


def daphne_argv(*options: str) -> list[str]:
    """The daphne command line: the executable beside this Python, our options, then `options`, then the app."""
    return [str(Path(sys.executable).parent / "daphne"), *DAPHNE_OPTIONS, *options, APPLICATION]


def raise_open_file_limit() -> int:
    """Raise this process's soft RLIMIT_NOFILE to its hard limit; returns the soft limit now in force (descriptors)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft


def _take_option(argv: list[str], names: tuple[str, ...]) -> tuple[str | None, list[str]]:
    """The value of the last of `names` in `argv` ("-p 8000", "--port 8000", "--port=8000") and `argv` without them.

    Raises SystemExit when one is given without a value.
    """
    value, rest, i = None, [], 0
    while i < len(argv):
        arg = argv[i]
        if arg in names:
            if i + 1 >= len(argv):
                raise SystemExit(f"csms.serve: {arg} needs a value")
            value, i = argv[i + 1], i + 2
            continue
        long = next((n for n in names if n.startswith("--") and arg.startswith(n + "=")), None)
        if long:
            value = arg[len(long) + 1 :]
        else:
            rest.append(arg)
        i += 1
    return value, rest


def default_workers(redis_url: str) -> int:
    """Worker processes when `--workers` is not given: the cores this process may run on with Redis, else 1."""
    if not redis_url:
        return 1
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def check_workers(workers: int, *, redis_url: str, database_engine: str, tls: bool) -> str | None:
    """Refuse a worker count the settings cannot serve (SystemExit with the reason); returns a warning or None.

    More than one worker needs REDIS_URL (the in-memory channel layer is one
    process's: a command sent on one worker would never reach a charge
    point held by another) and no TLS_CERT_FILE (csms/tls.py binds its port
    itself). SQLite with several workers is allowed with a warning: its
    writers queue for one file lock.
    """
    if workers < 1:
        raise SystemExit(f"csms.serve: --workers must be 1 or more, not {workers}")
    if workers == 1:
        return None
    if not redis_url:
        raise SystemExit(
            f"csms.serve: --workers {workers} needs REDIS_URL: with the in-memory channel layer each process has its own"
            " sessions, so commands and live pages would miss the charge points of the other processes."
            " Set REDIS_URL, or run one worker (--workers 1)."
        )
    if tls:
        raise SystemExit(
            "csms.serve: --workers above 1 does not serve TLS yet (TLS_CERT_FILE is set); run one worker, or end TLS at a proxy in front"
        )
    if "sqlite" in database_engine:
        return (
            f"{workers} workers share one SQLite file: writes from several processes queue for its lock"
            " (and may fail with 'database is locked' under load); use PostgreSQL (DATABASE_URL) for more than one"
        )
    return None


def listening_sockets(host: str, port: int, count: int) -> list[socket.socket]:
    """`count` TCP sockets listening on (`host`, `port`) together (SO_REUSEPORT); the kernel spreads connections over them.

    Port 0 picks a free port for the first and binds the others to it.
    Raises OSError when the address cannot be bound (in use, not local).
    """
    family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    if family != socket.AF_INET:
        # daphne's --fd adopts IPv4 sockets only (its fd endpoint takes no address family).
        raise OSError(f"{host}: several workers listen on IPv4 addresses only")
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(family, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind(address)
            address = sock.getsockname()  # a port of 0 is now the chosen one
            sock.listen(LISTEN_BACKLOG)
            sock.set_inheritable(True)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def _die_with_parent() -> None:
    # In the worker between fork and exec: Linux sends it SIGTERM when the supervisor dies, even by SIGKILL.
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class Worker:
    """Worker `number` (1…N): its listening socket, its process while running, its restart schedule."""

    number: int
    sock: socket.socket
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    restart_at: float | None = None
    delay_s: float = RESTART_DELAY_S


class Supervisor:
    """N daphne workers (`python -m csms.serve --workers 1 --fd …`) behind `sockets`, one each; see the module docstring.

    `options`: daphne options for every worker (without -b/-p). `stop_timeout_s`:
    how long `run` waits for the workers after SIGTERM before killing them.
    """

    def __init__(self, sockets: list[socket.socket], options: list[str], *, stop_timeout_s: float):
        self.workers = [Worker(number, sock) for number, sock in enumerate(sockets, 1)]
        self.options = options
        self.stop_timeout_s = stop_timeout_s
        self._stopping: int | None = None

    def _argv(self, worker: Worker) -> list[str]:
        return [sys.executable, "-m", "csms.serve", "--workers", "1", "--fd", str(worker.sock.fileno()), *self.options]

    def _start(self, worker: Worker) -> None:
        worker.process = subprocess.Popen(
            self._argv(worker),
            pass_fds=(worker.sock.fileno(),),
            env={**os.environ, "CSMS_WORKER": str(worker.number), "CSMS_SUPERVISOR_PID": str(os.getpid())},
            # Its own session: a Ctrl-C in the terminal reaches the supervisor only, which stops the workers in order.
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        worker.started_at, worker.restart_at = time.monotonic(), None
        logger.warning("worker %d started, pid %d", worker.number, worker.process.pid)

    def _on_signal(self, signum, frame) -> None:
        if self._stopping is None:
            self._stopping = signum

    def run(self) -> int:
        """Start the workers and keep them running until SIGTERM or SIGINT; returns the exit status (0: all stopped cleanly)."""
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        for worker in self.workers:
            self._start(worker)
        while self._stopping is None:
            now = time.monotonic()
            for worker in self.workers:
                if worker.process is not None and worker.process.poll() is not None:
                    self._schedule_restart(worker, now)
                elif worker.process is None and worker.restart_at is not None and now >= worker.restart_at:
                    self._start(worker)
            time.sleep(0.1)
        return self._stop()

    def _schedule_restart(self, worker: Worker, now: float) -> None:
        code = worker.process.returncode
        lived = now - worker.started_at
        if lived >= RESTART_RESET_AFTER_S:
            worker.delay_s = RESTART_DELAY_S
        how = f"was killed by signal {-code}" if code < 0 else f"exited with status {code}"
        logger.error(
            "worker %d (pid %d) %s after %.1f s; restarting it in %g s", worker.number, worker.process.pid, how, lived, worker.delay_s
        )
        worker.process, worker.restart_at = None, now + worker.delay_s
        worker.delay_s = min(worker.delay_s * 2, RESTART_DELAY_MAX_S)

    def _stop(self) -> int:
        running = [w for w in self.workers if w.process is not None and w.process.poll() is None]
        logger.warning("%s: stopping %d workers (SIGTERM)", signal.Signals(self._stopping).name, len(running))
        for worker in running:
            worker.process.send_signal(signal.SIGTERM)
        # The workers hold their own copies; ours would keep accepting into queues nobody reads.
        for worker in self.workers:
            worker.sock.close()
        deadline = time.monotonic() + self.stop_timeout_s
        status = 0
        for worker in running:
            try:
                code = worker.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                logger.error(
                    "worker %d (pid %d) still running after %g s: killing it", worker.number, worker.process.pid, self.stop_timeout_s
                )
                worker.process.kill()
                code = worker.process.wait()
            if code != 0:
                logger.error("worker %d (pid %d) stopped with status %d", worker.number, worker.process.pid, code)
                status = 1
        logger.warning("all workers stopped")
        return status


def main() -> None:
    """Run daphne (one worker in this process) or supervise `--workers N` of them, until SIGTERM or SIGINT.

    Raises django's ImproperlyConfigured for a bad setting; exits with a
    message for unusable TLS files or a worker count the settings cannot
    serve, with status 1 when a port cannot be bound.
    """
    raise_open_file_limit()
    workers_option, options = _take_option(sys.argv[1:], ("--workers",))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "csms.settings")
    from django.conf import settings

    try:
        workers = default_workers(settings.REDIS_URL) if workers_option is None else int(workers_option)
    except ValueError:
        raise SystemExit(f"csms.serve: --workers must be a number, not {workers_option!r}") from None
    warning = check_workers(
        workers, redis_url=settings.REDIS_URL, database_engine=settings.DATABASES["default"]["ENGINE"], tls=bool(settings.TLS_CERT_FILE)
    )
    if workers > 1:
        logging.basicConfig(format="%(asctime)s %(levelname)s csms.serve[%(process)d] %(message)s", level=logging.INFO)
        if warning:
            logger.warning(warning)
        _supervise(workers, options, settings.OCPP_SHUTDOWN_TIMEOUT)
        return
    argv = daphne_argv(*options)
    if settings.TLS_CERT_FILE:
        from csms import tls

        tls.serve(argv[1:], cert_file=settings.TLS_CERT_FILE, key_file=settings.TLS_KEY_FILE, tls_port=settings.TLS_PORT)
        return
    from daphne.cli import CommandLineInterface

    from csms.server import Server

    cli = CommandLineInterface()
    cli.server_class = Server
    cli.run(argv[1:])


def _supervise(workers: int, options: list[str], shutdown_timeout_s: float) -> None:
    host, options = _take_option(options, ("-b", "--bind"))
    port, options = _take_option(options, ("-p", "--port"))
    host, port = host or DEFAULT_HOST, int(port) if port is not None else DEFAULT_PORT
    try:
        sockets = listening_sockets(host, port, workers)
    except OSError as exc:
        logger.error("cannot listen on %s:%d: %s", host, port, exc)
        raise SystemExit(1) from None
    logger.warning("listening on %s:%d with %d workers", host, sockets[0].getsockname()[1], workers)
    status = Supervisor(sockets, options, stop_timeout_s=shutdown_timeout_s + STOP_GRACE_S).run()
    raise SystemExit(status)


if __name__ == "__main__":
    main()
