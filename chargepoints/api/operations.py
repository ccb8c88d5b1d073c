"""Version-neutral operation endpoints: one operator action, whichever OCPP version the charge point speaks.

    POST /api/v1/chargepoints/<id>/operations/<operation>/     body: the operation's neutral arguments

<operation> is kebab-case: start-charging, stop-charging, reset, unlock,
change-availability, trigger-message, reserve, cancel-reservation,
set-charging-profile, clear-charging-profile, composite-schedule,
send-local-list, update-firmware, fetch-logs, get-configuration,
change-configuration. The body's fields are snake_case with units in their
names (`duration_s`; limits in the schedule's unit, A or W) and datetimes in
ISO 8601 with an offset. `chargepoints.operations` turns them into the message
of the charge point's version (the table is in its docstring); messages of
one version only stay reachable through `/commands/<Action>/`.

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
from django.utils import timezone
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.plumbing import build_basic_type
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import NotFound, ParseError
from rest_framework.response import Response
from rest_framework.views import APIView

from chargepoints import commands, operations
from chargepoints.models import ChargePoint, CommandSource

from .commands import ERROR, SendCommandView

ID_TOKEN_TYPES = ["Central", "eMAID", "ISO14443", "ISO15693", "KeyCode", "Local", "MacAddress", "NoAuthorization"]
PURPOSE_CHOICES = [operations.STATION_MAX_PROFILE, "ChargePointMaxProfile", "TxDefaultProfile", "TxProfile"]


class EnumField(serializers.ChoiceField):
    """A ChoiceField documented as the named enum component `enum_name` (drf-spectacular names
    enums after the field otherwise, and warns when two fields of one name differ: "type", "purpose")."""

    def __init__(self, *, enum_name: str, **kwargs):
        self.enum_name = enum_name
        super().__init__(**kwargs)


class EnumFieldExtension(OpenApiSerializerFieldExtension):
    target_class = EnumField
    match_subclasses = True

    def get_name(self):
        return self.target.enum_name

    def map_serializer_field(self, auto_schema, direction):
        return {**build_basic_type(OpenApiTypes.STR), "enum": list(self.target.choices)}


def validate_uri(value: str) -> str:
    # The schemas say format "uri"; stations use ftp://, ftps://, http(s):// and vendor
    # schemes alike, so only the shape scheme://rest is checked.
    scheme, sep, rest = value.partition("://")
    if not sep or not scheme or not rest or not scheme.replace("+", "").replace("-", "").replace(".", "").isalnum():
        raise serializers.ValidationError("An absolute URI is needed, e.g. ftp://user:password@host/path/.")
    return value


def evse_field(*, required: bool, whole: bool, help_text: str = "", **kwargs) -> serializers.IntegerField:
    text = "EVSE id (OCPP 1.6: connector id)" + (", 0 for the whole charge point" if whole else "")
    return serializers.IntegerField(
        min_value=0 if whole else 1, required=required, help_text=f"{text}. {help_text}".strip(), **kwargs
    )


def id_tag_field(**kwargs) -> serializers.CharField:
    return serializers.CharField(
        max_length=36,
        trim_whitespace=False,
        help_text="Id tag / idToken; at most 20 characters for an OCPP 1.6 charge point, 36 for 2.0.1.",
        **kwargs,
    )


# --- input serializers: one per operation ------------------------------------------------------


class StopChargingInput(serializers.Serializer):
    transaction = serializers.IntegerField(help_text="The transaction's id in /api/v1/transactions/.")


class ResetInput(serializers.Serializer):
    type = EnumField(
        enum_name="ResetKindEnum",
        choices=["soft", "hard"],
        default="soft",
        help_text="soft: once idle (1.6 Soft, 2.0.1 OnIdle); hard: at once (1.6 Hard, 2.0.1 Immediate).",
    )
    evse_id = evse_field(required=False, whole=False, help_text="Reset one EVSE only (OCPP 2.0.1 only).")


class UnlockInput(serializers.Serializer):
    evse_id = evse_field(required=True, whole=False)
    connector_id = serializers.IntegerField(
        min_value=1, required=False, help_text="Connector of the EVSE (OCPP 2.0.1; default 1)."
    )


class ChangeAvailabilityInput(serializers.Serializer):
    operative = serializers.BooleanField(help_text="true: Operative; false: Inoperative.")
    evse_id = evse_field(required=False, whole=True, default=0)
    connector_id = serializers.IntegerField(
        min_value=1, required=False, help_text="One connector of the EVSE (OCPP 2.0.1)."
    )


class TriggerMessageInput(serializers.Serializer):
    message = EnumField(
        enum_name="TriggeredMessageEnum",
        choices=operations.TRIGGER_MESSAGES + ["LogStatusNotification"],
        help_text="DiagnosticsStatusNotification is sent to 2.0.1 stations as LogStatusNotification "
        "(and LogStatusNotification to 1.6 ones as DiagnosticsStatusNotification).",
    )
    evse_id = evse_field(required=False, whole=True, help_text="For messages about one EVSE.")
    connector_id = serializers.IntegerField(min_value=1, required=False, help_text="OCPP 2.0.1: a connector of the EVSE.")


class ReserveInput(serializers.Serializer):
    id_tag = id_tag_field()
    expiry = serializers.DateTimeField(help_text="When the reservation ends; in the future.")
    evse_id = evse_field(required=False, whole=True, help_text="Empty or 0: any EVSE.")
    parent_id_tag = id_tag_field(required=False, allow_blank=True)

    def validate_expiry(self, value):
        if value <= timezone.now():
            raise serializers.ValidationError("The expiry must be in the future.")
        return value


class CancelReservationInput(serializers.Serializer):
    reservation_id = serializers.IntegerField(help_text="The reservation's id (reserve's details.reservation_id).")


class PeriodInput(serializers.Serializer):
    start_period_s = serializers.IntegerField(min_value=0, help_text="Seconds from the start of the schedule.")
    limit = serializers.DecimalField(
        max_digits=12, decimal_places=1, min_value=0, help_text="In the schedule's unit (A or W), at most one decimal."
    )
    number_phases = serializers.IntegerField(min_value=1, max_value=3, required=False)


class ChargingProfileInput(serializers.Serializer):
    """A charging profile in neutral words: OCPP 1.6 ChargingProfile / 2.0.1 ChargingProfileType."""

    charging_profile_id = serializers.IntegerField(min_value=0)
    stack_level = serializers.IntegerField(min_value=0)
    purpose = EnumField(
        enum_name="ChargingProfilePurposeEnum",
        choices=PURPOSE_CHOICES, help_text="ChargePointMaxProfile is the OCPP 1.6 name of ChargingStationMaxProfile."
    )
    kind = EnumField(enum_name="ChargingProfileKindEnum", choices=list(operations.PROFILE_KINDS))
    recurrency = EnumField(
        enum_name="RecurrencyKindEnum",
        choices=list(operations.RECURRENCY_KINDS), required=False, help_text="Only for Recurring profiles."
    )
    valid_from = serializers.DateTimeField(required=False)
    valid_to = serializers.DateTimeField(required=False)
    transaction = serializers.IntegerField(
        required=False, help_text="Only for a TxProfile: the transaction's id in /api/v1/transactions/."
    )
    charging_rate_unit = EnumField(enum_name="ChargingRateUnitEnum", choices=list(operations.RATE_UNITS))
    periods = PeriodInput(many=True, allow_empty=False)
    duration_s = serializers.IntegerField(min_value=0, required=False)
    start_schedule = serializers.DateTimeField(required=False, help_text="Needed by Absolute and Recurring profiles.")
    min_charging_rate = serializers.DecimalField(max_digits=12, decimal_places=1, min_value=0, required=False)

    def validate(self, data):
        errors = {}
        if data["kind"] == "Recurring" and not data.get("recurrency"):
            errors["recurrency"] = "A Recurring profile needs Daily or Weekly."
        if data["kind"] != "Recurring" and data.get("recurrency"):
            errors["recurrency"] = "Only Recurring profiles have a recurrency."
        if data.get("transaction") is not None and data["purpose"] != "TxProfile":
            errors["transaction"] = "Only a TxProfile names a transaction."
        if data.get("valid_from") and data.get("valid_to") and data["valid_to"] <= data["valid_from"]:
            errors["valid_to"] = "Must be after valid_from."
        starts = [p["start_period_s"] for p in data["periods"]]
        if starts != sorted(set(starts)):
            errors["periods"] = "start_period_s must increase from one period to the next."
        if errors:
            raise serializers.ValidationError(errors)
        return data


class SetChargingProfileInput(ChargingProfileInput):
    evse_id = evse_field(required=True, whole=True)

    def validate(self, data):
        data = super().validate(data)
        if data["purpose"] in (operations.STATION_MAX_PROFILE, "ChargePointMaxProfile") and data["evse_id"] != 0:
            raise serializers.ValidationError({"evse_id": "A ChargingStationMaxProfile can only be set on EVSE 0."})
        if data["purpose"] == "TxProfile" and data["evse_id"] == 0:
            raise serializers.ValidationError({"evse_id": "A TxProfile applies to an EVSE's transaction: pick one above 0."})
        return data


class StartChargingInput(serializers.Serializer):
    id_tag = id_tag_field()
    evse_id = evse_field(required=False, whole=False, help_text="Empty lets the charge point choose.")
    id_token_type = EnumField(
        enum_name="IdTokenTypeEnum",
        choices=ID_TOKEN_TYPES,
        required=False,
        help_text="OCPP 2.0.1 idToken type; default: the id tag's type in /api/v1/id-tags/, else Central.",
    )
    charging_profile = ChargingProfileInput(required=False, help_text="A TxProfile for the transaction.")

    def validate_charging_profile(self, value):
        if value["purpose"] != "TxProfile":
            raise serializers.ValidationError({"purpose": "The profile sent with a start must be a TxProfile."})
        return value


class ClearChargingProfileInput(serializers.Serializer):
    charging_profile_id = serializers.IntegerField(min_value=0, required=False, help_text="Clear this profile only.")
    evse_id = evse_field(required=False, whole=True)
    purpose = EnumField(enum_name="ChargingProfilePurposeEnum", choices=PURPOSE_CHOICES, required=False)
    stack_level = serializers.IntegerField(min_value=0, required=False)

    def validate(self, data):
        if "charging_profile_id" in data and any(k in data for k in ("evse_id", "purpose", "stack_level")):
            raise serializers.ValidationError(
                {"charging_profile_id": "Clear either by id or by evse_id, purpose and stack_level, not both."}
            )
        return data


class CompositeScheduleInput(serializers.Serializer):
    evse_id = evse_field(required=True, whole=True, help_text="0: the charge point's total.")
    duration_s = serializers.IntegerField(min_value=1, help_text="Seconds from now.")
    charging_rate_unit = EnumField(enum_name="ChargingRateUnitEnum", choices=list(operations.RATE_UNITS), required=False)


class SendLocalListInput(serializers.Serializer):
    update_type = EnumField(
        enum_name="LocalListUpdateTypeEnum",
        choices=list(operations.UPDATE_TYPES),
        default="Full",
        help_text="Full: every id tag; Differential: those changed since the last list the charge point accepted.",
    )


class UpdateFirmwareInput(serializers.Serializer):
    location = serializers.CharField(max_length=512, validators=[validate_uri], help_text="URI to download from.")
    retrieve_date = serializers.DateTimeField(help_text="Download from this time on.")
    retries = serializers.IntegerField(min_value=0, required=False)
    retry_interval_s = serializers.IntegerField(min_value=0, required=False)


class FetchLogsInput(serializers.Serializer):
    location = serializers.CharField(max_length=512, validators=[validate_uri], help_text="Directory URI to upload to.")
    retries = serializers.IntegerField(min_value=0, required=False)
    retry_interval_s = serializers.IntegerField(min_value=0, required=False)
    oldest = serializers.DateTimeField(required=False, help_text="Oldest log entry to include.")
    latest = serializers.DateTimeField(required=False, help_text="Newest log entry to include.")

    def validate(self, data):
        if data.get("oldest") and data.get("latest") and data["latest"] <= data["oldest"]:
            raise serializers.ValidationError({"latest": "Must be after oldest."})
        return data


class GetConfigurationInput(serializers.Serializer):
    keys = serializers.ListField(
        child=serializers.CharField(max_length=200),
        required=False,
        help_text="Keys to read; empty or left out: all. OCPP 1.6: configuration keys (HeartbeatInterval); "
        "2.0.1: Component.Variable (OCPPCommCtrlr.HeartbeatInterval), read with GetVariables; all keys "
        "are asked for with GetBaseReport and arrive as NotifyReport.",
    )


class ChangeConfigurationInput(serializers.Serializer):
    key = serializers.CharField(
        max_length=200, help_text="OCPP 1.6: the configuration key; 2.0.1: Component.Variable."
    )
    value = serializers.CharField(
        max_length=1000, allow_blank=True, trim_whitespace=False, help_text="Sent exactly as given."
    )


# name → (input serializer, summary)
INPUTS: dict[str, tuple[type[serializers.Serializer], str]] = {
    "start-charging": (StartChargingInput, "Start charging for an id tag"),
    "stop-charging": (StopChargingInput, "Stop a transaction"),
    "reset": (ResetInput, "Reset the charge point"),
    "unlock": (UnlockInput, "Unlock a connector"),
    "change-availability": (ChangeAvailabilityInput, "Make the charge point, an EVSE or a connector (in)operative"),
    "trigger-message": (TriggerMessageInput, "Have the charge point send a message now"),
    "reserve": (ReserveInput, "Reserve an EVSE for an id tag"),
    "cancel-reservation": (CancelReservationInput, "Cancel a reservation"),
    "set-charging-profile": (SetChargingProfileInput, "Install a charging profile"),
    "clear-charging-profile": (ClearChargingProfileInput, "Clear charging profiles"),
    "composite-schedule": (CompositeScheduleInput, "Read the composite charging schedule"),
    "send-local-list": (SendLocalListInput, "Send the id tags as the local authorization list"),
    "update-firmware": (UpdateFirmwareInput, "Update the firmware"),
    "fetch-logs": (FetchLogsInput, "Have the charge point upload its diagnostics log"),
    "get-configuration": (GetConfigurationInput, "Read configuration"),
    "change-configuration": (ChangeConfigurationInput, "Change one configuration key"),
}
assert set(INPUTS) == set(operations.OPERATIONS)


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
            help_text="What the operation adds: reservation_id, remote_start_id, request_id, configuration, "
            "unknown_keys, skipped_id_tags …"
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


def _first_error(errors, path=()) -> tuple[str, str]:
    """(path "a/b/0/c", message) of the first error in DRF's nested `errors`."""
    if isinstance(errors, dict):
        for key, value in errors.items():
            if value:
                return _first_error(value, path if key == "non_field_errors" else (*path, str(key)))
    if isinstance(errors, list):
        for index, value in enumerate(errors):
            if isinstance(value, (dict, list)):
                if value:
                    return _first_error(value, (*path, str(index)))
            else:
                return "/".join(path), str(value)
    return "/".join(path), str(errors)


