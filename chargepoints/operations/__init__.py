"""Version-neutral operations: one object per thing an operator asks of a charge point.

    result = operation_run(charge_point_id="CP-1", name="reset", arguments={"type": "hard"},
                           source=CommandSource.API, user=request.user)
    result.extra["status"]  # "Accepted"

Each `Operation` has a kebab-case name (the API's URLs and the admin's pages),
a label, a summary, a group (how the admin lists it) and an input serializer
(`operations.inputs`) that validates its neutral arguments: snake_case,
units in the names (seconds `_s`, limits in the schedule's unit A or W,
energies in Wh), timezone-aware datetimes. How it becomes a message is the
version's business: `chargepoints.ocpp.v16.operations` and `...v201.operations`
hold one builder per operation. The API, the admin forms, the admin's bulk
actions and `manage.py ocpp_call --operation` all iterate `OPERATIONS`.

    operation               OCPP 1.6                    OCPP 2.0.1
    start-charging          RemoteStartTransaction      RequestStartTransaction
    stop-charging           RemoteStopTransaction       RequestStopTransaction
    reset                   Reset (Soft/Hard)           Reset (OnIdle/Immediate)
    unlock                  UnlockConnector             UnlockConnector
    change-availability     ChangeAvailability          ChangeAvailability
    trigger-message         TriggerMessage              TriggerMessage
    reserve                 ReserveNow                  ReserveNow
    cancel-reservation      CancelReservation           CancelReservation
    set-charging-profile    SetChargingProfile          SetChargingProfile
    clear-charging-profile  ClearChargingProfile        ClearChargingProfile
    composite-schedule      GetCompositeSchedule        GetCompositeSchedule
    send-local-list         SendLocalList               SendLocalList
    update-firmware         UpdateFirmware              UpdateFirmware
    fetch-logs              GetDiagnostics              GetLog (DiagnosticsLog)
    get-configuration       GetConfiguration            GetVariables (keys given) / GetBaseReport (all)
    change-configuration    ChangeConfiguration         SetVariables
    change-password         ChangeConfiguration         SetVariables
    install-certificate     InstallCertificate          InstallCertificate
    get-installed-certificate-ids  GetInstalledCertificateIds  GetInstalledCertificateIds
    delete-certificate      DeleteCertificate           DeleteCertificate
    renew-certificate       ExtendedTriggerMessage      TriggerMessage (SignChargingStationCertificate)

An EVSE in the neutral arguments is a 2.0.1 EVSE; for OCPP 1.6 it is the
connector of the same number, 0 meaning the whole charge point.

`operation_run` returns the `commands.CommandResult` of the CALL: `action` is
the message sent, `response` the station's answer exactly as received, and
`extra` a neutral summary: "operation", "ocpp_version", "status" (the answer's
status word, `chargepoints.ocpp.answer_status`) and what the operation adds
(reservation_id, remote_start_id, request_id, configuration, unknown_keys,
skipped_id_tags …).

Errors: whatever `commands.call` raises (`commands.CommandError` subclasses:
UnknownChargePoint 404, InvalidPayload 400, ChargePointOffline 409, QueueFull
429, CallErrorReceived / InvalidResponse 502, CommandTimeout 504),
`UnknownOperation` (404), and `InvalidArguments` (400, whose
`details["field"]` names the first invalid argument as a path and
`details["errors"]` holds them all) for arguments that fail the input
serializer, that the station's version cannot express or that name rows that
do not exist; nothing is sent then.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils import timezone
from rest_framework import serializers

from chargepoints import commands, ocpp, security, selectors, services
from chargepoints.commands import InvalidArguments, UnknownChargePoint
from chargepoints.models import ChargePoint, CommandSource
from transactions import services as tx_services

from . import inputs

__all__ = ["OPERATIONS", "InvalidArguments", "Operation", "UnknownOperation", "operation_run"]


class UnknownOperation(commands.CommandError):
    """No operation of that name (HTTP 404)."""

    http_status = 404


def first_error(errors, path=()) -> tuple[str, str]:
    """(path "a/b/0/c", message) of the first error in DRF's nested `errors`."""
    if isinstance(errors, dict):
        for key, value in errors.items():
            if value:
                return first_error(value, path if key == "non_field_errors" else (*path, str(key)))
    if isinstance(errors, list):
        for index, value in enumerate(errors):
            if isinstance(value, (dict, list)):
                if value:
                    return first_error(value, (*path, str(index)))
            else:
                return "/".join(path), str(value)
    return "/".join(path), str(errors)


