"""Operators command charge points from the admin: command pages, bulk actions and the command log.

No socket is opened: `commands.call` is replaced by a fake charge point that
checks the payload against the official schema of the charge point's version
as the real path does, logs the Command row as it does (secrets hidden), records the answer through
`services.command_finish` (so what follows from it is applied) and answers
as told.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from unittest.mock import ANY

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from chargepoints.exceptions import CommandOutcome
from chargepoints import commands, services
from chargepoints.admin_commands.forms import FORMS, PROFILES
from chargepoints.admin_commands.operation_forms import OPERATION_FORMS
from chargepoints.admin_commands.outcomes import pretty_json
from chargepoints.models import (
    ChargePoint,
    ChargingProfile,
    ChargingProfileInstallation,
    Command,
    CommandStatus,
    ConfigurationKey,
    DiagnosticsStatusNotification,
    FirmwareStatusNotification,
)
from transactions.models import IdTag, Reservation, ReservationStatus, Transaction

pytestmark = pytest.mark.django_db

ACCEPTED = {"status": "Accepted"}
# What a charge point answers to each operation (OCPP 1.6 §6), when the test does not say.
ANSWERS = {
    "DataTransfer": {"status": "Accepted", "data": "pong"},
    "GetConfiguration": {
        "configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "300"}],
        "unknownKey": [],
    },
    "GetDiagnostics": {"fileName": "diagnostics-CP-1.zip"},
    "GetLocalListVersion": {"listVersion": 3},
    "UnlockConnector": {"status": "Unlocked"},
    "UpdateFirmware": {},
    "GetCompositeSchedule": {"status": "Accepted", "connectorId": 0, "scheduleStart": "2025-03-01T10:00:00.000Z"},
}
# What a 2.0.1 station answers where the default {"status": "Accepted"} does not fit (2.0.1 Part 2 responses).
ANSWERS_201 = {
    "UnlockConnector": {"status": "Unlocked"},
    "GetVariables": {
        "getVariableResult": [
            {
                "attributeStatus": "Accepted",
                "attributeValue": "300",
                "component": {"name": "OCPPCommCtrlr"},
                "variable": {"name": "HeartbeatInterval"},
            }
        ]
    },
    "SetVariables": {
        "setVariableResult": [
            {"attributeStatus": "Accepted", "component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}
        ]
    },
    "GetLog": {"status": "Accepted", "filename": "log.zip"},
    "GetCompositeSchedule": {"status": "Accepted"},
    "UpdateFirmware": {"status": "Accepted"},
}
ERROR_STATUSES = {
    commands.ChargePointOffline: CommandStatus.OFFLINE,
    commands.CommandTimeout: CommandStatus.TIMEOUT,
    commands.CallErrorReceived: CommandStatus.CALL_ERROR,
}


@dataclass
class Sent:
    charge_point_id: str
    action: str
    payload: dict
    source: str
    user: object


class FakeChargePoints:
    """Stands in for `commands.call`: records each CALL and answers from `answers` (by charge point id).

    An answer is a response dict or a CommandError to raise.
    """

    def __init__(self):
        self.sent: list[Sent] = []
        self.answers: dict[str, object] = {}

    def __call__(self, charge_point_id, action, payload, *, timeout=None, source="system", user=None):
        payload = commands.normalise_payload(payload)
        version = ChargePoint.objects.filter(pk=charge_point_id).values_list("ocpp_version", flat=True).first() or "1.6"
        commands.validate(version, action, payload)  # raises InvalidPayload before anything is logged, like the real path
        self.sent.append(Sent(charge_point_id, action, payload, source, user))
        command = services.command_create(  # the real path's log, secrets hidden
            charge_point_id=charge_point_id, ocpp_version=version, action=action, payload=payload, source=source, user=user
        )
        default = ANSWERS_201.get(action) if version == "2.0.1" else None
        answer = self.answers.get(charge_point_id, default or ANSWERS.get(action, ACCEPTED))
        if isinstance(answer, commands.CommandError):
            answer.command_id = command.pk
            services.command_finish(
                command_id=command.pk, outcome=CommandOutcome(status=ERROR_STATUSES.get(type(answer), CommandStatus.FAILED),
                error_code=answer.details.get("error_code", ""),
                error_description=answer.details.get("error_description", ""))
            )
            raise answer
        services.command_finish(command_id=command.pk, outcome=CommandOutcome(status=CommandStatus.ANSWERED, response=answer, round_trip_ms=42))
        return commands.CommandResult(command.pk, action, answer, round_trip_ms=42)


@pytest.fixture(autouse=True)
def _utc(settings):
    # Typed dates are read in TIME_ZONE; the expected payloads assume UTC whatever the environment says.
    settings.TIME_ZONE = "UTC"


@pytest.fixture
def charge_points(monkeypatch):
    fake = FakeChargePoints()
    monkeypatch.setattr(commands, "call", fake)
    return fake


@pytest.fixture
def cp(charge_point):
    """CP-1, connected, with connectors 0 (the charge point), 1 and 2 reported."""
    services.charge_point_connect(charge_point_id="CP-1", session_id="s1", ocpp_version="1.6", allow_unknown=False)
    for connector_id, status in ((0, "Available"), (1, "Charging"), (2, "Available")):
        services.status_notification_create(
            charge_point_id="CP-1", connector_id=connector_id, status=status, error_code="NoError"
        )
    charge_point.refresh_from_db()
    return charge_point


@pytest.fixture
def tag(db):
    return IdTag.objects.create(id_tag="TAG-1")


def command_url(action, charge_point_id="CP-1"):
    from django.contrib.admin.utils import quote

    return reverse("admin:chargepoints_chargepoint_command", args=[quote(charge_point_id), action])


def url(model, view="changelist", *args):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def sent_payloads(fake):
    return [(s.charge_point_id, s.action, s.payload) for s in fake.sent]


# --- One page per operation --------------------------------------------------------------------------------


FIELDS = {
    "ChangeAvailability": ["connector", "type"],
    "ChangeConfiguration": ["key", "value"],
    "ClearCache": [],
    "DataTransfer": ["vendor_id", "message_id", "data"],
    "GetConfiguration": ["keys"],
    "RemoteStartTransaction": ["id_tag", "connector", "charging_profile"],
    "RemoteStopTransaction": ["transaction"],
    "Reset": ["type"],
    "UnlockConnector": ["connector"],
    "GetDiagnostics": ["location", "retries", "retry_interval", "start_time", "stop_time"],
    "UpdateFirmware": ["location", "retrieve_date", "retries", "retry_interval"],
    "GetLocalListVersion": [],
    "SendLocalList": ["update_type"],
    "ReserveNow": ["connector", "id_tag", "expiry_date", "parent_id_tag"],
    "CancelReservation": ["reservation"],
    "SetChargingProfile": [
        "connector",
        "charging_profile_id",
        "stack_level",
        "purpose",
        "kind",
        "recurrency",
        "valid_from",
        "valid_to",
        "transaction_id",
        "charging_rate_unit",
        "periods",
        "duration",
        "start_schedule",
        "min_charging_rate",
    ],
    "ClearChargingProfile": ["profile_id", "connector", "purpose", "stack_level"],
    "GetCompositeSchedule": ["connector", "duration", "charging_rate_unit"],
    "TriggerMessage": ["requested_message", "connector"],
}


def test_every_central_system_operation_of_ocpp_16_has_a_form_and_a_button():
    assert set(FORMS) == set(commands.actions_for("1.6")) == set(FIELDS)
    assert sorted(a for _, actions in PROFILES for a in actions) == sorted(FORMS)


@pytest.mark.parametrize("action", sorted(FIELDS))
def test_each_command_page_shows_its_form_with_the_spec_fields(admin_client, cp, action):
    response = admin_client.get(command_url(action))

    assert response.status_code == 200
    assert set(response.context["command_form"].fields) == set(FIELDS[action])
    html = response.content.decode()
    for name in FIELDS[action]:
        assert f'name="{name}"' in html
    assert f'value="Send {action} to CP-1"' in html
    assert f'<a href="{url(ChargePoint, "change", "CP-1")}">CP-1</a>' in html  # breadcrumbs back to the charge point


CASES = [
    ("ChangeAvailability", {"connector": "0", "type": "Inoperative"}, {"connectorId": 0, "type": "Inoperative"}),
    ("ChangeAvailability", {"connector": "2", "type": "Operative"}, {"connectorId": 2, "type": "Operative"}),
    ("ChangeConfiguration", {"key": "HeartbeatInterval", "value": "60"}, {"key": "HeartbeatInterval", "value": "60"}),
    ("ClearCache", {}, {}),
    ("DataTransfer", {"vendor_id": "com.acme", "message_id": "", "data": ""}, {"vendorId": "com.acme"}),
    (
        "DataTransfer",
        {"vendor_id": "com.acme", "message_id": "ping", "data": '{"n": 1}'},
        {"vendorId": "com.acme", "messageId": "ping", "data": '{"n": 1}'},
    ),
    ("GetConfiguration", {"keys": ""}, {}),
    (
        "GetConfiguration",
        {"keys": "HeartbeatInterval, MeterValueSampleInterval,"},
        {"key": ["HeartbeatInterval", "MeterValueSampleInterval"]},
    ),
    ("RemoteStartTransaction", {"id_tag": "TAG-1", "connector": "", "charging_profile": ""}, {"idTag": "TAG-1"}),
    (
        "RemoteStartTransaction",
        {
            "id_tag": "TAG-1",
            "connector": "2",
            "charging_profile": '{"chargingProfileId": 1, "stackLevel": 0, "chargingProfilePurpose": "TxProfile",'
            ' "chargingProfileKind": "Relative", "chargingSchedule": {"chargingRateUnit": "A",'
            ' "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16}]}}',
        },
        {
            "idTag": "TAG-1",
            "connectorId": 2,
            "chargingProfile": {
                "chargingProfileId": 1,
                "stackLevel": 0,
                "chargingProfilePurpose": "TxProfile",
                "chargingProfileKind": "Relative",
                "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16}]},
            },
        },
    ),
    ("Reset", {"type": "Hard"}, {"type": "Hard"}),
    ("UnlockConnector", {"connector": "2"}, {"connectorId": 2}),
    (
        "GetDiagnostics",
        {"location": "ftp://logs.example.com/up/", "retries": "", "retry_interval": "", "start_time": "", "stop_time": ""},
        {"location": "ftp://logs.example.com/up/"},
    ),
    (
        "GetDiagnostics",
        {
            "location": "ftp://logs.example.com/up/",
            "retries": "3",
            "retry_interval": "60",
            "start_time": "2025-03-01T10:00",
            "stop_time": "2025-03-01T12:30",
        },
        {
            "location": "ftp://logs.example.com/up/",
            "retries": 3,
            "retryInterval": 60,
            "startTime": "2025-03-01T10:00:00.000Z",
            "stopTime": "2025-03-01T12:30:00.000Z",
        },
    ),
    (
        "UpdateFirmware",
        {"location": "https://fw.example.com/2.0.bin", "retrieve_date": "2025-03-01T10:00", "retries": "", "retry_interval": ""},
        {"location": "https://fw.example.com/2.0.bin", "retrieveDate": "2025-03-01T10:00:00.000Z"},
    ),
    (
        "UpdateFirmware",
        {"location": "https://fw.example.com/2.0.bin", "retrieve_date": "2025-03-01T10:00", "retries": "0", "retry_interval": "30"},
        {"location": "https://fw.example.com/2.0.bin", "retrieveDate": "2025-03-01T10:00:00.000Z", "retries": 0, "retryInterval": 30},
    ),
    ("GetLocalListVersion", {}, {}),
    (
        "SendLocalList",
        {"update_type": "Full"},
        {"listVersion": 1, "updateType": "Full", "localAuthorizationList": [{"idTag": "TAG-1", "idTagInfo": ACCEPTED}]},
    ),
    (
        "SetChargingProfile",
        {
            "connector": "1",
            "charging_profile_id": "7",
            "stack_level": "0",
            "purpose": "TxDefaultProfile",
            "kind": "Relative",
            "charging_rate_unit": "A",
            "periods": "0:16\n3600:8.5:1\n",
        },
        {
            "connectorId": 1,
            "csChargingProfiles": {
                "chargingProfileId": 7,
                "stackLevel": 0,
                "chargingProfilePurpose": "TxDefaultProfile",
                "chargingProfileKind": "Relative",
                "chargingSchedule": {
                    "chargingRateUnit": "A",
                    "chargingSchedulePeriod": [
                        {"startPeriod": 0, "limit": 16.0},
                        {"startPeriod": 3600, "limit": 8.5, "numberPhases": 1},
                    ],
                },
            },
        },
    ),
    (
        "SetChargingProfile",
        {
            "connector": "0",
            "charging_profile_id": "8",
            "stack_level": "2",
            "purpose": "ChargePointMaxProfile",
            "kind": "Recurring",
            "recurrency": "Daily",
            "valid_from": "2025-03-01T00:00",
            "valid_to": "2025-12-31T23:59",
            "charging_rate_unit": "W",
            "periods": '[{"startPeriod": 0, "limit": 11000}, {"startPeriod": 28800, "limit": 7400.5, "numberPhases": 3}]',
            "duration": "86400",
            "start_schedule": "2025-03-01T00:00",
            "min_charging_rate": "1400.5",
        },
        {
            "connectorId": 0,
            "csChargingProfiles": {
                "chargingProfileId": 8,
                "stackLevel": 2,
                "chargingProfilePurpose": "ChargePointMaxProfile",
                "chargingProfileKind": "Recurring",
                "recurrencyKind": "Daily",
                "validFrom": "2025-03-01T00:00:00.000Z",
                "validTo": "2025-12-31T23:59:00.000Z",
                "chargingSchedule": {
                    "duration": 86400,
                    "startSchedule": "2025-03-01T00:00:00.000Z",
                    "chargingRateUnit": "W",
                    "chargingSchedulePeriod": [
                        {"startPeriod": 0, "limit": 11000.0},
                        {"startPeriod": 28800, "limit": 7400.5, "numberPhases": 3},
                    ],
                    "minChargingRate": 1400.5,
                },
            },
        },
    ),
    ("ClearChargingProfile", {"profile_id": "7"}, {"id": 7}),
    (
        "ClearChargingProfile",
        {"connector": "1", "purpose": "TxDefaultProfile", "stack_level": "0"},
        {"connectorId": 1, "chargingProfilePurpose": "TxDefaultProfile", "stackLevel": 0},
    ),
    ("ClearChargingProfile", {}, {}),
    ("GetCompositeSchedule", {"connector": "0", "duration": "3600"}, {"connectorId": 0, "duration": 3600}),
    (
        "GetCompositeSchedule",
        {"connector": "1", "duration": "600", "charging_rate_unit": "W"},
        {"connectorId": 1, "duration": 600, "chargingRateUnit": "W"},
    ),
    ("TriggerMessage", {"requested_message": "StatusNotification"}, {"requestedMessage": "StatusNotification"}),
    (
        "TriggerMessage",
        {"requested_message": "MeterValues", "connector": "1"},
        {"requestedMessage": "MeterValues", "connectorId": 1},
    ),
]


@pytest.mark.parametrize("action, data, payload", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_sending_a_command_form_sends_the_spec_payload_and_shows_the_answer(
    admin_client, admin_user, cp, tag, charge_points, action, data, payload
):
    response = admin_client.post(command_url(action), data)

    assert response.status_code == 200
    assert response.context["command_form"].errors == {}
    [sent] = charge_points.sent
    assert (sent.charge_point_id, sent.action, sent.payload) == ("CP-1", action, payload)
    assert (sent.source, sent.user) == ("admin", admin_user)
    answer = ANSWERS.get(action, ACCEPTED)
    html = response.content.decode()
    command = Command.objects.get()
    # The full response as the charge point sent it, and the request as logged (key order as the database keeps it:
    # PostgreSQL's jsonb reorders keys).
    assert escape(pretty_json(answer)) in html
    assert escape(pretty_json(command.payload)) in html
    assert escape(f"CP-1 answered {action}: {response.context['outcome'].summary}.") in html
    assert (command.action, command.payload, command.source, command.user) == (action, payload, "admin", admin_user)
    assert command.response == answer


def test_form_dates_are_read_in_the_operators_time_zone_and_sent_in_utc(admin_client, cp, charge_points, settings):
    settings.TIME_ZONE = "Europe/Berlin"

    admin_client.post(
        command_url("UpdateFirmware"), {"location": "https://fw.example.com/x.bin", "retrieve_date": "2025-07-01T12:00"}
    )

    assert charge_points.sent[0].payload["retrieveDate"] == "2025-07-01T10:00:00.000Z"


def test_the_answer_summarises_what_answers_without_a_status_say(admin_client, cp, charge_points):
    html = admin_client.post(command_url("GetConfiguration"), {"keys": ""}).content.decode()

    assert "CP-1 answered GetConfiguration: 1 key." in html
    # What follows from the answer is stored: the configuration snapshot.
    assert ConfigurationKey.objects.get(charge_point=cp).value == "300"


def test_a_rejection_is_shown_as_a_warning(admin_client, cp, charge_points):
    charge_points.answers["CP-1"] = {"status": "Rejected"}

    response = admin_client.post(command_url("Reset"), {"type": "Soft"})

    html = response.content.decode()
    assert 'class="warning"' in html
    assert "CP-1 answered Reset: Rejected." in html


# --- Pickers ------------------------------------------------------------------------------------------------


def test_connector_pickers_offer_the_known_connectors_and_the_whole_charge_point(admin_client, cp):
    form = admin_client.get(command_url("ChangeAvailability")).context["command_form"]
    unlock = admin_client.get(command_url("UnlockConnector")).context["command_form"]

    assert form.fields["connector"].choices == [
        ("0", "0 — whole charge point (Available)"),
        ("1", "1 — Charging"),
        ("2", "2 — Available"),
    ]
    assert [value for value, _ in unlock.fields["connector"].choices] == ["1", "2"]  # no unlocking the whole charge point


def test_trigger_message_offers_only_what_the_16_schema_allows(admin_client, cp):
    form = admin_client.get(command_url("TriggerMessage")).context["command_form"]

    assert sorted(value for value, _ in form.fields["requested_message"].choices) == [
        "BootNotification",
        "DiagnosticsStatusNotification",
        "FirmwareStatusNotification",
        "Heartbeat",
        "MeterValues",
        "StatusNotification",
    ]


def test_connectors_are_typed_in_while_the_charge_point_has_reported_none(admin_client, charge_point, charge_points):
    response = admin_client.get(command_url("UnlockConnector"))
    assert '<input type="number" name="connector"' in response.content.decode()

    admin_client.post(command_url("UnlockConnector"), {"connector": "3"})

    assert sent_payloads(charge_points) == [("CP-1", "UnlockConnector", {"connectorId": 3})]


def test_a_connector_the_charge_point_does_not_have_is_refused(admin_client, cp, charge_points):
    response = admin_client.post(command_url("UnlockConnector"), {"connector": "9"})

    assert "connector" in response.context["command_form"].errors
    assert charge_points.sent == []


def test_id_tag_pickers_suggest_the_id_tags_table(admin_client, cp, tag):
    IdTag.objects.create(id_tag="TAG-BLOCKED", status="Blocked")

    html = admin_client.get(command_url("RemoteStartTransaction")).content.decode()

    assert 'list="id_id_tag_options"' in html
    assert '<option value="TAG-1">Accepted</option>' in html
    assert '<option value="TAG-BLOCKED">Blocked</option>' in html


def test_configuration_keys_are_suggested_and_read_only_ones_refused(admin_client, cp, charge_points):
    ConfigurationKey.objects.create(charge_point=cp, key="HeartbeatInterval", value="300")
    ConfigurationKey.objects.create(charge_point=cp, key="NumberOfConnectors", value="2", readonly=True)

    html = admin_client.get(command_url("ChangeConfiguration")).content.decode()
    response = admin_client.post(command_url("ChangeConfiguration"), {"key": "NumberOfConnectors", "value": "4"})

    assert '<option value="HeartbeatInterval">300</option>' in html
    assert 'value="NumberOfConnectors"' not in html
    assert response.context["command_form"].errors == {"key": ["NumberOfConnectors is read-only on this charge point."]}
    assert charge_points.sent == []


def test_remote_stop_offers_the_active_transactions_of_this_charge_point_only(admin_client, admin_user, cp, charge_points):
    now = timezone.now()
    active = Transaction.objects.create(charge_point=cp, connector_id=1, id_tag="TAG-1", start_timestamp=now)
    Transaction.objects.create(
        charge_point=cp, connector_id=2, id_tag="TAG-2", start_timestamp=now - timedelta(hours=2), stop_timestamp=now
    )
    other = ChargePoint.objects.create(id="CP-2")
    Transaction.objects.create(charge_point=other, connector_id=1, id_tag="TAG-3", start_timestamp=now)

    form = admin_client.get(command_url("RemoteStopTransaction")).context["command_form"]
    admin_client.post(command_url("RemoteStopTransaction"), {"transaction": str(active.pk)})

    assert [value for value, _ in form.fields["transaction"].choices] == [str(active.pk)]
    assert "TAG-1" in form.fields["transaction"].choices[0][1]
    assert sent_payloads(charge_points) == [("CP-1", "RemoteStopTransaction", {"transactionId": active.pk})]
    active.refresh_from_db()
    assert active.remote_stop_requested_at is not None


def test_reserve_now_allocates_the_reservation_id_and_shows_the_reservation(admin_client, cp, tag, charge_points):
    expiry = timezone.now() + timedelta(hours=1)

    response = admin_client.post(
        command_url("ReserveNow"),
        {"connector": "1", "id_tag": "TAG-1", "expiry_date": expiry.strftime("%Y-%m-%dT%H:%M"), "parent_id_tag": ""},
    )

    reservation = Reservation.objects.get()
    [sent] = charge_points.sent
    assert sent.payload == {
        "connectorId": 1,
        "idTag": "TAG-1",
        "expiryDate": sent.payload["expiryDate"],
        "reservationId": reservation.pk,
    }
    assert sent.source == "admin"
    assert (reservation.status, reservation.connector_id, reservation.id_tag) == (ReservationStatus.ACCEPTED, 1, "TAG-1")
    assert f"{reservation.pk} (Accepted)" in response.content.decode()


def test_reserve_now_refuses_an_expiry_date_in_the_past(admin_client, cp, tag, charge_points):
    response = admin_client.post(
        command_url("ReserveNow"), {"connector": "1", "id_tag": "TAG-1", "expiry_date": "2020-01-01T10:00"}
    )

    assert "expiry_date" in response.context["command_form"].errors
    assert charge_points.sent == [] and not Reservation.objects.exists()


def test_cancel_reservation_offers_the_accepted_reservations_and_cancels_one(admin_client, cp, charge_points):
    expiry = timezone.now() + timedelta(hours=1)
    accepted = Reservation.objects.create(
        charge_point=cp, connector_id=1, id_tag="TAG-1", expiry_date=expiry, status=ReservationStatus.ACCEPTED
    )
    Reservation.objects.create(
        charge_point=cp, connector_id=2, id_tag="TAG-2", expiry_date=expiry, status=ReservationStatus.USED
    )

    form = admin_client.get(command_url("CancelReservation")).context["command_form"]
    admin_client.post(command_url("CancelReservation"), {"reservation": str(accepted.pk)})

    assert [value for value, _ in form.fields["reservation"].choices] == [str(accepted.pk)]
    assert sent_payloads(charge_points) == [("CP-1", "CancelReservation", {"reservationId": accepted.pk})]
    accepted.refresh_from_db()
    assert accepted.status == ReservationStatus.CANCELLED


def test_an_accepted_charging_profile_is_installed_and_its_id_suggested_for_clearing(admin_client, cp, charge_points):
    admin_client.post(
        command_url("SetChargingProfile"),
        {
            "connector": "1",
            "charging_profile_id": "7",
            "stack_level": "0",
            "purpose": "TxDefaultProfile",
            "kind": "Relative",
            "charging_rate_unit": "A",
            "periods": "0:16",
        },
    )

    installation = ChargingProfileInstallation.objects.get()
    assert (installation.charge_point_id, installation.connector_id, installation.profile.charging_profile_id) == ("CP-1", 1, 7)
    set_form = admin_client.get(command_url("SetChargingProfile")).context["command_form"]
    assert set_form.fields["charging_profile_id"].initial == 8
    assert '<option value="7">' in admin_client.get(command_url("ClearChargingProfile")).content.decode()


# --- What goes wrong ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "error, shown, status",
    [
        (commands.ChargePointOffline("Charge point 'CP-1' is not connected"), "offline", CommandStatus.OFFLINE),
        (commands.CommandTimeout("No answer from 'CP-1' to Reset within 30 s"), "no answer (timed out)", CommandStatus.TIMEOUT),
        (
            commands.CallErrorReceived(
                "CP-1 answered Reset with CALLERROR NotSupported: not today",
                error_code="NotSupported",
                error_description="not today",
                error_details={},
            ),
            "CALLERROR NotSupported",
            CommandStatus.CALL_ERROR,
        ),
        (commands.QueueFull("'CP-1' already has 20 commands waiting; try again later"), "busy (command queue full)", CommandStatus.FAILED),
    ],
    ids=["offline", "timeout", "callerror", "queue-full"],
)
def test_a_command_without_an_answer_shows_why(admin_client, cp, charge_points, error, shown, status):
    charge_points.answers["CP-1"] = error

    response = admin_client.post(command_url("Reset"), {"type": "Soft"})

    assert response.status_code == 200
    html = response.content.decode()
    assert f"<strong>{escape(shown)}</strong>" in html
    assert escape(f"Reset to CP-1 failed: {error.message}") in html  # the error message
    assert 'class="error"' in html
    command = Command.objects.get()
    assert command.status == status and command.source == "admin"
    assert f'href="{url(Command, "change", command.pk)}"' in html


def test_an_offline_charge_point_is_flagged_before_sending(admin_client, charge_point):
    html = admin_client.get(command_url("Reset")).content.decode()

    assert "CP-1 looks offline" in html


def test_an_invalid_form_shows_its_errors_and_sends_nothing(admin_client, cp, charge_points):
    response = admin_client.post(command_url("Reset"), {})

    assert response.status_code == 200
    assert response.context["command_form"].errors == {"type": ["This field is required."]}
    assert "Please correct the error below." in response.content.decode()
    assert charge_points.sent == [] and not Command.objects.exists()


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"periods": "0:16\n0:8"}, "periods"),
        ({"periods": "0:16.25"}, "periods"),
        ({"periods": "zero:16"}, "periods"),
        ({"periods": "[{"}, "periods"),
        ({"periods": "0:16:4"}, "periods"),
        ({"periods": "0:1e40"}, "periods"),
        ({"purpose": "ChargePointMaxProfile"}, "connector"),
        ({"purpose": "TxProfile", "connector": "0"}, "connector"),
        ({"transaction_id": "5"}, "transaction_id"),
        ({"kind": "Recurring"}, "recurrency"),
        ({"recurrency": "Daily"}, "recurrency"),
        ({"valid_from": "2025-03-02T00:00", "valid_to": "2025-03-01T00:00"}, "valid_to"),
    ],
)
def test_a_charging_profile_breaking_the_spec_rules_is_refused_naming_the_field(
    admin_client, cp, charge_points, changes, field
):
    data = {
        "connector": "1",
        "charging_profile_id": "7",
        "stack_level": "0",
        "purpose": "TxDefaultProfile",
        "kind": "Relative",
        "charging_rate_unit": "A",
        "periods": "0:16",
        **changes,
    }

    response = admin_client.post(command_url("SetChargingProfile"), data)

    assert field in response.context["command_form"].errors
    assert charge_points.sent == []


def test_clearing_by_id_and_criteria_at_once_is_refused(admin_client, cp, charge_points):
    response = admin_client.post(command_url("ClearChargingProfile"), {"profile_id": "7", "connector": "1"})

    assert response.context["command_form"].non_field_errors()
    assert charge_points.sent == []


def test_a_payload_the_schema_refuses_is_not_sent_and_the_field_is_named(admin_client, cp, charge_points):
    profile_without_schedule = '{"chargingProfileId": 1, "stackLevel": 0, "chargingProfilePurpose": "TxProfile", "chargingProfileKind": "Relative"}'

    response = admin_client.post(
        command_url("RemoteStartTransaction"), {"id_tag": "TAG-1", "charging_profile": profile_without_schedule}
    )

    assert response.status_code == 200
    errors = response.context["command_form"].non_field_errors()
    assert "chargingProfile/chargingSchedule" in errors[0]
    assert "was not sent" in response.content.decode()
    assert charge_points.sent == [] and not Command.objects.exists()


def test_a_remote_start_profile_must_be_a_tx_profile(admin_client, cp, charge_points):
    response = admin_client.post(
        command_url("RemoteStartTransaction"),
        {"id_tag": "TAG-1", "charging_profile": '{"chargingProfilePurpose": "TxDefaultProfile"}'},
    )

    assert "charging_profile" in response.context["command_form"].errors
    assert charge_points.sent == []


def test_an_unknown_action_or_charge_point_is_not_found(admin_client, cp):
    assert admin_client.get(command_url("BootNotification")).status_code == 404
    assert admin_client.get(command_url("Reset", "CP-NOPE")).status_code == 404


def test_identities_with_special_characters_reach_their_charge_point(admin_client, charge_points):
    ChargePoint.objects.create(id="E2E*CP:1+a|b@c.d=e_f")

    page = command_url("Reset", "E2E*CP:1+a|b@c.d=e_f")
    assert admin_client.get(page).status_code == 200
    admin_client.post(page, {"type": "Soft"})

    assert sent_payloads(charge_points) == [("E2E*CP:1+a|b@c.d=e_f", "Reset", {"type": "Soft"})]


# --- Who may send -------------------------------------------------------------------------------------------


@pytest.fixture
def staff(django_user_model):
    user = django_user_model.objects.create_user("operator", password="pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_chargepoint"))
    return user


def test_a_user_who_is_not_staff_is_sent_to_the_login_page(client, django_user_model, cp, charge_points):
    client.force_login(django_user_model.objects.create_user("driver", password="pw"))

    get = client.get(command_url("Reset"))
    post = client.post(command_url("Reset"), {"type": "Hard"})

    for response in (get, post):
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login"))
    assert charge_points.sent == []


def test_staff_without_the_change_permission_may_not_send_commands(client, staff, cp, charge_points):
    client.force_login(staff)

    assert client.get(command_url("Reset")).status_code == 403
    assert client.post(command_url("Reset"), {"type": "Hard"}).status_code == 403
    page = client.get(url(ChargePoint, "change", "CP-1"))
    changelist = client.get(url(ChargePoint))
    assert page.status_code == 200
    assert command_url("Reset") not in page.content.decode()
    assert "reset_soft" not in changelist.content.decode()
    assert charge_points.sent == []


def test_staff_with_the_change_permission_send_commands_under_their_name(client, staff, cp, charge_points):
    staff.user_permissions.add(Permission.objects.get(codename="change_chargepoint"))
    client.force_login(staff)

    response = client.post(command_url("Reset"), {"type": "Soft"})

    assert response.status_code == 200
    assert Command.objects.get().user == staff
    assert charge_points.sent[0].user == staff


# --- Bulk actions -------------------------------------------------------------------------------------------


BULK = [
    ("reset_soft", "Reset (soft)", "Reset", {"type": "Soft"}),
    ("reset_hard", "Reset (hard)", "Reset", {"type": "Hard"}),
    ("make_operative", "Change availability: Operative", "ChangeAvailability", {"connectorId": 0, "type": "Operative"}),
    ("make_inoperative", "Change availability: Inoperative", "ChangeAvailability", {"connectorId": 0, "type": "Inoperative"}),
    ("get_configuration", "Get configuration", "GetConfiguration", {}),
    ("clear_cache", "Clear cache", "ClearCache", {}),
    (
        "send_full_local_list",
        "Send local list (full)",
        "SendLocalList",
        {"listVersion": 1, "updateType": "Full", "localAuthorizationList": [{"idTag": "TAG-1", "idTagInfo": ACCEPTED}]},
    ),
]


@pytest.mark.parametrize("name, label, action, payload", BULK, ids=[b[0] for b in BULK])
def test_a_bulk_action_sends_to_every_selected_charge_point_and_sums_up(
    admin_client, admin_user, cp, tag, charge_points, name, label, action, payload
):
    ChargePoint.objects.create(id="CP-2")
    ChargePoint.objects.create(id="CP-3")
    ChargePoint.objects.create(id="CP-4")  # not selected
    charge_points.answers["CP-2"] = commands.ChargePointOffline("Charge point 'CP-2' is not connected")
    charge_points.answers["CP-3"] = {"status": "Rejected"}

    response = admin_client.post(
        url(ChargePoint), {"action": name, "_selected_action": ["CP-3", "CP-1", "CP-2"]}, follow=True
    )

    assert response.status_code == 200
    assert sent_payloads(charge_points) == [(cp_id, action, payload) for cp_id in ("CP-1", "CP-2", "CP-3")]
    assert {(s.source, s.user) for s in charge_points.sent} == {("admin", admin_user)}
    first = "1 key" if action == "GetConfiguration" else "Accepted"
    assert f"{label}: CP-1: {first}; CP-2: offline; CP-3: Rejected" in response.content.decode()
    assert Command.objects.filter(user=admin_user, source="admin").count() == 3


def test_a_bulk_action_everyone_accepted_is_a_success(admin_client, cp, charge_points):
    response = admin_client.post(url(ChargePoint), {"action": "clear_cache", "_selected_action": ["CP-1"]}, follow=True)

    html = response.content.decode()
    assert '<li class="success">Clear cache: CP-1: Accepted</li>' in html


# --- The charge point page ----------------------------------------------------------------------------------


def test_the_charge_point_page_shows_configuration_profiles_and_recent_commands(admin_client, admin_user, cp):
    ConfigurationKey.objects.create(charge_point=cp, key="HeartbeatInterval", value="300")
    ConfigurationKey.objects.create(charge_point=cp, key="NumberOfConnectors", value="2", readonly=True)
    profile = ChargingProfile.objects.create(
        charge_point=cp, charging_profile_id=7, purpose="TxDefaultProfile", stack_level=0, kind="Relative", schedule={"chargingRateUnit": "A"}
    )
    ChargingProfileInstallation.objects.create(charge_point=cp, connector_id=1, profile=profile)
    ChargingProfileInstallation.objects.create(charge_point=cp, connector_id=2, profile=profile, cleared_at=timezone.now())
    ChargePoint.objects.filter(pk="CP-1").update(local_list_version=5)
    for i in range(12):
        Command.objects.create(
            charge_point=cp, action=f"Action{i:02}", source="admin", user=admin_user, status=CommandStatus.ANSWERED,
            response={"status": "Accepted"}, created_at=timezone.now() - timedelta(minutes=12 - i),
        )
    Command.objects.create(
        charge_point=cp, action="Reset", status=CommandStatus.CALL_ERROR, error_code="NotSupported",
        error_description="no resets here",
    )

    response = admin_client.get(url(ChargePoint, "change", "CP-1"))

    assert response.status_code == 200
    html = response.content.decode()
    inlines = {f.opts.model._meta.model_name: f for f in response.context["inline_admin_formsets"]}
    assert [f.original.key for f in inlines["configurationkey"]] == ["HeartbeatInterval", "NumberOfConnectors"]
    assert [f.original.connector_id for f in inlines["chargingprofileinstallation"]] == [1]
    assert "HeartbeatInterval" in html and "300" in html
    assert '<div class="readonly">5</div>' in html  # local list version
    # The latest ten commands, newest first, with their answers.
    actions = [c.action for c in response.context["recent_commands"]]
    assert actions == ["Reset"] + [f"Action{i:02}" for i in range(11, 2, -1)]
    assert "CALLERROR NotSupported: no resets here" in html
    assert "Action02" not in html
    # A button per operation.
    for action in FORMS:
        assert f'href="{command_url(action)}"' in html


def test_the_charge_point_page_still_saves_its_description(admin_client, cp):
    ConfigurationKey.objects.create(charge_point=cp, key="HeartbeatInterval", value="300")

    response = admin_client.post(
        url(ChargePoint, "change", "CP-1"),
        {"description": "Depot", "connectors-TOTAL_FORMS": "0", "connectors-INITIAL_FORMS": "0"},
    )

    assert response.status_code == 302
    cp.refresh_from_db()
    assert cp.description == "Depot"
    assert ConfigurationKey.objects.get().value == "300"


# --- Command log and the other admins -----------------------------------------------------------------------


@pytest.fixture
def logged(cp, admin_user):
    return [
        Command.objects.create(
            charge_point=cp, action="Reset", payload={"type": "Soft"}, source="admin", user=admin_user,
            status=CommandStatus.ANSWERED, response={"status": "Accepted"}, round_trip_ms=87,
        ),
        Command.objects.create(
            charge_point=cp, action="ClearCache", source="api", status=CommandStatus.CALL_ERROR,
            error_code="NotSupported", error_description="nope", error_details={"why": "test"},
        ),
    ]


def test_the_command_log_lists_commands_with_their_answers(admin_client, logged):
    response = admin_client.get(url(Command))

    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == logged[::-1]
    html = response.content.decode()
    assert "Accepted" in html and "87" in html and "admin" in html


@pytest.mark.parametrize(
    "query, actions",
    [
        ("status__exact=call_error", ["ClearCache"]),
        ("action=Reset", ["Reset"]),
        ("source__exact=api", ["ClearCache"]),
        ("q=Clear", ["ClearCache"]),
        ("q=CP-1", ["ClearCache", "Reset"]),
        ("charge_point__id__exact=CP-1", ["ClearCache", "Reset"]),  # the charge point page's link
    ],
)
def test_the_command_log_filters_and_searches(admin_client, logged, query, actions):
    response = admin_client.get(f"{url(Command)}?{query}")

    assert [c.action for c in response.context["cl"].result_list] == actions


def test_a_logged_command_shows_payload_response_and_error_as_json_and_stays_read_only(admin_client, logged):
    reset, clear_cache = logged

    reset_page = admin_client.get(url(Command, "change", reset.pk)).content.decode()
    error_page = admin_client.get(url(Command, "change", clear_cache.pk)).content.decode()

    assert escape(pretty_json({"type": "Soft"})) in reset_page
    assert escape(pretty_json({"status": "Accepted"})) in reset_page
    assert "NotSupported" in error_page and escape(pretty_json({"why": "test"})) in error_page
    assert admin_client.get(url(Command, "add")).status_code == 403


def test_charging_profiles_are_listed_with_where_they_are_installed(admin_client, cp):
    profile = ChargingProfile.objects.create(
        charge_point=cp, charging_profile_id=7, purpose="TxDefaultProfile", stack_level=0, kind="Relative",
        schedule={"chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16}]},
    )
    ChargingProfileInstallation.objects.create(charge_point=cp, connector_id=1, profile=profile)

    listing = admin_client.get(url(ChargingProfile))
    page = admin_client.get(url(ChargingProfile, "change", profile.pk))

    assert listing.status_code == 200 and "TxDefaultProfile" in listing.content.decode()
    assert page.status_code == 200
    profile.refresh_from_db()  # the schedule as the database keeps it (PostgreSQL's jsonb reorders keys)
    assert escape(pretty_json(profile.schedule)) in page.content.decode()
    assert [f.original.charge_point_id for f in page.context["inline_admin_formsets"][0]] == ["CP-1"]


def test_reservations_are_listed_with_their_current_status(admin_client, cp):
    past = Reservation.objects.create(
        charge_point=cp, connector_id=1, id_tag="TAG-OLD", expiry_date=datetime(2020, 1, 1, tzinfo=UTC),
        status=ReservationStatus.ACCEPTED,
    )

    listing = admin_client.get(url(Reservation))
    page = admin_client.get(url(Reservation, "change", past.pk))

    assert listing.status_code == 200 and page.status_code == 200
    html = listing.content.decode()
    assert "TAG-OLD" in html and "Expired" in html
    assert admin_client.get(url(Reservation, "add")).status_code == 403


def test_the_transaction_page_shows_when_a_remote_stop_was_accepted(admin_client, cp):
    tx = Transaction.objects.create(
        charge_point=cp, connector_id=1, id_tag="TAG-1", start_timestamp=timezone.now(),
        remote_stop_requested_at=datetime(2025, 3, 1, 10, 0, tzinfo=UTC),
    )

    html = admin_client.get(url(Transaction, "change", tx.pk)).content.decode()

    assert "Remote stop requested at" in html and "2025" in html


def test_firmware_and_diagnostics_statuses_link_to_their_command(admin_client, cp):
    update = Command.objects.create(charge_point=cp, action="UpdateFirmware", status=CommandStatus.ANSWERED, response={})
    FirmwareStatusNotification.objects.create(charge_point=cp, status="Downloaded", command=update)
    DiagnosticsStatusNotification.objects.create(charge_point=cp, status="Uploaded")

    firmware = admin_client.get(url(FirmwareStatusNotification)).content.decode()
    diagnostics = admin_client.get(url(DiagnosticsStatusNotification))

    assert f'<a href="{url(Command, "change", update.pk)}">#{update.pk}</a>' in firmware
    assert diagnostics.status_code == 200


# --- Version-neutral operations and "Send any message" --------------------------------------------------------

@pytest.fixture
def stations(charge_points):
    return charge_points


@pytest.fixture
def cs(db):
    """CS-1, a connected OCPP 2.0.1 station: EVSE 1 with connectors 1 and 2, EVSE 2 with connector 1."""
    station = ChargePoint.objects.create(id="CS-1")
    services.charge_point_connect(charge_point_id="CS-1", session_id="s2", ocpp_version="2.0.1", allow_unknown=False)
    for evse_id, connector_id, status in ((1, 1, "Available"), (1, 2, "Faulted"), (2, 1, "Occupied")):
        services.status_notification_create(
            charge_point_id="CS-1", evse_id=evse_id, connector_id=connector_id, status=status, error_code=""
        )
    station.refresh_from_db()
    return station


NEUTRAL_FIELDS = {
    # operation: (OCPP 1.6 fields, OCPP 2.0.1 fields)
    "start-charging": (["id_tag", "evse"], ["id_tag", "evse"]),
    "stop-charging": (["transaction"], ["transaction"]),
    "reset": (["type"], ["type", "evse"]),
    "unlock": (["evse"], ["evse", "connector"]),
    "change-availability": (["evse", "availability"], ["evse", "connector", "availability"]),
    "trigger-message": (["message", "evse"], ["message", "evse"]),
    "reserve": (["evse", "id_tag", "expiry", "parent_id_tag"],) * 2,
    "cancel-reservation": (["reservation"],) * 2,
    "set-charging-profile": (
        [
            "evse", "charging_profile_id", "stack_level", "purpose", "kind", "recurrency", "valid_from", "valid_to",
            "transaction", "charging_rate_unit", "periods", "duration", "start_schedule", "min_charging_rate",
        ],
    ) * 2,
    "clear-charging-profile": (["profile_id", "evse", "purpose", "stack_level"],) * 2,
    "composite-schedule": (["evse", "duration", "charging_rate_unit"],) * 2,
    "send-local-list": (["update_type"],) * 2,
    "update-firmware": (["location", "retrieve_date", "retries", "retry_interval"],) * 2,
    "fetch-logs": (["location", "retries", "retry_interval", "oldest", "latest"],) * 2,
    "get-configuration": (["keys"],) * 2,
    "change-configuration": (["key", "value"],) * 2,
}


def test_every_neutral_operation_has_a_form():
    assert set(OPERATION_FORMS) == set(NEUTRAL_FIELDS)


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
@pytest.mark.parametrize("name", sorted(NEUTRAL_FIELDS))
def test_each_operation_page_shows_the_neutral_fields_of_the_charge_points_version(admin_client, cp, cs, name, version):
    station = "CP-1" if version == "1.6" else "CS-1"

    response = admin_client.get(command_url(name, station))

    assert response.status_code == 200
    form = response.context["command_form"]
    assert set(form.fields) == set(NEUTRAL_FIELDS[name][0 if version == "1.6" else 1])
    html = response.content.decode()
    assert f"OCPP {version}" in html
    assert escape(form.submit_label) in html
    assert f"send {form.action} to {station}" in form.submit_label


def test_a_201_station_page_offers_the_neutral_operations_and_any_message(admin_client, cs):
    html = admin_client.get(url(ChargePoint, "change", "CS-1")).content.decode()

    for name in OPERATION_FORMS:
        assert f'href="{command_url(name, "CS-1")}"' in html
    assert f'href="{command_url("send-message", "CS-1")}"' in html
    assert ">Start charging</a>" in html
    for action in FORMS:
        assert f'href="{command_url(action, "CS-1")}"' not in html


def test_a_16_charge_point_page_keeps_its_per_action_forms_and_offers_any_message(admin_client, cp):
    html = admin_client.get(url(ChargePoint, "change", "CP-1")).content.decode()

    assert f'href="{command_url("send-message")}"' in html
    assert f'href="{command_url("RemoteStartTransaction")}"' in html


def test_16_forms_are_not_offered_to_a_201_station(admin_client, cs):
    assert admin_client.get(command_url("RemoteStartTransaction", "CS-1")).status_code == 404
    assert admin_client.get(command_url("Reset", "CS-1")).status_code == 404
    assert admin_client.get(command_url("reset", "CS-1")).status_code == 200


def test_the_evse_picker_of_a_201_station_shows_each_evse_with_its_connectors(admin_client, cs):
    form = admin_client.get(command_url("change-availability", "CS-1")).context["command_form"]

    assert form.fields["evse"].label == "EVSE"
    assert form.fields["evse"].choices == [
        ("0", "0 — whole charge point"),
        ("1", "1 — connector 1: Available, connector 2: Faulted"),
        ("2", "2 — connector 1: Occupied"),
    ]


EXPIRY_FORM, EXPIRY_SENT = "2030-01-01T10:00", "2030-01-01T10:00:00.000Z"

NEUTRAL_CASES_201 = [
    (
        "start-charging",
        {"id_tag": "TAG-1", "evse": "1"},
        "RequestStartTransaction",
        {"idToken": {"idToken": "TAG-1", "type": "Central"}, "remoteStartId": ANY, "evseId": 1},
    ),
    ("reset", {"type": "hard", "evse": "2"}, "Reset", {"type": "Immediate", "evseId": 2}),
    ("reset", {"type": "soft", "evse": ""}, "Reset", {"type": "OnIdle"}),
    ("unlock", {"evse": "1", "connector": "2"}, "UnlockConnector", {"evseId": 1, "connectorId": 2}),
    (
        "change-availability",
        {"evse": "0", "connector": "", "availability": "Inoperative"},
        "ChangeAvailability",
        {"operationalStatus": "Inoperative"},
    ),
    (
        "change-availability",
        {"evse": "1", "connector": "2", "availability": "Operative"},
        "ChangeAvailability",
        {"operationalStatus": "Operative", "evse": {"id": 1, "connectorId": 2}},
    ),
    (
        "trigger-message",
        {"message": "DiagnosticsStatusNotification", "evse": ""},
        "TriggerMessage",
        {"requestedMessage": "LogStatusNotification"},
    ),
    (
        "reserve",
        {"evse": "", "id_tag": "TAG-1", "expiry": EXPIRY_FORM, "parent_id_tag": ""},
        "ReserveNow",
        {"id": ANY, "expiryDateTime": EXPIRY_SENT, "idToken": {"idToken": "TAG-1", "type": "Central"}},
    ),
    ("cancel-reservation", {"reservation": "5"}, "CancelReservation", {"reservationId": 5}),
    (
        "set-charging-profile",
        {
            "evse": "0", "charging_profile_id": "3", "stack_level": "0", "purpose": "TxDefaultProfile",
            "kind": "Absolute", "recurrency": "", "charging_rate_unit": "W", "periods": "0:11000\n3600:7400:1",
            "start_schedule": EXPIRY_FORM,
        },
        "SetChargingProfile",
        {
            "evseId": 0,
            "chargingProfile": {
                "id": 3,
                "stackLevel": 0,
                "chargingProfilePurpose": "TxDefaultProfile",
                "chargingProfileKind": "Absolute",
                "chargingSchedule": [
                    {
                        "id": 3,
                        "startSchedule": EXPIRY_SENT,
                        "chargingRateUnit": "W",
                        "chargingSchedulePeriod": [
                            {"startPeriod": 0, "limit": 11000.0},
                            {"startPeriod": 3600, "limit": 7400.0, "numberPhases": 1},
                        ],
                    }
                ],
            },
        },
    ),
    (
        "clear-charging-profile",
        {"purpose": "ChargingStationMaxProfile"},
        "ClearChargingProfile",
        {"chargingProfileCriteria": {"chargingProfilePurpose": "ChargingStationMaxProfile"}},
    ),
    (
        "composite-schedule",
        {"evse": "1", "duration": "600", "charging_rate_unit": ""},
        "GetCompositeSchedule",
        {"evseId": 1, "duration": 600},
    ),
    (
        "send-local-list",
        {"update_type": "Full"},
        "SendLocalList",
        {
            "versionNumber": 1,
            "updateType": "Full",
            "localAuthorizationList": [
                {"idToken": {"idToken": "TAG-1", "type": "Central"}, "idTokenInfo": {"status": "Accepted"}}
            ],
        },
    ),
    (
        "update-firmware",
        {"location": "https://fw.example.com/fw.bin", "retrieve_date": EXPIRY_FORM},
        "UpdateFirmware",
        {"requestId": ANY, "firmware": {"location": "https://fw.example.com/fw.bin", "retrieveDateTime": EXPIRY_SENT}},
    ),
    (
        "fetch-logs",
        {"location": "ftp://logs.example.com/", "retries": "2"},
        "GetLog",
        {"logType": "DiagnosticsLog", "requestId": ANY, "log": {"remoteLocation": "ftp://logs.example.com/"}, "retries": 2},
    ),
    ("get-configuration", {"keys": ""}, "GetBaseReport", {"requestId": ANY, "reportBase": "FullInventory"}),
    (
        "get-configuration",
        {"keys": "OCPPCommCtrlr.HeartbeatInterval"},
        "GetVariables",
        {"getVariableData": [{"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}]},
    ),
    (
        "change-configuration",
        {"key": "OCPPCommCtrlr.HeartbeatInterval", "value": "60"},
        "SetVariables",
        {
            "setVariableData": [
                {"attributeValue": "60", "component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}
            ]
        },
    ),
]


@pytest.mark.parametrize(
    "name, data, action, payload", NEUTRAL_CASES_201, ids=[f"{c[0]}-{i}" for i, c in enumerate(NEUTRAL_CASES_201)]
)
def test_a_neutral_form_sends_the_201_message_and_shows_the_answer(
    admin_client, admin_user, cs, tag, stations, name, data, action, payload
):
    response = admin_client.post(command_url(name, "CS-1"), data)

    assert response.status_code == 200
    assert response.context["command_form"].errors == {}
    [sent] = stations.sent
    assert (sent.charge_point_id, sent.action, sent.payload) == ("CS-1", action, payload)
    assert (sent.source, sent.user) == ("admin", admin_user)
    html = response.content.decode()
    assert escape(f"CS-1 answered {action}: {response.context['outcome'].summary}.") in html
    assert escape(pretty_json(Command.objects.get().payload)) in html


NEUTRAL_CASES_16 = [
    ("start-charging", {"id_tag": "TAG-1", "evse": "2"}, "RemoteStartTransaction", {"idTag": "TAG-1", "connectorId": 2}),
    ("reset", {"type": "soft"}, "Reset", {"type": "Soft"}),
    ("unlock", {"evse": "1"}, "UnlockConnector", {"connectorId": 1}),
    ("change-availability", {"evse": "2", "availability": "Operative"}, "ChangeAvailability", {"connectorId": 2, "type": "Operative"}),
    ("trigger-message", {"message": "DiagnosticsStatusNotification", "evse": ""}, "TriggerMessage",
     {"requestedMessage": "DiagnosticsStatusNotification"}),
    ("fetch-logs", {"location": "ftp://logs.example.com/"}, "GetDiagnostics", {"location": "ftp://logs.example.com/"}),
    ("get-configuration", {"keys": "HeartbeatInterval"}, "GetConfiguration", {"key": ["HeartbeatInterval"]}),
    ("change-configuration", {"key": "HeartbeatInterval", "value": "60"}, "ChangeConfiguration",
     {"key": "HeartbeatInterval", "value": "60"}),
]


@pytest.mark.parametrize(
    "name, data, action, payload", NEUTRAL_CASES_16, ids=[f"{c[0]}-{i}" for i, c in enumerate(NEUTRAL_CASES_16)]
)
def test_a_neutral_form_sends_the_16_message_to_a_16_charge_point(admin_client, cp, tag, charge_points, name, data, action, payload):
    response = admin_client.post(command_url(name), data)

    assert response.context["command_form"].errors == {}
    assert sent_payloads(charge_points) == [("CP-1", action, payload)]
    assert escape(f"CP-1 answered {action}:") in response.content.decode()


@pytest.mark.parametrize("page", ["change-configuration", "ChangeConfiguration"])
def test_an_authorization_key_set_from_the_admin_is_sent_but_shown_as_the_marker(admin_client, cp, charge_points, page):
    secret = "0123456789abcdef0123456789abcdef01234567"

    response = admin_client.post(command_url(page), {"key": "AuthorizationKey", "value": secret})

    assert sent_payloads(charge_points) == [("CP-1", "ChangeConfiguration", {"key": "AuthorizationKey", "value": secret})]
    command = Command.objects.get()
    assert command.payload == {"key": "AuthorizationKey", "value": "***"}
    # The outcome shows the logged payload; the bound form still echoes what the operator typed.
    assert escape(pretty_json({"key": "AuthorizationKey", "value": "***"})) in response.content.decode()
    assert secret not in admin_client.get(url(Command, "change", command.pk)).content.decode()
    assert ConfigurationKey.objects.get(key="AuthorizationKey").value is None


def test_stop_charging_offers_the_201_transactions_by_their_station_id(admin_client, cs, stations):
    tx = Transaction.objects.create(charge_point=cs, transaction_id="tx-9", evse_id=1, connector_id=2, id_tag="TAG-1")

    form = admin_client.get(command_url("stop-charging", "CS-1")).context["command_form"]
    admin_client.post(command_url("stop-charging", "CS-1"), {"transaction": str(tx.pk)})

    assert form.fields["transaction"].choices == [(str(tx.pk), f"{tx.pk} (tx-9) — EVSE 1, TAG-1")]
    assert sent_payloads(stations) == [("CS-1", "RequestStopTransaction", {"transactionId": "tx-9"})]


def test_the_reserve_form_shows_the_reservation_it_made(admin_client, cs, tag, stations):
    response = admin_client.post(
        command_url("reserve", "CS-1"), {"evse": "2", "id_tag": "TAG-1", "expiry": EXPIRY_FORM, "parent_id_tag": ""}
    )

    reservation = Reservation.objects.get()
    assert (reservation.charge_point_id, reservation.connector_id, reservation.status) == ("CS-1", 2, "Accepted")
    assert response.context["reservation"] == reservation
    assert stations.sent[0].payload["id"] == reservation.pk


def test_a_201_configuration_key_must_name_component_and_variable(admin_client, cs, stations):
    response = admin_client.post(command_url("change-configuration", "CS-1"), {"key": "HeartbeatInterval", "value": "1"})

    assert "key" in response.context["command_form"].errors
    assert stations.sent == []


def test_a_201_id_token_may_be_36_characters(admin_client, cs, stations):
    admin_client.post(command_url("start-charging", "CS-1"), {"id_tag": "T" * 36, "evse": ""})

    assert stations.sent[0].payload["idToken"]["idToken"] == "T" * 36


@pytest.mark.parametrize("station, version", [("CP-1", "1.6"), ("CS-1", "2.0.1")])
def test_send_any_message_offers_every_message_of_the_version(admin_client, cp, cs, station, version):
    form = admin_client.get(command_url("send-message", station)).context["command_form"]

    assert [value for value, _ in form.fields["message"].choices] == list(commands.actions_for(version))


@pytest.mark.parametrize(
    "station, data, sent",
    [
        ("CS-1", {"message": "ClearCache", "payload_json": ""}, ("CS-1", "ClearCache", {})),
        (
            "CS-1",
            {"message": "GetReport", "payload_json": '{"requestId": 9, "componentCriteria": ["Problem"]}'},
            ("CS-1", "GetReport", {"requestId": 9, "componentCriteria": ["Problem"]}),
        ),
        ("CP-1", {"message": "DataTransfer", "payload_json": '{"vendorId": "com.acme"}'}, ("CP-1", "DataTransfer", {"vendorId": "com.acme"})),
    ],
)
def test_send_any_message_sends_the_payload_as_typed(admin_client, admin_user, cp, cs, stations, station, data, sent):
    response = admin_client.post(command_url("send-message", station), data)

    assert response.context["command_form"].errors == {}
    assert sent_payloads(stations) == [sent]
    assert stations.sent[0].user == admin_user
    assert escape(f"{station} answered {sent[1]}:") in response.content.decode()


@pytest.mark.parametrize(
    "data, error",
    [
        ({"message": "ClearCache", "payload_json": "{nope"}, "Not valid JSON"),
        ({"message": "ClearCache", "payload_json": "[1]"}, "The payload is a JSON object"),
        ({"message": "BootNotification", "payload_json": "{}"}, "Select a valid choice"),
    ],
)
def test_send_any_message_refuses_what_is_not_a_message_of_the_version(admin_client, cs, stations, data, error):
    response = admin_client.post(command_url("send-message", "CS-1"), data)

    assert error in str(response.context["command_form"].errors)
    assert stations.sent == []


def test_send_any_message_shows_a_schema_violation_and_sends_nothing(admin_client, cs, stations):
    response = admin_client.post(command_url("send-message", "CS-1"), {"message": "Reset", "payload_json": '{"type": "Hard"}'})

    assert response.status_code == 200
    assert "type" in str(response.context["command_form"].non_field_errors())
    assert stations.sent == []
    assert not Command.objects.exists()


def test_send_any_message_can_be_prefilled_from_the_query_string(admin_client, cs):
    page = admin_client.get(command_url("send-message", "CS-1") + "?message=GetReport")

    assert page.context["command_form"]["message"].value() == "GetReport"


def test_staff_without_the_change_permission_may_not_send_operations(client, staff, cs, stations):
    client.force_login(staff)

    assert client.get(command_url("reset", "CS-1")).status_code == 403
    assert client.post(command_url("send-message", "CS-1"), {"message": "ClearCache"}).status_code == 403
    assert stations.sent == []


def test_profile_purposes_are_labelled_in_the_versions_words(admin_client, cp, cs):
    v16 = admin_client.get(command_url("set-charging-profile")).context["command_form"]
    v201 = admin_client.get(command_url("set-charging-profile", "CS-1")).context["command_form"]

    assert v16.fields["purpose"].choices[0] == ("ChargingStationMaxProfile", "ChargePointMaxProfile")
    assert v201.fields["purpose"].choices[0] == ("ChargingStationMaxProfile", "ChargingStationMaxProfile")
