"""OCPP 2.0.1 handlers: one short coroutine per station-initiated message.

Same shape as `v16`: each takes the connection's `Session` and the request
payload (camelCase, already valid against the official 2.0.1 schema) and
returns the response payload as a dict (camelCase, optional fields left out,
never null). Each makes one database call. Use-case ids (B01, E02 …) refer to
OCPP 2.0.1 Part 2.
"""

from __future__ import annotations

import logging
from decimal import Decimal

from channels.db import database_sync_to_async
from django.conf import settings

from chargepoints import certificates, pki, services
from chargepoints.models import Certificate, Connector, Variable
from csms.batching import together
from transactions import batching
from transactions import services as tx_services
from transactions.models import MeterValue, Reservation, Transaction, TransactionEvent
from transactions.selectors import id_token_info_for

from .. import data_transfer, shared
from ..datetimes import now_string, parse_timestamp
from ..registry import registrar
from ..session import Session

logger = logging.getLogger("csms.ocpp")


HANDLERS: dict = {}
on = registrar(HANDLERS)

# A unitOfMeasure multiplier is a power of ten; beyond this the value's text
# (MeterValue.value, 2500 characters) would not hold it.
MULTIPLIER_BOUNDS = (-1000, 1000)

# Where each integer of a request is stored or looked up: its range is that
# column's (`limits.check_integers`; tests check every integer of every schema is here or below).
INTEGER_FIELDS = {
    "StatusNotification": {"evseId": (Connector, "evse_id"), "connectorId": (Connector, "connector_id")},
    "TransactionEvent": {
        "seqNo": (TransactionEvent, "seq_no"),
        "evse/id": (Transaction, "evse_id"),
        "evse/connectorId": (Transaction, "connector_id"),
        "transactionInfo/remoteStartId": (Transaction, "remote_start_id"),
        "reservationId": (Transaction, "reservation_id"),
        "meterValue/*/sampledValue/*/unitOfMeasure/multiplier": MULTIPLIER_BOUNDS,
    },
    "MeterValues": {
        "evseId": (MeterValue, "evse_id"),
        "meterValue/*/sampledValue/*/unitOfMeasure/multiplier": MULTIPLIER_BOUNDS,
    },
    "ReservationStatusUpdate": {"reservationId": (Reservation, "id")},
    "NotifyReport": {
        "reportData/*/component/evse/id": (Variable, "evse_id"),
        "reportData/*/component/evse/connectorId": (Variable, "connector_id"),
    },
}
# Integers of requests that are neither stored nor looked up. (STORED_MESSAGES keep
# their payload as JSON, which holds any integer.)
UNSTORED_INTEGERS = {
    "FirmwareStatusNotification": {"requestId"},
    "LogStatusNotification": {"requestId"},
    "NotifyReport": {"requestId", "seqNo"},
    "TransactionEvent": {"cableMaxCurrent", "numberOfPhasesUsed", "transactionInfo/timeSpentCharging"},
}

# Messages a station may send before its BootNotification was Accepted (B02/B03):
# only the boot itself; others are allowed once the CSMS triggered them.
ALLOWED_BEFORE_ACCEPTED = {"BootNotification"}


def _samples(meter_values: list[dict]) -> list[tx_services.MeterSample]:
    """OCPP 2.0.1 MeterValueType list → MeterSample list.

    2.0.1 sends numbers with a unitOfMeasure {unit, multiplier}; the value is
    stored as text with the multiplier applied (value × 10^multiplier), so
    later readers need not know about multipliers.
    """
    samples = []
    for mv in meter_values:
        values = []
        for sv in mv["sampledValue"]:
            unit_of_measure = sv.get("unitOfMeasure", {})
            number = Decimal(str(sv["value"])).scaleb(unit_of_measure.get("multiplier", 0))
            fields = {"unit": unit_of_measure.get("unit", "Wh")}
            for name in ("measurand", "phase", "context", "location"):
                if name in sv:
                    fields[name] = sv[name]
            # `format` says what `value` holds. Unlike 1.6 SignedData, a 2.0.1 value
            # is always the plain number (signedMeterValue comes beside it), so it
            # stays Raw and still counts towards the transaction's energy.
            values.append(tx_services.SampledValue(value=_number_text(number), **fields))
        samples.append(tx_services.MeterSample(timestamp=parse_timestamp(mv["timestamp"]), sampled_values=values))
    return samples


def _number_text(number: Decimal) -> str:
    text = format(number.normalize(), "f")
    return text


