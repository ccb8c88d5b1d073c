"""The load scenarios of `make bench`: throughput, idle and bootstorm (command: bench/command_roundtrip.py).

Each scenario sets up a deployment of its own (bench/harness.py: one
daphne on loopback, a throwaway database; PostgreSQL and Redis when
DATABASE_URL and REDIS_URL name them, SQLite and the in-memory layer
otherwise, as `make run` deploys it), drives lean charge points
(bench/lean.py) against it, stops by itself and returns its figures as
a JSON-able dict: {"scenario", "config", "results"}. `print_*` turns one into
the table a person reads. Figures are reported, never asserted.

- throughput: N booted charge points, each with a running transaction, send
  meter values back-to-back (one CALL in flight per charge point, as OCPP-J
  allows) for T seconds: CALLs per second, latency p50 / p99, errors, and
  the meter value rows actually stored against those acknowledged.
- idle: N charge points connect (50 at a time), boot, report their
  connectors and hold, heartbeating at the interval the server gave: server
  RSS per connection, server CPU while idle.
- bootstorm: N charge points connect, boot and report status all at once:
  time until all are accepted, per charge point times, failures.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from contextlib import contextmanager

from bench.deployment import charge_point_password
from bench.harness import Deployment, check_redis, configured_redis_url
from bench.lean import SAMPLES_PER_METER_VALUE, LeanChargePoint
from bench.measure import CpuWindow, error_name, server_log_exceptions, summary

ID_TAG = "BENCH-TAG"
PREFIX = "BENCH-"


def charge_point_ids(count: int) -> list[str]:
    """BENCH-0001 … in order."""
    return [f"{PREFIX}{n:04d}" for n in range(1, count + 1)]


def versions(ocpp: str, count: int) -> list[str]:
    """The OCPP version of each of `count` charge points: "1.6", "2.0.1" or "mixed" (alternating, 1.6 first)."""
    if ocpp == "mixed":
        return ["1.6" if n % 2 == 0 else "2.0.1" for n in range(count)]
    return [ocpp] * count


@contextmanager
def deployment(log, *, servers: int = 1, id_tag: bool = False, security_profile: str = "1"):
    """A fresh deployment with `servers` daphne processes at `security_profile` ("none" or "1"); yields it. Raises HarnessError."""
    redis = configured_redis_url()
    redis_version = check_redis(redis) if redis else None
    with Deployment(redis_url=redis, log=log, security_profile=security_profile) as dep:
        dep.setup()
        if id_tag:
            dep.manage("shell", "-c", f"from transactions.models import IdTag; IdTag.objects.create(id_tag={ID_TAG!r})")
        dep.start_servers(servers)
        dep.layer = f"channels_redis, Redis {redis_version}" if redis else "in-memory channel layer"
        yield dep


def describe(dep: Deployment) -> dict:
    """The stack a scenario ran on, for its config."""
    return {
        "database": dep.database + (f" {dep.postgres_version}" if dep.postgres_version else ""),
        "channel_layer": dep.layer,
        "servers": len(dep.servers),
        "security_profile": dep.security_profile,
    }


def fleet(dep: Deployment, server, args) -> list[LeanChargePoint]:
    """`args.charge_points` lean charge points of `args.ocpp`, registered and pointed at `server` (not connected).

    At security profile 1 each sends Basic auth with its password.
    """
    ids = charge_point_ids(args.charge_points)
    dep.register_charge_points(ids)
    authenticate = dep.security_profile != "none"
    return [
        LeanChargePoint(cp, server.ws(f"/ocpp/{cp}"), version=v, password=charge_point_password(cp) if authenticate else None)
        for cp, v in zip(ids, versions(args.ocpp, len(ids)), strict=True)
    ]


async def bring_up(stations: list[LeanChargePoint], *, concurrency: int, transaction: bool = False) -> Counter:
    """Connect, boot and report status (and start a transaction) for `stations`, `concurrency` at a time.

    Returns failures by error name; a station that failed is closed and left out.
    """
    gate = asyncio.Semaphore(concurrency)
    failures: Counter = Counter()

    async def one(cp: LeanChargePoint) -> None:
        async with gate:
            try:
                await cp.connect()
                await cp.boot()
                await cp.report_status()
                if transaction:
                    await cp.start_transaction(ID_TAG)
            except Exception as exc:  # noqa: BLE001 - counted and reported
                failures[error_name(exc)] += 1
                await cp.close()
                cp.ws = None

    await asyncio.gather(*(one(cp) for cp in stations))
    return failures


# --- throughput ----------------------------------------------------------------


def throughput(args, log) -> dict:
    """N charge points send meter values back-to-back for T seconds; see the module docstring."""
    with deployment(log, id_tag=True, security_profile=args.security_profile) as dep:
        server = dep.servers[0]
        stations = fleet(dep, server, args)
        result = asyncio.run(_throughput(args, dep, stations, log))
        result["server_log_exceptions"] = server_log_exceptions(server)
        return {
            "scenario": "throughput",
            "config": {
                "charge_points": args.charge_points,
                "ocpp": args.ocpp,
                "duration_s": args.duration,
                "sampled_values_per_call": SAMPLES_PER_METER_VALUE,
                **describe(dep),
            },
            "results": result,
        }


async def _throughput(args, dep: Deployment, stations: list[LeanChargePoint], log) -> dict:
    try:
        started = time.monotonic()
        setup_failures = await bring_up(stations, concurrency=50, transaction=True)
        up = [cp for cp in stations if cp.ws is not None]
        log(f"  {len(up)} charge points booted with a transaction running in {time.monotonic() - started:.1f} s")
        # Warm-up, not measured: the first frames of each kind pay for imports and caches.
        await asyncio.gather(*(cp.meter_values() for cp in up for _ in range(2)), return_exceptions=True)
        rows_before = dep.query("MeterValue.objects.count()")

        latencies: list[float] = []
        errors: Counter = Counter()
        log(f"  {len(up)} charge points sending meter values back-to-back for {args.duration:g} s ...")
        window = CpuWindow(dep.servers)
        deadline = time.perf_counter() + args.duration

        async def pump(cp: LeanChargePoint) -> None:
            while time.perf_counter() < deadline:
                try:
                    latencies.append(await cp.meter_values())
                except ConnectionError as exc:
                    errors[error_name(exc)] += 1
                    return
                except Exception as exc:  # noqa: BLE001 - counted and reported
                    errors[error_name(exc)] += 1

        await asyncio.gather(*(pump(cp) for cp in up))
        cpu = window.stop()
        rows_after = dep.query("MeterValue.objects.count()")
        return {
            "charge_points_up": len(up),
            "setup_failures": dict(setup_failures),
            "calls_ok": len(latencies),
            "calls_per_s": round(len(latencies) / window.elapsed_s, 1),
            "window_s": round(window.elapsed_s, 2),
            "latency_ms": summary([x * 1000 for x in latencies]),
            "errors": dict(errors),
            "rows_expected": len(latencies) * SAMPLES_PER_METER_VALUE,
            "rows_stored": rows_after - rows_before,
            "cpu_percent": cpu,
            "sockets_closed_by_server": sum(1 for cp in stations if cp.close_code is not None),
        }
    finally:
        await asyncio.gather(*(cp.close() for cp in stations))


def print_throughput(data: dict) -> list[str]:
    c, r = data["config"], data["results"]
    lat = r["latency_ms"]
    errors = ", ".join(f"{k}: {v}" for k, v in r["errors"].items()) or "none"
    return [
        f"throughput — {c['charge_points']} charge points (OCPP {c['ocpp']}), meter values back-to-back for {c['duration_s']:g} s",
        f"  {c['database']}, {c['channel_layer']}",
        f"  charge points up {r['charge_points_up']}   setup failures {r['setup_failures'] or 'none'}",
        f"  CALLs answered {r['calls_ok']} in {r['window_s']} s = {r['calls_per_s']} CALLs/s "
        f"({r['calls_per_s'] * c['sampled_values_per_call']:.0f} sampled values/s)",
        f"  latency ms  p50 {lat['p50']}  p90 {lat['p90']}  p99 {lat['p99']}  max {lat['max']}",
        f"  errors {errors}   sockets closed by the server {r['sockets_closed_by_server']}",
        f"  meter value rows stored {r['rows_stored']} of {r['rows_expected']} acknowledged",
        "  CPU (100% = one core): " + ", ".join(f"{k} {v}%" for k, v in r["cpu_percent"].items()),
    ]


# --- idle ----------------------------------------------------------------------


def idle(args, log) -> dict:
    """N charge points connect, boot and hold; see the module docstring."""
    with deployment(log, security_profile=args.security_profile) as dep:
        server = dep.servers[0]
        stations = fleet(dep, server, args)
        result = asyncio.run(_idle(args, dep, stations, log))
        result["server_log_exceptions"] = server_log_exceptions(server)
        return {
            "scenario": "idle",
            "config": {"charge_points": args.charge_points, "ocpp": args.ocpp, "hold_s": args.duration, **describe(dep)},
            "results": result,
        }


def redis_used_memory(dep: Deployment) -> int | None:
    """Redis's used_memory in bytes, None without Redis."""
    if not dep.redis_url:
        return None
    import redis

    client = redis.Redis.from_url(dep.redis_url, socket_connect_timeout=3, socket_timeout=3)
    try:
        return int(client.info("memory")["used_memory"])
    finally:
        client.close()


