"""Transaction and id tag endpoints: /api/v1/transactions/ (read-only) and /api/v1/id-tags/ (CRUD).

Thin views: input serializers validate, `transactions.services` writes,
`transactions.selectors` reads, output serializers shape the JSON.
Permissions are the project default, model permissions (csms/permissions.py), with
the declarations of `action_permissions` for the actions whose method says nothing.
"""

import csv
import io
from contextlib import contextmanager

import django_filters
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import StreamingHttpResponse
from django.utils import timezone
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, NotFound, PermissionDenied, ValidationError
from rest_framework.fields import get_error_detail
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework_csv.parsers import CSVParser

from csms.api import OrderingFilter, StrictQueryParametersMixin
from csms.readonly import read_only_viewset
from transactions import selectors, services
from transactions.export import TransactionCSVRenderer, transactions_csv
from transactions.models import IdTag, Reservation, ReservationStatus, Transaction

from .filters import IdTagFilterSet, TransactionFilterSet
from .serializers import (
    MAX_IMPORT_ROWS,
    IdTagImportOutputSerializer,
    IdTagImportRowSerializer,
    IdTagInputSerializer,
    IdTagOutputSerializer,
    MeterValueFilterInputSerializer,
    MeterValueOutputSerializer,
    TransactionCloseInputSerializer,
    TransactionDetailOutputSerializer,
    TransactionOutputSerializer,
)


class TransactionAlreadyEndedError(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "transaction_ended"


class TransactionViewSet(StrictQueryParametersMixin, viewsets.GenericViewSet):
    """Transactions, newest first; charge points start and stop them, operators may close one (close/)."""

    queryset = Transaction.objects.none()  # for the schema's path parameter type; reads use selectors
    serializer_class = TransactionOutputSerializer  # what the browsable API shows; actions name their own
    lookup_field = "id"
    # Bounded so an over-long number is a 404, not an integer overflow in the database.
    lookup_value_regex = r"[0-9]{1,18}"
    action_permissions = {
        "meter_values": ["transactions.view_transaction", "transactions.view_metervalue"],
        "close": ["transactions.change_transaction"],
    }
    filterset_class = TransactionFilterSet
    filter_backends = [DjangoFilterBackend, OrderingFilter]
    ordering_fields = {
        "id": "id",
        "start_timestamp": "start_timestamp",
        "stop_timestamp": "stop_timestamp",
        "charge_point": "charge_point_id",
        "energy_wh": "energy_wh_sort",
    }
    extra_query_parameters = {"meter_values": ("measurand", "phase", "context", "since", "until", "limit", "offset")}

    def get_queryset(self):
        return selectors.transaction_list()

    def get_renderers(self):
        # CSV is an export of the list; one transaction or its meter values have no CSV shape.
        renderers = super().get_renderers()
        return [*renderers, TransactionCSVRenderer()] if self.action == "list" else renderers

    @extend_schema(
        responses={
            (200, "application/json"): TransactionOutputSerializer(many=True),
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR, description="One line per session, all pages (no limit/offset); see transactions/export.py."
            ),
        }
    )
    def list(self, request):
        """Transactions, newest first (or `ordering`), paginated (limit/offset); `?format=csv` exports them all as CSV.

        Filters: charge_point, evse_id, connector_id, id_tag, status (active,
        completed, orphan), since/until (start time), stopped_since/stopped_until,
        energy_wh_min/energy_wh_max; invalid values answer 400 naming the parameter.
        The CSV (one line per session: charge point, EVSE/connector, id tag,
        start, stop, duration, energy in kWh, stop reason) is streamed.
        """
        qs = self.filter_queryset(self.get_queryset())
        if getattr(request.accepted_renderer, "format", None) == "csv":
            response = StreamingHttpResponse(transactions_csv(qs), content_type="text/csv; charset=utf-8")
            response["Content-Disposition"] = f'attachment; filename="transactions-{timezone.now():%Y%m%d-%H%M%S}.csv"'
            return response
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(TransactionOutputSerializer(page, many=True).data)

    @extend_schema(
        parameters=[OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH, description="transactionId")],
        responses=TransactionDetailOutputSerializer,
    )
    def retrieve(self, request, id=None):
        """One transaction with its meter value count and latest meter values; all of them at meter-values/."""
        tx = selectors.transaction_get(transaction_pk=int(id))
        if tx is None:
            raise NotFound(f"No transaction {id}.")
        return Response(TransactionDetailOutputSerializer(tx, context={"request": request}).data)

    @extend_schema(
        parameters=[
            OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH, description="transactionId"),
            MeterValueFilterInputSerializer,
        ],
        responses=MeterValueOutputSerializer(many=True),
    )
    @action(detail=True, methods=["get"], url_path="meter-values")
    def meter_values(self, request, id=None):
        """A transaction's sampled values, oldest first, paginated (limit/offset).

        Query parameters: `measurand`, `phase`, `context` (exact matches) and
        `since` (inclusive) / `until` (exclusive) timestamps; invalid ones
        answer 400 naming the parameter, an unknown transaction 404.
        """
        filters = MeterValueFilterInputSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        if not selectors.transaction_exists(transaction_pk=int(id)):
            raise NotFound(f"No transaction {id}.")
        qs = selectors.meter_value_list(transaction_pk=int(id), **filters.validated_data)
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(MeterValueOutputSerializer(page, many=True).data)

    @extend_schema(
        parameters=[OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH, description="transactionId")],
        request=TransactionCloseInputSerializer,
        responses={
            200: TransactionOutputSerializer,
            403: OpenApiResponse(description="Without the permission to change transactions."),
            404: OpenApiResponse(description="No such transaction."),
            409: OpenApiResponse(description="The transaction has ended already."),
        },
    )
    @action(detail=True, methods=["post"])
    def close(self, request, id=None):
        """End an active transaction by hand, for one its charge point will never stop (rebooted, replaced, lost its queue).

        Body: `reason`, an OCPP stop reason (default Other). The stop time is
        now, the meter stop the last register reading stored (else the meter
        start); the user is recorded (`stopped_by`, `stop_source` operator).
        Nothing is sent to the charge point; a stop it sends later replaces
        these values. Needs the permission to change transactions (403);
        404 for an unknown transaction, 409 when it has ended already.
        """
        if not request.user.has_perm("transactions.change_transaction"):
            raise PermissionDenied("Closing a transaction needs the permission to change transactions.")
        body = TransactionCloseInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            services.transaction_close(transaction_pk=int(id), reason=body.validated_data["reason"], user=request.user)
        except Transaction.DoesNotExist:
            raise NotFound(f"No transaction {id}.") from None
        except services.TransactionAlreadyEnded:
            raise TransactionAlreadyEndedError(f"Transaction {id} has ended already.") from None
        return Response(TransactionOutputSerializer(selectors.transaction_get(transaction_pk=int(id), meter_values_limit=0)).data)


