"""Transaction and id tag endpoints: /api/v1/transactions/ (read-only) and /api/v1/id-tags/ (CRUD).

Thin views: input serializers validate, `transactions.services` writes,
`transactions.selectors` reads, output serializers shape the JSON.
Authentication and permissions are the project defaults (staff only).
"""

from contextlib import contextmanager

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.fields import get_error_detail
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response

from transactions import selectors, services
from transactions.models import IdTag, Transaction

from .serializers import (
    IdTagInputSerializer,
    IdTagOutputSerializer,
    MeterValueFilterInputSerializer,
    MeterValueOutputSerializer,
    TransactionDetailOutputSerializer,
    TransactionFilterInputSerializer,
    TransactionOutputSerializer,
)


class TransactionViewSet(viewsets.GenericViewSet):
    """Transactions, newest first; read-only (charge points start and stop them)."""

    queryset = Transaction.objects.none()  # for the schema's path parameter type; reads use selectors
    lookup_field = "id"
    # Bounded so an over-long number is a 404, not an integer overflow in the database.
    lookup_value_regex = r"[0-9]{1,18}"

    @extend_schema(parameters=[TransactionFilterInputSerializer], responses=TransactionOutputSerializer)
    def list(self, request):
        """Transactions, newest first, paginated (limit/offset).

        Query parameters: `charge_point` (identity) and `status` (active or
        completed); an invalid `status` answers 400 naming the parameter.
        """
        filters = TransactionFilterInputSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        qs = selectors.transaction_list(
            charge_point_id=filters.validated_data.get("charge_point"),
            status=filters.validated_data.get("status"),
        ).order_by("-id")
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


class IdTagViewSet(viewsets.GenericViewSet):
    """Id tags (OCPP 1.6 idTag, 2.0.1 idToken), addressed by their id_tag string.

    List, create, retrieve, replace, change, delete.
    """

    queryset = IdTag.objects.none()  # for the schema's path parameter type; reads use selectors
    lookup_field = "id_tag"
    # Any id tag the input serializer accepts (no "/", at most 36 characters).
    lookup_value_regex = r"[^/]{1,36}"

    def get_queryset(self):
        return selectors.id_tag_list()

    def get_object(self) -> IdTag:
        tag = get_object_or_404(self.get_queryset(), id_tag=self.kwargs["id_tag"])
        self.check_object_permissions(self.request, tag)
        return tag

    @extend_schema(responses=IdTagOutputSerializer)
    def list(self, request):
        """Id tags ordered by id_tag, paginated (limit/offset)."""
        page = self.paginate_queryset(self.get_queryset())
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

    def _update(self, request, *, partial: bool) -> Response:
        tag = self.get_object()
        serializer = IdTagInputSerializer(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        with _as_validation_errors():
            tag = services.id_tag_update(tag=tag, data=serializer.validated_data)
        return Response(IdTagOutputSerializer(tag).data)


@contextmanager
def _as_validation_errors():
    """Turn the id tag services' errors into DRF ValidationErrors (400 naming the field)."""
    try:
        yield
    except services.IdTagAlreadyExists as exc:
        raise ValidationError({"id_tag": [f"An id tag {exc.args[0]!r} already exists."]}) from None
    except DjangoValidationError as exc:
        raise ValidationError(get_error_detail(exc)) from None