async def _idle(args, dep: Deployment, stations: list[LeanChargePoint], log) -> dict:
    server = dep.servers[0]
    try:
        # One charge point first, so the baseline has every code path of a session imported.
        await bring_up(stations[:1], concurrency=1)
        await asyncio.sleep(2)
        rss_before, redis_before = server.rss_bytes(), redis_used_memory(dep)
        started = time.monotonic()
        failures = await bring_up(stations[1:], concurrency=50)
        up = [cp for cp in stations if cp.ws is not None]
        connect_s = time.monotonic() - started
        log(f"  {len(up)} charge points connected and booted in {connect_s:.1f} s; holding for {args.duration:g} s ...")
        for cp in up:
            cp.start_heartbeats()
        # Let the last boots' writes and the first pings settle before measuring idle.
        await asyncio.sleep(5)
        rss_held, redis_held = server.rss_bytes(), redis_used_memory(dep)
        window = CpuWindow(dep.servers)
        calls_before = sum(cp.calls_received for cp in up)
        await asyncio.sleep(args.duration)
        cpu = window.stop()
        rss_end = server.rss_bytes()
        added = len(up) - 1
        return {
            "charge_points_up": len(up),
            "failures": dict(failures),
            "connect_s": round(connect_s, 1),
            "heartbeat_interval_s": up[0].heartbeat_interval_s if up else None,
            "rss_mib": {"before": _mib(rss_before), "held": _mib(rss_held), "end": _mib(rss_end)},
            "rss_kib_per_connection": round((rss_held - rss_before) / 1024 / added, 1) if added > 0 and rss_before else None,
            "redis_kib_per_connection": (
                round((redis_held - redis_before) / 1024 / added, 1) if added > 0 and redis_before is not None else None
            ),
            "idle_cpu_percent": cpu,
            "calls_from_server_while_idle": sum(cp.calls_received for cp in up) - calls_before,
            "sockets_closed_by_server": sum(1 for cp in stations if cp.close_code is not None),
        }
    finally:
        await asyncio.gather(*(cp.close() for cp in stations))


