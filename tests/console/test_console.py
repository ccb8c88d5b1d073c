"""The live frame console: what a staff member's browser receives on ws/console/<id>/ while a charge point talks."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.contrib.auth import get_user_model

from chargepoints import commands
from chargepoints.console import consumers as console_consumers
from chargepoints.console import tap
from chargepoints.models import ChargePoint, Variable
from tests.console.conftest import session_cookie
from tests.users import user_with_role

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "s3cret-password-0123456789"


async def registered(charge_point_id: str = "CP-1") -> None:
    await ChargePoint.objects.acreate(id=charge_point_id)


async def cookie_of(user) -> bytes:
    return await database_sync_to_async(session_cookie)(user)


async def next_of_kind(console, kind: str, timeout: float = 5) -> dict:
    """The next message of `kind` ("frame" or "status") the console's browser receives; others before it are skipped."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        message = await console.receive_json_from(timeout=max(deadline - loop.time(), 0.01))
        if message["kind"] == kind:
            return message


async def online_console(console_connect, user, charge_point_id: str = "CP-1"):
    """A console of `user` on the connected `charge_point_id`, once it says the charge point is online."""
    console, accepted = await console_connect(charge_point_id, cookie=await cookie_of(user))
    assert accepted
    status = await next_of_kind(console, "status")
    if not status["online"]:
        status = await next_of_kind(console, "status")
    assert status["online"], status
    return console


async def test_a_frame_in_and_its_answer_out_reach_a_watching_console_in_order(ocpp_connect, console_connect, viewer):
    await registered()
    client, accepted, _ = await ocpp_connect("/ocpp/CP-1")
    assert accepted
    console = await online_console(console_connect, viewer)

    reply = await client.call("Heartbeat", {}, unique_id="hb-1")

    first = await next_of_kind(console, "frame")
    second = await next_of_kind(console, "frame")
    assert (first["direction"], first["action"], first["message_type"], first["unique_id"]) == ("in", "Heartbeat", 2, "hb-1")
    assert json.loads(first["text"]) == [2, "hb-1", "Heartbeat", {}]
    assert (second["direction"], second["action"], second["message_type"], second["unique_id"]) == ("out", "Heartbeat", 3, "hb-1")
    assert json.loads(second["text"]) == reply
    assert second["seq"] == first["seq"] + 1
    assert first["at"].endswith("+00:00") and first["at"] <= second["at"]


async def test_a_command_and_its_answer_reach_the_console_with_the_authorization_key_hidden(ocpp_connect, console_connect, viewer):
    await registered()
    client, accepted, _ = await ocpp_connect("/ocpp/CP-1")
    assert accepted
    console = await online_console(console_connect, viewer)

    command = asyncio.create_task(
        commands.acall("CP-1", "ChangeConfiguration", {"key": "AuthorizationKey", "value": SECRET}, secret_change=True, timeout=5)
    )
    call = await client.receive()
    assert call[3]["value"] == SECRET  # the charge point itself gets the real value
    await client.send_raw(json.dumps([3, call[1], {"status": "Accepted"}]))
    await command

    out = await next_of_kind(console, "frame")
    answer = await next_of_kind(console, "frame")
    assert (out["direction"], out["action"], out["message_type"]) == ("out", "ChangeConfiguration", 2)
    assert json.loads(out["text"])[3] == {"key": "AuthorizationKey", "value": "***"}
    assert SECRET not in out["text"]
    assert (answer["direction"], answer["action"], answer["message_type"]) == ("in", "ChangeConfiguration", 3)
    assert json.loads(answer["text"]) == [3, call[1], {"status": "Accepted"}]


async def test_a_basic_auth_password_in_set_variables_is_hidden_on_the_console(ocpp_connect, console_connect, viewer):
    await registered()
    client, accepted, _ = await ocpp_connect("/ocpp/CP-1", subprotocols=["ocpp2.0.1"])
    assert accepted
    console = await online_console(console_connect, viewer)
    entry = {"component": {"name": "SecurityCtrlr"}, "variable": {"name": "BasicAuthPassword"}, "attributeValue": SECRET}

    command = asyncio.create_task(commands.acall("CP-1", "SetVariables", {"setVariableData": [entry]}, secret_change=True, timeout=5))
    call = await client.receive()
    assert call[3]["setVariableData"][0]["attributeValue"] == SECRET
    result = {"attributeStatus": "Accepted", "component": entry["component"], "variable": entry["variable"]}
    await client.send_raw(json.dumps([3, call[1], {"setVariableResult": [result]}]))
    await command

    out = await next_of_kind(console, "frame")
    assert out["action"] == "SetVariables"
    assert json.loads(out["text"])[3]["setVariableData"][0]["attributeValue"] == "***"
    assert SECRET not in out["text"]