@dataclass(frozen=True)
class Operation:
    """One neutral operation. `input` validates its arguments; the versions' builders send it.

    `name` is kebab-case, `label` the admin's title, `summary` the API's,
    `group` the heading the admin lists it under.
    """

    name: str
    label: str
    summary: str
    group: str
    input: type[serializers.Serializer]

    def builder(self, version: str):
        """The function of `version`'s dialect that builds this operation's CALL."""
        return ocpp.dialect(version).OPERATIONS[self.name]

    def message(self, version: str) -> str:
        """The OCPP message this operation sends in `version` ("GetVariables or GetBaseReport" where it depends)."""
        return self.builder(version).message

    def clean(self, charge_point: ChargePoint, arguments: dict) -> dict:
        """Validated neutral arguments; raises InvalidArguments naming the first invalid one."""
        serializer = self.input(data=arguments, context={"charge_point": charge_point})
        if not serializer.is_valid():
            field, message = first_error(serializer.errors)
            raise InvalidArguments(f"{field}: {message}" if field else message, field=field, errors=serializer.errors)
        return dict(serializer.validated_data)

    def perform(self, charge_point: ChargePoint, arguments: dict, **send) -> commands.CommandResult:
        """Build the version's CALL from validated `arguments`, send it, summarise the answer in `extra`.

        `send`: the keyword arguments of `commands.call` (source, user, timeout, secret_change).
        """
        version = charge_point.version
        request = self.builder(version)(charge_point, **arguments)
        result = commands.call(charge_point.pk, request.action, request.payload, **send)
        result.extra.update(
            operation=self.name,
            ocpp_version=version,
            status=ocpp.answer_status(version, result.action, result.response),
            **request.extra,
        )
        if request.read is not None:
            result.extra.update(request.read(result.response))
        return result


class Reserve(Operation):
    """The reservation id is ours: a Reservation row (Requested) exists before the CALL goes out.

    Its answer (`services.reservation_answered`, applied in the dialects)
    sets the row's status. The row is deleted when the station certainly did
    not reserve (offline, CALLERROR, invalid payload, queue full); after a
    timeout it stays Requested.
    """

    def perform(self, charge_point, arguments, **send):
        reservation = tx_services.reservation_create(
            charge_point_id=charge_point.pk,
            evse_id=arguments.get("evse_id") or 0,
            id_tag=arguments["id_tag"],
            parent_id_tag=arguments.get("parent_id_tag", ""),
            expiry_date=arguments["expiry"],
        )
        try:
            return super().perform(charge_point, {**arguments, "reservation_id": reservation.pk}, **send)
        except (commands.ChargePointOffline, commands.CallErrorReceived, commands.InvalidPayload, commands.QueueFull):
            tx_services.reservation_delete(reservation_id=reservation.pk)
            raise


class SendLocalList(Operation):
    """The list version is one more than the last known one; Differential without a known list is Full.

    An Accepted answer records the version (the dialect's answer) and the
    moment this list was built (here): the next Differential list carries
    what changed after it.
    """

    def perform(self, charge_point, arguments, **send):
        built_at = timezone.now()
        update_type = arguments.get("update_type", "Full")
        since = charge_point.local_list_synced_at if update_type == "Differential" else None
        if since is None:
            update_type = "Full"
        list_version = max(charge_point.local_list_version or 0, 0) + 1
        built = {"list_version": list_version, "update_type": update_type, "since": since}
        result = super().perform(charge_point, built, **send)
        result.extra.update(list_version=list_version, update_type=update_type)
        if result.extra["status"] == "Accepted":
            services.local_list_synced(charge_point_id=charge_point.pk, synced_at=built_at)
        return result


class ChangePassword(Operation):
    """Rotate a charge point's Basic-auth password (1.6 Security Whitepaper §3.1.2, 2.0.1 A01) without locking it out.

    The new password (given, or generated) is kept as pending before the CALL
    goes out; the current one stays valid. The charge point's next connection
    with the new one makes it the password (`services.charge_point_connect`).
    An answer other than Accepted, or a CALL that never left, abandons the
    pending one; no answer in time (or one we cannot read) keeps it, since the
    charge point may have applied it. The new
    password is in `extra["password"]` this once: only hashes are stored, and
    the command log shows the CALL with the password hidden.
    """

    def perform(self, charge_point, arguments, **send):
        password = arguments.get("password") or security.password_generate()
        services.charge_point_password_pending(charge_point_id=charge_point.pk, password=password)
        try:
            result = super().perform(charge_point, {"password": password}, secret_change=True, **send)
        except (commands.CommandTimeout, commands.InvalidResponse, commands.MessagingUnavailable):
            # The CALL may have reached the charge point and been applied: the pending password stays, so its
            # next connection with it is served (and makes it the password) instead of being locked out.
            raise
        except commands.CommandError:
            services.charge_point_password_pending(charge_point_id=charge_point.pk, password=None)
            raise
        if result.extra["status"] == "Accepted":
            result.extra["password"] = password
        else:
            services.charge_point_password_pending(charge_point_id=charge_point.pk, password=None)
        return result


