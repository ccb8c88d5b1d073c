"""Command endpoints: send an OCPP CALL to a charge point, and read the command log.

    POST /api/v1/chargepoints/<id>/commands/<Action>/   body: the action's payload
    GET  /api/v1/commands/                              ?charge_point=&action=&status=&source=&user=&since=&until=&ordering=
    GET  /api/v1/commands/<pk>/

The POST body is the payload the OCPP 1.6 schema of <Action> describes, in the
spec's camelCase or in snake_case. Answers:

- 200 {"command_id", "charge_point", "action", "response": CALLRESULT payload, "round_trip_ms"}
- 400 invalid payload (`field` names it) or unknown action; 404 unknown charge point;
  409 not connected; 429 its command queue is full; 502 CALLERROR (`error_code`,
  `error_description`, `error_details`) or an answer failing the schema;
  504 no answer within `?timeout=` seconds (default OCPP_COMMAND_TIMEOUT).
"""

from __future__ import annotations

import copy

from django.urls import re_path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, viewsets
from rest_framework.exceptions import NotFound, ParseError
from rest_framework.response import Response
from rest_framework.views import APIView

from chargepoints import commands, ocpp, selectors
from chargepoints.models import Command, CommandSource
from chargepoints.ocpp import rpc
from csms.api import OrderingFilter, StrictQueryParametersMixin
from csms.permissions import SendCommandPermission

from .filters import CommandFilterSet

MAX_TIMEOUT_S = 300


class CommandOutputSerializer(serializers.ModelSerializer):
    """One entry of the command log."""

    charge_point = serializers.CharField(source="charge_point_id")
    user = serializers.CharField(source="user.get_username", allow_null=True, default=None)

    class Meta:
        model = Command
        fields = [
            "id",
            "charge_point",
            "action",
            "payload",
            "unique_id",
            "source",
            "user",
            "status",
            "response",
            "error_code",
            "error_description",
            "error_details",
            "created_at",
            "sent_at",
            "completed_at",
            "round_trip_ms",
        ]


class CommandViewSet(StrictQueryParametersMixin, viewsets.ReadOnlyModelViewSet):
    """The command log: every command sent to a charge point and its outcome, newest first."""

    serializer_class = CommandOutputSerializer
    queryset = Command.objects.none()  # for the schema's path parameter type; reads use selectors
    filterset_class = CommandFilterSet
    filter_backends = [*viewsets.ReadOnlyModelViewSet.filter_backends, OrderingFilter]
    ordering_fields = ["id", "created_at", "completed_at", "round_trip_ms", "action", "status"]

    def get_queryset(self):
        return selectors.command_list()

    def list(self, request, *args, **kwargs):
        """The command log, newest first; filters: charge_point, action, status, source, user, since, until; `ordering`."""
        return super().list(request, *args, **kwargs)


CALL_RESULT = inline_serializer(
    "CommandResult",
    fields={
        "command_id": serializers.IntegerField(),
        "charge_point": serializers.CharField(),
        "action": serializers.CharField(),
        "response": serializers.JSONField(help_text="The CALLRESULT payload, camelCase as the charge point sent it."),
        "round_trip_ms": serializers.IntegerField(allow_null=True),
    },
)
ERROR = inline_serializer(
    "CommandError",
    fields={
        "detail": serializers.CharField(),
        "command_id": serializers.IntegerField(required=False, help_text="Entry in /api/v1/commands/."),
    },
)


class SendCommandView(APIView):
    """POST /api/v1/chargepoints/<id>/commands/<Action>/: send one OCPP CALL and return the answer."""

    permission_classes = [SendCommandPermission]
    action: str = ""

    def post(self, request, charge_point_id: str):
        if not isinstance(request.data, dict):
            raise ParseError("The body must be a JSON object: the action's payload.")
        timeout = timeout_from(request)
        try:
            result = commands.call(
                charge_point_id, self.action, dict(request.data), timeout=timeout, source=CommandSource.API, user=request.user
            )
        except commands.CommandError as error:
            return error_response(error)
        return Response(
            {
                "command_id": result.command_id,
                "charge_point": charge_point_id,
                "action": result.action,
                "response": result.response,
                "round_trip_ms": result.round_trip_ms,
            }
        )


def timeout_from(request) -> float | None:
    """The `?timeout=` seconds (0 < t ≤ 300), None when absent; ParseError (HTTP 400) otherwise."""
    raw = request.query_params.get("timeout")
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = -1
    if not 0 < value <= MAX_TIMEOUT_S:
        raise ParseError(f"timeout: seconds, above 0 and at most {MAX_TIMEOUT_S}")
    return value


