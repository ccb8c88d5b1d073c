"""Security events: GET /api/v1/security-events/.

What charge points report (OCPP 2.0.1 A04, the 1.6 Security Whitepaper's
SecurityEventNotification) and what this system noticed about them (failed
authentication, security profile downgrades …), for integrators' security
monitoring. Read-only; needs the permission to view security events.
"""

import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, viewsets

from chargepoints import selectors
from chargepoints.models import SecurityEvent
from csms.api import OrderingFilter, StrictQueryParametersMixin


class SecurityEventFilterSet(django_filters.FilterSet):
    """Query parameters of the list; each narrows it, all together must hold. An invalid value answers 400."""

    charge_point = django_filters.CharFilter(field_name="charge_point_id", help_text="Exact charge point identity.")
    type = django_filters.CharFilter(
        help_text="Exact event type: the spec's name for station-reported events (FirmwareUpdated, "
        "InvalidCentralSystemCertificate …) or one of AuthenticationFailed, SecurityProfileDowngrade, SessionTakeover, PasswordChanged."
    )
    source = django_filters.ChoiceFilter(choices=SecurityEvent.Source.choices, help_text="Who reported it: station or csms.")
    since = django_filters.IsoDateTimeFilter(
        field_name="received_at",
        lookup_expr="gte",
        help_text="Only events received at or after this ISO 8601 time. Received, not reported: "
        "a station's clock may be wrong and its queued events arrive late, so polling with the last received_at misses none.",
    )

    class Meta:
        model = SecurityEvent
        fields = ["charge_point", "type", "source", "since"]


class SecurityEventOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    charge_point = serializers.CharField(source="charge_point_id", help_text="Identity; possibly not a registered charge point.")
    type = serializers.CharField()
    source = serializers.ChoiceField(choices=SecurityEvent.Source.choices)
    tech_info = serializers.CharField(help_text="Free text from the station or the CSMS; empty when none.")
    source_address = serializers.IPAddressField(allow_null=True, help_text="Client IP address, for events the CSMS noticed.")
    timestamp = serializers.DateTimeField(help_text="When the event happened, by the reporter's clock.")
    received_at = serializers.DateTimeField(help_text="When this system stored it.")


class SecurityEventViewSet(StrictQueryParametersMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """Security events, newest received first, paginated (limit/offset); `ordering` over the fields below."""

    serializer_class = SecurityEventOutputSerializer
    filterset_class = SecurityEventFilterSet
    filter_backends = [*viewsets.GenericViewSet.filter_backends, OrderingFilter]
    ordering_fields = {
        "id": "id",
        "received_at": "received_at",
        "timestamp": "timestamp",
        "type": "type",
        "charge_point": "charge_point_id",
    }

    def get_queryset(self):
        return selectors.security_event_list()

    @extend_schema(summary="List security events", tags=["security events"])
    def list(self, request, *args, **kwargs):
        """Security events of all charge points, newest received first; filter by charge_point, type, source, since; `ordering`."""
        return super().list(request, *args, **kwargs)