OPERATIONS: dict[str, Operation] = {
    op.name: op
    for op in (
        Operation("start-charging", "Start charging", "Start charging for an id tag", "Transactions", inputs.StartCharging),
        Operation("stop-charging", "Stop charging", "Stop a transaction", "Transactions", inputs.StopCharging),
        Operation("reset", "Reset", "Reset the charge point", "Station", inputs.Reset),
        Operation("unlock", "Unlock connector", "Unlock a connector", "Station", inputs.Unlock),
        Operation(
            "change-availability",
            "Change availability",
            "Make the charge point, an EVSE or a connector (in)operative",
            "Station",
            inputs.ChangeAvailability,
        ),
        Operation(
            "trigger-message",
            "Trigger message",
            "Have the charge point send a message now",
            "Station",
            inputs.TriggerMessage,
        ),
        Operation("get-configuration", "Get configuration", "Read configuration", "Configuration", inputs.GetConfiguration),
        Operation(
            "change-configuration",
            "Change configuration",
            "Change one configuration key",
            "Configuration",
            inputs.ChangeConfiguration,
        ),
        ChangePassword(
            "change-password", "Change password", "Rotate the charge point's Basic-auth password", "Security", inputs.ChangePassword
        ),
        Operation(
            "install-certificate",
            "Install certificate",
            "Install a root certificate on the charge point",
            "Security",
            inputs.InstallCertificate,
        ),
        Operation(
            "get-installed-certificate-ids",
            "List installed certificates",
            "List the certificates installed on the charge point",
            "Security",
            inputs.GetInstalledCertificateIds,
        ),
        Operation("delete-certificate", "Delete certificate", "Delete an installed certificate", "Security", inputs.DeleteCertificate),
        Operation(
            "renew-certificate",
            "Renew certificate",
            "Ask the charge point for a new CSR; the CSMS's CA signs it",
            "Security",
            inputs.RenewCertificate,
        ),
        Operation("update-firmware", "Update firmware", "Update the firmware", "Firmware and logs", inputs.UpdateFirmware),
        Operation(
            "fetch-logs",
            "Fetch logs",
            "Have the charge point upload its diagnostics log",
            "Firmware and logs",
            inputs.FetchLogs,
        ),
        SendLocalList(
            "send-local-list",
            "Send local list",
            "Send the id tags as the local authorization list",
            "Local authorization list",
            inputs.SendLocalList,
        ),
        Reserve("reserve", "Reserve", "Reserve an EVSE for an id tag", "Reservation", inputs.Reserve),
        Operation("cancel-reservation", "Cancel reservation", "Cancel a reservation", "Reservation", inputs.CancelReservation),
        Operation(
            "set-charging-profile",
            "Set charging profile",
            "Install a charging profile",
            "Smart charging",
            inputs.SetChargingProfile,
        ),
        Operation(
            "clear-charging-profile",
            "Clear charging profile",
            "Clear charging profiles",
            "Smart charging",
            inputs.ClearChargingProfile,
        ),
        Operation(
            "composite-schedule",
            "Composite schedule",
            "Read the composite charging schedule",
            "Smart charging",
            inputs.CompositeSchedule,
        ),
    )
}


def groups() -> list[tuple[str, list[Operation]]]:
    """The operations by group, in registry order: [(group, [Operation, …]), …]."""
    grouped: dict[str, list[Operation]] = {}
    for operation in OPERATIONS.values():
        grouped.setdefault(operation.group, []).append(operation)
    return list(grouped.items())


def operation_run(
    *,
    charge_point_id: str,
    name: str,
    arguments: dict | None = None,
    source: str = CommandSource.SYSTEM,
    user=None,
    timeout: float | None = None,
) -> commands.CommandResult:
    """Validate `arguments` for operation `name` and send it to `charge_point_id` in its OCPP version.

    `arguments`: the operation's neutral arguments as JSON or Python values
    (datetimes as ISO 8601 text or aware datetimes). `timeout` in seconds
    defaults to OCPP_COMMAND_TIMEOUT. Raises UnknownOperation, UnknownChargePoint,
    InvalidArguments before anything is sent, then whatever `commands.call` raises.
    """
    operation = OPERATIONS.get(name)
    if operation is None:
        raise UnknownOperation(f"{name!r} is not an operation; use one of: {', '.join(OPERATIONS)}")
    charge_point = selectors.charge_point_get(charge_point_id=charge_point_id)
    if charge_point is None:
        raise UnknownChargePoint(f"No charge point {charge_point_id!r} is registered")
    cleaned = operation.clean(charge_point, arguments or {})
    return operation.perform(charge_point, cleaned, source=source, user=user, timeout=timeout)
