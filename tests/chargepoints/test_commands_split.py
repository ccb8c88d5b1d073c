"""Requests split as the station asks: DeviceDataCtrlr ItemsPerMessage / BytesPerMessage (OCPP 2.0.1 B05, B06, B08).

The limits come from the stored device model (selectors.message_limits);
commands.acall sends a request past them as several CALLs through the
consumer, one after the other, and returns one merged answer.
"""

import asyncio
import json

import pytest
from asgiref.sync import ThreadSensitiveContext, sync_to_async
from channels.db import database_sync_to_async

from chargepoints import commands, operations, selectors, services
from chargepoints.models import ChargePoint, Command, CommandStatus, Variable
from chargepoints.ocpp import rpc

ACME = {"name": "AcmeCtrlr"}


def entry(name: str, **fields) -> dict:
    return {"component": ACME, "variable": {"name": name}, **fields}


def value_of(name: str) -> str:
    return f"value of {name}"


# --- The limits as stored: selectors.message_limits ------------------------------------------


def limit(charge_point_id: str, variable: str, value, instance: str = "", attribute_type: str = "Actual", **fields):
    return Variable.objects.create(
        charge_point_id=charge_point_id,
        component=fields.pop("component", "DeviceDataCtrlr"),
        variable=variable,
        variable_instance=instance,
        attribute_type=attribute_type,
        value=value,
        **fields,
    )


@pytest.fixture
def station(db):
    return ChargePoint.objects.create(id="CS-1", ocpp_version="2.0.1")


def test_the_limits_are_read_from_the_variables_with_the_action_as_instance(station):
    limit("CS-1", "ItemsPerMessage", "2", "GetVariables")
    limit("CS-1", "BytesPerMessage", "4096", "GetVariables")
    limit("CS-1", "ItemsPerMessage", "9", "SetVariables")

    assert selectors.message_limits(charge_point_id="CS-1", action="GetVariables") == (2, 4096)
    assert selectors.message_limits(charge_point_id="CS-1", action="SetVariables") == (9, None)
    assert selectors.message_limits(charge_point_id="CS-1", action="GetReport") == (None, None)


def test_the_limits_are_read_from_variables_named_after_the_action_too(station):
    limit("CS-1", "ItemsPerMessageGetReport", "3")
    limit("CS-1", "BytesPerMessageGetReport", "2000")
    limit("CS-1", "itemspermessagesetvariables", "5")  # names are case-insensitive in OCPP

    assert selectors.message_limits(charge_point_id="CS-1", action="GetReport") == (3, 2000)
    assert selectors.message_limits(charge_point_id="CS-1", action="SetVariables") == (5, None)


def test_when_both_spellings_are_reported_the_smaller_limit_holds(station):
    limit("CS-1", "ItemsPerMessage", "10", "GetVariables")
    limit("CS-1", "ItemsPerMessageGetVariables", "4")

    assert selectors.message_limits(charge_point_id="CS-1", action="GetVariables") == (4, None)


@pytest.mark.parametrize("value", ["0", "-3", "2.5", "many", "", None])
def test_a_limit_that_is_no_whole_number_above_zero_is_ignored(station, value):
    limit("CS-1", "ItemsPerMessage", value, "GetVariables")
    limit("CS-1", "BytesPerMessageGetVariables", " 512 ")

    assert selectors.message_limits(charge_point_id="CS-1", action="GetVariables") == (None, 512)


def test_only_the_actual_value_of_the_stations_own_device_data_controller_counts(station):
    ChargePoint.objects.create(id="CS-2", ocpp_version="2.0.1")
    limit("CS-1", "ItemsPerMessage", "1", "GetVariables", attribute_type="MaxSet")
    limit("CS-1", "ItemsPerMessage", "1", "GetVariables", component="AcmeCtrlr")
    limit("CS-2", "ItemsPerMessage", "1", "GetVariables")

    assert selectors.message_limits(charge_point_id="CS-1", action="GetVariables") == (None, None)
    assert selectors.message_limits(charge_point_id="NOPE", action="GetVariables") == (None, None)


# --- Through the consumer: a fake 2.0.1 station answering the parts ---------------------------

e2e = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def connected(ocpp_connect, db):
    await ChargePoint.objects.acreate(id="CS-1")
    client, accepted, _ = await ocpp_connect("/ocpp/CS-1", subprotocols=["ocpp2.0.1"])
    assert accepted
    return client


