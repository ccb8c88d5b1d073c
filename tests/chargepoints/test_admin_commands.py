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

from chargepoints import commands, operations, services
from chargepoints.admin_commands.operation_forms import OPERATION_FORMS
from chargepoints.admin_commands.outcomes import pretty_json
from chargepoints.exceptions import CommandOutcome
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

    def __call__(self, charge_point_id, action, payload, *, timeout=None, source="system", user=None, secret_change=False):
        payload = commands.normalise_payload(payload)
        version = ChargePoint.objects.filter(pk=charge_point_id).values_list("ocpp_version", flat=True).first() or "1.6"
        commands.validate(
            version, action, payload, secret_change=secret_change
        )  # raises InvalidPayload before anything is logged, like the real path
        self.sent.append(Sent(charge_point_id, action, payload, source, user))
        command = services.command_create(  # the real path's log, secrets hidden
            charge_point_id=charge_point_id, ocpp_version=version, action=action, payload=payload, source=source, user=user
        )
        default = ANSWERS_201.get(action) if version == "2.0.1" else None
        answer = self.answers.get(charge_point_id, default or ANSWERS.get(action, ACCEPTED))
        if isinstance(answer, commands.CommandError):
            answer.command_id = command.pk
            services.command_finish(
                command_id=command.pk,
                outcome=CommandOutcome(
                    status=ERROR_STATUSES.get(type(answer), CommandStatus.FAILED),
                    error_code=answer.details.get("error_code", ""),
                    error_description=answer.details.get("error_description", ""),
                ),
            )
            raise answer
        services.command_finish(
            command_id=command.pk, outcome=CommandOutcome(status=CommandStatus.ANSWERED, response=answer, round_trip_ms=42)
        )
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
        services.status_notification_create(charge_point_id="CP-1", connector_id=connector_id, status=status, error_code="NoError")
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


# --- One page per operation, for either version -------------------------------------------------------------


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


@pytest.fixture(params=["1.6", "2.0.1"])
def station(request, cp, cs):
    """The id of CP-1 (OCPP 1.6) or CS-1 (OCPP 2.0.1): behaviour both versions share."""
    return {"1.6": "CP-1", "2.0.1": "CS-1"}[request.param]


FIELDS = {
    # operation: (OCPP 1.6 fields, OCPP 2.0.1 fields), named after the operation's arguments
    "start-charging": (["id_tag", "evse_id", "charging_profile", "force"],) * 2,
    "stop-charging": (["transaction"],) * 2,
    "reset": (["type"], ["type", "evse_id"]),
    "unlock": (["evse_id"], ["evse_id", "connector_id"]),
    "change-availability": (["evse_id", "operative"], ["evse_id", "connector_id", "operative"]),
    "trigger-message": (["message", "evse_id"],) * 2,
    "reserve": (["evse_id", "id_tag", "expiry", "parent_id_tag"],) * 2,
    "cancel-reservation": (["reservation_id"],) * 2,
    "set-charging-profile": (
        [
            "evse_id",
            "charging_profile_id",
            "stack_level",
            "purpose",
            "kind",
            "recurrency",
            "valid_from",
            "valid_to",
            "transaction",
            "charging_rate_unit",
            "periods",
            "duration_s",
            "start_schedule",
            "min_charging_rate",
        ],
    )
    * 2,
    "clear-charging-profile": (["charging_profile_id", "evse_id", "purpose", "stack_level"],) * 2,
    "composite-schedule": (["evse_id", "duration_s", "charging_rate_unit"],) * 2,
    "send-local-list": (["update_type"],) * 2,
    "update-firmware": (["location", "retrieve_date", "retries", "retry_interval_s"],) * 2,
    "fetch-logs": (["location", "retries", "retry_interval_s", "oldest", "latest"],) * 2,
    "get-configuration": (["keys"],) * 2,
    "change-configuration": (["key", "value"],) * 2,
    "change-password": (["password"],) * 2,
    "install-certificate": (["certificate_type", "certificate"],) * 2,
    "get-installed-certificate-ids": (["certificate_type"], ["certificate_types"]),  # 1.6 lists one type at a time
    # `installed` picks a listed certificate, whose hash data it sends; or the hash data is typed in.
    "delete-certificate": (["installed", "hash_algorithm", "issuer_name_hash", "issuer_key_hash", "serial_number"],) * 2,
    "renew-certificate": ([],) * 2,
}


def test_every_operation_has_a_form_found_by_its_name():
    assert set(OPERATION_FORMS) == set(operations.OPERATIONS) == set(FIELDS)
    assert all(form.operation == name for name, form in OPERATION_FORMS.items())


@pytest.mark.parametrize("name", sorted(FIELDS))
def test_each_operation_page_shows_the_fields_of_the_charge_points_version(admin_client, station, name):
    response = admin_client.get(command_url(name, station))

    assert response.status_code == 200
    form = response.context["command_form"]
    assert set(form.fields) == set(FIELDS[name][0 if form.version == "1.6" else 1])
    html = response.content.decode()
    for field in form.fields:
        assert f'name="{field}"' in html
    assert f"OCPP {form.version}" in html
    assert escape(f"{operations.OPERATIONS[name].label}: send {form.action} to {station}") in html
    assert f'<a href="{url(ChargePoint, "change", station)}">{station}</a>' in html  # breadcrumbs back to it


def test_every_charge_point_page_offers_the_operations_by_group_and_any_message(admin_client, station):
    html = admin_client.get(url(ChargePoint, "change", station)).content.decode()

    for group, members in operations.groups():
        assert f"<strong>{escape(group)}</strong>" in html
        for operation in members:
            assert f'href="{command_url(operation.name, station)}"' in html
            assert f">{operation.label}</a>" in html
    assert f'href="{command_url("send-message", station)}"' in html


