"""Operator operations that need more than a raw payload: payloads built from our own tables.

Each builds the OCPP 1.6 payload and sends it through `commands.call`, so it
has the same errors (see `chargepoints.commands`). Used by the admin's forms;
the raw command endpoint of the API takes payloads as they are.
"""

from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from transactions.models import Reservation, ReservationStatus
from transactions.selectors import local_authorization_list

from . import commands
from .models import ChargePoint, CommandSource
from .ocpp.datetimes import format_datetime


def _reservation_create(**fields) -> Reservation:
    """Create a reservation with a fresh id.

    A ReserveNow sent through the raw API may have used an id the sequence has
    not reached yet (PostgreSQL does not advance it for explicit ids); the
    next values are tried until one is free.
    """
    for attempt in range(20):
        try:
            with transaction.atomic():
                return Reservation.objects.create(**fields)
        except IntegrityError:
            if attempt == 19:
                raise
    raise AssertionError("unreachable")


def send_local_list(
    *, charge_point_id: str, update_type: str = "Full", source: str = CommandSource.SYSTEM, user=None, timeout=None
) -> commands.CommandResult:
    """SendLocalList (OCPP 1.6 §5.15) built from the id tags table.

    `update_type` "Full" sends every id tag; "Differential" only those changed
    since the list the charge point last accepted (falls back to Full when it
    has none). The list version is one more than the charge point's last known
    version; an Accepted answer records it (`results`).
    """
    cp = ChargePoint.objects.get(pk=charge_point_id)
    built_at = timezone.now()
    since = cp.local_list_synced_at if update_type == "Differential" else None
    if update_type == "Differential" and since is None:
        update_type = "Full"
    payload = {
        "listVersion": max(cp.local_list_version or 0, 0) + 1,
        "updateType": update_type,
        "localAuthorizationList": local_authorization_list(since=since),
    }
    result = commands.call(charge_point_id, "SendLocalList", payload, source=source, user=user, timeout=timeout)
    if result.response.get("status") == "Accepted":
        # The next Differential list carries what changed after this one was built.
        ChargePoint.objects.filter(pk=charge_point_id).update(local_list_synced_at=built_at)
    return result


def reserve_now(
    *,
    charge_point_id: str,
    connector_id: int,
    id_tag: str,
    expiry_date: datetime,
    parent_id_tag: str = "",
    source: str = CommandSource.SYSTEM,
    user=None,
    timeout=None,
) -> tuple[Reservation, commands.CommandResult]:
    """ReserveNow (OCPP 1.6 §5.13) with a reservation id allocated here; returns the reservation and the answer.

    The reservation row exists (status Requested) before the CALL goes out, so
    its id is unique system-wide; the answer sets its status (`results`).
    """
    reservation = _reservation_create(
        charge_point_id=charge_point_id,
        connector_id=connector_id,
        id_tag=id_tag,
        parent_id_tag=parent_id_tag,
        expiry_date=expiry_date,
        status=ReservationStatus.REQUESTED,
    )
    payload = {
        "connectorId": connector_id,
        "expiryDate": format_datetime(expiry_date),
        "idTag": id_tag,
        "reservationId": reservation.pk,
    }
    if parent_id_tag:
        payload["parentIdTag"] = parent_id_tag
    try:
        result = commands.call(charge_point_id, "ReserveNow", payload, source=source, user=user, timeout=timeout)
    except (commands.ChargePointOffline, commands.CallErrorReceived, commands.InvalidPayload, commands.QueueFull):
        # Certainly not reserved at the charge point. The command log keeps the attempt.
        reservation.delete()
        raise
    # After a timeout the charge point may have reserved: the row stays Requested.
    reservation.refresh_from_db()
    return reservation, result
