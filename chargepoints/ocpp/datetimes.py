"""Timestamps as OCPP carries them: RFC 3339 strings, always UTC on our side."""

from __future__ import annotations

from datetime import UTC, datetime

from django.utils import timezone
from django.utils.dateparse import parse_datetime


def format_datetime(value: datetime) -> str:
    """`value` as an RFC 3339 UTC string with milliseconds and a Z, e.g. 2026-11-22T10:00:00.000Z."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def now_string() -> str:
    """The current time in `format_datetime`'s form (BootNotification/Heartbeat currentTime)."""
    return format_datetime(timezone.now())


def parse_timestamp(value: str) -> datetime:
    """Parse an OCPP dateTime; a timestamp without offset is taken as UTC (OCPP 1.6 §3.1).

    Raises ValueError for strings that are not date-times (schema validation
    has normally rejected those before a handler sees them).
    """
    parsed = parse_datetime(value)
    if parsed is None:
        raise ValueError(f"not a date-time: {value!r}")
    if timezone.is_naive(parsed):
        parsed = parsed.replace(tzinfo=UTC)
    return parsed
