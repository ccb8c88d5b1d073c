"""Running a fleet of simulated charge points: options, the asyncio `Simulation`, and a thread to host one.

    options = SimulationOptions.build(count=10, ocpp="mixed", url="ws://127.0.0.1:8000/ocpp/", seed=1)
    await Simulation(options).run(duration_s=60)

or, from synchronous code (tests, benchmarks):

    with BackgroundSimulation(options) as sim:
        ...  # sim.simulation.stations["SIM-0001"].snapshot()

Each charge point is a `station.Station` with its own seeded random
generators (derived from the seed and its id), so a run with the same seed
makes the same choices — vehicles, pauses, session lengths, faults, backoff
jitter — although asyncio scheduling still decides what interleaves.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import random
import threading
import time
from dataclasses import dataclass, field, replace

from .faults import FaultRates
from .station import Event, Station, StationSettings

logger = logging.getLogger("simulator")

DEFAULT_URL = "ws://127.0.0.1:8000/ocpp/"
VERSIONS = ("1.6", "2.0.1")


def station_ids(count: int, prefix: str = "SIM-", width: int = 4) -> list[str]:
    """`count` ids like SIM-0001 (numbers from 1, zero-padded to `width` digits)."""
    return [f"{prefix}{n:0{width}d}" for n in range(1, count + 1)]


def versions_for(spec: str, count: int) -> list[str]:
    """OCPP versions for `count` charge points from "1.6", "2.0.1", "mixed" (1.6, 2.0.1, 1.6 …) or "1.6,2.0.1,…".

    Raises ValueError for an unknown version or a list of the wrong length.
    """
    spec = spec.strip()
    if spec == "mixed":
        return [VERSIONS[i % 2] for i in range(count)]
    versions = [v.strip() for v in spec.split(",") if v.strip()]
    unknown = [v for v in versions if v not in VERSIONS]
    if unknown or not versions:
        raise ValueError(f"unknown OCPP version {', '.join(unknown) or spec!r}: use 1.6, 2.0.1, mixed or a list")
    if len(versions) == 1:
        return versions * count
    if len(versions) != count:
        raise ValueError(f"{len(versions)} versions given for {count} charge points")
    return versions


@dataclass
class SimulationOptions:
    """Everything `simulate` can be told. Durations in seconds; `faults` holds the per-message rates.

    `ids` and `versions` are parallel lists (one OCPP version per charge
    point). `session_s` / `pause_s` are (min, max). `step_s` is how long each
    step of a reboot, firmware update or log upload takes. `ramp_up_s`
    spreads the first connections over that many seconds. `record` keeps
    every station's CALLs in its `script` (tests).

    Credentials: `password` for every station, or per station in
    `passwords` (id → password, wins); none: no Authorization header.
    `ca_file`, `client_cert`, `client_key` as in `StationSettings`.
    """

    ids: list
    versions: list
    url: str = DEFAULT_URL
    connectors: int = 2
    id_tags: tuple = ("DEMO-TAG-1",)
    seed: int = 0
    sample_interval_s: float = 60.0
    sessions: bool = True
    session_s: tuple = (300.0, 1800.0)
    pause_s: tuple = (30.0, 300.0)
    faults: FaultRates = field(default_factory=FaultRates)
    response_timeout_s: float = 30.0
    backoff_base_s: float = 1.0
    backoff_cap_s: float = 60.0
    step_s: float = 1.0
    ramp_up_s: float = 0.0
    grace_s: float = 5.0
    record: bool = False
    password: str | None = None
    passwords: dict = field(default_factory=dict)
    ca_file: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    rotation_reconnect_s: float = 1.0

    @classmethod
    def build(
        cls,
        *,
        count: int = 1,
        id_prefix: str = "SIM-",
        id_width: int = 4,
        ids: list | None = None,
        ocpp: str = "1.6",
        seed: int | None = None,
        **kwargs,
    ) -> SimulationOptions:
        """Options from `simulate`'s arguments: `ids` wins over count/prefix; `ocpp` as in `versions_for`."""
        ids = list(ids) if ids else station_ids(count, id_prefix, id_width)
        if len(set(ids)) != len(ids):
            raise ValueError("charge point ids must be unique")
        return cls(
            ids=ids,
            versions=versions_for(ocpp, len(ids)),
            seed=seed if seed is not None else random.SystemRandom().randrange(1, 1_000_000),
            **kwargs,
        )

    def settings_for(self, index: int) -> StationSettings:
        return StationSettings(
            station_id=self.ids[index],
            version=self.versions[index],
            connectors=self.connectors,
            id_tags=tuple(self.id_tags),
            sample_interval_s=self.sample_interval_s,
            sessions=self.sessions,
            session_s=tuple(self.session_s),
            pause_s=tuple(self.pause_s),
            response_timeout_s=self.response_timeout_s,
            backoff_base_s=self.backoff_base_s,
            backoff_cap_s=self.backoff_cap_s,
            step_s=self.step_s,
            faults=self.faults,
            record=self.record,
            password=self.passwords.get(self.ids[index], self.password),
            ca_file=self.ca_file,
            client_cert=self.client_cert,
            client_key=self.client_key,
            rotation_reconnect_s=self.rotation_reconnect_s,
        )


