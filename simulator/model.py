"""What a simulated charge point is made of, as plain state and arithmetic (no I/O, no asyncio).

Units are in the names: `_w` watts, `_wh` watt-hours, `_a` amperes, `_v`
volts, `_pct` percent, `_s` seconds. Timestamps are timezone-aware UTC.

- `ChargingCurve`: the power an EV battery accepts at a state of charge —
  constant up to ~80 %, then tapering towards 100 %.
- `Vehicle`: a battery, its state of charge and the on-board charger's limits.
- `Connector` and `Session`: one socket's status, meter register, reservation
  and the transaction running on it; `Session.advance` integrates energy over
  time under a current limit (a charging profile, the EVSE's rating).
- `Reservation`, `LocalAuthList`, `AuthCache`: what decides who may charge,
  also while the charge point is offline.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

NOMINAL_VOLTAGE_V = 230.0
# IEC 61851-1: the EVSE cannot signal less than 6 A; below it charging pauses.
MIN_CURRENT_A = 6.0
PHASES = ("L1", "L2", "L3")
# The longest step `Session.advance` integrates at constant power.
MAX_STEP_S = 5.0


class Status:
    """Connector statuses, in OCPP 1.6 words (ChargePointStatus, §7.7); 2.0.1 maps them with `status_201`."""

    AVAILABLE = "Available"
    PREPARING = "Preparing"
    CHARGING = "Charging"
    SUSPENDED_EV = "SuspendedEV"
    SUSPENDED_EVSE = "SuspendedEVSE"
    FINISHING = "Finishing"
    RESERVED = "Reserved"
    UNAVAILABLE = "Unavailable"
    FAULTED = "Faulted"


def status_201(status: str) -> str:
    """The OCPP 2.0.1 ConnectorStatusEnumType for a 1.6 status: a plugged-in connector is Occupied."""
    if status in (Status.PREPARING, Status.CHARGING, Status.SUSPENDED_EV, Status.SUSPENDED_EVSE, Status.FINISHING):
        return "Occupied"
    return status


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """An OCPP dateTime: ISO 8601 UTC with milliseconds and a Z."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(text: str) -> datetime:
    """Parse an OCPP dateTime (with Z or an offset; naive means UTC)."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class ChargingCurve:
    """The power an EV battery accepts at a state of charge (a CC/CV curve, simplified).

    Constant `max_power_w` up to `taper_start_soc_pct`, then falling linearly
    to `end_fraction` × `max_power_w` at 100 %, and 0 W once full.
    """

    max_power_w: float
    taper_start_soc_pct: float = 80.0
    end_fraction: float = 0.1

    def accepted_power_w(self, soc_pct: float) -> float:
        """Power in W the battery takes at `soc_pct` (0–100 %)."""
        if soc_pct >= 100.0:
            return 0.0
        if soc_pct <= self.taper_start_soc_pct:
            return self.max_power_w
        left = (100.0 - soc_pct) / (100.0 - self.taper_start_soc_pct)  # 1 at the start of the taper, 0 at 100 %
        return self.max_power_w * (self.end_fraction + (1.0 - self.end_fraction) * left)


@dataclass(frozen=True)
class VehicleModel:
    """A kind of EV: battery capacity (Wh), on-board charger phases and current per phase (A)."""

    name: str
    battery_wh: float
    phases: int
    max_current_a: float

    @property
    def max_power_w(self) -> float:
        return self.phases * self.max_current_a * NOMINAL_VOLTAGE_V


VEHICLE_MODELS = (
    VehicleModel("compact", 40_000, 1, 32.0),  # 7.4 kW single phase
    VehicleModel("saloon", 60_000, 3, 16.0),  # 11 kW
    VehicleModel("suv", 77_000, 3, 16.0),  # 11 kW
    VehicleModel("premium", 95_000, 3, 32.0),  # 22 kW
)


@dataclass
class Vehicle:
    """An EV plugged in: its model, state of charge (%) and the SoC at which the driver's trip is covered."""

    model: VehicleModel
    soc_pct: float
    target_soc_pct: float = 100.0

    @property
    def curve(self) -> ChargingCurve:
        return ChargingCurve(self.model.max_power_w)

    @property
    def full(self) -> bool:
        return self.soc_pct >= min(self.target_soc_pct, 100.0)

    def accepted_power_w(self) -> float:
        """Power in W the EV draws now if nothing else limits it; 0 once at its target SoC."""
        return 0.0 if self.full else self.curve.accepted_power_w(self.soc_pct)

    def add_energy(self, energy_wh: float) -> None:
        self.soc_pct = min(100.0, self.soc_pct + 100.0 * energy_wh / self.model.battery_wh)

    @classmethod
    def random(cls, rng: random.Random) -> Vehicle:
        """A vehicle drawn from `VEHICLE_MODELS`, arriving at 10–60 % and leaving by 80–100 %."""
        model = rng.choice(VEHICLE_MODELS)
        return cls(model=model, soc_pct=round(rng.uniform(10, 60), 1), target_soc_pct=round(rng.uniform(80, 100), 1))