def error_response(error: commands.CommandError) -> Response:
    """A CommandError as the API answers it: {"detail", "command_id"?, …details}, with the error's HTTP status."""
    body = {"detail": error.message, **error.details}
    if error.command_id is not None:
        body["command_id"] = error.command_id
    return Response(body, status=error.http_status)


TIMEOUT_PARAMETER = OpenApiParameter("timeout", OpenApiTypes.FLOAT, description="Seconds to wait for the answer.")
# What a command or an operation answers besides 200 and 400, by HTTP status.
ERROR_RESPONSES = {
    404: OpenApiResponse(ERROR, description="Unknown charge point."),
    409: OpenApiResponse(ERROR, description="Charge point not connected."),
    429: OpenApiResponse(ERROR, description="Too many commands waiting for this charge point."),
    502: OpenApiResponse(ERROR, description="CALLERROR from the charge point, or an invalid answer."),
    504: OpenApiResponse(ERROR, description="No answer within the timeout."),
}


# JSON-schema keywords an OpenAPI 3.0 schema object accepts; the official
# schemas also carry $schema, $id, javaType, comment … which it does not.
_OPENAPI_KEYWORDS = {
    "type",
    "properties",
    "required",
    "items",
    "enum",
    "additionalProperties",
    "maxLength",
    "minLength",
    "minimum",
    "maximum",
    "format",
    "description",
    "multipleOf",
    "minItems",
    "maxItems",
    "default",
}


def _to_openapi(node, definitions: dict):
    """Inline `#/definitions/…` references and drop keywords OpenAPI 3.0 does not know."""
    if isinstance(node, list):
        return [_to_openapi(item, definitions) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return _to_openapi(definitions[node["$ref"].rsplit("/", 1)[-1]], definitions)
    out = {}
    for key, value in node.items():
        if key == "properties":
            out[key] = {name: _to_openapi(sub, definitions) for name, sub in value.items()}
        elif key in _OPENAPI_KEYWORDS:
            out[key] = _to_openapi(value, definitions)
    return out


def _openapi_schema(action: str) -> dict:
    """The official JSON schema(s) of `action`'s request as an OpenAPI 3 schema object.

    An action both versions define (Reset, ChangeAvailability …) has a
    payload per version: oneOf the two, the charge point's version decides.
    """
    schemas = []
    for version in reversed(ocpp.VERSIONS):
        if action in commands.actions_for(version):
            raw = copy.deepcopy(rpc.schema_json(version, action + rpc.REQUEST_SUFFIX[version]))
            schema = _to_openapi(raw, raw.get("definitions", {}))
            schema["description"] = f"OCPP {version} {action} request"
            schemas.append(schema)
    return schemas[0] if len(schemas) == 1 else {"oneOf": schemas}


def _view_for(action: str):
    # A function of its own per action: extend_schema annotates the function object.
    def post(self, request, charge_point_id: str):
        return SendCommandView.post(self, request, charge_point_id)

    post = extend_schema(
        operation_id=f"chargepoints_command_{action}",
        summary=f"Send {action}",
        description=(
            f"Send the {action} CALL to the charge point and return its answer. The body follows the "
            "official schema of the charge point's OCPP version (camelCase shown); snake_case keys are accepted too."
        ),
        request={"application/json": _openapi_schema(action)},
        parameters=[TIMEOUT_PARAMETER],
        responses={
            200: CALL_RESULT,
            400: OpenApiResponse(ERROR, description="Invalid payload (`field` names it)."),
            **ERROR_RESPONSES,
        },
        tags=["commands"],
    )(post)
    return type(f"{action}CommandView", (SendCommandView,), {"action": action, "post": post}).as_view()


@extend_schema(exclude=True)
class UnknownCommandView(APIView):
    """Any other action name: 404 listing the operations there are."""

    permission_classes = [SendCommandPermission]

    def post(self, request, charge_point_id: str, action: str):
        raise NotFound(f"{action!r} is not a central system operation; use one of: " + ", ".join(commands.all_actions()))


def command_urlpatterns(identity_re: str) -> list:
    """One route per central-system operation (1.6 and 2.0.1), so each gets its own request schema."""
    prefix = rf"^chargepoints/(?P<charge_point_id>{identity_re})/commands/"
    return [
        *(re_path(rf"{prefix}{action}/$", _view_for(action), name=f"chargepoint-command-{action}") for action in commands.all_actions()),
        re_path(rf"{prefix}(?P<action>[^/]+)/?$", UnknownCommandView.as_view()),
    ]
