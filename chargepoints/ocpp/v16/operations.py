"""How each version-neutral operation (`chargepoints.operations`) becomes an OCPP 1.6 CALL.

One builder per operation, registered under the operation's name. A builder
takes the charge point and the operation's validated neutral arguments and
returns a `Request`; it raises InvalidArguments for what 1.6 cannot express.
A 1.6 connector N is EVSE N with one connector (as `Connector` stores it), 0
meaning the whole charge point. Section numbers refer to OCPP 1.6 edition 2.
"""

from __future__ import annotations

from transactions import selectors as tx_selectors

from .. import shared
from ..payloads import Request, compact, datetime_text, invalid, profile_common, schedule
from ..registry import registrar

ID_TAG_MAX_LENGTH = 20  # IdToken is CiString20Type (§7.28)
# 1.6 names the station-wide limit ChargePointMaxProfile; 2.0.1's name is the neutral one.
PURPOSES = {"ChargingStationMaxProfile": "ChargePointMaxProfile"}
# 2.0.1's LogStatusNotification is 1.6's DiagnosticsStatusNotification.
TRIGGERS = {"LogStatusNotification": "DiagnosticsStatusNotification"}
RESET_TYPES = {"soft": "Soft", "hard": "Hard"}

OPERATIONS: dict = {}
builds = registrar(OPERATIONS)


def _connector(evse_id: int, connector_id: int | None) -> int:
    """The 1.6 connectorId of (evse_id, connector_id): 1.6 EVSE N has the one connector N (or 1)."""
    if connector_id not in (None, 1, evse_id):
        raise invalid("connector_id", "an OCPP 1.6 charge point has one connector per connector id (EVSE)")
    return evse_id


def _profile(profile: dict, prefix: str = "") -> dict:
    """A neutral charging profile as 1.6 ChargingProfile (§7.8); its transaction is our primary key."""
    tx = profile.get("transaction")
    common = profile_common(profile, prefix, PURPOSES.get(profile["purpose"], profile["purpose"]), tx and tx.pk)
    return {"chargingProfileId": profile["charging_profile_id"], **common, "chargingSchedule": schedule(profile, prefix)}


@builds("start-charging", message="RemoteStartTransaction")
def start_charging(cp, *, id_tag, evse_id=None, charging_profile=None, id_token_type=None) -> Request:
    """§5.11 RemoteStartTransaction {idTag, connectorId?, chargingProfile?}; `id_token_type` is 2.0.1's only."""
    profile = _profile(charging_profile, "charging_profile.") if charging_profile else None
    return Request("RemoteStartTransaction", compact(idTag=id_tag, connectorId=evse_id, chargingProfile=profile))


@builds("stop-charging", message="RemoteStopTransaction")
def stop_charging(cp, *, transaction) -> Request:
    """§5.12 RemoteStopTransaction {transactionId}: 1.6 transaction ids are our primary keys."""
    return Request("RemoteStopTransaction", {"transactionId": transaction.pk}, {"transaction": transaction.pk})


@builds("reset", message="Reset")
def reset(cp, *, type="soft", evse_id=None) -> Request:
    """§5.14 Reset {type Soft/Hard}; a 1.6 charge point resets as a whole."""
    if evse_id:
        raise invalid("evse_id", "an OCPP 1.6 charge point resets as a whole")
    return Request("Reset", {"type": RESET_TYPES[type]})


@builds("unlock", message="UnlockConnector")
def unlock(cp, *, evse_id, connector_id=None) -> Request:
    """§5.18 UnlockConnector {connectorId}."""
    return Request("UnlockConnector", {"connectorId": _connector(evse_id, connector_id)})


@builds("change-availability", message="ChangeAvailability")
def change_availability(cp, *, operative, evse_id=0, connector_id=None) -> Request:
    """§5.2 ChangeAvailability {connectorId (0: the charge point), type Operative/Inoperative}."""
    connector = _connector(evse_id, connector_id) if evse_id else 0
    return Request("ChangeAvailability", {"connectorId": connector, "type": "Operative" if operative else "Inoperative"})


@builds("trigger-message", message="TriggerMessage")
def trigger_message(cp, *, message, evse_id=None, connector_id=None) -> Request:
    """§5.17 TriggerMessage {requestedMessage, connectorId?}."""
    connector = None if evse_id is None else _connector(evse_id, connector_id)
    return Request("TriggerMessage", compact(requestedMessage=TRIGGERS.get(message, message), connectorId=connector))