@dataclass(frozen=True)
class Limit:
    """A charging limit from a charging profile: `value` in A (per phase) or W (total), on `phases` phases at most."""

    value: float
    unit: str = "A"
    phases: int | None = None

    def current_a(self, phases: int, voltage_v: float = NOMINAL_VOLTAGE_V) -> float:
        """The per-phase current (A) this limit allows an EV charging on `phases` phases."""
        if self.unit == "A":
            return self.value
        return self.value / (phases * voltage_v)


@dataclass(frozen=True)
class Electrical:
    """One reading of what flows through a connector: per-phase current (A) and voltage (V), total power (W)."""

    power_w: float
    current_a: dict
    voltage_v: dict

    @classmethod
    def idle(cls, voltage_v: dict) -> Electrical:
        return cls(0.0, {phase: 0.0 for phase in PHASES}, voltage_v)


def phase_voltages(rng: random.Random) -> dict:
    """Phase-to-neutral voltages in V around 230 V (σ 0.5 %, clipped to ±2 %), one per phase."""
    return {phase: round(NOMINAL_VOLTAGE_V * (1 + max(-0.02, min(0.02, rng.gauss(0, 0.005)))), 1) for phase in PHASES}


def charging_current_a(
    vehicle: Vehicle, *, evse_max_current_a: float, limit: Limit | None, voltage_v: float = NOMINAL_VOLTAGE_V
) -> tuple[float, int, str]:
    """The per-phase current (A) the EV charges with, the phases it uses, and why it is what it is.

    The reason is "vehicle" (the battery takes no more, or 0 when full),
    "evse" (the connector's rating) or "limit" (the charging profile; a limit
    below 6 A pauses charging, IEC 61851-1).
    """
    phases = vehicle.model.phases
    if limit is not None and limit.phases:
        phases = max(1, min(phases, limit.phases))
    wanted = vehicle.accepted_power_w() / (phases * voltage_v)
    current, reason = min(wanted, vehicle.model.max_current_a), "vehicle"
    if evse_max_current_a < current:
        current, reason = evse_max_current_a, "evse"
    if limit is not None:
        allowed = limit.current_a(phases, voltage_v)
        if allowed < current:
            current, reason = (allowed if allowed >= MIN_CURRENT_A else 0.0), "limit"
    return max(0.0, current), phases, reason


@dataclass
class Reservation:
    """A ReserveNow accepted by the charge point: for `id_tag` (or its `parent_id_tag`) until `expiry`."""

    reservation_id: int
    connector_id: int
    id_tag: str
    expiry: datetime
    parent_id_tag: str | None = None

    def admits(self, id_tag: str, parent_id_tag: str | None = None) -> bool:
        """Whether `id_tag` (with its group `parent_id_tag`) may use this reservation."""
        return id_tag == self.id_tag or (self.parent_id_tag is not None and parent_id_tag == self.parent_id_tag)

    def expired(self, now: datetime) -> bool:
        return now >= self.expiry


