"""The `dashboard` scenario of `make bench`: the operators' page at `/` over a large fleet, as an operator sees it.

A throwaway deployment (bench/harness.py) as `make run` deploys it: one
daphne on SQLite and the in-memory layer; with REDIS_URL (and DATABASE_URL
naming PostgreSQL) two daphne processes sharing Redis, A holding the charge
point sockets and B serving the page and its WebSocket, so every push crosses
the channel layer from A to B.

--registered charge points (default ten times --charge-points: 10,000) are
registered in one bulk insert with their connectors' last statuses (about 3%
Faulted, 2% Unavailable, some charging, the rest Available; a tenth of them
OCPP 2.0.1), then --charge-points of them (default 1,000, spread evenly over
the identities) connect with the lean client (bench/lean.py, Basic auth at
security profile 1), boot and report their connectors Available. Measured:

1. page: `GET /` as a signed-in staff user (a session cookie made with the
   deployment's manage.py), --requests times each for the plain page, filters
   (faulted, online), page 2, the status sort and a search: latency
   observed by the client on loopback (request written → body read), which is
   the server's time plus a loopback round trip;
2. first paint: --page-loads loads of `/` in headless Debian Chromium
   (selenium, the flags of tests/browser/conftest.py) after one warm-up load:
   first paint and first contentful paint (`performance.getEntriesByType
   ('paint')`), navigation timing (response start / end, DOMContentLoaded,
   load) and when the page's socket opened (its "live" badge, polled every
   10 ms), in milliseconds from navigation start. Each load opens `/` from
   another page (/health), a second after leaving the last dashboard, as an
   operator opens it from the admin. Not measured (said so) when
   Chromium, chromedriver or selenium is missing;
3. status change: a WebSocket to `ws/dashboard/` with that session's cookie
   and a matching Origin watches charge points spread over the connected
   ones; --changes times, one of them sends StatusNotification (connector 1
   Faulted, or back to Available) and the time from the frame sent until the
   socket carries that charge point's row with the new status is taken.
   Changes are spaced randomly (0.1 to 1 s after the last one showed) so some
   land inside the consumer's coalescing interval, as on a busy fleet;
4. burst: the socket watches the first 50 connected charge points (a page);
   all connected charge points send a StatusNotification (connector 2
   Faulted) at once: when each watched row showed it (from the burst's
   start), the messages the page got, the StatusNotification answers'
   latency, CPU.

Reported, printed and written as JSON, never asserted.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import random
import re
import time
from collections import Counter

import websockets

from bench import chromium
from bench.deployment import charge_point_password
from bench.harness import Deployment, HarnessError, Server
from bench.lean import LeanChargePoint
from bench.measure import CpuWindow, error_name, percentile, server_log_exceptions, summary
from bench.scenarios import bring_up, deployment, describe

PREFIX = "BENCH-"
# The page's requests: (name, path). Filters as the filter bar puts them in the URL.
PAGES = [
    ("/", "/"),
    ("/?state=faulted", "/?state=faulted"),
    ("/?state=online", "/?state=online"),
    ("/?page=2", "/?page=2"),
    ("/?sort=status", "/?sort=status"),
    ("/?q=BENCH-00", "/?q=BENCH-00"),
]
PAGE_ROWS = 50  # views.PAGE_SIZE: what one page watches
BADGE = re.compile(r'<span class="badge-label">([^<]+)</span> ([A-Za-z]+)')
# chargepoints.dashboard.consumers.MIN_SEND_INTERVAL_S (not imported: the bench runs without Django).
MIN_SEND_INTERVAL_S = 0.5
WAIT_S = 15.0  # how long a change may take to show before it counts as lost

# The registered fleet's last statuses: (upper bound of a uniform draw, status, error code).
STATUS_MIX = [
    (0.03, "Faulted", "GroundFailure"),
    (0.05, "Unavailable", "NoError"),
    (0.15, "Charging", "NoError"),
    (0.17, "Preparing", "NoError"),
    (1.00, "Available", "NoError"),
]

REGISTER_SCRIPT = """
import json, random, sys
from datetime import timedelta
from django.db import transaction
from django.utils import timezone
from chargepoints import services
from chargepoints.models import ChargePoint, Connector

