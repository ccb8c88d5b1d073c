"""Authorize, StartTransaction, MeterValues and StopTransaction through the consumer: answers and rows."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone as dj_timezone

from chargepoints.models import ChargePoint
from transactions.models import IdTag, MeterValue, Transaction

pytestmark = pytest.mark.django_db(transaction=True)

START = {"connectorId": 1, "idTag": "CARD-1", "meterStart": 1000, "timestamp": "2026-11-22T10:00:00Z"}


@pytest.fixture
async def client(charge_point, ocpp_connect):
    client, accepted, _ = await ocpp_connect("/ocpp/CP-1")
    assert accepted
    return client


@pytest.fixture
async def card(db):
    return await IdTag.objects.acreate(id_tag="CARD-1")


# --- Authorize -------------------------------------------------------------


async def test_authorize_accepts_a_known_tag_with_its_expiry_and_parent(client):
    parent = await IdTag.objects.acreate(id_tag="FLEET")
    expiry = dj_timezone.now() + timedelta(days=30)
    await IdTag.objects.acreate(id_tag="CARD-1", expiry_date=expiry, parent=parent)
    reply = await client.call("Authorize", {"idTag": "CARD-1"})
    info = reply[2]["idTagInfo"]
    assert info["status"] == "Accepted"
    assert info["parentIdTag"] == "FLEET"
    assert abs((datetime.fromisoformat(info["expiryDate"]) - expiry).total_seconds()) < 0.01


@pytest.mark.parametrize(
    "status, expiry_offset, expected",
    [
        ("Blocked", None, "Blocked"),
        ("Accepted", timedelta(days=-1), "Expired"),
        ("Expired", None, "Expired"),
        ("Invalid", None, "Invalid"),
    ],
)
async def test_authorize_reports_blocked_expired_and_invalid_tags(client, status, expiry_offset, expected):
    expiry = dj_timezone.now() + expiry_offset if expiry_offset else None
    await IdTag.objects.acreate(id_tag="CARD-1", status=status, expiry_date=expiry)
    reply = await client.call("Authorize", {"idTag": "CARD-1"})
    assert reply[2]["idTagInfo"]["status"] == expected


async def test_authorize_answers_invalid_for_an_unknown_tag(client):
    reply = await client.call("Authorize", {"idTag": "STRANGER"})
    assert reply[2] == {"idTagInfo": {"status": "Invalid"}}


# --- StartTransaction ------------------------------------------------------


async def test_start_transaction_stores_the_session_and_answers_its_id(client, card):
    reply = await client.call("StartTransaction", {**START, "reservationId": 7})
    assert reply[2]["idTagInfo"]["status"] == "Accepted"
    tx = await Transaction.objects.aget(pk=reply[2]["transactionId"])
    assert (tx.charge_point_id, tx.connector_id, tx.id_tag, tx.meter_start_wh, tx.reservation_id) == (
        "CP-1",
        1,
        "CARD-1",
        1000,
        7,
    )
    assert tx.start_timestamp == datetime(2026, 11, 22, 10, tzinfo=UTC)
    assert tx.is_active and tx.id_tag_status == "Accepted"


async def test_a_retried_start_transaction_returns_the_same_id_and_stores_one_row(client, card):
    first = await client.call("StartTransaction", START)
    again = await client.call("StartTransaction", START)
    assert first[2]["transactionId"] == again[2]["transactionId"]
    assert await Transaction.objects.acount() == 1


async def test_transaction_ids_are_unique_across_charge_points(client, card, ocpp_connect):
    await ChargePoint.objects.acreate(id="CP-2")
    other, _, _ = await ocpp_connect("/ocpp/CP-2")
    a = await client.call("StartTransaction", START)
    b = await other.call("StartTransaction", START)
    assert a[2]["transactionId"] != b[2]["transactionId"]


async def test_a_start_with_an_unknown_tag_is_stored_and_answered_invalid(client):
    reply = await client.call("StartTransaction", {**START, "idTag": "STRANGER"})
    assert reply[2]["idTagInfo"] == {"status": "Invalid"}
    tx = await Transaction.objects.aget(pk=reply[2]["transactionId"])
    assert tx.id_tag_status == "Invalid"


# --- MeterValues -----------------------------------------------------------


async def test_meter_values_store_every_sampled_value_with_all_its_fields(client, card):
    tx_id = (await client.call("StartTransaction", START))[2]["transactionId"]
    payload = {
        "connectorId": 1,
        "transactionId": tx_id,
        "meterValue": [
            {
                "timestamp": "2026-11-22T10:01:00Z",
                "sampledValue": [
                    {"value": "1.5", "unit": "kWh", "context": "Sample.Periodic"},
                    {
                        "value": "16.1",
                        "measurand": "Current.Import",
                        "phase": "L1",
                        "unit": "A",
                        "location": "Outlet",
                        "format": "Raw",
                        "context": "Sample.Clock",
                    },
                    {"value": "230", "measurand": "Voltage", "phase": "L1-N", "unit": "V"},
                ],
            },
            {"timestamp": "2026-11-22T10:02:00Z", "sampledValue": [{"value": "2100"}]},
        ],
    }
    assert (await client.call("MeterValues", payload))[2] == {}
    rows = [mv async for mv in MeterValue.objects.filter(transaction_id=tx_id).order_by("timestamp", "id")]
    assert len(rows) == 4
    current = rows[1]
    assert (current.measurand, current.phase, current.unit, current.location, current.format, current.context) == (
        "Current.Import",
        "L1",
        "A",
        "Outlet",
        "Raw",
        "Sample.Clock",
    )
    default = rows[3]  # omitted fields take the spec's defaults
    assert (default.measurand, default.unit, default.context, default.location, default.format) == (
        "Energy.Active.Import.Register",
        "Wh",
        "Sample.Periodic",
        "Outlet",
        "Raw",
    )
    tx = await Transaction.objects.aget(pk=tx_id)
    assert tx.last_meter_wh == 2100
    assert tx.energy_wh == 1100


async def test_energy_in_kwh_is_normalised_to_wh(client, card):
    tx_id = (await client.call("StartTransaction", START))[2]["transactionId"]
    await client.call(
        "MeterValues",
        {
            "connectorId": 1,
            "transactionId": tx_id,
            "meterValue": [{"timestamp": "2026-11-22T10:01:00Z", "sampledValue": [{"value": "3.25", "unit": "kWh"}]}],
        },
    )
    assert (await Transaction.objects.aget(pk=tx_id)).energy_wh == 3250 - 1000


async def test_meter_values_for_an_unknown_transaction_are_stored_unlinked(client):
    await client.call(
        "MeterValues",
        {
            "connectorId": 2,
            "transactionId": 999999,
            "meterValue": [{"timestamp": "2026-11-22T10:01:00Z", "sampledValue": [{"value": "5"}]}],
        },
    )
    row = await MeterValue.objects.aget()
    assert row.transaction_id is None and row.evse_id == 2 and row.value == "5"


async def test_a_late_meter_value_does_not_move_energy_backwards(client, card):
    tx_id = (await client.call("StartTransaction", START))[2]["transactionId"]

    async def send(ts, value):
        await client.call(
            "MeterValues",
            {"connectorId": 1, "transactionId": tx_id, "meterValue": [{"timestamp": ts, "sampledValue": [{"value": value}]}]},
        )

    await send("2026-11-22T10:10:00Z", "5000")
    await send("2026-11-22T10:05:00Z", "3000")
    assert (await Transaction.objects.aget(pk=tx_id)).last_meter_wh == 5000


def readings(tx_id, ts: str, *sampled_values) -> dict:
    """A MeterValues request of connector 1: one MeterValue at `ts` with `sampled_values`."""
    payload = {"connectorId": 1, "meterValue": [{"timestamp": ts, "sampledValue": list(sampled_values)}]}
    if tx_id is not None:
        payload["transactionId"] = tx_id
    return payload


PERIODIC = [
    {"value": "1500"},
    {"value": "7200", "measurand": "Power.Active.Import", "unit": "W"},
    {"value": "16.1", "measurand": "Current.Import", "phase": "L1", "unit": "A"},
    {"value": "230.2", "measurand": "Voltage", "phase": "L1-N", "unit": "V"},
]


async def test_a_resent_meter_values_is_answered_every_time_and_its_values_stored_once(client, card):
    tx_id = (await client.call("StartTransaction", START))[2]["transactionId"]
    payload = readings(tx_id, "2026-11-22T10:01:00Z", *PERIODIC)

    first = await client.call("MeterValues", payload, unique_id="mv-1")
    same_id = await client.call("MeterValues", payload, unique_id="mv-1")
    new_id = await client.call("MeterValues", payload, unique_id="mv-1-retry")

    assert [first[0], same_id[0], new_id[0]] == [3, 3, 3]
    rows = [(mv.measurand, mv.phase, mv.value) async for mv in MeterValue.objects.order_by("id")]
    assert rows == [
        ("Energy.Active.Import.Register", "", "1500"),
        ("Power.Active.Import", "", "7200"),
        ("Current.Import", "L1", "16.1"),
        ("Voltage", "L1-N", "230.2"),
    ]
    tx = await Transaction.objects.aget(pk=tx_id)
    assert (tx.last_meter_wh, tx.energy_wh) == (1500, 500)


async def test_a_resend_of_an_older_request_does_not_move_energy_backwards(client, card):
    tx_id = (await client.call("StartTransaction", START))[2]["transactionId"]
    older = readings(tx_id, "2026-11-22T10:01:00Z", {"value": "1500"})
    await client.call("MeterValues", older)
    await client.call("MeterValues", readings(tx_id, "2026-11-22T10:02:00Z", {"value": "1800"}))

    await client.call("MeterValues", older)

    tx = await Transaction.objects.aget(pk=tx_id)
    assert tx.last_meter_wh == 1800
    assert await MeterValue.objects.acount() == 2


async def test_readings_of_one_timestamp_differing_in_any_field_but_value_are_all_stored(client, card):
    tx_id = (await client.call("StartTransaction", START))[2]["transactionId"]
    distinct = [
        {"value": "1500"},
        {"value": "1500", "context": "Sample.Clock"},
        {"value": "1500", "location": "Inlet"},
        {"value": "1.5", "unit": "kWh"},
        {"value": "AB12CD", "format": "SignedData"},
        {"value": "1500", "measurand": "Energy.Active.Import.Interval"},
        {"value": "16.1", "measurand": "Current.Import", "phase": "L1", "unit": "A"},
        {"value": "16.1", "measurand": "Current.Import", "phase": "L2", "unit": "A"},
        {"value": "16.1", "measurand": "Current.Import", "phase": "L3", "unit": "A"},
    ]
    payload = readings(tx_id, "2026-11-22T10:01:00Z", *distinct)

    await client.call("MeterValues", payload)
    await client.call("MeterValues", payload)

    assert await MeterValue.objects.acount() == len(distinct)


async def test_a_reading_repeated_within_one_request_is_stored_once(client, card):
    tx_id = (await client.call("StartTransaction", START))[2]["transactionId"]
    reply = await client.call("MeterValues", readings(tx_id, "2026-11-22T10:01:00Z", {"value": "1500"}, {"value": "1500"}))
    assert reply[0] == 3
    assert await MeterValue.objects.acount() == 1


async def test_a_resend_with_another_value_for_the_same_reading_keeps_the_first(client, card):
    tx_id = (await client.call("StartTransaction", START))[2]["transactionId"]
    await client.call("MeterValues", readings(tx_id, "2026-11-22T10:01:00Z", {"value": "1500"}))
    reply = await client.call("MeterValues", readings(tx_id, "2026-11-22T10:01:00Z", {"value": "1501"}))
    assert reply[0] == 3
    assert [mv.value async for mv in MeterValue.objects.all()] == ["1500"]


async def test_the_same_reading_for_a_transaction_and_unlinked_is_stored_for_each(client, card):
    tx_id = (await client.call("StartTransaction", START))[2]["transactionId"]
    await client.call("MeterValues", readings(None, "2026-11-22T10:01:00Z", {"value": "1500"}))
    await client.call("MeterValues", readings(tx_id, "2026-11-22T10:01:00Z", {"value": "1500"}))
    await client.call("MeterValues", readings(None, "2026-11-22T10:01:00Z", {"value": "1500"}))
    linked = [mv.transaction_id async for mv in MeterValue.objects.order_by("id")]
    assert linked == [None, tx_id]


async def test_a_resent_meter_values_of_other_charge_points_and_connectors_stay_apart(client, card, ocpp_connect):
    await ChargePoint.objects.acreate(id="CP-2")
    other, _, _ = await ocpp_connect("/ocpp/CP-2")
    payload = readings(None, "2026-11-22T10:01:00Z", {"value": "1500"})
    await client.call("MeterValues", payload)
    await client.call("MeterValues", {**payload, "connectorId": 2})
    await other.call("MeterValues", payload)
    await other.call("MeterValues", payload)
    stored = [(mv.charge_point_id, mv.evse_id) async for mv in MeterValue.objects.order_by("id")]
    assert stored == [("CP-1", 1), ("CP-1", 2), ("CP-2", 1)]


# --- StopTransaction -------------------------------------------------------


async def test_stop_transaction_stores_meter_stop_reason_tag_and_transaction_data(client, card):
    tx_id = (await client.call("StartTransaction", START))[2]["transactionId"]
    reply = await client.call(
        "StopTransaction",
        {
            "transactionId": tx_id,
            "meterStop": 9500,
            "timestamp": "2026-11-22T11:00:00Z",
            "reason": "EVDisconnected",
            "idTag": "CARD-1",
            "transactionData": [
                {"timestamp": "2026-11-22T10:00:00Z", "sampledValue": [{"value": "1000", "context": "Transaction.Begin"}]},
                {"timestamp": "2026-11-22T11:00:00Z", "sampledValue": [{"value": "9500", "context": "Transaction.End"}]},
            ],
        },
    )
    assert reply[2] == {"idTagInfo": {"status": "Accepted"}}
    tx = await Transaction.objects.aget(pk=tx_id)
    assert (tx.meter_stop_wh, tx.stop_reason, tx.stop_id_tag) == (9500, "EVDisconnected", "CARD-1")
    assert tx.stop_timestamp == datetime(2026, 11, 22, 11, tzinfo=UTC)
    assert not tx.is_active
    assert tx.energy_wh == 8500
    contexts = [mv.context async for mv in MeterValue.objects.filter(transaction_id=tx_id).order_by("timestamp")]
    assert contexts == ["Transaction.Begin", "Transaction.End"]


async def test_stop_transaction_without_id_tag_answers_without_id_tag_info(client, card):
    tx_id = (await client.call("StartTransaction", START))[2]["transactionId"]
    reply = await client.call("StopTransaction", {"transactionId": tx_id, "meterStop": 1200, "timestamp": "2026-11-22T10:30:00Z"})
    assert reply[:3] == [3, reply[1], {}]


async def test_a_repeated_stop_transaction_stores_nothing_twice(client, card):
    tx_id = (await client.call("StartTransaction", START))[2]["transactionId"]
    stop = {
        "transactionId": tx_id,
        "meterStop": 2000,
        "timestamp": "2026-11-22T10:30:00Z",
        "transactionData": [{"timestamp": "2026-11-22T10:30:00Z", "sampledValue": [{"value": "2000"}]}],
    }
    await client.call("StopTransaction", stop)
    reply = await client.call("StopTransaction", stop)
    assert reply[0] == 3
    assert await MeterValue.objects.acount() == 1
    assert await Transaction.objects.acount() == 1


async def test_a_stop_transaction_retried_after_a_lost_reply_stores_its_transaction_data_once(client, card):
    tx_id = (await client.call("StartTransaction", START))[2]["transactionId"]
    stop = {
        "transactionId": tx_id,
        "meterStop": 2000,
        "timestamp": "2026-11-22T10:30:00Z",
        "transactionData": [
            {"timestamp": "2026-11-22T10:00:00Z", "sampledValue": [{"value": "1000", "context": "Transaction.Begin"}]},
            {"timestamp": "2026-11-22T10:30:00Z", "sampledValue": [{"value": "2000", "context": "Transaction.End"}]},
        ],
    }
    first = await client.call("StopTransaction", stop, unique_id="stop-1")
    again = await client.call("StopTransaction", stop, unique_id="stop-1-retry")
    assert first[2] == again[2] == {}
    assert [mv.context async for mv in MeterValue.objects.order_by("timestamp")] == ["Transaction.Begin", "Transaction.End"]
    tx = await Transaction.objects.aget(pk=tx_id)
    assert (tx.meter_stop_wh, tx.energy_wh) == (2000, 1000)


async def test_transaction_data_repeating_meter_values_already_received_stores_only_the_new_ones(client, card):
    tx_id = (await client.call("StartTransaction", START))[2]["transactionId"]
    await client.call("MeterValues", readings(tx_id, "2026-11-22T10:15:00Z", *PERIODIC))
    # StopTxnSampledData: the periodic samples again, around the end reading.
    stop = {
        "transactionId": tx_id,
        "meterStop": 2000,
        "timestamp": "2026-11-22T10:30:00Z",
        "transactionData": [
            {"timestamp": "2026-11-22T10:15:00Z", "sampledValue": PERIODIC},
            {"timestamp": "2026-11-22T10:30:00Z", "sampledValue": [{"value": "2000", "context": "Transaction.End"}]},
        ],
    }
    assert (await client.call("StopTransaction", stop))[0] == 3
    values = [(mv.timestamp.minute, mv.measurand, mv.value) async for mv in MeterValue.objects.order_by("timestamp", "id")]
    assert values == [
        (15, "Energy.Active.Import.Register", "1500"),
        (15, "Power.Active.Import", "7200"),
        (15, "Current.Import", "16.1"),
        (15, "Voltage", "230.2"),
        (30, "Energy.Active.Import.Register", "2000"),
    ]


async def test_a_retried_stop_for_an_unknown_transaction_stores_one_orphan_with_its_data_once(client):
    stop = {
        "transactionId": 4242,
        "meterStop": 777,
        "timestamp": "2026-11-22T10:30:00Z",
        "transactionData": [{"timestamp": "2026-11-22T10:30:00Z", "sampledValue": [{"value": "777"}]}],
    }
    assert (await client.call("StopTransaction", stop))[0] == 3
    assert (await client.call("StopTransaction", stop))[0] == 3
    orphan = await Transaction.objects.aget(is_orphan=True)
    assert orphan.orphan_transaction_id == 4242
    assert await MeterValue.objects.filter(transaction=orphan).acount() == 1
    assert await MeterValue.objects.acount() == 1


async def test_a_stop_for_an_unknown_transaction_is_answered_and_stored_flagged(client):
    reply = await client.call(
        "StopTransaction",
        {
            "transactionId": 4242,
            "meterStop": 777,
            "timestamp": "2026-11-22T10:30:00Z",
            "reason": "PowerLoss",
            "transactionData": [{"timestamp": "2026-11-22T10:30:00Z", "sampledValue": [{"value": "777"}]}],
        },
    )
    assert reply[0] == 3
    orphan = await Transaction.objects.aget(is_orphan=True)
    assert (orphan.orphan_transaction_id, orphan.meter_stop_wh, orphan.stop_reason) == (4242, 777, "PowerLoss")
    assert await MeterValue.objects.filter(transaction=orphan).acount() == 1


async def test_a_charge_point_cannot_stop_another_charge_points_transaction(client, card, ocpp_connect):
    await ChargePoint.objects.acreate(id="CP-2")
    other, _, _ = await ocpp_connect("/ocpp/CP-2")
    tx_id = (await other.call("StartTransaction", START))[2]["transactionId"]
    await client.call("StopTransaction", {"transactionId": tx_id, "meterStop": 5, "timestamp": "2026-11-22T10:30:00Z"})
    assert (await Transaction.objects.aget(pk=tx_id)).is_active
    assert await Transaction.objects.filter(is_orphan=True, charge_point_id="CP-1").aexists()
