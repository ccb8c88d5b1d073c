"""Command round trip across two processes: `make bench` (or `python -m tests.bench.command_roundtrip`).

Starts a throwaway deployment (tests/bench/harness.py): its own database
(SQLite in a temporary directory, or a throwaway PostgreSQL database when
DATABASE_URL names PostgreSQL), two daphne processes A and B on loopback ports
sharing Redis (REDIS_URL, else redis://127.0.0.1:6379/0) under a key prefix of
their own. N lean charge points connect to A and boot; commands then go
through B's REST API at a steady (open-loop) rate for a fixed duration, so
every command crosses the Redis channel layer from B to A and its answer
crosses back.

Reported, printed and written as JSON, never asserted:
- requests sent, answered 200, errors by HTTP status (or exception name);
- achieved rates: requests sent per second, 200s per second;
- HTTP latency (client-observed, request written → response read) and CP round
  trip (`round_trip_ms` of the answer: CALL sent by A → answer read by A):
  p50 / p90 / p99 / max in milliseconds;
- how late the client sent requests behind schedule (its own saturation);
- CPU used by A, B and the benchmark client (100% = one core), and how busy
  the whole machine was (other work included);
- where the time went, from the command log: logged by B → CALL sent by A,
  CALL sent → answer stored by A;
- exception lines in the servers' logs, counted;
- sockets the servers closed during the run (they should close none).

Options: --charge-points (20), --rate per second (20), --duration seconds (20),
--timeout per command seconds (10), --same-process (send through A's API,
where the sockets are), --output (var/bench/command_roundtrip.json).

The lean charge point is plain `websockets`, not the `ocpp` library: it
answers every CALL with {"status": "Accepted"} (a valid answer to each action
sent here), so the client costs little CPU next to the servers it measures.

Exit status: 0 after a run (whatever the figures), 1 when the deployment
could not be set up, 130 on Ctrl-C. Everything it started is stopped and
removed on every path out.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import http.client
import json
import math
import os
import platform
import re
import signal
import sys
import threading
import time
from collections import Counter
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import websockets

from tests.bench.harness import REPO, Deployment, HarnessError, Server, check_redis, redis_url, request_json

DEFAULT_OUTPUT = REPO / "var" / "bench" / "command_roundtrip.json"
# Commands sent in turn; {"status": "Accepted"} is a schema-valid answer to each.
COMMANDS = [
    ("ChangeAvailability", {"connectorId": 1, "type": "Operative"}),
    ("Reset", {"type": "Soft"}),
    ("TriggerMessage", {"requestedMessage": "Heartbeat"}),
]
BOOT = {"chargePointVendor": "Bench", "chargePointModel": "Lean"}


# --- the lean charge point ---------------------------------------------------


class LeanChargePoint:
    """One OCPP-J 1.6 socket that boots and answers every CALL with {"status": "Accepted"}.

    `calls` counts CALLs received; `close_code` is set when the server closes the
    socket (None while open or after we closed it ourselves).
    """

    def __init__(self, charge_point_id: str, url: str):
        self.id = charge_point_id
        self.url = url
        self.ws = None
        self.calls = 0
        self.close_code: int | None = None
        self._boot: asyncio.Future | None = None
        self._reader: asyncio.Task | None = None
        self._closing = False

    async def connect_and_boot(self, timeout_s: float = 10) -> None:
        """Open the socket and send BootNotification; raises RuntimeError unless it is Accepted in time."""
        # No client pings: the OCPP traffic is the load; pings would only add noise.
        self.ws = await websockets.connect(self.url, subprotocols=["ocpp1.6"], ping_interval=None, open_timeout=timeout_s)
        self._boot = asyncio.get_running_loop().create_future()
        self._reader = asyncio.create_task(self._read())
        await self.ws.send(json.dumps([2, "boot", "BootNotification", BOOT]))
        answer = await asyncio.wait_for(self._boot, timeout_s)
        if answer.get("status") != "Accepted":
            raise RuntimeError(f"{self.id}: BootNotification answered {answer}")

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                frame = json.loads(raw)
                if frame[0] == 2:  # CALL from the central system
                    self.calls += 1
                    await self.ws.send(json.dumps([3, frame[1], {"status": "Accepted"}]))
                elif frame[1] == "boot" and not self._boot.done():
                    self._boot.set_result(frame[2] if frame[0] == 3 else {"error": frame[2:]})
        except websockets.ConnectionClosed:
            pass
        if not self._closing:
            self.close_code = self.ws.close_code

    async def close(self) -> None:
        self._closing = True
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            self._reader.cancel()


# --- the REST client ---------------------------------------------------------


class CommandSender:
    """Sends commands through one server's REST API from a thread pool, one kept-alive connection per thread.

    `send(i)` is thread-safe and returns a sample dict:
    {"i", "action", "status": int HTTP status or "exception:<Name>", "http_ms": float,
     "round_trip_ms": int | None, "late_ms": float}.
    """

    def __init__(self, server: Server, token: str, charge_point_ids: list[str], timeout_s: float):
        self.server = server
        self.token = token
        self.ids = charge_point_ids
        self.timeout_s = timeout_s
        self._local = threading.local()

    def _connection(self) -> http.client.HTTPConnection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            # The socket timeout covers the command timeout plus the server's own grace.
            connection = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=self.timeout_s + 10)
            self._local.connection = connection
        return connection

    def send(self, i: int, due: float) -> dict:
        """Send command number `i` (due at perf_counter time `due`) and time it."""
        charge_point_id = self.ids[i % len(self.ids)]
        # Each charge point gets the actions in turn across rounds.
        action, payload = COMMANDS[(i // len(self.ids)) % len(COMMANDS)]
        path = f"/api/v1/chargepoints/{charge_point_id}/commands/{action}/?timeout={self.timeout_s:g}"
        started = time.perf_counter()
        sample = {"i": i, "action": action, "late_ms": (started - due) * 1000, "round_trip_ms": None}
        try:
            status, body = request_json(self._connection(), "POST", path, payload, self.token)
            sample["status"] = status
            if status == 200 and isinstance(body, dict):
                sample["round_trip_ms"] = body.get("round_trip_ms")
                sample["command_id"] = body.get("command_id")
            else:
                sample["detail"] = (body.get("detail") if isinstance(body, dict) else str(body))[:200]
        except (OSError, http.client.HTTPException) as exc:
            sample["status"] = f"exception:{type(exc).__name__}"
            sample["detail"] = str(exc)[:200]
            # A broken kept-alive connection is replaced on the next request.
            self._local.connection.close()
            self._local.connection = None
        sample["http_ms"] = (time.perf_counter() - started) * 1000
        return sample


# --- measuring -------------------------------------------------------------


def percentile(sorted_values: list[float], p: float) -> float | None:
    """Nearest-rank percentile `p` (0-100] of ascending `sorted_values`; None when empty."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def summary(values: list[float]) -> dict:
    """{"count", "p50", "p90", "p99", "max", "mean"} of `values` (milliseconds), rounded to 0.1 ms."""
    ordered = sorted(values)

    def r(v):
        return None if v is None else round(v, 1)

    return {
        "count": len(ordered),
        "p50": r(percentile(ordered, 50)),
        "p90": r(percentile(ordered, 90)),
        "p99": r(percentile(ordered, 99)),
        "max": r(ordered[-1] if ordered else None),
        "mean": r(sum(ordered) / len(ordered) if ordered else None),
    }


