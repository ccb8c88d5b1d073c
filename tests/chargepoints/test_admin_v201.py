"""The operators' admin for OCPP 2.0.1 stations: device model, station messages, registration, EVSEs, events.

Setting a variable goes through `commands.call`, replaced here by a fake that
plays the station: it records the command as the consumer would
(`services.command_finish`) and answers what the test says.
"""

import asyncio
import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.contrib.admin import site
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.db import connections
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from chargepoints import commands, services
from chargepoints.admin_commands.outcomes import pretty_json
from chargepoints.exceptions import CommandOutcome
from chargepoints.models import (
    ChargePoint,
    ChargingProfile,
    Command,
    CommandSource,
    CommandStatus,
    ConfigurationKey,
    Connector,
    StationMessage,
    StatusNotification,
    Variable,
)
from transactions.models import IdTag, Transaction, TransactionEvent

pytestmark = pytest.mark.django_db


def url(model, view="changelist", *args):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@pytest.fixture
def station(db):
    now = timezone.now()
    return ChargePoint.objects.create(id="CS-1", ocpp_version="2.0.1", connected=True, session_id="s1", connected_at=now, last_seen=now)


def variable(component="AuthCtrlr", name="Enabled", value="true", mutability="ReadWrite", charge_point_id="CS-1", **f):
    return Variable.objects.create(
        charge_point_id=charge_point_id, component=component, variable=name, value=value, mutability=mutability, **f
    )


def page_messages(response) -> list[tuple[str, str]]:
    return [(m.level_tag, m.message) for m in get_messages(response.wsgi_request)]


class FakeStation:
    """Stands in for `commands.call`: logs the command, completes it with `answer` as the consumer would."""

    def __init__(self, answer: str = "Accepted", error: commands.CommandError | None = None, **result):
        self.answer, self.error, self.result, self.calls = answer, error, result, []

    def __call__(self, charge_point_id, action, payload, *, timeout=None, source="system", user=None, secret_change=False):
        call = dict(charge_point_id=charge_point_id, action=action, payload=payload, source=source, user=user)
        self.calls.append(call)
        if self.error is not None:
            raise self.error
        command = Command.objects.create(
            charge_point_id=charge_point_id, action=action, ocpp_version="2.0.1", payload=payload, source=source
        )
        entry = payload["setVariableData"][0]
        response = {
            "setVariableResult": [
                {
                    "attributeStatus": self.answer,
                    "attributeType": entry["attributeType"],
                    "component": entry["component"],
                    "variable": entry["variable"],
                    **self.result,
                }
            ]
        }
        services.command_finish(command_id=command.pk, outcome=CommandOutcome(status=CommandStatus.ANSWERED, response=response))
        return commands.CommandResult(command.pk, action, response, 12)


@pytest.fixture
def fake_station(monkeypatch):
    def install(*args, **kwargs) -> FakeStation:
        fake = FakeStation(*args, **kwargs)
        monkeypatch.setattr(commands, "call", fake)
        return fake

    return install


# --- the device model


def test_it_lists_the_device_model_with_paths_values_and_mutability(admin_client, station):
    variable("EVSE", "Power", "22000", "ReadOnly", evse_id=1, unit="W", attribute_type="MaxSet")
    variable("Connector", "Available", "true", "ReadOnly", evse_id=1, connector_id=2, component_instance="A")
    variable("OCPPCommCtrlr", "MessageTimeout", "30", variable_instance="Default")

    response = admin_client.get(url(Variable))

    assert response.status_code == 200
    html = response.content.decode()
    for text in ("EVSE@EVSE1", "Power", "MaxSet", "22000", "W", "Connector[A]@EVSE1/2", "MessageTimeout[Default]"):
        assert text in html
    assert len(response.context["cl"].result_list) == 3


def test_it_truncates_long_values_in_the_list(admin_client, station):
    variable("DisplayMessageCtrlr", "Greeting", "x" * 300)

    html = admin_client.get(url(Variable)).content.decode()

    assert "x" * 300 not in html and "x" * 79 + "…" in html