def test_an_unknown_page_or_charge_point_is_not_found(admin_client, cp):
    assert admin_client.get(command_url("RemoteStartTransaction")).status_code == 404  # a message, not an operation
    assert admin_client.get(command_url("BootNotification")).status_code == 404
    assert admin_client.get(command_url("reset", "CP-NOPE")).status_code == 404


EXPIRY_FORM, EXPIRY_SENT = "2030-01-01T10:00", "2030-01-01T10:00:00.000Z"
PROFILE_7 = {
    "charging_profile_id": "7",
    "stack_level": "0",
    "purpose": "TxDefaultProfile",
    "kind": "Relative",
    "charging_rate_unit": "A",
    "periods": "0:16",
}

CASES = [
    # (charge point, operation, form data, message sent, payload sent)
    (
        "CP-1",
        "change-availability",
        {"evse_id": "0", "operative": "Inoperative"},
        "ChangeAvailability",
        {"connectorId": 0, "type": "Inoperative"},
    ),
    (
        "CP-1",
        "change-availability",
        {"evse_id": "2", "operative": "Operative"},
        "ChangeAvailability",
        {"connectorId": 2, "type": "Operative"},
    ),
    (
        "CS-1",
        "change-availability",
        {"evse_id": "0", "operative": "Inoperative"},
        "ChangeAvailability",
        {"operationalStatus": "Inoperative"},
    ),
    (
        "CS-1",
        "change-availability",
        {"evse_id": "1", "connector_id": "2", "operative": "Operative"},
        "ChangeAvailability",
        {"operationalStatus": "Operative", "evse": {"id": 1, "connectorId": 2}},
    ),
    (
        "CP-1",
        "change-configuration",
        {"key": "HeartbeatInterval", "value": "60"},
        "ChangeConfiguration",
        {"key": "HeartbeatInterval", "value": "60"},
    ),
    (
        "CS-1",
        "change-configuration",
        {"key": "OCPPCommCtrlr.HeartbeatInterval", "value": "60"},
        "SetVariables",
        {"setVariableData": [{"attributeValue": "60", "component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}]},
    ),
    ("CP-1", "get-configuration", {"keys": ""}, "GetConfiguration", {}),
    (
        "CP-1",
        "get-configuration",
        {"keys": "HeartbeatInterval, MeterValueSampleInterval,"},
        "GetConfiguration",
        {"key": ["HeartbeatInterval", "MeterValueSampleInterval"]},
    ),
    ("CS-1", "get-configuration", {"keys": ""}, "GetBaseReport", {"requestId": ANY, "reportBase": "FullInventory"}),
    (
        "CS-1",
        "get-configuration",
        {"keys": "OCPPCommCtrlr.HeartbeatInterval"},
        "GetVariables",
        {"getVariableData": [{"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}]},
    ),
    ("CP-1", "start-charging", {"id_tag": "TAG-1", "evse_id": ""}, "RemoteStartTransaction", {"idTag": "TAG-1"}),
    (
        "CP-1",
        "start-charging",
        {
            "id_tag": "TAG-1",
            "evse_id": "2",
            "charging_profile": '{"charging_profile_id": 1, "stack_level": 0, "purpose": "TxProfile", "kind": "Relative",'
            ' "charging_rate_unit": "A", "periods": [{"start_period_s": 0, "limit": 16}]}',
        },
        "RemoteStartTransaction",
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
    (
        "CS-1",
        "start-charging",
        {"id_tag": "TAG-1", "evse_id": "1"},
        "RequestStartTransaction",
        {"idToken": {"idToken": "TAG-1", "type": "Central"}, "remoteStartId": ANY, "evseId": 1},
    ),
    ("CP-1", "reset", {"type": "hard"}, "Reset", {"type": "Hard"}),
    ("CS-1", "reset", {"type": "hard", "evse_id": "2"}, "Reset", {"type": "Immediate", "evseId": 2}),
    ("CS-1", "reset", {"type": "soft", "evse_id": ""}, "Reset", {"type": "OnIdle"}),
    ("CP-1", "unlock", {"evse_id": "2"}, "UnlockConnector", {"connectorId": 2}),
    ("CS-1", "unlock", {"evse_id": "1", "connector_id": "2"}, "UnlockConnector", {"evseId": 1, "connectorId": 2}),
    ("CP-1", "fetch-logs", {"location": "ftp://logs.example.com/up/"}, "GetDiagnostics", {"location": "ftp://logs.example.com/up/"}),
    (
        "CP-1",
        "fetch-logs",
        {
            "location": "ftp://logs.example.com/up/",
            "retries": "3",
            "retry_interval_s": "60",
            "oldest": "2025-03-01T10:00",
            "latest": "2025-03-01T12:30",
        },
        "GetDiagnostics",
        {
            "location": "ftp://logs.example.com/up/",
            "retries": 3,
            "retryInterval": 60,
            "startTime": "2025-03-01T10:00:00.000Z",
            "stopTime": "2025-03-01T12:30:00.000Z",
        },
    ),
    (
        "CS-1",
        "fetch-logs",
        {"location": "ftp://logs.example.com/", "retries": "2"},
        "GetLog",
        {"logType": "DiagnosticsLog", "requestId": ANY, "log": {"remoteLocation": "ftp://logs.example.com/"}, "retries": 2},
    ),
    (
        "CP-1",
        "update-firmware",
        {"location": "https://fw.example.com/2.0.bin", "retrieve_date": "2025-03-01T10:00"},
        "UpdateFirmware",
        {"location": "https://fw.example.com/2.0.bin", "retrieveDate": "2025-03-01T10:00:00.000Z"},
    ),
    (
        "CP-1",
        "update-firmware",
        {"location": "https://fw.example.com/2.0.bin", "retrieve_date": "2025-03-01T10:00", "retries": "0", "retry_interval_s": "30"},
        "UpdateFirmware",
        {"location": "https://fw.example.com/2.0.bin", "retrieveDate": "2025-03-01T10:00:00.000Z", "retries": 0, "retryInterval": 30},
    ),
    (
        "CS-1",
        "update-firmware",
        {"location": "https://fw.example.com/fw.bin", "retrieve_date": EXPIRY_FORM},
        "UpdateFirmware",
        {"requestId": ANY, "firmware": {"location": "https://fw.example.com/fw.bin", "retrieveDateTime": EXPIRY_SENT}},
    ),
    (
        "CP-1",
        "send-local-list",
        {"update_type": "Full"},
        "SendLocalList",
        {"listVersion": 1, "updateType": "Full", "localAuthorizationList": [{"idTag": "TAG-1", "idTagInfo": ACCEPTED}]},
    ),
    (
        "CS-1",
        "send-local-list",
        {"update_type": "Full"},
        "SendLocalList",
        {
            "versionNumber": 1,
            "updateType": "Full",
            "localAuthorizationList": [{"idToken": {"idToken": "TAG-1", "type": "Central"}, "idTokenInfo": {"status": "Accepted"}}],
        },
    ),
    (
        "CP-1",
        "set-charging-profile",
        {**PROFILE_7, "evse_id": "1", "periods": "0:16\n3600:8.5:1\n"},
        "SetChargingProfile",
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
                        {"startPeriod": 0, "limit": 16},
                        {"startPeriod": 3600, "limit": 8.5, "numberPhases": 1},
                    ],
                },
            },
        },
    ),
    (
        "CP-1",
        "set-charging-profile",
        {
            "evse_id": "0",
            "charging_profile_id": "8",
            "stack_level": "2",
            "purpose": "ChargingStationMaxProfile",
            "kind": "Recurring",
            "recurrency": "Daily",
            "valid_from": "2025-03-01T00:00",
            "valid_to": "2025-12-31T23:59",
            "charging_rate_unit": "W",
            "periods": '[{"start_period_s": 0, "limit": 11000}, {"start_period_s": 28800, "limit": 7400.5, "number_phases": 3}]',
            "duration_s": "86400",
            "start_schedule": "2025-03-01T00:00",
            "min_charging_rate": "1400.5",
        },
        "SetChargingProfile",
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
                        {"startPeriod": 0, "limit": 11000},
                        {"startPeriod": 28800, "limit": 7400.5, "numberPhases": 3},
                    ],
                    "minChargingRate": 1400.5,
                },
            },
        },
    ),
    (
        "CS-1",
        "set-charging-profile",
        {
            **PROFILE_7,
            "evse_id": "0",
            "charging_profile_id": "3",
            "kind": "Absolute",
            "charging_rate_unit": "W",
            "periods": "0:11000\n3600:7400:1",
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
                            {"startPeriod": 0, "limit": 11000},
                            {"startPeriod": 3600, "limit": 7400, "numberPhases": 1},
                        ],
                    }
                ],
            },
        },
    ),
    ("CP-1", "clear-charging-profile", {"charging_profile_id": "7"}, "ClearChargingProfile", {"id": 7}),
    (
        "CP-1",
        "clear-charging-profile",
        {"evse_id": "1", "purpose": "TxDefaultProfile", "stack_level": "0"},
        "ClearChargingProfile",
        {"connectorId": 1, "chargingProfilePurpose": "TxDefaultProfile", "stackLevel": 0},
    ),
    ("CP-1", "clear-charging-profile", {}, "ClearChargingProfile", {}),
    (
        "CS-1",
        "clear-charging-profile",
        {"purpose": "ChargingStationMaxProfile"},
        "ClearChargingProfile",
        {"chargingProfileCriteria": {"chargingProfilePurpose": "ChargingStationMaxProfile"}},
    ),
    ("CP-1", "composite-schedule", {"evse_id": "0", "duration_s": "3600"}, "GetCompositeSchedule", {"connectorId": 0, "duration": 3600}),
    (
        "CP-1",
        "composite-schedule",
        {"evse_id": "1", "duration_s": "600", "charging_rate_unit": "W"},
        "GetCompositeSchedule",
        {"connectorId": 1, "duration": 600, "chargingRateUnit": "W"},
    ),
    ("CS-1", "composite-schedule", {"evse_id": "1", "duration_s": "600"}, "GetCompositeSchedule", {"evseId": 1, "duration": 600}),
    ("CP-1", "trigger-message", {"message": "StatusNotification"}, "TriggerMessage", {"requestedMessage": "StatusNotification"}),
    (
        "CP-1",
        "trigger-message",
        {"message": "MeterValues", "evse_id": "1"},
        "TriggerMessage",
        {"requestedMessage": "MeterValues", "connectorId": 1},
    ),
    (
        "CS-1",
        "trigger-message",
        {"message": "DiagnosticsStatusNotification"},
        "TriggerMessage",
        {"requestedMessage": "LogStatusNotification"},
    ),
    (
        "CS-1",
        "reserve",
        {"id_tag": "TAG-1", "expiry": EXPIRY_FORM},
        "ReserveNow",
        {"id": ANY, "expiryDateTime": EXPIRY_SENT, "idToken": {"idToken": "TAG-1", "type": "Central"}},
    ),
    ("CS-1", "cancel-reservation", {"reservation_id": "5"}, "CancelReservation", {"reservationId": 5}),
]


