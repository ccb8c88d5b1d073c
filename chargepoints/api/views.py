"""Charge point endpoints: /api/v1/chargepoints/, /api/v1/chargepoints/<identity>/ and its variables/.

Thin views: input serializers validate, `chargepoints.services` writes,
`chargepoints.selectors` reads, output serializers shape the JSON.
Permissions are the project default, model permissions (csms/permissions.py), with
the declarations of `action_permissions` for the actions whose method says nothing.
"""

from django.core.exceptions import ValidationError as DjangoValidationError
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.fields import get_error_detail
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response

from chargepoints import selectors, services
from chargepoints.models import ChargePoint
from chargepoints.permissions import SET_PASSWORD
from csms.api import OrderingFilter, StrictQueryParametersMixin
from transactions import selectors as transaction_selectors
from transactions.api.filters import MeterValueFilterSet
from transactions.api.serializers import MeterValueOutputSerializer
from transactions.models import MeterValue

from .filters import ChargePointFilterSet
from .serializers import (
    ChargePointCreateInputSerializer,
    ChargePointDetailOutputSerializer,
    ChargePointListOutputSerializer,
    ChargePointUpdateInputSerializer,
    PasswordInputSerializer,
    PasswordOutputSerializer,
    VariableFilterInputSerializer,
    VariableOutputSerializer,
)

# OCPP identifierString (chargepoints.models.IDENTITY_RE) without the anchors.
IDENTITY_URL_RE = r"[A-Za-z0-9*\-_=:+|@.]{1,48}"


