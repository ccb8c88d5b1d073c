"""What follows from an OCPP 2.0.1 station's answer to a command (Part 2): one function per message.

Same shape as `chargepoints.ocpp.v16.answers`: `ANSWERS[action](charge_point_id,
request, response)` runs inside `services.command_finish`'s transaction for
CALLRESULTs only, and turns the 2.0.1 payloads into neutral service calls.
"""

from __future__ import annotations

import logging

from chargepoints import selectors, services
from chargepoints.models import Variable
from transactions import selectors as tx_selectors
from transactions import services as tx_services

from .. import shared
from ..datetimes import parse_timestamp
from ..registry import registrar
from .redaction import is_secret_variable

logger = logging.getLogger("csms.commands")

ANSWERS: dict = {}
answers = registrar(ANSWERS)


_accepted = shared.accepted


def _requested_entry(entries: list[dict], index: int, result: dict) -> dict | None:
    """The request entry (get/setVariableData) that `result`, the `index`th result, answers; None if none does.

    Stations answer the entries in order, but nothing requires it: the entry
    at the same position is tried first, then every entry, matching component
    and variable, and the attribute type when the result names one. A result
    without attributeType means Actual by the schema, yet stations often just
    leave out what they were asked, so it matches any entry.
    """
    identity = Variable.identity(result["component"], result["variable"])
    attribute_type = result.get("attributeType")
    candidates = ([entries[index]] if index < len(entries) else []) + entries
    for entry in candidates:
        if Variable.identity(entry["component"], entry["variable"]) != identity:
            continue
        if attribute_type is None or attribute_type == (entry.get("attributeType") or "Actual"):
            return entry
    return None


@answers("GetVariables")
def get_variables(charge_point_id: str, request: dict, response: dict) -> None:
    """B06: store the value of each attribute the station reported Accepted.

    request: getVariableData [{component, variable, attributeType?}];
    response: getVariableResult [{attributeStatus, component, variable,
    attributeType?, attributeValue?}]. Other statuses (Rejected,
    UnknownComponent, UnknownVariable, NotSupportedAttributeType) leave the
    stored device model as it is: the report (B07) is its reference.
    attributeValue may only be absent when the status is not Accepted; a
    station that leaves it out anyway reports no value.
    """
    entries = request.get("getVariableData", [])
    for index, result in enumerate(response.get("getVariableResult", [])):
        if result.get("attributeStatus") != "Accepted":
            continue
        entry = _requested_entry(entries, index, result) or {}
        services.variable_value_set(
            charge_point_id=charge_point_id,
            component=result["component"],
            variable=result["variable"],
            attribute_type=result.get("attributeType") or entry.get("attributeType") or "Actual",
            value=result.get("attributeValue"),
        )


@answers("SetVariables")
def set_variables(charge_point_id: str, request: dict, response: dict) -> None:
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
                charge_point_id,
                result["component"].get("name"),
                result["variable"].get("name"),
            )
            continue
        attribute = dict(
            charge_point_id=charge_point_id,
            component=entry["component"],
            variable=entry["variable"],
            attribute_type=entry.get("attributeType") or "Actual",
        )
        if is_secret_variable(entry["component"], entry["variable"]) or selectors.variable_is_write_only(**attribute):
            # A WriteOnly value (a password, a key) is one the station never
            # reports: keeping it would make it readable in the admin and API.
            services.variable_touch(**attribute)
        else:
            services.variable_value_set(**attribute, value=entry["attributeValue"])


@answers("RequestStopTransaction")
def request_stop(charge_point_id: str, request: dict, response: dict) -> None:
    """F03: mark the transaction, found by the station's transactionId; its Ended TransactionEvent closes it."""
    if _accepted(response):
        tx_services.transaction_stop_requested(charge_point_id=charge_point_id, station_transaction_id=request["transactionId"])


@answers("ReserveNow")
def reserve_now(charge_point_id: str, request: dict, response: dict) -> None:
    """H01: the reservation takes the answered status (Accepted, Faulted, Occupied, Rejected, Unavailable).

    request: id, expiryDateTime, idToken {idToken, type}, evseId?,
    groupIdToken? {idToken, type}, connectorType?. A reservation without
    evseId is for any EVSE of the station (EVSE 0).
    """
    tx_services.reservation_answered(
        charge_point_id=charge_point_id,
        reservation_id=request["id"],
        evse_id=request.get("evseId", 0),
        id_tag=request["idToken"]["idToken"],
        parent_id_tag=(request.get("groupIdToken") or {}).get("idToken", ""),
        expiry_date=parse_timestamp(request["expiryDateTime"]),
        status=response["status"],
    )