data = json.loads(sys.stdin.read())
rng = random.Random(13)
now = timezone.now()
mix = data["mix"]

def status():
    r = rng.random()
    for bound, status, error in mix:
        if r < bound:
            return status, error
    return "Available", "NoError"

connected = set(data["connected"])
charge_points, connectors = [], []
for n, cp in enumerate(data["ids"]):
    # A tenth of the offline fleet is 2.0.1 (EVSE labels); the connected ones are the bench's 1.6 charge points.
    v201 = n % 10 == 9 and cp not in connected
    seen = now - timedelta(minutes=rng.uniform(10, 60 * 24 * 30))
    charge_points.append(ChargePoint(
        pk=cp, ocpp_version="2.0.1" if v201 else "1.6", vendor=rng.choice(["Alfen", "ABB", "Wallbox", "Kempower"]),
        model=f"M{n % 7}", serial_number=f"SN{n:08d}", last_seen=seen, last_boot_at=seen,
    ))
    places = [(0, 0), (1, 1), (2, 1)] if v201 else [(0, 0), (0, 1), (0, 2)]
    for evse_id, connector_id in places:
        s, e = ("Available", "NoError") if (evse_id, connector_id) == (0, 0) and rng.random() > 0.01 else status()
        connectors.append(Connector(charge_point_id=cp, evse_id=evse_id, connector_id=connector_id, status=s,
                                    error_code=e, status_timestamp=seen, updated_at=seen))
with transaction.atomic():
    ChargePoint.objects.bulk_create(charge_points, batch_size=1000)
    Connector.objects.bulk_create(connectors, batch_size=1000)
    for cp, password in data["passwords"].items():
        services.charge_point_password_set(charge_point_id=cp, password=password)