@pytest.mark.parametrize("charge_point_id, name, data, action, payload", CASES, ids=[f"{c[1]}-{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_an_operation_form_sends_the_versions_message_and_shows_the_answer(
    admin_client, admin_user, cp, cs, tag, charge_points, charge_point_id, name, data, action, payload
):
    response = admin_client.post(command_url(name, charge_point_id), data)

    assert response.status_code == 200
    assert response.context["command_form"].errors == {}
    [sent] = charge_points.sent
    assert (sent.charge_point_id, sent.action, sent.payload) == (charge_point_id, action, payload)
    assert (sent.source, sent.user) == ("admin", admin_user)
    html = response.content.decode()
    command = Command.objects.get()
    # The full response as the charge point sent it (and as logged: PostgreSQL's jsonb may reorder its keys),
    # and the request as logged.
    shown = response.context["outcome"].response
    assert escape(pretty_json(shown)) in html and shown == command.response
    assert escape(pretty_json(command.payload)) in html
    assert escape(f"{charge_point_id} answered {action}: {response.context['outcome'].summary}.") in html
    assert (command.action, command.source, command.user) == (action, "admin", admin_user)


def test_form_dates_are_read_in_the_operators_time_zone_and_sent_in_utc(admin_client, cp, charge_points, settings):
    settings.TIME_ZONE = "Europe/Berlin"

    admin_client.post(command_url("update-firmware"), {"location": "https://fw.example.com/x.bin", "retrieve_date": "2025-07-01T12:00"})

    assert charge_points.sent[0].payload["retrieveDate"] == "2025-07-01T10:00:00.000Z"


def test_the_answer_summarises_what_answers_without_a_status_say(admin_client, cp, charge_points):
    html = admin_client.post(command_url("get-configuration"), {"keys": ""}).content.decode()

    assert "CP-1 answered GetConfiguration: 1 key." in html
    # What follows from the answer is stored: the configuration snapshot.
    assert ConfigurationKey.objects.get(charge_point=cp).value == "300"


def test_a_rejection_is_shown_as_a_warning(admin_client, station, charge_points):
    charge_points.answers[station] = {"status": "Rejected"}

    html = admin_client.post(command_url("reset", station), {"type": "soft"}).content.decode()

    assert 'class="warning"' in html
    assert f"{station} answered Reset: Rejected." in html


# --- Pickers, in the version's words ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "charge_point_id, label, choices",
    [
        ("CP-1", "connector", [("0", "0 — whole charge point (Available)"), ("1", "1 — Charging"), ("2", "2 — Available")]),
        (
            "CS-1",
            "EVSE",
            [
                ("0", "0 — whole charge point"),
                ("1", "1 — connector 1: Available, connector 2: Faulted"),
                ("2", "2 — connector 1: Occupied"),
            ],
        ),
    ],
)
def test_the_evse_picker_offers_the_known_evses_in_the_versions_words(admin_client, cp, cs, charge_point_id, label, choices):
    form = admin_client.get(command_url("change-availability", charge_point_id)).context["command_form"]
    unlock = admin_client.get(command_url("unlock", charge_point_id)).context["command_form"]

    assert (form.fields["evse_id"].label, form.fields["evse_id"].choices) == (label, choices)
    assert "0" not in [value for value, _ in unlock.fields["evse_id"].choices]  # no unlocking the whole charge point


