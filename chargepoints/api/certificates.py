"""Certificates the CSMS's CA issued to charge points: GET /api/v1/certificates/.

One row per certificate signed for a charge point's CSR (SignCertificate →
CertificateSigned, 1.6 Security Whitepaper A02/A03, 2.0.1 A02/A03), with what
became of it (issued, installed, rejected, superseded, revoked) and whether
its renewal is due. Read-only; staff only like the rest of the API.
"""

import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, viewsets

from chargepoints import selectors
from chargepoints.models import Certificate
from csms.api import OrderingFilter, StrictQueryParametersMixin


class CertificateFilterSet(django_filters.FilterSet):
    """Query parameters of the list; each narrows it, all together must hold. An invalid value answers 400."""

    charge_point = django_filters.CharFilter(field_name="charge_point_id", help_text="Exact charge point identity.")
    status = django_filters.ChoiceFilter(choices=Certificate.Status.choices, help_text="What became of it.")
    expires_before = django_filters.IsoDateTimeFilter(
        field_name="not_after", lookup_expr="lt", help_text="Only certificates ending before this ISO 8601 time."
    )

    class Meta:
        model = Certificate
        fields = ["charge_point", "status", "expires_before"]


class CertificateOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    charge_point = serializers.CharField(source="charge_point_id")
    kind = serializers.ChoiceField(choices=Certificate.Kind.choices, help_text="ChargePointCertificate or V2GCertificate.")
    status = serializers.ChoiceField(choices=Certificate.Status.choices)
    status_at = serializers.DateTimeField(help_text="When the status was last set.")
    subject = serializers.CharField(help_text='RFC 4514, e.g. "O=Example CPO,CN=CP-1".')
    issuer = serializers.CharField()
    serial_number = serializers.CharField(help_text="Hex, as OCPP's CertificateHashDataType writes it.")
    fingerprint_sha256 = serializers.CharField(help_text="SHA-256 of the DER certificate, 64 hex characters.")
    not_before = serializers.DateTimeField()
    not_after = serializers.DateTimeField()
    renewal_due = serializers.BooleanField(help_text="It ends within OCPP_CERTIFICATE_RENEWAL_DAYS (or has ended).")
    issued_at = serializers.DateTimeField()
    pem = serializers.CharField(help_text="The certificate, PEM.")


class CertificateViewSet(StrictQueryParametersMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """Issued certificates, newest first, paginated (limit/offset); `ordering` over the fields below."""

    serializer_class = CertificateOutputSerializer
    filterset_class = CertificateFilterSet
    filter_backends = [*viewsets.GenericViewSet.filter_backends, OrderingFilter]
    ordering_fields = {
        "id": "id",
        "issued_at": "issued_at",
        "not_after": "not_after",
        "status": "status",
        "status_at": "status_at",
        "charge_point": "charge_point_id",
    }

    def get_queryset(self):
        return selectors.certificate_list()

    @extend_schema(summary="List issued certificates", tags=["certificates"])
    def list(self, request, *args, **kwargs):
        """Certificates the CA issued to charge points, newest first; filter by charge_point, status, expires_before; `ordering`."""
        return super().list(request, *args, **kwargs)
