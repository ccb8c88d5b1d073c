"""How each version-neutral operation (`chargepoints.operations`) becomes an OCPP 2.0.1 CALL.

One builder per operation, registered under the operation's name, as in
`chargepoints.ocpp.v16.operations`. EVSE 0 (or none) means the whole
station and leaves the `evse` field out. Requests the CSMS numbers
(remoteStartId, requestId) draw their ids from `services.request_id_allocate`.
Use-case ids (B05, F01 …) refer to OCPP 2.0.1 Part 2.
"""

from __future__ import annotations

import re

from chargepoints import services
from transactions import selectors as tx_selectors

from .. import shared
from ..payloads import Request, compact, datetime_text, invalid, profile_common, schedule
from ..registry import registrar

ID_TAG_MAX_LENGTH = 36  # IdTokenType.idToken is identifierString(36)
# 1.6's names for what 2.0.1 (and the neutral operations) call otherwise.
PURPOSES = {"ChargePointMaxProfile": "ChargingStationMaxProfile"}
TRIGGERS = {"DiagnosticsStatusNotification": "LogStatusNotification"}
RESET_TYPES = {"soft": "OnIdle", "hard": "Immediate"}

# A configuration key: Component[instance]@EVSE<id>/<connector>.Variable[instance], the form
# `Variable.__str__` prints; instance and EVSE parts are optional ("OCPPCommCtrlr.HeartbeatInterval").
VARIABLE_KEY_RE = re.compile(
    r"^(?P<component>[^.\[\]@]{1,50})(?:\[(?P<component_instance>[^\]]{1,50})\])?"
    r"(?:@EVSE(?P<evse>\d+)(?:/(?P<connector>\d+))?)?"
    r"\.(?P<variable>[^.\[\]]{1,50})(?:\[(?P<variable_instance>[^\]]{1,50})\])?$"
)

OPERATIONS: dict = {}
builds = registrar(OPERATIONS)


def _evse(evse_id: int | None, connector_id: int | None = None) -> dict | None:
    """EVSEType, or None for the whole station (no EVSE, or EVSE 0)."""
    if not evse_id:
        return None
    return compact(id=evse_id, connectorId=connector_id)


def _id_token(id_tag: str, token_type: str | None = None) -> dict:
    """IdTokenType for `id_tag`: its type from the id tags table, else Central."""
    return {"idToken": id_tag, "type": token_type or tx_selectors.id_tag_type(id_tag) or "Central"}


def _station_transaction_id(transaction, field_name: str) -> str:
    """The station's own transactionId of our Transaction row."""
    if not transaction.station_transaction_id:
        raise invalid(field_name, f"transaction {transaction.pk} has no 2.0.1 transaction id")
    return transaction.station_transaction_id


def _profile(profile: dict, prefix: str = "") -> dict:
    """A neutral charging profile as ChargingProfileType (K01): one schedule, whose id is the profile's."""
    tx = profile.get("transaction")
    tx_id = _station_transaction_id(tx, f"{prefix}transaction") if tx else None
    common = profile_common(profile, prefix, PURPOSES.get(profile["purpose"], profile["purpose"]), tx_id)
    profile_id = profile["charging_profile_id"]
    return {"id": profile_id, **common, "chargingSchedule": [{"id": profile_id, **schedule(profile, prefix)}]}


def parse_variable_key(key: str, *, field: str = "key") -> tuple[dict, dict]:
    """A configuration key "Component[inst]@EVSE1/2.Variable[inst]" → (ComponentType, VariableType).

    Only component and variable names are required: "OCPPCommCtrlr.HeartbeatInterval".
    Raises InvalidArguments naming `field` for anything else.
    """
    match = VARIABLE_KEY_RE.match(key)
    if match is None:
        raise invalid(field, f"{key!r} is not Component.Variable (e.g. OCPPCommCtrlr.HeartbeatInterval)")
    m = match.groupdict()
    evse = _evse(int(m["evse"]), int(m["connector"]) if m["connector"] else None) if m["evse"] else None
    component = compact(name=m["component"], instance=m["component_instance"], evse=evse)
    variable = compact(name=m["variable"], instance=m["variable_instance"])
    return component, variable


def variable_key(component: dict, variable: dict) -> str:
    """The configuration key of a (component, variable) pair; inverse of `parse_variable_key`."""
    key = component["name"] + (f"[{component['instance']}]" if component.get("instance") else "")
    evse = component.get("evse")
    if evse:
        key += f"@EVSE{evse['id']}" + (f"/{evse['connectorId']}" if evse.get("connectorId") else "")
    key += "." + variable["name"] + (f"[{variable['instance']}]" if variable.get("instance") else "")
    return key


@builds("start-charging", message="RequestStartTransaction")
def start_charging(cp, *, id_tag, evse_id=None, charging_profile=None, id_token_type=None) -> Request:
    """F01/F02 RequestStartTransaction {idToken, remoteStartId, evseId?, chargingProfile?}."""
    profile = _profile(charging_profile, "charging_profile.") if charging_profile else None
    remote_start_id = services.request_id_allocate()
    payload = compact(idToken=_id_token(id_tag, id_token_type), remoteStartId=remote_start_id, evseId=evse_id, chargingProfile=profile)
    return Request("RequestStartTransaction", payload, {"remote_start_id": remote_start_id})