async def reported(*limits: tuple[str, str, str]) -> None:
    """The station reports DeviceDataCtrlr (variable, instance, value) entries in a NotifyReport (B07)."""
    await database_sync_to_async(services.device_model_report)(
        charge_point_id="CS-1",
        report_data=[
            {
                "component": {"name": "DeviceDataCtrlr"},
                "variable": {"name": variable, **({"instance": instance} if instance else {})},
                "variableAttribute": [{"value": value, "mutability": "ReadOnly"}],
                "variableCharacteristics": {"dataType": "integer"},
            }
            for variable, instance, value in limits
        ],
    )


async def answer_variables(client) -> list:
    """Answer the next CALL, a GetVariables or SetVariables, Accepted for each entry; returns the CALL frame."""
    frame = await client.receive()
    action, payload = frame[2], frame[3]
    if action == "GetVariables":
        results = [
            {
                "attributeStatus": "Accepted",
                "attributeValue": value_of(e["variable"]["name"]),
                "component": e["component"],
                "variable": e["variable"],
            }
            for e in payload["getVariableData"]
        ]
        answer = {"getVariableResult": results}
    else:
        answer = {
            "setVariableResult": [
                {"attributeStatus": "Accepted", "component": e["component"], "variable": e["variable"]} for e in payload["setVariableData"]
            ]
        }
    await client.send_raw(json.dumps([3, frame[1], answer]))
    return frame


async def stored_values() -> dict[str, str | None]:
    return {v.variable: v.value async for v in Variable.objects.filter(charge_point_id="CS-1", component="AcmeCtrlr")}


@e2e
async def test_it_splits_get_variables_by_items_per_message(connected):
    await reported(("ItemsPerMessage", "GetVariables", "2"))
    wanted = [entry(f"Var{i}") for i in range(5)]

    task = asyncio.create_task(commands.acall("CS-1", "GetVariables", {"getVariableData": wanted}, source="api"))
    frames = [await answer_variables(connected) for _ in range(3)]
    result = await task

    assert [frame[3]["getVariableData"] for frame in frames] == [wanted[:2], wanted[2:4], wanted[4:]]
    assert await connected.communicator.receive_nothing(timeout=0.2), "3 CALLs, no more"
    assert [r["variable"]["name"] for r in result.response["getVariableResult"]] == [f"Var{i}" for i in range(5)]
    assert [r["attributeValue"] for r in result.response["getVariableResult"]] == [value_of(f"Var{i}") for i in range(5)]
    rpc.validate_payload("2.0.1", "GetVariables", result.response, response=True)
    assert await stored_values() == {f"Var{i}": value_of(f"Var{i}") for i in range(5)}

    commands_logged = [c async for c in Command.objects.filter(action="GetVariables").order_by("pk")]
    assert len(commands_logged) == 3
    assert result.extra == {"parts": 3, "command_ids": [c.pk for c in commands_logged]}
    assert result.command_id == commands_logged[0].pk
    assert [c.unique_id for c in commands_logged] == [frame[1] for frame in frames]
    assert [c.payload for c in commands_logged] == [frame[3] for frame in frames]
    assert all(c.status == CommandStatus.ANSWERED and c.source == "api" for c in commands_logged)


@e2e
async def test_it_splits_set_variables_by_bytes_per_message_and_every_frame_keeps_within_it(connected):
    entries = [entry(f"Var{i}", attributeValue="é" * 40) for i in range(6)]
    two_fit = len(rpc.call_frame("x" * 36, "SetVariables", {"setVariableData": entries[:2]}).encode("utf-8"))
    await reported(("BytesPerMessageSetVariables", "", str(two_fit)))

    task = asyncio.create_task(commands.acall("CS-1", "SetVariables", {"setVariableData": entries}))
    frames = []
    for _ in range(3):
        raw_frame = await connected.communicator.receive_from(timeout=5)
        assert len(raw_frame.encode("utf-8")) <= two_fit
        frame = json.loads(raw_frame)
        frames.append(frame)
        await connected.send_raw(
            json.dumps(
                [
                    3,
                    frame[1],
                    {
                        "setVariableResult": [
                            {"attributeStatus": "Accepted", "component": e["component"], "variable": e["variable"]}
                            for e in frame[3]["setVariableData"]
                        ]
                    },
                ]
            )
        )
    result = await task

    assert [len(frame[3]["setVariableData"]) for frame in frames] == [2, 2, 2]
    assert len(result.response["setVariableResult"]) == 6
    assert result.extra["parts"] == 3
    assert await stored_values() == {f"Var{i}": "é" * 40 for i in range(6)}


