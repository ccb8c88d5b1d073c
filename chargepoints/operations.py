"""Operator operations that need more than a raw payload: payloads built from our own tables.

Each builds the OCPP 1.6 payload and sends it through `commands.call`, so it
has the same errors (see `chargepoints.commands`). Used by the admin's forms;
the raw command endpoint of the API takes payloads as they are.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction

from transactions.models import Reservation, ReservationStatus
from transactions.selectors import local_authorization_list

from . import commands
from .models import ChargePoint, CommandSource
from .ocpp.datetimes import format_datetime


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
    since = cp.local_list_synced_at if update_type == "Differential" else None
    if update_type == "Differential" and since is None:
        update_type = "Full"
    payload = {
        "listVersion": max(cp.local_list_version or 0, 0) + 1,
        "updateType": update_type,
        "localAuthorizationList": local_authorization_list(since=since),
    }
    return commands.call(charge_point_id, "SendLocalList", payload, source=source, user=user, timeout=timeout)


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
    with transaction.atomic():
        reservation = Reservation.objects.create(
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
    except commands.CommandError:
        # Never acknowledged: nothing is reserved. The command log keeps the attempt.
        reservation.delete()
        raise
    reservation.refresh_from_db()
    return reservation, result
