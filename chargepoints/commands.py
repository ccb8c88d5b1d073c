"""Call any charge point from any process and get its answer.

    result = commands.call("CP-1", "Reset", {"type": "Soft"}, source="api", user=request.user)
    result.response  # {"status": "Accepted"}

The path (DESIGN.md "Commands out"): the caller validates the payload against
the official schema, logs a `Command` row (`services.command_create`: secrets
such as 1.6 AuthorizationKey are logged as "***", see `chargepoints.redaction`;
the CALL carries the real values), and sends an `ocpp.call` message to
the channel group of the charge point (derived from its identity, trap 3).
The consumer holding the socket — in this process or any other sharing the
Redis channel layer — acknowledges at once, queues the command (one CALL in
flight per charge point, OCPP-J §4.1.1), sends the CALL, waits for the answer
in a task of its own (trap 1), records the outcome on the `Command` row,
applies what follows from it (`chargepoints.results`) and sends the outcome to
the caller's reply channel.

Errors, each a `CommandError` with an HTTP status for the API:
`UnknownChargePoint` 404, `UnknownAction` 400, `InvalidPayload` 400,
`ChargePointOffline` 409, `QueueFull` 429, `CallErrorReceived` 502,
`InvalidResponse` 502, `CommandTimeout` 504.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
from dataclasses import dataclass, field

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.utils import timezone
from ocpp.charge_point import remove_nones, snake_to_camel_case

from . import selectors, services
from .models import ChargePoint, Command, CommandSource, CommandStatus
from .ocpp import rpc, v201_split

# Seconds to wait for the consumer's acknowledgement before calling the
# charge point offline: covers a `connected` flag left by a dead process.
ACK_TIMEOUT_S = 5.0
# Extra seconds the caller waits beyond the timeout for the outcome message.
OUTCOME_GRACE_S = 5.0

# OCPP 1.6 central-system-initiated actions (§5), by feature profile.
ACTIONS = {
    "1.6": (
        # Core
        "ChangeAvailability",
        "ChangeConfiguration",
        "ClearCache",
        "DataTransfer",
        "GetConfiguration",
        "RemoteStartTransaction",
        "RemoteStopTransaction",
        "Reset",
        "UnlockConnector",
        # Firmware Management
        "GetDiagnostics",
        "UpdateFirmware",
        # Local Auth List Management
        "GetLocalListVersion",
        "SendLocalList",
        # Reservation
        "CancelReservation",
        "ReserveNow",
        # Smart Charging
        "ClearChargingProfile",
        "GetCompositeSchedule",
        "SetChargingProfile",
        # Remote Trigger
        "TriggerMessage",
    ),
    # OCPP 2.0.1 CSMS-initiated messages (Part 2), by functional block.
    "2.0.1": (
        "CancelReservation",
        "CertificateSigned",
        "ChangeAvailability",
        "ClearCache",
        "ClearChargingProfile",
        "ClearDisplayMessage",
        "ClearVariableMonitoring",
        "CostUpdated",
        "CustomerInformation",
        "DataTransfer",
        "DeleteCertificate",
        "GetBaseReport",
        "GetChargingProfiles",
        "GetCompositeSchedule",
        "GetDisplayMessages",
        "GetInstalledCertificateIds",
        "GetLocalListVersion",
        "GetLog",
        "GetMonitoringReport",
        "GetReport",
        "GetTransactionStatus",
        "GetVariables",
        "InstallCertificate",
        "PublishFirmware",
        "RequestStartTransaction",
        "RequestStopTransaction",
        "ReserveNow",
        "Reset",
        "SendLocalList",
        "SetChargingProfile",
        "SetDisplayMessage",
        "SetMonitoringBase",
        "SetMonitoringLevel",
        "SetNetworkProfile",
        "SetVariableMonitoring",
        "SetVariables",
        "TriggerMessage",
        "UnlockConnector",
        "UnpublishFirmware",
        "UpdateFirmware",
    ),
}


class CommandError(Exception):
    """A command that did not get a CALLRESULT. `http_status` is what the REST API answers."""

    http_status = 500

    def __init__(self, message: str, *, command_id: int | None = None, **details):
        super().__init__(message)
        self.message = message
        self.command_id = command_id
        self.details = details


class UnknownChargePoint(CommandError):
    http_status = 404


class UnknownAction(CommandError):
    http_status = 400


class InvalidPayload(CommandError):
    """The payload fails the action's official schema; `details["field"]` names the field."""

    http_status = 400