@pytest.mark.parametrize(
    "charge_point_id, purpose, diagnostics, parent",
    [
        ("CP-1", "ChargePointMaxProfile", "DiagnosticsStatusNotification", "parent id tag"),
        ("CS-1", "ChargingStationMaxProfile", "LogStatusNotification", "group id token"),
    ],
)
def test_choices_are_labelled_in_the_versions_words(admin_client, cp, cs, charge_point_id, purpose, diagnostics, parent):
    def form(name):
        return admin_client.get(command_url(name, charge_point_id)).context["command_form"]

    assert form("set-charging-profile").fields["purpose"].choices[0] == ("ChargingStationMaxProfile", purpose)
    assert ("DiagnosticsStatusNotification", diagnostics) in form("trigger-message").fields["message"].choices
    assert form("reserve").fields["parent_id_tag"].label == parent


def test_connectors_are_typed_in_while_the_charge_point_has_reported_none(admin_client, charge_point, charge_points):
    response = admin_client.get(command_url("unlock"))
    assert '<input type="number" name="evse_id"' in response.content.decode()

    admin_client.post(command_url("unlock"), {"evse_id": "3"})

    assert sent_payloads(charge_points) == [("CP-1", "UnlockConnector", {"connectorId": 3})]


def test_a_connector_the_charge_point_does_not_have_is_refused(admin_client, cp, charge_points):
    response = admin_client.post(command_url("unlock"), {"evse_id": "9"})

    assert "evse_id" in response.context["command_form"].errors
    assert charge_points.sent == []


def test_id_tag_pickers_suggest_the_id_tags_table(admin_client, station, tag):
    IdTag.objects.create(id_tag="TAG-BLOCKED", status="Blocked")

    html = admin_client.get(command_url("start-charging", station)).content.decode()

    assert 'list="id_id_tag_options"' in html
    assert '<option value="TAG-1">Accepted</option>' in html
    assert '<option value="TAG-BLOCKED">Blocked</option>' in html


@pytest.mark.parametrize("charge_point_id, length, sent", [("CP-1", 21, False), ("CS-1", 36, True)])
def test_an_id_tag_may_be_as_long_as_the_version_allows(admin_client, cp, cs, charge_points, charge_point_id, length, sent):
    IdTag.objects.create(id_tag="T" * length)
    response = admin_client.post(command_url("start-charging", charge_point_id), {"id_tag": "T" * length})

    assert ("id_tag" in response.context["command_form"].errors) is not sent
    assert len(charge_points.sent) == sent


def test_a_start_for_an_id_tag_that_is_not_accepted_here_is_sent_only_when_forced(admin_client, cp, charge_points):
    IdTag.objects.create(id_tag="TAG-BLOCKED", status="Blocked")

    unknown = admin_client.post(command_url("start-charging"), {"id_tag": "TAG-NOPE"})
    blocked = admin_client.post(command_url("start-charging"), {"id_tag": "TAG-BLOCKED"})
    forced = admin_client.post(command_url("start-charging"), {"id_tag": "TAG-BLOCKED", "force": "on"})

    assert "not registered" in unknown.context["command_form"].errors["id_tag"][0]
    assert "Blocked" in blocked.context["command_form"].errors["id_tag"][0]
    assert forced.context["command_form"].errors == {}
    assert [call.payload["idTag"] for call in charge_points.sent] == ["TAG-BLOCKED"]