EXCEPTION_LINE = re.compile(r"^(?:[A-Za-z_][\w.]*\.)?[A-Z]\w*(?:Error|Exception|Timeout)\b.*")


def server_log_exceptions(server: Server, limit: int = 5) -> dict:
    """The most frequent exception lines ("pkg.SomeError: message") in `server`'s log: {line: count}.

    Only the last line of each chained traceback is counted, so a chain counts once.
    """
    counts: Counter = Counter()
    try:
        lines = server.log_path.read_text(errors="replace").splitlines()
    except OSError:
        return {}
    for index, line in enumerate(lines):
        if not EXCEPTION_LINE.match(line):
            continue
        following = lines[index + 1] if index + 1 < len(lines) else ""
        # "The above exception was the direct cause …" follows a link in a chain: skip it.
        if following == "" and index + 2 < len(lines) and lines[index + 2].startswith(("The above", "During handling")):
            continue
        counts[line[:200]] += 1
    return dict(counts.most_common(limit))


def command_phases(dep: Deployment, server: Server, samples: list[dict]) -> dict:
    """Where the time of the answered commands went, from the command log's timestamps (milliseconds).

    {"created_to_sent": summary, "sent_to_completed": summary}: `created_at` is
    stamped by the API process when it logs the command, `sent_at` and
    `completed_at` by the process holding the socket when the CALL goes out and
    when the answer is recorded. Both processes share the machine's clock.
    """
    wanted = {s["command_id"] for s in samples if s.get("command_id") is not None}
    status, page = dep.api("GET", f"/api/v1/commands/?source=api&limit={len(wanted) + 1000}", server=server, timeout=60)
    if status != 200 or not isinstance(page, dict):
        return {}

    def ms(later: str | None, earlier: str | None) -> float | None:
        if not later or not earlier:
            return None
        return (datetime.fromisoformat(later) - datetime.fromisoformat(earlier)).total_seconds() * 1000

    to_sent, to_completed = [], []
    for entry in page["results"]:
        if entry["id"] in wanted:
            for values, value in ((to_sent, ms(entry["sent_at"], entry["created_at"])),
                                  (to_completed, ms(entry["completed_at"], entry["sent_at"]))):
                if value is not None:
                    values.append(value)
    return {"created_to_sent": summary(to_sent), "sent_to_completed": summary(to_completed)}


