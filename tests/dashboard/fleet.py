"""Charge points in the states the dashboard tells apart, written straight to the database (fast, any number)."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from chargepoints.models import ChargePoint, Connector
from transactions.models import Transaction


def charge_point(
    charge_point_id: str,
    *,
    online: bool = True,
    version: str = "1.6",
    statuses: dict[tuple[int, int], str] | None = None,
    vendor: str = "Acme",
    model: str = "AC22",
    serial_number: str = "",
    last_seen=None,
    open_transaction_on: int | None = None,
) -> ChargePoint:
    """A charge point: online (connected, heard from a minute ago) or offline (disconnected an hour ago).

    `statuses`: {(evse id, connector id): current status}; `open_transaction_on`: an EVSE with an open transaction.
    """
    now = timezone.now()
    cp = ChargePoint.objects.create(
        id=charge_point_id,
        ocpp_version=version,
        vendor=vendor,
        model=model,
        serial_number=serial_number,
        connected=online,
        last_seen=last_seen or (now - timedelta(minutes=1) if online else now - timedelta(hours=1)),
    )
    for (evse_id, connector_id), status in (statuses or {}).items():
        Connector.objects.create(charge_point=cp, evse_id=evse_id, connector_id=connector_id, status=status, error_code="NoError")
    if open_transaction_on is not None:
        Transaction.objects.create(
            charge_point=cp,
            evse_id=open_transaction_on,
            connector_id=1,
            station_transaction_id=f"tx-{charge_point_id}",
            start_timestamp=now,
        )
    return cp


def many_charge_points(count: int, *, prefix: str = "CP-") -> None:
    """`count` charge points with two 1.6 connectors each, every tenth offline, every seventh Faulted, in three bulk inserts."""
    now = timezone.now()
    cps = [
        ChargePoint(
            id=f"{prefix}{n:05d}",
            ocpp_version="1.6" if n % 3 else "2.0.1",
            vendor="Acme" if n % 2 else "Volt",
            model="AC22",
            serial_number=f"SN{n:05d}",
            connected=n % 10 != 0,
            last_seen=now - timedelta(seconds=n % 300),
        )
        for n in range(count)
    ]
    ChargePoint.objects.bulk_create(cps, batch_size=1000)
    connectors = [
        Connector(
            charge_point_id=cp.id,
            evse_id=c,
            connector_id=c,
            status="Faulted" if (n % 7 == 0 and c == 2) else ("Charging" if n % 5 == 0 and c == 1 else "Available"),
        )
        for n, cp in enumerate(cps)
        for c in (1, 2)
    ]
    Connector.objects.bulk_create(connectors, batch_size=1000)
