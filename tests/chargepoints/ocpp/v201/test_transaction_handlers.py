"""OCPP 2.0.1 Authorize, TransactionEvent, MeterValues and ReservationStatusUpdate through the consumer."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone as dj_timezone

from chargepoints.models import ChargePoint
from chargepoints.ocpp import rpc
from chargepoints.ocpp.datetimes import parse_timestamp
from transactions.models import IdTag, MeterValue, Reservation, ReservationStatus, Transaction, TransactionEvent

pytestmark = pytest.mark.django_db(transaction=True)

CARD = {"idToken": "CARD-1", "type": "ISO14443"}


def at(minute: int) -> str:
    return f"2026-11-22T10:{minute:02d}:00Z"


def when(minute: int) -> datetime:
    return datetime(2026, 11, 22, 10, minute, tzinfo=UTC)


def energy(minute: int, value, unit: str = "Wh", multiplier: int | None = None, **fields) -> dict:
    """A MeterValueType with one Energy.Active.Import.Register sampled value (plus `fields`)."""
    unit_of_measure = {"unit": unit, **({"multiplier": multiplier} if multiplier is not None else {})}
    sampled = {"value": value, "measurand": "Energy.Active.Import.Register", "unitOfMeasure": unit_of_measure, **fields}
    return {"timestamp": at(minute), "sampledValue": [sampled]}


def event(event_type: str, seq_no: int, minute: int, trigger: str = "MeterValuePeriodic", tx_id: str = "TX-1", **fields) -> dict:
    info = {"transactionId": tx_id, **fields.pop("info", {})}
    return {
        "eventType": event_type,
        "timestamp": at(minute),
        "triggerReason": trigger,
        "seqNo": seq_no,
        "transactionInfo": info,
        **fields,
    }


async def call_ok(client, action: str, payload: dict, *, unique_id: str | None = None) -> dict:
    """Send a schema-valid 2.0.1 CALL; assert a CALLRESULT whose payload is valid against the response schema."""
    rpc.validate_payload("2.0.1", action, payload)
    reply = await client.call(action, payload, unique_id=unique_id)
    assert reply[0] == 3, reply
    rpc.validate_payload("2.0.1", action, reply[2], response=True)
    return reply[2]


@pytest.fixture
async def client(charge_point, ocpp_connect):
    await ChargePoint.objects.filter(pk="CP-1").aupdate(last_boot_status="Accepted")
    client, accepted, subprotocol = await ocpp_connect("/ocpp/CP-1", subprotocols=["ocpp2.0.1"])
    assert accepted and subprotocol == "ocpp2.0.1"
    return client


@pytest.fixture
async def card(db):
    return await IdTag.objects.acreate(id_tag="CARD-1")


# --- C01 Authorize ---------------------------------------------------------


async def test_authorize_accepts_a_known_token_with_its_group_and_cache_expiry(client):
    fleet = await IdTag.objects.acreate(id_tag="FLEET", type="Central")
    expiry = dj_timezone.now() + timedelta(days=30)
    await IdTag.objects.acreate(id_tag="CARD-1", expiry_date=expiry, parent=fleet)
    answer = await call_ok(client, "Authorize", {"idToken": CARD})
    info = answer["idTokenInfo"]
    assert info["status"] == "Accepted"
    assert info["groupIdToken"] == {"idToken": "FLEET", "type": "Central"}
    assert abs((parse_timestamp(info["cacheExpiryDateTime"]) - expiry).total_seconds()) < 0.01


async def test_a_group_token_without_a_type_is_sent_as_central(client):
    fleet = await IdTag.objects.acreate(id_tag="FLEET")
    await IdTag.objects.acreate(id_tag="CARD-1", parent=fleet)
    info = (await call_ok(client, "Authorize", {"idToken": CARD}))["idTokenInfo"]
    assert info == {"status": "Accepted", "groupIdToken": {"idToken": "FLEET", "type": "Central"}}


@pytest.mark.parametrize(
    "status, expiry_offset, expected",
    [
        ("Accepted", None, "Accepted"),
        ("Blocked", None, "Blocked"),
        ("Accepted", timedelta(days=-1), "Expired"),
        ("Expired", None, "Expired"),
        ("Invalid", None, "Invalid"),
    ],
)
async def test_authorize_reports_the_token_status(client, status, expiry_offset, expected):
    expiry = dj_timezone.now() + expiry_offset if expiry_offset else None
    await IdTag.objects.acreate(id_tag="CARD-1", status=status, expiry_date=expiry)
    answer = await call_ok(client, "Authorize", {"idToken": CARD})
    assert answer["idTokenInfo"]["status"] == expected


async def test_authorize_answers_unknown_for_an_unknown_token(client):
    answer = await call_ok(client, "Authorize", {"idToken": {"idToken": "STRANGER", "type": "eMAID"}})
    assert answer == {"idTokenInfo": {"status": "Unknown"}}


async def test_a_36_character_token_is_matched_exactly(client):
    token = "E" * 36
    await IdTag.objects.acreate(id_tag=token)
    exact = await call_ok(client, "Authorize", {"idToken": {"idToken": token, "type": "eMAID"}})
    assert exact["idTokenInfo"]["status"] == "Accepted"
    shorter = await call_ok(client, "Authorize", {"idToken": {"idToken": token[:-1], "type": "eMAID"}})
    assert shorter["idTokenInfo"]["status"] == "Unknown"


# --- E01–E15 TransactionEvent ----------------------------------------------


async def test_a_started_event_opens_the_transaction_and_answers_the_token_info(client, card):
    started = event(
        "Started",
        0,
        0,
        trigger="Authorized",
        info={"chargingState": "EVConnected", "remoteStartId": 12},
        evse={"id": 1, "connectorId": 2},
        idToken=CARD,
        meterValue=[energy(0, 1000, context="Transaction.Begin")],
    )
    answer = await call_ok(client, "TransactionEvent", started)
    assert answer == {"idTokenInfo": {"status": "Accepted"}}

    tx = await Transaction.objects.aget(charge_point_id="CP-1", station_transaction_id="TX-1")
    assert (tx.evse_id, tx.connector_id) == (1, 2)
    assert (tx.id_tag, tx.id_tag_type, tx.id_tag_status) == ("CARD-1", "ISO14443", "Accepted")
    assert (tx.start_timestamp, tx.meter_start_wh) == (when(0), 1000)
    assert (tx.charging_state, tx.remote_start_id) == ("EVConnected", 12)
    assert tx.is_active and tx.last_seq_no == 0 and tx.ocpp_transaction_id == "TX-1"
    ev = await TransactionEvent.objects.aget(transaction=tx)
    assert (ev.event_type, ev.seq_no, ev.trigger_reason, ev.timestamp, ev.offline, ev.charging_state, ev.id_token) == (
        "Started",
        0,
        "Authorized",
        when(0),
        False,
        "EVConnected",
        "CARD-1",
    )
    mv = await MeterValue.objects.aget(transaction=tx)
    assert (mv.evse_id, mv.value, mv.unit, mv.context, mv.value_wh) == (1, "1000", "Wh", "Transaction.Begin", 1000)


async def test_id_token_info_is_answered_only_when_the_event_carries_an_id_token(client, card):
    await call_ok(client, "TransactionEvent", event("Started", 0, 0, trigger="CablePluggedIn", evse={"id": 1}))
    answer = await call_ok(client, "TransactionEvent", event("Updated", 1, 1, trigger="Authorized", idToken=CARD))
    assert answer == {"idTokenInfo": {"status": "Accepted"}}
    answer = await call_ok(client, "TransactionEvent", event("Updated", 2, 2, info={"chargingState": "Charging"}))
    assert answer == {}
    tx = await Transaction.objects.aget(station_transaction_id="TX-1")
    assert (tx.id_tag, tx.id_tag_status, tx.charging_state) == ("CARD-1", "Accepted", "Charging")


async def test_an_unknown_token_is_answered_unknown_and_remembered_on_the_transaction(client):
    stranger = {"idToken": "NOPE", "type": "ISO14443"}
    answer = await call_ok(client, "TransactionEvent", event("Started", 0, 0, trigger="Authorized", idToken=stranger))
    assert answer == {"idTokenInfo": {"status": "Unknown"}}
    tx = await Transaction.objects.aget(station_transaction_id="TX-1")
    assert (tx.id_tag, tx.id_tag_status) == ("NOPE", "Unknown")


async def test_meter_values_apply_unit_and_multiplier_and_store_every_sampled_value(client, card):
    started = event("Started", 0, 0, evse={"id": 1, "connectorId": 1}, meterValue=[energy(0, 1.5, "kWh")])
    await call_ok(client, "TransactionEvent", started)
    updated = event(
        "Updated",
        1,
        5,
        meterValue=[
            {
                "timestamp": at(5),
                "sampledValue": [
                    {
                        "value": 2.25,
                        "measurand": "Energy.Active.Import.Register",
                        "unitOfMeasure": {"unit": "Wh", "multiplier": 3},
                    },
                    {"value": 11, "measurand": "Power.Active.Import", "unitOfMeasure": {"unit": "W", "multiplier": 3}},
                    {"value": 16.1, "measurand": "Current.Import", "phase": "L1", "unitOfMeasure": {"unit": "A"}},
                    {"value": 230, "measurand": "Voltage", "phase": "L1-N", "unitOfMeasure": {"unit": "V"}},
                ],
            },
            {"timestamp": at(6), "sampledValue": [{"value": 2300}]},  # every default: Energy.Active.Import.Register in Wh
        ],
    )
    assert await call_ok(client, "TransactionEvent", updated) == {}
    rows = [
        (mv.measurand, mv.phase, mv.value, mv.unit, mv.value_wh)
        async for mv in MeterValue.objects.filter(transaction__station_transaction_id="TX-1").order_by("timestamp", "id")
    ]
    assert rows == [
        ("Energy.Active.Import.Register", "", "1.5", "kWh", 1500),
        ("Energy.Active.Import.Register", "", "2250", "Wh", 2250),
        ("Power.Active.Import", "", "11000", "W", None),
        ("Current.Import", "L1", "16.1", "A", None),
        ("Voltage", "L1-N", "230", "V", None),
        ("Energy.Active.Import.Register", "", "2300", "Wh", 2300),
    ]
    tx = await Transaction.objects.aget(station_transaction_id="TX-1")
    assert (tx.meter_start_wh, tx.last_meter_wh, tx.energy_wh) == (1500, 2300, 800)


async def test_signed_meter_values_still_count_towards_the_energy(client):
    def signed(minute: int, wh: int) -> dict:
        signature = {
            "signedMeterData": f"OCMF|{wh}",
            "signingMethod": "ECDSA-secp256r1-SHA256",
            "encodingMethod": "OCMF",
            "publicKey": "3059301306072A8648CE3D0201",
        }
        return {"timestamp": at(minute), "sampledValue": [{"value": wh, "signedMeterValue": signature}]}

    await call_ok(client, "TransactionEvent", event("Started", 0, 0, meterValue=[signed(0, 4000)]))
    await call_ok(client, "TransactionEvent", event("Ended", 1, 1, meterValue=[signed(1, 4900)]))
    tx = await Transaction.objects.aget(station_transaction_id="TX-1")
    assert (tx.meter_start_wh, tx.meter_stop_wh, tx.energy_wh) == (4000, 4900, 900)
    assert [mv.value async for mv in tx.meter_values.order_by("timestamp")] == ["4000", "4900"]


async def test_a_whole_transaction_ends_with_its_energy_in_wh_and_stopped_reason(client, card):
    started = event(
        "Started",
        0,
        0,
        trigger="Authorized",
        evse={"id": 1, "connectorId": 1},
        idToken=CARD,
        info={"chargingState": "Charging"},
        meterValue=[energy(0, 10_000)],
    )
    await call_ok(client, "TransactionEvent", started)
    for seq_no, minute, wh in [(1, 1, 10_150), (2, 2, 10_300)]:
        await call_ok(client, "TransactionEvent", event("Updated", seq_no, minute, meterValue=[energy(minute, wh)]))
    tx = await Transaction.objects.aget(station_transaction_id="TX-1")
    assert tx.is_active and tx.energy_wh == 300, "live energy while charging"

    ended = event(
        "Ended",
        3,
        3,
        trigger="StopAuthorized",
        idToken=CARD,
        info={"chargingState": "Idle", "stoppedReason": "EVDisconnected"},
        meterValue=[energy(3, 10.5, "kWh", context="Transaction.End")],
    )
    assert await call_ok(client, "TransactionEvent", ended) == {"idTokenInfo": {"status": "Accepted"}}

    tx = await Transaction.objects.aget(station_transaction_id="TX-1")
    assert (tx.start_timestamp, tx.stop_timestamp) == (when(0), when(3))
    assert (tx.meter_start_wh, tx.meter_stop_wh, tx.energy_wh) == (10_000, 10_500, 500)
    assert (tx.stop_reason, tx.stop_id_tag, tx.charging_state, tx.last_seq_no) == ("EVDisconnected", "CARD-1", "Idle", 3)
    assert tx.status == "completed"
    events = [(e.seq_no, e.event_type, e.trigger_reason, e.stopped_reason) async for e in tx.events.order_by("seq_no")]
    assert events == [
        (0, "Started", "Authorized", ""),
        (1, "Updated", "MeterValuePeriodic", ""),
        (2, "Updated", "MeterValuePeriodic", ""),
        (3, "Ended", "StopAuthorized", "EVDisconnected"),
    ]
    assert await MeterValue.objects.filter(transaction=tx).acount() == 4


async def test_an_ended_event_without_stopped_reason_is_a_local_stop(client):
    await call_ok(client, "TransactionEvent", event("Started", 0, 0, meterValue=[energy(0, 100)]))
    await call_ok(client, "TransactionEvent", event("Updated", 1, 1, meterValue=[energy(1, 160)]))
    await call_ok(client, "TransactionEvent", event("Ended", 2, 2, trigger="EVDeparted"))
    tx = await Transaction.objects.aget(station_transaction_id="TX-1")
    assert tx.stop_reason == "Local"
    assert (tx.meter_stop_wh, tx.energy_wh) == (160, 60), "the last reading is the meter stop when Ended carries none"


async def test_a_retry_with_the_same_seq_no_and_a_new_message_id_is_answered_and_stored_once(client, card):
    await call_ok(client, "TransactionEvent", event("Started", 0, 0, idToken=CARD, meterValue=[energy(0, 1000)]))
    updated = event("Updated", 1, 1, idToken=CARD, meterValue=[energy(1, 1200)])
    first = await call_ok(client, "TransactionEvent", updated, unique_id="first-try")
    again = await call_ok(client, "TransactionEvent", updated, unique_id="second-try")
    assert first == again == {"idTokenInfo": {"status": "Accepted"}}
    tx = await Transaction.objects.aget(station_transaction_id="TX-1")
    assert await tx.events.acount() == 2
    assert [mv.value async for mv in MeterValue.objects.filter(transaction=tx).order_by("timestamp")] == ["1000", "1200"]
    assert tx.energy_wh == 200


async def test_the_offline_flag_is_stored_with_the_event(client):
    await call_ok(client, "TransactionEvent", event("Started", 0, 0, offline=True))
    await call_ok(client, "TransactionEvent", event("Updated", 1, 1, offline=False))
    flags = [e.offline async for e in TransactionEvent.objects.order_by("seq_no")]
    assert flags == [True, False]


async def test_an_updated_event_arriving_before_started_creates_the_transaction(client, card):
    # Queued offline and delivered out of order: Updated (seqNo 1) first, then Started (seqNo 0), then Ended.
    await call_ok(client, "TransactionEvent", event("Updated", 1, 5, offline=True, meterValue=[energy(5, 1500)]))
    tx = await Transaction.objects.aget(station_transaction_id="TX-1")
    assert tx.is_active and tx.start_timestamp == when(5)

    started = event(
        "Started",
        0,
        0,
        trigger="Authorized",
        offline=True,
        idToken=CARD,
        evse={"id": 1, "connectorId": 1},
        meterValue=[energy(0, 1000)],
    )
    await call_ok(client, "TransactionEvent", started)
    ended = event("Ended", 2, 10, info={"stoppedReason": "Local"}, meterValue=[energy(10, 2000)])
    await call_ok(client, "TransactionEvent", ended)

    assert await Transaction.objects.acount() == 1
    tx = await Transaction.objects.aget(station_transaction_id="TX-1")
    assert (tx.start_timestamp, tx.stop_timestamp, tx.id_tag, tx.evse_id) == (when(0), when(10), "CARD-1", 1)
    assert (tx.meter_start_wh, tx.meter_stop_wh) == (1000, 2000)
    assert tx.energy_wh == 1000
    assert [e.seq_no async for e in tx.events.order_by("seq_no")] == [0, 1, 2]


async def test_an_ended_event_arriving_before_started_still_counts_from_the_started_reading(client):
    ended = event("Ended", 1, 10, info={"stoppedReason": "Remote"}, meterValue=[energy(10, 900)])
    await call_ok(client, "TransactionEvent", ended)
    await call_ok(client, "TransactionEvent", event("Started", 0, 0, meterValue=[energy(0, 400)]))
    tx = await Transaction.objects.aget(station_transaction_id="TX-1")
    assert (tx.start_timestamp, tx.stop_timestamp, tx.stop_reason) == (when(0), when(10), "Remote")
    assert (tx.meter_start_wh, tx.meter_stop_wh, tx.energy_wh) == (400, 900, 500)


async def test_transaction_ids_are_per_station(client, ocpp_connect):
    await ChargePoint.objects.acreate(id="CP-2", last_boot_status="Accepted")
    other, _, _ = await ocpp_connect("/ocpp/CP-2", subprotocols=["ocpp2.0.1"])
    await call_ok(client, "TransactionEvent", event("Started", 0, 0, meterValue=[energy(0, 1)]))
    await call_ok(other, "TransactionEvent", event("Started", 0, 0, meterValue=[energy(0, 2)]))
    rows = {tx.charge_point_id: tx.meter_start_wh async for tx in Transaction.objects.filter(station_transaction_id="TX-1")}
    assert rows == {"CP-1": 1, "CP-2": 2}


async def test_a_started_event_with_a_reservation_id_consumes_the_reservation(client, card):
    reservation = await Reservation.objects.acreate(
        charge_point_id="CP-1",
        evse_id=1,
        id_tag="CARD-1",
        expiry_date=dj_timezone.now() + timedelta(hours=1),
        status=ReservationStatus.ACCEPTED,
    )
    await call_ok(
        client,
        "TransactionEvent",
        event("Started", 0, 0, trigger="Authorized", idToken=CARD, evse={"id": 1}, reservationId=reservation.pk),
    )
    tx = await Transaction.objects.aget(station_transaction_id="TX-1")
    await reservation.arefresh_from_db()
    assert reservation.status == ReservationStatus.USED
    assert reservation.transaction_id == tx.pk
    assert tx.reservation_id == reservation.pk


async def test_a_reservation_that_is_no_longer_accepted_is_not_consumed(client):
    reservation = await Reservation.objects.acreate(
        charge_point_id="CP-1",
        evse_id=1,
        id_tag="CARD-1",
        expiry_date=dj_timezone.now() + timedelta(hours=1),
        status=ReservationStatus.CANCELLED,
    )
    await call_ok(client, "TransactionEvent", event("Started", 0, 0, reservationId=reservation.pk))
    await reservation.arefresh_from_db()
    assert reservation.status == ReservationStatus.CANCELLED and reservation.transaction_id is None


# --- J01 MeterValues -------------------------------------------------------


async def test_meter_values_of_evse_0_are_stored_as_the_main_meter_without_transaction(client):
    payload = {
        "evseId": 0,
        "meterValue": [
            {
                "timestamp": at(0),
                "sampledValue": [
                    {"value": 123.456, "unitOfMeasure": {"unit": "kWh"}, "context": "Sample.Clock", "location": "Inlet"},
                    {"value": 50, "measurand": "Frequency"},
                ],
            }
        ],
    }
    assert await call_ok(client, "MeterValues", payload) == {}
    rows = [
        (mv.evse_id, mv.transaction_id, mv.measurand, mv.value, mv.unit, mv.context, mv.location)
        async for mv in MeterValue.objects.order_by("id")
    ]
    assert rows == [
        (0, None, "Energy.Active.Import.Register", "123.456", "kWh", "Sample.Clock", "Inlet"),
        (0, None, "Frequency", "50", "Wh", "Sample.Periodic", "Outlet"),
    ]
    assert (await MeterValue.objects.afirst()).timestamp == when(0)


async def test_meter_values_of_an_evse_are_stored_with_its_id(client):
    assert await call_ok(client, "MeterValues", {"evseId": 2, "meterValue": [energy(1, 5)]}) == {}
    mv = await MeterValue.objects.aget()
    assert (mv.evse_id, mv.value_wh) == (2, 5)


async def test_a_resent_meter_values_of_an_evse_is_answered_every_time_and_stored_once(client):
    payload = {
        "evseId": 1,
        "meterValue": [
            {
                "timestamp": at(1),
                "sampledValue": [
                    {"value": 1500, "context": "Sample.Clock"},
                    {"value": 16.1, "measurand": "Current.Import", "phase": "L1", "unitOfMeasure": {"unit": "A"}},
                    {"value": 16.2, "measurand": "Current.Import", "phase": "L2", "unitOfMeasure": {"unit": "A"}},
                ],
            }
        ],
    }
    assert await call_ok(client, "MeterValues", payload, unique_id="mv-1") == {}
    assert await call_ok(client, "MeterValues", payload, unique_id="mv-1-retry") == {}
    rows = [(mv.evse_id, mv.measurand, mv.phase, mv.value) async for mv in MeterValue.objects.order_by("id")]
    assert rows == [
        (1, "Energy.Active.Import.Register", "", "1500"),
        (1, "Current.Import", "L1", "16.1"),
        (1, "Current.Import", "L2", "16.2"),
    ]


async def test_an_event_repeating_a_reading_of_an_earlier_event_is_answered_and_stored(client, card):
    await call_ok(client, "TransactionEvent", event("Started", 0, 0, evse={"id": 1}, meterValue=[energy(0, 1000)]))
    # A new seqNo (not a retry) whose meter value is one already received.
    assert await call_ok(client, "TransactionEvent", event("Updated", 1, 1, meterValue=[energy(0, 1000)])) == {}
    await call_ok(client, "TransactionEvent", event("Ended", 2, 2, meterValue=[energy(2, 1300)]))
    tx = await Transaction.objects.aget(station_transaction_id="TX-1")
    assert await tx.events.acount() == 3
    assert [mv.value async for mv in tx.meter_values.order_by("timestamp")] == ["1000", "1300"]
    assert (tx.meter_start_wh, tx.meter_stop_wh, tx.energy_wh) == (1000, 1300, 300)


async def test_a_reading_of_an_evse_sent_in_meter_values_and_in_a_transaction_event_is_stored_for_each(client):
    await call_ok(client, "TransactionEvent", event("Started", 0, 0, evse={"id": 1}))
    await call_ok(client, "MeterValues", {"evseId": 1, "meterValue": [energy(1, 1200)]})
    await call_ok(client, "TransactionEvent", event("Updated", 1, 1, meterValue=[energy(1, 1200)]))
    tx = await Transaction.objects.aget(station_transaction_id="TX-1")
    assert [mv.transaction_id async for mv in MeterValue.objects.order_by("id")] == [None, tx.pk]
    assert tx.last_meter_wh == 1200


# --- H05 ReservationStatusUpdate -------------------------------------------


@pytest.mark.parametrize("update, expected", [("Expired", ReservationStatus.EXPIRED), ("Removed", ReservationStatus.CANCELLED)])
async def test_a_reservation_status_update_ends_the_reservation(client, update, expected):
    await ChargePoint.objects.acreate(id="CP-2")
    expiry = dj_timezone.now() + timedelta(hours=1)
    mine = await Reservation.objects.acreate(
        charge_point_id="CP-1", evse_id=1, id_tag="CARD-1", expiry_date=expiry, status=ReservationStatus.ACCEPTED
    )
    theirs = await Reservation.objects.acreate(
        charge_point_id="CP-2", evse_id=1, id_tag="CARD-1", expiry_date=expiry, status=ReservationStatus.ACCEPTED
    )
    payload = {"reservationId": mine.pk, "reservationUpdateStatus": update}
    assert await call_ok(client, "ReservationStatusUpdate", payload) == {}
    await mine.arefresh_from_db()
    assert mine.status == expected
    # Another station cannot end a reservation that is not its own.
    await call_ok(client, "ReservationStatusUpdate", {"reservationId": theirs.pk, "reservationUpdateStatus": update})
    await theirs.arefresh_from_db()
    assert theirs.status == ReservationStatus.ACCEPTED


async def test_a_status_update_for_an_unknown_reservation_is_answered(client):
    assert await call_ok(client, "ReservationStatusUpdate", {"reservationId": 999, "reservationUpdateStatus": "Expired"}) == {}
