"""What follows from an OCPP 1.6 charge point's answer to a command (§5): one function per action.

`ANSWERS[action](charge_point_id, request, response)` runs inside
`services.command_finish`'s database transaction, for CALLRESULTs only, in
whichever process holds the socket, so the state is updated even when the
caller stopped waiting. Each translates the 1.6 payloads into a neutral
service call; actions whose answer changes nothing stored have none.
"""

from __future__ import annotations

import logging

from chargepoints import services
from transactions import selectors as tx_selectors
from transactions import services as tx_services

from .. import shared
from ..datetimes import parse_timestamp
from ..registry import registrar

logger = logging.getLogger("csms.commands")

ANSWERS: dict = {}
answers = registrar(ANSWERS)


_accepted = shared.accepted


@answers("GetConfiguration")
def get_configuration(charge_point_id: str, request: dict, response: dict) -> None:
    """§5.8: store the reported keys; a request for all keys replaces the whole snapshot."""
    services.configuration_keys_store(
        charge_point_id=charge_point_id,
        reported=[
            {"key": item["key"], "value": item.get("value"), "readonly": item.get("readonly", False)}
            for item in response.get("configurationKey", [])
        ],
        unknown=response.get("unknownKey", []),
        complete=not request.get("key"),
    )


@answers("ChangeConfiguration")
def change_configuration(charge_point_id: str, request: dict, response: dict) -> None:
    """§5.3: an Accepted or RebootRequired change is the key's new value."""
    if response.get("status") in ("Accepted", "RebootRequired"):
        services.configuration_key_set(charge_point_id=charge_point_id, key=request["key"], value=request["value"])


@answers("RemoteStopTransaction")
def remote_stop(charge_point_id: str, request: dict, response: dict) -> None:
    """§5.12: mark the transaction (our primary key); its StopTransaction (reason Remote) closes it."""
    if _accepted(response):
        tx_services.transaction_stop_requested(charge_point_id=charge_point_id, transaction_pk=request["transactionId"])


@answers("ReserveNow")
def reserve_now(charge_point_id: str, request: dict, response: dict) -> None:
    """§5.13: the reservation takes the answered status (Accepted, Occupied, Faulted …)."""
    tx_services.reservation_answered(
        charge_point_id=charge_point_id,
        reservation_id=request["reservationId"],
        evse_id=request["connectorId"],
        id_tag=request["idTag"],
        parent_id_tag=request.get("parentIdTag", ""),
        expiry_date=parse_timestamp(request["expiryDate"]),
        status=response["status"],
    )


answers("CancelReservation")(shared.cancel_reservation_answered)


@answers("SetChargingProfile")
def set_charging_profile(charge_point_id: str, request: dict, response: dict) -> None:
    """§5.16 / §3.13.2: store the profile and install it on the connector (EVSE N for connector N).

    The profile's 1.6 transactionId is our Transaction's primary key; the
    profile is linked to that transaction of this charge point (none when it
    is not known here).
    """
    if not _accepted(response):
        return
    profile = request["csChargingProfiles"]
    transaction_pk = None
    if profile.get("transactionId") is not None:
        transaction = tx_selectors.transaction_of(charge_point_id=charge_point_id, transaction_pk=profile["transactionId"])
        transaction_pk = transaction and transaction.pk
        if transaction is None:
            logger.warning(
                "%s: TxProfile %s is for transaction %s, unknown here; stored without its transaction",
                charge_point_id,
                profile["chargingProfileId"],
                profile["transactionId"],
            )
    services.charging_profile_install(
        charge_point_id=charge_point_id,
        evse_id=request["connectorId"],
        charging_profile_id=profile["chargingProfileId"],
        profile=profile,
        transaction_pk=transaction_pk,
    )


@answers("ClearChargingProfile")
def clear_charging_profile(charge_point_id: str, request: dict, response: dict) -> None:
    """§5.5: clear the installed profiles the request's criteria match (all of them when none is given)."""
    if _accepted(response):
        services.charging_profiles_clear(
            charge_point_id=charge_point_id,
            charging_profile_id=request.get("id"),
            evse_id=request.get("connectorId"),
            purpose=request.get("chargingProfilePurpose"),
            stack_level=request.get("stackLevel"),
        )


@answers("SendLocalList")
def send_local_list(charge_point_id: str, request: dict, response: dict) -> None:
    """§5.15: an Accepted list is the charge point's list version from now on."""
    if _accepted(response):
        services.local_list_accepted(charge_point_id=charge_point_id, list_version=request["listVersion"])


@answers("GetLocalListVersion")
def get_local_list_version(charge_point_id: str, request: dict, response: dict) -> None:
    """§5.10: remember the version the charge point reports (-1: no list support, 0: empty)."""
    services.local_list_reported(charge_point_id=charge_point_id, list_version=response["listVersion"])


# --- Certificates (Security Whitepaper A02/A03, M03–M05) ------------------------------------------------


answers("CertificateSigned")(shared.certificate_signed_answered)
answers("InstallCertificate")(shared.install_certificate_answered)


answers("DeleteCertificate")(shared.delete_certificate_answered)


@answers("GetInstalledCertificateIds")
def get_installed_certificate_ids(charge_point_id: str, request: dict, response: dict) -> None:
    """M03: the certificates of the requested type are exactly those listed (none when NotFound)."""
    if response.get("status") not in ("Accepted", "NotFound"):
        return
    certificate_type = request["certificateType"]
    services.installed_certificates_report(
        charge_point_id=charge_point_id,
        certificate_types=[certificate_type],
        reported=[{"certificate_type": certificate_type, "hash_data": data} for data in response.get("certificateHashData") or []],
    )


@answers("ExtendedTriggerMessage")
def extended_trigger_message(charge_point_id: str, request: dict, response: dict) -> None:
    """A03: a charge point asked for a new CSR (any answer) is not asked again at once."""
    if request.get("requestedMessage") == "SignChargePointCertificate":
        services.certificate_renewal_requested(charge_point_id=charge_point_id)