class ChargePointOffline(CommandError):
    http_status = 409


class QueueFull(CommandError):
    http_status = 429


class CallErrorReceived(CommandError):
    """The charge point answered with a CALLERROR; details hold error_code, error_description, error_details."""

    http_status = 502


class InvalidResponse(CommandError):
    """The charge point's CALLRESULT fails the official schema."""

    http_status = 502


class CommandTimeout(CommandError):
    http_status = 504


@dataclass
class CommandResult:
    """A CALLRESULT: `response` is its payload (camelCase), `round_trip_ms` from CALL sent to answer."""

    command_id: int
    action: str
    response: dict
    round_trip_ms: int | None = None
    extra: dict = field(default_factory=dict)


def normalise_payload(payload: dict) -> dict:
    """Accept snake_case keys too (`connector_id` → `connectorId`), as the REST API promises.

    Null fields are dropped: OCPP-J leaves optional fields out (2.0.1 Part 4 §4.1.4).
    """
    return remove_nones(snake_to_camel_case(payload))


def actions_for(version: str) -> tuple[str, ...]:
    return ACTIONS.get(version or "1.6", ACTIONS["1.6"])


def all_actions() -> list[str]:
    """Every central-system operation of any supported version, sorted."""
    return sorted({action for actions in ACTIONS.values() for action in actions})


def validate(version: str, action: str, payload: dict) -> None:
    """Raise UnknownAction or InvalidPayload unless `payload` is a schema-valid CALL of `action` in `version`."""
    if action not in actions_for(version):
        raise UnknownAction(f"{action!r} is not an OCPP {version} central system operation", action=action)
    try:
        rpc.validate_payload(version, action, payload)
    except rpc.RpcError as error:
        raise InvalidPayload(error.description, field=error.details.get("field", ""), rule=error.details.get("rule", ""))


def _prepare(charge_point_id: str, action: str, payload: dict, source: str, user) -> tuple[Command, bool]:
    cp = ChargePoint.objects.filter(pk=charge_point_id).only("pk", "ocpp_version", "connected").first()
    if cp is None:
        raise UnknownChargePoint(f"No charge point {charge_point_id!r} is registered")
    version = cp.ocpp_version or "1.6"
    validate(version, action, payload)
    # The log keeps the payload with its secrets hidden; the caller sends `payload` itself.
    command = services.command_create(
        charge_point_id=charge_point_id, ocpp_version=version, action=action, payload=payload, source=source, user=user
    )
    return command, cp.connected


def _finish(command_id: int, status: str, **fields) -> None:
    """Record a final state on the command unless the consumer already did."""
    Command.objects.filter(pk=command_id, status__in=[CommandStatus.PENDING, CommandStatus.SENT]).update(
        status=status, completed_at=timezone.now(), **fields
    )


