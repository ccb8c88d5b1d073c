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
applies what follows from it (the version's `answers`) and sends the outcome
(`exceptions.CommandOutcome`) to the caller's reply channel.

Errors (`chargepoints.exceptions`), each a `CommandError` with an HTTP status for the API:
`UnknownChargePoint` 404, `UnknownAction` 400, `InvalidPayload` 400,
`ChargePointOffline` 409, `QueueFull` 429, `CallErrorReceived` 502,
`InvalidResponse` 502, `MessagingUnavailable` 503 (Redis unreachable), `CommandTimeout` 504.
"""

from __future__ import annotations

import asyncio
import contextvars
from dataclasses import dataclass, field

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from ocpp.charge_point import remove_nones, snake_to_camel_case

from csms.channel_layer import LAYER_ERRORS

from . import ocpp, selectors, services
from .exceptions import (  # noqa: F401 (the errors callers catch, as commands.X)
    CallErrorReceived,
    ChargePointOffline,
    CommandError,
    CommandOutcome,
    CommandTimeout,
    InvalidArguments,
    InvalidPayload,
    InvalidResponse,
    MessagingUnavailable,
    QueueFull,
    UnknownAction,
    UnknownChargePoint,
)
from .models import ChargePoint, Command, CommandSource, CommandStatus
from .ocpp import rpc
from .ocpp.v201 import split as v201_split

# Seconds to wait for the consumer's acknowledgement before calling the
# charge point offline: covers a `connected` flag left by a dead process.
ACK_TIMEOUT_S = 5.0
# Extra seconds the caller waits beyond the timeout for the outcome message.
OUTCOME_GRACE_S = 5.0


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
    """The messages a central system may send in OCPP `version` (None or "": 1.6)."""
    return ocpp.dialect(version).ACTIONS


def all_actions() -> list[str]:
    """Every central-system message of any supported version, sorted."""
    return sorted({action for version in ocpp.VERSIONS for action in actions_for(version)})


def validate(version: str, action: str, payload: dict, *, secret_change: bool = False) -> None:
    """Raise UnknownAction or InvalidPayload unless `payload` is a schema-valid CALL of `action` in `version`.

    A CALL that sets the charge point's Basic-auth password is an InvalidPayload
    too unless `secret_change` (the change-password operation): the central
    system must know the new password before the charge point uses it, or the
    charge point locks itself out at its next connection.
    """
    if action not in actions_for(version):
        raise UnknownAction(f"{action!r} is not an OCPP {version} central system operation", action=action)
    try:
        rpc.validate_payload(version, action, payload)
    except rpc.RpcError as error:
        raise InvalidPayload(error.description, field=error.details.get("field", ""), rule=error.details.get("rule", "")) from None
    if not secret_change and ocpp.dialect(version).redaction.sets_password(action, payload):
        raise InvalidPayload(
            "The Basic-auth password is changed with the change-password operation, which keeps the charge point "
            "able to connect through the rotation; it cannot be sent as a raw message.",
            field="key" if action == "ChangeConfiguration" else "setVariableData",
        )


def _prepare(charge_point_id: str, action: str, payload: dict, source: str, user, secret_change: bool) -> tuple[Command, bool]:
    cp = ChargePoint.objects.filter(pk=charge_point_id).only("pk", "ocpp_version", "connected").first()
    if cp is None:
        raise UnknownChargePoint(f"No charge point {charge_point_id!r} is registered")
    validate(cp.version, action, payload, secret_change=secret_change)
    # The log keeps the payload with its secrets hidden; the caller sends `payload` itself.
    command = services.command_create(
        charge_point_id=charge_point_id, ocpp_version=cp.version, action=action, payload=payload, source=source, user=user
    )
    return command, cp.connected


async def _give_up(command: Command, status: str, error: CommandError) -> CommandError:
    """Record `status` on the command unless the consumer already finished it; returns `error` to raise."""
    await database_sync_to_async(services.command_finish)(command_id=command.pk, outcome=CommandOutcome(status=status), if_unfinished=True)
    return error


async def acall(
    charge_point_id: str,
    action: str,
    payload: dict,
    *,
    timeout: float | None = None,
    source: str = CommandSource.SYSTEM,
    user=None,
    secret_change: bool = False,
) -> CommandResult:
    """Send the CALL `action` with `payload` to `charge_point_id` and return its CALLRESULT.

    `payload` is the spec's camelCase (snake_case keys are converted);
    `timeout` in seconds defaults to OCPP_COMMAND_TIMEOUT and covers waiting
    in the charge point's queue too. A message that sets the charge point's
    Basic-auth password is refused (InvalidPayload) unless `secret_change`:
    only the change-password operation may send one. Raises a CommandError subclass on any
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
    command, connected = await database_sync_to_async(_prepare)(charge_point_id, action, payload, source, user, secret_change)
    offline = ChargePointOffline(f"Charge point {charge_point_id!r} is not connected", command_id=command.pk)
    if not connected:
        raise await _give_up(command, CommandStatus.OFFLINE, offline)

    layer = get_channel_layer()
    # The default prefix: channels-redis reads all of a process's "specific." channels with one
    # BZPOPMIN, so a reply channel under another prefix waits (up to 5 s) behind consumers' reads.
    reply_channel = await layer.new_channel()
    try:
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
    except LAYER_ERRORS as error:
        unavailable = MessagingUnavailable(
            f"Cannot reach the process holding {charge_point_id!r}: the channel layer is unavailable ({type(error).__name__})",
            command_id=command.pk,
        )
        raise await _give_up(command, CommandStatus.FAILED, unavailable) from None
    try:
        message = await asyncio.wait_for(layer.receive(reply_channel), ACK_TIMEOUT_S)
    except TimeoutError:
        offline = ChargePointOffline(f"Charge point {charge_point_id!r} is not connected (no connection answered)", command_id=command.pk)
        raise await _give_up(command, CommandStatus.OFFLINE, offline) from None
    deadline = asyncio.get_running_loop().time() + timeout + OUTCOME_GRACE_S
    # A second "queued" can come from a connection closing after a takeover.
    while message.get("type") == "ocpp.queued":
        try:
            remaining = deadline - asyncio.get_running_loop().time()
            message = await asyncio.wait_for(layer.receive(reply_channel), max(remaining, 0))
        except TimeoutError:
            timed_out = CommandTimeout(f"No answer from {charge_point_id!r} to {action} within {timeout:g} s", command_id=command.pk)
            raise await _give_up(command, CommandStatus.TIMEOUT, timed_out) from None
    outcome = CommandOutcome.from_message(message)
    error = outcome.error(command_id=command.pk, charge_point_id=charge_point_id, action=action, timeout=timeout)
    if error is not None:
        raise error
    return CommandResult(command.pk, action, outcome.response, outcome.round_trip_ms)


def call(
    charge_point_id: str,
    action: str,
    payload: dict,
    *,
    timeout: float | None = None,
    source: str = CommandSource.SYSTEM,
    user=None,
    secret_change: bool = False,
) -> CommandResult:
    """`acall` for synchronous code (admin and DRF views, management commands); same arguments and errors."""
    return async_to_sync(acall)(charge_point_id, action, payload, timeout=timeout, source=source, user=user, secret_change=secret_change)


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


async def _acall_parts(charge_point_id: str, action: str, parts: list[dict], *, timeout: float, source: str, user) -> CommandResult:
    """Send `parts` of one request one after the other through `acall`, and return one merged CommandResult.

    Each part is a CALL of its own: its own Command row, its answer applied as
    any (the version's `answers`), `timeout` applying to each. The result:
    `response` the parts' answers merged (`v201_split.merge`, which states
    the rules), `command_id` the first part's, `round_trip_ms` their sum, and
    `extra` {"parts": n, "command_ids": [one per part]}, plus for GetReport
    "request_ids": the caller's requestId for the first part, then one drawn
    per further part (`services.request_id_allocate`), since the station names
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
                    part = {**part, "requestId": await database_sync_to_async(services.request_id_allocate)()}
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
