"""OCPP 2.0.1 over the consumer: subprotocol negotiation, 2.0.1 CALLERROR codes and registration (B02/B03)."""

import asyncio
import json

import pytest

from chargepoints import commands
from chargepoints.models import BootNotification, ChargePoint, Command, CommandStatus
from chargepoints.ocpp import v201

pytestmark = pytest.mark.django_db(transaction=True)

V201 = ["ocpp2.0.1"]
BOOT = {"reason": "PowerUp", "chargingStation": {"vendorName": "Acme", "model": "Fast-2"}}
STATUS = {"timestamp": "2026-11-22T10:00:00Z", "connectorStatus": "Available", "evseId": 1, "connectorId": 1}


@pytest.fixture
async def booted(charge_point, ocpp_connect):
    """A 2.0.1 station whose BootNotification was just Accepted."""
    client, accepted, subprotocol = await ocpp_connect("/ocpp/CP-1", subprotocols=V201)
    assert accepted and subprotocol == "ocpp2.0.1"
    assert (await client.call("BootNotification", BOOT))[2]["status"] == "Accepted"
    return client


async def set_registration_status(status: str) -> None:
    await ChargePoint.objects.filter(pk="CP-1").aupdate(registration_status=status)


# --- Subprotocol negotiation -----------------------------------------------


@pytest.mark.parametrize("path", ["/ocpp/CP-1", "/ocpp/2.0.1/CP-1"])
async def test_it_accepts_ocpp201_on_the_plain_and_the_versioned_path(charge_point, ocpp_connect, path):
    client, accepted, subprotocol = await ocpp_connect(path, subprotocols=V201)
    assert accepted and subprotocol == "ocpp2.0.1"
    reply = await client.call("BootNotification", BOOT)
    assert reply[0] == 3 and reply[2]["status"] == "Accepted"
    cp = await ChargePoint.objects.aget(pk="CP-1")
    assert cp.connected and cp.ocpp_version == "2.0.1"


async def test_it_picks_ocpp201_when_both_versions_are_offered(charge_point, ocpp_connect):
    _, accepted, subprotocol = await ocpp_connect("/ocpp/CP-1", subprotocols=["ocpp1.6", "ocpp2.0.1"])
    assert accepted and subprotocol == "ocpp2.0.1"
    assert (await ChargePoint.objects.aget(pk="CP-1")).ocpp_version == "2.0.1"


async def test_the_16_path_picks_ocpp16_when_both_versions_are_offered(charge_point, ocpp_connect):
    _, accepted, subprotocol = await ocpp_connect("/ocpp/1.6/CP-1", subprotocols=["ocpp2.0.1", "ocpp1.6"])
    assert accepted and subprotocol == "ocpp1.6"
    assert (await ChargePoint.objects.aget(pk="CP-1")).ocpp_version == "1.6"


@pytest.mark.parametrize(
    "path, offered",
    [("/ocpp/2.0.1/CP-1", ["ocpp1.6"]), ("/ocpp/1.6/CP-1", ["ocpp2.0.1"])],
)
async def test_it_refuses_a_versioned_path_without_its_subprotocol(charge_point, ocpp_connect, path, offered):
    _, accepted, _ = await ocpp_connect(path, subprotocols=offered)
    assert not accepted
    cp = await ChargePoint.objects.aget(pk="CP-1")
    assert not cp.connected and cp.ocpp_version == ""


async def test_the_version_stored_follows_the_latest_connection(charge_point, ocpp_connect):
    old, _, _ = await ocpp_connect("/ocpp/CP-1", subprotocols=["ocpp1.6"])
    assert (await ChargePoint.objects.aget(pk="CP-1")).ocpp_version == "1.6"
    await old.close()
    _, accepted, _ = await ocpp_connect("/ocpp/CP-1", subprotocols=V201)
    assert accepted
    assert (await ChargePoint.objects.aget(pk="CP-1")).ocpp_version == "2.0.1"


# --- Bad frames get 2.0.1 error codes, and the socket stays up -------------


async def answers_then_still_works(client, raw: str) -> list:
    await client.send_raw(raw)
    reply = await client.receive()
    assert (await client.call("Heartbeat", {}))[0] == 3, "connection must stay usable"
    return reply


async def test_invalid_json_gets_rpc_framework_error_with_message_id_minus_one(booted):
    reply = await answers_then_still_works(booted, "{this is not json")
    assert reply[:3] == [4, "-1", "RpcFrameworkError"]
    assert len(reply) == 5 and isinstance(reply[4], dict)


async def test_an_unknown_message_type_gets_message_type_not_supported(booted):
    reply = await answers_then_still_works(booted, '[7,"m7","Heartbeat",{}]')
    assert reply[:3] == [4, "m7", "MessageTypeNotSupported"]


