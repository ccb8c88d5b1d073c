"""Transactions end even when the charge point never sends their stop (reboot, unplugged, lost queue).

The CSMS's policy (settings.OCPP_CLOSE_ORPHANED_TRANSACTIONS) closes them on a
report that no session runs; a late stop from the charge point replaces what
the policy guessed.
"""

from datetime import UTC, datetime

import pytest

from chargepoints.models import ChargePoint
from transactions.models import StopSource, Transaction

pytestmark = pytest.mark.django_db(transaction=True)

BOOT_16 = {"chargePointVendor": "ACME", "chargePointModel": "Wallbox"}
BOOT_201 = {"chargingStation": {"vendorName": "ACME", "model": "Wallbox"}, "reason": "PowerUp"}
START = {"connectorId": 1, "idTag": "CARD-1", "meterStart": 1000, "timestamp": "2026-11-22T10:00:00Z"}


def at(minute: int) -> str:
    return f"2026-11-22T10:{minute:02d}:00Z"


def when(minute: int) -> datetime:
    return datetime(2026, 11, 22, 10, minute, tzinfo=UTC)


def energy_16(minute: int, wh: int) -> dict:
    return {"timestamp": at(minute), "sampledValue": [{"value": str(wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh"}]}


@pytest.fixture
async def cp16(charge_point, ocpp_connect):
    client, accepted, _ = await ocpp_connect("/ocpp/CP-1")
    assert accepted
    return client


@pytest.fixture
async def cp201(charge_point, ocpp_connect):
    await ChargePoint.objects.filter(pk="CP-1").aupdate(last_boot_status="Accepted")
    client, accepted, _ = await ocpp_connect("/ocpp/CP-1", subprotocols=["ocpp2.0.1"])
    assert accepted
    return client


async def start_16(client, **fields) -> int:
    reply = await client.call("StartTransaction", {**START, **fields})
    assert reply[0] == 3, reply
    return reply[2]["transactionId"]


# --- OCPP 1.6 ------------------------------------------------------------------


async def test_a_1_6_reboot_ends_the_session_it_interrupted_with_the_last_meter_reading(cp16):
    tx_id = await start_16(cp16)
    await cp16.call("MeterValues", {"connectorId": 1, "transactionId": tx_id, "meterValue": [energy_16(10, 4200)]})

    reply = await cp16.call("BootNotification", BOOT_16)
    assert reply[2]["status"] == "Accepted"

    tx = await Transaction.objects.aget(pk=tx_id)
    assert not tx.is_active
    assert tx.stop_reason == "Reboot"
    assert tx.stop_source == StopSource.POLICY
    assert tx.meter_stop_wh == 4200
    assert tx.energy_wh == 3200


async def test_a_1_6_reboot_with_no_meter_reading_ends_the_session_at_its_meter_start(cp16):
    tx_id = await start_16(cp16)
    await cp16.call("BootNotification", BOOT_16)
    tx = await Transaction.objects.aget(pk=tx_id)
    assert (tx.meter_stop_wh, tx.energy_wh) == (1000, 0)


async def test_the_late_stop_transaction_of_a_rebooted_charge_point_takes_its_real_values(cp16):
    tx_id = await start_16(cp16)
    await cp16.call("BootNotification", BOOT_16)
    # Queued while it was down, delivered after the boot.
    reply = await cp16.call(
        "StopTransaction", {"transactionId": tx_id, "meterStop": 5000, "timestamp": at(30), "reason": "PowerLoss", "idTag": "CARD-1"}
    )
    assert reply[0] == 3, reply

    tx = await Transaction.objects.aget(pk=tx_id)
    assert (tx.stop_timestamp, tx.meter_stop_wh, tx.stop_reason) == (when(30), 5000, "PowerLoss")
    assert tx.stop_source == StopSource.CHARGE_POINT
    assert tx.stop_id_tag == "CARD-1"


async def test_available_on_the_connector_ends_its_session_as_ev_disconnected(cp16):
    tx_id = await start_16(cp16)
    other = await start_16(cp16, connectorId=2, idTag="CARD-2")
    await cp16.call("StatusNotification", {"connectorId": 1, "status": "Available", "errorCode": "NoError", "timestamp": at(45)})

    tx = await Transaction.objects.aget(pk=tx_id)
    assert (tx.stop_timestamp, tx.stop_reason, tx.stop_source) == (when(45), "EVDisconnected", StopSource.POLICY)
    assert (await Transaction.objects.aget(pk=other)).is_active


@pytest.mark.parametrize("status", ["Preparing", "Charging", "SuspendedEV", "SuspendedEVSE", "Finishing", "Unavailable", "Faulted"])
async def test_other_statuses_leave_the_session_running(cp16, status):
    tx_id = await start_16(cp16)
    await cp16.call("StatusNotification", {"connectorId": 1, "status": status, "errorCode": "NoError", "timestamp": at(45)})
    assert (await Transaction.objects.aget(pk=tx_id)).is_active


async def test_an_available_sent_before_the_session_started_does_not_end_it(cp16):
    tx_id = await start_16(cp16, timestamp=at(10))
    # Queued offline before the start and delivered after it.
    await cp16.call("StatusNotification", {"connectorId": 1, "status": "Available", "errorCode": "NoError", "timestamp": at(5)})
    assert (await Transaction.objects.aget(pk=tx_id)).is_active


async def test_the_policy_can_be_turned_off(cp16, settings):
    settings.OCPP_CLOSE_ORPHANED_TRANSACTIONS = False
    tx_id = await start_16(cp16)
    await cp16.call("BootNotification", BOOT_16)
    await cp16.call("StatusNotification", {"connectorId": 1, "status": "Available", "errorCode": "NoError", "timestamp": at(45)})
    assert (await Transaction.objects.aget(pk=tx_id)).is_active


# --- OCPP 2.0.1 ----------------------------------------------------------------


def tx_event(event_type: str, seq_no: int, minute: int, **fields) -> dict:
    return {
        "eventType": event_type,
        "timestamp": at(minute),
        "triggerReason": "Authorized",
        "seqNo": seq_no,
        "transactionInfo": {"transactionId": "TX-1"},
        "evse": {"id": 1, "connectorId": 1},
        **fields,
    }


def available(minute: int, evse_id: int = 1) -> dict:
    return {"timestamp": at(minute), "connectorStatus": "Available", "evseId": evse_id, "connectorId": 1}


async def test_a_2_0_1_boot_alone_leaves_the_transaction_to_the_station(cp201):
    await cp201.call("TransactionEvent", tx_event("Started", 0, 0))
    await cp201.call("BootNotification", BOOT_201)
    assert (await Transaction.objects.aget(station_transaction_id="TX-1")).is_active


async def test_a_2_0_1_station_reporting_the_evse_available_after_a_boot_ends_the_transaction_it_forgot(cp201):
    await cp201.call("TransactionEvent", tx_event("Started", 0, 0))
    await cp201.call("BootNotification", BOOT_201)
    await cp201.call("StatusNotification", available(20))

    tx = await Transaction.objects.aget(station_transaction_id="TX-1")
    assert (tx.stop_timestamp, tx.stop_reason, tx.stop_source) == (when(20), "Reboot", StopSource.POLICY)


async def test_available_without_a_boot_does_not_end_a_2_0_1_transaction(cp201):
    # TxStartPoint Authorized: the transaction runs before any cable is plugged in.
    await cp201.call("TransactionEvent", tx_event("Started", 0, 0))
    await cp201.call("StatusNotification", available(20))
    assert (await Transaction.objects.aget(station_transaction_id="TX-1")).is_active


async def test_a_transaction_the_station_mentioned_since_its_boot_is_not_ended(cp201):
    await cp201.call("TransactionEvent", tx_event("Started", 0, 0))
    await cp201.call("BootNotification", BOOT_201)
    await cp201.call("TransactionEvent", tx_event("Updated", 1, 10, triggerReason="MeterValuePeriodic"))
    await cp201.call("StatusNotification", available(20))
    assert (await Transaction.objects.aget(station_transaction_id="TX-1")).is_active


async def test_a_late_ended_event_takes_the_stations_values(cp201):
    await cp201.call("TransactionEvent", tx_event("Started", 0, 0))
    await cp201.call("BootNotification", BOOT_201)
    await cp201.call("StatusNotification", available(20))
    meter = [
        {
            "timestamp": at(15),
            "sampledValue": [{"value": 7000, "measurand": "Energy.Active.Import.Register", "unitOfMeasure": {"unit": "Wh"}}],
        }
    ]
    reply = await cp201.call(
        "TransactionEvent",
        tx_event(
            "Ended",
            1,
            15,
            triggerReason="EVCommunicationLost",
            offline=True,
            meterValue=meter,
            transactionInfo={"transactionId": "TX-1", "stoppedReason": "PowerLoss"},
        ),
    )
    assert reply[0] == 3, reply

    tx = await Transaction.objects.aget(station_transaction_id="TX-1")
    assert (tx.stop_timestamp, tx.stop_reason, tx.meter_stop_wh) == (when(15), "PowerLoss", 7000)
    assert tx.stop_source == StopSource.CHARGE_POINT