@on("BootNotification")
async def boot_notification(session: Session, p: dict) -> dict:
    """B01–B03: store the boot; answer the station's registration status (Accepted, Pending, Rejected)."""
    station = p["chargingStation"]
    modem = station.get("modem", {})
    boot = await together(
        services.boot_notification_create,
        charge_point_id=session.charge_point_id,
        vendor=station["vendorName"],
        model=station["model"],
        serial_number=station.get("serialNumber", ""),
        firmware_version=station.get("firmwareVersion", ""),
        iccid=modem.get("iccid", ""),
        imsi=modem.get("imsi", ""),
        reason=p["reason"],
    )
    session.accepted = boot.status == "Accepted"
    if session.accepted:
        # A03: a certificate that ends soon is renewed once the station is Accepted, never before the boot's answer.
        session.after_answer(lambda: certificates.renewal_request_if_due(session.charge_point_id, session.version))
    return {"currentTime": now_string(), "interval": settings.OCPP_HEARTBEAT_INTERVAL, "status": boot.status}


on("Heartbeat")(shared.heartbeat)


def _status(**fields):
    notification = services.status_notification_create(**fields)
    # A 2.0.1 station ends its own transactions after a reboot (TransactionEvent Ended),
    # and Available alone proves nothing: with TxStartPoint/TxStopPoint Authorized a
    # transaction runs with no cable in. But one that was active when the station
    # booted, which it has not mentioned since, on an EVSE it now reports
    # Available, is one it forgot.
    if fields["status"] == "Available":
        tx_services.transactions_close_orphaned(
            charge_point_id=fields["charge_point_id"],
            evse_id=fields["evse_id"],
            reason="Reboot",
            timestamp=fields["timestamp"],
            booted_before=True,
        )
    return notification


@on("StatusNotification")
async def status_notification(session: Session, p: dict) -> dict:
    """G01: append to the status history and set the connector's current status.

    Available ends an EVSE's transaction the station forgot in a reboot (settings.OCPP_CLOSE_ORPHANED_TRANSACTIONS).
    """
    await together(
        _status,
        charge_point_id=session.charge_point_id,
        evse_id=p["evseId"],
        connector_id=p["connectorId"],
        status=p["connectorStatus"],
        timestamp=parse_timestamp(p["timestamp"]),
    )
    return {}


@on("Authorize")
async def authorize(session: Session, p: dict) -> dict:
    """C01: the idToken's IdTokenInfo; unknown tokens are Unknown."""
    info = await database_sync_to_async(id_token_info_for)(p["idToken"]["idToken"])
    return {"idTokenInfo": info}


@on("TransactionEvent")
async def transaction_event(session: Session, p: dict) -> dict:
    """E01–E15: record the event (deduplicated on transactionId + seqNo) and its meter values.

    The response carries idTokenInfo when the event carried an idToken.
    """
    evse = p.get("evse", {})
    info = p["transactionInfo"]
    result = await together(
        tx_services.transaction_event_record,
        charge_point_id=session.charge_point_id,
        event_type=p["eventType"],
        timestamp=parse_timestamp(p["timestamp"]),
        trigger_reason=p["triggerReason"],
        seq_no=p["seqNo"],
        offline=p.get("offline", False),
        station_transaction_id=info["transactionId"],
        charging_state=info.get("chargingState", ""),
        stopped_reason=info.get("stoppedReason", ""),
        remote_start_id=info.get("remoteStartId"),
        evse_id=evse.get("id"),
        connector_id=evse.get("connectorId"),
        id_token=p.get("idToken", {}).get("idToken", ""),
        id_token_type=p.get("idToken", {}).get("type", ""),
        reservation_id=p.get("reservationId"),
        samples=_samples(p.get("meterValue", [])),
    )
    info = result.id_token_info
    if info is None and "idToken" in p:
        # A NoAuthorization idToken is empty: nothing to look up, nothing to refuse.
        info = {"status": "Accepted"}
    return {"idTokenInfo": info} if info else {}


@on("MeterValues")
async def meter_values(session: Session, p: dict) -> dict:
    """J01: store every sampled value of the EVSE (0: the main meter)."""
    # Answered once committed, with other stations' requests of the moment (group commit).
    await batching.meter_values_store(
        tx_services.MeterValuesRequest(
            charge_point_id=session.charge_point_id, evse_id=p["evseId"], transaction_pk=None, samples=_samples(p["meterValue"])
        )
    )
    return {}


@on("NotifyReport")
async def notify_report(session: Session, p: dict) -> dict:
    """B07/B08: store the reported device model variables."""
    await database_sync_to_async(services.device_model_report)(charge_point_id=session.charge_point_id, report_data=p.get("reportData", []))
    return {}