async def test_a_call_of_the_wrong_shape_gets_rpc_framework_error_with_its_message_id(booted):
    reply = await answers_then_still_works(booted, '[2,"abc","Heartbeat"]')
    assert reply[:3] == [4, "abc", "RpcFrameworkError"]


async def test_an_unknown_property_gets_format_violation(booted):
    reply = await answers_then_still_works(booted, json.dumps([2, "f1", "Heartbeat", {"surprise": 1}]))
    assert reply[:3] == [4, "f1", "FormatViolation"]
    assert reply[4]["field"] == "surprise"


async def test_a_missing_field_gets_occurrence_constraint_violation_and_nothing_is_stored(booted):
    payload = {"reason": "PowerUp", "chargingStation": {"vendorName": "Other"}}
    reply = await answers_then_still_works(booted, json.dumps([2, "o1", "BootNotification", payload]))
    assert reply[:3] == [4, "o1", "OccurrenceConstraintViolation"]
    assert reply[4]["field"] == "chargingStation/model"
    assert not await BootNotification.objects.filter(vendor="Other").aexists()


async def test_a_wrong_type_gets_type_constraint_violation(booted):
    reply = await answers_then_still_works(booted, json.dumps([2, "t1", "StatusNotification", {**STATUS, "evseId": "one"}]))
    assert reply[:3] == [4, "t1", "TypeConstraintViolation"]
    assert reply[4]["field"] == "evseId"


async def test_a_value_outside_its_enumeration_gets_property_constraint_violation(booted):
    payload = {**STATUS, "connectorStatus": "Sleeping"}
    reply = await answers_then_still_works(booted, json.dumps([2, "p1", "StatusNotification", payload]))
    assert reply[:3] == [4, "p1", "PropertyConstraintViolation"]
    assert reply[4]["field"] == "connectorStatus"


async def test_an_unknown_action_gets_not_implemented(booted):
    reply = await answers_then_still_works(booted, '[2,"n1","MakeCoffee",{}]')
    assert reply[:3] == [4, "n1", "NotImplemented"]


async def test_a_csms_action_sent_by_the_station_gets_not_supported(booted):
    payload = {"idToken": {"idToken": "CARD-1", "type": "ISO14443"}, "remoteStartId": 1}
    reply = await answers_then_still_works(booted, json.dumps([2, "s1", "RequestStartTransaction", payload]))
    assert reply[:3] == [4, "s1", "NotSupported"]


async def test_a_16_only_action_gets_not_implemented_on_a_201_connection(booted):
    reply = await answers_then_still_works(booted, json.dumps([2, "x1", "StartTransaction", {}]))
    assert reply[:3] == [4, "x1", "NotImplemented"]


async def test_an_answer_failing_its_own_response_schema_becomes_internal_error(booted, monkeypatch):
    async def broken_heartbeat(session, payload):
        return {"currentTime": "not a time", "mood": "cheerful"}

    monkeypatch.setitem(v201.HANDLERS, "Heartbeat", broken_heartbeat)
    reply = await booted.call("Heartbeat", {}, unique_id="bad-answer")
    assert reply[:3] == [4, "bad-answer", "InternalError"]
    assert "cheerful" not in json.dumps(reply), "our own mistake must not be shown as the station's"
    monkeypatch.undo()
    assert (await booted.call("Heartbeat", {}))[0] == 3


async def test_answers_go_out_unchecked_when_ocpp_validate_answers_is_off(booted, monkeypatch, settings):
    # Production: the handlers' answers are checked by the tests, not once per frame.
    settings.OCPP_VALIDATE_ANSWERS = False

    async def odd_heartbeat(session, payload):
        return {"currentTime": "not a time"}

    monkeypatch.setitem(v201.HANDLERS, "Heartbeat", odd_heartbeat)
    assert await booted.call("Heartbeat", {}, unique_id="unchecked") == [3, "unchecked", {"currentTime": "not a time"}]


# --- Registration: B02 (Pending), B03 (Rejected), triggered messages ------


async def test_a_station_that_never_booted_gets_security_error(charge_point, ocpp_connect):
    client, accepted, _ = await ocpp_connect("/ocpp/CP-1", subprotocols=V201)
    assert accepted
    reply = await client.call("Heartbeat", {}, unique_id="hb")
    assert reply[:3] == [4, "hb", "SecurityError"]
    reply = await client.call("StatusNotification", STATUS, unique_id="sn")
    assert reply[:3] == [4, "sn", "SecurityError"]
    cp = await ChargePoint.objects.aget(pk="CP-1")
    assert cp.last_heartbeat is None
    assert not await cp.connectors.aexists()


