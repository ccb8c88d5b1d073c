"""Simulated OCPP 1.6 and 2.0.1 charge points, for demos, load and resilience tests (`manage.py simulate`).

Built on the `ocpp` library's client side; independent of Django, so it can
run anywhere the `ocpp` and `websockets` packages are installed.

Modules:

- `model`: charging curve, vehicles, connectors, sessions, reservations,
  local authorization list and cache — plain state and arithmetic;
- `profiles`: charging profiles and the limit they impose;
- `keystore`: 1.6 configuration keys and the 2.0.1 device model over them;
- `faults`: seeded fault injection (drop, duplicate, delay, malformed, disconnect);
- `offline`: the ordered transaction message queue kept while offline;
- `connection`: one WebSocket connection (`Link`) and reconnection `Backoff`;
- `station`: a charge point's life, sessions and operations;
- `station16`, `station201`: the protocol adapters (`ocpp` ChargePoints with @on/@after handlers);
- `runner`: options, a fleet (`Simulation`) and a thread to host it;
- `script`: answers that differ from a station's own and a record of its
  CALLs, for tests and drills;
- `view`: live terminal table and log lines.
"""

from .faults import FaultRates
from .runner import DEFAULT_URL, BackgroundSimulation, Simulation, SimulationOptions, station_ids, versions_for
from .script import CallError, Script
from .station import VENDOR_ID, Event, Station, StationSettings

__all__ = [
    "DEFAULT_URL",
    "BackgroundSimulation",
    "CallError",
    "Event",
    "FaultRates",
    "Script",
    "Simulation",
    "SimulationOptions",
    "Station",
    "StationSettings",
    "VENDOR_ID",
    "station_ids",
    "versions_for",
]