@builds("stop-charging", message="RequestStopTransaction")
def stop_charging(cp, *, transaction) -> Request:
    """F03 RequestStopTransaction {transactionId: the station's own id}."""
    payload = {"transactionId": _station_transaction_id(transaction, "transaction")}
    return Request("RequestStopTransaction", payload, {"transaction": transaction.pk})


@builds("reset", message="Reset")
def reset(cp, *, type="soft", evse_id=None) -> Request:
    """B11/B12 Reset {type OnIdle/Immediate, evseId?}."""
    return Request("Reset", compact(type=RESET_TYPES[type], evseId=evse_id or None))


@builds("unlock", message="UnlockConnector")
def unlock(cp, *, evse_id, connector_id=None) -> Request:
    """F05 UnlockConnector {evseId, connectorId (default 1)}."""
    return Request("UnlockConnector", {"evseId": evse_id, "connectorId": connector_id or 1})


@builds("change-availability", message="ChangeAvailability")
def change_availability(cp, *, operative, evse_id=0, connector_id=None) -> Request:
    """G03–G05 ChangeAvailability {operationalStatus, evse {id, connectorId?}?} (no evse: the station)."""
    status = "Operative" if operative else "Inoperative"
    return Request("ChangeAvailability", compact(operationalStatus=status, evse=_evse(evse_id, connector_id)))


@builds("trigger-message", message="TriggerMessage")
def trigger_message(cp, *, message, evse_id=None, connector_id=None) -> Request:
    """F06 TriggerMessage {requestedMessage, evse {id, connectorId?}?}."""
    payload = compact(requestedMessage=TRIGGERS.get(message, message), evse=_evse(evse_id, connector_id))
    return Request("TriggerMessage", payload)


@builds("reserve", message="ReserveNow")
def reserve(cp, *, reservation_id, id_tag, expiry, evse_id=None, parent_id_tag="") -> Request:
    """H01 ReserveNow {id, expiryDateTime, idToken, evseId?, groupIdToken?}."""
    payload = compact(
        id=reservation_id,
        expiryDateTime=datetime_text("expiry", expiry),
        idToken=_id_token(id_tag),
        evseId=evse_id or None,
        groupIdToken=_id_token(parent_id_tag) if parent_id_tag else None,
    )
    return Request("ReserveNow", payload, {"reservation_id": reservation_id})


builds("cancel-reservation", message="CancelReservation")(shared.cancel_reservation)


@builds("set-charging-profile", message="SetChargingProfile")
def set_charging_profile(cp, *, evse_id, **profile) -> Request:
    """K01 SetChargingProfile {evseId, chargingProfile}."""
    return Request("SetChargingProfile", {"evseId": evse_id, "chargingProfile": _profile(profile)})


@builds("clear-charging-profile", message="ClearChargingProfile")
def clear_charging_profile(cp, *, charging_profile_id=None, evse_id=None, purpose=None, stack_level=None) -> Request:
    """K10 ClearChargingProfile {chargingProfileId?, chargingProfileCriteria {evseId?, chargingProfilePurpose?, stackLevel?}?}."""
    criteria = compact(evseId=evse_id, chargingProfilePurpose=PURPOSES.get(purpose, purpose), stackLevel=stack_level)
    return Request("ClearChargingProfile", compact(chargingProfileId=charging_profile_id, chargingProfileCriteria=criteria or None))


@builds("composite-schedule", message="GetCompositeSchedule")
def composite_schedule(cp, *, evse_id, duration_s, charging_rate_unit=None) -> Request:
    """K08 GetCompositeSchedule {evseId, duration, chargingRateUnit?}."""
    payload = compact(evseId=evse_id, duration=duration_s, chargingRateUnit=charging_rate_unit or None)
    return Request("GetCompositeSchedule", payload)


@builds("send-local-list", message="SendLocalList")
def send_local_list(cp, *, list_version, update_type, since=None) -> Request:
    """D01 SendLocalList {versionNumber, updateType, localAuthorizationList? [{idToken, idTokenInfo}]}.

    The list is left out when empty (the schema wants at least one entry). A
    tag without a type (a 1.6 id tag) is sent as Central.
    """
    entries = [
        {"idToken": {"idToken": tag.id_tag, "type": tag.type or "Central"}, "idTokenInfo": tag.id_token_info()}
        for tag in tx_selectors.id_tags_changed(since=since)
    ]
    payload = compact(versionNumber=list_version, updateType=update_type, localAuthorizationList=entries or None)
    return Request("SendLocalList", payload, {"skipped_id_tags": []})