@builds("reserve", message="ReserveNow")
def reserve(cp, *, reservation_id, id_tag, expiry, evse_id=None, parent_id_tag="") -> Request:
    """§5.13 ReserveNow {connectorId (0: any), expiryDate, idTag, reservationId, parentIdTag?}."""
    payload = compact(
        connectorId=evse_id or 0,
        expiryDate=datetime_text("expiry", expiry),
        idTag=id_tag,
        reservationId=reservation_id,
        parentIdTag=parent_id_tag or None,
    )
    return Request("ReserveNow", payload, {"reservation_id": reservation_id})


builds("cancel-reservation", message="CancelReservation")(shared.cancel_reservation)


@builds("set-charging-profile", message="SetChargingProfile")
def set_charging_profile(cp, *, evse_id, **profile) -> Request:
    """§5.16 SetChargingProfile {connectorId, csChargingProfiles}."""
    return Request("SetChargingProfile", {"connectorId": evse_id, "csChargingProfiles": _profile(profile)})


@builds("clear-charging-profile", message="ClearChargingProfile")
def clear_charging_profile(cp, *, charging_profile_id=None, evse_id=None, purpose=None, stack_level=None) -> Request:
    """§5.5 ClearChargingProfile {id?, connectorId?, chargingProfilePurpose?, stackLevel?}."""
    payload = compact(
        id=charging_profile_id,
        connectorId=evse_id,
        chargingProfilePurpose=PURPOSES.get(purpose, purpose),
        stackLevel=stack_level,
    )
    return Request("ClearChargingProfile", payload)


@builds("composite-schedule", message="GetCompositeSchedule")
def composite_schedule(cp, *, evse_id, duration_s, charging_rate_unit=None) -> Request:
    """§5.7 GetCompositeSchedule {connectorId, duration, chargingRateUnit?}."""
    payload = compact(connectorId=evse_id, duration=duration_s, chargingRateUnit=charging_rate_unit or None)
    return Request("GetCompositeSchedule", payload)


@builds("send-local-list", message="SendLocalList")
def send_local_list(cp, *, list_version, update_type, since=None) -> Request:
    """§5.15 SendLocalList {listVersion, updateType, localAuthorizationList [{idTag, idTagInfo}]}.

    Id tags longer than 20 characters cannot be carried: they are left out
    and listed in `extra["skipped_id_tags"]`. A group (parentIdTag) too long
    is dropped from the entry: the card still authorizes, without the
    group's ConcurrentTx check.
    """
    entries, skipped = [], []
    for tag in tx_selectors.id_tags_changed(since=since):
        if len(tag.id_tag) > ID_TAG_MAX_LENGTH:
            skipped.append(tag.id_tag)
            continue
        info = tag.id_tag_info()
        if len(info.get("parentIdTag", "")) > ID_TAG_MAX_LENGTH:
            del info["parentIdTag"]
        entries.append({"idTag": tag.id_tag, "idTagInfo": info})
    payload = {"listVersion": list_version, "updateType": update_type, "localAuthorizationList": entries}
    return Request("SendLocalList", payload, {"skipped_id_tags": skipped})


@builds("update-firmware", message="UpdateFirmware")
def update_firmware(cp, *, location, retrieve_date, retries=None, retry_interval_s=None) -> Request:
    """§5.19 UpdateFirmware {location, retrieveDate, retries?, retryInterval?}."""
    payload = compact(
        location=location,
        retrieveDate=datetime_text("retrieve_date", retrieve_date),
        retries=retries,
        retryInterval=retry_interval_s,
    )
    return Request("UpdateFirmware", payload)


@builds("fetch-logs", message="GetDiagnostics")
def fetch_logs(cp, *, location, retries=None, retry_interval_s=None, oldest=None, latest=None) -> Request:
    """§5.9 GetDiagnostics {location, retries?, retryInterval?, startTime?, stopTime?}."""
    payload = compact(
        location=location,
        retries=retries,
        retryInterval=retry_interval_s,
        startTime=datetime_text("oldest", oldest),
        stopTime=datetime_text("latest", latest),
    )
    return Request("GetDiagnostics", payload)


