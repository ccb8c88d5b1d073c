"""The command path: chargepoints.commands.acall through the channel layer to the consumer and back."""

import asyncio
import json

import pytest

from chargepoints import commands
from chargepoints.models import ChargePoint, Command, CommandStatus

pytestmark = pytest.mark.django_db(transaction=True)


async def answer_next_call(client, payload=None, *, error=None) -> list:
    """Read the next CALL the server sends and answer it; returns the CALL frame."""
    frame = await client.receive()
    assert frame[0] == 2, frame
    if error:
        await client.send_raw(json.dumps([4, frame[1], error, "nope", {"why": "test"}]))
    else:
        await client.send_raw(json.dumps([3, frame[1], payload if payload is not None else {"status": "Accepted"}]))
    return frame


@pytest.fixture
async def client(charge_point, ocpp_connect):
    client, accepted, _ = await ocpp_connect("/ocpp/CP-1")
    assert accepted
    return client


async def test_a_command_reaches_the_charge_point_and_returns_its_answer(client):
    task = asyncio.create_task(commands.acall("CP-1", "Reset", {"type": "Soft"}, source="api"))
    frame = await answer_next_call(client, {"status": "Accepted"})
    result = await task
    assert frame[2:] == ["Reset", {"type": "Soft"}]
    assert result.response == {"status": "Accepted"}
    command = await Command.objects.aget(pk=result.command_id)
    assert command.status == CommandStatus.ANSWERED
    assert command.unique_id == frame[1]
    assert command.source == "api"
    assert command.response == {"status": "Accepted"}
    assert command.round_trip_ms is not None and command.sent_at and command.completed_at


async def test_snake_case_payloads_are_sent_in_camel_case(client):
    task = asyncio.create_task(commands.acall("CP-1", "UnlockConnector", {"connector_id": 2}))
    frame = await answer_next_call(client, {"status": "Unlocked"})
    await task
    assert frame[3] == {"connectorId": 2}


async def test_an_offline_charge_point_fails_at_once(charge_point):
    with pytest.raises(commands.ChargePointOffline) as info:
        await asyncio.wait_for(commands.acall("CP-1", "ClearCache", {}), 1)
    assert info.value.http_status == 409
    assert (await Command.objects.aget(pk=info.value.command_id)).status == CommandStatus.OFFLINE


async def test_a_stale_connected_flag_is_detected_as_offline(charge_point, monkeypatch):
    monkeypatch.setattr(commands, "ACK_TIMEOUT_S", 0.3)
    await ChargePoint.objects.filter(pk="CP-1").aupdate(connected=True)  # left by a process that died
    with pytest.raises(commands.ChargePointOffline):
        await commands.acall("CP-1", "ClearCache", {})


async def test_an_unknown_charge_point_is_reported(db):
    with pytest.raises(commands.UnknownChargePoint) as info:
        await commands.acall("NOPE", "ClearCache", {})
    assert info.value.http_status == 404


async def test_an_invalid_payload_is_rejected_before_sending_naming_the_field(client):
    with pytest.raises(commands.InvalidPayload) as info:
        await commands.acall("CP-1", "Reset", {"type": "Gentle"})
    assert info.value.details["field"] == "type"
    assert info.value.http_status == 400
    assert await client.communicator.receive_nothing(timeout=0.2)
    assert not await Command.objects.aexists()


async def test_an_action_the_central_system_cannot_send_is_rejected(client):
    with pytest.raises(commands.UnknownAction):
        await commands.acall("CP-1", "BootNotification", {"chargePointVendor": "a", "chargePointModel": "b"})


async def test_no_answer_within_the_timeout_is_a_timeout(client):
    with pytest.raises(commands.CommandTimeout) as info:
        await commands.acall("CP-1", "ClearCache", {}, timeout=0.3)
    assert info.value.http_status == 504
    await client.receive()  # the CALL did go out
    assert (await Command.objects.aget(pk=info.value.command_id)).status == CommandStatus.TIMEOUT


async def test_a_call_error_is_returned_with_its_code_and_description(client):
    task = asyncio.create_task(commands.acall("CP-1", "ClearCache", {}))
    await answer_next_call(client, error="NotSupported")
    with pytest.raises(commands.CallErrorReceived) as info:
        await task
    assert info.value.details["error_code"] == "NotSupported"
    assert info.value.details["error_description"] == "nope"
    assert info.value.details["error_details"] == {"why": "test"}
    command = await Command.objects.aget(pk=info.value.command_id)
    assert (command.status, command.error_code) == (CommandStatus.CALL_ERROR, "NotSupported")


async def test_an_answer_that_fails_the_schema_is_reported(client):
    task = asyncio.create_task(commands.acall("CP-1", "ClearCache", {}))
    await answer_next_call(client, {"status": "Maybe"})
    with pytest.raises(commands.InvalidResponse):
        await task


async def test_only_one_call_is_in_flight_and_the_next_waits_its_turn(client):
    first = asyncio.create_task(commands.acall("CP-1", "ClearCache", {}))
    second = asyncio.create_task(commands.acall("CP-1", "Reset", {"type": "Hard"}))
    frame = await client.receive()
    assert await client.communicator.receive_nothing(timeout=0.3), "a second CALL must wait for the first answer"
    await client.send_raw(json.dumps([3, frame[1], {"status": "Accepted"}]))
    frame2 = await answer_next_call(client)
    await first
    await second
    assert {frame[2], frame2[2]} == {"ClearCache", "Reset"}


async def test_a_full_queue_is_a_clear_error(client, settings):
    settings.OCPP_COMMAND_QUEUE_SIZE = 1
    in_flight = asyncio.create_task(commands.acall("CP-1", "ClearCache", {}, timeout=5))
    await client.receive()  # first is in flight
    waiting = asyncio.create_task(commands.acall("CP-1", "ClearCache", {}, timeout=5))
    await asyncio.sleep(0.2)
    with pytest.raises(commands.QueueFull) as info:
        await commands.acall("CP-1", "ClearCache", {}, timeout=5)
    assert info.value.http_status == 429
    in_flight.cancel()
    waiting.cancel()


async def test_the_charge_point_is_served_while_a_command_waits_for_its_answer(client):
    task = asyncio.create_task(commands.acall("CP-1", "ClearCache", {}))
    frame = await client.receive()
    # Before answering, the charge point sends its own CALL: it must be answered (no deadlock).
    reply = await client.call("Heartbeat", {})
    assert reply[0] == 3
    await client.send_raw(json.dumps([3, frame[1], {"status": "Accepted"}]))
    assert (await task).response == {"status": "Accepted"}


async def test_a_disconnect_mid_call_reports_the_charge_point_offline(client):
    task = asyncio.create_task(commands.acall("CP-1", "ClearCache", {}))
    await client.receive()
    await client.close()
    with pytest.raises(commands.ChargePointOffline):
        await task


async def test_the_sync_api_works_from_a_sync_view_thread(client):
    from asgiref.sync import ThreadSensitiveContext, sync_to_async

    async def as_django_runs_a_sync_view():
        # Django's ASGIHandler gives every request a ThreadSensitiveContext.
        async with ThreadSensitiveContext():
            return await sync_to_async(commands.call)("CP-1", "ClearCache", {})

    task = asyncio.create_task(as_django_runs_a_sync_view())
    await answer_next_call(client)
    assert (await task).response == {"status": "Accepted"}