async def test_a_key_a_1_6_station_should_not_report_is_hidden_in_its_answer_on_the_console_and_in_the_debug_log(
    ocpp_connect, console_connect, viewer, caplog
):
    await registered()
    client, accepted, _ = await ocpp_connect("/ocpp/CP-1")
    assert accepted
    console = await online_console(console_connect, viewer)
    caplog.set_level(logging.DEBUG, logger="csms.protocol")

    command = asyncio.create_task(commands.acall("CP-1", "GetConfiguration", {"key": ["AuthorizationKey", "HeartbeatInterval"]}, timeout=5))
    call = await client.receive()
    keys = [
        {"key": "authorizationkey", "readonly": False, "value": SECRET},
        {"key": "HeartbeatInterval", "readonly": False, "value": "300"},
    ]
    await client.send_raw(json.dumps([3, call[1], {"configurationKey": keys}]))
    await command

    await next_of_kind(console, "frame")  # the CALL out
    answer = await next_of_kind(console, "frame")
    assert (answer["direction"], answer["action"]) == ("in", "GetConfiguration")
    assert json.loads(answer["text"])[2]["configurationKey"] == [{**keys[0], "value": "***"}, keys[1]]
    assert SECRET not in caplog.text
    assert "HeartbeatInterval" in caplog.text


async def test_a_basic_auth_password_a_2_0_1_station_reports_back_is_hidden_on_the_console(ocpp_connect, console_connect, viewer):
    await registered()
    client, accepted, _ = await ocpp_connect("/ocpp/CP-1", subprotocols=["ocpp2.0.1"])
    assert accepted
    console = await online_console(console_connect, viewer)
    secret_variable = {"component": {"name": "SecurityCtrlr"}, "variable": {"name": "BasicAuthPassword"}}
    other_variable = {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "RetryBackOffWaitMinimum"}}

    command = asyncio.create_task(commands.acall("CP-1", "GetVariables", {"getVariableData": [secret_variable, other_variable]}, timeout=5))
    call = await client.receive()
    results = [
        {"attributeStatus": "Accepted", **secret_variable, "attributeValue": SECRET},
        {"attributeStatus": "Accepted", **other_variable, "attributeValue": "60"},
    ]
    await client.send_raw(json.dumps([3, call[1], {"getVariableResult": results}]))
    await command

    await next_of_kind(console, "frame")
    answer = await next_of_kind(console, "frame")
    assert json.loads(answer["text"])[2]["getVariableResult"] == [{**results[0], "attributeValue": "***"}, results[1]]


async def test_a_variable_the_station_reported_write_only_is_hidden_on_the_console(ocpp_connect, console_connect, viewer):
    await registered()
    await Variable.objects.acreate(charge_point_id="CP-1", component="VendorCtrlr", variable="ApiToken", mutability="WriteOnly")
    client, accepted, _ = await ocpp_connect("/ocpp/CP-1", subprotocols=["ocpp2.0.1"])
    assert accepted
    console = await online_console(console_connect, viewer)
    hidden = {"component": {"name": "VendorCtrlr"}, "variable": {"name": "ApiToken"}, "attributeValue": SECRET}
    shown = {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}, "attributeValue": "300"}

    command = asyncio.create_task(commands.acall("CP-1", "SetVariables", {"setVariableData": [hidden, shown]}, timeout=5))
    call = await client.receive()
    results = [{"attributeStatus": "Accepted", "component": e["component"], "variable": e["variable"]} for e in (hidden, shown)]
    await client.send_raw(json.dumps([3, call[1], {"setVariableResult": results}]))
    await command

    out = await next_of_kind(console, "frame")
    assert [entry["attributeValue"] for entry in json.loads(out["text"])[3]["setVariableData"]] == ["***", "300"]
    assert SECRET not in out["text"]


class LayerSpy:
    """Records every send and group_send the channel layer is asked for (and lets them through)."""

    def __init__(self, layer, monkeypatch):
        self.calls: list[tuple[str, str, dict]] = []
        for name in ("send", "group_send"):
            original = getattr(layer, name)

            async def spy(target, message, _name=name, _original=original):
                self.calls.append((_name, target, message))
                return await _original(target, message)

            monkeypatch.setattr(layer, name, spy)

    def frames(self) -> list[dict]:
        return [message for _, _, message in self.calls if message.get("type") == "console.frame"]


async def test_with_no_console_watching_a_frame_costs_no_channel_layer_message(ocpp_connect, monkeypatch):
    await registered()
    client, accepted, _ = await ocpp_connect("/ocpp/CP-1")
    assert accepted
    spy = LayerSpy(get_channel_layer(), monkeypatch)

    for _ in range(5):
        assert (await client.call("Heartbeat", {}))[0] == 3
    await client.send_raw("not json")
    await client.receive()

    assert spy.calls == []


async def test_a_watch_that_is_not_renewed_expires(ocpp_connect, console_connect, viewer, monkeypatch):
    monkeypatch.setattr(tap, "WATCH_SECONDS", 0.3)
    monkeypatch.setattr(console_consumers, "RENEW_SECONDS", 3600)  # never renewed within the test
    await registered()
    client, accepted, _ = await ocpp_connect("/ocpp/CP-1")
    assert accepted
    console = await online_console(console_connect, viewer)
    await client.call("Heartbeat", {})
    assert (await next_of_kind(console, "frame"))["action"] == "Heartbeat"
    await next_of_kind(console, "frame")
    spy = LayerSpy(get_channel_layer(), monkeypatch)

    await asyncio.sleep(0.4)  # past the watch's lifetime: the time running out is what is tested
    await client.call("Heartbeat", {})

    assert await console.receive_nothing(timeout=0.3)
    assert spy.frames() == []