def _configuration(response: dict) -> dict:
    items = response.get("configurationKey") or []
    return {
        "configuration": {item["key"]: item.get("value") for item in items},
        "unknown_keys": list(response.get("unknownKey") or []),
    }


@builds("get-configuration", message="GetConfiguration")
def get_configuration(cp, *, keys=None) -> Request:
    """§5.8 GetConfiguration {key?}; `extra` gets the answer's configuration {key: value} and unknown_keys."""
    keys = list(dict.fromkeys(keys or []))
    return Request("GetConfiguration", compact(key=keys or None), read=_configuration)


@builds("change-configuration", message="ChangeConfiguration")
def change_configuration(cp, *, key, value) -> Request:
    """§5.3 ChangeConfiguration {key, value}."""
    return Request("ChangeConfiguration", {"key": key, "value": value})


@builds("change-password", message="ChangeConfiguration")
def change_password(cp, *, password) -> Request:
    """Security Whitepaper §3.1.2: ChangeConfiguration {key AuthorizationKey, value: the password as 40 hex characters}.

    A 1.6 AuthorizationKey is 20 bytes written in hex: a password that is not
    40 hex characters cannot be one (InvalidArguments).
    """
    if len(password) != 40 or any(c not in "0123456789abcdefABCDEF" for c in password):
        raise invalid("password", "an OCPP 1.6 AuthorizationKey is 40 hex characters (20 bytes)")
    return Request("ChangeConfiguration", {"key": "AuthorizationKey", "value": password})


def answer_status(action: str, response: dict) -> str | None:
    """The status word of a 1.6 answer: its `status`, or the equivalent for answers without one.

    UpdateFirmware answers nothing but means Accepted (§5.19); GetDiagnostics
    is Accepted when it names the file it uploads, Rejected when it has none
    (§5.9). None for reads without a status (GetConfiguration).
    """
    if "status" in response:
        return str(response["status"])
    if action == "UpdateFirmware":
        return "Accepted"
    if action == "GetDiagnostics":
        return "Accepted" if response.get("fileName") else "Rejected"
    return None


# --- Certificates (Security Whitepaper M03–M05, A02/A03) -----------------------------------------------

# The neutral (2.0.1) certificate types 1.6 can express, in 1.6's words.
CERTIFICATE_TYPES = {"CSMSRootCertificate": "CentralSystemRootCertificate", "ManufacturerRootCertificate": "ManufacturerRootCertificate"}


def _certificate_type(field_name: str, certificate_type: str) -> str:
    if certificate_type not in CERTIFICATE_TYPES:
        raise invalid(field_name, f"OCPP 1.6 knows {' and '.join(CERTIFICATE_TYPES)} only")
    return CERTIFICATE_TYPES[certificate_type]


@builds("install-certificate", message="InstallCertificate")
def install_certificate(cp, *, certificate_type, certificate) -> Request:
    """Whitepaper M05 InstallCertificate {certificateType CentralSystemRootCertificate/ManufacturerRootCertificate, certificate PEM}."""
    return Request(
        "InstallCertificate", {"certificateType": _certificate_type("certificate_type", certificate_type), "certificate": certificate}
    )


def _installed(response: dict) -> dict:
    return {"certificates": response.get("certificateHashData") or []}


@builds("get-installed-certificate-ids", message="GetInstalledCertificateIds")
def get_installed_certificate_ids(cp, *, certificate_types=None) -> Request:
    """Whitepaper M03 GetInstalledCertificateIds {certificateType}: one type per request; `extra["certificates"]` the hash data."""
    if not certificate_types or len(certificate_types) != 1:
        raise invalid("certificate_types", "an OCPP 1.6 charge point lists one certificate type at a time")
    return Request(
        "GetInstalledCertificateIds", {"certificateType": _certificate_type("certificate_types", certificate_types[0])}, read=_installed
    )


builds("delete-certificate", message="DeleteCertificate")(shared.delete_certificate)


@builds("renew-certificate", message="ExtendedTriggerMessage")
def renew_certificate(cp) -> Request:
    """Whitepaper A03/F06: ExtendedTriggerMessage {requestedMessage SignChargePointCertificate}; a SignCertificate follows."""
    return Request("ExtendedTriggerMessage", {"requestedMessage": "SignChargePointCertificate"})
