"""The command path: chargepoints.commands.acall through the channel layer to the consumer and back."""

import asyncio
import json

import pytest

from chargepoints import commands, redaction, services
from chargepoints.models import ChargePoint, Command, CommandStatus, ConfigurationKey, Variable

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


# --- Secrets: sent as given, logged as "***" (chargepoints.secrets) -----------------------------------

AUTHORIZATION_KEY = "0123456789abcdef0123456789abcdef01234567"
SECURITY_CTRLR = {"name": "SecurityCtrlr"}


@pytest.fixture
async def station(ocpp_connect, db):
    await ChargePoint.objects.acreate(id="CS-1")
    client, accepted, _ = await ocpp_connect("/ocpp/CS-1", subprotocols=["ocpp2.0.1"])
    assert accepted
    return client


async def test_an_authorization_key_reaches_the_charge_point_but_is_logged_as_the_marker(client):
    task = asyncio.create_task(
        commands.acall("CP-1", "ChangeConfiguration", {"key": "AuthorizationKey", "value": AUTHORIZATION_KEY}, secret_change=True)
    )
    frame = await answer_next_call(client, {"status": "Accepted"})
    result = await task

    assert frame[2:] == ["ChangeConfiguration", {"key": "AuthorizationKey", "value": AUTHORIZATION_KEY}]
    command = await Command.objects.aget(pk=result.command_id)
    assert command.payload == {"key": "AuthorizationKey", "value": redaction.REDACTED}
    assert command.status == CommandStatus.ANSWERED
    key = await ConfigurationKey.objects.aget(charge_point_id="CP-1", key="AuthorizationKey")
    assert key.value is None  # changed, value unknown: never the secret, never the marker


async def test_a_configuration_key_that_is_no_secret_is_logged_as_sent(client):
    task = asyncio.create_task(commands.acall("CP-1", "ChangeConfiguration", {"key": "HeartbeatInterval", "value": "120"}))
    frame = await answer_next_call(client, {"status": "Accepted"})
    result = await task

    assert frame[3] == {"key": "HeartbeatInterval", "value": "120"}
    assert (await Command.objects.aget(pk=result.command_id)).payload == {"key": "HeartbeatInterval", "value": "120"}
    assert (await ConfigurationKey.objects.aget(key="HeartbeatInterval")).value == "120"


