"""Version-neutral operation endpoints: one operator action, whichever OCPP version the charge point speaks.

    POST /api/v1/chargepoints/<id>/operations/<operation>/     body: the operation's neutral arguments

One route per operation of `chargepoints.operations.OPERATIONS` (kebab-case:
start-charging, reset …), each documented with its input serializer. The
body's fields are snake_case with units in their names (`duration_s`; limits
in the schedule's unit, A or W) and datetimes in ISO 8601 with an offset.
Messages of one version only stay reachable through `/commands/<Action>/`.

Answers, as the raw command endpoint's:

- 200 {"command_id", "charge_point", "operation", "ocpp_version", "action": the
  OCPP message sent, "status": its answer's status word or null, "response":
  the answer as the station sent it, "round_trip_ms", "details": what the
  operation adds (reservation_id, remote_start_id, request_id, configuration …)}
- 400 invalid arguments (`field` names the argument; `errors` holds them all)
  or a payload the version's schema refuses; 404 unknown charge point or
  operation; 409 not connected; 429 its command queue is full; 502 CALLERROR
  or an answer failing the schema; 504 no answer within `?timeout=` seconds.
"""

from __future__ import annotations

import inspect

from django.urls import re_path
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import NotFound, ParseError
from rest_framework.response import Response
from rest_framework.views import APIView

from chargepoints import commands, operations
from chargepoints.models import CommandSource
from chargepoints.ocpp import v16, v201
from csms.permissions import SendCommandPermission

from .commands import ERROR_RESPONSES, TIMEOUT_PARAMETER, error_response, timeout_from

OPERATION_RESULT = inline_serializer(
    "OperationResult",
    fields={
        "command_id": serializers.IntegerField(help_text="Entry in /api/v1/commands/."),
        "charge_point": serializers.CharField(),
        "operation": serializers.CharField(),
        "ocpp_version": serializers.CharField(help_text="1.6 or 2.0.1: the version the charge point speaks."),
        "action": serializers.CharField(help_text="The OCPP message sent."),
        "status": serializers.CharField(
            allow_null=True, help_text="The answer's status word (Accepted, Rejected …); null for answers without one."
        ),
        "response": serializers.JSONField(help_text="The CALLRESULT payload, camelCase as the charge point sent it."),
        "round_trip_ms": serializers.IntegerField(allow_null=True),
        "details": serializers.JSONField(
            help_text="What the operation adds: reservation_id, remote_start_id, request_id, configuration, unknown_keys, skipped_id_tags …"
        ),
    },
)
VALIDATION_ERROR = inline_serializer(
    "OperationInvalid",
    fields={
        "detail": serializers.CharField(),
        "field": serializers.CharField(help_text="The first invalid argument, as a path (charging_profile/periods/0/limit)."),
        "errors": serializers.JSONField(required=False, help_text="Every invalid argument and why."),
    },
)

_SUMMARY_KEYS = ("operation", "ocpp_version", "status")


class OperationView(APIView):
    """POST /api/v1/chargepoints/<id>/operations/<operation>/: one neutral operation, translated and sent."""

    permission_classes = [SendCommandPermission]
    operation: str = ""

    def post(self, request, charge_point_id: str):
        if not isinstance(request.data, dict):
            raise ParseError("The body must be a JSON object: the operation's arguments.")
        try:
            result = operations.operation_run(
                charge_point_id=charge_point_id,
                name=self.operation,
                arguments=request.data,
                source=CommandSource.API,
                user=request.user,
                timeout=timeout_from(request),
            )
        except commands.CommandError as error:
            return error_response(error)
        return Response(
            {
                "command_id": result.command_id,
                "charge_point": charge_point_id,
                "operation": self.operation,
                "ocpp_version": result.extra.get("ocpp_version"),
                "action": result.action,
                "status": result.extra.get("status"),
                "response": result.response,
                "round_trip_ms": result.round_trip_ms,
                "details": {k: v for k, v in result.extra.items() if k not in _SUMMARY_KEYS},
            }
        )


def _description(operation: operations.Operation) -> str:
    """What the operation sends in each version, then each version's builder's documentation."""
    lines = [
        f"Sends {operation.message(v16.VERSION)} to an OCPP 1.6 charge point, {operation.message(v201.VERSION)} "
        "to an OCPP 2.0.1 station, and returns the answer; `details` holds what the operation adds."
    ]
    for version in (v16.VERSION, v201.VERSION):
        lines.append(f"**OCPP {version}**: " + inspect.cleandoc(operation.builder(version).__doc__ or ""))
    return "\n\n".join(lines)


def _view_for(operation: operations.Operation):
    # A function of its own per operation: extend_schema annotates the function object.
    def post(self, request, charge_point_id: str):
        return OperationView.post(self, request, charge_point_id)

    post = extend_schema(
        operation_id=f"chargepoints_operation_{operation.name.replace('-', '_')}",
        summary=operation.summary,
        description=_description(operation),
        request={"application/json": operation.input},
        parameters=[TIMEOUT_PARAMETER],
        responses={
            200: OPERATION_RESULT,
            400: OpenApiResponse(VALIDATION_ERROR, description="Invalid arguments (`field` names the first one)."),
            **ERROR_RESPONSES,
        },
        tags=["operations"],
    )(post)
    class_name = "".join(part.title() for part in operation.name.split("-")) + "OperationView"
    return type(class_name, (OperationView,), {"operation": operation.name, "post": post}).as_view()


@extend_schema(exclude=True)
class UnknownOperationView(APIView):
    """Any other operation name: 404 listing the operations there are."""

    permission_classes = [SendCommandPermission]

    def post(self, request, charge_point_id: str, operation: str):
        raise NotFound(f"{operation!r} is not an operation; use one of: " + ", ".join(operations.OPERATIONS))


def operation_urlpatterns(identity_re: str) -> list:
    """One route per operation, so each gets its own request schema."""
    prefix = rf"^chargepoints/(?P<charge_point_id>{identity_re})/operations/"
    return [
        *(
            re_path(rf"{prefix}{name}/$", _view_for(operation), name=f"chargepoint-operation-{name}")
            for name, operation in operations.OPERATIONS.items()
        ),
        re_path(rf"{prefix}(?P<operation>[^/]+)/?$", UnknownOperationView.as_view()),
    ]