class ChargePointViewSet(StrictQueryParametersMixin, viewsets.GenericViewSet):
    """Charge points: list, register, retrieve, change description, delete.

    The URL identifies a charge point by its OCPP identity, which may hold
    `*=:+|@.`; clients may send those as they are or percent-encoded.
    """

    queryset = ChargePoint.objects.none()  # for the schema's path parameter type; reads use selectors
    lookup_field = "id"
    lookup_value_regex = IDENTITY_URL_RE
    action_permissions = {
        "password": SET_PASSWORD,
        "variables": ["chargepoints.view_chargepoint", "chargepoints.view_variable"],
        "meter_values": ["chargepoints.view_chargepoint", "transactions.view_metervalue"],
    }
    # The browsable API (?format=api) renders forms from these; the actions still validate with their own input serializers.
    serializer_class = ChargePointDetailOutputSerializer
    filterset_class = ChargePointFilterSet
    filter_backends = [*viewsets.GenericViewSet.filter_backends, OrderingFilter]
    ordering_fields = ["id", "last_seen", "created_at", "ocpp_version", "registration_status"]
    ordering = ["id"]
    extra_query_parameters = {
        "variables": ("component", "variable", "limit", "offset"),
        "meter_values": (*MeterValueFilterSet.base_filters, "limit", "offset"),
    }

    def get_queryset(self):
        if self.action == "meter_values":
            return transaction_selectors.meter_values_of_charge_point(charge_point_id=self.kwargs.get("id", ""))
        return selectors.charge_point_list()

    def get_serializer_class(self):
        return {
            "list": ChargePointListOutputSerializer,
            "create": ChargePointCreateInputSerializer,
            "partial_update": ChargePointUpdateInputSerializer,
            "password": PasswordInputSerializer,
            "variables": VariableOutputSerializer,
            "meter_values": MeterValueOutputSerializer,
        }.get(self.action, ChargePointDetailOutputSerializer)

    def get_object(self) -> ChargePoint:
        cp = get_object_or_404(self.get_queryset(), pk=self.kwargs["id"])
        self.check_object_permissions(self.request, cp)
        return cp

    @extend_schema(responses=ChargePointListOutputSerializer)
    def list(self, request):
        """Charge points ordered by identity (or `ordering`), with their connectors, paginated (limit/offset).

        Filters: `online`, `status` (has a connector in that status), `ocpp_version`, `registration_status`.
        """
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(ChargePointListOutputSerializer(page, many=True).data)

    @extend_schema(
        request=ChargePointCreateInputSerializer,
        responses={
            201: ChargePointDetailOutputSerializer,
            400: OpenApiResponse(description="Invalid identity, or identity already registered."),
        },
    )
    def create(self, request):
        """Register a charge point: 201 with the charge point, 400 naming the field on invalid or taken `id`."""
        serializer = ChargePointCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            cp = services.charge_point_create(charge_point_id=data["id"], description=data["description"])
        except services.ChargePointAlreadyExists:
            raise ValidationError({"id": [f"A charge point with identity {data['id']!r} is already registered."]}) from None
        except DjangoValidationError as exc:
            raise ValidationError(get_error_detail(exc)) from None
        return Response(ChargePointDetailOutputSerializer(self._reload(cp)).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=ChargePointDetailOutputSerializer)
    def retrieve(self, request, id=None):
        """One charge point with its boot-reported fields, firmware/diagnostics status and connectors."""
        return Response(ChargePointDetailOutputSerializer(self.get_object()).data)

    @extend_schema(request=ChargePointUpdateInputSerializer, responses=ChargePointDetailOutputSerializer)
    def partial_update(self, request, id=None):
        """Change the description, the registration status and/or the security profile; other fields are the charge point's own word.

        The registration status is answered to the charge point's next
        BootNotification (1.6 §4.2, 2.0.1 B01–B03): Accepted, Pending or Rejected.
        """
        cp = self.get_object()
        serializer = ChargePointUpdateInputSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            services.charge_point_update(
                charge_point=cp,
                description=data.get("description"),
                registration_status=data.get("registration_status"),
                **({"security_profile": data["security_profile"]} if "security_profile" in data else {}),
            )
        except DjangoValidationError as exc:
            raise ValidationError(get_error_detail(exc)) from None
        return Response(ChargePointDetailOutputSerializer(self._reload(cp)).data)

    @extend_schema(
        request=PasswordInputSerializer,
        responses={
            200: PasswordOutputSerializer,
            400: OpenApiResponse(description="A password of the wrong shape."),
            404: OpenApiResponse(description="Unknown charge point."),
        },
    )
    @action(detail=True, methods=["post"], url_path="password")
    def password(self, request, id=None):
        """Set the charge point's Basic-auth password (security profiles 1 and 2) and return it, this once.

        Body: {"password"?: 16 to 40 printable ASCII characters}; left out, one is generated (40 hex
        characters, a valid 1.6 AuthorizationKey and 2.0.1 BasicAuthPassword). Only its hash is kept; the
        charge point must be given the same password. To change the password of a connected charge
        point without locking it out, use the change-password operation instead.
        """
        cp = self.get_object()
        serializer = PasswordInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            password = services.charge_point_password_set(charge_point_id=cp.pk, password=serializer.validated_data.get("password"))
        except ValueError as exc:
            raise ValidationError({"password": [str(exc)]}) from None
        return Response(PasswordOutputSerializer({"password": password}).data)

    @extend_schema(
        parameters=[VariableFilterInputSerializer],
        responses={200: VariableOutputSerializer(many=True), 404: OpenApiResponse(description="Unknown charge point.")},
    )
    @action(detail=True, methods=["get"], url_path="variables")
    def variables(self, request, id=None):
        """The station's OCPP 2.0.1 device model, one entry per variable attribute, paginated (limit/offset).

        Ordered by component (name, instance, EVSE, connector), variable (name,
        instance) and attribute type. Query parameters `component` and
        `variable` keep only exact names. Empty for a 1.6 charge point: its
        configuration keys are not part of a device model.
        """
        if not selectors.charge_point_is_registered(id):
            raise NotFound(f"No charge point {id!r}.")
        filters = VariableFilterInputSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        page = self.paginate_queryset(selectors.variables_for(id, **filters.validated_data))
        return self.get_paginated_response(VariableOutputSerializer(page, many=True).data)

    @extend_schema(
        responses={
            204: OpenApiResponse(description="Deleted, with its connectors, status history and meter values."),
            409: OpenApiResponse(description="The charge point has transactions, which are never deleted."),
        }
    )
    def destroy(self, request, id=None):
        """Delete a charge point; 409 Conflict while it has transactions."""
        cp = self.get_object()
        try:
            services.charge_point_delete(charge_point=cp)
        except services.ChargePointInUse as exc:
            count = exc.args[1]
            has = f"has {count} transaction{'s' if count != 1 else ''}" if count else "has transactions"
            return Response(
                {
                    "detail": f"Charge point {cp.pk!r} {has}; transactions are kept as billing records, "
                    "so the charge point cannot be deleted."
                },
                status=status.HTTP_409_CONFLICT,
            )
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        filters=True,
        responses={200: MeterValueOutputSerializer(many=True), 404: OpenApiResponse(description="Unknown charge point.")},
    )
    @action(
        detail=True,
        methods=["get"],
        url_path="meter-values",
        filterset_class=MeterValueFilterSet,
        filter_backends=[DjangoFilterBackend],
        queryset=MeterValue.objects.none(),  # the schema reads the model of its filters here
    )
    def meter_values(self, request, id=None):
        """Every sampled value the charge point sent, in or out of transactions, oldest first, paginated (limit/offset).

        Filters: measurand, phase, context, evse_id, transaction, since
        (inclusive) / until (exclusive) on the sample's timestamp.
        """
        if not selectors.charge_point_is_registered(id):
            raise NotFound(f"No charge point {id!r}.")
        qs = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(MeterValueOutputSerializer(page, many=True).data)

    def _reload(self, cp: ChargePoint) -> ChargePoint:
        # Read back through the selector so the answer has its connectors.
        return self.get_queryset().get(pk=cp.pk)