@dataclass
class Session:
    """A charging session on one connector: the EV, the id tag, the transaction ids and the energy so far.

    `local_id` numbers sessions within the charge point. 1.6 learns
    `server_transaction_id` from the StartTransaction answer (possibly long
    after, when it started offline); 2.0.1 names `transaction_id` itself.
    `seq_no` is the next 2.0.1 TransactionEvent sequence number.
    """

    local_id: int
    connector_id: int
    id_tag: str
    vehicle: Vehicle
    meter_start_wh: int
    started_at: datetime
    transaction_id: str = ""
    server_transaction_id: int | None = None
    reservation_id: int | None = None
    remote_start_id: int | None = None
    remote: bool = False
    id_tag_type: str = "ISO14443"
    parent_id_tag: str | None = None
    seq_no: int = 0
    energy_wh: float = 0.0
    current_a: float = 0.0
    phases: int = 3
    power_w: float = 0.0
    state_reason: str = "vehicle"
    stop_reason: str | None = None
    ended: bool = False
    # time.monotonic() up to which energy has been integrated.
    advanced_at: float = field(default_factory=time.monotonic)

    def next_seq_no(self) -> int:
        seq_no, self.seq_no = self.seq_no, self.seq_no + 1
        return seq_no

    @property
    def charging_state(self) -> str:
        """1.6 status while plugged in: Charging, SuspendedEV (EV full or resting) or SuspendedEVSE (limit)."""
        if self.power_w > 0:
            return Status.CHARGING
        return Status.SUSPENDED_EVSE if self.state_reason == "limit" else Status.SUSPENDED_EV

    def set_power(self, *, evse_max_current_a: float, limit: Limit | None, voltage_v: float = NOMINAL_VOLTAGE_V) -> None:
        """Recompute current (A per phase) and power (W) for the EV's state now."""
        self.current_a, self.phases, self.state_reason = charging_current_a(
            self.vehicle, evse_max_current_a=evse_max_current_a, limit=limit, voltage_v=voltage_v
        )
        self.power_w = self.current_a * self.phases * voltage_v

    def advance(self, seconds: float, *, evse_max_current_a: float, limit: Limit | None, voltage_v: float = NOMINAL_VOLTAGE_V) -> float:
        """Charge for `seconds` under `limit`; returns the energy delivered in Wh.

        Power is recomputed at least every MAX_STEP_S so the taper of the
        charging curve is followed, and once more at the end for the new state.
        """
        delivered = 0.0
        left = max(0.0, seconds)
        while left > 1e-9:
            step = min(left, MAX_STEP_S)
            self.set_power(evse_max_current_a=evse_max_current_a, limit=limit, voltage_v=voltage_v)
            energy = self.power_w * step / 3600.0
            self.vehicle.add_energy(energy)
            delivered += energy
            left -= step
        self.set_power(evse_max_current_a=evse_max_current_a, limit=limit, voltage_v=voltage_v)
        self.energy_wh += delivered
        return delivered