@pytest.mark.parametrize(
    "query, shown",
    [
        ("component=AuthCtrlr", ["AuthCtrlr.Enabled"]),
        ("mutability=ReadOnly", ["EVSE@EVSE1.Power"]),
        ("mutability=WriteOnly", ["SecurityCtrlr.BasicAuthPassword"]),
        ("q=Power", ["EVSE@EVSE1.Power"]),
        ("q=Security", ["SecurityCtrlr.BasicAuthPassword"]),
        ("q=CS-2", ["SampledDataCtrlr.TxUpdatedInterval"]),
        ("charge_point__id__exact=CS-2", ["SampledDataCtrlr.TxUpdatedInterval"]),  # the station page's link
    ],
)
def test_it_filters_and_searches_the_device_model(admin_client, station, query, shown):
    ChargePoint.objects.create(id="CS-2", ocpp_version="2.0.1")
    variable("AuthCtrlr", "Enabled")
    variable("EVSE", "Power", "22000", "ReadOnly", evse_id=1)
    variable("SecurityCtrlr", "BasicAuthPassword", None, "WriteOnly")
    variable("SampledDataCtrlr", "TxUpdatedInterval", "60", charge_point_id="CS-2")

    response = admin_client.get(f"{url(Variable)}?{query}")

    assert response.status_code == 200
    assert [str(v) for v in response.context["cl"].result_list] == shown


def test_it_lists_a_large_device_model_in_a_bounded_number_of_queries(admin_client, station, django_assert_max_num_queries):
    Variable.objects.bulk_create(
        Variable(charge_point_id="CS-1", component=f"Ctrlr{i:03}", variable="Enabled", value="true") for i in range(100)
    )

    with django_assert_max_num_queries(10):
        response = admin_client.get(url(Variable))

    assert response.status_code == 200


def test_a_read_only_variable_page_offers_no_new_value(admin_client, station, fake_station):
    fake = fake_station()
    power = variable("EVSE", "Power", "22000", "ReadOnly", evse_id=1)

    page = admin_client.get(url(Variable, "change", power.pk))
    post = admin_client.post(url(Variable, "change", power.pk), {"new_value": "11000"})

    assert page.status_code == 200
    assert "new_value" not in page.content.decode() and "Send SetVariables" not in page.content.decode()
    assert post.status_code == 403
    assert fake.calls == []
    power.refresh_from_db()
    assert power.value == "22000"


def test_a_writable_variable_page_asks_for_a_new_value(admin_client, station):
    enabled = variable(data_type="boolean")

    response = admin_client.get(url(Variable, "change", enabled.pk))

    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="new_value"' in html and "Send SetVariables" in html
    assert "Save and continue editing" not in html and "Delete" not in html
    assert list(response.context["adminform"].form.fields) == ["new_value"]


def test_saving_a_new_value_sends_set_variables_as_the_operator(admin_client, admin_user, station, fake_station):
    fake = fake_station("Accepted")
    power = variable("EVSE", "Power", "11000", evse_id=1, connector_id=2, attribute_type="Target", variable_instance="L1")

    response = admin_client.post(url(Variable, "change", power.pk), {"new_value": "7400"})

    assert response.status_code == 302
    assert response["Location"] == url(Variable, "change", power.pk)
    [call] = fake.calls
    assert call == dict(
        charge_point_id="CS-1",
        action="SetVariables",
        payload={
            "setVariableData": [
                {
                    "attributeType": "Target",
                    "attributeValue": "7400",
                    "component": {"name": "EVSE", "evse": {"id": 1, "connectorId": 2}},
                    "variable": {"name": "Power", "instance": "L1"},
                }
            ]
        },
        source=CommandSource.ADMIN,
        user=admin_user,
    )
    assert page_messages(response) == [("success", "CS-1 answered SetVariables EVSE@EVSE1/2.Power[L1] = '7400': Accepted.")]
    # The stored value moved because the answer was Accepted (the version's answers), not because of the form.
    power.refresh_from_db()
    assert power.value == "7400"


def test_the_stored_value_only_changes_through_the_stations_answer(admin_client, station, monkeypatch):
    enabled = variable()
    sent = []
    accepted = {"setVariableResult": [{"attributeStatus": "Accepted", "component": {"name": "AuthCtrlr"}, "variable": {"name": "Enabled"}}]}

    def call_without_recording(*args, **kwargs):
        # Accepted, but the consumer has not recorded the answer (results not applied): the form stores nothing.
        sent.append(args)
        return commands.CommandResult(1, "SetVariables", accepted, 5)

    monkeypatch.setattr(commands, "call", call_without_recording)

    response = admin_client.post(url(Variable, "change", enabled.pk), {"new_value": "false"})

    assert response.status_code == 302 and len(sent) == 1
    enabled.refresh_from_db()
    assert enabled.value == "true"