@builds("update-firmware", message="UpdateFirmware")
def update_firmware(cp, *, location, retrieve_date, retries=None, retry_interval_s=None) -> Request:
    """L01 UpdateFirmware {requestId, firmware {location, retrieveDateTime}, retries?, retryInterval?}."""
    request_id = services.request_id_allocate()
    payload = compact(
        requestId=request_id,
        firmware={"location": location, "retrieveDateTime": datetime_text("retrieve_date", retrieve_date)},
        retries=retries,
        retryInterval=retry_interval_s,
    )
    return Request("UpdateFirmware", payload, {"request_id": request_id})


@builds("fetch-logs", message="GetLog")
def fetch_logs(cp, *, location, retries=None, retry_interval_s=None, oldest=None, latest=None) -> Request:
    """N01 GetLog {logType DiagnosticsLog, requestId, log {remoteLocation, oldestTimestamp?, latestTimestamp?}, …}."""
    request_id = services.request_id_allocate()
    log = compact(
        remoteLocation=location,
        oldestTimestamp=datetime_text("oldest", oldest),
        latestTimestamp=datetime_text("latest", latest),
    )
    payload = compact(logType="DiagnosticsLog", requestId=request_id, log=log, retries=retries, retryInterval=retry_interval_s)
    return Request("GetLog", payload, {"request_id": request_id})


def _variables(response: dict) -> dict:
    configuration, unknown = {}, []
    for item in response.get("getVariableResult") or []:
        key = variable_key(item["component"], item["variable"])
        if item.get("attributeStatus") == "Accepted":
            configuration[key] = item.get("attributeValue")
        else:
            unknown.append(key)
    return {"configuration": configuration, "unknown_keys": unknown}


@builds("get-configuration", message="GetVariables or GetBaseReport")
def get_configuration(cp, *, keys=None) -> Request:
    """B06 GetVariables {getVariableData [{component, variable}]} for the keys given ("Component.Variable").

    `extra` gets configuration {key: value} and unknown_keys (attributeStatus
    not Accepted). No keys: B07 GetBaseReport {requestId, reportBase
    FullInventory}; the values arrive later as NotifyReport (`extra["request_id"]`).
    """
    keys = list(dict.fromkeys(keys or []))
    if not keys:
        request_id = services.request_id_allocate()
        return Request("GetBaseReport", {"requestId": request_id, "reportBase": "FullInventory"}, {"request_id": request_id})
    data = []
    for key in keys:
        component, variable = parse_variable_key(key, field="keys")
        data.append({"component": component, "variable": variable})
    return Request("GetVariables", {"getVariableData": data}, read=_variables)


@builds("change-configuration", message="SetVariables")
def change_configuration(cp, *, key, value) -> Request:
    """B05 SetVariables {setVariableData [{attributeValue, component, variable}]}; the key is "Component.Variable"."""
    component, variable = parse_variable_key(key)
    return Request("SetVariables", {"setVariableData": [{"attributeValue": value, "component": component, "variable": variable}]})


@builds("change-password", message="SetVariables")
def change_password(cp, *, password) -> Request:
    """A01: SetVariables of SecurityCtrlr.BasicAuthPassword (a passwordString of 16 to 40 characters)."""
    entry = {"attributeValue": password, "component": {"name": "SecurityCtrlr"}, "variable": {"name": "BasicAuthPassword"}}
    return Request("SetVariables", {"setVariableData": [entry]})


def answer_status(action: str, response: dict) -> str | None:
    """The status word of a 2.0.1 answer: its `status`; SetVariables: the attributeStatus of its single result."""
    if "status" in response:
        return str(response["status"])
    if action == "SetVariables":
        results = response.get("setVariableResult") or []
        return str(results[0].get("attributeStatus")) if len(results) == 1 else None
    return None


# --- Certificates (M03–M05, A02/A03) -------------------------------------------------------------------


@builds("install-certificate", message="InstallCertificate")
def install_certificate(cp, *, certificate_type, certificate) -> Request:
    """M05 InstallCertificate {certificateType (InstallCertificateUseEnumType), certificate PEM}."""
    return Request("InstallCertificate", {"certificateType": certificate_type, "certificate": certificate})


def _installed(response: dict) -> dict:
    return {"certificates": response.get("certificateHashDataChain") or []}


@builds("get-installed-certificate-ids", message="GetInstalledCertificateIds")
def get_installed_certificate_ids(cp, *, certificate_types=None) -> Request:
    """M03 GetInstalledCertificateIds {certificateType?: [GetCertificateIdUseEnumType]}; `extra["certificates"]` the hash data chains."""
    types = list(dict.fromkeys(certificate_types or []))
    return Request("GetInstalledCertificateIds", compact(certificateType=types or None), read=_installed)


builds("delete-certificate", message="DeleteCertificate")(shared.delete_certificate)


@builds("renew-certificate", message="TriggerMessage")
def renew_certificate(cp) -> Request:
    """A03/F06: TriggerMessage {requestedMessage SignChargingStationCertificate}; a SignCertificate follows."""
    return Request("TriggerMessage", {"requestedMessage": "SignChargingStationCertificate"})
