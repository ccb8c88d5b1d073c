"""What can go wrong with a command, and how a command ended (`CommandOutcome`).

Each `CommandError` carries the HTTP status the REST API answers with, a
message for people and `details` for machines (the API puts them in the
body). `CommandOutcome` is what the consumer holding the socket sends back
to the caller through the channel layer, and what `services.command_finish`
records on the `Command` row.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from enum import StrEnum

from .models import CommandStatus


class CommandError(Exception):
    """A command that did not get a CALLRESULT. `http_status` is what the REST API answers."""

    http_status = 500

    def __init__(self, message: str, *, command_id: int | None = None, **details):
        super().__init__(message)
        self.message = message
        self.command_id = command_id
        self.details = details


class UnknownChargePoint(CommandError):
    """No charge point of that identity is registered (HTTP 404; refused connection for the consumer)."""

    http_status = 404


class UnknownAction(CommandError):
    http_status = 400


class InvalidPayload(CommandError):
    """The payload fails the action's official schema; `details["field"]` names the field."""

    http_status = 400


class InvalidArguments(InvalidPayload):
    """Arguments of a neutral operation that fail its input, that the station's OCPP version cannot carry,
    or that name rows that do not exist (HTTP 400).

    `details["field"]` names the first invalid argument as a path
    ("charging_profile/periods/0/limit"); `details["errors"]`, when set, holds them all.
    """


class ChargePointOffline(CommandError):
    http_status = 409


class QueueFull(CommandError):
    http_status = 429


class MessagingUnavailable(CommandError):
    """The channel layer (Redis) that carries commands to the charge point's process is unreachable (HTTP 503).

    Nothing was sent; the caller may try again once it is back.
    """

    http_status = 503


class CallErrorReceived(CommandError):
    """The charge point answered with a CALLERROR; details hold error_code, error_description, error_details."""

    http_status = 502


class InvalidResponse(CommandError):
    """The charge point's CALLRESULT fails the official schema."""

    http_status = 502


class CommandTimeout(CommandError):
    http_status = 504


class FailureReason(StrEnum):
    """Why a command ended without an answer, beyond its status."""

    NONE = ""
    QUEUE_FULL = "queue_full"
    INVALID_RESPONSE = "invalid_response"
    INTERNAL_ERROR = "internal_error"
    DISCONNECTED = "disconnected"


_DESCRIPTIONS = {
    FailureReason.QUEUE_FULL: "command queue full",
    FailureReason.INTERNAL_ERROR: "internal error",
    FailureReason.DISCONNECTED: "disconnected",
}


@dataclass(frozen=True)
class CommandOutcome:
    """How a command ended: a final `CommandStatus` and what came with it.

    ANSWERED: `response` (the CALLRESULT payload, camelCase) and
    `round_trip_ms`; CALL_ERROR: `error_code`, `error_description`,
    `error_details`; FAILED: a `reason` (and for INVALID_RESPONSE the
    `response` and `error_description`); OFFLINE, TIMEOUT: nothing more.
    `queued` is the queue length a QUEUE_FULL met.
    """

    status: str
    response: dict | None = None
    error_code: str = ""
    error_description: str = ""
    error_details: dict | None = None
    round_trip_ms: int | None = None
    reason: FailureReason = FailureReason.NONE
    queued: int | None = None

    def __post_init__(self):
        if not self.error_description and self.reason in _DESCRIPTIONS:
            object.__setattr__(self, "error_description", _DESCRIPTIONS[self.reason])

    def to_message(self) -> dict:
        """The channel-layer message `{"type": "ocpp.outcome", …}` carrying this outcome (msgpack-safe)."""
        return {"type": "ocpp.outcome", **asdict(self), "reason": self.reason.value}

    @classmethod
    def from_message(cls, message: dict) -> CommandOutcome:
        """The outcome in a message made by `to_message`."""
        fields = {k: v for k, v in message.items() if k in cls.__dataclass_fields__}
        fields["reason"] = FailureReason(fields.get("reason") or "")
        return cls(**fields)

    def error(self, *, command_id: int, charge_point_id: str, action: str, timeout: float) -> CommandError | None:
        """The CommandError this outcome means for the caller, or None for an answer."""
        status = self.status
        if status == CommandStatus.ANSWERED:
            return None
        if status == CommandStatus.CALL_ERROR:
            return CallErrorReceived(
                f"{charge_point_id} answered {action} with CALLERROR {self.error_code}: {self.error_description}",
                command_id=command_id,
                error_code=self.error_code,
                error_description=self.error_description,
                error_details=self.error_details or {},
            )
        if status == CommandStatus.TIMEOUT:
            return CommandTimeout(f"No answer from {charge_point_id!r} to {action} within {timeout:g} s", command_id=command_id)
        if self.reason == FailureReason.QUEUE_FULL:
            return QueueFull(f"{charge_point_id!r} already has {self.queued} commands waiting; try again later", command_id=command_id)
        if self.reason == FailureReason.INVALID_RESPONSE:
            return InvalidResponse(
                f"{charge_point_id} answered {action} with a payload that fails the schema: {self.error_description}",
                command_id=command_id,
                response=self.response,
            )
        if self.reason == FailureReason.INTERNAL_ERROR:
            return CommandError(
                f"{action} to {charge_point_id} failed on the server holding its connection; see its log",
                command_id=command_id,
            )
        if status == CommandStatus.OFFLINE:
            return ChargePointOffline(f"Charge point {charge_point_id!r} disconnected before answering {action}", command_id=command_id)
        return CommandError(f"{action} to {charge_point_id} failed: {json.dumps(self.to_message())[:300]}", command_id=command_id)
