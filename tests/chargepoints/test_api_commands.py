"""POST /api/v1/chargepoints/<id>/commands/<Action>/, GET /api/v1/commands/ and manage.py ocpp_call.

The command path itself is covered in test_commands.py and over real sockets
in tests/e2e; here `commands.call` is replaced to check what the doors make of
each outcome.
"""

import asyncio
import json

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from chargepoints import commands
from chargepoints.models import ChargePoint, Command, CommandSource, CommandStatus
from tests.users import user_with_role


@pytest.fixture
def staff(db):
    return user_with_role("ops", password="x")


@pytest.fixture
def api(staff):
    client = APIClient()
    client.force_authenticate(staff)
    return client


@pytest.fixture
def sent(monkeypatch):
    """Replace commands.call; `sent.outcome` is returned or raised; `sent.calls` records the calls."""

    class Fake:
        calls = []
        outcome = None

        def __call__(self, charge_point_id, action, payload, *, timeout=None, source=None, user=None, secret_change=False):
            self.calls.append(
                dict(charge_point_id=charge_point_id, action=action, payload=payload, timeout=timeout, source=source, user=user)
            )
            if isinstance(self.outcome, Exception):
                raise self.outcome
            return self.outcome or commands.CommandResult(command_id=7, action=action, response={"status": "Accepted"}, round_trip_ms=12)

    fake = Fake()
    fake.calls = []
    monkeypatch.setattr(commands, "call", fake)
    return fake


def post(api, action, body, cp="CP-1", **params):
    query = "?" + "&".join(f"{k}={v}" for k, v in params.items()) if params else ""
    return api.post(f"/api/v1/chargepoints/{cp}/commands/{action}/{query}", body, format="json")


def test_it_sends_the_payload_and_returns_the_answer(api, sent, staff):
    response = post(api, "Reset", {"type": "Hard"})
    assert response.status_code == 200
    assert response.json() == {
        "command_id": 7,
        "charge_point": "CP-1",
        "action": "Reset",
        "response": {"status": "Accepted"},
        "round_trip_ms": 12,
    }
    [call] = sent.calls
    assert (call["charge_point_id"], call["action"], call["payload"]) == ("CP-1", "Reset", {"type": "Hard"})
    assert call["source"] == CommandSource.API and call["user"] == staff


def test_identities_with_special_characters_reach_their_charge_point(api, sent):
    assert post(api, "ClearCache", {}, cp="CP:1*a@b").status_code == 200
    assert sent.calls[0]["charge_point_id"] == "CP:1*a@b"


def test_it_passes_the_timeout_and_refuses_a_bad_one(api, sent):
    assert post(api, "ClearCache", {}, timeout="2.5").status_code == 200
    assert sent.calls[0]["timeout"] == 2.5
    assert post(api, "ClearCache", {}, timeout="soon").status_code == 400
    assert post(api, "ClearCache", {}, timeout="0").status_code == 400


@pytest.mark.parametrize(
    "error, http_status",
    [
        (commands.ChargePointOffline("Charge point 'CP-1' is not connected", command_id=3), 409),
        (commands.CommandTimeout("No answer", command_id=3), 504),
        (commands.UnknownChargePoint("No charge point 'CP-1'"), 404),
        (commands.QueueFull("queue full", command_id=3), 429),
        (commands.InvalidResponse("bad answer", command_id=3), 502),
    ],
)
def test_each_failure_has_its_http_status(api, sent, error, http_status):
    sent.outcome = error
    response = post(api, "ClearCache", {})
    assert response.status_code == http_status
    assert response.json()["detail"] == error.message


def test_a_call_error_is_a_502_with_its_details(api, sent):
    sent.outcome = commands.CallErrorReceived(
        "CALLERROR", command_id=4, error_code="NotSupported", error_description="no", error_details={"a": 1}
    )
    body = post(api, "ClearCache", {}).json()
    assert body["error_code"] == "NotSupported" and body["error_description"] == "no" and body["error_details"] == {"a": 1}
    assert body["command_id"] == 4


@pytest.mark.django_db(transaction=True)  # the real command path uses database_sync_to_async
def test_an_invalid_payload_is_a_400_naming_the_field(api):
    # The real commands.call: validation happens before anything is sent.
    ChargePoint.objects.create(id="CP-1", connected=True)
    response = post(api, "ChangeAvailability", {"connector_id": 1, "type": "Sideways"})
    assert response.status_code == 400
    assert response.json()["field"] == "type"
    assert not Command.objects.exists()


@pytest.mark.django_db(transaction=True)  # the real command path uses database_sync_to_async
def test_an_offline_charge_point_is_a_409_logged_as_offline(api):
    ChargePoint.objects.create(id="CP-1")
    response = post(api, "ClearCache", {})
    assert response.status_code == 409
    command = Command.objects.get(pk=response.json()["command_id"])
    assert command.status == CommandStatus.OFFLINE and command.source == CommandSource.API


