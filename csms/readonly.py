"""One pattern for the API's read-only histories (status notifications, boot notifications, reservations …).

`read_only_viewset(...)` builds a list + retrieve viewset from a selector, a
model's field names and its filters: every such list is paginated, filters by
`charge_point` and a half-open time range (`since` inclusive, `until`
exclusive) on its time field, orders by named fields, and refuses unknown
query parameters; the FilterSet and the serializer appear in the OpenAPI
schema like hand-written ones.
"""

from __future__ import annotations

from collections.abc import Callable

import django_filters
from django.db.models import Model, QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, viewsets

from .api import OrderingFilter, StrictQueryParametersMixin


def read_only_viewset(
    *,
    name: str,
    model: type[Model],
    selector: Callable[[], QuerySet],
    fields: list[str],
    filters: dict[str, django_filters.Filter] | None = None,
    time_field: str = "received_at",
    ordering_fields: list[str] | None = None,
    serializer_fields: dict[str, serializers.Field] | None = None,
    tag: str,
    description: str,
) -> type[viewsets.GenericViewSet]:
    """A GET list (paginated, limit/offset) and GET /<pk>/ viewset over `selector()`'s rows.

    name: CamelCase name of the resource, for the classes and the schema's components.
    fields: model fields shown (a `charge_point` field shows the identity);
    `serializer_fields` adds or replaces fields (e.g. nested ones).
    filters: extra django-filter filters by query parameter; `charge_point`,
    `since` and `until` (on `time_field`) are always there.
    ordering_fields: names `?ordering=` takes (default: `time_field` and id).
    tag: the OpenAPI tag; description: what the list is (the operation's description).
    """
    declared = {
        "charge_point": django_filters.CharFilter(field_name="charge_point_id", help_text="Exact charge point identity."),
        "since": django_filters.IsoDateTimeFilter(
            field_name=time_field, lookup_expr="gte", help_text=f"{time_field} at or after this ISO 8601 time."
        ),
        "until": django_filters.IsoDateTimeFilter(
            field_name=time_field, lookup_expr="lt", help_text=f"{time_field} before this ISO 8601 time."
        ),
        **(filters or {}),
    }
    filterset = type(
        f"{name}FilterSet",
        (django_filters.FilterSet,),
        {**declared, "Meta": type("Meta", (), {"model": model, "fields": list(declared)})},
    )
    shown = {"charge_point": serializers.CharField(source="charge_point_id", help_text="Identity of the charge point.")}
    shown.update(serializer_fields or {})
    serializer = type(
        f"{name}Serializer",
        (serializers.ModelSerializer,),
        {**shown, "Meta": type("Meta", (), {"model": model, "fields": fields, "read_only_fields": fields})},
    )

    def get_queryset(self):
        return selector()

    viewset = type(
        f"{name}ViewSet",
        (StrictQueryParametersMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet),
        {
            "__doc__": description,
            "serializer_class": serializer,
            "filterset_class": filterset,
            "filter_backends": [DjangoFilterBackend, OrderingFilter],
            "ordering_fields": ordering_fields or ["id", time_field],
            "queryset": model.objects.none(),  # for the schema's path parameter type; reads use the selector
            "get_queryset": get_queryset,
        },
    )
    return extend_schema_view(
        list=extend_schema(tags=[tag], description=description),
        retrieve=extend_schema(tags=[tag], description=f"One entry of: {description[0].lower()}{description[1:]}"),
    )(viewset)
