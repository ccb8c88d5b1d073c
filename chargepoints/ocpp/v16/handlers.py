"""OCPP 1.6 handlers: one short coroutine per charge-point-initiated action.

Each handler takes the `Session` of the connection and the request payload
(a dict in the spec's camelCase, already validated against the official
schema) and returns the response payload as a dict (camelCase, optional
fields left out, never null), as the 2.0.1 handlers do. Each makes one database call (DESIGN.md trap 4). Section numbers refer to the
OCPP 1.6 specification, edition 2.
"""

from __future__ import annotations

import logging

from channels.db import database_sync_to_async
from django.conf import settings
from ocpp.v16.enums import Action

from chargepoints import certificates, pki, services
from chargepoints.models import Connector, RegistrationStatus
from csms.batching import together
from transactions import batching
from transactions import services as tx_services
from transactions.models import MeterValue, Transaction
from transactions.selectors import id_tag_info_for

from .. import data_transfer, shared
from ..datetimes import now_string, parse_timestamp
from ..registry import registrar
from ..session import Session

logger = logging.getLogger("csms.ocpp")


HANDLERS: dict = {}
on = registrar(HANDLERS)

# Where each integer of a request is stored or looked up: its range is that
# column's (`limits.check_integers`; tests check every integer of every schema is here or below).
INTEGER_FIELDS = {
    "StartTransaction": {
        "connectorId": (Transaction, "connector_id"),
        "meterStart": (Transaction, "meter_start_wh"),
        "reservationId": (Transaction, "reservation_id"),
    },
    "StopTransaction": {
        "transactionId": (Transaction, "orphan_transaction_id"),
        "meterStop": (Transaction, "meter_stop_wh"),
    },
    "MeterValues": {"connectorId": (MeterValue, "evse_id"), "transactionId": (Transaction, "id")},
    "StatusNotification": {"connectorId": (Connector, "connector_id")},
}
# Integers of requests that are neither stored nor looked up.
UNSTORED_INTEGERS = {
    "LogStatusNotification": {"requestId"},
    "SignedFirmwareStatusNotification": {"requestId"},
}


def _samples(meter_values: list[dict]) -> list[tx_services.MeterSample]:
    """OCPP 1.6 MeterValue list (§7.42) → MeterSample list, OCPP defaults applied to omitted fields."""
    return [
        tx_services.MeterSample(
            timestamp=parse_timestamp(mv["timestamp"]),
            sampled_values=[
                tx_services.SampledValue(
                    value=sv["value"],
                    **{
                        name: sv[key]
                        for name, key in (
                            ("measurand", "measurand"),
                            ("phase", "phase"),
                            ("unit", "unit"),
                            ("context", "context"),
                            ("location", "location"),
                            ("format", "format"),
                        )
                        if key in sv
                    },
                )
                for sv in mv["sampledValue"]
            ],
        )
        for mv in meter_values
    ]


def _boot(**fields):
    boot = services.boot_notification_create(**fields)
    # A 1.6 charge point boots after a restart, which no transaction survives: one
    # still active here would wait forever for a StopTransaction the charge point
    # may never send. If it does send one (queued while offline), it replaces these values.
    tx_services.transactions_close_orphaned(charge_point_id=fields["charge_point_id"], reason="Reboot", timestamp=boot.received_at)
    return boot


def _status(**fields):
    notification = services.status_notification_create(**fields)
    # §4.9 Available: "When a Connector becomes available for a new user": no session
    # can be running on it (its cable is out). Not Finishing (its StopTransaction is on
    # its way), nor Unavailable or Faulted (a session may go on, or end, after them).
    if fields["status"] == "Available" and fields["connector_id"] > 0:
        tx_services.transactions_close_orphaned(
            charge_point_id=fields["charge_point_id"],
            connector_id=fields["connector_id"],
            reason="EVDisconnected",
            timestamp=fields["timestamp"] or notification.received_at,
        )
    return notification


@on(Action.boot_notification.value)
async def boot_notification(session: Session, p: dict) -> dict:
    """§4.2: store the boot, update the charge point, end its transactions (settings.OCPP_CLOSE_ORPHANED_TRANSACTIONS).

    Answers its registration status and our heartbeat interval.
    """
    boot = await together(
        _boot,
        charge_point_id=session.charge_point_id,
        vendor=p["chargePointVendor"],
        model=p["chargePointModel"],
        serial_number=p.get("chargePointSerialNumber", ""),
        charge_box_serial_number=p.get("chargeBoxSerialNumber", ""),
        firmware_version=p.get("firmwareVersion", ""),
        iccid=p.get("iccid", ""),
        imsi=p.get("imsi", ""),
        meter_type=p.get("meterType", ""),
        meter_serial_number=p.get("meterSerialNumber", ""),
    )
    session.accepted = boot.status == RegistrationStatus.ACCEPTED
    if session.accepted:
        # Whitepaper A03: a certificate that ends soon is renewed once the charge point is up, never before the boot's answer.
        session.after_answer(lambda: certificates.renewal_request_if_due(session.charge_point_id, session.version))
    return {"currentTime": now_string(), "interval": settings.OCPP_HEARTBEAT_INTERVAL, "status": boot.status}


on(Action.heartbeat.value)(shared.heartbeat)