@dataclass
class Connector:
    """One connector (a 2.0.1 EVSE with one connector): status, meter register (Wh), availability, reservation, session."""

    connector_id: int
    meter_wh: float = 0.0
    max_current_a: float = 32.0
    status: str = Status.AVAILABLE
    operative: bool = True
    # ChangeAvailability(Inoperative) answered Scheduled: applied when the session ends.
    inoperative_scheduled: bool = False
    reservation: Reservation | None = None
    session: Session | None = None
    voltage_v: dict = field(default_factory=lambda: {phase: NOMINAL_VOLTAGE_V for phase in PHASES})
    plugged: bool = False
    last_reading_at: datetime | None = None

    @property
    def idle_status(self) -> str:
        """The status with nothing plugged in: Unavailable, Reserved or Available."""
        if not self.operative:
            return Status.UNAVAILABLE
        if self.reservation is not None:
            return Status.RESERVED
        return Status.AVAILABLE

    @property
    def power_w(self) -> float:
        return self.session.power_w if self.session else 0.0

    def electrical(self) -> Electrical:
        """Current per phase (A), voltage per phase (V) and total power (W) now."""
        if self.session is None or self.session.current_a <= 0:
            return Electrical.idle(self.voltage_v)
        used = PHASES[: self.session.phases]
        current = {phase: (round(self.session.current_a, 2) if phase in used else 0.0) for phase in PHASES}
        # The session's power (what the energy register integrates), so W and Wh always agree.
        return Electrical(round(self.session.power_w, 1), current, self.voltage_v)

    @property
    def mean_voltage_v(self) -> float:
        return sum(self.voltage_v.values()) / len(self.voltage_v)


@dataclass
class LocalAuthList:
    """The Local Authorization List (1.6 §3.5 / 2.0.1 D01): id tag → AuthorizationStatus, and its version."""

    version: int = 0
    entries: dict = field(default_factory=dict)
    max_length: int = 1000

    def update(self, *, version: int, full: bool, entries: dict) -> str:
        """Apply a SendLocalList: `entries` maps id tag → status, or None to delete (Differential).

        Returns "Accepted", "VersionMismatch" (a Differential update not
        newer than the installed list) or "Failed" (too long).
        """
        if not full and version <= self.version:
            return "VersionMismatch"
        merged = {} if full else dict(self.entries)
        for id_tag, status in entries.items():
            if status is None:
                merged.pop(id_tag, None)
            else:
                merged[id_tag] = status
        if len(merged) > self.max_length:
            return "Failed"
        self.entries, self.version = merged, version
        return "Accepted"

    def status(self, id_tag: str) -> str | None:
        return self.entries.get(id_tag)


@dataclass
class AuthCache:
    """Id tags the central system answered for, kept for offline authorization (1.6 §3.4, 2.0.1 C10)."""

    entries: dict = field(default_factory=dict)
    enabled: bool = True

    def remember(self, id_tag: str, info: dict | None) -> None:
        if self.enabled and info and "status" in info:
            expiry = info.get("expiryDate") or info.get("expiry_date") or info.get("cache_expiry_date_time")
            self.entries[id_tag] = (info["status"], parse_iso(expiry) if isinstance(expiry, str) else None)

    def status(self, id_tag: str, now: datetime | None = None) -> str | None:
        entry = self.entries.get(id_tag) if self.enabled else None
        if entry is None:
            return None
        status, expiry = entry
        if status == "Accepted" and expiry is not None and (now or utc_now()) >= expiry:
            return "Expired"
        return status

    def clear(self) -> None:
        self.entries.clear()


def offline_authorization(
    id_tag: str,
    *,
    local_list: LocalAuthList | None,
    cache: AuthCache | None,
    local_authorize_offline: bool = True,
    allow_unknown: bool = False,
) -> bool:
    """Whether a charge point without a connection lets `id_tag` charge (1.6 §3.5.2, 2.0.1 C12/C15).

    The local list decides first, then the authorization cache; a tag in
    neither charges only when unknown tags are allowed offline.
    """
    if not local_authorize_offline:
        return allow_unknown
    for source in (local_list, cache):
        status = source.status(id_tag) if source is not None else None
        if status is not None:
            return status == "Accepted"
    return allow_unknown


def split_range(text: str) -> tuple[float, float]:
    """Parse "A-B" or "A" (seconds) into (A, B); raises ValueError."""
    parts = text.split("-") if "-" in text.strip("-") else [text, text]
    low, high = float(parts[0]), float(parts[1])
    if low < 0 or high < low or math.isinf(high):
        raise ValueError(f"invalid range {text!r}: expected MIN-MAX with 0 <= MIN <= MAX")
    return low, high
