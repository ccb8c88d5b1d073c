"""State that follows from a charge point's answer to a command (OCPP 1.6 §5, 2.0.1 Part 2).

`apply(command)` runs inside `services.command_complete`'s database
transaction, for CALLRESULTs only, in whichever process holds the socket, so
the state is updated even when the caller stopped waiting. One function per
(version, action), picked by the version the command was sent in
(`Command.ocpp_version`): a 2.0.1 payload has other field names than the 1.6
one of the same action. Actions whose answer changes nothing stored have none.
"""

from __future__ import annotations

import logging
from typing import Callable

from django.utils import timezone
from ocpp.v201.enums import MutabilityEnumType

from transactions.models import Reservation, ReservationStatus, Transaction

from . import redaction, services
from .models import ChargePoint, ChargingProfile, ChargingProfileInstallation, Command, ConfigurationKey, Variable
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
    """§5.8: store the reported keys; a request for all keys replaces the whole snapshot.

    A secret key (AuthorizationKey) is stored without its value even if a
    station reports one, which the Security Whitepaper forbids it to do.
    """
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
            defaults={
                "value": None if redaction.is_secret_configuration_key(key) else item.get("value"),
                "readonly": item.get("readonly", False),
                "updated_at": now,
            },
        )


@_on("ChangeConfiguration")
def _change_configuration(command: Command, request: dict, response: dict) -> None:
    """§5.3: an Accepted or RebootRequired change is the key's new value.

    A secret key (AuthorizationKey, `chargepoints.redaction`) is recorded as
    changed now with no value: the snapshot is shown in the admin, and the
    logged request only holds the redaction marker anyway.
    """
    if response.get("status") not in ("Accepted", "RebootRequired"):
        return
    key = request["key"]
    value = None if redaction.is_secret_configuration_key(key) else request["value"]
    ConfigurationKey.objects.update_or_create(
        charge_point_id=command.charge_point_id,
        key=key,
        defaults={"value": value, "updated_at": timezone.now()},
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
    _reservation_record(
        command,
        request["reservationId"],
        connector_id=request["connectorId"],
        id_tag=request["idTag"],
        parent_id_tag=request.get("parentIdTag", ""),
        expiry_date=parse_timestamp(request["expiryDate"]),
        status=response["status"],
    )


def _reservation_record(command: Command, reservation_id: int, **fields) -> None:
    """Create or update reservation `reservation_id` of the command's charge point with `fields`."""
    owner = Reservation.objects.filter(pk=reservation_id).values_list("charge_point_id", flat=True).first()
    if owner is not None and owner != command.charge_point_id:
        # Reservation ids are system-wide here; one sent through the raw API
        # may collide with another charge point's. Keep that one intact.
        logger.warning(
            "%s: ReserveNow used reservation id %s, which belongs to %s; not recorded",
            command.charge_point_id,
            reservation_id,
            owner,
        )
        return
    Reservation.objects.update_or_create(
        pk=reservation_id, defaults={"charge_point_id": command.charge_point_id, **fields}
    )


@_on("CancelReservation")
@_on("CancelReservation", "2.0.1")
def _cancel_reservation(command: Command, request: dict, response: dict) -> None:
    """1.6 §5.1, 2.0.1 H02: an Accepted cancellation ends the reservation (both send reservationId)."""
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
    _charging_profile_install(
        command,
        connector_id=request["connectorId"],
        charging_profile_id=p["chargingProfileId"],
        profile=p,
        transaction_id=p.get("transactionId"),
    )


def _charging_profile_install(
    command: Command, *, connector_id: int, charging_profile_id: int, profile: dict, transaction_id: int | None
) -> ChargingProfile:
    """Store `profile` (a ChargingProfile, camelCase, either version) and install it on `connector_id`.

    The fields both versions share have the same names; `transaction_id` is
    this system's Transaction id (1.6 transactionId), resolved by the caller.
    """
    profile_row, _ = ChargingProfile.objects.update_or_create(
        charge_point_id=command.charge_point_id,
        charging_profile_id=charging_profile_id,
        defaults={
            "purpose": profile["chargingProfilePurpose"],
            "stack_level": profile["stackLevel"],
            "kind": profile["chargingProfileKind"],
            "recurrency_kind": profile.get("recurrencyKind", ""),
            "valid_from": parse_timestamp(profile["validFrom"]) if profile.get("validFrom") else None,
            "valid_to": parse_timestamp(profile["validTo"]) if profile.get("validTo") else None,
            "transaction_id": transaction_id,
            "schedule": profile["chargingSchedule"],
        },
    )
    now = timezone.now()
    active = ChargingProfileInstallation.objects.filter(
        charge_point_id=command.charge_point_id, cleared_at__isnull=True
    )
    active.filter(profile_id=profile_row.pk).update(cleared_at=now)
    active.filter(
        connector_id=connector_id, profile__purpose=profile_row.purpose, profile__stack_level=profile_row.stack_level
    ).update(cleared_at=now)
    ChargingProfileInstallation.objects.create(
        charge_point_id=command.charge_point_id, connector_id=connector_id, profile=profile_row, installed_at=now
    )
    return profile_row


@_on("ClearChargingProfile")
def _clear_charging_profile(command: Command, request: dict, response: dict) -> None:
    """§5.5: clear the installed profiles the request's criteria match (all of them when none is given)."""
    if not _accepted(response):
        return
    _charging_profiles_clear(
        command,
        charging_profile_id=request.get("id"),
        connector_id=request.get("connectorId"),
        purpose=request.get("chargingProfilePurpose"),
        stack_level=request.get("stackLevel"),
    )


def _charging_profiles_clear(
    command: Command,
    *,
    charging_profile_id: int | None,
    connector_id: int | None,
    purpose: str | None,
    stack_level: int | None,
) -> int:
    """Clear the command's charge point's installed profiles that match; None matches anything.

    A profile id, when given, is the whole criterion: both versions say the
    CSMS sends either the id or the other criteria (1.6 §5.5, 2.0.1 K10.FR.02).
    Returns the installations cleared.
    """
    installed = ChargingProfileInstallation.objects.filter(
        charge_point_id=command.charge_point_id, cleared_at__isnull=True
    )
    if charging_profile_id is not None:
        installed = installed.filter(profile__charging_profile_id=charging_profile_id)
    else:
        if connector_id is not None:
            installed = installed.filter(connector_id=connector_id)
        if purpose is not None:
            installed = installed.filter(profile__purpose=purpose)
        if stack_level is not None:
            installed = installed.filter(profile__stack_level=stack_level)
    return installed.update(cleared_at=timezone.now())


@_on("SendLocalList")
def _send_local_list(command: Command, request: dict, response: dict) -> None:
    """§5.15: an Accepted list is the charge point's list version from now on."""
    if _accepted(response):
        # local_list_synced_at is set by operations.send_local_list, which knows
        # when the list was built; a list sent raw gives no such moment.
        ChargePoint.objects.filter(pk=command.charge_point_id).update(local_list_version=request["listVersion"])


@_on("GetLocalListVersion")
def _get_local_list_version(command: Command, request: dict, response: dict) -> None:
    """§5.10: remember the version the charge point reports (-1: no list support, 0: empty)."""
    _local_list_version_reported(command, response["listVersion"])


def _local_list_version_reported(command: Command, version: int) -> None:
    """Store the list version the charge point reports (1.6 listVersion, 2.0.1 versionNumber).

    A version other than the one we last sent means the charge point lost or
    replaced our list: the next Differential update must be a Full one.
    """
    ChargePoint.objects.filter(pk=command.charge_point_id).exclude(local_list_version=version).update(
        local_list_version=version, local_list_synced_at=None
    )


# --- OCPP 2.0.1 (Part 2; use-case ids B05, F03 …) ---------------------------


def _variable_identity(component: dict, variable: dict) -> tuple:
    """(component, instance, evse id, connector id, variable, instance) with 0 and "" for absent parts."""
    evse = component.get("evse") or {}
    return (
        component["name"],
        component.get("instance", ""),
        evse.get("id", 0),
        evse.get("connectorId", 0),
        variable["name"],
        variable.get("instance", ""),
    )


def _requested_entry(entries: list[dict], index: int, result: dict) -> dict | None:
    """The request entry (get/setVariableData) that `result`, the `index`th result, answers; None if none does.

    Stations answer the entries in order, but nothing requires it: the entry
    at the same position is tried first, then every entry, matching component
    and variable, and the attribute type when the result names one. A result
    without attributeType means Actual by the schema, yet stations often just
    leave out what they were asked, so it matches any entry.
    """
    identity = _variable_identity(result["component"], result["variable"])
    attribute_type = result.get("attributeType")
    candidates = ([entries[index]] if index < len(entries) else []) + entries
    for entry in candidates:
        if _variable_identity(entry["component"], entry["variable"]) != identity:
            continue
        if attribute_type is None or attribute_type == (entry.get("attributeType") or "Actual"):
            return entry
    return None


@_on("GetVariables", "2.0.1")
def _get_variables(command: Command, request: dict, response: dict) -> None:
    """B06: store the value of each attribute the station reported Accepted.

    request: getVariableData [{component, variable, attributeType?}];
    response: getVariableResult [{attributeStatus, component, variable,
    attributeType?, attributeValue?}]. Other statuses (Rejected,
    UnknownComponent, UnknownVariable, NotSupportedAttributeType) leave the
    stored device model as it is: the report (B07) is its reference.
    """
    entries = request.get("getVariableData", [])
    for index, result in enumerate(response.get("getVariableResult", [])):
        if result.get("attributeStatus") != "Accepted":
            continue
        entry = _requested_entry(entries, index, result) or {}
        services.variable_value_set(
            charge_point_id=command.charge_point_id,
            component=result["component"],
            variable=result["variable"],
            attribute_type=result.get("attributeType") or entry.get("attributeType") or "Actual",
            # attributeValue may only be absent when the status is not Accepted;
            # a station that leaves it out anyway reports no value. A secret
            # it should have refused to read (B06) is not kept either.
            value=None if redaction.is_secret_variable(result["component"], result["variable"]) else result.get("attributeValue"),
        )


@_on("SetVariables", "2.0.1")
def _set_variables(command: Command, request: dict, response: dict) -> None:
    """B05: each attribute answered Accepted or RebootRequired holds the value the request set.

    request: setVariableData [{attributeType?, attributeValue, component,
    variable}]; response: setVariableResult [{attributeType?,
    attributeStatus, component, variable}]. The answer carries no value: it
    comes from the request entry the result answers. RebootRequired counts
    as 1.6's ChangeConfiguration does: the value is set and takes effect at
    the next boot. A secret (SecurityCtrlr.BasicAuthPassword, or a variable
    reported WriteOnly) keeps no value: only its updated_at moves. The
    logged request holds the redaction marker in its place (`chargepoints.redaction`).
    """
    entries = request.get("setVariableData", [])
    for index, result in enumerate(response.get("setVariableResult", [])):
        if result.get("attributeStatus") not in ("Accepted", "RebootRequired"):
            continue
        entry = _requested_entry(entries, index, result)
        if entry is None:
            logger.warning(
                "%s: SetVariables result for %s.%s answers no requested variable; not recorded",
                command.charge_point_id,
                result["component"].get("name"),
                result["variable"].get("name"),
            )
            continue
        attribute_type = entry.get("attributeType") or "Actual"
        if redaction.is_secret_variable(entry["component"], entry["variable"]) or _write_only(
            command.charge_point_id, entry["component"], entry["variable"], attribute_type
        ):
            # A WriteOnly value (a password, a key) is one the station never
            # reports: keeping it would make it readable in the admin and API.
            _variable_touch(command.charge_point_id, entry["component"], entry["variable"], attribute_type)
            continue
        services.variable_value_set(
            charge_point_id=command.charge_point_id,
            component=entry["component"],
            variable=entry["variable"],
            attribute_type=attribute_type,
            value=entry["attributeValue"],
        )


def _variable_rows(charge_point_id: str, component: dict, variable: dict, attribute_type: str):
    """The stored attribute (a QuerySet of at most one Variable) of that component, variable and type."""
    fields = ("component", "component_instance", "evse_id", "connector_id", "variable", "variable_instance")
    return Variable.objects.filter(
        charge_point_id=charge_point_id,
        attribute_type=attribute_type,
        **dict(zip(fields, _variable_identity(component, variable))),
    )


def _write_only(charge_point_id: str, component: dict, variable: dict, attribute_type: str) -> bool:
    rows = _variable_rows(charge_point_id, component, variable, attribute_type)
    return rows.filter(mutability=MutabilityEnumType.write_only).exists()


def _variable_touch(charge_point_id: str, component: dict, variable: dict, attribute_type: str) -> None:
    """Record that the attribute was set now, its value left unknown."""
    _variable_rows(charge_point_id, component, variable, attribute_type).update(updated_at=timezone.now())


@_on("RequestStopTransaction", "2.0.1")
def _request_stop(command: Command, request: dict, response: dict) -> None:
    """F03: mark the transaction, found by the station's transactionId; its Ended TransactionEvent closes it."""
    if _accepted(response):
        Transaction.objects.filter(
            charge_point_id=command.charge_point_id, transaction_id=request["transactionId"]
        ).update(remote_stop_requested_at=timezone.now())


@_on("ReserveNow", "2.0.1")
def _reserve_now_v201(command: Command, request: dict, response: dict) -> None:
    """H01: the reservation takes the answered status (Accepted, Faulted, Occupied, Rejected, Unavailable).

    request: id, expiryDateTime, idToken {idToken, type}, evseId?,
    groupIdToken? {idToken, type}, connectorType?. A reservation without
    evseId is for any EVSE of the station, stored as connector_id 0 like a
    1.6 reservation of connector 0.
    """
    _reservation_record(
        command,
        request["id"],
        connector_id=request.get("evseId", 0),
        id_tag=request["idToken"]["idToken"],
        parent_id_tag=(request.get("groupIdToken") or {}).get("idToken", ""),
        expiry_date=parse_timestamp(request["expiryDateTime"]),
        status=response["status"],
    )


@_on("SetChargingProfile", "2.0.1")
def _set_charging_profile_v201(command: Command, request: dict, response: dict) -> None:
    """K01: store the profile and install it on the EVSE (0: the whole station).

    request: evseId, chargingProfile {id, stackLevel, chargingProfilePurpose,
    chargingProfileKind, recurrencyKind?, validFrom?, validTo?,
    transactionId?, chargingSchedule [ChargingScheduleType, 1 to 3]}. The
    schedule is stored as that list. The profile's transactionId is the
    station's; it is stored as this system's id of that transaction, the
    meaning ChargingProfile.transaction_id has for 1.6 (None when the
    transaction is not known here).
    """
    if not _accepted(response):
        return
    p = request["chargingProfile"]
    transaction_id = None
    if p.get("transactionId"):
        transaction_id = (
            Transaction.objects.filter(charge_point_id=command.charge_point_id, transaction_id=p["transactionId"])
            .values_list("pk", flat=True)
            .first()
        )
        if transaction_id is None:
            logger.warning(
                "%s: TxProfile %s is for transaction %r, unknown here; stored without its transaction",
                command.charge_point_id,
                p["id"],
                p["transactionId"],
            )
    _charging_profile_install(
        command, connector_id=request["evseId"], charging_profile_id=p["id"], profile=p, transaction_id=transaction_id
    )


@_on("ClearChargingProfile", "2.0.1")
def _clear_charging_profile_v201(command: Command, request: dict, response: dict) -> None:
    """K10: clear the installed profiles matching chargingProfileId, or else chargingProfileCriteria.

    request: chargingProfileId?, chargingProfileCriteria? {evseId?,
    chargingProfilePurpose?, stackLevel?}; all of them when neither is given.
    """
    if not _accepted(response):
        return
    criteria = request.get("chargingProfileCriteria") or {}
    _charging_profiles_clear(
        command,
        charging_profile_id=request.get("chargingProfileId"),
        connector_id=criteria.get("evseId"),
        purpose=criteria.get("chargingProfilePurpose"),
        stack_level=criteria.get("stackLevel"),
    )


@_on("SendLocalList", "2.0.1")
def _send_local_list_v201(command: Command, request: dict, response: dict) -> None:
    """D01: an Accepted list is the station's list version (versionNumber) from now on."""
    if _accepted(response):
        # As for 1.6: local_list_synced_at belongs to operations.send_local_list.
        ChargePoint.objects.filter(pk=command.charge_point_id).update(local_list_version=request["versionNumber"])


@_on("GetLocalListVersion", "2.0.1")
def _get_local_list_version_v201(command: Command, request: dict, response: dict) -> None:
    """D02: remember the versionNumber the station reports (0: no list or an empty one)."""
    _local_list_version_reported(command, response["versionNumber"])
