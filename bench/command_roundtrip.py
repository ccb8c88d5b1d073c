"""The `command` scenario of `make bench`: a command's round trip through the REST API while the fleet is loaded.

A throwaway deployment (bench/harness.py) as `make run` deploys it:
one daphne on SQLite and the in-memory layer; with REDIS_URL (and
DATABASE_URL naming PostgreSQL) two daphne processes sharing Redis, A holding
the charge point sockets and B serving the API, so every command crosses the
channel layer from B to A and its answer crosses back. N lean charge points
(bench/lean.py) connect, boot and start a transaction, then each sends
a meter value every --load-interval seconds (the load) while commands
(ChangeAvailability, Reset, TriggerMessage in turn) go through the API at a
steady, open-loop --rate for --duration seconds.

Reported, printed and written as JSON, never asserted:
- requests sent, answered 200, errors by HTTP status (or exception name);
- achieved rates: requests sent per second, 200s per second;
- HTTP latency (client-observed, request written → response read) and CP round
  trip (`round_trip_ms` of the answer: CALL sent → answer read by the server
  holding the socket): p50 / p90 / p99 / max in milliseconds;
- where the time went, from the command log: logged by the API process →
  CALL sent, CALL sent → answer stored;
- the background load: meter values answered, their latency, errors;
- how late the client sent requests behind schedule (its own saturation);
- CPU used by each server and the benchmark client (100% = one core), and
  how busy the whole machine was (other work included);
- exception lines in the servers' logs, and sockets the servers closed.

The lean charge point answers every CALL with {"status": "Accepted"}, a valid
answer to each action sent here.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import http.client
import math
import random
import threading
import time
from collections import Counter
from datetime import datetime

from bench.harness import Deployment, HarnessError, Server, request_json
from bench.lean import LeanChargePoint
from bench.measure import CpuWindow, error_name, server_log_exceptions, summary
from bench.scenarios import bring_up, deployment, describe, fleet

# Commands sent in turn; {"status": "Accepted"} is a schema-valid answer to each.
COMMANDS = [
    ("ChangeAvailability", {"connectorId": 1, "type": "Operative"}),
    ("Reset", {"type": "Soft"}),
    ("TriggerMessage", {"requestedMessage": "Heartbeat"}),
]


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


def command_phases(dep: Deployment, server: Server, wanted: set[int]) -> dict:
    """Where the time of the answered commands went, from the command log's timestamps (milliseconds).

    {"created_to_sent": summary, "sent_to_completed": summary}: `created_at` is
    stamped by the API process when it logs the command, `sent_at` and
    `completed_at` by the process holding the socket when the CALL goes out and
    when the answer is recorded. Both processes share the machine's clock.
    """
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
            for values, value in (
                (to_sent, ms(entry["sent_at"], entry["created_at"])),
                (to_completed, ms(entry["completed_at"], entry["sent_at"])),
            ):
                if value is not None:
                    values.append(value)
    return {"created_to_sent": summary(to_sent), "sent_to_completed": summary(to_completed)}


def run(args, log) -> dict:
    """The scenario; returns {"scenario", "config", "results"}. Raises HarnessError when set-up fails."""
    if args.ocpp != "1.6":
        # The commands sent are OCPP 1.6 actions by name (the /commands/ route).
        raise HarnessError("the command scenario runs OCPP 1.6 charge points only (--ocpp 1.6)")
    with deployment(log, id_tag=True, security_profile=args.security_profile) as dep:
        if dep.redis_url:
            dep.start_servers(1)
        sockets, api = dep.servers[0], dep.servers[-1]
        raw = asyncio.run(_run(args, dep, sockets, api, fleet(dep, sockets, args), log))
        # Read before the logs go with the temporary directory.
        raw["server_log_exceptions"] = {s.name: server_log_exceptions(s) for s in dep.servers}
        raw["command_log_phases_ms"] = command_phases(dep, api, raw.pop("samples_ok_ids"))
        return {
            "scenario": "command",
            "config": {
                "charge_points": args.charge_points,
                "rate_per_s": args.rate,
                "duration_s": args.duration,
                "load_interval_s": args.load_interval,
                "command_timeout_s": args.command_timeout,
                "actions": [action for action, _ in COMMANDS],
                "sockets_on": sockets.name,
                "api_on": api.name,
                **describe(dep),
            },
            "results": raw,
        }


async def _run(args, dep: Deployment, sockets: Server, api: Server, stations: list[LeanChargePoint], log) -> dict:
    loop = asyncio.get_running_loop()
    # Enough threads that slow answers (up to the timeout) never hold back the schedule.
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(16, min(256, math.ceil(args.rate * 3))), thread_name_prefix="bench-http")
    load_latencies: list[float] = []
    load_errors: Counter = Counter()
    stop = asyncio.Event()

    async def load(cp: LeanChargePoint) -> None:
        # A random phase, so the fleet's meter values spread over the interval.
        await asyncio.sleep(random.uniform(0, args.load_interval))
        while not stop.is_set():
            try:
                load_latencies.append(await cp.meter_values())
            except ConnectionError as exc:
                load_errors[error_name(exc)] += 1
                return
            except Exception as exc:  # noqa: BLE001 - counted and reported
                load_errors[error_name(exc)] += 1
            try:
                await asyncio.wait_for(stop.wait(), args.load_interval)
            except TimeoutError:
                pass

    loaders = []
    try:
        started = time.monotonic()
        setup_failures = await bring_up(stations, concurrency=50, transaction=True)
        up = [cp for cp in stations if cp.ws is not None]
        log(f"  {len(up)} charge points on {sockets.name} booted with a transaction running in {time.monotonic() - started:.1f} s")
        up_ids = [cp.id for cp in up]
        sender = CommandSender(api, dep.token, up_ids, args.command_timeout)
        loaders = [asyncio.create_task(load(cp)) for cp in up]

        # Warm-up, not measured: one command per charge point for the first 20 (imports, caches).
        now = time.perf_counter()
        warmup = await asyncio.gather(*(loop.run_in_executor(pool, sender.send, i, now) for i in range(min(20, len(up_ids)))))
        load_latencies.clear()
        load_errors.clear()

        total = max(1, round(args.rate * args.duration))
        interval = 1 / args.rate
        log(
            f"  sending {total} commands through {api.name}'s API at {args.rate:g}/s for {args.duration:g} s, "
            f"each charge point sending a meter value every {args.load_interval:g} s ..."
        )
        window = CpuWindow(dep.servers)
        calls_before = sum(cp.calls_received for cp in up)
        window_start = time.perf_counter()
        futures = []
        for i in range(total):
            # Open loop: request i is due at start + i/rate whatever happened to the earlier ones.
            due = window_start + i * interval
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            futures.append(loop.run_in_executor(pool, sender.send, len(warmup) + i, due))
        send_span = time.perf_counter() - window_start
        samples = await asyncio.gather(*futures)
        cpu = window.stop()
        load_done = list(load_latencies)
        stop.set()
        await asyncio.gather(*loaders, return_exceptions=True)

        statuses = Counter(str(s["status"]) for s in samples)
        ok = [s for s in samples if s["status"] == 200]
        error_examples = {}
        for s in samples:
            if str(s["status"]) != "200":
                error_examples.setdefault(str(s["status"]), s.get("detail", ""))
        return {
            "charge_points_up": len(up),
            "setup_failures": dict(setup_failures),
            "warmup_ok": sum(1 for s in warmup if s["status"] == 200),
            "requests": len(samples),
            "ok": len(ok),
            "errors": {k: v for k, v in sorted(statuses.items()) if k != "200"},
            "error_examples": error_examples,
            "sent_per_s": round(len(samples) / send_span, 2) if send_span > 0 else None,
            "ok_per_s": round(len(ok) / window.elapsed_s, 2),
            "window_s": round(window.elapsed_s, 2),
            "http_ms": summary([s["http_ms"] for s in ok]),
            "cp_round_trip_ms": summary([s["round_trip_ms"] for s in ok if s["round_trip_ms"] is not None]),
            "late_ms": summary([max(0.0, s["late_ms"]) for s in samples]),
            "load": {
                "meter_values_ok": len(load_done),
                "meter_values_per_s": round(len(load_done) / window.elapsed_s, 1),
                "latency_ms": summary([x * 1000 for x in load_done]),
                "errors": dict(load_errors),
            },
            "calls_received_by_charge_points": sum(cp.calls_received for cp in up) - calls_before,
            "sockets_closed_by_server": sum(1 for cp in stations if cp.close_code is not None),
            "cpu_percent": cpu,
            "samples_ok_ids": {s["command_id"] for s in ok if s.get("command_id") is not None},
        }
    finally:
        stop.set()
        for task in loaders:
            task.cancel()
        await asyncio.gather(*(cp.close() for cp in stations))
        pool.shutdown(wait=False, cancel_futures=True)


def print_lines(data: dict) -> list[str]:
    """The human-readable table of `data` (the shape `run` returns)."""
    c, r = data["config"], data["results"]

    def row(name, s):
        return f"  {name:<30}" + "".join(f"{'-' if s[k] is None else s[k]:>10}" for k in ("p50", "p90", "p99", "max"))

    errors = ", ".join(f"{k}: {v}" for k, v in r["errors"].items()) or "none"
    load = r["load"]
    where = (
        f"sockets on {c['sockets_on']}, API on {c['api_on']}" if c["sockets_on"] != c["api_on"] else f"sockets and API on {c['sockets_on']}"
    )
    lines = [
        f"command — API commands at {c['rate_per_s']:g}/s for {c['duration_s']:g} s while {c['charge_points']} charge points "
        f"send a meter value every {c['load_interval_s']:g} s",
        f"  {c['database']}, {c['channel_layer']}; {where}",
        f"  requests {r['requests']}   ok (200) {r['ok']}   errors {errors}",
        f"  achieved: sent {r['sent_per_s']}/s, answered 200 {r['ok_per_s']}/s over {r['window_s']} s",
        f"  {'milliseconds':<30}{'p50':>10}{'p90':>10}{'p99':>10}{'max':>10}",
        row("HTTP latency (client)", r["http_ms"]),
        row("CP round trip (server)", r["cp_round_trip_ms"]),
        *(
            [
                row("  logged → CALL sent", r["command_log_phases_ms"]["created_to_sent"]),
                row("  CALL sent → recorded", r["command_log_phases_ms"]["sent_to_completed"]),
            ]
            if r["command_log_phases_ms"]
            else []
        ),
        row("meter values (load)", load["latency_ms"]),
        row("commands sent behind schedule", r["late_ms"]),
        f"  load: {load['meter_values_ok']} meter values answered ({load['meter_values_per_s']}/s), errors {load['errors'] or 'none'}",
        "  CPU (100% = one core): " + ", ".join(f"{k} {v}%" for k, v in r["cpu_percent"].items()),
        f"  CALLs received by the charge points {r['calls_received_by_charge_points']}; "
        f"sockets closed by the server {r['sockets_closed_by_server']}",
    ]
    for status, detail in r["error_examples"].items():
        lines.append(f"  first {status}: {detail}")
    for name, exceptions in r["server_log_exceptions"].items():
        for line, count in exceptions.items():
            lines.append(f"  in {name}'s log {count}x: {line}")
    return lines
