"""The load scenarios of `make bench`: throughput, idle and bootstorm (command: bench/command_roundtrip.py).

Each scenario sets up a deployment of its own (bench/harness.py: one
daphne on loopback, a throwaway database; PostgreSQL and Redis when
DATABASE_URL and REDIS_URL name them, SQLite and the in-memory layer
otherwise, as `make run` deploys it), drives lean charge points
(bench/lean.py) against it, stops by itself and returns its figures as
a JSON-able dict: {"scenario", "config", "results"}. `print_*` turns one into
the table a person reads. Figures are reported, never asserted.

- throughput: N booted charge points each send StartTransaction then
  MeterValues (2 sampled values), again and again, back-to-back (one CALL in
  flight per charge point, as OCPP-J allows) for T seconds: CALLs per second,
  latency p50 / p99, errors, the meter value rows and transactions actually
  stored against those acknowledged, and all of it against the baseline.
- baseline: the same client and load against a bare `ocpp` library server
  (bench/baseline_server.py, a process of its own, nothing stored): what the
  throughput figures are divided by.
- idle: N charge points connect (50 at a time), boot, report their
  connectors and hold, heartbeating at the interval the server gave: server
  RSS per connection, server CPU while idle.
- bootstorm: N charge points connect, boot and report status all at once:
  time until all are accepted, per charge point times, failures.
"""

from __future__ import annotations

import asyncio
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

from bench import clients
from bench.deployment import REPO, Server, charge_point_password, free_port
from bench.harness import Deployment, HarnessError, check_redis, configured_redis_url
from bench.lean import SAMPLES_PER_METER_VALUE, LeanChargePoint
from bench.measure import CpuWindow, error_name, server_log_exceptions, summary

ID_TAG = "BENCH-TAG"
PREFIX = "BENCH-"
# The throughput load of issue 14: a StartTransaction, then a MeterValues of energy register and power.
THROUGHPUT_SAMPLED_VALUES = 2


def charge_point_ids(count: int) -> list[str]:
    """BENCH-0001 … in order."""
    return [f"{PREFIX}{n:04d}" for n in range(1, count + 1)]


def versions(ocpp: str, count: int) -> list[str]:
    """The OCPP version of each of `count` charge points: "1.6", "2.0.1" or "mixed" (alternating, 1.6 first)."""
    if ocpp == "mixed":
        return ["1.6" if n % 2 == 0 else "2.0.1" for n in range(count)]
    return [ocpp] * count


@contextmanager
def deployment(log, *, servers: int = 1, id_tag: bool = False, security_profile: str = "1", workers: int = 1):
    """A fresh deployment with `servers` servers of `workers` daphne processes each at `security_profile` ("none" or "1").

    Yields it. Raises HarnessError (several workers need REDIS_URL).
    """
    redis = configured_redis_url()
    redis_version = check_redis(redis) if redis else None
    with Deployment(redis_url=redis, log=log, security_profile=security_profile) as dep:
        dep.setup()
        if id_tag:
            dep.manage("shell", "-c", f"from transactions.models import IdTag; IdTag.objects.create(id_tag={ID_TAG!r})")
        if servers:  # 0: the scenario starts them itself
            dep.start_servers(servers, workers=workers)
        dep.layer = f"channels_redis, Redis {redis_version}" if redis else "in-memory channel layer"
        yield dep


def describe(dep: Deployment) -> dict:
    """The stack a scenario ran on, for its config."""
    return {
        "database": dep.database + (f" {dep.postgres_version}" if dep.postgres_version else ""),
        "channel_layer": dep.layer,
        "servers": len(dep.servers),
        "workers": dep.servers[0].workers if dep.servers else 1,
        "security_profile": dep.security_profile,
    }


