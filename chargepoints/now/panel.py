"""What the "Now" panel of a charge point's admin page shows, read and rendered (reads only).

One template, TEMPLATE, renders the panel both in the page (ChargePointAdmin)
and in the updates its WebSocket pushes (`consumers`), so the page and the
updates cannot drift apart.

The reads are a fixed number of queries whatever the number of connectors,
boots or meter values: the charge point with its server process, its
connectors, its open transactions, its last RECENT_BOOTS boots, and per open
transaction the three small queries of `transactions.series.live_figures`
(power now), which are on the (transaction, timestamp) index.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

from transactions import series
from transactions.admin import evse_label
from transactions.models import Transaction

# The admin imports this module only when it renders a page, so importing it here makes no cycle.
from ..admin import changelist_url, connector_badge
from ..models import BootNotification, ChargePoint, Connector, OcppVersion

TEMPLATE = "admin/chargepoints/chargepoint/now_panel.html"
RECENT_BOOTS = 5
# A charge point has one transaction per EVSE at most; this bounds the work of a misbehaving one.
MAX_OPEN_TRANSACTIONS = 20


@dataclass(frozen=True)
class ConnectorNow:
    """One connector's status now: its badge (HTML), and the error code and info when it reports a fault."""

    badge: SafeString
    faulted: bool
    error_code: str
    info: str
    vendor_error_code: str


@dataclass(frozen=True)
class TransactionNow:
    """An open transaction: where, who, since when, energy so far in kWh and power now in kW (None: not reported)."""

    transaction: Transaction
    url: str
    where: str
    duration: str
    energy_kwh: Decimal | None
    power_kw: Decimal | None
    power_derived: bool
    soc_pct: Decimal | None


@dataclass(frozen=True)
class ChargePointNow:
    """Everything the panel shows of one charge point, read at `at` (aware UTC)."""

    charge_point: ChargePoint
    online: bool
    since: datetime | None
    connectors: list[ConnectorNow]
    transactions: list[TransactionNow]
    boots: list[BootNotification]
    boots_url: str
    at: datetime


def _duration(delta: timedelta | None) -> str:
    """H:MM:SS, hours unbounded, as the transaction page shows it."""
    if delta is None:
        return "—"
    seconds = max(int(delta.total_seconds()), 0)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02}:{seconds % 60:02}"


def _connector_now(connector: Connector, *, v201: bool) -> ConnectorNow:
    faulted = connector.status == "Faulted"
    return ConnectorNow(
        badge=connector_badge(connector, v201=v201),
        faulted=faulted,
        error_code=connector.error_code if connector.error_code != "NoError" else "",
        info=connector.info,
        vendor_error_code=connector.vendor_error_code,
    )


def _transaction_now(tx: Transaction) -> TransactionNow:
    figures = series.live_figures(transaction=tx)
    power_kw = None if figures.power_w is None else (figures.power_w / 1000).quantize(Decimal("0.001"))
    return TransactionNow(
        transaction=tx,
        url=reverse("admin:transactions_transaction_change", args=[tx.pk]),
        where=evse_label(tx),
        duration=_duration(tx.duration),
        energy_kwh=tx.energy_kwh,
        power_kw=power_kw,
        power_derived=figures.power_derived,
        soc_pct=figures.soc_pct,
    )


def charge_point_now(*, charge_point_id: str) -> ChargePointNow | None:
    """The panel's state of `charge_point_id` now; None when there is no such charge point.

    "since" is when it connected (online), else when it disconnected or,
    when its socket went silent or its process died without a disconnect,
    when it was last seen. 4 + 3 × open transactions queries.
    """
    charge_point = ChargePoint.objects.select_related("server_process").filter(pk=charge_point_id).first()
    if charge_point is None:
        return None
    online = charge_point.online
    if online:
        since = charge_point.connected_at
    elif charge_point.connected:
        since = charge_point.last_seen
    else:
        since = charge_point.disconnected_at or charge_point.last_seen
    v201 = charge_point.ocpp_version == OcppVersion.V201
    connectors = Connector.objects.filter(charge_point=charge_point).order_by("evse_id", "connector_id")
    transactions = (
        Transaction.objects.active()
        .filter(charge_point=charge_point)
        .order_by("evse_id", "connector_id", "start_timestamp", "pk")[:MAX_OPEN_TRANSACTIONS]
    )
    boots = BootNotification.objects.filter(charge_point=charge_point).order_by("-received_at", "-id")[:RECENT_BOOTS]
    return ChargePointNow(
        charge_point=charge_point,
        online=online,
        since=since,
        connectors=[_connector_now(c, v201=v201) for c in connectors],
        transactions=[_transaction_now(tx) for tx in transactions],
        boots=list(boots),
        boots_url=changelist_url(BootNotification, charge_point__id__exact=charge_point.pk),
        at=timezone.now(),
    )


def now_panel_html(*, charge_point_id: str) -> str | None:
    """The panel of `charge_point_id` as HTML (TEMPLATE), as the page and the WebSocket send it; None when it does not exist."""
    now = charge_point_now(charge_point_id=charge_point_id)
    # Stripped: the template's comment leaves blank lines before the element.
    return None if now is None else mark_safe(render_to_string(TEMPLATE, {"now": now}).strip())