async def test_a_renewed_watch_keeps_the_frames_coming(ocpp_connect, console_connect, viewer, monkeypatch):
    monkeypatch.setattr(tap, "WATCH_SECONDS", 0.3)
    monkeypatch.setattr(console_consumers, "RENEW_SECONDS", 0.05)
    monkeypatch.setattr(console_consumers, "OFFLINE_POLL_SECONDS", 0.05)
    await registered()
    client, accepted, _ = await ocpp_connect("/ocpp/CP-1")
    assert accepted
    console = await online_console(console_connect, viewer)

    await asyncio.sleep(0.5)  # longer than a watch lives: only its renewals keep it
    await client.call("Heartbeat", {}, unique_id="late")

    frame = await next_of_kind(console, "frame")
    assert (frame["unique_id"], frame["direction"]) == ("late", "in")


async def test_a_console_of_an_offline_charge_point_says_so_and_shows_frames_once_it_connects(
    ocpp_connect, console_connect, viewer, monkeypatch
):
    monkeypatch.setattr(console_consumers, "OFFLINE_POLL_SECONDS", 0.05)
    await registered()
    console, accepted = await console_connect("CP-1", cookie=await cookie_of(viewer))
    assert accepted
    assert (await next_of_kind(console, "status"))["online"] is False

    client, accepted, _ = await ocpp_connect("/ocpp/CP-1")
    assert accepted
    status = await next_of_kind(console, "status")
    assert status["online"] is True and status["version"] == "1.6"
    await client.call("Heartbeat", {}, unique_id="first")
    assert (await next_of_kind(console, "frame"))["unique_id"] == "first"

    await client.communicator.disconnect(timeout=5)
    assert (await next_of_kind(console, "status"))["online"] is False


@pytest.mark.parametrize(
    "who, origin",
    [
        ("anonymous", b"http://localhost"),
        ("not staff", b"http://localhost"),
        ("staff without view permission", b"http://localhost"),
        ("viewer from a foreign origin", b"http://evil.example"),
        ("viewer without an origin", None),
    ],
)
async def test_a_console_is_refused_to(who, origin, console_connect):
    await registered()
    cookie = None
    if who == "not staff":
        cookie = await cookie_of(await database_sync_to_async(user_with_role)("viewer-not-staff", "viewer", staff=False))
    elif who == "staff without view permission":
        user = await database_sync_to_async(get_user_model().objects.create_user)("staff-only", is_staff=True)
        cookie = await cookie_of(user)
    elif who.startswith("viewer"):
        cookie = await cookie_of(await database_sync_to_async(user_with_role)("viewer-2", "viewer"))

    _, accepted = await console_connect("CP-1", cookie=cookie, origin=origin)

    assert not accepted


async def test_a_console_of_an_unknown_charge_point_is_refused(console_connect, superuser):
    _, accepted = await console_connect("NOPE", cookie=await cookie_of(superuser))
    assert not accepted


async def test_a_console_that_stopped_reading_is_dropped_and_the_session_goes_on(ocpp_connect, settings, monkeypatch):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"capacity": 3}}}
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    await registered()
    client, accepted, _ = await ocpp_connect("/ocpp/CP-1")
    assert accepted
    layer = get_channel_layer()
    gone = await layer.new_channel()  # a console that never reads again
    await layer.group_send(ChargePoint.group_name_for("CP-1"), {"type": "console.watch", "channel": gone})

    loop = asyncio.get_running_loop()
    started = loop.time()
    for _ in range(20):
        assert (await client.call("Heartbeat", {}))[0] == 3
    elapsed = loop.time() - started

    assert elapsed < 5
    spy = LayerSpy(layer, monkeypatch)
    await client.call("Heartbeat", {})
    assert spy.frames() == []  # dropped: its channel was full


async def test_a_console_whose_messages_hang_does_not_slow_the_charge_point(ocpp_connect, console_connect, viewer, monkeypatch):
    await registered()
    client, accepted, _ = await ocpp_connect("/ocpp/CP-1")
    assert accepted
    await online_console(console_connect, viewer)
    layer = get_channel_layer()
    original = layer.send
    hung = asyncio.Event()

    async def hanging_send(channel, message):
        if message.get("type") == "console.frame":
            hung.set()
            await asyncio.Event().wait()  # a layer that never answers
        return await original(channel, message)

    monkeypatch.setattr(layer, "send", hanging_send)

    loop = asyncio.get_running_loop()
    for _ in range(tap.QUEUE_SIZE + 50):  # more than the tap queues
        reply = await asyncio.wait_for(client.call("Heartbeat", {}), 2)
        assert reply[0] == 3
    assert hung.is_set()

    started = loop.time()
    await client.communicator.disconnect(timeout=5)
    assert loop.time() - started < 2  # the disconnect gives up on the hung console soon
