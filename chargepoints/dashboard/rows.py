"""What the dashboard shows of a charge point and of the fleet: plain values for its templates and its WebSocket."""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal

from django.contrib.admin.utils import quote
from django.template.loader import render_to_string
from django.urls import reverse

from chargepoints import selectors
from chargepoints.models import ChargePoint, OcppVersion

# Badge colour of each connector status (OCPP 1.6 ChargePointStatus, 2.0.1 ConnectorStatusEnumType), as the
# admin's charge point list colours them: Available green, Charging / Occupied blue, Faulted red, Unavailable
# grey, the other statuses of a session or a reservation amber.
BADGES = {
    "Available": "available",
    "Charging": "charging",
    "Occupied": "charging",
    "Faulted": "faulted",
    "Unavailable": "unavailable",
    "Preparing": "other",
    "SuspendedEV": "other",
    "SuspendedEVSE": "other",
    "Finishing": "other",
    "Reserved": "other",
}


@dataclass(frozen=True)
class ConnectorBadge:
    label: str  # "Connector 1", "EVSE 1 · connector 2", "Charge point" (connector 0)
    status: str  # as reported, "" when never
    colour: str  # a key of BADGES' values, or "unknown"
    stale: bool  # the charge point is offline: this is its last report, not its state
    error_code: str

    @property
    def text(self) -> str:
        status = self.status or "Unknown"
        return f"{status} (stale)" if self.stale else status


@dataclass(frozen=True)
class FleetRow:
    charge_point_id: str
    admin_url: str
    online: bool
    charging: bool
    ocpp_version: str  # "1.6", "2.0.1", "" before it ever connected
    vendor: str
    model: str
    last_seen: object  # aware datetime or None
    connectors: tuple[ConnectorBadge, ...]


def connector_label(version: str, evse_id: int, connector_id: int) -> str:
    """How an operator names a connector: 1.6 "Connector N", 2.0.1 "EVSE n · connector m"; EVSE 0 is the charge point itself."""
    if evse_id == 0 and connector_id == 0:
        return "Charge point"
    if version == OcppVersion.V201:
        return f"EVSE {evse_id} · connector {connector_id}"
    return f"Connector {connector_id}"


def fleet_row(cp: ChargePoint) -> FleetRow:
    """The row of `cp`, read from `selectors.dashboard_charge_points()` (no query of its own)."""
    online = cp.online
    connectors = tuple(
        ConnectorBadge(
            label=connector_label(cp.ocpp_version, c.evse_id, c.connector_id),
            status=c.status,
            colour=BADGES.get(c.status, "unknown"),
            stale=not online,
            error_code=c.error_code if c.error_code not in ("", "NoError") else "",
        )
        for c in cp.connectors.all()
    )
    return FleetRow(
        charge_point_id=cp.pk,
        admin_url=reverse("admin:chargepoints_chargepoint_change", args=[quote(cp.pk)]),
        online=online,
        charging=cp.has_open_transaction or any(c.status == selectors.CHARGING for c in cp.connectors.all()),
        ocpp_version=cp.ocpp_version,
        vendor=cp.vendor,
        model=cp.model,
        last_seen=cp.last_seen,
        connectors=connectors,
    )


def energy_kwh(energy_wh: int) -> str:
    """Wh as kWh with three decimals ("12.345")."""
    return str((Decimal(energy_wh) / 1000).quantize(Decimal("0.001")))


def counts_for_display(counts: dict[str, int]) -> dict[str, int | str]:
    """`selectors.dashboard_counts()` plus "energy_today_kwh" (a string, three decimals)."""
    return {**counts, "energy_today_kwh": energy_kwh(counts["energy_today_wh"])}


def render_row(row: FleetRow) -> str:
    """The row's <tr>, as the page renders it (`templates/dashboard/_row.html`)."""
    return render_to_string("dashboard/_row.html", {"row": row})


# The latest counts of this process: (time.monotonic() when their query started, counts). Consumers of
# every open dashboard share them, so N browsers cost one count, not N, per change.
_latest_counts: tuple[float, dict] | None = None


def counts_since(since: float) -> dict[str, int | str]:
    """Counts read by a query that started at or after `since` (a time.monotonic()), reusing the latest when it did."""
    global _latest_counts
    latest = _latest_counts
    if latest is not None and latest[0] >= since:
        return latest[1]
    started = time.monotonic()
    counts = counts_for_display(selectors.dashboard_counts())
    _latest_counts = (started, counts)
    return counts


def live_update(charge_point_ids: set[str], *, counts_since_s: float) -> dict:
    """What a dashboard's browser gets: {"counts": {...}, "rows": [[charge point id, "<tr>…</tr>"], …]}.

    Rows of the charge points of `charge_point_ids` that still exist, in their
    current state (two queries for any number); counts as `counts_since`.
    Runs on the ORM thread.
    """
    rows = []
    if charge_point_ids:
        for cp in selectors.dashboard_charge_points().filter(pk__in=charge_point_ids):
            rows.append([cp.pk, render_row(fleet_row(cp))])
    return {"counts": counts_since(counts_since_s), "rows": rows}