class IdTagViewSet(StrictQueryParametersMixin, viewsets.GenericViewSet):
    """Id tags (OCPP 1.6 idTag, 2.0.1 idToken), addressed by their id_tag string.

    List, create, retrieve, replace, change, delete.
    """

    queryset = IdTag.objects.none()  # for the schema's path parameter type; reads use selectors
    lookup_field = "id_tag"
    # Any id tag the input serializer accepts (no "/", at most 36 characters).
    lookup_value_regex = r"[^/]{1,36}"
    serializer_class = IdTagInputSerializer  # the browsable API's form; answers use IdTagOutputSerializer
    filterset_class = IdTagFilterSet
    filter_backends = [DjangoFilterBackend, OrderingFilter]
    ordering_fields = {
        "id_tag": "id_tag",
        "status": "status",
        "expiry_date": "expiry_date",
        "created_at": "created_at",
        "updated_at": "updated_at",
    }
    parser_classes = [*api_settings.DEFAULT_PARSER_CLASSES, CSVParser]

    def get_queryset(self):
        return selectors.id_tag_list()

    def get_object(self) -> IdTag:
        tag = get_object_or_404(self.get_queryset(), id_tag=self.kwargs["id_tag"])
        self.check_object_permissions(self.request, tag)
        return tag

    @extend_schema(responses=IdTagOutputSerializer)
    def list(self, request):
        """Id tags ordered by id_tag (or `ordering`), paginated (limit/offset); filters: status, parent, type."""
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(IdTagOutputSerializer(page, many=True).data)

    @extend_schema(
        request=IdTagInputSerializer,
        responses={
            201: IdTagOutputSerializer,
            400: OpenApiResponse(description="Invalid or taken id_tag, unknown parent."),
        },
    )
    def create(self, request):
        """Create an id tag: 201 with it, 400 naming the field when invalid or when id_tag is taken."""
        serializer = IdTagInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        with _as_validation_errors():
            tag = services.id_tag_create(**serializer.validated_data)
        return Response(IdTagOutputSerializer(tag).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=IdTagOutputSerializer)
    def retrieve(self, request, id_tag=None):
        """One id tag."""
        return Response(IdTagOutputSerializer(self.get_object()).data)

    @extend_schema(request=IdTagInputSerializer, responses=IdTagOutputSerializer)
    def update(self, request, id_tag=None):
        """Replace an id tag: fields left out take their defaults (Accepted, no type, no expiry, no parent, no note)."""
        return self._update(request, partial=False)

    @extend_schema(request=IdTagInputSerializer, responses=IdTagOutputSerializer)
    def partial_update(self, request, id_tag=None):
        """Change the given fields of an id tag; changing `id_tag` renames it (its URL changes too)."""
        return self._update(request, partial=True)

    @extend_schema(responses={204: OpenApiResponse(description="Deleted; tags it was the parent of lose their parent.")})
    def destroy(self, request, id_tag=None):
        """Delete an id tag. Transactions keep the id tag string they were started with."""
        services.id_tag_delete(tag=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        request={
            "application/json": IdTagImportRowSerializer(many=True),
            "text/csv": OpenApiTypes.STR,
            "multipart/form-data": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}},
        },
        responses={
            200: IdTagImportOutputSerializer,
            400: OpenApiResponse(description="Invalid rows: `errors` lists them by row number (0 is the first); nothing is stored."),
        },
    )
    @action(detail=False, methods=["post"], url_path="import")
    def import_(self, request):
        """Create or update many id tags at once: a JSON list, a text/csv body, or a CSV file uploaded as `file`.

        Each row: id_tag (required), type, status, expiry_date, parent_id_tag,
        note; CSV has a header line with those names. A row whose id_tag exists
        replaces that tag's fields (left-out ones take their defaults); a parent
        may be another row of the same import. All or nothing: one invalid row
        answers 400 with every row's errors and stores none. At most
        MAX_IMPORT_ROWS rows.
        """
        rows = _import_rows(request)
        serializer = IdTagImportRowSerializer(data=rows, many=True, max_length=MAX_IMPORT_ROWS)
        if not serializer.is_valid():
            errors = serializer.errors
            # Row errors come keyed by row number (or, from older DRF, as a list); others (not a list, too long) as they are.
            if isinstance(errors, list):
                errors = {number: error for number, error in enumerate(errors) if error}
            if errors and all(isinstance(key, int) for key in errors):
                raise ValidationError({"errors": errors})
            raise ValidationError(errors)
        try:
            created, updated = services.id_tag_import(rows=serializer.validated_data)
        except services.IdTagImportError as exc:
            raise ValidationError({"errors": exc.errors}) from None
        return Response(IdTagImportOutputSerializer({"created": created, "updated": updated}).data)

    def _update(self, request, *, partial: bool) -> Response:
        tag = self.get_object()
        serializer = IdTagInputSerializer(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        with _as_validation_errors():
            tag = services.id_tag_update(tag=tag, data=serializer.validated_data)
        return Response(IdTagOutputSerializer(tag).data)


ReservationViewSet = read_only_viewset(
    name="Reservation",
    model=Reservation,
    selector=selectors.reservation_list,
    fields=["id", "charge_point", "evse_id", "id_tag", "parent_id_tag", "expiry_date", "status", "transaction", "created_at", "updated_at"],
    time_field="created_at",
    filters={
        "status": django_filters.ChoiceFilter(
            choices=ReservationStatus.choices, help_text="Stored status (an Accepted one past expiry_date is over)."
        ),
        "id_tag": django_filters.CharFilter(help_text="Exact id tag."),
        "evse_id": django_filters.NumberFilter(min_value=0, help_text="EVSE (1.6: connector); 0 any."),
    },
    ordering_fields=["id", "created_at", "expiry_date"],
    tag="reservations",
    description="Reservations (ReserveNow, OCPP 1.6 §5.13, 2.0.1 H01; `id` is the reservationId sent), newest first; "
    "make one with the reserve operation, cancel with cancel-reservation.",
)


def _import_rows(request) -> list:
    """The rows of an import request: the JSON list, the parsed CSV body, or the uploaded CSV `file`."""
    upload = request.FILES.get("file") if hasattr(request, "FILES") and request.content_type.startswith("multipart/") else None
    if upload is not None:
        try:
            text = upload.read().decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ValidationError({"file": ["The file must be CSV in UTF-8."]}) from None
        return list(csv.DictReader(io.StringIO(text)))
    data = request.data
    if not isinstance(data, list):
        raise ValidationError({"non_field_errors": ["Send a JSON list of id tags, a text/csv body, or a CSV file as `file`."]})
    return data


@contextmanager
def _as_validation_errors():
    """Turn the id tag services' errors into DRF ValidationErrors (400 naming the field)."""
    try:
        yield
    except services.IdTagAlreadyExists as exc:
        raise ValidationError({"id_tag": [f"An id tag {exc.args[0]!r} already exists."]}) from None
    except DjangoValidationError as exc:
        raise ValidationError(get_error_detail(exc)) from None