@on(Action.authorize.value)
async def authorize(session: Session, p: dict) -> dict:
    """§4.1: the id tag's IdTagInfo; unknown tags are Invalid."""
    info = await database_sync_to_async(id_tag_info_for)(p["idTag"])
    return {"idTagInfo": info}


@on(Action.start_transaction.value)
async def start_transaction(session: Session, p: dict) -> dict:
    """§4.8: open a transaction (idempotent on retries) and answer its id and the id tag's IdTagInfo."""
    tx, info = await together(
        tx_services.transaction_start,
        charge_point_id=session.charge_point_id,
        connector_id=p["connectorId"],
        id_tag=p["idTag"],
        meter_start_wh=p["meterStart"],
        timestamp=parse_timestamp(p["timestamp"]),
        reservation_id=p.get("reservationId"),
    )
    return {"transactionId": tx.pk, "idTagInfo": info}


@on(Action.stop_transaction.value)
async def stop_transaction(session: Session, p: dict) -> dict:
    """§4.10: close the transaction with its meter data; always a CALLRESULT, even for unknown ids."""
    _, info = await together(
        tx_services.transaction_stop,
        charge_point_id=session.charge_point_id,
        transaction_pk=p["transactionId"],  # a 1.6 transactionId is our primary key
        meter_stop_wh=p["meterStop"],
        timestamp=parse_timestamp(p["timestamp"]),
        reason=p.get("reason", ""),
        id_tag=p.get("idTag", ""),
        transaction_data=_samples(p.get("transactionData", [])),
    )
    return {"idTagInfo": info}


@on(Action.meter_values.value)
async def meter_values(session: Session, p: dict) -> dict:
    """§4.7: store every sampled value, linked to the transaction when one is named."""
    # Answered once committed, with other charge points' requests of the moment (group commit).
    await batching.meter_values_store(
        tx_services.MeterValuesRequest(
            charge_point_id=session.charge_point_id,
            evse_id=p["connectorId"],  # a 1.6 connector N is EVSE N
            transaction_pk=p.get("transactionId"),
            samples=_samples(p["meterValue"]),
        )
    )
    return {}


@on(Action.status_notification.value)
async def status_notification(session: Session, p: dict) -> dict:
    """§4.9: append to the status history and set the connector's current status.

    Available ends the connector's transaction (settings.OCPP_CLOSE_ORPHANED_TRANSACTIONS).
    """
    await together(
        _status,
        charge_point_id=session.charge_point_id,
        connector_id=p["connectorId"],
        status=p["status"],
        error_code=p["errorCode"],
        info=p.get("info", ""),
        vendor_id=p.get("vendorId", ""),
        vendor_error_code=p.get("vendorErrorCode", ""),
        timestamp=parse_timestamp(p["timestamp"]) if "timestamp" in p else None,
    )
    return {}


@on(Action.data_transfer.value)
async def data_transfer_(session: Session, p: dict) -> dict:
    """§4.3: store it; UnknownVendorId unless a handler for the vendor is registered."""
    status, data = await database_sync_to_async(data_transfer.receive)(session.charge_point_id, p)
    return {"status": status, "data": data} if data is not None else {"status": status}


@on(Action.diagnostics_status_notification.value)
async def diagnostics_status_notification(session: Session, p: dict) -> dict:
    """§4.4: keep the status on the charge point, with its history."""
    await database_sync_to_async(services.diagnostics_status_create)(charge_point_id=session.charge_point_id, status=p["status"])
    return {}


@on(Action.firmware_status_notification.value)
async def firmware_status_notification(session: Session, p: dict) -> dict:
    """§4.5: keep the status on the charge point, with its history."""
    await database_sync_to_async(services.firmware_status_create)(charge_point_id=session.charge_point_id, status=p["status"])
    return {}


# --- Security extension (OCPP 1.6 Security Whitepaper, edition 3) -------------------------------
# Use-case ids (A02, L01, N01 …) are the whitepaper's, which borrows them from OCPP 2.0.


on("SecurityEventNotification")(shared.security_event_notification)


@on("SignCertificate")
async def sign_certificate(session: Session, p: dict) -> dict:
    """Whitepaper A02/A03 (update charge point certificate): sign the CSR {csr} with the charge point CA.

    Accepted when it was signed (the Certificate row is kept as issued); the
    CertificateSigned {certificateChain: leaf + intermediates, PEM} follows
    once this answer is sent. Rejected when no CA is configured or the CSR
    is not one to sign (`services.certificate_sign` records a security event
    saying why).
    """
    try:
        certificate = await database_sync_to_async(services.certificate_sign)(charge_point_id=session.charge_point_id, csr=p["csr"])
    except pki.PkiError as error:
        logger.warning("%s: SignCertificate rejected: %s", session.charge_point_id, error)
        return {"status": "Rejected"}
    payload = {"certificateChain": certificate.chain_pem}
    session.after_answer(lambda: certificates.certificate_signed_send(session.charge_point_id, payload))
    return {"status": "Accepted"}


on("LogStatusNotification")(shared.log_status_notification)


@on("SignedFirmwareStatusNotification")
async def signed_firmware_status_notification(session: Session, p: dict) -> dict:
    """Whitepaper L01 (secure firmware update): kept like FirmwareStatusNotification, linked to the SignedUpdateFirmware request."""
    await database_sync_to_async(services.firmware_status_create)(
        charge_point_id=session.charge_point_id, status=p["status"], request_action="SignedUpdateFirmware"
    )
    return {}
