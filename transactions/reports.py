"""Energy and sessions per day, charge point or id tag over a date range (selectors behind the admin's report).

A session counts on the day it started (in the admin's TIME_ZONE) and with
its energy so far: meter stop, or the latest register reading of a running
one, minus meter start, in Wh. Orphans (stops of sessions never started here)
have no start and are left out. Each grouping is one GROUP BY query in the
database, on SQLite as on PostgreSQL.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db.models import Count, F, Sum
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from .models import Transaction

# What a report groups by: key → (label, the column of the GROUP BY).
GROUPINGS = {
    "day": "day",
    "charge_point": "charge point",
    "id_tag": "id tag",
}
# The longest range a report covers, in days: a year and a day.
MAX_DAYS = 366


@dataclass(frozen=True)
class ReportRow:
    """One group: its key (a date, a charge point id or an id tag), its sessions and energy in Wh (0 when none known)."""

    key: date | str
    sessions: int
    energy_wh: int

    @property
    def energy_kwh(self) -> Decimal:
        return (Decimal(self.energy_wh) / 1000).quantize(Decimal("0.001"))


def _bounds(date_from: date, date_to: date) -> tuple[datetime, datetime]:
    """[start of `date_from`, start of the day after `date_to`) as aware datetimes of the current time zone."""
    tz = timezone.get_current_timezone()
    return (
        datetime.combine(date_from, time.min, tzinfo=tz),
        datetime.combine(date_to + timedelta(days=1), time.min, tzinfo=tz),
    )


def energy_report(*, date_from: date, date_to: date, by: str) -> list[ReportRow]:
    """Sessions started from `date_from` to `date_to` (both included) grouped `by` "day", "charge_point" or "id_tag".

    Rows are ordered by key. For "day" every day of the range is listed, those
    without sessions with zeros. One query. Raises ValueError for another `by`
    or a range that is reversed or longer than MAX_DAYS.
    """
    if by not in GROUPINGS:
        raise ValueError(f"unknown grouping {by!r}; use one of {', '.join(GROUPINGS)}")
    if date_to < date_from or (date_to - date_from).days + 1 > MAX_DAYS:
        raise ValueError(f"a report covers 1 to {MAX_DAYS} days")
    start, end = _bounds(date_from, date_to)
    sessions = Transaction.objects.filter(is_orphan=False, start_timestamp__gte=start, start_timestamp__lt=end)
    if by == "day":
        sessions = sessions.annotate(day=TruncDate("start_timestamp"))
    column = {"day": "day", "charge_point": "charge_point_id", "id_tag": "id_tag"}[by]
    grouped = (
        sessions.order_by()
        .values(column)
        .annotate(
            sessions=Count("pk"),
            energy_wh=Sum(Coalesce(F("meter_stop_wh"), F("last_meter_wh")) - F("meter_start_wh")),
        )
        .order_by(column)
    )
    rows = [ReportRow(key=g[column], sessions=g["sessions"], energy_wh=int(g["energy_wh"] or 0)) for g in grouped]
    if by != "day":
        return rows
    # SQLite's TruncDate answers text, PostgreSQL a date.
    found = {(r.key if isinstance(r.key, date) else date.fromisoformat(str(r.key))): r for r in rows}
    days = (date_from + timedelta(days=n) for n in range((date_to - date_from).days + 1))
    return [ReportRow(day, found[day].sessions, found[day].energy_wh) if day in found else ReportRow(day, 0, 0) for day in days]


def report_csv(rows: list[ReportRow], *, by: str) -> str:
    """The report's table as CSV text: a header (the grouping's label, sessions, energy_kwh), then one line per row."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([GROUPINGS[by].replace(" ", "_"), "sessions", "energy_kwh"])
    for row in rows:
        writer.writerow([row.key.isoformat() if isinstance(row.key, date) else row.key, row.sessions, row.energy_kwh])
    return out.getvalue()