def machine_cpu_jiffies() -> tuple[int, int] | None:
    """(busy, total) jiffies of all CPUs since boot from /proc/stat; None off Linux."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


def machine_info() -> dict:
    """nproc, CPU model, memory, OS, Python and the versions of the packages on the path measured."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    packages = {}
    for name in ("Django", "channels", "channels-redis", "redis", "daphne", "Twisted", "psycopg", "websockets"):
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            packages[name] = None
    try:
        # Other work on the machine skews the figures: keep the load next to them.
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = None
    return {
        "nproc": os.cpu_count(),
        "loadavg_1_5_15m": load,
        "cpu_model": model or platform.processor(),
        "memory_gib": memory_gib,
        "os": platform.platform(),
        "python": platform.python_version(),
        "packages": packages,
    }


async def run_load(args, dep: Deployment, socket_server: Server, api_server: Server, log) -> dict:
    """Connect and boot the charge points on `socket_server`, then send the commands through `api_server`.

    Returns the raw results: samples of the measured phase, the warm-up's,
    timings of the window, CPU counters and socket closes.
    """
    ids = [f"BENCH-{n:03d}" for n in range(args.charge_points)]
    stations = [LeanChargePoint(cp, socket_server.ws(f"/ocpp/{cp}")) for cp in ids]
    loop = asyncio.get_running_loop()
    # Enough threads that slow answers (up to the timeout) never hold back the schedule.
    workers = max(16, min(256, math.ceil(args.rate * 3)))
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="bench-http")
    sender = CommandSender(api_server, dep.token, ids, args.timeout)
    try:
        started = time.monotonic()
        await asyncio.gather(*(s.connect_and_boot() for s in stations))
        log(f"  {len(stations)} charge points connected to {socket_server.name} and booted in {time.monotonic() - started:.1f} s")

        # Warm-up, not measured: one command per charge point (first requests pay for imports and caches).
        now = time.perf_counter()
        warmup = await asyncio.gather(*(loop.run_in_executor(pool, sender.send, i, now) for i in range(len(ids))))
        warm_ok = sum(1 for s in warmup if s["status"] == 200)
        log(f"  warm-up: {warm_ok}/{len(warmup)} commands answered")

        total = max(1, round(args.rate * args.duration))
        interval = 1 / args.rate
        cpu_before = {s.name: s.cpu_seconds() for s in dep.servers}
        client_cpu_before = time.process_time()
        machine_before = machine_cpu_jiffies()
        calls_before = sum(s.calls for s in stations)
        log(f"  sending {total} commands through {api_server.name} at {args.rate:g}/s for {args.duration:g} s ...")

        window_start = time.perf_counter()
        futures = []
        for i in range(total):
            # Open loop: request i is due at start + i/rate whatever happened to the earlier ones.
            due = window_start + i * interval
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            futures.append(loop.run_in_executor(pool, sender.send, len(ids) + i, due))
        last_sent = time.perf_counter()
        samples = await asyncio.gather(*futures)
        window_end = time.perf_counter()

        cpu_after = {s.name: s.cpu_seconds() for s in dep.servers}
        client_cpu = time.process_time() - client_cpu_before
        machine_after = machine_cpu_jiffies()
        window_s = window_end - window_start
        cpu = {
            name: (None if cpu_before[name] is None else round(100 * (cpu_after[name] - cpu_before[name]) / window_s, 1))
            for name in cpu_before
        }
        cpu["client"] = round(100 * client_cpu / window_s, 1)
        if machine_before and machine_after:
            busy = machine_after[0] - machine_before[0]
            all_ = machine_after[1] - machine_before[1]
            cpu["machine"] = round(100 * busy / all_, 1) if all_ else None
        return {
            "samples": samples,
            "warmup": warmup,
            "send_span_s": last_sent - window_start,
            "window_s": window_s,
            "cpu_percent": cpu,
            "calls_received": sum(s.calls for s in stations) - calls_before,
            "sockets_closed_by_server": {s.id: s.close_code for s in stations if s.close_code is not None},
        }
    finally:
        await asyncio.gather(*(s.close() for s in stations), return_exceptions=True)
        pool.shutdown(wait=False, cancel_futures=True)