def read_passwords(lines) -> dict[str, str]:
    """Passwords by charge point id from lines "identity password" (blank lines and "#" comments skipped).

    Raises ValueError naming the line that is not two words.
    """
    passwords = {}
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        words = line.split()
        if len(words) != 2:
            raise ValueError(f"line {number}: expected 'identity password', got {len(words)} word(s)")
        passwords[words[0]] = words[1]
    return passwords


class Simulation:
    """A fleet of `Station`s sharing one central system URL (`url` may change while running)."""

    def __init__(self, options: SimulationOptions, *, events=None):
        self.options = options
        self.url = options.url
        self.events = events
        self.stations: dict[str, Station] = {
            options.ids[i]: Station(options.settings_for(i), url=self._current_url, seed=options.seed, events=events)
            for i in range(len(options.ids))
        }
        self.started_at: float | None = None
        self._stop: asyncio.Event | None = None
        self._stop_requested = False
        self.running = threading.Event()

    def _current_url(self) -> str:
        return self.url

    async def run(self, duration_s: float | None = None) -> None:
        """Run every station until `stop()` or for `duration_s` seconds, then shut down gracefully."""
        self._stop = asyncio.Event()
        if self._stop_requested:
            self._stop.set()
        self.started_at = time.monotonic()
        tasks: list[asyncio.Task] = []
        self.running.set()
        try:
            spacing = self.options.ramp_up_s / max(1, len(self.stations))
            for station in self.stations.values():
                tasks.append(asyncio.create_task(self._run_station(station), name=f"station-{station.id}"))
                if spacing and not self._stop.is_set():
                    try:
                        await asyncio.wait_for(self._stop.wait(), spacing)
                    except TimeoutError:
                        pass
            left = None if duration_s is None else max(0.0, duration_s - (time.monotonic() - self.started_at))
            try:
                await asyncio.wait_for(self._stop.wait(), left)
            except TimeoutError:
                pass
            await asyncio.gather(*(station.shutdown(self.options.grace_s) for station in self.stations.values()), return_exceptions=True)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.running.clear()

    async def _run_station(self, station: Station) -> None:
        try:
            await station.run()
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("%s: stopped by an error", station.id)

    def stop(self) -> None:
        """Ask `run` to finish (from the event loop's thread; see BackgroundSimulation.stop otherwise)."""
        self._stop_requested = True
        if self._stop is not None:
            self._stop.set()

    def totals(self) -> dict:
        """Fleet-wide counters: stations online, sessions, energy (kWh) and power (kW) now, messages, faults."""
        snapshots = [station.snapshot() for station in self.stations.values()]
        counters = {}
        for station in self.stations.values():
            for name, value in station.stats.items():
                counters[name] = counters.get(name, 0) + value
            if station.faults is not None:
                for name, value in station.faults.counts.items():
                    counters[f"fault_{name}"] = counters.get(f"fault_{name}", 0) + value
        return {
            "stations": len(snapshots),
            "online": sum(1 for s in snapshots if s["state"] == "online"),
            "charging": sum(1 for s in snapshots for _, status in s["statuses"] if status == "Charging"),
            "power_kw": sum(s["power_kw"] for s in snapshots),
            "energy_kwh": sum(s["energy_kwh"] for s in snapshots),
            "queued": sum(s["queued"] for s in snapshots),
            "uptime_s": 0.0 if self.started_at is None else time.monotonic() - self.started_at,
            **counters,
        }


class BackgroundSimulation:
    """A `Simulation` running on an event loop in a thread of its own, for synchronous callers.

    `call(fn, *args)` runs `fn` (a function or coroutine function) on the
    simulation's loop and returns its result, so state is read between two
    steps of the simulation rather than in the middle of one.
    """

    def __init__(self, options: SimulationOptions, *, events=None, duration_s: float | None = None):
        self.simulation = Simulation(options, events=events)
        self.duration_s = duration_s
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._main, name="simulation", daemon=True)
        self.error: BaseException | None = None

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self.simulation.run(self.duration_s))
        except BaseException as error:  # surfaced to the caller by stop()
            self.error = error
        finally:
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()

    def start(self) -> BackgroundSimulation:
        self.thread.start()
        if not self.simulation.running.wait(10):
            raise RuntimeError("the simulation did not start")
        return self

    def __enter__(self) -> BackgroundSimulation:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def stations(self) -> dict[str, Station]:
        return self.simulation.stations

    def call(self, fn, *args, timeout: float = 10.0):
        """Run `fn(*args)` on the simulation's loop and return its result (awaited when it is a coroutine)."""

        async def run():
            result = fn(*args)
            if asyncio.iscoroutine(result):
                result = await result
            return result

        future = asyncio.run_coroutine_threadsafe(run(), self.loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise

    def set_url(self, url: str) -> None:
        """Point every station at another central system; they use it from their next connection."""
        self.call(setattr, self.simulation, "url", url)

    def stop(self, timeout: float = 30.0) -> None:
        """Shut the simulation down gracefully and wait for its thread; re-raises an error it ended with."""
        if self.thread.is_alive():
            self.loop.call_soon_threadsafe(self.simulation.stop)
            self.thread.join(timeout)
        if self.error is not None:
            raise self.error


def options_with(options: SimulationOptions, **changes) -> SimulationOptions:
    """A copy of `options` with `changes` applied (dataclasses.replace)."""
    return replace(options, **changes)


__all__ = [
    "BackgroundSimulation",
    "DEFAULT_URL",
    "Event",
    "Simulation",
    "SimulationOptions",
    "options_with",
    "read_passwords",
    "station_ids",
    "versions_for",
]