def error_response(error: commands.CommandError) -> Response:
    """The raw command endpoint's error body: {"detail", "command_id"?, …details}, with the error's status."""
    body = {"detail": error.message, **error.details}
    if error.command_id is not None:
        body["command_id"] = error.command_id
    return Response(body, status=error.http_status)


class OperationView(APIView):
    """POST /api/v1/chargepoints/<id>/operations/<operation>/: one neutral operation, translated and sent."""

    operation: str = ""

    def post(self, request, charge_point_id: str):
        if not isinstance(request.data, dict):
            raise ParseError("The body must be a JSON object: the operation's arguments.")
        timeout = SendCommandView._timeout(request)
        if not ChargePoint.objects.filter(pk=charge_point_id).exists():
            return error_response(commands.UnknownChargePoint(f"No charge point {charge_point_id!r} is registered"))
        serializer_class, _ = INPUTS[self.operation]
        serializer = serializer_class(data=request.data)
        if not serializer.is_valid():
            field, message = _first_error(serializer.errors)
            return Response(
                {"detail": f"{field}: {message}" if field else message, "field": field, "errors": serializer.errors},
                status=400,
            )
        function = operations.OPERATIONS[self.operation]
        try:
            result = function(
                charge_point_id=charge_point_id,
                **serializer.validated_data,
                source=CommandSource.API,
                user=request.user,
                timeout=timeout,
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


def _description(name: str) -> str:
    messages = operations.MESSAGES[name]
    doc = inspect.cleandoc(operations.OPERATIONS[name].__doc__ or "")
    return (
        f"Sends {messages['1.6']} to an OCPP 1.6 charge point, {messages['2.0.1']} to an OCPP 2.0.1 station, "
        "and returns the answer. What the text below calls `extra[…]` is the answer's `details` "
        "(`status` and `ocpp_version` are top-level).\n\n" + doc
    )


def _view_for(name: str):
    # A function of its own per operation: extend_schema annotates the function object.
    def post(self, request, charge_point_id: str):
        return OperationView.post(self, request, charge_point_id)

    serializer_class, summary = INPUTS[name]
    post = extend_schema(
        operation_id=f"chargepoints_operation_{name.replace('-', '_')}",
        summary=summary,
        description=_description(name),
        request={"application/json": serializer_class},
        parameters=[OpenApiParameter("timeout", OpenApiTypes.FLOAT, description="Seconds to wait for the answer.")],
        responses={
            200: OPERATION_RESULT,
            400: OpenApiResponse(VALIDATION_ERROR, description="Invalid arguments (`field` names the first one)."),
            404: OpenApiResponse(ERROR, description="Unknown charge point."),
            409: OpenApiResponse(ERROR, description="Charge point not connected."),
            429: OpenApiResponse(ERROR, description="Too many commands waiting for this charge point."),
            502: OpenApiResponse(ERROR, description="CALLERROR from the charge point, or an invalid answer."),
            504: OpenApiResponse(ERROR, description="No answer within the timeout."),
        },
        tags=["operations"],
    )(post)
    class_name = "".join(part.title() for part in name.split("-")) + "OperationView"
    return type(class_name, (OperationView,), {"operation": name, "post": post}).as_view()


@extend_schema(exclude=True)
class UnknownOperationView(APIView):
    """Any other operation name: 404 listing the operations there are."""

    def post(self, request, charge_point_id: str, operation: str):
        raise NotFound(f"{operation!r} is not an operation; use one of: " + ", ".join(operations.OPERATIONS))


def operation_urlpatterns(identity_re: str) -> list:
    """One route per operation, so each gets its own request schema."""
    prefix = rf"^chargepoints/(?P<charge_point_id>{identity_re})/operations/"
    return [
        *(
            re_path(rf"{prefix}{name}/$", _view_for(name), name=f"chargepoint-operation-{name}")
            for name in operations.OPERATIONS
        ),
        re_path(rf"{prefix}(?P<operation>[^/]+)/?$", UnknownOperationView.as_view()),
    ]
