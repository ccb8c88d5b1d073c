"""What OCPP 1.6 (with its Security Whitepaper, edition 3) and 2.0.1 say word for word alike: one body for both.

The whitepaper took SecurityEventNotification, CertificateSigned,
InstallCertificate and DeleteCertificate from 2.0.1 with the same fields, and
Heartbeat and CancelReservation never differed (nor
GetLog's LogStatusNotification). Each version package still
files these under its own names (`on("Heartbeat")(shared.heartbeat)` in
`v16/handlers.py`, …), so "what does 1.6 do on X" is answered by its package;
a function moves back into the packages the day the versions part.
"""

from __future__ import annotations

from channels.db import database_sync_to_async

from chargepoints import services, touching
from chargepoints.models import SecurityEvent
from transactions import services as tx_services

from .datetimes import now_string, parse_timestamp
from .payloads import Request
from .session import Session


def accepted(response: dict) -> bool:
    """Whether a CALLRESULT payload's `status` is Accepted (most answers of both versions)."""
    return response.get("status") == "Accepted"


# --- Handlers: (session, payload) -> answer payload -----------------------------------------------


async def heartbeat(session: Session, p: dict) -> dict:
    """1.6 §4.6, 2.0.1 G02: record the heartbeat, answer the current time."""
    await touching.touch(session.charge_point_id, heartbeat=True)  # with other charge points' of the moment
    return {"currentTime": now_string()}


async def security_event_notification(session: Session, p: dict) -> dict:
    """2.0.1 A04, Security Whitepaper A04: keep the station's event as a SecurityEvent (type, techInfo, its time)."""
    await database_sync_to_async(services.security_event_record)(
        charge_point_id=session.charge_point_id,
        type=p["type"],
        source=SecurityEvent.Source.STATION,
        tech_info=p.get("techInfo", ""),
        timestamp=parse_timestamp(p["timestamp"]),
    )
    return {}


async def log_status_notification(session: Session, p: dict) -> dict:
    """2.0.1 N01, Security Whitepaper N01 (GetLog): the upload status, kept like the diagnostics status, linked to the GetLog request."""
    await database_sync_to_async(services.diagnostics_status_create)(
        charge_point_id=session.charge_point_id, status=p["status"], request_action="GetLog"
    )
    return {}


# --- Operation builders: (charge point, inputs) -> Request -----------------------------------------


def cancel_reservation(cp, *, reservation_id) -> Request:
    """1.6 §5.1, 2.0.1 H02 CancelReservation {reservationId}."""
    return Request("CancelReservation", {"reservationId": reservation_id})


def delete_certificate(cp, *, hash_algorithm="SHA256", issuer_name_hash, issuer_key_hash, serial_number) -> Request:
    """2.0.1 M04, Security Whitepaper M04 DeleteCertificate {certificateHashData}; the hashes in lower-case hex."""
    hash_data = {
        "hashAlgorithm": hash_algorithm,
        "issuerNameHash": issuer_name_hash.lower(),
        "issuerKeyHash": issuer_key_hash.lower(),
        "serialNumber": serial_number.lower(),
    }
    return Request("DeleteCertificate", {"certificateHashData": hash_data})


# --- Answers: (charge point id, request, response) -> None, in services.command_finish's transaction --


def cancel_reservation_answered(charge_point_id: str, request: dict, response: dict) -> None:
    """1.6 §5.1, 2.0.1 H02: an Accepted cancellation ends the reservation."""
    if accepted(response):
        tx_services.reservation_cancel(charge_point_id=charge_point_id, reservation_id=request["reservationId"])


def certificate_signed_answered(charge_point_id: str, request: dict, response: dict) -> None:
    """A02: the certificate we issued (the chain's leaf) is installed (Accepted) or rejected."""
    services.certificate_answered(charge_point_id=charge_point_id, chain_pem=request["certificateChain"], accepted=accepted(response))


def install_certificate_answered(charge_point_id: str, request: dict, response: dict) -> None:
    """M05: an Accepted root certificate is installed on the charge point."""
    if accepted(response):
        services.installed_certificate_add(
            charge_point_id=charge_point_id, certificate_type=request["certificateType"], certificate_pem=request["certificate"]
        )


def delete_certificate_answered(charge_point_id: str, request: dict, response: dict) -> None:
    """M04: an Accepted deletion removes the certificate from what is known installed."""
    if accepted(response):
        services.installed_certificate_delete(charge_point_id=charge_point_id, hash_data=request["certificateHashData"])