async def test_a_basic_auth_password_reaches_the_station_but_only_its_entry_is_logged_as_the_marker(station):
    entries = [
        {"attributeValue": "s3cret-s3cret-s3cret", "component": SECURITY_CTRLR, "variable": {"name": "BasicAuthPassword"}},
        {"attributeValue": "120", "component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}},
    ]
    task = asyncio.create_task(commands.acall("CS-1", "SetVariables", {"setVariableData": entries}, secret_change=True))
    frame = await station.receive()
    await station.send_raw(
        json.dumps(
            [
                3,
                frame[1],
                {
                    "setVariableResult": [
                        {"attributeStatus": "Accepted", "component": SECURITY_CTRLR, "variable": {"name": "BasicAuthPassword"}},
                        {"attributeStatus": "Accepted", "component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}},
                    ]
                },
            ]
        )
    )
    result = await task

    assert frame[3] == {"setVariableData": entries}
    command = await Command.objects.aget(pk=result.command_id)
    assert command.payload == {"setVariableData": [{**entries[0], "attributeValue": redaction.REDACTED}, entries[1]]}
    stored = {v.variable: v.value async for v in Variable.objects.filter(charge_point_id="CS-1")}
    assert stored == {"HeartbeatInterval": "120"}  # the password is neither stored nor stored as the marker


async def test_a_variable_the_station_reported_write_only_is_logged_as_the_marker(station):
    await Variable.objects.acreate(charge_point_id="CS-1", component="AcmeCtrlr", evse_id=1, variable="ModemPin", mutability="WriteOnly")
    entry = {"attributeValue": "4711", "component": {"name": "AcmeCtrlr", "evse": {"id": 1}}, "variable": {"name": "ModemPin"}}
    task = asyncio.create_task(commands.acall("CS-1", "SetVariables", {"setVariableData": [entry]}))
    frame = await station.receive()
    await station.send_raw(
        json.dumps(
            [
                3,
                frame[1],
                {
                    "setVariableResult": [
                        {"attributeStatus": "Accepted", "component": entry["component"], "variable": entry["variable"]},
                    ]
                },
            ]
        )
    )
    result = await task

    assert frame[3]["setVariableData"][0]["attributeValue"] == "4711"
    command = await Command.objects.aget(pk=result.command_id)
    assert command.payload["setVariableData"][0]["attributeValue"] == redaction.REDACTED
    assert (await Variable.objects.aget(variable="ModemPin")).value is None


def test_logging_a_set_variables_command_looks_up_the_write_only_variables_in_one_query(db, django_assert_num_queries):
    ChargePoint.objects.create(id="CS-1", ocpp_version="2.0.1")
    ChargePoint.objects.create(id="CS-2", ocpp_version="2.0.1")
    Variable.objects.create(charge_point_id="CS-1", component="AcmeCtrlr", variable="ModemPin", mutability="WriteOnly")
    Variable.objects.create(charge_point_id="CS-1", component="AcmeCtrlr", variable="Brightness", mutability="ReadWrite")
    # Another station's WriteOnly variable says nothing about this one's.
    Variable.objects.create(charge_point_id="CS-2", component="AcmeCtrlr", variable="Volume", mutability="WriteOnly")
    entries = [
        {"attributeValue": str(n), "component": {"name": "AcmeCtrlr"}, "variable": {"name": name}}
        for n, name in enumerate(["ModemPin", "Volume", "Brightness"])
    ]

    with django_assert_num_queries(2):  # the WriteOnly lookup and the INSERT
        command = services.command_create(
            charge_point_id="CS-1",
            ocpp_version="2.0.1",
            action="SetVariables",
            payload={"setVariableData": entries},
            source="api",
        )

    assert [e["attributeValue"] for e in command.payload["setVariableData"]] == [redaction.REDACTED, "1", "2"]
    assert entries[0]["attributeValue"] == "0"  # what the station is sent is left alone


def test_other_commands_are_logged_without_any_lookup(db, django_assert_num_queries):
    ChargePoint.objects.create(id="CP-1")

    with django_assert_num_queries(1):
        command = services.command_create(
            charge_point_id="CP-1",
            ocpp_version="1.6",
            action="ChangeConfiguration",
            payload={"key": "authorizationkey", "value": "x"},
            source="api",
        )

    assert command.payload == {"key": "authorizationkey", "value": redaction.REDACTED}


def test_set_network_profile_credentials_are_redacted_and_the_rest_kept():
    payload = {
        "configurationSlot": 1,
        "connectionData": {
            "ocppVersion": "OCPP20",
            "ocppTransport": "JSON",
            "ocppCsmsUrl": "wss://csms.example.com/ocpp",
            "messageTimeout": 30,
            "securityProfile": 2,
            "ocppInterface": "Wireless0",
            "apn": {"apn": "internet.example", "apnUserName": "u", "apnPassword": "apn-pw", "simPin": 1234, "apnAuthentication": "AUTO"},
            "vpn": {"server": "vpn.example.com", "user": "u", "password": "vpn-pw", "key": "vpn-key", "type": "IPSec"},
        },
    }
    commands.validate("2.0.1", "SetNetworkProfile", payload)

    logged = redaction.redact("2.0.1", "SetNetworkProfile", payload)

    assert logged["connectionData"]["apn"] == {**payload["connectionData"]["apn"], "apnPassword": "***", "simPin": "***"}
    assert logged["connectionData"]["vpn"] == {**payload["connectionData"]["vpn"], "password": "***", "key": "***"}
    assert logged["connectionData"]["ocppCsmsUrl"] == "wss://csms.example.com/ocpp"
    assert payload["connectionData"]["vpn"]["password"] == "vpn-pw"


@pytest.mark.parametrize(
    "version, action, payload",
    [
        ("1.6", "ChangeConfiguration", {"key": "HeartbeatInterval", "value": "60"}),
        ("1.6", "DataTransfer", {"vendorId": "acme", "data": "password=hunter2"}),  # vendor-defined: left as sent
        (
            "2.0.1",
            "SetVariables",
            {
                "setVariableData": [
                    {"attributeValue": "60", "component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}
                ]
            },
        ),
        (
            "2.0.1",
            "SetNetworkProfile",
            {
                "configurationSlot": 1,
                "connectionData": {
                    "ocppVersion": "OCPP20",
                    "ocppTransport": "JSON",
                    "ocppCsmsUrl": "wss://x",
                    "messageTimeout": 30,
                    "securityProfile": 3,
                    "ocppInterface": "Wired0",
                },
            },
        ),
    ],
)
def test_payloads_without_secrets_are_logged_unchanged(version, action, payload):
    assert redaction.redact(version, action, payload) == payload