print(json.dumps({"charge_points": ChargePoint.objects.count(), "connectors": Connector.objects.count()}))
"""

SESSION_SCRIPT = """
import json
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client
client = Client()
client.force_login(get_user_model().objects.get(username="bench"), backend="django.contrib.auth.backends.ModelBackend")
print(json.dumps([settings.SESSION_COOKIE_NAME, client.cookies[settings.SESSION_COOKIE_NAME].value]))
"""


def registered_ids(count: int) -> list[str]:
    """BENCH-00001 … in order (five digits: up to 99,999 sort by number)."""
    return [f"{PREFIX}{n:05d}" for n in range(1, count + 1)]


def connected_ids(ids: list[str], count: int) -> list[str]:
    """`count` of `ids` spread evenly over them (every n-th), so pages and filters mix online and offline rows."""
    step = max(1, len(ids) // count)
    return ids[::step][:count]


def row_statuses(html: str) -> dict[str, str]:
    """{badge label: status} of one rendered row ("Connector 1": "Faulted"); "(stale)" is dropped with the word after."""
    return dict(BADGE.findall(html))


def ms_summary(values_s: list[float]) -> dict:
    """`measure.summary` of `values_s` (seconds) in milliseconds, with "p95" too (the issue's figure)."""
    values_ms = [v * 1000 for v in values_s]
    p95 = percentile(sorted(values_ms), 95)
    return {**summary(values_ms), "p95": None if p95 is None else round(p95, 1)}


# --- 1. the page's server time ---------------------------------------------------------------------------------------


def page_latencies(server: Server, cookie: str, requests: int) -> dict:
    """{name: {"status": last HTTP status, "bytes": body size, "ms": summary}} for each of PAGES, `requests` each after one warm-up."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    results = {}
    try:
        for name, path in PAGES:
            times, status, size = [], None, 0
            for i in range(requests + 1):
                started = time.perf_counter()
                connection.request("GET", path, headers={"Cookie": cookie, "Host": f"127.0.0.1:{server.port}"})
                response = connection.getresponse()
                body = response.read()
                elapsed = time.perf_counter() - started
                status, size = response.status, len(body)
                if i:  # the first of each pays for template and query compilation
                    times.append(elapsed)
            results[name] = {"status": status, "bytes": size, "ms": ms_summary(times)}
    finally:
        connection.close()
    return results


# --- 2. first paint in Chromium ----------------------------------------------------------------------------------------

PAINT_SCRIPT = """
const done = arguments[arguments.length - 1];
const started = performance.now();
let live = null;
(function poll() {
  const paints = Object.fromEntries(performance.getEntriesByType('paint').map(e => [e.name, e.startTime]));
  const state = document.getElementById('live-state');
  if (live === null && state && state.dataset.state === 'live') live = performance.now();
  if ((!('first-contentful-paint' in paints) || live === null) && performance.now() - started < 5000) { setTimeout(poll, 10); return; }
  const n = performance.getEntriesByType('navigation')[0];
  done({
    socket_open: live,
    first_paint: paints['first-paint'] ?? null,
    first_contentful_paint: paints['first-contentful-paint'] ?? null,
    response_start: n.responseStart, response_end: n.responseEnd,
    dom_content_loaded: n.domContentLoadedEventEnd, load: n.loadEventEnd,
    rows: document.querySelectorAll('#fleet-rows tr[data-charge-point]').length,
  });
})();
"""
PAINT_FIELDS = ("response_start", "response_end", "first_paint", "first_contentful_paint", "dom_content_loaded", "load", "socket_open")
# Before each load: the last page's socket closed and its server work done, as between an operator's visits.
PAUSE_BETWEEN_LOADS_S = 1.0


def first_paint(server: Server, tmp, cookie_name: str, cookie_value: str, loads: int) -> dict:
    """Load `/` in headless Chromium `loads` times after a warm-up: {"loads": [...], "ms": {field: summary}, "cold": {...}}."""
    driver = chromium.launch(profile=tmp / "chromium-profile", page_load_timeout=60)
    try:
        driver.set_script_timeout(15)
        driver.get(f"{server.http}/health")
        driver.add_cookie({"name": cookie_name, "value": cookie_value, "path": "/"})
        samples = []
        for _ in range(loads + 1):
            # Opened from another page (as from the admin or a bookmark): reloading the dashboard itself
            # costs Chromium about 100 ms more before the request goes out, the server's time unchanged.
            driver.get(f"{server.http}/health")
            time.sleep(PAUSE_BETWEEN_LOADS_S)
            driver.get(f"{server.http}/")
            samples.append(driver.execute_async_script(PAINT_SCRIPT))
        samples = [{k: round(v, 1) if isinstance(v, float) else v for k, v in s.items()} for s in samples]
        cold, warm = samples[0], samples[1:]
        return {
            "cold": cold,
            "loads": warm,
            "ms": {f: ms_summary([s[f] / 1000 for s in warm if s.get(f) is not None]) for f in PAINT_FIELDS},
            "rows_shown": warm[-1]["rows"] if warm else None,
        }
    finally:
        driver.quit()


# --- 3 and 4. the page's WebSocket -------------------------------------------------------------------------------------


class DashboardSocket:
    """A dashboard page's WebSocket: what it watches, every message it got, and the latest status it saw of each row."""

    def __init__(self, server: Server, cookie: str):
        self.server = server
        self.cookie = cookie
        self.ws = None
        self.messages: list[float] = []  # perf_counter of each message
        self.rows: dict[str, tuple[float, dict[str, str]]] = {}  # id → (perf_counter received, {label: status})
        self.changed = asyncio.Condition()
        self._reader: asyncio.Task | None = None

    async def open(self) -> None:
        self.ws = await websockets.connect(
            self.server.ws("/ws/dashboard/"),
            additional_headers={"Cookie": self.cookie, "Origin": self.server.http},
            open_timeout=30,
            max_size=None,
        )
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for raw in self.ws:
            now = time.perf_counter()
            update = json.loads(raw)
            self.messages.append(now)
            for charge_point_id, html in update.get("rows", ()):
                self.rows[charge_point_id] = (now, row_statuses(html))
            async with self.changed:
                self.changed.notify_all()

    async def watch(self, ids: list[str]) -> None:
        """Send {"watch": ids} and wait for the update it is answered with."""
        before = len(self.messages)
        await self.ws.send(json.dumps({"watch": ids}))
        await self.wait(lambda: len(self.messages) > before)

    async def wait(self, predicate, timeout_s: float = WAIT_S) -> bool:
        """Wait until `predicate()` holds after a message; False after `timeout_s`."""
        async with self.changed:
            try:
                await asyncio.wait_for(self.changed.wait_for(predicate), timeout_s)
                return True
            except TimeoutError:
                return False

    def shows(self, charge_point_id: str, label: str, status: str, since: float) -> float | None:
        """When a message received after `since` showed `label` of `charge_point_id` in `status`, else None."""
        seen = self.rows.get(charge_point_id)
        if seen and seen[0] >= since and seen[1].get(label) == status:
            return seen[0]
        return None

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
        if self.ws is not None:
            await self.ws.close()


async def status_notification(cp: LeanChargePoint, connector: int, status: str) -> float:
    """StatusNotification (1.6) of `connector`; returns its answer's latency in seconds."""
    error = "GroundFailure" if status == "Faulted" else "NoError"
    _, latency = await cp.call("StatusNotification", {"connectorId": connector, "errorCode": error, "status": status})
    return latency


async def answered_at(cp: LeanChargePoint, connector: int, status: str) -> tuple[float, float]:
    """`status_notification`, returning (latency s, perf_counter when answered)."""
    latency = await status_notification(cp, connector, status)
    return latency, time.perf_counter()


async def status_changes(socket: DashboardSocket, up: list[LeanChargePoint], changes: int, log) -> dict:
    """--changes single status changes spread over `up`, one at a time: latency until the page's socket shows each."""
    targets = connected_ids([cp.id for cp in up], min(changes, PAGE_ROWS, len(up)))
    by_id = {cp.id: cp for cp in up}
    await socket.watch(targets)
    current = {cp_id: "Available" for cp_id in targets}
    latencies, lost = [], 0
    # Changes sent at least MIN_SEND_INTERVAL_S after the page's last message: none waited for the consumer's coalescing.
    unthrottled = []
    rng = random.Random(7)
    log(f"  {changes} status changes over {len(targets)} watched charge points, one at a time ...")
    for i in range(changes):
        cp_id = targets[i % len(targets)]
        status = "Faulted" if current[cp_id] == "Available" else "Available"
        current[cp_id] = status
        sent = time.perf_counter()
        quiet = not socket.messages or sent - socket.messages[-1] >= MIN_SEND_INTERVAL_S
        await status_notification(by_id[cp_id], 1, status)
        if await socket.wait(lambda cp_id=cp_id, status=status, sent=sent: socket.shows(cp_id, "Connector 1", status, sent) is not None):
            latencies.append(socket.shows(cp_id, "Connector 1", status, sent) - sent)
            if quiet:
                unthrottled.append(latencies[-1])
        else:
            lost += 1
        await asyncio.sleep(rng.uniform(0.1, 1.0))
    return {
        "watched": len(targets),
        "changes": changes,
        "shown": len(latencies),
        "lost": lost,
        "latency_ms": ms_summary(latencies),
        "latency_outside_coalescing_ms": ms_summary(unthrottled),
    }


async def burst(dep: Deployment, socket: DashboardSocket, up: list[LeanChargePoint], log) -> dict:
    """Every connected charge point reports connector 2 Faulted at once while the page watches the first PAGE_ROWS of them."""
    watched = [cp.id for cp in up[:PAGE_ROWS]]
    await socket.watch(watched)
    # Let the answer to the watch pass its coalescing interval, so the burst starts from a quiet page.
    await asyncio.sleep(1.0)
    log(f"  burst: {len(up)} charge points report a status change at once; the page watches {len(watched)} ...")
    messages_before = len(socket.messages)
    window = CpuWindow(dep.servers)
    started = time.perf_counter()
    results = await asyncio.gather(*(answered_at(cp, 2, "Faulted") for cp in up), return_exceptions=True)
    answered_s = time.perf_counter() - started
    errors = Counter(error_name(r) for r in results if isinstance(r, BaseException))
    answered = {cp.id: r[1] for cp, r in zip(up, results, strict=True) if not isinstance(r, BaseException)}
    await socket.wait(lambda: all(socket.shows(i, "Connector 2", "Faulted", started) for i in watched), timeout_s=WAIT_S)
    shown = [socket.shows(i, "Connector 2", "Faulted", started) for i in watched]
    # Shown after the server answered that charge point: the push alone, without the queue of the burst's frames.
    after_answer = [t - answered[i] for i, t in zip(watched, shown, strict=True) if t and i in answered]
    all_shown_s = max(shown) - started if all(shown) else None
    # Whatever else the burst still pushes (coalesced updates, counts) arrives within a couple of intervals.
    await asyncio.sleep(2.0)
    cpu = window.stop()
    got = socket.messages[messages_before:]
    return {
        "charge_points": len(up),
        "watched": len(watched),
        "answers_ms": ms_summary([r[0] for r in results if not isinstance(r, BaseException)]),
        "errors": dict(errors),
        "all_answered_s": round(answered_s, 2),
        "rows_shown": sum(1 for s in shown if s),
        "row_shown_ms": ms_summary([s - started for s in shown if s]),
        "row_shown_after_answer_ms": ms_summary(after_answer),
        "all_rows_shown_s": None if all_shown_s is None else round(all_shown_s, 2),
        "messages": len(got),
        "messages_span_s": round(got[-1] - got[0], 2) if len(got) > 1 else 0.0,
        "cpu_percent": cpu,
    }


# --- the scenario ------------------------------------------------------------------------------------------------------


def run(args, log) -> dict:
    """The scenario; returns {"scenario", "config", "results"}. Raises HarnessError when set-up fails."""
    if args.ocpp != "1.6":
        raise HarnessError("the dashboard scenario runs OCPP 1.6 charge points only (--ocpp 1.6)")
    registered = args.registered or 10 * args.charge_points
    if registered < args.charge_points:
        raise HarnessError(f"--registered ({registered}) below --charge-points ({args.charge_points})")
    with deployment(log, servers=0, security_profile=args.security_profile) as dep:
        # WhiteNoise serves what is collected when a server starts (as `make run` does it).
        dep.manage("collectstatic", "--noinput", "-v0")
        dep.start_servers(2 if dep.redis_url else 1)
        sockets, page = dep.servers[0], dep.servers[-1]

        ids = registered_ids(registered)
        connected = connected_ids(ids, args.charge_points)
        authenticate = dep.security_profile != "none"
        started = time.monotonic()
        passwords = {i: charge_point_password(i) for i in connected} if authenticate else {}
        stored = json.loads(
            dep.manage(
                "shell",
                "-c",
                REGISTER_SCRIPT,
                stdin=json.dumps({"ids": ids, "connected": connected, "passwords": passwords, "mix": STATUS_MIX}),
                timeout=600,
            )
            .strip()
            .splitlines()[-1]
        )
        log(
            f"  {stored['charge_points']} charge points and {stored['connectors']} connectors registered in {time.monotonic() - started:.1f} s"
        )
        cookie_name, cookie_value = json.loads(dep.manage("shell", "-c", SESSION_SCRIPT).strip().splitlines()[-1])
        stations = [
            LeanChargePoint(cp, sockets.ws(f"/ocpp/{cp}"), password=charge_point_password(cp) if authenticate else None) for cp in connected
        ]
        raw = asyncio.run(_run(args, dep, page, stations, f"{cookie_name}={cookie_value}", (cookie_name, cookie_value), log))
        raw["server_log_exceptions"] = {s.name: server_log_exceptions(s) for s in dep.servers}
        return {
            "scenario": "dashboard",
            "config": {
                "registered": registered,
                "charge_points": args.charge_points,
                "requests": args.requests,
                "page_loads": args.page_loads,
                "changes": args.changes,
                "sockets_on": sockets.name,
                "page_on": page.name,
                **describe(dep),
            },
            "results": raw,
        }


async def _run(args, dep: Deployment, page: Server, stations: list[LeanChargePoint], cookie: str, cookie_pair, log) -> dict:
    socket = DashboardSocket(page, cookie)
    try:
        started = time.monotonic()
        setup_failures = await bring_up(stations, concurrency=50)
        up = [cp for cp in stations if cp.ws is not None]
        log(f"  {len(up)} charge points connected, booted and reported status in {time.monotonic() - started:.1f} s")
        counts = await asyncio.to_thread(dep.query, "__import__('chargepoints.selectors', fromlist=['selectors']).dashboard_counts()")

        log(f"  GET / and its filters, {args.requests} times each, on {page.name} ...")
        pages = await asyncio.to_thread(page_latencies, page, cookie, args.requests)

        missing = chromium.missing()
        if missing:
            log(f"  first paint not measured: {missing}")
            paint = {"not_measured": missing}
        else:
            log(f"  first paint: {args.page_loads} loads of / in headless Chromium ...")
            paint = await asyncio.to_thread(first_paint, page, dep.tmp, *cookie_pair, args.page_loads)

        await socket.open()
        changes = await status_changes(socket, up, args.changes, log)
        burst_result = await burst(dep, socket, up, log)
        return {
            "charge_points_up": len(up),
            "setup_failures": dict(setup_failures),
            "counts": counts,
            "pages": pages,
            "first_paint": paint,
            "status_change": changes,
            "burst": burst_result,
            "sockets_closed_by_server": sum(1 for cp in stations if cp.close_code is not None),
        }
    finally:
        await socket.close()
        await asyncio.gather(*(cp.close() for cp in stations))


def print_lines(data: dict) -> list[str]:
    """The human-readable table of `data` (the shape `run` returns)."""
    c, r = data["config"], data["results"]

    def row(name, s):
        return f"  {name:<38}" + "".join(f"{'-' if s[k] is None else s[k]:>9}" for k in ("p50", "p95", "p99", "max")) + f"{s['count']:>7}"

    where = (
        f"charge points on {c['sockets_on']}, page on {c['page_on']}" if c["sockets_on"] != c["page_on"] else f"all on {c['sockets_on']}"
    )
    counts = r["counts"]
    lines = [
        f"dashboard — {c['registered']} charge points registered, {c['charge_points']} connected",
        f"  {c['database']}, {c['channel_layer']}; {where}",
        f"  charge points up {r['charge_points_up']}   setup failures {r['setup_failures'] or 'none'}   counts: "
        + ", ".join(f"{k} {counts[k]}" for k in ("online", "offline", "charging", "faulted", "unavailable")),
        f"  {'milliseconds':<38}{'p50':>9}{'p95':>9}{'p99':>9}{'max':>9}{'n':>7}",
    ]
    for name, p in r["pages"].items():
        lines.append(row(f"GET {name} ({p['status']}, {p['bytes'] // 1024} KiB)", p["ms"]))
    paint = r["first_paint"]
    if "not_measured" in paint:
        lines.append(f"  first paint not measured: {paint['not_measured']}")
    else:
        for field in PAINT_FIELDS:
            lines.append(row(f"Chromium {field.replace('_', ' ')}", paint["ms"][field]))
        cold = paint["cold"]
        lines.append(
            f"  first load (cold cache): first contentful paint {cold['first_contentful_paint']} ms, load {cold['load']} ms; "
            f"{paint['rows_shown']} rows shown"
        )
    s = r["status_change"]
    lines.append(row("status change → page's socket", s["latency_ms"]))
    lines.append(row(f"  … {MIN_SEND_INTERVAL_S:g} s after the page's last update", s["latency_outside_coalescing_ms"]))
    lines.append(f"    {s['shown']} of {s['changes']} changes shown, {s['lost']} not within {WAIT_S:g} s, over {s['watched']} watched rows")
    b = r["burst"]
    lines += [
        row(f"burst: {b['watched']} watched rows shown", b["row_shown_ms"]),
        row("  … after their own answer", b["row_shown_after_answer_ms"]),
        row("burst: StatusNotification answers", b["answers_ms"]),
        f"    {b['charge_points']} changes at once: answered in {b['all_answered_s']} s, errors {b['errors'] or 'none'}; "
        f"{b['rows_shown']} of {b['watched']} watched rows shown, all after {b['all_rows_shown_s']} s; "
        f"the page got {b['messages']} messages over {b['messages_span_s']} s",
        "    CPU during the burst (100% = one core): " + ", ".join(f"{k} {v}%" for k, v in b["cpu_percent"].items()),
        f"  sockets closed by the server {r['sockets_closed_by_server']}",
    ]
    for name, exceptions in r["server_log_exceptions"].items():
        for line, count in exceptions.items():
            lines.append(f"  {name} log: {count}× {line}")
    return lines