def test_an_unknown_action_is_a_404_listing_the_operations(api, db):
    response = post(api, "MakeCoffee", {})
    assert response.status_code == 404
    assert "RemoteStartTransaction" in response.json()["detail"]


def test_a_body_that_is_not_an_object_is_a_400(api, sent):
    assert api.post("/api/v1/chargepoints/CP-1/commands/ClearCache/", [1, 2], format="json").status_code == 400


def test_commands_need_a_signed_in_user_with_the_send_command_permission(db, sent):
    assert post(APIClient(), "ClearCache", {}).status_code == 401
    user = get_user_model().objects.create_user("driver", password="x")
    client = APIClient()
    client.force_authenticate(user)
    assert post(client, "ClearCache", {}).status_code == 403
    assert sent.calls == []


def test_the_command_log_lists_and_filters_commands(api, staff):
    ChargePoint.objects.create(id="CP-1")
    ChargePoint.objects.create(id="CP-2")
    Command.objects.create(
        charge_point_id="CP-1",
        action="Reset",
        status=CommandStatus.ANSWERED,
        user=staff,
        source="api",
        response={"status": "Accepted"},
        round_trip_ms=20,
    )
    Command.objects.create(charge_point_id="CP-2", action="ClearCache", status=CommandStatus.TIMEOUT)
    everything = api.get("/api/v1/commands/").json()
    assert everything["count"] == 2
    [reset] = api.get("/api/v1/commands/?charge_point=CP-1").json()["results"]
    assert (reset["action"], reset["status"], reset["user"], reset["response"], reset["round_trip_ms"]) == (
        "Reset",
        "answered",
        "ops",
        {"status": "Accepted"},
        20,
    )
    assert api.get("/api/v1/commands/?status=timeout").json()["count"] == 1
    assert api.get("/api/v1/commands/?status=bogus").status_code == 400
    assert api.get(f"/api/v1/commands/{reset['id']}/").json()["action"] == "Reset"


def test_the_openapi_schema_documents_each_operation_payload(api):
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    body = schema["paths"]["/api/v1/chargepoints/{charge_point_id}/commands/Reset/"]["post"]["requestBody"]
    v16, v201 = body["content"]["application/json"]["schema"]["oneOf"]  # Reset exists in both versions
    assert v16["properties"]["type"]["enum"] == ["Hard", "Soft"]
    assert v201["properties"]["type"]["enum"] == ["Immediate", "OnIdle"]
    only_201 = schema["paths"]["/api/v1/chargepoints/{charge_point_id}/commands/RequestStartTransaction/"]["post"]
    request = only_201["requestBody"]["content"]["application/json"]["schema"]
    assert request["properties"]["idToken"]["required"] == ["idToken", "type"]  # definitions inlined


# --- manage.py ocpp_call ---------------------------------------------------


def test_the_cli_prints_the_answer(sent, staff, capsys):
    call_command("ocpp_call", "--user", "ops", "CP-1", "GetConfiguration", '{"key": ["HeartbeatInterval"]}')
    assert json.loads(capsys.readouterr().out) == {"status": "Accepted"}
    assert sent.calls[0]["payload"] == {"key": ["HeartbeatInterval"]}
    assert sent.calls[0]["source"] == CommandSource.CLI
    assert sent.calls[0]["user"] == staff


def test_the_cli_reports_failures_and_bad_json(sent, staff):
    with pytest.raises(CommandError, match="not valid JSON"):
        call_command("ocpp_call", "--user", "ops", "CP-1", "Reset", "{type: Hard}")
    sent.outcome = commands.ChargePointOffline("Charge point 'CP-1' is not connected")
    with pytest.raises(CommandError, match="not connected"):
        call_command("ocpp_call", "--user", "ops", "CP-1", "Reset", '{"type": "Hard"}')


def test_the_cli_sends_nothing_for_a_user_who_may_not_send_commands(sent, db):
    user_with_role("watcher", role="viewer")

    with pytest.raises(CommandError, match="lacks the chargepoints.send_command permission"):
        call_command("ocpp_call", "--user", "watcher", "CP-1", "Reset", '{"type": "Hard"}')
    with pytest.raises(CommandError, match="no user 'nobody'"):
        call_command("ocpp_call", "--user", "nobody", "CP-1", "--operation", "reset", '{"type": "hard"}')
    assert sent.calls == []


# --- Secrets: the charge point gets them, the command log shows "***" (chargepoints.secrets) ---------------

