"""Query parameters of the charge point and command lists (django-filter FilterSets, documented in the OpenAPI schema).

Each parameter narrows the list, all given must hold; an invalid value is a
400 naming the parameter.
"""

from __future__ import annotations

import django_filters

from chargepoints import selectors
from chargepoints.models import ChargePoint, Command, CommandSource, CommandStatus, OcppVersion, RegistrationStatus
from csms.filters import CaseInsensitiveChoiceFilter


class ChargePointFilterSet(django_filters.FilterSet):
    """Filters of GET /api/v1/chargepoints/."""

    online = django_filters.BooleanFilter(
        method="filter_online",
        help_text="true: connected, its server process alive and heard from within two heartbeat intervals plus a minute; false: the others.",
    )
    status = django_filters.CharFilter(
        method="filter_status",
        help_text="Has a connector (EVSE 0 included) whose last StatusNotification reported this status, e.g. Faulted, Available.",
    )
    ocpp_version = django_filters.ChoiceFilter(choices=OcppVersion.choices, help_text="OCPP version of its last connection.")
    registration_status = CaseInsensitiveChoiceFilter(
        choices=RegistrationStatus.choices, help_text="What its next BootNotification is answered: Accepted, Pending or Rejected."
    )

    class Meta:
        model = ChargePoint
        fields = ["online", "status", "ocpp_version", "registration_status"]

    def filter_online(self, queryset, name, value):
        return queryset if value is None else selectors.charge_points_filter_online(queryset, online=value)

    def filter_status(self, queryset, name, value):
        return selectors.charge_points_filter_connector_status(queryset, status=value) if value else queryset


class CommandFilterSet(django_filters.FilterSet):
    """Filters of GET /api/v1/commands/."""

    charge_point = django_filters.CharFilter(field_name="charge_point_id", help_text="Exact charge point identity.")
    action = django_filters.CharFilter(help_text="Exact OCPP action, e.g. RemoteStartTransaction.")
    status = CaseInsensitiveChoiceFilter(
        choices=CommandStatus.choices,
        help_text="Its value or its label as the admin shows it, any case: answered or Answered, timeout or Timed out …",
    )
    source = CaseInsensitiveChoiceFilter(choices=CommandSource.choices, help_text="Which door it came through: admin, api, cli or system.")
    user = django_filters.CharFilter(field_name="user__username", help_text="Username of who sent it.")
    since = django_filters.IsoDateTimeFilter(
        field_name="created_at", lookup_expr="gte", help_text="Created at or after this ISO 8601 time."
    )
    until = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt", help_text="Created before this ISO 8601 time.")

    class Meta:
        model = Command
        fields = ["charge_point", "action", "status", "source", "user", "since", "until"]
