"""What every benchmark scenario measures the same way: percentiles, CPU, the machine, server logs."""

from __future__ import annotations

import math
import os
import platform
import re
import time
from collections import Counter
from importlib import metadata
from pathlib import Path

from bench.harness import Server


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


def machine_cpu_jiffies() -> tuple[int, int] | None:
    """(busy, total) jiffies of all CPUs since boot from /proc/stat; None off Linux."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


class CpuWindow:
    """CPU used by each server, by this benchmark process and by the whole machine between start and `stop()`.

    window = CpuWindow(dep.servers)
    ...
    window.stop()  # {"A": 43.1, "client": 12.0, "machine": 61.5}: % of one core; machine: % of all CPUs
    """

    def __init__(self, servers: list[Server]):
        self.servers = servers
        self.started = time.perf_counter()
        self._servers = {s.name: s.cpu_seconds() for s in servers}
        self._client = time.process_time()
        self._machine = machine_cpu_jiffies()
        self.elapsed_s = 0.0

    def stop(self) -> dict:
        """Percentages since construction; `elapsed_s` holds the window's length."""
        self.elapsed_s = elapsed = time.perf_counter() - self.started
        cpu = {}
        for server in self.servers:
            before, after = self._servers[server.name], server.cpu_seconds()
            cpu[server.name] = None if before is None or after is None else round(100 * (after - before) / elapsed, 1)
        cpu["client"] = round(100 * (time.process_time() - self._client) / elapsed, 1)
        after = machine_cpu_jiffies()
        if self._machine and after:
            busy, total = after[0] - self._machine[0], after[1] - self._machine[1]
            cpu["machine"] = round(100 * busy / total, 1) if total else None
        return cpu


def machine_info() -> dict:
    """nproc, load, CPU model, memory, OS, Python and the versions of the packages on the path measured."""
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


def error_name(exc: BaseException) -> str:
    """A short, countable name for a failure: "CallFailed: CALLERROR InternalError", "TimeoutError", …"""
    text = str(exc).split(" {")[0][:80]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