def fleet(dep: Deployment, server, args) -> list[LeanChargePoint]:
    """`args.charge_points` lean charge points of `args.ocpp`, registered and pointed at `server` (not connected).

    At security profile 1 each sends Basic auth with its password.
    Past `clients.PORTS_PER_SOURCE_ADDRESS` they connect from several loopback addresses.
    Raises HarnessError when one client process could not hold its share of the sockets
    (the open-file limit): the message names the --client-processes needed.
    """
    ids = charge_point_ids(args.charge_points)
    try:
        clients.check_capacity(len(ids), getattr(args, "client_processes", 1), resource.getrlimit(resource.RLIMIT_NOFILE)[0])
    except ValueError as exc:
        raise HarnessError(str(exc)) from None
    dep.register_charge_points(ids)
    authenticate = dep.security_profile != "none"
    return [
        LeanChargePoint(
            cp,
            server.ws(f"/ocpp/{cp}"),
            version=v,
            password=charge_point_password(cp) if authenticate else None,
            source_address=clients.source_address(index, len(ids)),
        )
        for index, (cp, v) in enumerate(zip(ids, versions(args.ocpp, len(ids)), strict=True))
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
    """N charge points send StartTransaction then MeterValues back-to-back for T seconds; see the module docstring.

    With `args.baseline` (the default) the bare `ocpp` server (bench/baseline_server.py)
    is driven first by the same client, and the CSMS's figures are reported
    against it (`results["vs_baseline"]`: CSMS ÷ baseline). Raises HarnessError.
    """
    baseline_result = None
    if getattr(args, "baseline", True):
        if args.ocpp == "1.6":
            baseline_result = baseline(args, log)["results"]
        else:
            log("  baseline: OCPP 1.6 only, not run for --ocpp " + args.ocpp)
    log("  CSMS:")
    with deployment(log, id_tag=True, security_profile=args.security_profile, workers=getattr(args, "workers", 1)) as dep:
        server = dep.servers[0]
        stations = fleet(dep, server, args)
        result = asyncio.run(_throughput(args, stations, log, dep=dep, servers=dep.servers))
        result["server_log_exceptions"] = server_log_exceptions(server)
        result["baseline"] = baseline_result
        result["vs_baseline"] = versus(result, baseline_result)
        return {
            "scenario": "throughput",
            "config": {
                "charge_points": args.charge_points,
                "ocpp": args.ocpp,
                "duration_s": args.duration,
                "calls": ["StartTransaction", "MeterValues"],
                "sampled_values_per_meter_value": THROUGHPUT_SAMPLED_VALUES,
                **describe(dep),
            },
            "results": result,
        }


def versus(result: dict, baseline_result: dict | None) -> dict | None:
    """{"calls_per_s", "p50", "p99"}: the CSMS's figure ÷ the baseline's (rounded to 0.01), None without a baseline."""
    if not baseline_result:
        return None

    def ratio(a, b):
        return round(a / b, 2) if a is not None and b else None

    return {
        "calls_per_s": ratio(result["calls_per_s"], baseline_result["calls_per_s"]),
        "p50": ratio(result["latency_ms"]["p50"], baseline_result["latency_ms"]["p50"]),
        "p99": ratio(result["latency_ms"]["p99"], baseline_result["latency_ms"]["p99"]),
    }


def baseline(args, log) -> dict:
    """The throughput load against the bare `ocpp` server (bench/baseline_server.py), OCPP 1.6; nothing stored, nothing to count.

    Raises HarnessError when the server does not start.
    """
    with BaselineServer(log) as server:
        ids = charge_point_ids(args.charge_points)
        # The same client as against the CSMS, Basic auth included (the baseline ignores it).
        authenticate = args.security_profile != "none"
        stations = [
            LeanChargePoint(cp, server.ws(f"/ocpp/{cp}"), version="1.6", password=charge_point_password(cp) if authenticate else None)
            for cp in ids
        ]
        result = asyncio.run(_throughput(args, stations, log, dep=None, servers=[server]))
    return {
        "scenario": "baseline",
        "config": {
            "charge_points": args.charge_points,
            "ocpp": "1.6",
            "duration_s": args.duration,
            "calls": ["StartTransaction", "MeterValues"],
            "sampled_values_per_meter_value": THROUGHPUT_SAMPLED_VALUES,
            "server": f"bench/baseline_server.py: ocpp {metadata.version('ocpp')}, websockets {metadata.version('websockets')}",
        },
        "results": result,
    }


class BaselineServer:
    """`python -m bench.baseline_server` on a free loopback port, as a `Server` (name "baseline") while the block runs."""

    def __init__(self, log):
        self.log = log
        self.tmp = Path(tempfile.mkdtemp(prefix="csms-bench-baseline-"))
        self.server: Server | None = None

    def __enter__(self) -> Server:
        port = free_port()
        log_path = self.tmp / "baseline.log"
        with log_path.open("w") as log_file:
            process = subprocess.Popen(
                [sys.executable, "-m", "bench.baseline_server", "--port", str(port)],
                cwd=REPO,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.server = server = Server("baseline", port, process, log_path)
        deadline = time.monotonic() + 30
        while "listening on" not in server.log_tail():
            if process.poll() is not None or time.monotonic() > deadline:
                self.__exit__()
                raise HarnessError(f"the baseline server did not start:\n{server.log_tail()}")
            time.sleep(0.1)
        self.log(f"  baseline: bare ocpp server pid {process.pid} on {server.http}")
        return server

    def __exit__(self, *exc_info) -> None:
        if self.server is not None and self.server.process.poll() is None:
            self.server.process.terminate()
            try:
                self.server.process.wait(10)
            except subprocess.TimeoutExpired:
                self.server.process.kill()
                self.server.process.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)


async def _throughput(args, stations: list[LeanChargePoint], log, *, dep: Deployment | None, servers: list) -> dict:
    """The closed loop: bring `stations` up, warm up, then each sends StartTransaction, MeterValues, … for `args.duration` s.

    `dep`: the CSMS deployment, whose database is counted before and after
    (None for the baseline, which stores nothing). `servers`: whose CPU is measured.
    """
    try:
        started = time.monotonic()
        setup_failures = await bring_up(stations, concurrency=50)
        up = [cp for cp in stations if cp.ws is not None]
        log(f"  {len(up)} charge points booted in {time.monotonic() - started:.1f} s")

        latencies: list[float] = []
        errors: Counter = Counter()
        counts: Counter = Counter()
        deadline = 0.0

        async def pump(cp: LeanChargePoint, measured: bool) -> None:
            iterations = 0
            while (time.perf_counter() < deadline) if measured else iterations < 2:
                iterations += 1
                try:
                    started_s = await cp.start_transaction(ID_TAG)
                    if measured:
                        latencies.append(started_s)
                        counts[f"starts_{cp.version}"] += 1
                    meter_s = await cp.meter_values(sampled_values=THROUGHPUT_SAMPLED_VALUES)
                    if measured:
                        latencies.append(meter_s)
                        counts[f"meter_values_{cp.version}"] += 1
                except ConnectionError as exc:
                    errors[error_name(exc)] += 1
                    return
                except Exception as exc:  # noqa: BLE001 - counted and reported
                    if measured:
                        errors[error_name(exc)] += 1

        # Warm-up, not measured: the first frames of each kind pay for imports and caches.
        await asyncio.gather(*(pump(cp, measured=False) for cp in up))
        before = _stored(dep)
        log(f"  {len(up)} charge points sending StartTransaction + MeterValues back-to-back for {args.duration:g} s ...")
        window = CpuWindow(servers)
        deadline = time.perf_counter() + args.duration
        await asyncio.gather(*(pump(cp, measured=True) for cp in up))
        cpu = window.stop()
        after = _stored(dep)
        closed_loop_rate = len(latencies) / window.elapsed_s
        half_rate = None
        if dep is not None and getattr(args, "half_rate", True) and closed_loop_rate > 0:
            half_rate = await _paced(up, closed_loop_rate / 2, min(args.duration, 10), log)
        result = {
            "charge_points_up": len(up),
            "setup_failures": dict(setup_failures),
            "calls_ok": len(latencies),
            "calls_per_s": round(len(latencies) / window.elapsed_s, 1),
            "transactions_started": counts["starts_1.6"] + counts["starts_2.0.1"],
            "meter_values_ok": counts["meter_values_1.6"] + counts["meter_values_2.0.1"],
            "window_s": round(window.elapsed_s, 2),
            "latency_ms": summary([x * 1000 for x in latencies]),
            "errors": dict(errors),
            "cpu_percent": cpu,
            "sockets_closed_by_server": sum(1 for cp in stations if cp.close_code is not None),
            "half_rate": half_rate,
        }
        if dep is not None:
            # A 2.0.1 TransactionEvent Started carries a meter value too (the lean client's: 4 sampled values).
            result["rows_expected"] = (
                result["meter_values_ok"] * THROUGHPUT_SAMPLED_VALUES + counts["starts_2.0.1"] * SAMPLES_PER_METER_VALUE
            )
            result["rows_stored"] = after["meter_values"] - before["meter_values"]
            result["transactions_stored"] = after["transactions"] - before["transactions"]
        return result
    finally:
        await asyncio.gather(*(cp.close() for cp in stations))


async def _paced(stations: list[LeanChargePoint], rate: float, duration: float, log) -> dict:
    """The same calls at `rate` CALL/s in all (each charge point on its own schedule) for `duration` s: the latency a server not at its limit gives.

    Returns {"target_calls_per_s", "calls_per_s", "latency_ms": summary}. The
    issue's target: p99 ≤ 25 ms at half the closed loop's rate.
    """
    log(f"  the same load paced at half that rate ({rate:.0f} CALL/s) for {duration:g} s ...")
    latencies: list[float] = []
    period = 2 * len(stations) / rate  # seconds between one charge point's StartTransaction + MeterValues pairs
    started = time.perf_counter()
    deadline = started + duration

    async def paced(index: int, cp: LeanChargePoint) -> None:
        next_at = started + period * index / len(stations)  # spread over one period
        while True:
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
            if time.perf_counter() >= deadline:
                return
            try:
                latencies.append(await cp.start_transaction(ID_TAG))
                latencies.append(await cp.meter_values(sampled_values=THROUGHPUT_SAMPLED_VALUES))
            except Exception:  # noqa: BLE001 - the closed loop counts errors; here only latency matters
                return
            next_at += period

    await asyncio.gather(*(paced(n, cp) for n, cp in enumerate(stations)))
    elapsed = time.perf_counter() - started
    return {
        "target_calls_per_s": round(rate, 1),
        "calls_per_s": round(len(latencies) / elapsed, 1),
        "latency_ms": summary([x * 1000 for x in latencies]),
    }


def _stored(dep: Deployment | None) -> dict:
    if dep is None:
        return {}
    return dep.query('{"meter_values": MeterValue.objects.count(), "transactions": Transaction.objects.count()}')


def _throughput_row(name: str, r: dict, ratio: float | None) -> str:
    lat = r["latency_ms"]
    return f"  {name:<34}{r['calls_per_s']:>10}{_dash(lat['p50']):>10}{_dash(lat['p99']):>10}{_dash(ratio, '×'):>12}"


def _dash(value, suffix: str = "") -> str:
    return "-" if value is None else f"{value}{suffix}"


def print_throughput(data: dict) -> list[str]:
    """The lines of `throughput`'s table: CALL/s, p50/p99 ms and × baseline per server, then counts and CPU."""
    c, r = data["config"], data["results"]
    errors = ", ".join(f"{k}: {v}" for k, v in r["errors"].items()) or "none"
    workers = c.get("workers", 1)
    lines = [
        f"throughput — {c['charge_points']} charge points (OCPP {c['ocpp']}), StartTransaction then MeterValues "
        f"({c['sampled_values_per_meter_value']} sampled values) back-to-back for {c['duration_s']:g} s",
        f"  {c['database']}, {c['channel_layer']}, {workers} server worker{'s' if workers != 1 else ''}",
        f"  {'':<34}{'CALL/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'× baseline':>12}",
    ]
    b, vs = r.get("baseline"), r.get("vs_baseline")
    if b:
        lines.append(_throughput_row("baseline (bare ocpp server)", b, 1.0))
    lines.append(_throughput_row("CSMS", r, vs["calls_per_s"] if vs else None))
    if vs:
        lines.append(f"  latency × baseline: p50 {_dash(vs['p50'], '×')}, p99 {_dash(vs['p99'], '×')}")
    half = r.get("half_rate")
    if half:
        lat = half["latency_ms"]
        lines.append(
            f"  CSMS at half that rate ({half['target_calls_per_s']} CALL/s asked, {half['calls_per_s']} done):"
            f" p50 {_dash(lat['p50'])} ms, p99 {_dash(lat['p99'])} ms"
        )
    lines += [
        f"  charge points up {r['charge_points_up']}   setup failures {r['setup_failures'] or 'none'}",
        f"  CALLs answered {r['calls_ok']} in {r['window_s']} s: {r['transactions_started']} StartTransaction,"
        f" {r['meter_values_ok']} MeterValues",
        f"  errors {errors}   sockets closed by the server {r['sockets_closed_by_server']}",
        f"  stored: meter value rows {r['rows_stored']} of {r['rows_expected']} acknowledged,"
        f" transactions {r['transactions_stored']} of {r['transactions_started']}",
        "  CPU (100% = one core): " + ", ".join(f"{k} {v}%" for k, v in r["cpu_percent"].items()),
    ]
    if b:
        lines.append("  baseline CPU: " + ", ".join(f"{k} {v}%" for k, v in b["cpu_percent"].items()))
    return lines


def print_baseline(data: dict) -> list[str]:
    """The lines of `baseline`'s table (run alone): CALL/s, p50/p99 ms, counts and CPU."""
    c, r = data["config"], data["results"]
    errors = ", ".join(f"{k}: {v}" for k, v in r["errors"].items()) or "none"
    return [
        f"baseline — {c['charge_points']} charge points (OCPP 1.6), StartTransaction then MeterValues "
        f"({c['sampled_values_per_meter_value']} sampled values) back-to-back for {c['duration_s']:g} s",
        f"  {c['server']}, nothing stored",
        f"  {'':<34}{'CALL/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'× baseline':>12}",
        _throughput_row("baseline (bare ocpp server)", r, 1.0),
        f"  charge points up {r['charge_points_up']}   setup failures {r['setup_failures'] or 'none'}   errors {errors}",
        "  CPU (100% = one core): " + ", ".join(f"{k} {v}%" for k, v in r["cpu_percent"].items()),
    ]


# --- idle ----------------------------------------------------------------------


def idle(args, log) -> dict:
    """N charge points connect, boot and hold; see the module docstring."""
    with deployment(log, security_profile=args.security_profile, workers=getattr(args, "workers", 1)) as dep:
        server = dep.servers[0]
        stations = fleet(dep, server, args)
        run = _idle_in_processes if getattr(args, "client_processes", 1) > 1 else _idle
        result = asyncio.run(run(args, dep, stations, log))
        result["server_log_exceptions"] = server_log_exceptions(server)
        return {
            "scenario": "idle",
            "config": {
                "charge_points": args.charge_points,
                "ocpp": args.ocpp,
                "hold_s": args.duration,
                "client_processes": getattr(args, "client_processes", 1),
                **describe(dep),
            },
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


async def _idle_in_processes(args, dep: Deployment, stations: list[LeanChargePoint], log) -> dict:
    """`_idle` with all but the first charge point in `args.client_processes` processes (bench/clients.py); same figures."""
    server, first = dep.servers[0], stations[0]
    loop = asyncio.get_running_loop()
    try:
        await bring_up([first], concurrency=1)
        await asyncio.sleep(2)
        rss_before, redis_before = server.rss_bytes(), redis_used_memory(dep)
        held = clients.IdleProcesses([clients.spec(cp) for cp in stations[1:]], processes=args.client_processes, concurrency=50)
        log(f"  {len(stations) - 1} more charge points connecting from {args.client_processes} client processes ...")
        await loop.run_in_executor(None, held.__enter__)
        try:
            up = held.up["up"] + (1 if first.ws is not None else 0)
            if first.ws is not None:
                first.start_heartbeats()
            log(f"  {up} charge points connected and booted in {held.up['connect_s']:.1f} s; holding for {args.duration:g} s ...")
            await asyncio.sleep(5)
            rss_held, redis_held = server.rss_bytes(), redis_used_memory(dep)
            window = CpuWindow(dep.servers)
            await asyncio.sleep(args.duration)
            cpu = window.stop()
            rss_end = server.rss_bytes()
        finally:
            await loop.run_in_executor(None, held.__exit__, None, None, None)
        # The client processes' CPU from when they were all up (5 s before the window) to the stop.
        cpu["client"] = round(100 * held.done["client_cpu_s"] / (window.elapsed_s + 5), 1)
        added = up - 1
        return {
            "charge_points_up": up,
            "failures": dict(held.up["failures"]),
            "connect_s": round(held.up["connect_s"], 1),
            "heartbeat_interval_s": held.up["heartbeat_interval_s"] or first.heartbeat_interval_s,
            "rss_mib": {"before": _mib(rss_before), "held": _mib(rss_held), "end": _mib(rss_end)},
            "rss_kib_per_connection": round((rss_held - rss_before) / 1024 / added, 1) if added > 0 and rss_before else None,
            "redis_kib_per_connection": (
                round((redis_held - redis_before) / 1024 / added, 1) if added > 0 and redis_before is not None else None
            ),
            "idle_cpu_percent": cpu,
            "calls_from_server_while_idle": held.done["calls_received"],
            "sockets_closed_by_server": held.done["sockets_closed_by_server"] + (1 if first.close_code is not None else 0),
        }
    finally:
        await first.close()


def _mib(value: int | None) -> float | None:
    return None if value is None else round(value / 1024 / 1024, 1)


def _processes(config: dict) -> str:
    """ "2 server workers, 3 client processes" of a scenario's config."""
    workers, clients_ = config.get("workers", 1), config.get("client_processes", 1)
    return f"{workers} server worker{'s' * (workers != 1)}, {clients_} client process{'es' * (clients_ != 1)}"


def print_idle(data: dict) -> list[str]:
    c, r = data["config"], data["results"]
    redis = f"; Redis {r['redis_kib_per_connection']} KiB per connection" if r["redis_kib_per_connection"] is not None else ""
    return [
        f"idle — {c['charge_points']} charge points (OCPP {c['ocpp']}) connected and booted, held {c['hold_s']:g} s",
        f"  {c['database']}, {c['channel_layer']}, {_processes(c)}",
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
    with deployment(log, security_profile=args.security_profile, workers=getattr(args, "workers", 1)) as dep:
        server = dep.servers[0]
        stations = fleet(dep, server, args)
        if getattr(args, "client_processes", 1) > 1:
            result = _bootstorm_in_processes(args, dep, stations, log)
        else:
            result = asyncio.run(_bootstorm(args, dep, stations, log))
        result["server_log_exceptions"] = server_log_exceptions(server)
        result["boots_stored"] = dep.query("BootNotification.objects.count()")
        return {
            "scenario": "bootstorm",
            "config": {
                "charge_points": args.charge_points,
                "ocpp": args.ocpp,
                "timeout_s": args.timeout,
                "client_processes": getattr(args, "client_processes", 1),
                **describe(dep),
            },
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


def _bootstorm_in_processes(args, dep: Deployment, stations: list[LeanChargePoint], log) -> dict:
    """`_bootstorm` from `args.client_processes` processes (bench/clients.py); same figures."""
    log(f"  {len(stations)} charge points connect, boot and report status at once, from {args.client_processes} processes ...")
    specs = [clients.spec(cp) for cp in stations]
    start_at = time.time() + 3 + 0.5 * args.client_processes
    with ThreadPoolExecutor(1) as pool:
        storm = pool.submit(
            clients.bootstorm_in_processes, specs, processes=args.client_processes, timeout_s=args.timeout, start_at=start_at
        )
        time.sleep(max(0.0, start_at - time.time()))
        window = CpuWindow(dep.servers)
        merged = storm.result()
    cpu = window.stop()
    cpu["client"] = round(100 * merged["client_cpu_s"] / window.elapsed_s, 1)
    count = len(stations)
    accepted, reported = merged["accepted"], merged["reported"]
    return {
        "accepted": len(accepted),
        "status_reported": len(reported),
        "failures": dict(merged["failures"]),
        "all_accepted_s": round(max(accepted), 2) if len(accepted) == count else None,
        "all_reported_s": round(max(reported), 2) if len(reported) == count else None,
        "connected_ms": summary([x * 1000 for x in merged["connected"]]),
        "accepted_ms": summary([x * 1000 for x in accepted]),
        "reported_ms": summary([x * 1000 for x in reported]),
        "cpu_percent": cpu,
        "sockets_closed_by_server": merged["sockets_closed_by_server"],
    }


def print_bootstorm(data: dict) -> list[str]:
    c, r = data["config"], data["results"]

    def row(name, s):
        return f"  {name:<34}" + "".join(f"{'-' if s[k] is None else s[k]:>10}" for k in ("p50", "p90", "p99", "max"))

    return [
        f"bootstorm — {c['charge_points']} charge points (OCPP {c['ocpp']}) connect, boot and report status at once",
        f"  {c['database']}, {c['channel_layer']}, {_processes(c)}",
        f"  accepted {r['accepted']}   status reported {r['status_reported']}   failures {r['failures'] or 'none'}"
        f"   boots stored {r['boots_stored']}",
        f"  time until all accepted {r['all_accepted_s']} s; until all reported their connectors {r['all_reported_s']} s",
        f"  {'ms since the storm began':<34}{'p50':>10}{'p90':>10}{'p99':>10}{'max':>10}",
        row("WebSocket open", r["connected_ms"]),
        row("BootNotification Accepted", r["accepted_ms"]),
        row("all StatusNotifications answered", r["reported_ms"]),
        "  CPU (100% = one core): " + ", ".join(f"{k} {v}%" for k, v in r["cpu_percent"].items()),
    ]
