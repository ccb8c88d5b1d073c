"""Schema-valid values the database cannot hold: out-of-range integers and NUL / lone surrogates (both versions).

Run on SQLite and PostgreSQL: PostgreSQL refuses NUL in text and jsonb, and
its integer columns are 32 bits, where SQLite stores anything.
"""

import json

import pytest

from chargepoints.models import ChargePoint, Connector, StationMessage
from chargepoints.ocpp import dialect, limits, rpc
from transactions.models import IdTag, MeterValue, StopSource, Transaction

pytestmark = pytest.mark.django_db(transaction=True)

START = {"connectorId": 1, "idTag": "CARD-1", "meterStart": 1000, "timestamp": "2026-11-22T10:00:00Z"}
NUL_TAG = "CARD\x00-1"


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


async def still_connected(client, version="1.6"):
    reply = await client.call("Heartbeat", {})
    assert reply[0] == 3, reply


# --- integers ------------------------------------------------------------------


@pytest.mark.parametrize(
    "action, payload, field",
    [
        ("StartTransaction", {**START, "connectorId": -5}, "connectorId"),
        ("StartTransaction", {**START, "connectorId": 2**31}, "connectorId"),
        ("StartTransaction", {**START, "meterStart": 2**63}, "meterStart"),
        ("StartTransaction", {**START, "reservationId": 2**31}, "reservationId"),
        ("StopTransaction", {"transactionId": 2**63, "meterStop": 1, "timestamp": "2026-11-22T11:00:00Z"}, "transactionId"),
        ("StopTransaction", {"transactionId": 1, "meterStop": -(2**63) - 1, "timestamp": "2026-11-22T11:00:00Z"}, "meterStop"),
        ("StatusNotification", {"connectorId": -1, "status": "Available", "errorCode": "NoError"}, "connectorId"),
        (
            "MeterValues",
            {"connectorId": 2**40, "meterValue": [{"timestamp": START["timestamp"], "sampledValue": [{"value": "1"}]}]},
            "connectorId",
        ),
    ],
)
async def test_a_1_6_integer_no_column_holds_is_a_property_constraint_violation_naming_it(cp16, action, payload, field):
    rpc.validate_payload("1.6", action, payload)  # the official schema lets it through

    reply = await cp16.call(action, payload)

    assert reply[0] == 4 and reply[2] == "PropertyConstraintViolation", reply
    assert reply[4]["field"] == field
    assert field in reply[3]
    await still_connected(cp16)
    assert await Transaction.objects.acount() == 0


@pytest.mark.parametrize(
    "action, payload, field",
    [
        ("StatusNotification", {"timestamp": START["timestamp"], "connectorStatus": "Available", "evseId": -5, "connectorId": 1}, "evseId"),
        (
            "TransactionEvent",
            {
                "eventType": "Started",
                "timestamp": START["timestamp"],
                "triggerReason": "Authorized",
                "seqNo": 2**31,
                "transactionInfo": {"transactionId": "TX-1"},
            },
            "seqNo",
        ),
        (
            "TransactionEvent",
            {
                "eventType": "Started",
                "timestamp": START["timestamp"],
                "triggerReason": "Authorized",
                "seqNo": 0,
                "transactionInfo": {"transactionId": "TX-1"},
                "evse": {"id": 1, "connectorId": -1},
            },
            "evse/connectorId",
        ),
        ("MeterValues", {"evseId": 2**31, "meterValue": [{"timestamp": START["timestamp"], "sampledValue": [{"value": 1}]}]}, "evseId"),
        (
            "MeterValues",
            {
                "evseId": 1,
                "meterValue": [{"timestamp": START["timestamp"], "sampledValue": [{"value": 1, "unitOfMeasure": {"multiplier": 10**9}}]}],
            },
            "meterValue/0/sampledValue/0/unitOfMeasure/multiplier",
        ),
    ],
)
async def test_a_2_0_1_integer_no_column_holds_is_a_property_constraint_violation_naming_it(cp201, action, payload, field):
    rpc.validate_payload("2.0.1", action, payload)

    reply = await cp201.call(action, payload)

    assert reply[0] == 4 and reply[2] == "PropertyConstraintViolation", reply
    assert reply[4]["field"] == field
    await still_connected(cp201)
    assert await Transaction.objects.acount() == 0


async def test_the_largest_values_the_columns_hold_are_stored(cp16):
    reply = await cp16.call("StartTransaction", {**START, "connectorId": 2**31 - 1, "meterStart": 2**63 - 1})
    assert reply[0] == 3, reply
    tx = await Transaction.objects.aget(pk=reply[2]["transactionId"])
    assert (tx.connector_id, tx.meter_start_wh) == (2**31 - 1, 2**63 - 1)


async def test_a_meter_reading_beyond_a_bigint_is_kept_as_text_but_not_as_energy(cp16):
    reply = await cp16.call("StartTransaction", START)
    tx_id = reply[2]["transactionId"]
    sampled = [{"value": "1E+30", "measurand": "Energy.Active.Import.Register"}]
    reply = await cp16.call(
        "MeterValues",
        {"connectorId": 1, "transactionId": tx_id, "meterValue": [{"timestamp": START["timestamp"], "sampledValue": sampled}]},
    )
    assert reply[0] == 3, reply
    assert await MeterValue.objects.filter(value="1E+30").aexists()
    assert (await Transaction.objects.aget(pk=tx_id)).last_meter_wh is None


