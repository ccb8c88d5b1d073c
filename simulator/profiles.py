"""Charging profiles installed on a simulated charge point, and the limit they impose now.

Both versions are kept in one shape (`ChargingProfile`): OCPP 1.6
csChargingProfiles (§7.8) installed on a connector, OCPP 2.0.1
ChargingProfileType (K01) installed on an EVSE; connector / EVSE 0 is the
whole charge point. How the limit is found (1.6 §3.13, 2.0.1 K08):

- within a purpose, the valid profile with the highest stack level whose
  schedule has a period running now wins; a profile on the connector itself
  beats one on connector 0;
- a TxProfile (for the running transaction) beats a TxDefaultProfile;
- the charge point's maximum (ChargePointMaxProfile / ChargingStationMaxProfile,
  and 2.0.1 ChargingStationExternalConstraints) caps the result.

Limits are `model.Limit`: A per phase or W in total, as the schedule says.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ocpp.charge_point import camel_to_snake_case

from .model import NOMINAL_VOLTAGE_V, Limit, parse_iso

MAX_PURPOSES = {"ChargePointMaxProfile", "ChargingStationMaxProfile", "ChargingStationExternalConstraints"}
RECURRENCY_S = {"Daily": 86_400, "Weekly": 7 * 86_400}


@dataclass(frozen=True)
class SchedulePeriod:
    """From `start_s` seconds after the schedule's start: `limit` (A or W) on at most `phases` phases."""

    start_s: int
    limit: float
    phases: int | None = None


