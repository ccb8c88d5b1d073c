"""Version-neutral operator operations: one function per thing an operator asks of a charge point.

Each function takes neutral keyword-only arguments (snake_case, units in the
names: seconds `_s`, limits in the schedule's unit A or W, energies in Wh,
timezone-aware datetimes), looks up the charge point's OCPP version, builds
that version's message and sends it through `commands.call`. Version-specific
messages (ClearCache, DataTransfer, 2.0.1 GetReport …) stay reachable through
`commands.call` itself (the raw command endpoint, the admin's "Send any
message" form).

    operation               OCPP 1.6                    OCPP 2.0.1
    start_charging          RemoteStartTransaction      RequestStartTransaction
    stop_charging           RemoteStopTransaction       RequestStopTransaction
    reset                   Reset (Soft/Hard)           Reset (OnIdle/Immediate)
    unlock                  UnlockConnector             UnlockConnector
    change_availability     ChangeAvailability          ChangeAvailability
    trigger_message         TriggerMessage              TriggerMessage
    reserve                 ReserveNow                  ReserveNow
    cancel_reservation      CancelReservation           CancelReservation
    set_charging_profile    SetChargingProfile          SetChargingProfile
    clear_charging_profile  ClearChargingProfile        ClearChargingProfile
    composite_schedule      GetCompositeSchedule        GetCompositeSchedule
    send_local_list         SendLocalList               SendLocalList
    update_firmware         UpdateFirmware              UpdateFirmware
    fetch_logs              GetDiagnostics              GetLog (DiagnosticsLog)
    get_configuration       GetConfiguration            GetVariables (keys given) / GetBaseReport (all)
    change_configuration    ChangeConfiguration         SetVariables

An EVSE in the neutral arguments is a 2.0.1 EVSE; for OCPP 1.6 it is the
connector of the same number (a 1.6 connector N is EVSE N with one connector,
as `Connector` stores it), 0 meaning the whole charge point.

Every function returns the `commands.CommandResult` of the CALL: `action` is
the message sent, `response` the station's answer exactly as received, and
`extra` a neutral summary: "operation" (its kebab-case name), "ocpp_version",
"status" (the answer's status word — see `answer_status` — or None) and what
the operation adds (reservation_id, remote_start_id, request_id,
configuration, unknown_keys, skipped_id_tags …).

Errors: whatever `commands.call` raises (`commands.CommandError` subclasses:
UnknownChargePoint 404, InvalidPayload 400, ChargePointOffline 409, QueueFull
429, CallErrorReceived / InvalidResponse 502, CommandTimeout 504), and
`InvalidArguments` (400, an InvalidPayload whose `details["field"]` names the
neutral argument) for arguments the station's version cannot express or that
name rows that do not exist; nothing is sent then.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Callable

from django.db import IntegrityError
from django.db import transaction as db_transaction
from django.utils import timezone

from transactions.models import IdTag, Reservation, ReservationStatus, Transaction
from transactions.selectors import local_authorization_list, local_authorization_list_v201

from . import commands
from .models import ChargePoint, CommandSource
from .ocpp.datetimes import format_datetime
# Moved to services so that commands.py can draw request ids too; the old name stays for callers.
from .services import request_id_next as _next_request_id

V16, V201 = "1.6", "2.0.1"

# Longest id tag each version carries: 1.6 idTag is CiString20, 2.0.1 idToken a string of 36.
ID_TAG_MAX_LENGTH = {V16: 20, V201: 36}

# Neutral purpose names → each version's word. 1.6 calls the station-wide limit
# ChargePointMaxProfile, 2.0.1 ChargingStationMaxProfile; either is accepted.
STATION_MAX_PROFILE = "ChargingStationMaxProfile"
PURPOSES = {
    STATION_MAX_PROFILE: {V16: "ChargePointMaxProfile", V201: "ChargingStationMaxProfile"},
    "ChargePointMaxProfile": {V16: "ChargePointMaxProfile", V201: "ChargingStationMaxProfile"},
    "TxDefaultProfile": {V16: "TxDefaultProfile", V201: "TxDefaultProfile"},
    "TxProfile": {V16: "TxProfile", V201: "TxProfile"},
}
PROFILE_KINDS = ("Absolute", "Recurring", "Relative")
RECURRENCY_KINDS = ("Daily", "Weekly")
RATE_UNITS = ("A", "W")

# Neutral trigger names → each version's requestedMessage. 1.6's
# DiagnosticsStatusNotification is 2.0.1's LogStatusNotification (either name is accepted).
TRIGGERS = {
    "BootNotification": {V16: "BootNotification", V201: "BootNotification"},
    "Heartbeat": {V16: "Heartbeat", V201: "Heartbeat"},
    "StatusNotification": {V16: "StatusNotification", V201: "StatusNotification"},
    "MeterValues": {V16: "MeterValues", V201: "MeterValues"},
    "FirmwareStatusNotification": {V16: "FirmwareStatusNotification", V201: "FirmwareStatusNotification"},
    "DiagnosticsStatusNotification": {V16: "DiagnosticsStatusNotification", V201: "LogStatusNotification"},
    "LogStatusNotification": {V16: "DiagnosticsStatusNotification", V201: "LogStatusNotification"},
}
TRIGGER_MESSAGES = [name for name in TRIGGERS if name != "LogStatusNotification"]

RESET_TYPES = {"soft": {V16: "Soft", V201: "OnIdle"}, "hard": {V16: "Hard", V201: "Immediate"}}
UPDATE_TYPES = ("Full", "Differential")

# A 2.0.1 configuration key: Component[instance]@EVSE<id>/<connector>.Variable[instance], the
# form `Variable.__str__` prints; instance and EVSE parts are optional ("OCPPCommCtrlr.HeartbeatInterval").
VARIABLE_KEY_RE = re.compile(
    r"^(?P<component>[^.\[\]@]{1,50})(?:\[(?P<component_instance>[^\]]{1,50})\])?"
    r"(?:@EVSE(?P<evse>\d+)(?:/(?P<connector>\d+))?)?"
    r"\.(?P<variable>[^.\[\]]{1,50})(?:\[(?P<variable_instance>[^\]]{1,50})\])?$"
)


class InvalidArguments(commands.InvalidPayload):
    """Arguments the station's OCPP version cannot carry, or naming rows that do not exist (HTTP 400).

    `details["field"]` names the neutral argument (e.g. "transaction", "evse_id").
    """


def _invalid(field: str, message: str) -> InvalidArguments:
    return InvalidArguments(f"{field}: {message}", field=field)


# --- shared pieces ---------------------------------------------------------------------------


def _station(charge_point_id: str) -> tuple[ChargePoint, str]:
    cp = ChargePoint.objects.filter(pk=charge_point_id).first()
    if cp is None:
        raise commands.UnknownChargePoint(f"No charge point {charge_point_id!r} is registered")
    return cp, cp.ocpp_version or V16


def _datetime(field: str, value: datetime | None) -> str | None:
    if value is None:
        return None
    if timezone.is_naive(value):
        raise _invalid(field, "a timezone-aware datetime is needed")
    return format_datetime(value)


def _compact(**fields) -> dict:
    """`fields` without the unset ones (None); 0, False and "" are values and stay."""
    return {k: v for k, v in fields.items() if v is not None}


def _number(value) -> int | float:
    """A limit as JSON carries it best: 16 rather than 16.0 (some stations parse 16.0 as a decimal), 8.5 as is."""
    number = Decimal(str(value))
    return int(number) if number == number.to_integral_value() else float(number)


def _check_id_tag(version: str, field: str, value: str) -> None:
    limit = ID_TAG_MAX_LENGTH[version]
    if len(value) > limit:
        raise _invalid(field, f"OCPP {version} carries id tags of at most {limit} characters")


def _id_token(id_tag: str, token_type: str | None = None) -> dict:
    """2.0.1 IdTokenType for `id_tag`: its type from the id tags table, else "Central"."""
    if not token_type:
        token_type = IdTag.objects.filter(id_tag=id_tag).values_list("type", flat=True).first() or "Central"
    return {"idToken": id_tag, "type": token_type}


def _evse(evse_id: int | None, connector_id: int | None = None) -> dict | None:
    """2.0.1 EVSEType, or None for the whole station (no EVSE, or EVSE 0)."""
    if not evse_id:
        return None
    return _compact(id=evse_id, connectorId=connector_id)


def _v16_connector(evse_id: int, connector_id: int | None) -> int:
    """The 1.6 connectorId of (evse_id, connector_id): 1.6 EVSE N has the one connector N (or 1)."""
    if connector_id not in (None, 1, evse_id):
        raise _invalid("connector_id", "an OCPP 1.6 charge point has one connector per connector id (EVSE)")
    return evse_id


def answer_status(action: str, response: dict | None, version: str = V16) -> str | None:
    """The status word of an answer: its `status`, or the equivalent for messages without one.

    2.0.1 SetVariables: the attributeStatus of its (single) result. 1.6
    UpdateFirmware answers nothing but means Accepted; 1.6 GetDiagnostics is
    Accepted when it names the file it uploads, Rejected when it has none.
    None for reads without a status (GetConfiguration, GetVariables).
    """
    response = response if isinstance(response, dict) else {}
    if "status" in response:
        return str(response["status"])
    if action == "SetVariables":
        results = response.get("setVariableResult") or []
        return str(results[0].get("attributeStatus")) if len(results) == 1 else None
    if version == V16 and action == "UpdateFirmware":
        return "Accepted"
    if version == V16 and action == "GetDiagnostics":
        return "Accepted" if response.get("fileName") else "Rejected"
    return None


def _send(
    operation: str,
    cp: ChargePoint,
    version: str,
    action: str,
    payload: dict,
    *,
    source: str,
    user,
    timeout: float | None,
    **extra,
) -> commands.CommandResult:
    result = commands.call(cp.pk, action, payload, source=source, user=user, timeout=timeout)
    result.extra.update(
        operation=operation, ocpp_version=version, status=answer_status(result.action, result.response, version), **extra
    )
    return result


def _transaction(cp: ChargePoint, transaction_pk: int) -> Transaction:
    tx = Transaction.objects.filter(pk=transaction_pk, charge_point_id=cp.pk).first()
    if tx is None:
        raise _invalid("transaction", f"no transaction {transaction_pk} of {cp.pk} is known")
    return tx


def _ocpp_transaction_id(version: str, tx: Transaction):
    """The transactionId the station knows: our primary key (1.6 integer) or its own id (2.0.1 string)."""
    if version == V16:
        return tx.pk
    if not tx.transaction_id:
        raise _invalid("transaction", f"transaction {tx.pk} has no 2.0.1 transaction id")
    return tx.transaction_id


# --- transactions ----------------------------------------------------------------------------


def start_charging(
    *,
    charge_point_id: str,
    id_tag: str,
    evse_id: int | None = None,
    charging_profile: dict | None = None,
    id_token_type: str | None = None,
    source: str = CommandSource.SYSTEM,
    user=None,
    timeout: float | None = None,
) -> commands.CommandResult:
    """Ask the station to start a transaction for `id_tag` (1.6 §5.11; 2.0.1 F01/F02).

    `evse_id` (≥ 1) picks the EVSE (1.6: connector); None lets the station
    choose. `charging_profile` is an optional TxProfile in the neutral shape of
    `set_charging_profile`'s arguments (without evse_id). `id_token_type`
    (2.0.1 IdTokenEnumType) defaults to the id tag's type in the id tags
    table, else "Central".

    1.6 RemoteStartTransaction {idTag, connectorId?, chargingProfile?}.
    2.0.1 RequestStartTransaction {idToken {idToken, type}, remoteStartId, evseId?, chargingProfile?};
    the remoteStartId, allocated here from the command log's ids, is in
    `extra["remote_start_id"]` and comes back on the transaction's TransactionEvent.
    Raises InvalidArguments for an id tag too long for the version.
    """
    cp, version = _station(charge_point_id)
    _check_id_tag(version, "id_tag", id_tag)
    profile = None
    if charging_profile is not None:
        if charging_profile.get("purpose") != "TxProfile":
            raise _invalid("charging_profile", "a profile sent with a start must be a TxProfile")
        profile = _profile_payload(cp, version, charging_profile, field="charging_profile")
    if version == V16:
        payload = _compact(idTag=id_tag, connectorId=evse_id, chargingProfile=profile)
        return _send("start-charging", cp, version, "RemoteStartTransaction", payload, source=source, user=user, timeout=timeout)
    remote_start_id = _next_request_id()
    payload = _compact(
        idToken=_id_token(id_tag, id_token_type), remoteStartId=remote_start_id, evseId=evse_id, chargingProfile=profile
    )
    return _send(
        "start-charging", cp, version, "RequestStartTransaction", payload,
        source=source, user=user, timeout=timeout, remote_start_id=remote_start_id,
    )


def stop_charging(
    *,
    charge_point_id: str,
    transaction: int,
    source: str = CommandSource.SYSTEM,
    user=None,
    timeout: float | None = None,
) -> commands.CommandResult:
    """Ask the station to stop `transaction` (our Transaction's primary key) (1.6 §5.12; 2.0.1 F03).

    1.6 RemoteStopTransaction {transactionId: the primary key}.
    2.0.1 RequestStopTransaction {transactionId: the station's own id, Transaction.transaction_id}.
    Raises InvalidArguments when the charge point has no such transaction.
    """
    cp, version = _station(charge_point_id)
    tx = _transaction(cp, transaction)
    action = "RemoteStopTransaction" if version == V16 else "RequestStopTransaction"
    payload = {"transactionId": _ocpp_transaction_id(version, tx)}
    return _send("stop-charging", cp, version, action, payload, source=source, user=user, timeout=timeout, transaction=tx.pk)


# --- the station -----------------------------------------------------------------------------


def reset(
    *,
    charge_point_id: str,
    type: str = "soft",
    evse_id: int | None = None,
    source: str = CommandSource.SYSTEM,
    user=None,
    timeout: float | None = None,
) -> commands.CommandResult:
    """Restart the station (1.6 §5.14; 2.0.1 B11/B12).

    `type` "soft" (finish gracefully) or "hard" (at once): 1.6 Reset {type
    Soft/Hard}; 2.0.1 Reset {type OnIdle/Immediate, evseId?}. `evse_id` resets
    one EVSE only, 2.0.1 only: InvalidArguments for a 1.6 charge point.
    """
    if type not in RESET_TYPES:
        raise _invalid("type", f"one of {', '.join(RESET_TYPES)}")
    cp, version = _station(charge_point_id)
    if version == V16:
        if evse_id:
            raise _invalid("evse_id", "an OCPP 1.6 charge point resets as a whole")
        payload = {"type": RESET_TYPES[type][V16]}
    else:
        payload = _compact(type=RESET_TYPES[type][V201], evseId=evse_id or None)
    return _send("reset", cp, version, "Reset", payload, source=source, user=user, timeout=timeout)


def unlock(
    *,
    charge_point_id: str,
    evse_id: int,
    connector_id: int | None = None,
    source: str = CommandSource.SYSTEM,
    user=None,
    timeout: float | None = None,
) -> commands.CommandResult:
    """Unlock a connector's cable (1.6 §5.18; 2.0.1 F05).

    1.6 UnlockConnector {connectorId: evse_id}; 2.0.1 UnlockConnector {evseId,
    connectorId (default 1)}. A 1.6 connector_id other than 1 or evse_id is InvalidArguments.
    """
    cp, version = _station(charge_point_id)
    if version == V16:
        payload = {"connectorId": _v16_connector(evse_id, connector_id)}
    else:
        payload = {"evseId": evse_id, "connectorId": connector_id or 1}
    return _send("unlock", cp, version, "UnlockConnector", payload, source=source, user=user, timeout=timeout)


def change_availability(
    *,
    charge_point_id: str,
    operative: bool,
    evse_id: int = 0,
    connector_id: int | None = None,
    source: str = CommandSource.SYSTEM,
    user=None,
    timeout: float | None = None,
) -> commands.CommandResult:
    """Make the station (evse_id 0), an EVSE or a connector operative or inoperative (1.6 §5.2; 2.0.1 G03–G05).

    1.6 ChangeAvailability {connectorId: evse_id, type Operative/Inoperative}.
    2.0.1 ChangeAvailability {operationalStatus, evse {id, connectorId?}}, evse left out for 0.
    """
    if not evse_id and connector_id:
        raise _invalid("connector_id", "give the EVSE of the connector")
    cp, version = _station(charge_point_id)
    status = "Operative" if operative else "Inoperative"
    if version == V16:
        payload = {"connectorId": _v16_connector(evse_id, connector_id) if evse_id else 0, "type": status}
    else:
        payload = _compact(operationalStatus=status, evse=_evse(evse_id, connector_id))
    return _send("change-availability", cp, version, "ChangeAvailability", payload, source=source, user=user, timeout=timeout)


def trigger_message(
    *,
    charge_point_id: str,
    message: str,
    evse_id: int | None = None,
    connector_id: int | None = None,
    source: str = CommandSource.SYSTEM,
    user=None,
    timeout: float | None = None,
) -> commands.CommandResult:
    """Ask the station to send one of its messages now (1.6 §5.17; 2.0.1 F06).

    `message`: BootNotification, Heartbeat, StatusNotification, MeterValues,
    FirmwareStatusNotification or DiagnosticsStatusNotification (2.0.1:
    LogStatusNotification; either name is accepted). 1.6 TriggerMessage
    {requestedMessage, connectorId?: evse_id}; 2.0.1 TriggerMessage
    {requestedMessage, evse {id, connectorId?}?} (no evse for None or 0).
    """
    if message not in TRIGGERS:
        raise _invalid("message", f"one of {', '.join(TRIGGER_MESSAGES)}")
    if not evse_id and connector_id:
        raise _invalid("connector_id", "give the EVSE of the connector")
    cp, version = _station(charge_point_id)
    if version == V16:
        connector = None if evse_id is None else _v16_connector(evse_id, connector_id)
        payload = _compact(requestedMessage=TRIGGERS[message][V16], connectorId=connector)
    else:
        payload = _compact(requestedMessage=TRIGGERS[message][V201], evse=_evse(evse_id, connector_id))
    return _send("trigger-message", cp, version, "TriggerMessage", payload, source=source, user=user, timeout=timeout)


# --- reservations ----------------------------------------------------------------------------


def _reservation_create(**fields) -> Reservation:
    """Create a reservation with a fresh id.

    A ReserveNow sent through the raw API may have used an id the sequence has
    not reached yet (PostgreSQL does not advance it for explicit ids); the
    next values are tried until one is free.
    """
    for attempt in range(20):
        try:
            with db_transaction.atomic():
                return Reservation.objects.create(**fields)
        except IntegrityError:
            if attempt == 19:
                raise
    raise AssertionError("unreachable")


def reserve(
    *,
    charge_point_id: str,
    id_tag: str,
    expiry: datetime,
    evse_id: int | None = None,
    parent_id_tag: str = "",
    source: str = CommandSource.SYSTEM,
    user=None,
    timeout: float | None = None,
) -> commands.CommandResult:
    """Reserve an EVSE (None or 0: any) for `id_tag` until `expiry` (1.6 §5.13; 2.0.1 H01).

    The reservation id is allocated here: a Reservation row (status
    Requested) exists before the CALL goes out, and the answer sets its status.
    `extra["reservation_id"]` names it.

    1.6 ReserveNow {connectorId: evse_id or 0, expiryDate, idTag, reservationId, parentIdTag?}.
    2.0.1 ReserveNow {id, expiryDateTime, idToken {idToken, type}, evseId?, groupIdToken?}.

    The row is deleted when the station certainly did not reserve (offline,
    CALLERROR, invalid payload, queue full); after a timeout it stays Requested.
    """
    cp, version = _station(charge_point_id)
    _check_id_tag(version, "id_tag", id_tag)
    if parent_id_tag:
        _check_id_tag(version, "parent_id_tag", parent_id_tag)
    expiry_text = _datetime("expiry", expiry)
    reservation = _reservation_create(
        charge_point_id=cp.pk,
        connector_id=evse_id or 0,
        id_tag=id_tag,
        parent_id_tag=parent_id_tag,
        expiry_date=expiry,
        status=ReservationStatus.REQUESTED,
    )
    if version == V16:
        payload = {"connectorId": evse_id or 0, "expiryDate": expiry_text, "idTag": id_tag, "reservationId": reservation.pk}
        if parent_id_tag:
            payload["parentIdTag"] = parent_id_tag
    else:
        payload = _compact(
            id=reservation.pk,
            expiryDateTime=expiry_text,
            idToken=_id_token(id_tag),
            evseId=evse_id or None,
            groupIdToken=_id_token(parent_id_tag) if parent_id_tag else None,
        )
    try:
        result = _send(
            "reserve", cp, version, "ReserveNow", payload,
            source=source, user=user, timeout=timeout, reservation_id=reservation.pk,
        )
    except (commands.ChargePointOffline, commands.CallErrorReceived, commands.InvalidPayload, commands.QueueFull):
        # Certainly not reserved at the charge point. The command log keeps the attempt.
        reservation.delete()
        raise
    status = result.response.get("status")
    if status in ReservationStatus.values:
        # `results` records the answer of a 1.6 ReserveNow; this covers any version it does not.
        Reservation.objects.filter(pk=reservation.pk, status=ReservationStatus.REQUESTED).update(status=status)
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
    """`reserve` in the OCPP 1.6 words (connector_id, expiry_date); returns the reservation and the answer."""
    result = reserve(
        charge_point_id=charge_point_id,
        id_tag=id_tag,
        expiry=expiry_date,
        evse_id=connector_id,
        parent_id_tag=parent_id_tag,
        source=source,
        user=user,
        timeout=timeout,
    )
    return Reservation.objects.get(pk=result.extra["reservation_id"]), result


def cancel_reservation(
    *,
    charge_point_id: str,
    reservation_id: int,
    source: str = CommandSource.SYSTEM,
    user=None,
    timeout: float | None = None,
) -> commands.CommandResult:
    """Cancel a reservation (1.6 §5.1; 2.0.1 H02): CancelReservation {reservationId} in both versions.

    An Accepted answer marks the reservation Cancelled.
    """
    cp, version = _station(charge_point_id)
    result = _send(
        "cancel-reservation", cp, version, "CancelReservation", {"reservationId": reservation_id},
        source=source, user=user, timeout=timeout,
    )
    if result.response.get("status") == "Accepted":
        # `results` does so for 1.6; this covers any version it does not.
        Reservation.objects.filter(pk=reservation_id, charge_point_id=cp.pk).exclude(
            status=ReservationStatus.CANCELLED
        ).update(status=ReservationStatus.CANCELLED)
    return result


# --- smart charging --------------------------------------------------------------------------


def _profile_payload(cp: ChargePoint, version: str, profile: dict, *, field: str = "") -> dict:
    """A neutral charging profile (see `set_charging_profile`) as 1.6 ChargingProfile or 2.0.1 ChargingProfileType."""
    prefix = f"{field}." if field else ""
    purpose = profile.get("purpose")
    if purpose not in PURPOSES:
        raise _invalid(f"{prefix}purpose", f"one of {', '.join(p for p in PURPOSES if p != 'ChargePointMaxProfile')}")
    periods = []
    for period in profile.get("periods") or []:
        periods.append(
            _compact(startPeriod=int(period["start_period_s"]), limit=_number(period["limit"]),
                     numberPhases=period.get("number_phases"))
        )
    if not periods:
        raise _invalid(f"{prefix}periods", "give at least one period")
    tx_id = None
    if profile.get("transaction") is not None:
        tx_id = _ocpp_transaction_id(version, _transaction(cp, profile["transaction"]))
    min_rate = profile.get("min_charging_rate")
    schedule = _compact(
        duration=profile.get("duration_s"),
        startSchedule=_datetime(f"{prefix}start_schedule", profile.get("start_schedule")),
        chargingRateUnit=profile["charging_rate_unit"],
        chargingSchedulePeriod=periods,
        minChargingRate=None if min_rate is None else _number(min_rate),
    )
    common = dict(
        stackLevel=profile["stack_level"],
        chargingProfilePurpose=PURPOSES[purpose][version],
        chargingProfileKind=profile["kind"],
        recurrencyKind=profile.get("recurrency") or None,
        validFrom=_datetime(f"{prefix}valid_from", profile.get("valid_from")),
        validTo=_datetime(f"{prefix}valid_to", profile.get("valid_to")),
        transactionId=tx_id,
    )
    if version == V16:
        return _compact(chargingProfileId=profile["charging_profile_id"], **common, chargingSchedule=schedule)
    # 2.0.1 carries up to three schedules, each with an id; ours is the profile's id.
    return _compact(id=profile["charging_profile_id"], **common, chargingSchedule=[{"id": profile["charging_profile_id"], **schedule}])


def set_charging_profile(
    *,
    charge_point_id: str,
    evse_id: int,
    charging_profile_id: int,
    stack_level: int,
    purpose: str,
    kind: str,
    charging_rate_unit: str,
    periods: list[dict],
    recurrency: str | None = None,
    valid_from: datetime | None = None,
    valid_to: datetime | None = None,
    transaction: int | None = None,
    duration_s: int | None = None,
    start_schedule: datetime | None = None,
    min_charging_rate: float | None = None,
    source: str = CommandSource.SYSTEM,
    user=None,
    timeout: float | None = None,
) -> commands.CommandResult:
    """Install a charging profile on an EVSE (0: the whole station) (1.6 §5.16; 2.0.1 K01).

    `purpose` ChargingStationMaxProfile (alias ChargePointMaxProfile),
    TxDefaultProfile or TxProfile; `kind` Absolute, Recurring or Relative;
    `recurrency` Daily or Weekly for Recurring profiles; `transaction` our
    Transaction's primary key, for a TxProfile. The schedule: `charging_rate_unit`
    "A" or "W"; `periods` [{"start_period_s": seconds from the schedule start,
    "limit": in the rate unit (at most one decimal), "number_phases"?: 1–3}];
    optional `duration_s`, `start_schedule`, `min_charging_rate` (rate unit).

    1.6 SetChargingProfile {connectorId, csChargingProfiles {chargingProfileId,
    …, chargingSchedule {…}}}; 2.0.1 SetChargingProfile {evseId,
    chargingProfile {id, …, chargingSchedule [{id: the profile id, …}]}}.
    """
    cp, version = _station(charge_point_id)
    profile = _profile_payload(
        cp,
        version,
        dict(
            charging_profile_id=charging_profile_id, stack_level=stack_level, purpose=purpose, kind=kind,
            charging_rate_unit=charging_rate_unit, periods=periods, recurrency=recurrency, valid_from=valid_from,
            valid_to=valid_to, transaction=transaction, duration_s=duration_s, start_schedule=start_schedule,
            min_charging_rate=min_charging_rate,
        ),
    )
    if version == V16:
        payload = {"connectorId": evse_id, "csChargingProfiles": profile}
    else:
        payload = {"evseId": evse_id, "chargingProfile": profile}
    return _send("set-charging-profile", cp, version, "SetChargingProfile", payload, source=source, user=user, timeout=timeout)


def clear_charging_profile(
    *,
    charge_point_id: str,
    charging_profile_id: int | None = None,
    evse_id: int | None = None,
    purpose: str | None = None,
    stack_level: int | None = None,
    source: str = CommandSource.SYSTEM,
    user=None,
    timeout: float | None = None,
) -> commands.CommandResult:
    """Clear one profile by id, or all matching the criteria (all of them when none is given) (1.6 §5.5; 2.0.1 K10).

    1.6 ClearChargingProfile {id?, connectorId?, chargingProfilePurpose?, stackLevel?};
    2.0.1 ClearChargingProfile {chargingProfileId?, chargingProfileCriteria {evseId?, chargingProfilePurpose?, stackLevel?}?}.
    """
    if purpose is not None and purpose not in PURPOSES:
        raise _invalid("purpose", f"one of {', '.join(p for p in PURPOSES if p != 'ChargePointMaxProfile')}")
    cp, version = _station(charge_point_id)
    word = PURPOSES[purpose][version] if purpose else None
    if version == V16:
        payload = _compact(id=charging_profile_id, connectorId=evse_id, chargingProfilePurpose=word, stackLevel=stack_level)
    else:
        criteria = _compact(evseId=evse_id, chargingProfilePurpose=word, stackLevel=stack_level)
        payload = _compact(chargingProfileId=charging_profile_id, chargingProfileCriteria=criteria or None)
    return _send("clear-charging-profile", cp, version, "ClearChargingProfile", payload, source=source, user=user, timeout=timeout)


def composite_schedule(
    *,
    charge_point_id: str,
    evse_id: int,
    duration_s: int,
    charging_rate_unit: str | None = None,
    source: str = CommandSource.SYSTEM,
    user=None,
    timeout: float | None = None,
) -> commands.CommandResult:
    """Read the schedule an EVSE (0: the station's total) will follow for `duration_s` seconds (1.6 §5.7; 2.0.1 K08).

    1.6 GetCompositeSchedule {connectorId, duration, chargingRateUnit?};
    2.0.1 GetCompositeSchedule {evseId, duration, chargingRateUnit?}.
    """
    cp, version = _station(charge_point_id)
    key = "connectorId" if version == V16 else "evseId"
    payload = _compact(**{key: evse_id}, duration=duration_s, chargingRateUnit=charging_rate_unit or None)
    return _send("composite-schedule", cp, version, "GetCompositeSchedule", payload, source=source, user=user, timeout=timeout)


# --- local authorization list ----------------------------------------------------------------


def _local_list_v16(since) -> tuple[list[dict], list[str]]:
    """1.6 AuthorizationData entries, without the id tags 1.6 cannot carry (CiString20); returns them and the skipped."""
    limit = ID_TAG_MAX_LENGTH[V16]
    entries, skipped = [], []
    for entry in local_authorization_list(since=since):
        if len(entry["idTag"]) > limit:
            skipped.append(entry["idTag"])
            continue
        if len(entry["idTagInfo"].get("parentIdTag", "")) > limit:
            # A group too long for 1.6: the card still authorizes, without the group's ConcurrentTx check.
            entry["idTagInfo"] = {k: v for k, v in entry["idTagInfo"].items() if k != "parentIdTag"}
        entries.append(entry)
    return entries, skipped


def send_local_list(
    *,
    charge_point_id: str,
    update_type: str = "Full",
    source: str = CommandSource.SYSTEM,
    user=None,
    timeout: float | None = None,
) -> commands.CommandResult:
    """Send the id tags table as the station's Local Authorization List (1.6 §5.15; 2.0.1 D01).

    `update_type` "Full" sends every id tag; "Differential" only those changed
    since the list the charge point last accepted (Full when it has none). The
    list version is one more than the last known one; an Accepted answer
    records it and the moment the list was built.

    1.6 SendLocalList {listVersion, updateType, localAuthorizationList [{idTag, idTagInfo}]}:
    id tags longer than 20 characters cannot be carried and are left out
    (listed in `extra["skipped_id_tags"]`). 2.0.1 SendLocalList {versionNumber,
    updateType, localAuthorizationList? [{idToken {idToken, type}, idTokenInfo {status, …}}]}
    (left out when empty: the schema wants at least one entry).
    """
    if update_type not in UPDATE_TYPES:
        raise _invalid("update_type", "Full or Differential")
    cp, version = _station(charge_point_id)
    built_at = timezone.now()
    since = cp.local_list_synced_at if update_type == "Differential" else None
    if update_type == "Differential" and since is None:
        update_type = "Full"
    list_version = max(cp.local_list_version or 0, 0) + 1
    if version == V16:
        entries, skipped = _local_list_v16(since)
        payload = {"listVersion": list_version, "updateType": update_type, "localAuthorizationList": entries}
        extra = {"skipped_id_tags": skipped}
    else:
        entries = local_authorization_list_v201(since=since)
        payload = _compact(versionNumber=list_version, updateType=update_type, localAuthorizationList=entries or None)
        extra = {"skipped_id_tags": []}
    result = _send(
        "send-local-list", cp, version, "SendLocalList", payload,
        source=source, user=user, timeout=timeout, list_version=list_version, update_type=update_type, **extra,
    )
    if result.response.get("status") == "Accepted":
        # The next Differential list carries what changed after this one was built. (`results`
        # records a 1.6 list version; the version is set here too for any version it does not.)
        ChargePoint.objects.filter(pk=cp.pk).update(local_list_synced_at=built_at, local_list_version=list_version)
    return result


# --- firmware and logs -----------------------------------------------------------------------


def update_firmware(
    *,
    charge_point_id: str,
    location: str,
    retrieve_date: datetime,
    retries: int | None = None,
    retry_interval_s: int | None = None,
    source: str = CommandSource.SYSTEM,
    user=None,
    timeout: float | None = None,
) -> commands.CommandResult:
    """Have the station download firmware from `location` (a URI) from `retrieve_date` on and install it (1.6 §5.19; 2.0.1 L01).

    1.6 UpdateFirmware {location, retrieveDate, retries?, retryInterval?};
    2.0.1 UpdateFirmware {requestId, firmware {location, retrieveDateTime}, retries?, retryInterval?}
    (requestId in `extra["request_id"]`). Progress arrives as FirmwareStatusNotification.
    """
    cp, version = _station(charge_point_id)
    retrieve = _datetime("retrieve_date", retrieve_date)
    if version == V16:
        payload = _compact(location=location, retrieveDate=retrieve, retries=retries, retryInterval=retry_interval_s)
        return _send("update-firmware", cp, version, "UpdateFirmware", payload, source=source, user=user, timeout=timeout)
    request_id = _next_request_id()
    payload = _compact(
        requestId=request_id,
        firmware={"location": location, "retrieveDateTime": retrieve},
        retries=retries,
        retryInterval=retry_interval_s,
    )
    return _send(
        "update-firmware", cp, version, "UpdateFirmware", payload,
        source=source, user=user, timeout=timeout, request_id=request_id,
    )


def fetch_logs(
    *,
    charge_point_id: str,
    location: str,
    retries: int | None = None,
    retry_interval_s: int | None = None,
    oldest: datetime | None = None,
    latest: datetime | None = None,
    source: str = CommandSource.SYSTEM,
    user=None,
    timeout: float | None = None,
) -> commands.CommandResult:
    """Have the station upload its diagnostics log to `location` (a directory URI) (1.6 §5.9; 2.0.1 N01).

    `oldest` / `latest` bound the log entries included. 1.6 GetDiagnostics
    {location, retries?, retryInterval?, startTime?, stopTime?}; 2.0.1 GetLog
    {logType "DiagnosticsLog", requestId, log {remoteLocation, oldestTimestamp?,
    latestTimestamp?}, retries?, retryInterval?} (requestId in `extra["request_id"]`).
    Progress arrives as DiagnosticsStatusNotification / LogStatusNotification.
    """
    cp, version = _station(charge_point_id)
    start, stop = _datetime("oldest", oldest), _datetime("latest", latest)
    if version == V16:
        payload = _compact(location=location, retries=retries, retryInterval=retry_interval_s, startTime=start, stopTime=stop)
        return _send("fetch-logs", cp, version, "GetDiagnostics", payload, source=source, user=user, timeout=timeout)
    request_id = _next_request_id()
    payload = _compact(
        logType="DiagnosticsLog",
        requestId=request_id,
        log=_compact(remoteLocation=location, oldestTimestamp=start, latestTimestamp=stop),
        retries=retries,
        retryInterval=retry_interval_s,
    )
    return _send("fetch-logs", cp, version, "GetLog", payload, source=source, user=user, timeout=timeout, request_id=request_id)


# --- configuration ---------------------------------------------------------------------------


def parse_variable_key(key: str, *, field: str = "key") -> tuple[dict, dict]:
    """A 2.0.1 configuration key "Component[inst]@EVSE1/2.Variable[inst]" → (ComponentType, VariableType).

    Only component and variable names are required: "OCPPCommCtrlr.HeartbeatInterval".
    Raises InvalidArguments naming `field` for anything else.
    """
    match = VARIABLE_KEY_RE.match(key)
    if match is None:
        raise _invalid(field, f"{key!r} is not Component.Variable (e.g. OCPPCommCtrlr.HeartbeatInterval)")
    m = match.groupdict()
    evse = _evse(int(m["evse"]), int(m["connector"]) if m["connector"] else None) if m["evse"] else None
    component = _compact(name=m["component"], instance=m["component_instance"], evse=evse)
    variable = _compact(name=m["variable"], instance=m["variable_instance"])
    return component, variable


def variable_key(component: dict, variable: dict) -> str:
    """The configuration key of a 2.0.1 (component, variable) pair; inverse of `parse_variable_key`."""
    key = component["name"] + (f"[{component['instance']}]" if component.get("instance") else "")
    evse = component.get("evse")
    if evse:
        key += f"@EVSE{evse['id']}" + (f"/{evse['connectorId']}" if evse.get("connectorId") else "")
    key += "." + variable["name"] + (f"[{variable['instance']}]" if variable.get("instance") else "")
    return key


def get_configuration(
    *,
    charge_point_id: str,
    keys: list[str] | None = None,
    source: str = CommandSource.SYSTEM,
    user=None,
    timeout: float | None = None,
) -> commands.CommandResult:
    """Read configuration keys; none given reads them all (1.6 §5.8; 2.0.1 B06/B07).

    1.6 GetConfiguration {key?: keys}: `extra["configuration"]` {key: value}
    and `extra["unknown_keys"]` from the answer. 2.0.1 with keys: GetVariables
    {getVariableData [{component, variable}]}, each key "Component.Variable"
    (see `parse_variable_key`); `extra` as for 1.6, a key whose attributeStatus
    is not Accepted being unknown. 2.0.1 without keys: GetBaseReport {requestId,
    reportBase "FullInventory"}; the values arrive later as NotifyReport
    (`extra["request_id"]` names the report).
    """
    cp, version = _station(charge_point_id)
    keys = list(dict.fromkeys(keys or []))
    if version == V16:
        result = _send(
            "get-configuration", cp, version, "GetConfiguration", _compact(key=keys or None),
            source=source, user=user, timeout=timeout,
        )
        items = result.response.get("configurationKey") or []
        result.extra["configuration"] = {item["key"]: item.get("value") for item in items}
        result.extra["unknown_keys"] = list(result.response.get("unknownKey") or [])
        return result
    if not keys:
        request_id = _next_request_id()
        return _send(
            "get-configuration", cp, version, "GetBaseReport", {"requestId": request_id, "reportBase": "FullInventory"},
            source=source, user=user, timeout=timeout, request_id=request_id,
        )
    data = []
    for key in keys:
        component, variable = parse_variable_key(key, field="keys")
        data.append({"component": component, "variable": variable})
    result = _send("get-configuration", cp, version, "GetVariables", {"getVariableData": data}, source=source, user=user, timeout=timeout)
    configuration, unknown = {}, []
    for item in result.response.get("getVariableResult") or []:
        key = variable_key(item["component"], item["variable"])
        if item.get("attributeStatus") == "Accepted":
            configuration[key] = item.get("attributeValue")
        else:
            unknown.append(key)
    result.extra["configuration"] = configuration
    result.extra["unknown_keys"] = unknown
    return result


def change_configuration(
    *,
    charge_point_id: str,
    key: str,
    value: str,
    source: str = CommandSource.SYSTEM,
    user=None,
    timeout: float | None = None,
) -> commands.CommandResult:
    """Set one configuration key (1.6 §5.3; 2.0.1 B05).

    1.6 ChangeConfiguration {key, value} (key up to 50, value up to 500
    characters); 2.0.1 SetVariables {setVariableData [{attributeValue: value,
    component, variable}]}, the key "Component.Variable" (see
    `parse_variable_key`). `extra["status"]` is the answer's status (2.0.1:
    the attributeStatus): Accepted, Rejected, RebootRequired, NotSupported (1.6),
    UnknownComponent / UnknownVariable (2.0.1) …
    """
    cp, version = _station(charge_point_id)
    if version == V16:
        return _send(
            "change-configuration", cp, version, "ChangeConfiguration", {"key": key, "value": value},
            source=source, user=user, timeout=timeout,
        )
    component, variable = parse_variable_key(key)
    payload = {"setVariableData": [{"attributeValue": value, "component": component, "variable": variable}]}
    return _send("change-configuration", cp, version, "SetVariables", payload, source=source, user=user, timeout=timeout)


# The operations by their kebab-case names (the API's URLs and the admin's pages).
OPERATIONS: dict[str, Callable[..., commands.CommandResult]] = {
    "start-charging": start_charging,
    "stop-charging": stop_charging,
    "reset": reset,
    "unlock": unlock,
    "change-availability": change_availability,
    "trigger-message": trigger_message,
    "reserve": reserve,
    "cancel-reservation": cancel_reservation,
    "set-charging-profile": set_charging_profile,
    "clear-charging-profile": clear_charging_profile,
    "composite-schedule": composite_schedule,
    "send-local-list": send_local_list,
    "update-firmware": update_firmware,
    "fetch-logs": fetch_logs,
    "get-configuration": get_configuration,
    "change-configuration": change_configuration,
}

# The message each operation sends, per version.
MESSAGES: dict[str, dict[str, str]] = {
    "start-charging": {V16: "RemoteStartTransaction", V201: "RequestStartTransaction"},
    "stop-charging": {V16: "RemoteStopTransaction", V201: "RequestStopTransaction"},
    "reset": {V16: "Reset", V201: "Reset"},
    "unlock": {V16: "UnlockConnector", V201: "UnlockConnector"},
    "change-availability": {V16: "ChangeAvailability", V201: "ChangeAvailability"},
    "trigger-message": {V16: "TriggerMessage", V201: "TriggerMessage"},
    "reserve": {V16: "ReserveNow", V201: "ReserveNow"},
    "cancel-reservation": {V16: "CancelReservation", V201: "CancelReservation"},
    "set-charging-profile": {V16: "SetChargingProfile", V201: "SetChargingProfile"},
    "clear-charging-profile": {V16: "ClearChargingProfile", V201: "ClearChargingProfile"},
    "composite-schedule": {V16: "GetCompositeSchedule", V201: "GetCompositeSchedule"},
    "send-local-list": {V16: "SendLocalList", V201: "SendLocalList"},
    "update-firmware": {V16: "UpdateFirmware", V201: "UpdateFirmware"},
    "fetch-logs": {V16: "GetDiagnostics", V201: "GetLog"},
    "get-configuration": {V16: "GetConfiguration", V201: "GetVariables or GetBaseReport"},
    "change-configuration": {V16: "ChangeConfiguration", V201: "SetVariables"},
}
