"""What follows from an OCPP 1.6 charge point's answer to a command (§5): one function per action.

`ANSWERS[action](charge_point_id, request, response)` runs inside
`services.command_finish`'s database transaction, for CALLRESULTs only, in
whichever process holds the socket, so the state is updated even when the
caller stopped waiting. Each translates the 1.6 payloads into a neutral
service call; actions whose answer changes nothing stored have none.
"""

from __future__ import annotations

from chargepoints import services
from transactions import services as tx_services

from ..datetimes import parse_timestamp
from ..registry import registrar

ANSWERS: dict = {}
answers = registrar(ANSWERS)


def _accepted(response: dict) -> bool:
    return response.get("status") == "Accepted"


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
        tx_services.transaction_stop_requested(charge_point_id=charge_point_id, pk=request["transactionId"])


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


@answers("CancelReservation")
def cancel_reservation(charge_point_id: str, request: dict, response: dict) -> None:
    """§5.1: an Accepted cancellation ends the reservation."""
    if _accepted(response):
        tx_services.reservation_cancel(charge_point_id=charge_point_id, reservation_id=request["reservationId"])


@answers("SetChargingProfile")
def set_charging_profile(charge_point_id: str, request: dict, response: dict) -> None:
    """§5.16 / §3.13.2: store the profile and install it on the connector; its transactionId is our primary key."""
    if _accepted(response):
        profile = request["csChargingProfiles"]
        services.charging_profile_install(
            charge_point_id=charge_point_id,
            evse_id=request["connectorId"],
            charging_profile_id=profile["chargingProfileId"],
            profile=profile,
            transaction_pk=profile.get("transactionId"),
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