@pytest.mark.parametrize(
    "answer, level, words",
    [
        ("Rejected", "warning", "Rejected"),
        ("RebootRequired", "warning", "takes effect when the station reboots"),
        ("UnknownVariable", "warning", "UnknownVariable"),
    ],
)
def test_it_shows_a_refusal_or_a_reboot_as_a_warning(admin_client, station, fake_station, answer, level, words):
    fake_station(answer)
    enabled = variable()

    response = admin_client.post(url(Variable, "change", enabled.pk), {"new_value": "false"})

    [(shown_level, text)] = page_messages(response)
    assert shown_level == level and words in text
    enabled.refresh_from_db()
    assert enabled.value == ("false" if answer == "RebootRequired" else "true")


def test_it_shows_the_stations_reason_for_a_refusal(admin_client, station, fake_station):
    fake_station("Rejected", attributeStatusInfo={"reasonCode": "OutOfRange", "additionalInfo": "max 3600"})
    interval = variable("OCPPCommCtrlr", "HeartbeatInterval", "300")

    response = admin_client.post(url(Variable, "change", interval.pk), {"new_value": "99999"})

    [(_, text)] = page_messages(response)
    assert text.endswith(": Rejected (OutOfRange: max 3600).")


def test_it_shows_an_offline_station_as_an_error(admin_client, station, fake_station):
    fake_station(error=commands.ChargePointOffline("Charge point 'CS-1' is not connected", command_id=None))
    enabled = variable()

    response = admin_client.post(url(Variable, "change", enabled.pk), {"new_value": "false"})

    [(level, text)] = page_messages(response)
    assert level == "error" and "not connected" in text
    enabled.refresh_from_db()
    assert enabled.value == "true"


def test_it_logs_what_was_asked_and_answered_in_the_variables_history(admin_client, station, fake_station):
    from django.contrib.admin.models import LogEntry

    fake_station("Accepted")
    enabled = variable()

    admin_client.post(url(Variable, "change", enabled.pk), {"new_value": "false"})

    entry = LogEntry.objects.get()
    assert entry.get_change_message() == "CS-1 answered SetVariables AuthCtrlr.Enabled = 'false': Accepted."


@pytest.mark.parametrize(
    "characteristics, value, error",
    [
        ({"data_type": "integer"}, "abc", "Enter an integer."),
        ({"data_type": "integer", "min_limit": 1, "max_limit": 3600}, "0", "At least 1."),
        ({"data_type": "integer", "min_limit": 1, "max_limit": 3600}, "3601", "At most 3600."),
        ({"data_type": "decimal"}, "1,5", "Enter a decimal."),
        ({"data_type": "boolean"}, "yes", 'Enter "true" or "false".'),
        ({"data_type": "OptionList", "values_list": "Cable,Local"}, "Wireless", "Enter one of: Cable, Local."),
        ({"data_type": "MemberList", "values_list": "Energy,Power"}, "Energy,Volts", "Not allowed: Volts."),
        ({"data_type": "string", "max_limit": 5}, "toolong", "At most 5 characters."),
    ],
)
def test_it_refuses_a_value_outside_the_variables_characteristics(admin_client, station, fake_station, characteristics, value, error):
    fake = fake_station()
    target = variable("SomeCtrlr", "Some", "1", **characteristics)

    response = admin_client.post(url(Variable, "change", target.pk), {"new_value": value})

    assert response.status_code == 200
    assert error in " ".join(response.context["adminform"].form.errors["new_value"])
    assert fake.calls == []


@pytest.mark.parametrize(
    "characteristics, value",
    [
        ({"data_type": "integer", "min_limit": 1, "max_limit": 3600}, "3600"),
        ({"data_type": "decimal", "max_limit": 32}, "16.5"),
        ({"data_type": "boolean"}, "false"),
        ({"data_type": "OptionList", "values_list": "Cable,Local"}, "Local"),
        (
            {"data_type": "SequenceList", "values_list": "Energy.Active.Import.Register,Power.Active.Import"},
            "Power.Active.Import,Energy.Active.Import.Register",
        ),
        ({"data_type": "string", "max_limit": 5}, "short"),
        ({}, "anything goes"),
    ],
)
def test_it_sends_a_value_that_fits_the_variables_characteristics(admin_client, station, fake_station, characteristics, value):
    fake = fake_station()
    target = variable("SomeCtrlr", "Some", "1", **characteristics)

    response = admin_client.post(url(Variable, "change", target.pk), {"new_value": value})

    assert response.status_code == 302
    assert fake.calls[0]["payload"]["setVariableData"][0]["attributeValue"] == value