async def acall(
    charge_point_id: str,
    action: str,
    payload: dict,
    *,
    timeout: float | None = None,
    source: str = CommandSource.SYSTEM,
    user=None,
) -> CommandResult:
    """Send the CALL `action` with `payload` to `charge_point_id` and return its CALLRESULT.

    `payload` is the spec's camelCase (snake_case keys are converted);
    `timeout` in seconds defaults to OCPP_COMMAND_TIMEOUT and covers waiting
    in the charge point's queue too. Raises a CommandError subclass on any
    other outcome (see the module docstring). A 2.0.1 GetVariables,
    SetVariables or GetReport larger than the station takes in one message
    goes as several CALLs and comes back as one answer (`_acall_parts`).
    """
    payload = normalise_payload(payload)
    timeout = float(timeout if timeout is not None else settings.OCPP_COMMAND_TIMEOUT)
    if action in v201_split.ACTIONS and not _SENDING_PARTS.get():
        parts = await database_sync_to_async(_parts)(charge_point_id, action, payload)
        if len(parts) > 1:
            return await _acall_parts(charge_point_id, action, parts, timeout=timeout, source=source, user=user)
    command, connected = await database_sync_to_async(_prepare)(charge_point_id, action, payload, source, user)
    if not connected:
        await database_sync_to_async(_finish)(command.pk, CommandStatus.OFFLINE)
        raise ChargePointOffline(f"Charge point {charge_point_id!r} is not connected", command_id=command.pk)

    layer = get_channel_layer()
    # The default prefix: channels-redis reads all of a process's "specific." channels with one
    # BZPOPMIN, so a reply channel under another prefix waits (up to 5 s) behind consumers' reads.
    reply_channel = await layer.new_channel()
    await layer.group_send(
        ChargePoint.group_name_for(charge_point_id),
        {
            "type": "ocpp.call",
            "command_id": command.pk,
            "action": action,
            "payload": payload,
            "timeout": timeout,
            "reply_channel": reply_channel,
        },
    )
    try:
        ack = await asyncio.wait_for(layer.receive(reply_channel), ACK_TIMEOUT_S)
    except asyncio.TimeoutError:
        await database_sync_to_async(_finish)(command.pk, CommandStatus.OFFLINE)
        raise ChargePointOffline(
            f"Charge point {charge_point_id!r} is not connected (no connection answered)", command_id=command.pk
        ) from None
    outcome = ack
    deadline = asyncio.get_running_loop().time() + timeout + OUTCOME_GRACE_S
    # A second "queued" can come from a connection closing after a takeover.
    while outcome.get("type") == "ocpp.queued":
        try:
            remaining = deadline - asyncio.get_running_loop().time()
            outcome = await asyncio.wait_for(layer.receive(reply_channel), max(remaining, 0))
        except asyncio.TimeoutError:
            await database_sync_to_async(_finish)(command.pk, CommandStatus.TIMEOUT)
            raise CommandTimeout(
                f"No answer from {charge_point_id!r} to {action} within {timeout:g} s", command_id=command.pk
            ) from None
    return _result_or_raise(command.pk, charge_point_id, action, timeout, outcome)


def _result_or_raise(command_id: int, charge_point_id: str, action: str, timeout: float, outcome: dict) -> CommandResult:
    status = outcome.get("status")
    if status == CommandStatus.ANSWERED:
        return CommandResult(command_id, action, outcome["response"], outcome.get("round_trip_ms"))
    if status == CommandStatus.CALL_ERROR:
        raise CallErrorReceived(
            f"{charge_point_id} answered {action} with CALLERROR {outcome['error_code']}: {outcome['error_description']}",
            command_id=command_id,
            error_code=outcome["error_code"],
            error_description=outcome["error_description"],
            error_details=outcome.get("error_details") or {},
        )
    if status == CommandStatus.TIMEOUT:
        raise CommandTimeout(f"No answer from {charge_point_id!r} to {action} within {timeout:g} s", command_id=command_id)
    if outcome.get("reason") == "queue_full":
        raise QueueFull(
            f"{charge_point_id!r} already has {outcome.get('queued')} commands waiting; try again later",
            command_id=command_id,
        )
    if outcome.get("reason") == "invalid_response":
        raise InvalidResponse(
            f"{charge_point_id} answered {action} with a payload that fails the schema: {outcome.get('error')}",
            command_id=command_id,
            response=outcome.get("response"),
        )
    if outcome.get("reason") == "internal_error":
        raise CommandError(
            f"{action} to {charge_point_id} failed on the server holding its connection; see its log",
            command_id=command_id,
        )
    if status == CommandStatus.OFFLINE:
        raise ChargePointOffline(
            f"Charge point {charge_point_id!r} disconnected before answering {action}", command_id=command_id
        )
    raise CommandError(f"{action} to {charge_point_id} failed: {json.dumps(outcome)[:300]}", command_id=command_id)