def report(args, dep: Deployment, servers: dict, raw: dict, machine: dict, redis_version: str) -> dict:
    """The figures as a JSON-able dict (the shape written to --output)."""
    samples = raw["samples"]
    statuses = Counter(str(s["status"]) for s in samples)
    ok = [s for s in samples if s["status"] == 200]
    errors = {status: count for status, count in sorted(statuses.items()) if status != "200"}
    error_examples = {}
    for s in samples:
        key = str(s["status"])
        if key != "200" and key not in error_examples:
            error_examples[key] = s.get("detail", "")
    return {
        "benchmark": "command_roundtrip",
        "started_at": raw["started_at"],
        "config": {
            "charge_points": args.charge_points,
            "rate_per_s": args.rate,
            "duration_s": args.duration,
            "command_timeout_s": args.timeout,
            "same_process": args.same_process,
            "actions": [action for action, _ in COMMANDS],
            "database": dep.database + (f" {dep.postgres_version}" if dep.postgres_version else ""),
            "channel_layer": f"channels_redis, Redis {redis_version}",
            "sockets_on": servers["sockets"].name,
            "api_on": servers["api"].name,
        },
        "machine": machine,
        "results": {
            "requests": len(samples),
            "ok": len(ok),
            "errors": errors,
            "error_examples": error_examples,
            "sent_per_s": round(len(samples) / raw["send_span_s"], 2) if raw["send_span_s"] > 0 else None,
            "ok_per_s": round(len(ok) / raw["window_s"], 2) if raw["window_s"] > 0 else None,
            "window_s": round(raw["window_s"], 2),
            "http_ms": summary([s["http_ms"] for s in ok]),
            "cp_round_trip_ms": summary([s["round_trip_ms"] for s in ok if s["round_trip_ms"] is not None]),
            "command_log_phases_ms": raw["phases"],
            "late_ms": summary([max(0.0, s["late_ms"]) for s in samples]),
            "calls_received_by_charge_points": raw["calls_received"],
            "sockets_closed_by_server": raw["sockets_closed_by_server"],
            "warmup_ok": sum(1 for s in raw["warmup"] if s["status"] == 200),
            "cpu_percent": raw["cpu_percent"],
            "server_log_exceptions": raw["server_log_exceptions"],
        },
    }