AUTHORIZATION_KEY = "0123456789abcdef0123456789abcdef01234567"
PASSWORD = "s3cret-s3cret-s3cret"
SECURITY_CTRLR = {"name": "SecurityCtrlr"}
BASIC_AUTH_PASSWORD = {"variable": {"name": "BasicAuthPassword"}, "component": SECURITY_CTRLR}
PASSWORD_ACCEPTED = {"setVariableResult": [{"attributeStatus": "Accepted", **BASIC_AUTH_PASSWORD}]}
SECRET_CASES = [
    # (charge point, subprotocol, endpoint, body, CALL payload the charge point gets, its answer, payload logged)
    pytest.param(
        "CP-1",
        "ocpp1.6",
        "operations/change-password",
        {"password": AUTHORIZATION_KEY},
        {"key": "AuthorizationKey", "value": AUTHORIZATION_KEY},
        {"status": "Accepted"},
        {"key": "AuthorizationKey", "value": "***"},
        id="1.6-change-password",
    ),
    pytest.param(
        "CS-1",
        "ocpp2.0.1",
        "operations/change-password",
        {"password": PASSWORD},
        {"setVariableData": [{"attributeValue": PASSWORD, **BASIC_AUTH_PASSWORD}]},
        PASSWORD_ACCEPTED,
        {"setVariableData": [{"attributeValue": "***", **BASIC_AUTH_PASSWORD}]},
        id="2.0.1-change-password",
    ),
    pytest.param(
        "CP-1",
        "ocpp1.6",
        "commands/ChangeConfiguration",
        {"key": "HeartbeatInterval", "value": "120"},
        {"key": "HeartbeatInterval", "value": "120"},
        {"status": "Accepted"},
        {"key": "HeartbeatInterval", "value": "120"},
        id="1.6-no-secret-logged-as-sent",
    ),
]


@pytest.mark.django_db(transaction=True)  # a real charge point answers over the real command path
@pytest.mark.parametrize("cp_id, subprotocol, endpoint, body, call_payload, answer, logged", SECRET_CASES)
async def test_a_secret_reaches_the_charge_point_but_the_command_log_shows_the_marker(
    api, ocpp_connect, cp_id, subprotocol, endpoint, body, call_payload, answer, logged
):
    from asgiref.sync import ThreadSensitiveContext, sync_to_async
    from django.db import connections

    await ChargePoint.objects.acreate(id=cp_id)
    client, accepted, _ = await ocpp_connect(f"/ocpp/{cp_id}", subprotocols=[subprotocol])
    assert accepted

    def post_then_read_the_log():
        try:
            response = api.post(f"/api/v1/chargepoints/{cp_id}/{endpoint}/", body, format="json")
            assert response.status_code == 200, response.json()
            return api.get(f"/api/v1/commands/{response.json()['command_id']}/").json()
        finally:
            connections.close_all()  # as request_finished does after a real request; the test client leaves it out

    async def as_an_asgi_server_runs_the_view():
        async with ThreadSensitiveContext():
            return await sync_to_async(post_then_read_the_log)()

    task = asyncio.create_task(as_an_asgi_server_runs_the_view())
    call = await client.receive()
    await client.send_raw(json.dumps([3, call[1], answer]))
    entry = await task

    assert call[3] == call_payload
    assert entry["payload"] == logged
    command = await Command.objects.aget(pk=entry["id"])
    assert command.payload == logged
    assert AUTHORIZATION_KEY not in json.dumps(entry) and PASSWORD not in json.dumps(entry)


@pytest.mark.django_db(transaction=True)  # the real command path uses database_sync_to_async
@pytest.mark.parametrize(
    "cp_id, version, endpoint, body",
    [
        ("CP-1", "1.6", "commands/ChangeConfiguration", {"key": "AuthorizationKey", "value": AUTHORIZATION_KEY}),
        ("CP-1", "1.6", "operations/change-configuration", {"key": "authorizationkey", "value": AUTHORIZATION_KEY}),
        ("CS-1", "2.0.1", "commands/SetVariables", {"setVariableData": [{"attributeValue": PASSWORD, **BASIC_AUTH_PASSWORD}]}),
        ("CS-1", "2.0.1", "operations/change-configuration", {"key": "SecurityCtrlr.BasicAuthPassword", "value": PASSWORD}),
    ],
)
def test_a_password_sent_as_a_plain_message_is_refused_so_the_charge_point_cannot_lock_itself_out(api, cp_id, version, endpoint, body, db):
    ChargePoint.objects.create(id=cp_id, ocpp_version=version, connected=True)

    response = api.post(f"/api/v1/chargepoints/{cp_id}/{endpoint}/", body, format="json")

    assert response.status_code == 400
    assert "change-password" in response.json()["detail"]
    assert not Command.objects.exists()