@dataclass
class ChargingProfile:
    """One installed charging profile, whichever version sent it."""

    profile_id: int
    connector_id: int
    stack_level: int
    purpose: str
    kind: str
    rate_unit: str
    periods: list
    recurrency: str | None = None
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    transaction_id: str | None = None
    start_schedule: datetime | None = None
    duration_s: int | None = None
    installed_at: datetime | None = None
    raw: dict = field(default_factory=dict)

    @classmethod
    def from_ocpp(cls, connector_id: int, profile: dict, *, installed_at: datetime) -> ChargingProfile:
        """Build from a 1.6 csChargingProfiles or 2.0.1 chargingProfile (camelCase or snake_case keys).

        A 2.0.1 profile may hold up to three schedules; the first is used.
        Transaction ids are kept as text (1.6 integers, 2.0.1 strings).
        """
        p = camel_to_snake_case(profile)
        schedule = p["charging_schedule"]
        if isinstance(schedule, list):
            schedule = schedule[0]
        periods = sorted(
            (
                SchedulePeriod(int(sp["start_period"]), float(sp["limit"]), sp.get("number_phases"))
                for sp in schedule["charging_schedule_period"]
            ),
            key=lambda sp: sp.start_s,
        )
        tx = p.get("transaction_id")
        return cls(
            profile_id=int(p.get("charging_profile_id", p.get("id"))),
            connector_id=connector_id,
            stack_level=int(p["stack_level"]),
            purpose=p["charging_profile_purpose"],
            kind=p["charging_profile_kind"],
            recurrency=p.get("recurrency_kind"),
            valid_from=parse_iso(p["valid_from"]) if p.get("valid_from") else None,
            valid_to=parse_iso(p["valid_to"]) if p.get("valid_to") else None,
            transaction_id=str(tx) if tx is not None else None,
            rate_unit=schedule["charging_rate_unit"],
            periods=periods,
            start_schedule=parse_iso(schedule["start_schedule"]) if schedule.get("start_schedule") else None,
            duration_s=schedule.get("duration"),
            installed_at=installed_at,
            raw=profile,
        )

    def schedule_start(self, now: datetime, session_start: datetime | None) -> datetime | None:
        """When the schedule's period 0 began (for `now`); None when it has no start yet (Relative, no session)."""
        if self.kind == "Relative":
            return session_start
        start = self.start_schedule or self.installed_at
        if self.kind == "Recurring" and start is not None:
            every = RECURRENCY_S.get(self.recurrency or "Daily", 86_400)
            if now >= start:
                start += timedelta(seconds=every * int((now - start).total_seconds() // every))
        return start

    def period_at(self, now: datetime, session_start: datetime | None = None) -> SchedulePeriod | None:
        """The schedule period in force at `now`, or None (not valid, not started, or past its duration)."""
        if (self.valid_from and now < self.valid_from) or (self.valid_to and now >= self.valid_to):
            return None
        start = self.schedule_start(now, session_start)
        if start is None:
            return None
        elapsed = (now - start).total_seconds()
        if elapsed < 0 or (self.duration_s is not None and elapsed >= self.duration_s):
            return None
        current = None
        for period in self.periods:
            if period.start_s <= elapsed:
                current = period
        return current

    def limit_at(self, now: datetime, session_start: datetime | None = None) -> Limit | None:
        period = self.period_at(now, session_start)
        return None if period is None else Limit(period.limit, self.rate_unit, period.phases)

    def boundaries(self, now: datetime, until: datetime, session_start: datetime | None) -> list[datetime]:
        """Moments in [now, until) where this profile's limit may change."""
        start = self.schedule_start(now, session_start)
        if start is None:
            return []
        moments = [start + timedelta(seconds=p.start_s) for p in self.periods]
        if self.duration_s is not None:
            moments.append(start + timedelta(seconds=self.duration_s))
        moments += [m for m in (self.valid_from, self.valid_to) if m is not None]
        return [m for m in moments if now < m < until]


class ProfileStore:
    """The charging profiles installed on one charge point, keyed by profile id."""

    def __init__(self):
        self.profiles: dict[int, ChargingProfile] = {}

    def __len__(self) -> int:
        return len(self.profiles)

    def install(self, profile: ChargingProfile) -> None:
        """Install `profile`: it replaces one with the same id, or the same purpose and stack level on its connector."""
        for pid, installed in list(self.profiles.items()):
            if pid == profile.profile_id or (
                installed.connector_id == profile.connector_id
                and installed.purpose == profile.purpose
                and installed.stack_level == profile.stack_level
            ):
                del self.profiles[pid]
        self.profiles[profile.profile_id] = profile

    def clear(
        self,
        *,
        profile_id: int | None = None,
        connector_id: int | None = None,
        purpose: str | None = None,
        stack_level: int | None = None,
    ) -> list[int]:
        """Remove the profiles matching every criterion given (all of them when none is); returns their ids."""
        cleared = [
            pid
            for pid, p in self.profiles.items()
            if (profile_id is None or pid == profile_id)
            and (connector_id is None or p.connector_id == connector_id)
            and (purpose is None or p.purpose == purpose)
            and (stack_level is None or p.stack_level == stack_level)
        ]
        for pid in cleared:
            del self.profiles[pid]
        return cleared

    def end_transaction(self, transaction_id: str | None) -> None:
        """A TxProfile lives as long as its transaction (1.6 §3.13.4, 2.0.1 K01.FR.05)."""
        for pid, p in list(self.profiles.items()):
            if p.purpose == "TxProfile" and (p.transaction_id is None or p.transaction_id == transaction_id):
                del self.profiles[pid]

    def _winner(self, purpose: str, connector_id: int, now: datetime, session_start, transaction_id) -> ChargingProfile | None:
        for connectors in ((connector_id,), (0,)) if connector_id else ((0,),):
            candidates = [
                p
                for p in self.profiles.values()
                if (p.purpose == purpose or (purpose == "Max" and p.purpose in MAX_PURPOSES))
                and p.connector_id in connectors
                and (purpose != "TxProfile" or p.transaction_id in (None, transaction_id))
                and p.period_at(now, session_start) is not None
            ]
            if candidates:
                return max(candidates, key=lambda p: p.stack_level)
        return None

    def limits(
        self,
        connector_id: int,
        *,
        now: datetime,
        session_start: datetime | None = None,
        transaction_id: str | None = None,
    ) -> tuple[Limit | None, Limit | None]:
        """(transaction limit, charge point maximum) in force on `connector_id` at `now`; None where none applies.

        The transaction limit comes from a TxProfile for `transaction_id`
        while a session runs (`session_start`), else a TxDefaultProfile.
        Without a session it is what a transaction starting then would get:
        TxProfiles belong to running transactions, and relative profiles have
        not started (they start with the session).
        """
        profile = None
        if session_start is not None:
            profile = self._winner("TxProfile", connector_id, now, session_start, transaction_id)
        profile = profile or self._winner("TxDefaultProfile", connector_id, now, session_start, transaction_id)
        tx_limit = profile.limit_at(now, session_start) if profile else None
        maximum = self._winner("Max", 0, now, session_start, transaction_id)
        return tx_limit, (maximum.limit_at(now, session_start) if maximum else None)

    def composite(
        self,
        connector_id: int,
        *,
        now: datetime,
        duration_s: int,
        unit: str,
        rating_a: float,
        session_start: datetime | None = None,
        transaction_id: str | None = None,
        phases: int = 3,
    ) -> list[SchedulePeriod]:
        """The composite schedule (1.6 §3.13.5, 2.0.1 K08) for the next `duration_s`, in `unit` (A or W).

        Periods start at seconds from `now`; where no profile limits, the
        connector's rating `rating_a` applies. Consecutive equal limits merge.
        Without a session (`session_start` None): the schedule a transaction
        starting now would get, so absolute TxDefaultProfiles count (as
        `limits` says).
        """
        until = now + timedelta(seconds=duration_s)
        moments = {now}
        for profile in self.profiles.values():
            if profile.connector_id in (0, connector_id):
                moments.update(profile.boundaries(now, until, session_start))
        periods: list[SchedulePeriod] = []
        for moment in sorted(moments):
            tx_limit, maximum = self.limits(connector_id, now=moment, session_start=session_start, transaction_id=transaction_id)
            current = min([rating_a] + [limit.current_a(phases) for limit in (tx_limit, maximum) if limit is not None])
            value = current if unit == "A" else current * phases * NOMINAL_VOLTAGE_V
            value = round(value, 1)
            if not periods or periods[-1].limit != value:
                periods.append(SchedulePeriod(int((moment - now).total_seconds()), value, phases))
        return periods


def combined_limit(limits, *, phases: int, voltage_v: float = NOMINAL_VOLTAGE_V, share: int = 1) -> Limit | None:
    """The tightest of `limits` (Nones ignored) as an A limit; a charge point maximum is split over `share` sessions.

    `limits` is (transaction limit, charge point maximum) from `ProfileStore.limits`.
    """
    tx_limit, maximum = limits
    candidates = []
    if tx_limit is not None:
        candidates.append(Limit(tx_limit.current_a(phases, voltage_v), "A", tx_limit.phases))
    if maximum is not None:
        candidates.append(Limit(maximum.current_a(phases, voltage_v) / max(1, share), "A", maximum.phases))
    if not candidates:
        return None
    return min(candidates, key=lambda limit: limit.value)