def test_a_write_only_variable_is_entered_hidden_and_never_stored_or_echoed(admin_client, station, fake_station):
    fake_station("Accepted")
    # A vendor's WriteOnly secret; the Basic-auth password itself only changes through change-password.
    password = variable("AcmeCtrlr", "ApiKey", None, "WriteOnly")

    page = admin_client.get(url(Variable, "change", password.pk)).content.decode()
    response = admin_client.post(url(Variable, "change", password.pk), {"new_value": "s3cret-s3cret-s3cret"})

    assert 'type="password"' in page
    [(level, text)] = page_messages(response)
    assert level == "success" and "s3cret" not in text
    password.refresh_from_db()
    assert password.value is None
    assert password.updated_at > timezone.now() - timedelta(minutes=1)


def test_an_operator_who_may_only_view_cannot_send(client, station, fake_station):
    fake = fake_station()
    enabled = variable()
    viewer = get_user_model().objects.create_user("viewer", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_variable"))
    client.force_login(viewer)

    page = client.get(url(Variable, "change", enabled.pk))
    post = client.post(url(Variable, "change", enabled.pk), {"new_value": "false"})

    assert page.status_code == 200 and 'name="new_value"' not in page.content.decode()
    assert post.status_code == 403
    assert fake.calls == []


def test_variables_cannot_be_added_in_the_admin(admin_client, station):
    assert admin_client.get(url(Variable, "add")).status_code == 403


# --- station messages


@pytest.fixture
def station_messages(station):
    return [
        StationMessage.objects.create(
            charge_point=station,
            action="SecurityEventNotification",
            payload={"type": "FirmwareUpdated", "timestamp": "2025-03-01T10:00:00Z"},
            received_at=timezone.now() - timedelta(minutes=5),
        ),
        StationMessage.objects.create(
            charge_point=station,
            action="NotifyEvent",
            payload={"generatedAt": "2025-03-01T10:01:00Z", "seqNo": 0, "eventData": [{"eventId": 1}]},
        ),
    ]


def test_it_lists_station_messages_newest_first_and_filters_them_by_action(admin_client, station_messages):
    security, event = station_messages

    listing = admin_client.get(url(StationMessage))
    filtered = admin_client.get(f"{url(StationMessage)}?action=SecurityEventNotification")

    assert list(listing.context["cl"].result_list) == [event, security]
    assert list(filtered.context["cl"].result_list) == [security]
    changelist = listing.context["cl"]
    assert "NotifyEvent" in [choice["display"] for choice in changelist.filter_specs[0].choices(changelist)]


def test_a_station_message_shows_its_payload_as_json_and_stays_read_only(admin_client, station_messages):
    _, event = station_messages
    event.refresh_from_db()  # PostgreSQL's jsonb orders the keys its own way

    page = admin_client.get(url(StationMessage, "change", event.pk))

    assert page.status_code == 200
    assert escape(pretty_json(event.payload)) in page.content.decode()
    assert admin_client.get(url(StationMessage, "add")).status_code == 403
    assert admin_client.post(url(StationMessage, "change", event.pk), {"action": "Edited"}).status_code == 403


# --- the charge point page and list


def test_the_list_shows_version_and_registration_status_and_filters_on_it(admin_client, station):
    ChargePoint.objects.create(id="CP-16", ocpp_version="1.6", registration_status="Pending")

    listing = admin_client.get(url(ChargePoint))
    pending = admin_client.get(f"{url(ChargePoint)}?registration_status__exact=Pending")

    html = listing.content.decode()
    assert "2.0.1" in html and "Pending" in html
    assert [cp.pk for cp in pending.context["cl"].result_list] == ["CP-16"]


def test_an_operator_sets_the_registration_status_with_the_description(admin_client, station):
    response = admin_client.post(
        url(ChargePoint, "change", "CS-1"),
        {
            "description": "Depot",
            "registration_status": "Rejected",
            "vendor": "Edited",
            "last_boot_status": "Edited",
            "connectors-TOTAL_FORMS": "0",
            "connectors-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 302
    station.refresh_from_db()
    assert (station.description, station.registration_status) == ("Depot", "Rejected")
    assert station.vendor == "" and station.last_boot_status == ""
    # It is what the next boot is answered.
    assert services.boot_notification_create(charge_point_id="CS-1", vendor="V", model="M").status == "Rejected"


def test_an_unknown_registration_status_is_refused(admin_client, station):
    response = admin_client.post(
        url(ChargePoint, "change", "CS-1"),
        {
            "description": "",
            "registration_status": "Maybe",
            "connectors-TOTAL_FORMS": "0",
            "connectors-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 200
    assert "registration_status" in response.context["adminform"].form.errors
    station.refresh_from_db()
    assert station.registration_status == "Accepted"


def test_saving_the_registration_status_keeps_a_disconnect_that_lands_meanwhile(rf, admin_user, station):
    request = rf.post("/")
    request.user = admin_user
    services.charge_point_disconnect(charge_point_id="CS-1", session_id="s1")

    station.registration_status = "Pending"  # loaded while still connected
    site._registry[ChargePoint].save_model(request, station, form=None, change=True)

    station.refresh_from_db()
    assert station.registration_status == "Pending"
    assert not station.connected


def test_a_2_0_1_station_page_links_its_device_model_and_messages_and_shows_evses(admin_client, station):
    services.status_notification_create(charge_point_id="CS-1", evse_id=1, connector_id=1, status="Occupied")
    services.status_notification_create(charge_point_id="CS-1", evse_id=1, connector_id=2, status="Available")
    ConfigurationKey.objects.create(charge_point=station, key="Stray", value="1")

    response = admin_client.get(url(ChargePoint, "change", "CS-1"))

    assert response.status_code == 200
    html = response.content.decode()
    assert f'{url(Variable)}?charge_point__id__exact=CS-1">device model' in html
    assert f'{url(StationMessage)}?charge_point__id__exact=CS-1">station messages' in html
    inlines = {f.opts.model._meta.model_name: f for f in response.context["inline_admin_formsets"]}
    assert "configurationkey" not in inlines
    assert [(f.original.evse_id, f.original.connector_id) for f in inlines["connector"]] == [(1, 1), (1, 2)]
    assert "EVSE id" in html


def test_a_1_6_charge_point_page_has_no_device_model_link_but_one_to_its_station_messages(admin_client, charge_point):
    ChargePoint.objects.filter(pk="CP-1").update(ocpp_version="1.6")

    html = admin_client.get(url(ChargePoint, "change", "CP-1")).content.decode()

    assert "device model" not in html
    # A 1.6 charge point with the security extension has its CSRs (SignCertificate) kept there.
    assert f'{url(StationMessage)}?charge_point__id__exact=CP-1">station messages' in html


def test_the_list_names_2_0_1_connectors_by_evse_and_connector(admin_client, station):
    Connector.objects.create(charge_point=station, evse_id=2, connector_id=1, status="Available")
    Connector.objects.create(charge_point=station, evse_id=1, connector_id=1, status="Occupied")
    Connector.objects.create(charge_point=station, evse_id=1, connector_id=2, status="Faulted")

    html = admin_client.get(url(ChargePoint)).content.decode()

    labels = re.findall(r'class="cp-status cp-status-\w+"(?: title="[^"]*")?>([^<]+)</span>', html)
    assert labels == ["EVSE 1 · connector 1: Occupied", "EVSE 1 · connector 2: Faulted", "EVSE 2 · connector 1: Available"]


def test_the_status_history_shows_the_evse(admin_client, station):
    services.status_notification_create(charge_point_id="CS-1", evse_id=3, connector_id=1, status="Unavailable")

    response = admin_client.get(url(StatusNotification))

    assert '<td class="field-evse_id">3</td>' in response.content.decode()


# --- transactions, charging profiles, id tags, the command log


@pytest.fixture
def station_transaction(station):
    tx = Transaction.objects.create(
        charge_point=station,
        station_transaction_id="tx-7f3a",
        evse_id=1,
        connector_id=2,
        id_tag="TOKEN-1",
        id_tag_type="ISO14443",
        charging_state="Charging",
        start_timestamp=datetime(2025, 3, 1, 10, 0, tzinfo=UTC),
    )
    for seq_no, (event_type, trigger) in enumerate([("Started", "Authorized"), ("Updated", "ChargingStateChanged")]):
        TransactionEvent.objects.create(
            transaction=tx,
            seq_no=seq_no,
            event_type=event_type,
            trigger_reason=trigger,
            timestamp=tx.start_timestamp + timedelta(minutes=seq_no),
            charging_state="Charging" if seq_no else "",
        )
    return tx


def test_the_transaction_list_shows_the_station_id_and_evse_and_searches_by_it(admin_client, station_transaction):
    Transaction.objects.create(charge_point_id="CS-1", station_transaction_id="tx-other", start_timestamp=timezone.now())

    listing = admin_client.get(url(Transaction)).content.decode()
    found = admin_client.get(f"{url(Transaction)}?q=tx-7f3a")

    assert "tx-7f3a" in listing and '<td class="field-evse_id">1</td>' in listing
    assert list(found.context["cl"].result_list) == [station_transaction]


def test_a_2_0_1_transaction_page_shows_its_events_and_token_type(admin_client, station_transaction):
    response = admin_client.get(url(Transaction, "change", station_transaction.pk))

    assert response.status_code == 200
    html = response.content.decode()
    assert "tx-7f3a" in html and "ISO14443" in html and "Charging" in html
    events = {f.opts.model._meta.model_name: f for f in response.context["inline_admin_formsets"]}["transactionevent"]
    assert [(f.original.seq_no, f.original.event_type) for f in events] == [(1, "Updated"), (0, "Started")]
    assert "ChargingStateChanged" in html and "2025-03-01" in html


def test_a_1_6_transaction_page_has_no_events(admin_client, charge_point):
    tx = Transaction.objects.create(charge_point=charge_point, connector_id=1, id_tag="T", start_timestamp=timezone.now())

    response = admin_client.get(url(Transaction, "change", tx.pk))

    models = [f.opts.model._meta.model_name for f in response.context["inline_admin_formsets"]]
    assert models == []
    assert "Charging state" not in response.content.decode()


def test_a_2_0_1_charging_profile_shows_its_schedules_and_rate_unit(admin_client, station):
    schedules = [{"id": 1, "chargingRateUnit": "W", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 7400}]}]
    profile = ChargingProfile.objects.create(
        charge_point=station,
        charging_profile_id=7,
        purpose="TxDefaultProfile",
        stack_level=0,
        kind="Absolute",
        schedule=schedules,
    )
    installation = profile.installations.create(charge_point=station, evse_id=1)

    listing = admin_client.get(url(ChargingProfile))
    page = admin_client.get(url(ChargingProfile, "change", profile.pk))
    cp_page = admin_client.get(url(ChargePoint, "change", "CS-1"))

    assert listing.status_code == page.status_code == cp_page.status_code == 200
    assert '<td class="field-charging_rate_unit">W</td>' in listing.content.decode()
    profile.refresh_from_db()  # PostgreSQL's jsonb orders the keys its own way
    assert escape(pretty_json(profile.schedule)) in page.content.decode()
    assert [f.original for f in cp_page.context["inline_admin_formsets"][1]] == [installation]
    assert re.search(r'field-charging_rate_unit">\s*<p>W</p>', cp_page.content.decode())


def test_an_id_tag_gets_an_id_token_type(admin_client):
    response = admin_client.post(url(IdTag, "add"), {"id_tag": "04E1A2B3C4D5E6", "type": "ISO14443", "status": "Accepted"})
    IdTag.objects.create(id_tag="LEGACY")

    assert response.status_code == 302
    assert IdTag.objects.get(id_tag="04E1A2B3C4D5E6").type == "ISO14443"
    by_type = admin_client.get(f"{url(IdTag)}?type=ISO14443")
    assert [t.id_tag for t in by_type.context["cl"].result_list] == ["04E1A2B3C4D5E6"]


def test_an_id_tag_type_outside_id_token_enum_type_is_refused(admin_client):
    response = admin_client.post(url(IdTag, "add"), {"id_tag": "X", "type": "Barcode", "status": "Accepted"})

    assert response.status_code == 200
    assert not IdTag.objects.exists()


def test_the_command_log_filters_by_a_2_0_1_action_and_shows_the_version(admin_client, station):
    command = Command.objects.create(charge_point=station, action="SetVariables", ocpp_version="2.0.1")
    Command.objects.create(charge_point=station, action="Reset", ocpp_version="2.0.1")

    listing = admin_client.get(f"{url(Command)}?action=SetVariables")
    page = admin_client.get(url(Command, "change", command.pk))

    assert list(listing.context["cl"].result_list) == [command]
    assert "2.0.1" in page.content.decode()


# --- bulk actions on the charge point list


class AnsweringStations:
    """Stands in for `commands.call` for bulk actions: checks each payload against the station's own version's
    schema as the real path does, logs the command, completes it Accepted as the consumer would."""

    def __init__(self):
        self.sent = []

    def __call__(self, charge_point_id, action, payload, *, timeout=None, source="system", user=None, secret_change=False):
        version = ChargePoint.objects.get(pk=charge_point_id).ocpp_version or "1.6"
        commands.validate(version, action, payload, secret_change=secret_change)  # an invalid payload is refused before anything is logged
        self.sent.append((charge_point_id, action, payload))
        command = Command.objects.create(
            charge_point_id=charge_point_id,
            action=action,
            ocpp_version=version,
            payload=payload,
            source=source,
            user=user,
        )
        response = {"status": "Accepted"}
        services.command_finish(command_id=command.pk, outcome=CommandOutcome(status=CommandStatus.ANSWERED, response=response))
        return commands.CommandResult(command.pk, action, response, 12)


@pytest.fixture
def answering_stations(monkeypatch):
    fake = AnsweringStations()
    monkeypatch.setattr(commands, "call", fake)
    return fake


def test_a_bulk_send_of_the_local_list_records_the_version_a_2_0_1_station_accepted(admin_client, station, answering_stations):
    IdTag.objects.create(id_tag="TAG-1", type="ISO14443")
    ChargePoint.objects.filter(pk="CS-1").update(local_list_version=4)

    admin_client.post(url(ChargePoint), {"action": "send_full_local_list", "_selected_action": ["CS-1"]})

    [(_, _, payload)] = answering_stations.sent
    station.refresh_from_db()
    assert payload["versionNumber"] == 5 and station.local_list_version == 5
    assert station.local_list_synced_at is not None


def test_a_bulk_action_over_1_6_and_2_0_1_sends_each_its_own_payload_and_names_each_answer(admin_client, station, answering_stations):
    now = timezone.now()
    ChargePoint.objects.create(id="CP-16", ocpp_version="1.6", connected=True, connected_at=now, last_seen=now)

    response = admin_client.post(url(ChargePoint), {"action": "make_operative", "_selected_action": ["CS-1", "CP-16"]})

    assert answering_stations.sent == [
        ("CP-16", "ChangeAvailability", {"connectorId": 0, "type": "Operative"}),
        ("CS-1", "ChangeAvailability", {"operationalStatus": "Operative"}),
    ]
    assert page_messages(response) == [("success", "Change availability: Operative: CP-16: Accepted; CS-1: Accepted")]


@pytest.mark.django_db(transaction=True)
async def test_a_bulk_reset_reaches_a_connected_2_0_1_station_as_its_reset_and_reports_its_answer(admin_client, ocpp_connect):
    await ChargePoint.objects.acreate(id="CS-1")
    client, accepted, _ = await ocpp_connect("/ocpp/CS-1", subprotocols=["ocpp2.0.1"])
    assert accepted

    def post():
        try:
            response = admin_client.post(url(ChargePoint), {"action": "reset_soft", "_selected_action": ["CS-1"]})
            return page_messages(response)
        finally:
            connections.close_all()  # as request_finished does after a real request; the test client leaves it out

    async def as_an_asgi_server_runs_the_admin_view():
        async with ThreadSensitiveContext():
            return await sync_to_async(post)()

    task = asyncio.create_task(as_an_asgi_server_runs_the_admin_view())
    call = await client.receive()
    await client.send_raw(json.dumps([3, call[1], {"status": "Accepted"}]))

    assert call[2:] == ["Reset", {"type": "OnIdle"}]
    assert await task == [("success", "Reset (soft): CS-1: Accepted")]
    command = await Command.objects.aget()
    assert (command.ocpp_version, command.status, command.response) == ("2.0.1", "answered", {"status": "Accepted"})