@e2e
async def test_get_configuration_reads_all_its_keys_in_parts_too(connected):
    await reported(("ItemsPerMessage", "GetVariables", "2"))
    keys = [f"AcmeCtrlr.Var{i}" for i in range(5)]

    async def as_a_sync_view():
        async with ThreadSensitiveContext():
            return await sync_to_async(operations.operation_run)(charge_point_id="CS-1", name="get-configuration", arguments={"keys": keys})

    task = asyncio.create_task(as_a_sync_view())
    frames = [await answer_variables(connected) for _ in range(3)]
    result = await task

    assert [len(frame[3]["getVariableData"]) for frame in frames] == [2, 2, 1]
    assert result.extra["configuration"] == {key: value_of(key.split(".")[1]) for key in keys}
    assert result.extra["unknown_keys"] == []
    assert result.extra["parts"] == 3


@e2e
async def test_get_report_parts_after_the_first_get_request_ids_of_their_own(connected):
    await reported(("ItemsPerMessageGetReport", "", "1"))
    wanted = [{"component": {"name": name}} for name in ("AcmeCtrlr", "OCPPCommCtrlr", "SecurityCtrlr")]

    task = asyncio.create_task(commands.acall("CS-1", "GetReport", {"requestId": 42, "componentVariable": wanted}))
    frames = []
    for status in ("Accepted", "EmptyResultSet", "Accepted"):
        frame = await connected.receive()
        frames.append(frame)
        await connected.send_raw(json.dumps([3, frame[1], {"status": status}]))
    result = await task

    request_ids = [frame[3]["requestId"] for frame in frames]
    assert [frame[3]["componentVariable"] for frame in frames] == [[w] for w in wanted]
    assert request_ids[0] == 42
    assert len(set(request_ids)) == 3
    assert result.extra["request_ids"] == request_ids
    assert result.response == {"status": "Accepted"}  # a report is coming, of the parts that matched
    assert await Command.objects.filter(action="GetReport").acount() == 3


@e2e
async def test_a_part_that_fails_raises_and_the_parts_before_it_stay_logged_and_applied(connected):
    await reported(("ItemsPerMessage", "SetVariables", "2"))
    entries = [entry(f"Var{i}", attributeValue=str(i)) for i in range(5)]

    task = asyncio.create_task(commands.acall("CS-1", "SetVariables", {"setVariableData": entries}))
    await answer_variables(connected)
    frame = await connected.receive()
    await connected.send_raw(json.dumps([4, frame[1], "OccurrenceConstraintViolation", "too many", {}]))
    with pytest.raises(commands.CallErrorReceived) as caught:
        await task

    assert caught.value.details["error_code"] == "OccurrenceConstraintViolation"
    assert await connected.communicator.receive_nothing(timeout=0.2), "no part after the failed one"
    logged = [c async for c in Command.objects.filter(action="SetVariables").order_by("pk")]
    assert [c.status for c in logged] == [CommandStatus.ANSWERED, CommandStatus.CALL_ERROR]
    assert caught.value.command_id == logged[1].pk
    assert await stored_values() == {"Var0": "0", "Var1": "1"}


@e2e
async def test_an_invalid_entry_in_a_later_part_is_refused_before_any_part_is_sent(connected):
    await reported(("ItemsPerMessage", "GetVariables", "2"))
    wanted = [entry(f"Var{i}") for i in range(4)] + [{"component": ACME}]  # no variable

    with pytest.raises(commands.InvalidPayload):
        await commands.acall("CS-1", "GetVariables", {"getVariableData": wanted})

    assert await connected.communicator.receive_nothing(timeout=0.2)
    assert not await Command.objects.aexists()


@e2e
async def test_a_request_within_the_limits_goes_as_one_call_as_before(connected):
    await reported(("ItemsPerMessage", "GetVariables", "5"), ("BytesPerMessage", "GetVariables", "65000"))
    wanted = [entry(f"Var{i}") for i in range(5)]

    task = asyncio.create_task(commands.acall("CS-1", "GetVariables", {"getVariableData": wanted}))
    frame = await answer_variables(connected)
    result = await task

    assert frame[3] == {"getVariableData": wanted}
    assert result.extra == {}
    assert await Command.objects.acount() == 1


@e2e
async def test_a_station_that_reported_no_limits_gets_one_call(connected):
    wanted = [entry(f"Var{i}") for i in range(50)]

    task = asyncio.create_task(commands.acall("CS-1", "GetVariables", {"getVariableData": wanted}))
    frame = await answer_variables(connected)
    result = await task

    assert len(frame[3]["getVariableData"]) == 50
    assert len(result.response["getVariableResult"]) == 50
    assert result.extra == {}