def call(
    charge_point_id: str,
    action: str,
    payload: dict,
    *,
    timeout: float | None = None,
    source: str = CommandSource.SYSTEM,
    user=None,
) -> CommandResult:
    """`acall` for synchronous code (admin and DRF views, management commands); same arguments and errors."""
    return async_to_sync(acall)(charge_point_id, action, payload, timeout=timeout, source=source, user=user)


# --- Requests split as the station asks (2.0.1 DeviceDataCtrlr ItemsPerMessage / BytesPerMessage) ---

# Set while the parts of one split request are sent, so that each part takes
# acall's single-CALL path as it is: limits stored by one part's answer (a
# GetVariables of DeviceDataCtrlr itself) do not split the next part again.
_SENDING_PARTS: contextvars.ContextVar[bool] = contextvars.ContextVar("sending_parts", default=False)


def _parts(charge_point_id: str, action: str, payload: dict) -> list[dict]:
    """`payload` split within the station's stored limits (`v201_split.split`).

    `[payload]` when it fits, when the station reported no limits, and for
    anything but a 2.0.1 station (an unknown one is left to `_prepare`).

    A payload that is split is validated whole before any part is sent: an
    invalid entry in a later part is refused (InvalidPayload) with nothing sent.
    """
    version = ChargePoint.objects.filter(pk=charge_point_id).values_list("ocpp_version", flat=True).first()
    if version != "2.0.1":
        return [payload]
    items, size = selectors.message_limits(charge_point_id=charge_point_id, action=action)
    if items is None and size is None:
        return [payload]
    parts = v201_split.split(action, payload, items_per_message=items, bytes_per_message=size)
    if len(parts) > 1:
        validate(version, action, payload)
    return parts


async def _acall_parts(
    charge_point_id: str, action: str, parts: list[dict], *, timeout: float, source: str, user
) -> CommandResult:
    """Send `parts` of one request one after the other through `acall`, and return one merged CommandResult.

    Each part is a CALL of its own: its own Command row, its answer applied as
    any (`chargepoints.results`), `timeout` applying to each. The result:
    `response` the parts' answers merged (`v201_split.merge`, which states
    the rules), `command_id` the first part's, `round_trip_ms` their sum, and
    `extra` {"parts": n, "command_ids": [one per part]}, plus for GetReport
    "request_ids": the caller's requestId for the first part, then one drawn
    per further part (`services.request_id_next`), since the station names
    each report it sends (NotifyReport) by its request's id.

    A part that fails raises its CommandError and no further part is sent;
    the rows of the parts before it stay in the log, their answers applied.
    """
    results: list[CommandResult] = []
    request_ids: list[int] = []
    token = _SENDING_PARTS.set(True)
    try:
        for index, part in enumerate(parts):
            if action == "GetReport":
                if index:
                    part = {**part, "requestId": await database_sync_to_async(services.request_id_next)()}
                request_ids.append(part["requestId"])
            results.append(await acall(charge_point_id, action, part, timeout=timeout, source=source, user=user))
    finally:
        _SENDING_PARTS.reset(token)
    round_trips = [result.round_trip_ms for result in results]
    merged = CommandResult(
        results[0].command_id,
        action,
        v201_split.merge(action, [result.response for result in results]),
        None if None in round_trips else sum(round_trips),
    )
    merged.extra["parts"] = len(results)
    merged.extra["command_ids"] = [result.command_id for result in results]
    if action == "GetReport":
        merged.extra["request_ids"] = request_ids
    return merged