def test_configuration_keys_are_suggested_and_read_only_ones_refused(admin_client, cp, charge_points):
    ConfigurationKey.objects.create(charge_point=cp, key="HeartbeatInterval", value="300")
    ConfigurationKey.objects.create(charge_point=cp, key="NumberOfConnectors", value="2", readonly=True)

    html = admin_client.get(command_url("change-configuration")).content.decode()
    response = admin_client.post(command_url("change-configuration"), {"key": "NumberOfConnectors", "value": "4"})

    assert '<option value="HeartbeatInterval">300</option>' in html
    assert 'value="NumberOfConnectors"' not in html
    assert response.context["command_form"].errors == {"key": ["NumberOfConnectors is read-only on this charge point."]}
    assert charge_points.sent == []


def test_stop_charging_offers_the_active_transactions_of_this_charge_point_only(admin_client, cp, charge_points):
    now = timezone.now()
    active = Transaction.objects.create(charge_point=cp, connector_id=1, id_tag="TAG-1", start_timestamp=now)
    Transaction.objects.create(
        charge_point=cp, connector_id=2, id_tag="TAG-2", start_timestamp=now - timedelta(hours=2), stop_timestamp=now
    )
    other = ChargePoint.objects.create(id="CP-2")
    Transaction.objects.create(charge_point=other, connector_id=1, id_tag="TAG-3", start_timestamp=now)

    form = admin_client.get(command_url("stop-charging")).context["command_form"]
    admin_client.post(command_url("stop-charging"), {"transaction": str(active.pk)})

    assert [value for value, _ in form.fields["transaction"].choices] == [str(active.pk)]
    assert "TAG-1" in form.fields["transaction"].choices[0][1]
    assert sent_payloads(charge_points) == [("CP-1", "RemoteStopTransaction", {"transactionId": active.pk})]
    active.refresh_from_db()
    assert active.remote_stop_requested_at is not None


def test_stop_charging_offers_the_201_transactions_by_their_station_id(admin_client, cs, charge_points):
    tx = Transaction.objects.create(charge_point=cs, station_transaction_id="tx-9", evse_id=1, connector_id=2, id_tag="TAG-1")

    form = admin_client.get(command_url("stop-charging", "CS-1")).context["command_form"]
    admin_client.post(command_url("stop-charging", "CS-1"), {"transaction": str(tx.pk)})

    assert form.fields["transaction"].choices == [(str(tx.pk), f"{tx.pk} (tx-9) — EVSE 1, TAG-1")]
    assert sent_payloads(charge_points) == [("CS-1", "RequestStopTransaction", {"transactionId": "tx-9"})]


def test_reserve_allocates_the_reservation_id_and_shows_the_reservation(admin_client, station, tag, charge_points):
    response = admin_client.post(
        command_url("reserve", station), {"evse_id": "2", "id_tag": "TAG-1", "expiry": EXPIRY_FORM, "parent_id_tag": ""}
    )

    reservation = Reservation.objects.get()
    [sent] = charge_points.sent
    assert sent.payload.get("reservationId", sent.payload.get("id")) == reservation.pk
    assert (reservation.charge_point_id, reservation.evse_id, reservation.id_tag) == (station, 2, "TAG-1")
    assert reservation.status == ReservationStatus.ACCEPTED
    assert response.context["reservation"] == reservation
    assert f"{reservation.pk} (Accepted)" in response.content.decode()


def test_cancel_reservation_offers_the_accepted_reservations_and_cancels_one(admin_client, cp, charge_points):
    expiry = timezone.now() + timedelta(hours=1)
    accepted = Reservation.objects.create(charge_point=cp, evse_id=1, id_tag="TAG-1", expiry_date=expiry, status=ReservationStatus.ACCEPTED)
    Reservation.objects.create(charge_point=cp, evse_id=2, id_tag="TAG-2", expiry_date=expiry, status=ReservationStatus.USED)

    form = admin_client.get(command_url("cancel-reservation")).context["command_form"]
    admin_client.post(command_url("cancel-reservation"), {"reservation_id": str(accepted.pk)})

    assert [value for value, _ in form.fields["reservation_id"].choices] == [str(accepted.pk)]
    assert sent_payloads(charge_points) == [("CP-1", "CancelReservation", {"reservationId": accepted.pk})]
    accepted.refresh_from_db()
    assert accepted.status == ReservationStatus.CANCELLED


def test_an_accepted_charging_profile_is_installed_and_its_id_suggested_for_clearing(admin_client, cp, charge_points):
    admin_client.post(command_url("set-charging-profile"), {**PROFILE_7, "evse_id": "1"})

    installation = ChargingProfileInstallation.objects.get()
    assert (installation.charge_point_id, installation.evse_id, installation.profile.charging_profile_id) == ("CP-1", 1, 7)
    set_form = admin_client.get(command_url("set-charging-profile")).context["command_form"]
    assert set_form.fields["charging_profile_id"].initial == 8
    assert '<option value="7">' in admin_client.get(command_url("clear-charging-profile")).content.decode()


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

    response = admin_client.post(command_url("reset"), {"type": "soft"})

    assert response.status_code == 200
    html = response.content.decode()
    assert f"<strong>{escape(shown)}</strong>" in html
    assert escape(f"Reset to CP-1 failed: {error.message}") in html  # the error message
    assert 'class="error"' in html
    command = Command.objects.get()
    assert command.status == status and command.source == "admin"
    assert f'href="{url(Command, "change", command.pk)}"' in html


def test_an_offline_charge_point_is_flagged_before_sending(admin_client, charge_point):
    html = admin_client.get(command_url("reset")).content.decode()

    assert "CP-1 looks offline" in html


