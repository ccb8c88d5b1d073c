"""The product simulator's stations as the end-to-end tests drive them: connected, booted, recording their CALLs.

    with simulated(csms.servers[0].ws("/ocpp/"), {"CP-1": "1.6"}) as sim:
        station = ready(sim, "CP-1")        # a simulator.Station, connected and booted (Accepted)
        before = troubles(sim, station)
        ...                                 # commands through the API
        station.script.received[-1]         # ("ClearCache", {}): the last CALL it got, as on the wire
        assert troubles(sim, station) == before

The stations run in a thread of their own (`simulator.BackgroundSimulation`)
while the test calls the REST API. They start no sessions by themselves (only
remote starts do), take 0.1 s per step of a reboot, firmware update or upload,
and record every CALL in and out in their script (`simulator.script.Script`),
through which a test also makes them misbehave.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from simulator import BackgroundSimulation, SimulationOptions, Station
from tests.e2e.deployment import passwords_for
from tests.waiting import eventually

OPTIONS = dict(
    seed=1,
    connectors=2,
    sessions=False,
    step_s=0.1,
    response_timeout_s=10.0,
    backoff_base_s=0.2,
    backoff_cap_s=1.0,
    grace_s=2.0,
    record=True,
)


@contextmanager
def simulated(url: str, versions: dict[str, str], **options) -> Iterator[BackgroundSimulation]:
    """Stations {id: OCPP version} connecting to `url` (…/ocpp/), in a background thread; stopped on exit.

    `options` override OPTIONS (any `SimulationOptions` field). Each station
    sends the password the deployment gave it (security profile 1).
    """
    options = {**OPTIONS, "passwords": passwords_for(versions), **options}
    sim = BackgroundSimulation(SimulationOptions.build(ids=list(versions), ocpp=",".join(versions.values()), url=url, **options))
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()


def _ready(station: Station) -> bool:
    link = station.link
    return (
        station.state == "online" and station.registered.is_set() and station.rebooting is None and link is not None and not link.is_closed
    )


def ready(sim: BackgroundSimulation, station_id: str, timeout: float = 15.0) -> Station:
    """The station, once connected and booted (BootNotification Accepted), with no reboot under way."""
    station = sim.stations[station_id]
    eventually(lambda: sim.call(_ready, station), timeout)
    return station


def troubles(sim: BackgroundSimulation, station: Station) -> dict[str, int]:
    """Counters that must not grow while a test runs.

    Follow-ups that raised, CALLERRORs to the station's own CALLs (and
    transaction messages given up), unanswered CALLs, failed connection
    attempts, and connections the server dropped: the station opens a new
    connection only to boot on it (at start and after a reboot), so one
    more connection than boots is a connection lost.
    """

    def count():
        stats = station.stats
        return {
            "errors": stats["errors"],
            "callerrors": stats["event_error"],
            "timeouts": stats["timeouts"],
            "transaction_retries": stats["tx_retries"],
            "connect_failures": stats["connect_failures"],
            "connections_lost": stats["connections"] - station.boots,
        }

    return sim.call(count)


def charged(station: Station, connector_id: int, energy_wh: float = 1.0) -> None:
    """Wait until the session on `connector_id` has delivered `energy_wh`, so its meter moved by a whole Wh."""

    def delivered():
        session = station.connectors[connector_id].session
        return session is not None and session.energy_wh >= energy_wh

    # A session integrates its energy every 2 s (station.INTEGRATION_PERIOD_S).
    eventually(delivered, 10)


def periods(schedule: dict) -> list[tuple[int, float]]:
    """(startPeriod, limit) of a composite schedule's chargingSchedulePeriod (1.6 chargingSchedule, 2.0.1 schedule)."""
    return [(period["startPeriod"], period["limit"]) for period in schedule["chargingSchedulePeriod"]]


def expiry(minutes: int = 30) -> str:
    """An OCPP dateTime `minutes` from now (UTC, with a Z)."""
    return (datetime.now(UTC) + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")
