"""Reads about charge points."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from .models import ChargePoint, Connector


def charge_point_list() -> QuerySet[ChargePoint]:
    """Charge points with their connectors prefetched (one extra query for the whole page)."""
    return ChargePoint.objects.prefetch_related(
        Prefetch("connectors", queryset=Connector.objects.order_by("connector_id"))
    )


def charge_point_is_registered(charge_point_id: str) -> bool:
    return ChargePoint.objects.filter(pk=charge_point_id).exists()