def test_an_invalid_form_shows_its_errors_and_sends_nothing(admin_client, cp, charge_points):
    response = admin_client.post(command_url("reset"), {})

    assert response.status_code == 200
    assert response.context["command_form"].errors == {"type": ["This field is required."]}
    assert "Please correct the error below." in response.content.decode()
    assert charge_points.sent == [] and not Command.objects.exists()


@pytest.mark.parametrize(
    "name, data, field, error",
    [
        # What the operation's input refuses is shown on the field that collected it, nested paths named.
        ("set-charging-profile", {"periods": "0:16\n0:8"}, "periods", "start_period_s must increase"),
        ("set-charging-profile", {"periods": "0:16.25"}, "periods", "0/limit: Ensure that there are no more than 1 decimal"),
        ("set-charging-profile", {"periods": "zero:16"}, "periods", "0/start_period_s: A valid integer is required."),
        ("set-charging-profile", {"periods": "[{"}, "periods", "Not valid JSON"),
        ("set-charging-profile", {"periods": "0:16:4"}, "periods", "0/number_phases"),
        ("set-charging-profile", {"periods": "0:1e40"}, "periods", "0/limit"),
        ("set-charging-profile", {"purpose": "ChargingStationMaxProfile"}, "evse_id", "can only be set on EVSE 0"),
        ("set-charging-profile", {"purpose": "TxProfile", "evse_id": "0"}, "evse_id", "pick one above 0"),
        ("set-charging-profile", {"transaction": "5"}, "transaction", ""),
        ("set-charging-profile", {"kind": "Recurring"}, "recurrency", "needs Daily or Weekly"),
        ("set-charging-profile", {"recurrency": "Daily"}, "recurrency", "Only Recurring profiles"),
        ("set-charging-profile", {"valid_from": "2025-03-02T00:00", "valid_to": "2025-03-01T00:00"}, "valid_to", ""),
        ("clear-charging-profile", {"charging_profile_id": "7", "evse_id": "1"}, "charging_profile_id", "not both"),
        ("reserve", {"id_tag": "TAG-1", "expiry": "2020-01-01T10:00"}, "expiry", "must be in the future"),
        ("fetch-logs", {"location": "logs", "oldest": "2025-03-02T00:00", "latest": "2025-03-01T00:00"}, "location", "URI"),
        ("fetch-logs", {"location": "ftp://x/", "oldest": "2025-03-02T00:00", "latest": "2025-03-01T00:00"}, "latest", ""),
        ("start-charging", {"id_tag": "TAG-1", "charging_profile": '{"purpose": "TxDefaultProfile"}'}, "charging_profile", ""),
    ],
)
def test_arguments_the_operation_refuses_are_shown_on_their_field_and_nothing_is_sent(
    admin_client, cp, charge_points, name, data, field, error
):
    if name == "set-charging-profile":
        data = {**PROFILE_7, "evse_id": "1", **data}

    response = admin_client.post(command_url(name), data)

    errors = response.context["command_form"].errors
    assert field in errors and error in " ".join(errors[field])
    assert "Please correct the error below." in response.content.decode()
    assert charge_points.sent == [] and not Reservation.objects.exists()


def test_a_201_configuration_key_must_name_component_and_variable(admin_client, cs, charge_points):
    response = admin_client.post(command_url("change-configuration", "CS-1"), {"key": "HeartbeatInterval", "value": "1"})

    assert "is not Component.Variable" in response.context["command_form"].errors["key"][0]
    assert charge_points.sent == []


def test_identities_with_special_characters_reach_their_charge_point(admin_client, charge_points):
    ChargePoint.objects.create(id="E2E*CP:1+a|b@c.d=e_f")

    page = command_url("reset", "E2E*CP:1+a|b@c.d=e_f")
    assert admin_client.get(page).status_code == 200
    admin_client.post(page, {"type": "soft"})

    assert sent_payloads(charge_points) == [("E2E*CP:1+a|b@c.d=e_f", "Reset", {"type": "Soft"})]


def test_a_password_changed_from_the_admin_is_sent_shown_once_and_logged_as_the_marker(admin_client, cp, charge_points):
    secret = "0123456789abcdef0123456789abcdef01234567"

    response = admin_client.post(command_url("change-password"), {"password": secret})

    assert sent_payloads(charge_points) == [("CP-1", "ChangeConfiguration", {"key": "AuthorizationKey", "value": secret})]
    command = Command.objects.get()
    assert command.payload == {"key": "AuthorizationKey", "value": "***"}
    assert escape(pretty_json({"key": "AuthorizationKey", "value": "***"})) in response.content.decode()
    assert f'<code id="new-password">{secret}</code>' in response.content.decode()  # this once
    assert secret not in admin_client.get(url(Command, "change", command.pk)).content.decode()
    assert secret not in admin_client.get(command_url("change-password")).content.decode()
    assert ConfigurationKey.objects.get(key="AuthorizationKey").value is None
    cp.refresh_from_db()
    assert cp.pending_password_hash and secret not in cp.pending_password_hash


def test_a_password_cannot_be_set_as_a_configuration_key(admin_client, cp, charge_points):
    response = admin_client.post(
        command_url("change-configuration"), {"key": "AuthorizationKey", "value": "0123456789abcdef0123456789abcdef01234567"}
    )

    assert charge_points.sent == []
    assert "change-password" in response.content.decode()


# --- "Send any message" -------------------------------------------------------------------------------------


def test_send_any_message_offers_every_message_of_the_version(admin_client, station):
    form = admin_client.get(command_url("send-message", station)).context["command_form"]

    assert [value for value, _ in form.fields["message"].choices] == list(commands.actions_for(form.version))