answers("CancelReservation")(shared.cancel_reservation_answered)


@answers("SetChargingProfile")
def set_charging_profile(charge_point_id: str, request: dict, response: dict) -> None:
    """K01: store the profile and install it on the EVSE (0: the whole station).

    request: evseId, chargingProfile {id, stackLevel, chargingProfilePurpose,
    chargingProfileKind, recurrencyKind?, validFrom?, validTo?,
    transactionId?, chargingSchedule [ChargingScheduleType, 1 to 3]}. The
    schedule is stored as that list. The profile's transactionId is the
    station's; the profile is linked to our Transaction of that id (none
    when the transaction is not known here).
    """
    if not _accepted(response):
        return
    profile = request["chargingProfile"]
    transaction_pk = None
    if profile.get("transactionId"):
        transaction = tx_selectors.transaction_of(charge_point_id=charge_point_id, station_transaction_id=profile["transactionId"])
        transaction_pk = transaction and transaction.pk
        if transaction is None:
            logger.warning(
                "%s: TxProfile %s is for transaction %r, unknown here; stored without its transaction",
                charge_point_id,
                profile["id"],
                profile["transactionId"],
            )
    services.charging_profile_install(
        charge_point_id=charge_point_id,
        evse_id=request["evseId"],
        charging_profile_id=profile["id"],
        profile=profile,
        transaction_pk=transaction_pk,
    )


@answers("ClearChargingProfile")
def clear_charging_profile(charge_point_id: str, request: dict, response: dict) -> None:
    """K10: clear the installed profiles matching chargingProfileId, or else chargingProfileCriteria.

    request: chargingProfileId?, chargingProfileCriteria? {evseId?,
    chargingProfilePurpose?, stackLevel?}; all of them when neither is given.
    """
    if _accepted(response):
        criteria = request.get("chargingProfileCriteria") or {}
        services.charging_profiles_clear(
            charge_point_id=charge_point_id,
            charging_profile_id=request.get("chargingProfileId"),
            evse_id=criteria.get("evseId"),
            purpose=criteria.get("chargingProfilePurpose"),
            stack_level=criteria.get("stackLevel"),
        )


@answers("SendLocalList")
def send_local_list(charge_point_id: str, request: dict, response: dict) -> None:
    """D01: an Accepted list is the station's list version (versionNumber) from now on."""
    if _accepted(response):
        services.local_list_accepted(charge_point_id=charge_point_id, list_version=request["versionNumber"])


@answers("GetLocalListVersion")
def get_local_list_version(charge_point_id: str, request: dict, response: dict) -> None:
    """D02: remember the versionNumber the station reports (0: no list or an empty one)."""
    services.local_list_reported(charge_point_id=charge_point_id, list_version=response["versionNumber"])


# --- Certificates (A02/A03, M03–M05) ------------------------------------------------------------------


answers("CertificateSigned")(shared.certificate_signed_answered)
answers("InstallCertificate")(shared.install_certificate_answered)


answers("DeleteCertificate")(shared.delete_certificate_answered)


@answers("GetInstalledCertificateIds")
def get_installed_certificate_ids(charge_point_id: str, request: dict, response: dict) -> None:
    """M03: the certificates of the requested types (all when none was named) are exactly those listed."""
    if response.get("status") not in ("Accepted", "NotFound"):
        return
    services.installed_certificates_report(
        charge_point_id=charge_point_id,
        certificate_types=request.get("certificateType") or None,
        reported=[
            {
                "certificate_type": chain["certificateType"],
                "hash_data": chain["certificateHashData"],
                "children": chain.get("childCertificateHashData") or [],
            }
            for chain in response.get("certificateHashDataChain") or []
        ],
    )


@answers("TriggerMessage")
def trigger_message(charge_point_id: str, request: dict, response: dict) -> None:
    """A03: a station asked for a new CSR (any answer) is not asked again at once."""
    if request.get("requestedMessage") == "SignChargingStationCertificate":
        services.certificate_renewal_requested(charge_point_id=charge_point_id)