def _mib(value: int | None) -> float | None:
    return None if value is None else round(value / 1024 / 1024, 1)


def print_idle(data: dict) -> list[str]:
    c, r = data["config"], data["results"]
    redis = f"; Redis {r['redis_kib_per_connection']} KiB per connection" if r["redis_kib_per_connection"] is not None else ""
    return [
        f"idle — {c['charge_points']} charge points (OCPP {c['ocpp']}) connected and booted, held {c['hold_s']:g} s",
        f"  {c['database']}, {c['channel_layer']}",
        f"  up {r['charge_points_up']}   failures {r['failures'] or 'none'}   connected 50 at a time in {r['connect_s']} s",
        f"  server RSS MiB: before {r['rss_mib']['before']}, held {r['rss_mib']['held']}, end {r['rss_mib']['end']}"
        f" → {r['rss_kib_per_connection']} KiB per connection{redis}",
        f"  server CPU while idle (100% = one core): {r['idle_cpu_percent'].get('A')}%"
        f"  (heartbeat interval {r['heartbeat_interval_s']} s; client {r['idle_cpu_percent'].get('client')}%)",
        f"  sockets closed by the server {r['sockets_closed_by_server']}",
    ]


# --- bootstorm -----------------------------------------------------------------


def bootstorm(args, log) -> dict:
    """N charge points connect, boot and report status at once; see the module docstring."""
    with deployment(log, security_profile=args.security_profile) as dep:
        server = dep.servers[0]
        stations = fleet(dep, server, args)
        result = asyncio.run(_bootstorm(args, dep, stations, log))
        result["server_log_exceptions"] = server_log_exceptions(server)
        result["boots_stored"] = dep.query("BootNotification.objects.count()")
        return {
            "scenario": "bootstorm",
            "config": {"charge_points": args.charge_points, "ocpp": args.ocpp, "timeout_s": args.timeout, **describe(dep)},
            "results": result,
        }