@pytest.mark.parametrize(
    "charge_point_id, data, sent",
    [
        ("CS-1", {"message": "ClearCache", "payload_json": ""}, ("CS-1", "ClearCache", {})),
        ("CP-1", {"message": "ClearCache", "payload_json": ""}, ("CP-1", "ClearCache", {})),
        ("CP-1", {"message": "GetLocalListVersion"}, ("CP-1", "GetLocalListVersion", {})),
        (
            "CS-1",
            {"message": "GetReport", "payload_json": '{"requestId": 9, "componentCriteria": ["Problem"]}'},
            ("CS-1", "GetReport", {"requestId": 9, "componentCriteria": ["Problem"]}),
        ),
        (
            "CP-1",
            {"message": "DataTransfer", "payload_json": '{"vendorId": "com.acme", "messageId": "ping", "data": "{\\"n\\": 1}"}'},
            ("CP-1", "DataTransfer", {"vendorId": "com.acme", "messageId": "ping", "data": '{"n": 1}'}),
        ),
    ],
)
def test_send_any_message_sends_the_payload_as_typed(admin_client, admin_user, cp, cs, charge_points, charge_point_id, data, sent):
    response = admin_client.post(command_url("send-message", charge_point_id), data)

    assert response.context["command_form"].errors == {}
    assert sent_payloads(charge_points) == [sent]
    assert (charge_points.sent[0].source, charge_points.sent[0].user) == ("admin", admin_user)
    assert escape(f"{charge_point_id} answered {sent[1]}: {response.context['outcome'].summary}.") in response.content.decode()


@pytest.mark.parametrize(
    "data, error",
    [
        ({"message": "ClearCache", "payload_json": "{nope"}, "Not valid JSON"),
        ({"message": "ClearCache", "payload_json": "[1]"}, "The payload is a JSON object"),
        ({"message": "BootNotification", "payload_json": "{}"}, "Select a valid choice"),
    ],
)
def test_send_any_message_refuses_what_is_not_a_message_of_the_version(admin_client, station, charge_points, data, error):
    response = admin_client.post(command_url("send-message", station), data)

    assert error in str(response.context["command_form"].errors)
    assert charge_points.sent == []


def test_send_any_message_shows_a_schema_violation_and_sends_nothing(admin_client, station, charge_points):
    response = admin_client.post(command_url("send-message", station), {"message": "Reset", "payload_json": '{"type": "x"}'})

    assert response.status_code == 200
    assert "type" in str(response.context["command_form"].non_field_errors())
    assert "was not sent" in response.content.decode()
    assert charge_points.sent == [] and not Command.objects.exists()


def test_send_any_message_can_be_prefilled_from_the_query_string(admin_client, station):
    page = admin_client.get(command_url("send-message", station) + "?message=ClearCache")

    assert page.context["command_form"]["message"].value() == "ClearCache"


# --- Who may send -------------------------------------------------------------------------------------------


@pytest.fixture
def staff(django_user_model):
    user = django_user_model.objects.create_user("operator", password="pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_chargepoint"))
    return user


def test_a_user_who_is_not_staff_is_sent_to_the_login_page(client, django_user_model, cp, charge_points):
    client.force_login(django_user_model.objects.create_user("driver", password="pw"))

    get = client.get(command_url("reset"))
    post = client.post(command_url("reset"), {"type": "hard"})

    for response in (get, post):
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login"))
    assert charge_points.sent == []


def test_staff_who_may_change_charge_points_but_not_send_commands_may_not_send_them(client, staff, station, charge_points):
    staff.user_permissions.add(Permission.objects.get(codename="change_chargepoint"))
    client.force_login(staff)

    assert client.get(command_url("reset", station)).status_code == 403
    assert client.post(command_url("reset", station), {"type": "hard"}).status_code == 403
    assert client.post(command_url("send-message", station), {"message": "ClearCache"}).status_code == 403
    page = client.get(url(ChargePoint, "change", station))
    changelist = client.get(url(ChargePoint))
    assert page.status_code == 200
    assert command_url("reset", station) not in page.content.decode()
    assert "reset_soft" not in changelist.content.decode()
    assert charge_points.sent == []


def test_staff_with_the_send_command_permission_send_commands_under_their_name(client, staff, cp, charge_points):
    staff.user_permissions.add(Permission.objects.get(codename="send_command"))
    client.force_login(staff)

    response = client.post(command_url("reset"), {"type": "soft"})

    assert response.status_code == 200
    assert Command.objects.get().user == staff
    assert charge_points.sent[0].user == staff


# --- Bulk actions -------------------------------------------------------------------------------------------


LIST_16 = [{"idTag": "TAG-1", "idTagInfo": ACCEPTED}]
LIST_201 = [{"idToken": {"idToken": "TAG-1", "type": "Central"}, "idTokenInfo": ACCEPTED}]
BULK = [
    # (list action, label, OCPP 1.6 message and payload, OCPP 2.0.1 message and payload)
    ("reset_soft", "Reset (soft)", ("Reset", {"type": "Soft"}), ("Reset", {"type": "OnIdle"})),
    ("reset_hard", "Reset (hard)", ("Reset", {"type": "Hard"}), ("Reset", {"type": "Immediate"})),
    (
        "make_operative",
        "Change availability: Operative",
        ("ChangeAvailability", {"connectorId": 0, "type": "Operative"}),
        ("ChangeAvailability", {"operationalStatus": "Operative"}),
    ),
    (
        "make_inoperative",
        "Change availability: Inoperative",
        ("ChangeAvailability", {"connectorId": 0, "type": "Inoperative"}),
        ("ChangeAvailability", {"operationalStatus": "Inoperative"}),
    ),
    (
        "get_configuration",
        "Get configuration",
        ("GetConfiguration", {}),
        ("GetBaseReport", {"requestId": ANY, "reportBase": "FullInventory"}),
    ),
    ("clear_cache", "Clear cache", ("ClearCache", {}), ("ClearCache", {})),
    (
        "send_full_local_list",
        "Send local list (full)",
        ("SendLocalList", {"listVersion": 1, "updateType": "Full", "localAuthorizationList": LIST_16}),
        ("SendLocalList", {"versionNumber": 1, "updateType": "Full", "localAuthorizationList": LIST_201}),
    ),
]


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
@pytest.mark.parametrize("name, label, v16, v201", BULK, ids=[b[0] for b in BULK])
def test_a_bulk_action_sends_every_selected_charge_point_its_versions_message_and_sums_up(
    admin_client, admin_user, tag, charge_points, version, name, label, v16, v201
):
    for charge_point_id in ("CP-1", "CP-2", "CP-3", "CP-4"):  # CP-4 is not selected
        ChargePoint.objects.create(id=charge_point_id, ocpp_version=version)
    charge_points.answers["CP-2"] = commands.ChargePointOffline("Charge point 'CP-2' is not connected")
    charge_points.answers["CP-3"] = {"status": "Rejected"}

    response = admin_client.post(url(ChargePoint), {"action": name, "_selected_action": ["CP-3", "CP-1", "CP-2"]}, follow=True)

    assert response.status_code == 200
    action, payload = v16 if version == "1.6" else v201
    assert sent_payloads(charge_points) == [(cp_id, action, payload) for cp_id in ("CP-1", "CP-2", "CP-3")]
    assert {(s.source, s.user) for s in charge_points.sent} == {("admin", admin_user)}
    first = "1 key" if action == "GetConfiguration" else "Accepted"
    assert f"{label}: CP-1: {first}; CP-2: offline; CP-3: Rejected" in response.content.decode()
    assert Command.objects.filter(user=admin_user, source="admin", ocpp_version=version).count() == 3


