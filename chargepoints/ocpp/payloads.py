"""Pieces both versions' operation builders use to turn neutral arguments into a CALL.

A builder (`chargepoints.ocpp.v16.operations`, `...v201.operations`) takes the
charge point and an operation's validated neutral arguments and returns a
`Request`: the action, its camelCase payload, what the operation reports
besides the answer, and optionally how to read more from the answer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from chargepoints.exceptions import InvalidArguments

from .datetimes import format_datetime


@dataclass
class Request:
    """One CALL an operation sends: `action`, `payload` (camelCase), `extra` for the caller.

    `read`, when set, maps the CALLRESULT payload to more `extra` entries
    (e.g. the configuration a GetConfiguration answer holds).
    """

    action: str
    payload: dict
    extra: dict = field(default_factory=dict)
    read: Callable[[dict], dict] | None = None


def invalid(field_name: str, message: str) -> InvalidArguments:
    """InvalidArguments naming the neutral argument `field_name` (HTTP 400)."""
    return InvalidArguments(f"{field_name}: {message}", field=field_name)


def compact(**fields) -> dict:
    """`fields` without the unset ones (None); 0, False and "" are values and stay."""
    return {k: v for k, v in fields.items() if v is not None}


def number(value) -> int | float:
    """A limit as JSON carries it best: 16 rather than 16.0 (some stations parse 16.0 as a decimal), 8.5 as is."""
    as_decimal = Decimal(str(value))
    return int(as_decimal) if as_decimal == as_decimal.to_integral_value() else float(as_decimal)


def datetime_text(field_name: str, value: datetime | None) -> str | None:
    """An aware datetime (`inputs.AwareDateTimeField` refuses naive ones) as OCPP's RFC 3339 UTC text; None stays None."""
    return None if value is None else format_datetime(value)


def schedule(profile: dict, prefix: str) -> dict:
    """The ChargingSchedule fields both versions share, from a neutral profile (see `operations.inputs`)."""
    periods = [
        compact(startPeriod=int(p["start_period_s"]), limit=number(p["limit"]), numberPhases=p.get("number_phases"))
        for p in profile["periods"]
    ]
    min_rate = profile.get("min_charging_rate")
    return compact(
        duration=profile.get("duration_s"),
        startSchedule=datetime_text(f"{prefix}start_schedule", profile.get("start_schedule")),
        chargingRateUnit=profile["charging_rate_unit"],
        chargingSchedulePeriod=periods,
        minChargingRate=None if min_rate is None else number(min_rate),
    )


def profile_common(profile: dict, prefix: str, purpose: str, transaction_id) -> dict:
    """The ChargingProfile fields both versions share; `purpose` already in the version's word."""
    return compact(
        stackLevel=profile["stack_level"],
        chargingProfilePurpose=purpose,
        chargingProfileKind=profile["kind"],
        recurrencyKind=profile.get("recurrency") or None,
        validFrom=datetime_text(f"{prefix}valid_from", profile.get("valid_from")),
        validTo=datetime_text(f"{prefix}valid_to", profile.get("valid_to")),
        transactionId=transaction_id,
    )