async def test_a_pending_station_is_told_pending_and_refused_until_the_operator_accepts_it(charge_point, ocpp_connect):
    await set_registration_status("Pending")
    client, _, _ = await ocpp_connect("/ocpp/CP-1", subprotocols=V201)
    reply = await client.call("BootNotification", BOOT)
    assert reply[0] == 3 and reply[2]["status"] == "Pending"
    assert (await client.call("Heartbeat", {}))[2] == "SecurityError"
    assert (await client.call("StatusNotification", STATUS))[2] == "SecurityError"
    boot = await BootNotification.objects.aget(charge_point_id="CP-1")
    assert boot.status == "Pending"
    assert (await ChargePoint.objects.aget(pk="CP-1")).last_boot_status == "Pending"

    await set_registration_status("Accepted")
    # Still refused: the station learns it is accepted only from its next boot.
    assert (await client.call("Heartbeat", {}))[2] == "SecurityError"
    reply = await client.call("BootNotification", BOOT)
    assert reply[2]["status"] == "Accepted"
    assert (await client.call("Heartbeat", {}))[0] == 3
    assert (await client.call("StatusNotification", STATUS))[2] == {}
    assert await BootNotification.objects.filter(charge_point_id="CP-1").acount() == 2


async def test_a_rejected_station_is_told_rejected_and_refused(charge_point, ocpp_connect):
    await set_registration_status("Rejected")
    client, _, _ = await ocpp_connect("/ocpp/CP-1", subprotocols=V201)
    assert (await client.call("BootNotification", BOOT))[2]["status"] == "Rejected"
    assert (await client.call("Heartbeat", {}))[2] == "SecurityError"


async def test_a_station_whose_last_boot_was_accepted_is_served_after_reconnecting_without_booting(booted, ocpp_connect):
    await booted.close()
    client, accepted, _ = await ocpp_connect("/ocpp/CP-1", subprotocols=V201)
    assert accepted
    assert (await client.call("Heartbeat", {}))[0] == 3
    assert (await ChargePoint.objects.aget(pk="CP-1")).last_heartbeat is not None


async def test_a_station_whose_last_boot_was_pending_is_refused_after_reconnecting(charge_point, ocpp_connect):
    await set_registration_status("Pending")
    client, _, _ = await ocpp_connect("/ocpp/CP-1", subprotocols=V201)
    await client.call("BootNotification", BOOT)
    await client.close()
    client, _, _ = await ocpp_connect("/ocpp/CP-1", subprotocols=V201)
    assert (await client.call("Heartbeat", {}))[2] == "SecurityError"


async def test_a_16_charge_point_is_served_without_booting(charge_point, ocpp_connect):
    client, _, _ = await ocpp_connect("/ocpp/CP-1", subprotocols=["ocpp1.6"])
    assert (await client.call("Heartbeat", {}))[0] == 3


async def test_a_message_the_csms_triggered_is_allowed_once_before_acceptance(charge_point, ocpp_connect):
    await set_registration_status("Pending")
    client, _, _ = await ocpp_connect("/ocpp/CP-1", subprotocols=V201)
    assert (await client.call("BootNotification", BOOT))[2]["status"] == "Pending"

    task = asyncio.create_task(commands.acall("CP-1", "TriggerMessage", {"requestedMessage": "Heartbeat"}))
    frame = await client.receive()
    assert frame[0] == 2 and frame[2:] == ["TriggerMessage", {"requestedMessage": "Heartbeat"}]
    # A station sends the triggered message right after its answer, as here.
    await client.send_raw(json.dumps([3, frame[1], {"status": "Accepted"}]))
    reply = await client.call("Heartbeat", {}, unique_id="triggered")
    assert reply[0] == 3 and "currentTime" in reply[2]
    result = await task
    assert result.response == {"status": "Accepted"}
    command = await Command.objects.aget(pk=result.command_id)
    assert (command.status, command.ocpp_version) == (CommandStatus.ANSWERED, "2.0.1")
    assert (await ChargePoint.objects.aget(pk="CP-1")).last_heartbeat is not None

    # Once only, and only what was triggered.
    assert (await client.call("Heartbeat", {}))[2] == "SecurityError"
    assert (await client.call("StatusNotification", STATUS))[2] == "SecurityError"


async def test_a_trigger_the_station_rejects_allows_nothing(charge_point, ocpp_connect):
    await set_registration_status("Pending")
    client, _, _ = await ocpp_connect("/ocpp/CP-1", subprotocols=V201)
    await client.call("BootNotification", BOOT)
    task = asyncio.create_task(commands.acall("CP-1", "TriggerMessage", {"requestedMessage": "Heartbeat"}))
    frame = await client.receive()
    await client.send_raw(json.dumps([3, frame[1], {"status": "Rejected"}]))
    assert (await task).response == {"status": "Rejected"}
    assert (await client.call("Heartbeat", {}))[2] == "SecurityError"
