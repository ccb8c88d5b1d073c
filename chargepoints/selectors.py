"""Reads about charge points."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet
from ocpp.v201.enums import MutabilityEnumType

from .models import ChargePoint, Connector, Variable


def charge_point_list() -> QuerySet[ChargePoint]:
    """Charge points with their connectors prefetched (one extra query for the whole page)."""
    return ChargePoint.objects.prefetch_related(
        Prefetch("connectors", queryset=Connector.objects.order_by("connector_id"))
    )


def charge_point_is_registered(charge_point_id: str) -> bool:
    return ChargePoint.objects.filter(pk=charge_point_id).exists()


def variables_for(
    charge_point_id: str, *, component: str | None = None, variable: str | None = None
) -> QuerySet[Variable]:
    """The station's OCPP 2.0.1 device model (Part 1 §4): its Variable rows, one per variable attribute.

    `component` and `variable` keep only rows with exactly that name; None or
    "" keeps all. Ordered by the unique key (component name, instance, EVSE,
    connector, variable name, instance, attribute type), a total order, so
    limit/offset pages never overlap. Empty for an unknown or 1.6 charge point.
    """
    qs = Variable.objects.filter(charge_point_id=charge_point_id)
    if component:
        qs = qs.filter(component=component)
    if variable:
        qs = qs.filter(variable=variable)
    return qs.order_by(
        "component", "component_instance", "evse_id", "connector_id", "variable", "variable_instance", "attribute_type"
    )


def charge_point_get(*, charge_point_id: str) -> ChargePoint | None:
    """The charge point of that identity, or None."""
    return ChargePoint.objects.filter(pk=charge_point_id).first()


def variable_is_write_only(*, charge_point_id: str, component: dict, variable: dict, attribute_type: str) -> bool:
    """True when the station reported that attribute (2.0.1 ComponentType, VariableType) WriteOnly."""
    return Variable.objects.filter(
        charge_point_id=charge_point_id,
        **Variable.lookup(component, variable, attribute_type),
        mutability=MutabilityEnumType.write_only,
    ).exists()