def test_every_integer_a_charge_point_sends_has_a_known_range_or_is_not_stored():
    """A new handler storing an integer must say where it goes, or the database decides (InternalError)."""

    def integer_paths(schema, node=None, prefix=""):
        node = schema if node is None else node
        if "$ref" in node:
            node = schema["definitions"][node["$ref"].split("/")[-1]]
        if node.get("type") == "integer":
            yield prefix
        elif node.get("type") == "object":
            for key, child in node.get("properties", {}).items():
                yield from integer_paths(schema, child, f"{prefix}/{key}" if prefix else key)
        elif node.get("type") == "array":
            yield from integer_paths(schema, node["items"], f"{prefix}/*")

    missing = []
    for version in ("1.6", "2.0.1"):
        handlers = dialect(version).handlers
        as_json = set(getattr(handlers, "STORED_MESSAGES", {}))  # kept as JSON, which holds any integer
        for action in set(handlers.HANDLERS) - as_json:
            paths = set(integer_paths(rpc.schema_json(version, action + rpc.REQUEST_SUFFIX[version])))
            known = set(handlers.INTEGER_FIELDS.get(action, {})) | handlers.UNSTORED_INTEGERS.get(action, set())
            missing += [f"{version} {action} {path}" for path in sorted(paths - known)]
    assert missing == []


# --- characters ----------------------------------------------------------------


@pytest.mark.parametrize("bad", ["\x00", "\ud800"], ids=["NUL", "lone surrogate"])
async def test_a_1_6_session_whose_id_tag_holds_an_unstorable_character_is_stored_and_stopped(cp16, bad):
    await IdTag.objects.acreate(id_tag="CARD\ufffd-1")  # even a tag spelled with the replacement character
    tag = f"CARD{bad}-1"
    # Sent as JSON escapes, as a charge point would.
    assert (await cp16.call("Authorize", {"idTag": tag}))[2] == {"idTagInfo": {"status": "Invalid"}}

    start = await cp16.call("StartTransaction", {**START, "idTag": tag})
    assert start[0] == 3, start
    assert start[2]["idTagInfo"]["status"] == "Invalid"
    tx_id = start[2]["transactionId"]
    stop = await cp16.call(
        "StopTransaction", {"transactionId": tx_id, "meterStop": 3000, "timestamp": "2026-11-22T11:00:00Z", "idTag": tag}
    )
    assert stop[0] == 3, stop

    tx = await Transaction.objects.aget(pk=tx_id)
    assert (tx.id_tag, tx.stop_id_tag, tx.meter_stop_wh, tx.stop_source) == ("CARD\ufffd-1",) * 2 + (3000, StopSource.CHARGE_POINT)
    # The frames as sent, the character escaped, for whoever needs the original.
    kept = [m.payload async for m in StationMessage.objects.filter(action="StopTransaction")]
    assert kept[0]["idTag"] == f"CARD\\u{ord(bad):04x}-1"


async def test_a_2_0_1_transaction_with_a_nul_in_its_id_token_and_free_text_is_stored(cp201):
    token = {"idToken": NUL_TAG, "type": "ISO14443"}
    assert (await cp201.call("Authorize", {"idToken": token}))[2]["idTokenInfo"]["status"] == "Invalid"
    started = {
        "eventType": "Started",
        "timestamp": START["timestamp"],
        "triggerReason": "Authorized",
        "seqNo": 0,
        "transactionInfo": {"transactionId": "TX\x00-1"},
        "idToken": token,
    }
    reply = await cp201.call("TransactionEvent", started)
    assert reply[0] == 3, reply
    ended = {
        **started,
        "eventType": "Ended",
        "seqNo": 1,
        "timestamp": "2026-11-22T11:00:00Z",
        "transactionInfo": {"transactionId": "TX\x00-1", "stoppedReason": "Local"},
    }
    reply = await cp201.call("TransactionEvent", ended)
    assert reply[0] == 3, reply

    tx = await Transaction.objects.aget(station_transaction_id="TX\ufffd-1")
    assert tx.id_tag == "CARD\ufffd-1" and not tx.is_active
    notify = {"generatedAt": START["timestamp"], "seqNo": 0, "eventData": [
        {"eventId": 1, "timestamp": START["timestamp"], "trigger": "Alerting", "actualValue": "a\x00b", "eventNotificationType": "HardWiredNotification",
         "component": {"name": "X"}, "variable": {"name": "Y"}}
    ]}  # fmt: skip
    assert (await cp201.call("NotifyEvent", notify))[0] == 3
    assert await StationMessage.objects.filter(action="NotifyEvent").acount() == 2  # as sent (escaped) and as stored


async def test_a_status_notification_with_a_nul_in_its_info_is_stored(cp16):
    reply = await cp16.call("StatusNotification", {"connectorId": 1, "status": "Faulted", "errorCode": "OtherError", "info": "relay\x00"})
    assert reply[0] == 3, reply
    assert (await Connector.objects.aget(charge_point_id="CP-1", connector_id=1)).info == "relay\ufffd"


def test_storable_replaces_only_what_the_database_cannot_hold_and_keeps_lengths():
    payload = json.loads('{"a": "x\\u0000y", "b": ["\\ud83d\\ude00", "\\udfff"], "k\\u0000": 1, "n": 5}')
    fixed = limits.storable(payload)
    assert fixed == {"a": "x\ufffdy", "b": ["\U0001f600", "\ufffd"], "k\ufffd": 1, "n": 5}
    assert limits.escaped(payload) == {"a": "x\\u0000y", "b": ["\U0001f600", "\\udfff"], "k\\u0000": 1, "n": 5}
    clean = {"a": "ok"}
    assert limits.storable(clean) is clean