def test_a_bulk_action_everyone_accepted_is_a_success(admin_client, cp, charge_points):
    response = admin_client.post(url(ChargePoint), {"action": "clear_cache", "_selected_action": ["CP-1"]}, follow=True)

    html = response.content.decode()
    assert '<li class="success">Clear cache: CP-1: Accepted</li>' in html


# --- The charge point page ----------------------------------------------------------------------------------


def test_the_charge_point_page_shows_configuration_profiles_and_recent_commands(admin_client, admin_user, cp):
    ConfigurationKey.objects.create(charge_point=cp, key="HeartbeatInterval", value="300")
    ConfigurationKey.objects.create(charge_point=cp, key="NumberOfConnectors", value="2", readonly=True)
    profile = ChargingProfile.objects.create(
        charge_point=cp,
        charging_profile_id=7,
        purpose="TxDefaultProfile",
        stack_level=0,
        kind="Relative",
        schedule={"chargingRateUnit": "A"},
    )
    ChargingProfileInstallation.objects.create(charge_point=cp, evse_id=1, profile=profile)
    ChargingProfileInstallation.objects.create(charge_point=cp, evse_id=2, profile=profile, cleared_at=timezone.now())
    ChargePoint.objects.filter(pk="CP-1").update(local_list_version=5)
    for i in range(12):
        Command.objects.create(
            charge_point=cp,
            action=f"Action{i:02}",
            source="admin",
            user=admin_user,
            status=CommandStatus.ANSWERED,
            response={"status": "Accepted"},
            created_at=timezone.now() - timedelta(minutes=12 - i),
        )
    Command.objects.create(
        charge_point=cp,
        action="Reset",
        status=CommandStatus.CALL_ERROR,
        error_code="NotSupported",
        error_description="no resets here",
    )

    response = admin_client.get(url(ChargePoint, "change", "CP-1"))

    assert response.status_code == 200
    html = response.content.decode()
    inlines = {f.opts.model._meta.model_name: f for f in response.context["inline_admin_formsets"]}
    assert [f.original.key for f in inlines["configurationkey"]] == ["HeartbeatInterval", "NumberOfConnectors"]
    assert [f.original.evse_id for f in inlines["chargingprofileinstallation"]] == [1]
    assert "HeartbeatInterval" in html and "300" in html
    assert '<div class="readonly">5</div>' in html  # local list version
    # The latest ten commands, newest first, with their answers.
    actions = [c.action for c in response.context["recent_commands"]]
    assert actions == ["Reset"] + [f"Action{i:02}" for i in range(11, 2, -1)]
    assert "CALLERROR NotSupported: no resets here" in html
    assert "Action02" not in html
    # A button per operation.
    for name in OPERATION_FORMS:
        assert f'href="{command_url(name)}"' in html


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
            charge_point=cp,
            action="Reset",
            payload={"type": "Soft"},
            source="admin",
            user=admin_user,
            status=CommandStatus.ANSWERED,
            response={"status": "Accepted"},
            round_trip_ms=87,
        ),
        Command.objects.create(
            charge_point=cp,
            action="ClearCache",
            source="api",
            status=CommandStatus.CALL_ERROR,
            error_code="NotSupported",
            error_description="nope",
            error_details={"why": "test"},
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
        charge_point=cp,
        charging_profile_id=7,
        purpose="TxDefaultProfile",
        stack_level=0,
        kind="Relative",
        schedule={"chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16}]},
    )
    ChargingProfileInstallation.objects.create(charge_point=cp, evse_id=1, profile=profile)

    listing = admin_client.get(url(ChargingProfile))
    page = admin_client.get(url(ChargingProfile, "change", profile.pk))

    assert listing.status_code == 200 and "TxDefaultProfile" in listing.content.decode()
    assert page.status_code == 200
    profile.refresh_from_db()  # the schedule as the database keeps it (PostgreSQL's jsonb reorders keys)
    assert escape(pretty_json(profile.schedule)) in page.content.decode()
    assert [f.original.charge_point_id for f in page.context["inline_admin_formsets"][0]] == ["CP-1"]


def test_reservations_are_listed_with_their_current_status(admin_client, cp):
    past = Reservation.objects.create(
        charge_point=cp,
        evse_id=1,
        id_tag="TAG-OLD",
        expiry_date=datetime(2020, 1, 1, tzinfo=UTC),
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
        charge_point=cp,
        connector_id=1,
        id_tag="TAG-1",
        start_timestamp=timezone.now(),
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