async def _bootstorm(args, dep: Deployment, stations: list[LeanChargePoint], log) -> dict:
    connected, accepted, reported = [], [], []
    failures: Counter = Counter()
    log(f"  {len(stations)} charge points connect, boot and report status at once ...")
    window = CpuWindow(dep.servers)
    started = time.perf_counter()

    async def one(cp: LeanChargePoint) -> None:
        try:
            await cp.connect(timeout_s=args.timeout)
            connected.append(time.perf_counter() - started)
            await cp.boot(timeout_s=args.timeout)
            accepted.append(time.perf_counter() - started)
            await cp.report_status(timeout_s=args.timeout)
            reported.append(time.perf_counter() - started)
        except Exception as exc:  # noqa: BLE001 - counted and reported
            failures[error_name(exc)] += 1

    try:
        await asyncio.wait_for(asyncio.gather(*(one(cp) for cp in stations)), args.timeout + 30)
        cpu = window.stop()
        all_accepted = len(accepted) == len(stations)
        return {
            "accepted": len(accepted),
            "status_reported": len(reported),
            "failures": dict(failures),
            "all_accepted_s": round(max(accepted), 2) if all_accepted else None,
            "all_reported_s": round(max(reported), 2) if len(reported) == len(stations) else None,
            "connected_ms": summary([x * 1000 for x in connected]),
            "accepted_ms": summary([x * 1000 for x in accepted]),
            "reported_ms": summary([x * 1000 for x in reported]),
            "cpu_percent": cpu,
            "sockets_closed_by_server": sum(1 for cp in stations if cp.close_code is not None),
        }
    finally:
        await asyncio.gather(*(cp.close() for cp in stations))


def print_bootstorm(data: dict) -> list[str]:
    c, r = data["config"], data["results"]

    def row(name, s):
        return f"  {name:<34}" + "".join(f"{'-' if s[k] is None else s[k]:>10}" for k in ("p50", "p90", "p99", "max"))

    return [
        f"bootstorm — {c['charge_points']} charge points (OCPP {c['ocpp']}) connect, boot and report status at once",
        f"  {c['database']}, {c['channel_layer']}",
        f"  accepted {r['accepted']}   status reported {r['status_reported']}   failures {r['failures'] or 'none'}"
        f"   boots stored {r['boots_stored']}",
        f"  time until all accepted {r['all_accepted_s']} s; until all reported their connectors {r['all_reported_s']} s",
        f"  {'ms since the storm began':<34}{'p50':>10}{'p90':>10}{'p99':>10}{'max':>10}",
        row("WebSocket open", r["connected_ms"]),
        row("BootNotification Accepted", r["accepted_ms"]),
        row("all StatusNotifications answered", r["reported_ms"]),
        "  CPU (100% = one core): " + ", ".join(f"{k} {v}%" for k, v in r["cpu_percent"].items()),
    ]