def print_report(data: dict, out=sys.stdout) -> None:
    """The human-readable table of `data` (the shape `report` returns)."""
    c, r, m = data["config"], data["results"], data["machine"]

    def row(name, s):
        cells = "".join(f"{'-' if s[k] is None else s[k]:>10}" for k in ("p50", "p90", "p99", "max"))
        return f"  {name:<26}{cells}"

    errors = ", ".join(f"{k}: {v}" for k, v in r["errors"].items()) or "none"
    per_process = ", ".join(f"{k} {v}%" for k, v in r["cpu_percent"].items() if k != "machine")
    machine_busy = r["cpu_percent"].get("machine")
    lines = [
        "",
        f"Command round trip — {c['charge_points']} charge points on process {c['sockets_on']}, "
        f"commands through process {c['api_on']}'s REST API",
        f"  {c['database']}, {c['channel_layer']}; {m['nproc']} CPU ({m['cpu_model']}), {m['memory_gib']} GiB, "
        f"load {m['loadavg_1_5_15m']}",
        f"  target {c['rate_per_s']:g}/s for {c['duration_s']:g} s, actions {', '.join(c['actions'])}",
        "",
        f"  requests {r['requests']}   ok (200) {r['ok']}   errors {errors}",
        f"  achieved: sent {r['sent_per_s']}/s, answered 200 {r['ok_per_s']}/s over {r['window_s']} s",
        "",
        f"  {'milliseconds':<26}{'p50':>10}{'p90':>10}{'p99':>10}{'max':>10}",
        row("HTTP latency (client)", r["http_ms"]),
        row("CP round trip (server)", r["cp_round_trip_ms"]),
        *(
            [row("  logged → CALL sent", r["command_log_phases_ms"]["created_to_sent"]),
             row("  CALL sent → recorded", r["command_log_phases_ms"]["sent_to_completed"])]
            if r["command_log_phases_ms"] else []
        ),
        row("sent behind schedule", r["late_ms"]),
        "",
        f"  CPU over the window (100% = one core): {per_process}; machine busy {machine_busy}% of {m['nproc']} CPUs",
        f"  CALLs received by the charge points: {r['calls_received_by_charge_points']}; "
        f"sockets closed by the server: {len(r['sockets_closed_by_server'])}",
    ]
    for status, detail in r["error_examples"].items():
        lines.append(f"  first {status}: {detail}")
    for name, exceptions in r["server_log_exceptions"].items():
        for line, count in exceptions.items():
            lines.append(f"  in {name}'s log {count}x: {line}")
    print("\n".join(lines), file=out)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m tests.bench.command_roundtrip",
        description="Command round trip across two CSMS processes sharing Redis (printed, not asserted).",
    )
    parser.add_argument("--charge-points", type=int, default=20, help="charge points connected (default 20)")
    parser.add_argument("--rate", type=float, default=20.0, help="commands per second (default 20)")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of measured load (default 20)")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds each command may wait for its answer (default 10)")
    parser.add_argument(
        "--same-process", action="store_true",
        help="send the commands through the API of the process holding the sockets (A) instead of B",
    )
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help=f"JSON file (default {DEFAULT_OUTPUT.relative_to(REPO)})")
    args = parser.parse_args(argv)
    if not 1 <= args.charge_points <= 1000:
        parser.error("--charge-points: 1 to 1000")
    if not 0 < args.rate <= 500:
        parser.error("--rate: above 0 and at most 500 per second")
    if not 0 < args.duration <= 300:
        parser.error("--duration: above 0 and at most 300 seconds")
    if not 0 < args.timeout <= 60:
        parser.error("--timeout: above 0 and at most 60 seconds")
    return args


def _raise_keyboard_interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv=None) -> int:
    args = parse_args(argv)

    def log(line: str) -> None:
        print(line, flush=True)

    # SIGTERM and SIGHUP take the Ctrl-C path, so the cleanup below always runs; SIGINT
    # too when started ignoring it (a background job of a non-interactive shell).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    signal.signal(signal.SIGHUP, _raise_keyboard_interrupt)
    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    url = redis_url()
    log(f"command round trip benchmark — setting up (Redis {url.split('@')[-1]})")
    try:
        redis_version = check_redis(url)
        with Deployment(redis_url=url, log=log) as dep:
            dep.setup()
            a, b = dep.start_servers(2)
            api = a if args.same_process else b
            for cp in (f"BENCH-{n:03d}" for n in range(args.charge_points)):
                status, body = dep.api("POST", "/api/v1/chargepoints/", {"id": cp}, server=api)
                if status != 201:
                    raise HarnessError(f"registering {cp} through {api.name} answered {status}: {body}")
            raw = asyncio.run(run_load(args, dep, a, api, log))
            raw["started_at"] = started_at
            # Read before the logs go with the temporary directory.
            raw["server_log_exceptions"] = {s.name: server_log_exceptions(s) for s in dep.servers}
            raw["phases"] = command_phases(dep, api, raw["samples"])
            data = report(args, dep, {"sockets": a, "api": api}, raw, machine_info(), redis_version)
    except HarnessError as exc:
        print(f"benchmark not run: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted: servers stopped, database and Redis keys removed", file=sys.stderr)
        return 130

    print_report(data)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(data, indent=2) + "\n")
    print(f"\n  written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
