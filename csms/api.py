"""What every endpoint under /api/ shares: JSON errors, strict pagination, strict query parameters.

- `JSONParser`: a body nested too deep for Python's parser is a 400, not a RecursionError (500).
- `StrictLimitOffsetPagination`: `limit` at most MAX_LIMIT; a `limit` or `offset` that is not a
  whole number (or a negative one) is a 400 naming the parameter, not silently the default.
- `StrictQueryParametersMixin`: a query parameter the view does not know is a 400 naming it, so a
  misspelt filter never answers the whole table.
- `OrderingFilter`: `?ordering=` over named fields only; an unknown one is a 400.
- `exception_handler`: DRF's, plus client mistakes DRF leaves to a 500 (RecursionError from nested input).
- `api_not_found`: the JSON 404 of any path under /api/ no route matches.
"""

from __future__ import annotations

from django.conf import settings
from django.db.models import F
from django.http import HttpResponsePermanentRedirect, JsonResponse
from django.urls import Resolver404, resolve
from rest_framework import exceptions, filters, pagination, parsers

# The most rows one page holds; a client wanting more pages through them.
MAX_LIMIT = 1000


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser; a document nested deeper than the interpreter's recursion limit answers 400."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError("JSON parse error - the document is nested too deeply.") from None


class StrictLimitOffsetPagination(pagination.LimitOffsetPagination):
    """limit/offset paging (default page size PAGE_SIZE, at most MAX_LIMIT rows); invalid values are a 400 naming the parameter."""

    max_limit = MAX_LIMIT

    def get_limit(self, request):
        raw = request.query_params.get(self.limit_query_param)
        if raw is None:
            return self.default_limit
        limit = _whole_number(self.limit_query_param, raw, minimum=1)
        return min(limit, self.max_limit)

    def get_offset(self, request):
        raw = request.query_params.get(self.offset_query_param)
        return 0 if raw is None else _whole_number(self.offset_query_param, raw, minimum=0)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.limit_query_param:
                parameter["schema"].update({"minimum": 1, "maximum": self.max_limit})
                parameter["description"] = f"Number of results to return per page (1 to {self.max_limit}; default {self.default_limit})."
            else:
                parameter["schema"]["minimum"] = 0
        return parameters


def _whole_number(name: str, raw: str, *, minimum: int) -> int:
    """`raw` as an int ≥ `minimum`; ValidationError {name: [...]} (HTTP 400) otherwise."""
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or value < minimum or len(raw) > 18:
        raise exceptions.ValidationError({name: [f"A whole number of at least {minimum} is required."]})
    return value


class StrictQueryParametersMixin:
    """Answer 400 naming any query parameter the view does not take.

    Known: `format`, the view's FilterSet's filters, the ordering parameter
    when the view orders, the paginator's parameters on a list, and
    `extra_query_parameters` (a view attribute, per action name or "*").
    Actions other than `list` that page and filter are named in `list_actions`.
    """

    extra_query_parameters: dict[str, tuple[str, ...]] = {}
    list_actions: tuple[str, ...] = ()

    def known_query_parameters(self) -> set[str]:
        known = {settings.REST_FRAMEWORK.get("URL_FORMAT_OVERRIDE", "format")}
        known.update(self.extra_query_parameters.get("*", ()))
        known.update(self.extra_query_parameters.get(getattr(self, "action", None) or "", ()))
        if getattr(self, "action", None) in ("list", *getattr(self, "list_actions", ())):
            paginator = getattr(self, "paginator", None)
            if paginator is not None:
                known.update({paginator.limit_query_param, paginator.offset_query_param})
            filterset_class = getattr(self, "filterset_class", None)
            if filterset_class is not None:
                known.update(filterset_class.base_filters)
            for backend in getattr(self, "filter_backends", ()):
                if hasattr(backend, "ordering_param") and getattr(self, "ordering_fields", None):
                    known.add(backend.ordering_param)
        return known

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        unknown = sorted(set(request.query_params) - self.known_query_parameters())
        if unknown:
            known = ", ".join(sorted(self.known_query_parameters()))
            raise exceptions.ValidationError({name: [f"Unknown query parameter; this endpoint takes: {known}."] for name in unknown})


class OrderingFilter(filters.OrderingFilter):
    """`?ordering=a,-b` over the view's `ordering_fields` only: a list of names, or {name: ORM expression}.

    An unknown name is a 400 naming `ordering` and the names it takes
    (DRF's own filter drops it silently and answers in the default order).
    """

    def _fields(self, view) -> dict[str, str]:
        fields = getattr(view, "ordering_fields", None) or ()
        return dict(fields) if isinstance(fields, dict) else {name: name for name in fields}

    def get_ordering(self, request, queryset, view):
        raw = request.query_params.get(self.ordering_param)
        if raw is None:
            return self.get_default_ordering(view)
        fields = self._fields(view)
        ordering = []
        for term in (part.strip() for part in raw.split(",")):
            name = term.removeprefix("-")
            if name not in fields:
                raise exceptions.ValidationError(
                    {self.ordering_param: [f"Cannot order by {term!r}; use one of: {', '.join(fields)} (- for descending)."]}
                )
            # Unknown values (NULL) last either way, as SQLite and PostgreSQL would otherwise disagree.
            expression = F(fields[name])
            ordering.append(expression.desc(nulls_last=True) if term.startswith("-") else expression.asc(nulls_last=True))
        # The primary key last, so equal values page in a stable order.
        return [*ordering, "-pk"]

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        names = ", ".join(self._fields(view))
        for parameter in parameters:
            parameter["description"] = f"Comma-separated fields to order by, - for descending: {names}."
        return parameters


def exception_handler(exc, context):
    """DRF's exception handler; a RecursionError (input nested too deep for a serializer) is a 400 too."""
    # Imported here: rest_framework.views reads DEFAULT_PARSER_CLASSES, which names this module.
    from rest_framework.views import exception_handler as drf_exception_handler

    if isinstance(exc, RecursionError):
        exc = exceptions.ParseError("The input is nested too deeply.")
    return drf_exception_handler(exc, context)


def api_not_found(request, *args, **kwargs):
    """A path under /api/ that no route matches: 404 {"detail"} as JSON (or, like APPEND_SLASH, a 301 to the path with its slash)."""
    if settings.APPEND_SLASH and not request.path_info.endswith("/") and request.method in ("GET", "HEAD"):
        try:
            match = resolve(request.path_info + "/")
        except Resolver404:
            match = None
        if match is not None and match.func is not api_not_found:
            return HttpResponsePermanentRedirect(request.get_full_path(force_append_slash=True))
    body = {"detail": f"No endpoint {request.path!r}; the API is described at /api/schema/ and /api/docs/."}
    return JsonResponse(body, status=404, json_dumps_params={"ensure_ascii": False})
