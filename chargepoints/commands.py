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
import json
from dataclasses import dataclass, field

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.utils import timezone
from ocpp.charge_point import remove_nones, snake_to_camel_case

from . import services
from .models import ChargePoint, Command, CommandSource, CommandStatus
from .ocpp import rpc

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
    other outcome (see the module docstring).
    """
    payload = normalise_payload(payload)
    timeout = float(timeout if timeout is not None else settings.OCPP_COMMAND_TIMEOUT)
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