@on("FirmwareStatusNotification")
async def firmware_status_notification(session: Session, p: dict) -> dict:
    """L01: keep the status on the station, with its history, linked to the UpdateFirmware request."""
    await database_sync_to_async(services.firmware_status_create)(
        charge_point_id=session.charge_point_id, status=p["status"], request_action="UpdateFirmware"
    )
    return {}


on("LogStatusNotification")(shared.log_status_notification)


on("SecurityEventNotification")(shared.security_event_notification)


# SignCertificate certificateType → the kind of certificate it asks for (ChargingStationCertificate when left out, A02.FR.xx).
CERTIFICATE_KINDS = {"ChargingStationCertificate": Certificate.Kind.CHARGE_POINT, "V2GCertificate": Certificate.Kind.V2G}


@on("SignCertificate")
async def sign_certificate(session: Session, p: dict) -> dict:
    """A02/A03 (update charging station certificate): sign the CSR {csr, certificateType?} with the charge point CA.

    Accepted when it was signed (the Certificate row is kept as issued); the
    CertificateSigned {certificateChain: leaf + intermediates (PEM),
    certificateType} follows once this answer is sent. Rejected, with a
    reasonCode, when no CA is configured or the CSR is not one to sign (a
    security event says why); V2G certificates are the ISO 15118 PKI's.
    """
    certificate_type = p.get("certificateType", "ChargingStationCertificate")
    try:
        certificate = await database_sync_to_async(services.certificate_sign)(
            charge_point_id=session.charge_point_id, csr=p["csr"], kind=CERTIFICATE_KINDS[certificate_type]
        )
    except pki.NoCertificateAuthority:
        logger.warning("%s: SignCertificate rejected: no charge point CA is configured", session.charge_point_id)
        return {"status": "Rejected", "statusInfo": {"reasonCode": "NoCAConfigured"}}
    except pki.PkiError as error:
        logger.warning("%s: SignCertificate rejected: %s", session.charge_point_id, error)
        return {"status": "Rejected", "statusInfo": {"reasonCode": "InvalidCSR", "additionalInfo": str(error)[:512]}}
    payload = {"certificateChain": certificate.chain_pem, "certificateType": certificate_type}
    session.after_answer(lambda: certificates.certificate_signed_send(session.charge_point_id, payload))
    return {"status": "Accepted"}


@on("ReservationStatusUpdate")
async def reservation_status_update(session: Session, p: dict) -> dict:
    """H05: a reservation expired or was removed at the station."""
    await database_sync_to_async(tx_services.reservation_status_update)(
        charge_point_id=session.charge_point_id, reservation_id=p["reservationId"], status=p["reservationUpdateStatus"]
    )
    return {}


@on("DataTransfer")
async def data_transfer_(session: Session, p: dict) -> dict:
    """P02: store it; UnknownVendorId unless a handler for the vendor is registered."""
    status, data = await database_sync_to_async(data_transfer.receive)(session.charge_point_id, p)
    return {"status": status, **({"data": data} if data is not None else {})}


# Messages whose data is kept as sent (StationMessage) and answered with a
# fixed response: what this CSMS does not act on (yet) is still never lost.
STORED_MESSAGES = {
    "NotifyEvent": {},  # N07: monitoring events
    "NotifyChargingLimit": {},  # K09
    "ClearedChargingLimit": {},  # K13
    "ReportChargingProfiles": {},  # K09 GetChargingProfiles answers
    "NotifyEVChargingSchedule": {"status": "Accepted"},  # K17
    "NotifyDisplayMessages": {},  # O04
    "NotifyCustomerInformation": {},  # N09
    "NotifyMonitoringReport": {},  # N02
    "PublishFirmwareStatusNotification": {},  # L03
    # No ISO 15118 schedule negotiation here: the station charges on its own limits.
    "NotifyEVChargingNeeds": {"status": "Rejected", "statusInfo": {"reasonCode": "NotSupported"}},  # K15
    "Get15118EVCertificate": {"status": "Failed", "exiResponse": "", "statusInfo": {"reasonCode": "NotSupported"}},
    "GetCertificateStatus": {"status": "Failed", "statusInfo": {"reasonCode": "NotSupported"}},  # M06
}


def _stored(action: str, response: dict):
    async def handler(session: Session, p: dict) -> dict:
        await database_sync_to_async(services.station_message_create)(charge_point_id=session.charge_point_id, action=action, payload=p)
        return dict(response)

    handler.__name__ = handler.__qualname__ = action
    handler.__doc__ = f"Store the {action} request as sent; answer {response or 'an empty response'}."
    return handler


for _action, _response in STORED_MESSAGES.items():
    HANDLERS[_action] = _stored(_action, _response)
