"""Reads behind the transaction page: its live figures and its chart's series (selectors).

Three measurands make the chart: Power.Active.Import (W or kW), the
Energy.Active.Import.Register (Wh or kWh) and SoC (Percent), OCPP 1.6
§7.31 Measurand, 2.0.1 MeasurandEnumType. Readings are taken as stored in
`MeterValue`: a total (no phase) where the station sends one, else the sum of
its per-phase values of the same instant; signed data (format other than Raw)
and values that are not numbers are skipped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation

from .models import MeterValue, Transaction

POWER = "Power.Active.Import"
ENERGY = "Energy.Active.Import.Register"
SOC = "SoC"
MEASURANDS = (POWER, ENERGY, SOC)
# The first load of a long session's chart reads at most this many sampled
# values (the latest ones); polls read only what came after the last point.
SERIES_MAX_ROWS = 20_000


def _number(value: str) -> Decimal | None:
    try:
        number = Decimal(value)
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def _power_w(row: MeterValue) -> Decimal | None:
    number = _number(row.value)
    if number is None or row.format != "Raw":
        return None
    if row.unit == "kW":
        return number * 1000
    return number if row.unit in ("W", "") else None


def _energy_wh(row: MeterValue) -> Decimal | None:
    wh = row.value_wh
    return None if wh is None else Decimal(wh)


def _soc_pct(row: MeterValue) -> Decimal | None:
    number = _number(row.value)
    return number if number is not None and row.format == "Raw" else None


READERS = {POWER: _power_w, ENERGY: _energy_wh, SOC: _soc_pct}


@dataclass
class Instant:
    """The chart's readings of one MeterValue timestamp: power in W, energy in Wh (session, from meter start), SoC in %."""

    timestamp: datetime
    power_w: Decimal | None = None
    energy_wh: Decimal | None = None
    soc_pct: Decimal | None = None
    power_derived: bool = False
    _totals: dict = field(default_factory=dict, repr=False)
    _phases: dict = field(default_factory=dict, repr=False)


def instants(rows, *, meter_start_wh: int | None) -> list[Instant]:
    """Group sampled values (oldest first) by timestamp into Instants, oldest first.

    Per measurand and timestamp, the value without a phase wins; without one,
    the per-phase values are summed (power, energy) or the first is taken
    (SoC). Energy is the register minus `meter_start_wh` (the register itself
    when the start is unknown).
    """
    by_time: dict[datetime, Instant] = {}
    for row in rows:
        reading = READERS[row.measurand](row) if row.measurand in READERS else None
        if reading is None:
            continue
        instant = by_time.setdefault(row.timestamp, Instant(row.timestamp))
        if row.phase:
            phases = instant._phases.setdefault(row.measurand, {})
            phases.setdefault(row.phase, reading)
        else:
            instant._totals.setdefault(row.measurand, reading)
    result = []
    for instant in by_time.values():
        values = {}
        for measurand in MEASURANDS:
            if measurand in instant._totals:
                values[measurand] = instant._totals[measurand]
            elif measurand in instant._phases:
                phased = list(instant._phases[measurand].values())
                values[measurand] = phased[0] if measurand == SOC else sum(phased)
        instant.power_w = values.get(POWER)
        if ENERGY in values:
            instant.energy_wh = values[ENERGY] - (meter_start_wh or 0)
        instant.soc_pct = values.get(SOC)
        result.append(instant)
    return sorted(result, key=lambda i: i.timestamp)


def _derive_power(points: list[Instant], previous: Instant | None) -> None:
    """Where no power was sampled at all, power between two energy readings: ΔWh / Δh, set on the later one."""
    last = previous
    for point in points:
        if point.energy_wh is None:
            continue
        if last is not None and last.energy_wh is not None:
            seconds = (point.timestamp - last.timestamp).total_seconds()
            if seconds > 0:
                point.power_w = (point.energy_wh - last.energy_wh) * 3600 / Decimal(seconds)
                point.power_derived = True
        last = point


def _rows(transaction: Transaction):
    return MeterValue.objects.filter(transaction=transaction, measurand__in=MEASURANDS).only(
        "timestamp", "measurand", "phase", "value", "unit", "format"
    )


def meter_series(*, transaction: Transaction, since: datetime | None = None) -> list[Instant]:
    """The chart's points of `transaction`, oldest first, only those strictly after `since` (aware datetime) when given.

    At most SERIES_MAX_ROWS sampled values are read (the latest). When the
    session sampled no power, each energy reading carries the power since the
    one before it (`power_derived`), the reading at or before `since` included
    in the count so that a poll derives its first point too. Two queries at most.
    """
    rows = _rows(transaction)
    if since is not None:
        rows = rows.filter(timestamp__gt=since)
    latest = list(rows.order_by("-timestamp", "-id")[:SERIES_MAX_ROWS])[::-1]
    points = instants(latest, meter_start_wh=transaction.meter_start_wh)
    if points and all(p.power_w is None for p in points):
        previous = None
        if since is not None and not _rows(transaction).filter(measurand=POWER, timestamp__lte=since).exists():
            before = _rows(transaction).filter(measurand=ENERGY, timestamp__lte=since).order_by("-timestamp", "-id")[:3]
            earlier = instants(list(before)[::-1], meter_start_wh=transaction.meter_start_wh)
            previous = earlier[-1] if earlier else None
        _derive_power(points, previous)
    return points


@dataclass(frozen=True)
class LiveFigures:
    """A transaction's figures now: latest power in W (sampled, or derived from the last two energy readings), SoC in %.

    `power_derived` says the power came from energy readings; None where nothing was reported.
    """

    power_w: Decimal | None
    power_derived: bool
    soc_pct: Decimal | None
    at: datetime | None


def _latest(transaction: Transaction, measurand: str, count: int) -> list[Instant]:
    rows = list(_rows(transaction).filter(measurand=measurand).order_by("-timestamp", "-id")[:count])
    return instants(rows[::-1], meter_start_wh=transaction.meter_start_wh)


def live_figures(*, transaction: Transaction) -> LiveFigures:
    """The latest Power.Active.Import of `transaction` (else power derived from its last two energy readings) and SoC.

    Three small queries on the (transaction, timestamp) index, whatever the
    number of meter values.
    """
    # Up to 8 rows: a total and per-phase values of one instant.
    power = [p for p in _latest(transaction, POWER, 8) if p.power_w is not None]
    power_w, derived, at = (power[-1].power_w, False, power[-1].timestamp) if power else (None, False, None)
    if power_w is None:
        energy = [p for p in _latest(transaction, ENERGY, 8) if p.energy_wh is not None][-2:]
        _derive_power(energy, None)
        if energy and energy[-1].power_derived:
            power_w, derived, at = energy[-1].power_w, True, energy[-1].timestamp
    soc = [p for p in _latest(transaction, SOC, 4) if p.soc_pct is not None]
    return LiveFigures(power_w=power_w, power_derived=derived, soc_pct=soc[-1].soc_pct if soc else None, at=at)
