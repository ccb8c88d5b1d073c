"""Reads about charge points."""

from __future__ import annotations

from django.db.models import Prefetch, Q, QuerySet
from ocpp.v201.enums import MutabilityEnumType

from .models import ChargePoint, Connector, SecurityEvent, Variable


def charge_point_list() -> QuerySet[ChargePoint]:
    """Charge points with their connectors prefetched (one extra query for the whole page)."""
    return ChargePoint.objects.prefetch_related(Prefetch("connectors", queryset=Connector.objects.order_by("connector_id")))


def charge_point_is_registered(charge_point_id: str) -> bool:
    return ChargePoint.objects.filter(pk=charge_point_id).exists()


def variables_for(charge_point_id: str, *, component: str | None = None, variable: str | None = None) -> QuerySet[Variable]:
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
    return qs.order_by("component", "component_instance", "evse_id", "connector_id", "variable", "variable_instance", "attribute_type")


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


def message_limits(*, charge_point_id: str, action: str) -> tuple[int | None, int | None]:
    """(items, bytes): the most entries and bytes the station takes in one `action` request, None when unknown.

    action: GetVariables, SetVariables or GetReport. Read from the stored
    device model (2.0.1 Part 2 §2, DeviceDataCtrlr), Actual attribute:
    `ItemsPerMessage` / `BytesPerMessage` with variable instance `action`, or,
    as some stations report them, variables named `ItemsPerMessage<action>` /
    `BytesPerMessage<action>`. Names match whatever their case (OCPP's CiString).
    A value that is no whole number above 0 is ignored; when both spellings
    give one, the smaller holds. (None, None) for an unknown or 1.6 charge
    point, or one that never reported them. `chargepoints.ocpp.v201.split`
    explains how bytes are counted.
    """
    rows = Variable.objects.filter(
        Q(variable__iexact="ItemsPerMessage", variable_instance__iexact=action)
        | Q(variable__iexact="BytesPerMessage", variable_instance__iexact=action)
        | Q(variable__iexact=f"ItemsPerMessage{action}")
        | Q(variable__iexact=f"BytesPerMessage{action}"),
        charge_point_id=charge_point_id,
        component__iexact="DeviceDataCtrlr",
        attribute_type="Actual",
    ).values_list("variable", "value")
    limits: dict[str, int] = {}
    for variable, value in rows:
        try:
            number = int(str(value).strip())
        except ValueError:
            continue
        if number < 1:
            continue
        kind = "items" if variable.lower().startswith("items") else "bytes"
        limits[kind] = min(number, limits.get(kind, number))
    return limits.get("items"), limits.get("bytes")


def write_only_variables(*, charge_point_id: str, payload: dict) -> frozenset[tuple]:
    """The `Variable.identity`s of a 2.0.1 SetVariables payload's entries the station reported WriteOnly.

    One query, whatever the number of entries. Any attribute type reported
    WriteOnly counts for every attribute of that variable: when in doubt, hide.
    """
    names = {entry["variable"]["name"] for entry in payload.get("setVariableData", [])}
    if not names:
        return frozenset()
    rows = Variable.objects.filter(charge_point_id=charge_point_id, mutability=MutabilityEnumType.write_only, variable__in=names)
    return frozenset(rows.values_list(*Variable.IDENTITY_FIELDS))


# --- Security events


def security_event_list(*, charge_point_id: str | None = None) -> QuerySet[SecurityEvent]:
    """Security events (station-reported and CSMS-noticed), newest received first; of one identity when given."""
    events = SecurityEvent.objects.order_by("-received_at", "-id")
    return events.filter(charge_point_id=charge_point_id) if charge_point_id is not None else events
