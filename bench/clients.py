"""Lean charge points spread over several client processes, for fleets one process cannot hold.

One process's open-file limit (`ulimit -Hn`: 20,000 on the bench machine)
caps its sockets, and one asyncio loop drives some thousands of handshakes
a second at most. `--client-processes K` splits the fleet round-robin over
K processes (multiprocessing, spawn) that each run the scenario's part on
their own loop and send their raw figures back over a pipe:

    specs = [spec(cp) for cp in stations]
    storm = bootstorm_in_processes(specs, processes=4, timeout_s=120)    # merged lists and counters
    with IdleProcesses(specs, processes=4, concurrency=50) as idle:      # connected, booted, reported
        idle.up                                                          # {"up", "failures", "connect_s", ...}
        ...                                                              # measure the server while they hold
    idle.done                                                            # {"calls_received", "sockets_closed_by_server", ...}

Above `PORTS_PER_SOURCE_ADDRESS` charge points, `source_address` spreads
them over 127.0.0.1, 127.0.0.2, … (Linux answers the whole 127/8 on lo
without set-up): one source address has 28,000 ephemeral ports towards one
server port.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from collections import Counter
from dataclasses import asdict, dataclass

from bench.lean import LeanChargePoint
from bench.measure import error_name

PORTS_PER_SOURCE_ADDRESS = 20000
# File descriptors a client process needs besides its sockets (Python, the pipe, logs).
SPARE_DESCRIPTORS = 200


def source_address(index: int, count: int) -> str | None:
    """The loopback address charge point `index` of `count` connects from: None (the kernel's choice) for small fleets."""
    if count <= PORTS_PER_SOURCE_ADDRESS:
        return None
    return f"127.0.0.{1 + index // PORTS_PER_SOURCE_ADDRESS}"


@dataclass
class StationSpec:
    """What a client process needs to build one LeanChargePoint."""

    id: str
    url: str
    version: str
    password: str | None
    source_address: str | None

    def build(self) -> LeanChargePoint:
        """A new, unconnected LeanChargePoint of this spec."""
        return LeanChargePoint(self.id, self.url, version=self.version, password=self.password, source_address=self.source_address)


def spec(cp: LeanChargePoint) -> StationSpec:
    """The StationSpec of a (not yet connected) lean charge point."""
    return StationSpec(cp.id, cp.url, cp.version, cp.password, cp.source_address)


def check_capacity(count: int, processes: int, open_files: int) -> None:
    """Raise ValueError naming --client-processes when `count` sockets over `processes` exceed `open_files` each."""
    per_process = -(-count // processes)
    if per_process + SPARE_DESCRIPTORS > open_files:
        needed = -(-count // max(1, open_files - SPARE_DESCRIPTORS))
        raise ValueError(
            f"{count} charge points need {per_process} sockets per client process, past the open-file limit of {open_files}:"
            f" use --client-processes {needed} or more"
        )


def _split(specs: list[StationSpec], processes: int) -> list[list[dict]]:
    return [[asdict(s) for s in specs[i::processes]] for i in range(processes) if specs[i::processes]]


def _context():
    # spawn: the parent may hold threads and an event loop, which fork would copy half-alive.
    return multiprocessing.get_context("spawn")


# --- bootstorm --------------------------------------------------------------------


def bootstorm_in_processes(specs: list[StationSpec], *, processes: int, timeout_s: float, start_at: float | None = None) -> dict:
    """Every charge point of `specs` connects, boots and reports status at one instant, from `processes` processes.

    Returns {"connected", "accepted", "reported": seconds since the storm began
    (lists, unordered), "failures": Counter, "sockets_closed_by_server",
    "client_cpu_s"}. Raises RuntimeError when a process fails or does not
    report within `timeout_s` + 60 s. `start_at`: the storm's wall-clock
    start (time.time()), late enough for every process to have started and
    built its stations (default: 3 s + 0.5 s per process from now).
    """
    ctx = _context()
    chunks = _split(specs, processes)
    # Every process starts at the same wall-clock instant, after all have imported and built their stations.
    if start_at is None:
        start_at = time.time() + 3 + 0.5 * len(chunks)
    pipes, children = [], []
    for chunk in chunks:
        parent_end, child_end = ctx.Pipe()
        child = ctx.Process(target=_bootstorm_child, args=(chunk, start_at, timeout_s, child_end), daemon=True)
        child.start()
        pipes.append(parent_end)
        children.append(child)
    merged = {"connected": [], "accepted": [], "reported": [], "failures": Counter(), "sockets_closed_by_server": 0, "client_cpu_s": 0.0}
    try:
        for pipe in pipes:
            if not pipe.poll(start_at - time.time() + timeout_s + 60):
                raise RuntimeError("a client process did not report its part of the boot storm")
            part = pipe.recv()
            for key in ("connected", "accepted", "reported"):
                merged[key] += part[key]
            merged["failures"].update(part["failures"])
            merged["sockets_closed_by_server"] += part["sockets_closed_by_server"]
            merged["client_cpu_s"] += part["cpu_s"]
    finally:
        for child in children:
            child.join(10)
            if child.is_alive():
                child.kill()
    return merged


def _bootstorm_child(chunk: list[dict], start_at: float, timeout_s: float, pipe) -> None:
    _raise_open_file_limit()
    pipe.send(asyncio.run(_bootstorm_part([StationSpec(**s).build() for s in chunk], start_at, timeout_s)))


async def _bootstorm_part(stations: list[LeanChargePoint], start_at: float, timeout_s: float) -> dict:
    connected, accepted, reported = [], [], []
    failures: Counter = Counter()
    await asyncio.sleep(max(0.0, start_at - time.time()))
    cpu_before = time.process_time()

    async def one(cp: LeanChargePoint) -> None:
        try:
            await cp.connect(timeout_s=timeout_s)
            connected.append(time.time() - start_at)
            await cp.boot(timeout_s=timeout_s)
            accepted.append(time.time() - start_at)
            await cp.report_status(timeout_s=timeout_s)
            reported.append(time.time() - start_at)
        except Exception as exc:  # noqa: BLE001 - counted and reported
            failures[error_name(exc)] += 1

    try:
        await asyncio.wait_for(asyncio.gather(*(one(cp) for cp in stations)), timeout_s + 30)
    except TimeoutError:
        failures["TimeoutError (storm)"] += len(stations) - len(reported)
    cpu_s = time.process_time() - cpu_before
    closed = sum(1 for cp in stations if cp.close_code is not None)
    await asyncio.gather(*(cp.close() for cp in stations))
    return {
        "connected": connected,
        "accepted": accepted,
        "reported": reported,
        "failures": dict(failures),
        "sockets_closed_by_server": closed,
        "cpu_s": cpu_s,
    }


# --- idle -------------------------------------------------------------------------


class IdleProcesses:
    """`specs` brought up (connect, boot, report status; `concurrency` at a time in all) and held, heartbeating, in processes.

    Entering returns once every process has brought its part up: `up` holds
    {"up", "failures": Counter, "connect_s", "heartbeat_interval_s"}. Leaving
    the block stops the holding and closes the sockets: `done` then holds
    {"calls_received", "sockets_closed_by_server", "client_cpu_s"} (of the
    hold). Raises RuntimeError when a process fails or does not report
    within `timeout_s`.
    """

    def __init__(self, specs: list[StationSpec], *, processes: int, concurrency: int, timeout_s: float = 900):
        self.chunks = _split(specs, processes)
        self.concurrency = max(1, concurrency // len(self.chunks)) if self.chunks else 1
        self.timeout_s = timeout_s
        self.pipes: list = []
        self.children: list = []
        self.up: dict = {}
        self.done: dict = {}

    def __enter__(self) -> IdleProcesses:
        ctx = _context()
        started = time.monotonic()
        for chunk in self.chunks:
            parent_end, child_end = ctx.Pipe()
            child = ctx.Process(target=_idle_child, args=(chunk, self.concurrency, child_end), daemon=True)
            child.start()
            self.pipes.append(parent_end)
            self.children.append(child)
        self.up = {"up": 0, "failures": Counter(), "heartbeat_interval_s": None}
        try:
            for pipe in self.pipes:
                part = self._recv(pipe)
                self.up["up"] += part["up"]
                self.up["failures"].update(part["failures"])
                self.up["heartbeat_interval_s"] = self.up["heartbeat_interval_s"] or part["heartbeat_interval_s"]
        except BaseException:
            self._stop()
            raise
        self.up["connect_s"] = time.monotonic() - started
        return self

    def _recv(self, pipe) -> dict:
        if not pipe.poll(self.timeout_s):
            raise RuntimeError(f"a client process did not report within {self.timeout_s:g} s")
        return pipe.recv()

    def __exit__(self, *exc_info) -> None:
        self._stop()

    def _stop(self) -> None:
        self.done = {"calls_received": 0, "sockets_closed_by_server": 0, "client_cpu_s": 0.0}
        for pipe in self.pipes:
            try:
                pipe.send("stop")
                part = self._recv(pipe)
            except (OSError, EOFError, RuntimeError):
                continue
            for key in self.done:
                self.done[key] += part[key]
        for child in self.children:
            child.join(30)
            if child.is_alive():
                child.kill()


def _idle_child(chunk: list[dict], concurrency: int, pipe) -> None:
    _raise_open_file_limit()
    asyncio.run(_idle_part([StationSpec(**s).build() for s in chunk], concurrency, pipe))


async def _idle_part(stations: list[LeanChargePoint], concurrency: int, pipe) -> None:
    from bench.scenarios import bring_up

    loop = asyncio.get_running_loop()
    try:
        failures = await bring_up(stations, concurrency=concurrency)
        up = [cp for cp in stations if cp.ws is not None]
        for cp in up:
            cp.start_heartbeats()
        pipe.send({"up": len(up), "failures": dict(failures), "heartbeat_interval_s": up[0].heartbeat_interval_s if up else None})
        cpu_before, calls_before = time.process_time(), sum(cp.calls_received for cp in up)
        # Wait for "stop" off the loop: the loop keeps answering the server's pings and CALLs meanwhile.
        await loop.run_in_executor(None, pipe.recv)
        pipe.send(
            {
                "calls_received": sum(cp.calls_received for cp in up) - calls_before,
                "sockets_closed_by_server": sum(1 for cp in stations if cp.close_code is not None),
                "client_cpu_s": time.process_time() - cpu_before,
            }
        )
    finally:
        await asyncio.gather(*(cp.close() for cp in stations))


def _raise_open_file_limit() -> None:
    from bench.harness import raise_open_file_limit

    raise_open_file_limit()
