"""State that follows from a charge point's answer to a command (OCPP 1.6 §5).

`apply(command)` runs inside `services.command_complete`'s database
transaction, for CALLRESULTs only, in whichever process holds the socket, so
the state is updated even when the caller stopped waiting. One function per
action; actions whose answer changes nothing stored have none.
"""

from __future__ import annotations

import logging
from typing import Callable

from django.utils import timezone

from transactions.models import Reservation, ReservationStatus, Transaction

from .models import ChargePoint, ChargingProfile, ChargingProfileInstallation, Command, ConfigurationKey
from .ocpp.datetimes import parse_timestamp

logger = logging.getLogger("csms.commands")

Applier = Callable[[Command, dict, dict], None]
_APPLIERS: dict[tuple[str, str], Applier] = {}


def _on(action: str, version: str = "1.6"):
    def register(fn: Applier) -> Applier:
        _APPLIERS[(version, action)] = fn
        return fn

    return register


def apply(command: Command) -> None:
    """Update what `command`'s CALLRESULT (`command.response`) implies; no-op for other actions."""
    applier = _APPLIERS.get((command.ocpp_version, command.action))
    if applier is not None:
        applier(command, command.payload or {}, command.response or {})


def _accepted(response: dict) -> bool:
    return response.get("status") == "Accepted"


@_on("GetConfiguration")
def _get_configuration(command: Command, request: dict, response: dict) -> None:
    """§5.8: store the reported keys; a request for all keys replaces the whole snapshot."""
    now = timezone.now()
    reported = {item["key"]: item for item in response.get("configurationKey", [])}
    keys = ConfigurationKey.objects.filter(charge_point_id=command.charge_point_id)
    if not request.get("key"):
        keys.exclude(key__in=list(reported)).delete()
    else:
        keys.filter(key__in=response.get("unknownKey", [])).delete()
    for key, item in reported.items():
        ConfigurationKey.objects.update_or_create(
            charge_point_id=command.charge_point_id,
            key=key,
            defaults={"value": item.get("value"), "readonly": item.get("readonly", False), "updated_at": now},
        )


@_on("ChangeConfiguration")
def _change_configuration(command: Command, request: dict, response: dict) -> None:
    """§5.3: an Accepted or RebootRequired change is the key's new value."""
    if response.get("status") not in ("Accepted", "RebootRequired"):
        return
    ConfigurationKey.objects.update_or_create(
        charge_point_id=command.charge_point_id,
        key=request["key"],
        defaults={"value": request["value"], "updated_at": timezone.now()},
    )


@_on("RemoteStopTransaction")
def _remote_stop(command: Command, request: dict, response: dict) -> None:
    """§5.12: mark the transaction; its StopTransaction (reason Remote) closes it."""
    if _accepted(response):
        Transaction.objects.filter(pk=request["transactionId"], charge_point_id=command.charge_point_id).update(
            remote_stop_requested_at=timezone.now()
        )


@_on("ReserveNow")
def _reserve_now(command: Command, request: dict, response: dict) -> None:
    """§5.13: the reservation takes the answered status (Accepted, Occupied, Faulted …)."""
    owner = Reservation.objects.filter(pk=request["reservationId"]).values_list("charge_point_id", flat=True).first()
    if owner is not None and owner != command.charge_point_id:
        # Reservation ids are system-wide here; one sent through the raw API
        # may collide with another charge point's. Keep that one intact.
        logger.warning(
            "%s: ReserveNow used reservation id %s, which belongs to %s; not recorded",
            command.charge_point_id,
            request["reservationId"],
            owner,
        )
        return
    Reservation.objects.update_or_create(
        pk=request["reservationId"],
        defaults={
            "charge_point_id": command.charge_point_id,
            "connector_id": request["connectorId"],
            "id_tag": request["idTag"],
            "parent_id_tag": request.get("parentIdTag", ""),
            "expiry_date": parse_timestamp(request["expiryDate"]),
            "status": response["status"],
        },
    )


@_on("CancelReservation")
def _cancel_reservation(command: Command, request: dict, response: dict) -> None:
    """§5.1: an Accepted cancellation ends the reservation."""
    if _accepted(response):
        Reservation.objects.filter(pk=request["reservationId"], charge_point_id=command.charge_point_id).update(
            status=ReservationStatus.CANCELLED
        )


@_on("SetChargingProfile")
def _set_charging_profile(command: Command, request: dict, response: dict) -> None:
    """§5.16 / §3.13.2: store the profile and install it on the connector.

    An installed profile is replaced by one with the same id, or with the same
    purpose and stack level on the same connector.
    """
    if not _accepted(response):
        return
    p = request["csChargingProfiles"]
    profile, _ = ChargingProfile.objects.update_or_create(
        charge_point_id=command.charge_point_id,
        charging_profile_id=p["chargingProfileId"],
        defaults={
            "purpose": p["chargingProfilePurpose"],
            "stack_level": p["stackLevel"],
            "kind": p["chargingProfileKind"],
            "recurrency_kind": p.get("recurrencyKind", ""),
            "valid_from": parse_timestamp(p["validFrom"]) if p.get("validFrom") else None,
            "valid_to": parse_timestamp(p["validTo"]) if p.get("validTo") else None,
            "transaction_id": p.get("transactionId"),
            "schedule": p["chargingSchedule"],
        },
    )
    now = timezone.now()
    active = ChargingProfileInstallation.objects.filter(charge_point_id=command.charge_point_id, cleared_at__isnull=True)
    active.filter(profile_id=profile.pk).update(cleared_at=now)
    active.filter(
        connector_id=request["connectorId"], profile__purpose=profile.purpose, profile__stack_level=profile.stack_level
    ).update(cleared_at=now)
    ChargingProfileInstallation.objects.create(
        charge_point_id=command.charge_point_id, connector_id=request["connectorId"], profile=profile, installed_at=now
    )


@_on("ClearChargingProfile")
def _clear_charging_profile(command: Command, request: dict, response: dict) -> None:
    """§5.5: clear the installed profiles the request's criteria match (all of them when none is given)."""
    if not _accepted(response):
        return
    installed = ChargingProfileInstallation.objects.filter(charge_point_id=command.charge_point_id, cleared_at__isnull=True)
    if "id" in request:
        installed = installed.filter(profile__charging_profile_id=request["id"])
    else:
        if "connectorId" in request:
            installed = installed.filter(connector_id=request["connectorId"])
        if "chargingProfilePurpose" in request:
            installed = installed.filter(profile__purpose=request["chargingProfilePurpose"])
        if "stackLevel" in request:
            installed = installed.filter(profile__stack_level=request["stackLevel"])
    installed.update(cleared_at=timezone.now())


@_on("SendLocalList")
def _send_local_list(command: Command, request: dict, response: dict) -> None:
    """§5.15: an Accepted list is the charge point's list version from now on."""
    if _accepted(response):
        # local_list_synced_at is set by operations.send_local_list, which knows
        # when the list was built; a list sent raw gives no such moment.
        ChargePoint.objects.filter(pk=command.charge_point_id).update(local_list_version=request["listVersion"])


@_on("GetLocalListVersion")
def _get_local_list_version(command: Command, request: dict, response: dict) -> None:
    """§5.10: remember the version the charge point reports (-1: no list support, 0: empty).

    A version other than the one we last sent means the charge point lost or
    replaced our list: the next Differential update must be a Full one.
    """
    version = response["listVersion"]
    ChargePoint.objects.filter(pk=command.charge_point_id).exclude(local_list_version=version).update(
        local_list_version=version, local_list_synced_at=None
    )
