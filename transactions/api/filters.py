"""Query parameters of the transaction, id tag and meter value lists (django-filter FilterSets, documented in the OpenAPI schema).

Each parameter narrows the list, all given must hold; an invalid value is a
400 naming the parameter. Date ranges are half-open: `…since` inclusive, `…until` exclusive.
"""

from __future__ import annotations

import django_filters

from csms.filters import CaseInsensitiveChoiceFilter
from transactions import selectors
from transactions.models import AuthorizationStatus, IdTag, MeterValue, Transaction, TransactionStatus


class TransactionFilterSet(django_filters.FilterSet):
    """Filters of GET /api/v1/transactions/ (and its CSV export)."""

    charge_point = django_filters.CharFilter(field_name="charge_point_id", help_text="Exact charge point identity.")
    evse_id = django_filters.NumberFilter(help_text="OCPP 2.0.1 EVSE, or the 1.6 connector.", min_value=0)
    connector_id = django_filters.NumberFilter(help_text="1.6 connectorId, or the connector of the 2.0.1 EVSE.", min_value=0)
    id_tag = django_filters.CharFilter(help_text="Exact id tag (2.0.1 idToken) that started it.")
    status = CaseInsensitiveChoiceFilter(
        choices=TransactionStatus.choices,
        method="filter_status",
        help_text="active: not stopped; completed: stopped (orphans included); orphan: a stop for an id this system never issued.",
    )
    since = django_filters.IsoDateTimeFilter(
        field_name="start_timestamp", lookup_expr="gte", help_text="Started at or after this ISO 8601 time."
    )
    until = django_filters.IsoDateTimeFilter(field_name="start_timestamp", lookup_expr="lt", help_text="Started before this ISO 8601 time.")
    stopped_since = django_filters.IsoDateTimeFilter(
        field_name="stop_timestamp", lookup_expr="gte", help_text="Stopped at or after this ISO 8601 time."
    )
    stopped_until = django_filters.IsoDateTimeFilter(
        field_name="stop_timestamp", lookup_expr="lt", help_text="Stopped before this ISO 8601 time."
    )
    energy_wh_min = django_filters.NumberFilter(
        field_name="energy_wh_sort", lookup_expr="gte", help_text="At least this energy delivered, Wh."
    )
    energy_wh_max = django_filters.NumberFilter(
        field_name="energy_wh_sort", lookup_expr="lte", help_text="At most this energy delivered, Wh."
    )

    class Meta:
        model = Transaction
        fields = [
            "charge_point",
            "evse_id",
            "connector_id",
            "id_tag",
            "status",
            "since",
            "until",
            "stopped_since",
            "stopped_until",
            "energy_wh_min",
            "energy_wh_max",
        ]

    def filter_status(self, queryset, name, value):
        return selectors.transactions_filter_status(queryset, status=value) if value else queryset


class IdTagFilterSet(django_filters.FilterSet):
    """Filters of GET /api/v1/id-tags/."""

    status = CaseInsensitiveChoiceFilter(
        choices=AuthorizationStatus.choices, help_text="Stored status (Accepted, Blocked, Expired, Invalid, ConcurrentTx), any case."
    )
    parent = django_filters.CharFilter(field_name="parent__id_tag", help_text="id_tag of the parent (group) id tag.")
    type = django_filters.CharFilter(help_text='OCPP 2.0.1 IdTokenEnumType (ISO14443, eMAID …); "" is not a filter.')

    class Meta:
        model = IdTag
        fields = ["status", "parent", "type"]


class MeterValueFilterSet(django_filters.FilterSet):
    """Filters of a charge point's meter values; measurand, phase and context match exactly."""

    measurand = django_filters.CharFilter(help_text="e.g. Energy.Active.Import.Register.")
    phase = django_filters.CharFilter(help_text="e.g. L1, L1-N.")
    context = django_filters.CharFilter(help_text="e.g. Sample.Periodic, Transaction.End.")
    evse_id = django_filters.NumberFilter(min_value=0, help_text="EVSE (1.6: connector); 0 the main meter.")
    transaction = django_filters.NumberFilter(field_name="transaction_id", min_value=1, help_text="This system's transaction id.")
    since = django_filters.IsoDateTimeFilter(field_name="timestamp", lookup_expr="gte", help_text="Sampled at or after this ISO 8601 time.")
    until = django_filters.IsoDateTimeFilter(field_name="timestamp", lookup_expr="lt", help_text="Sampled before this ISO 8601 time.")

    class Meta:
        model = MeterValue
        fields = ["measurand", "phase", "context", "evse_id", "transaction", "since", "until"]
