"""Version-neutral operations: one call, the right message for the charge point's OCPP version.

`commands.call` is replaced by a fake station that checks each payload against
the official schema of the charge point's version (as the real path does, so
an untranslated field fails here), logs the Command row and answers as told.
What follows from an answer (the version's `answers`) is not applied here: the
state these tests read is what the operations write themselves. The command
path itself is covered in test_commands.py and, for these operations, over
real sockets in tests/e2e/test_operations.py.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from unittest.mock import ANY

import pytest
from django.conf import settings
from django.db import connection
from rest_framework.test import APIClient

from chargepoints import commands, operations, pki, services
from chargepoints.exceptions import CommandOutcome
from chargepoints.models import ChargePoint, Command, CommandSource, CommandStatus
from chargepoints.ocpp.v201.operations import parse_variable_key, variable_key
from tests.users import user_with_role
from transactions.models import IdTag, Reservation, ReservationStatus, Transaction

pytestmark = pytest.mark.django_db

CP16, CS201 = "CP-16", "CS-201"
EXPIRY = datetime(2030, 5, 1, 12, 30, tzinfo=UTC)
EXPIRY_TEXT = "2030-05-01T12:30:00.000Z"


@dataclass
class Sent:
    charge_point_id: str
    action: str
    payload: dict
    source: str
    user: object
    timeout: float | None


class FakeStations:
    """Stands in for `commands.call`: validates, logs and answers each CALL; `answers[action]` is a dict or an error.

    An answer is recorded through `services.command_finish`, as the consumer
    records it, so what follows from it (the version's `answers`) is applied.
    """

    def __init__(self):
        self.sent: list[Sent] = []
        self.answers: dict[str, object] = {}

    def __call__(self, charge_point_id, action, payload, *, timeout=None, source="system", user=None, secret_change=False):
        payload = commands.normalise_payload(payload)
        version = ChargePoint.objects.get(pk=charge_point_id).ocpp_version or "1.6"
        commands.validate(version, action, payload, secret_change=secret_change)  # raises InvalidPayload, like the real path
        self.sent.append(Sent(charge_point_id, action, payload, source, user, timeout))
        answer = self.answers.get(action, {"status": "Accepted"})
        command = services.command_create(
            charge_point_id=charge_point_id, ocpp_version=version, action=action, payload=payload, source=source
        )
        failed = isinstance(answer, commands.CommandError)
        outcome = CommandOutcome(status=CommandStatus.FAILED if failed else CommandStatus.ANSWERED, response=None if failed else answer)
        services.command_finish(command_id=command.pk, outcome=outcome)
        if failed:
            answer.command_id = command.pk
            raise answer
        return commands.CommandResult(command.pk, action, answer, round_trip_ms=9)

    @property
    def last(self) -> tuple[str, dict]:
        return self.sent[-1].action, self.sent[-1].payload


def run_operation(name, *, charge_point_id, source=CommandSource.SYSTEM, user=None, timeout=None, **arguments):
    """`operations.operation_run` with the arguments as keywords, as the tests write them."""
    return operations.operation_run(
        charge_point_id=charge_point_id, name=name, arguments=arguments, source=source, user=user, timeout=timeout
    )


@pytest.fixture
def stations(monkeypatch):
    fake = FakeStations()
    monkeypatch.setattr(commands, "call", fake)
    return fake


@pytest.fixture
def cps(db):
    """A 1.6 charge point and a 2.0.1 station, each with one active transaction and an id tag."""
    ChargePoint.objects.create(id=CP16, ocpp_version="1.6", connected=True)
    ChargePoint.objects.create(id=CS201, ocpp_version="2.0.1", connected=True)
    IdTag.objects.create(id_tag="CARD-1")
    IdTag.objects.create(id_tag="RFID-9", type="ISO14443")
    tx16 = Transaction.objects.create(charge_point_id=CP16, connector_id=1, id_tag="CARD-1")
    tx201 = Transaction.objects.create(charge_point_id=CS201, station_transaction_id="tx-abc", evse_id=1, connector_id=1)
    return {"1.6": tx16, "2.0.1": tx201}


def station(version: str) -> str:
    return CP16 if version == "1.6" else CS201


PROFILE = {
    "charging_profile_id": 5,
    "stack_level": 1,
    "purpose": "TxDefaultProfile",
    "kind": "Absolute",
    "charging_rate_unit": "A",
    "periods": [{"start_period_s": 0, "limit": 16}, {"start_period_s": 3600, "limit": 8.5, "number_phases": 1}],
    "start_schedule": datetime(2030, 1, 1, tzinfo=UTC),
    "duration_s": 7200,
}
PERIODS = [{"startPeriod": 0, "limit": 16.0}, {"startPeriod": 3600, "limit": 8.5, "numberPhases": 1}]
SCHEDULE_16 = {
    "duration": 7200,
    "startSchedule": "2030-01-01T00:00:00.000Z",
    "chargingRateUnit": "A",
    "chargingSchedulePeriod": PERIODS,
}

# (operation, neutral arguments, {version: (action, payload)})
CASES = [
    (
        "start_charging",
        {"id_tag": "CARD-1", "evse_id": 2},
        {
            "1.6": ("RemoteStartTransaction", {"idTag": "CARD-1", "connectorId": 2}),
            "2.0.1": (
                "RequestStartTransaction",
                {"idToken": {"idToken": "CARD-1", "type": "Central"}, "remoteStartId": ANY, "evseId": 2},
            ),
        },
    ),
    (
        "start_charging",
        {"id_tag": "RFID-9"},
        {
            "1.6": ("RemoteStartTransaction", {"idTag": "RFID-9"}),
            "2.0.1": ("RequestStartTransaction", {"idToken": {"idToken": "RFID-9", "type": "ISO14443"}, "remoteStartId": ANY}),
        },
    ),
    (
        "reset",
        {"type": "soft"},
        {"1.6": ("Reset", {"type": "Soft"}), "2.0.1": ("Reset", {"type": "OnIdle"})},
    ),
    (
        "reset",
        {"type": "hard"},
        {"1.6": ("Reset", {"type": "Hard"}), "2.0.1": ("Reset", {"type": "Immediate"})},
    ),
    (
        "unlock",
        {"evse_id": 2},
        {"1.6": ("UnlockConnector", {"connectorId": 2}), "2.0.1": ("UnlockConnector", {"evseId": 2, "connectorId": 1})},
    ),
    (
        "change_availability",
        {"operative": False},
        {
            "1.6": ("ChangeAvailability", {"connectorId": 0, "type": "Inoperative"}),
            "2.0.1": ("ChangeAvailability", {"operationalStatus": "Inoperative"}),
        },
    ),
    (
        "change_availability",
        {"operative": True, "evse_id": 2},
        {
            "1.6": ("ChangeAvailability", {"connectorId": 2, "type": "Operative"}),
            "2.0.1": ("ChangeAvailability", {"operationalStatus": "Operative", "evse": {"id": 2}}),
        },
    ),
    (
        "trigger_message",
        {"message": "StatusNotification", "evse_id": 1},
        {
            "1.6": ("TriggerMessage", {"requestedMessage": "StatusNotification", "connectorId": 1}),
            "2.0.1": ("TriggerMessage", {"requestedMessage": "StatusNotification", "evse": {"id": 1}}),
        },
    ),
    (
        "trigger_message",
        {"message": "DiagnosticsStatusNotification"},
        {
            "1.6": ("TriggerMessage", {"requestedMessage": "DiagnosticsStatusNotification"}),
            "2.0.1": ("TriggerMessage", {"requestedMessage": "LogStatusNotification"}),
        },
    ),
    (
        "trigger_message",
        {"message": "Heartbeat"},
        {
            "1.6": ("TriggerMessage", {"requestedMessage": "Heartbeat"}),
            "2.0.1": ("TriggerMessage", {"requestedMessage": "Heartbeat"}),
        },
    ),
    (
        "reserve",
        {"id_tag": "CARD-1", "expiry": EXPIRY, "evse_id": 1, "parent_id_tag": "RFID-9"},
        {
            "1.6": (
                "ReserveNow",
                {"connectorId": 1, "expiryDate": EXPIRY_TEXT, "idTag": "CARD-1", "reservationId": ANY, "parentIdTag": "RFID-9"},
            ),
            "2.0.1": (
                "ReserveNow",
                {
                    "id": ANY,
                    "expiryDateTime": EXPIRY_TEXT,
                    "idToken": {"idToken": "CARD-1", "type": "Central"},
                    "evseId": 1,
                    "groupIdToken": {"idToken": "RFID-9", "type": "ISO14443"},
                },
            ),
        },
    ),
    (
        "reserve",
        {"id_tag": "CARD-1", "expiry": EXPIRY},
        {
            "1.6": ("ReserveNow", {"connectorId": 0, "expiryDate": EXPIRY_TEXT, "idTag": "CARD-1", "reservationId": ANY}),
            "2.0.1": (
                "ReserveNow",
                {"id": ANY, "expiryDateTime": EXPIRY_TEXT, "idToken": {"idToken": "CARD-1", "type": "Central"}},
            ),
        },
    ),
    (
        "cancel_reservation",
        {"reservation_id": 77},
        {"1.6": ("CancelReservation", {"reservationId": 77}), "2.0.1": ("CancelReservation", {"reservationId": 77})},
    ),
    (
        "set_charging_profile",
        {"evse_id": 0, **PROFILE},
        {
            "1.6": (
                "SetChargingProfile",
                {
                    "connectorId": 0,
                    "csChargingProfiles": {
                        "chargingProfileId": 5,
                        "stackLevel": 1,
                        "chargingProfilePurpose": "TxDefaultProfile",
                        "chargingProfileKind": "Absolute",
                        "chargingSchedule": SCHEDULE_16,
                    },
                },
            ),
            "2.0.1": (
                "SetChargingProfile",
                {
                    "evseId": 0,
                    "chargingProfile": {
                        "id": 5,
                        "stackLevel": 1,
                        "chargingProfilePurpose": "TxDefaultProfile",
                        "chargingProfileKind": "Absolute",
                        "chargingSchedule": [{"id": 5, **SCHEDULE_16}],
                    },
                },
            ),
        },
    ),
    (
        "set_charging_profile",
        {**PROFILE, "evse_id": 0, "purpose": "ChargingStationMaxProfile", "kind": "Recurring", "recurrency": "Daily"},
        {
            "1.6": (
                "SetChargingProfile",
                {
                    "connectorId": 0,
                    "csChargingProfiles": {
                        "chargingProfileId": 5,
                        "stackLevel": 1,
                        "chargingProfilePurpose": "ChargePointMaxProfile",
                        "chargingProfileKind": "Recurring",
                        "recurrencyKind": "Daily",
                        "chargingSchedule": SCHEDULE_16,
                    },
                },
            ),
            "2.0.1": (
                "SetChargingProfile",
                {
                    "evseId": 0,
                    "chargingProfile": {
                        "id": 5,
                        "stackLevel": 1,
                        "chargingProfilePurpose": "ChargingStationMaxProfile",
                        "chargingProfileKind": "Recurring",
                        "recurrencyKind": "Daily",
                        "chargingSchedule": [{"id": 5, **SCHEDULE_16}],
                    },
                },
            ),
        },
    ),
    (
        "clear_charging_profile",
        {"charging_profile_id": 5},
        {
            "1.6": ("ClearChargingProfile", {"id": 5}),
            "2.0.1": ("ClearChargingProfile", {"chargingProfileId": 5}),
        },
    ),
    (
        "clear_charging_profile",
        {"evse_id": 1, "purpose": "ChargePointMaxProfile", "stack_level": 0},
        {
            "1.6": ("ClearChargingProfile", {"connectorId": 1, "chargingProfilePurpose": "ChargePointMaxProfile", "stackLevel": 0}),
            "2.0.1": (
                "ClearChargingProfile",
                {"chargingProfileCriteria": {"evseId": 1, "chargingProfilePurpose": "ChargingStationMaxProfile", "stackLevel": 0}},
            ),
        },
    ),
    (
        "clear_charging_profile",
        {},
        {"1.6": ("ClearChargingProfile", {}), "2.0.1": ("ClearChargingProfile", {})},
    ),
    (
        "composite_schedule",
        {"evse_id": 1, "duration_s": 3600, "charging_rate_unit": "W"},
        {
            "1.6": ("GetCompositeSchedule", {"connectorId": 1, "duration": 3600, "chargingRateUnit": "W"}),
            "2.0.1": ("GetCompositeSchedule", {"evseId": 1, "duration": 3600, "chargingRateUnit": "W"}),
        },
    ),
    (
        "update_firmware",
        {"location": "https://fw.example.com/fw-2.bin", "retrieve_date": EXPIRY, "retries": 3, "retry_interval_s": 60},
        {
            "1.6": (
                "UpdateFirmware",
                {"location": "https://fw.example.com/fw-2.bin", "retrieveDate": EXPIRY_TEXT, "retries": 3, "retryInterval": 60},
            ),
            "2.0.1": (
                "UpdateFirmware",
                {
                    "requestId": ANY,
                    "firmware": {"location": "https://fw.example.com/fw-2.bin", "retrieveDateTime": EXPIRY_TEXT},
                    "retries": 3,
                    "retryInterval": 60,
                },
            ),
        },
    ),
    (
        "fetch_logs",
        {"location": "ftp://logs.example.com/up/", "oldest": EXPIRY - timedelta(days=1), "latest": EXPIRY},
        {
            "1.6": (
                "GetDiagnostics",
                {"location": "ftp://logs.example.com/up/", "startTime": "2030-04-30T12:30:00.000Z", "stopTime": EXPIRY_TEXT},
            ),
            "2.0.1": (
                "GetLog",
                {
                    "logType": "DiagnosticsLog",
                    "requestId": ANY,
                    "log": {
                        "remoteLocation": "ftp://logs.example.com/up/",
                        "oldestTimestamp": "2030-04-30T12:30:00.000Z",
                        "latestTimestamp": EXPIRY_TEXT,
                    },
                },
            ),
        },
    ),
    (
        "get_configuration",
        {},
        {
            "1.6": ("GetConfiguration", {}),
            "2.0.1": ("GetBaseReport", {"requestId": ANY, "reportBase": "FullInventory"}),
        },
    ),
    (
        "get_configuration",
        {"keys": ["OCPPCommCtrlr.HeartbeatInterval", "EVSE@EVSE1.Power[max]"]},
        {
            "1.6": ("GetConfiguration", {"key": ["OCPPCommCtrlr.HeartbeatInterval", "EVSE@EVSE1.Power[max]"]}),
            "2.0.1": (
                "GetVariables",
                {
                    "getVariableData": [
                        {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}},
                        {"component": {"name": "EVSE", "evse": {"id": 1}}, "variable": {"name": "Power", "instance": "max"}},
                    ]
                },
            ),
        },
    ),
    (
        "change_configuration",
        {"key": "OCPPCommCtrlr.HeartbeatInterval", "value": "120"},
        {
            "1.6": ("ChangeConfiguration", {"key": "OCPPCommCtrlr.HeartbeatInterval", "value": "120"}),
            "2.0.1": (
                "SetVariables",
                {
                    "setVariableData": [
                        {
                            "attributeValue": "120",
                            "component": {"name": "OCPPCommCtrlr"},
                            "variable": {"name": "HeartbeatInterval"},
                        }
                    ]
                },
            ),
        },
    ),
]
ANSWERS = {
    "GetConfiguration": {"configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "300"}]},
    "GetVariables": {"getVariableResult": []},
    "SetVariables": {
        "setVariableResult": [
            {"attributeStatus": "Accepted", "component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}
        ]
    },
    "GetDiagnostics": {"fileName": "diag.zip"},
    "UpdateFirmware": {},
}


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
@pytest.mark.parametrize("operation, kwargs, expected", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_each_operation_sends_the_message_of_the_charge_points_version(cps, stations, operation, kwargs, expected, version):
    stations.answers.update({k: v for k, v in ANSWERS.items() if k not in stations.answers})

    result = run_operation(operation.replace("_", "-"), charge_point_id=station(version), **kwargs)

    assert stations.last == expected[version]
    assert result.action == expected[version][0]
    assert result.extra["operation"] == operation.replace("_", "-")
    assert result.extra["ocpp_version"] == version
    assert result.response == ANSWERS.get(result.action, {"status": "Accepted"})


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_stop_charging_names_the_transaction_as_the_station_knows_it(cps, stations, version):
    tx = cps[version]

    result = run_operation("stop-charging", charge_point_id=station(version), transaction=tx.pk)

    expected = (
        ("RemoteStopTransaction", {"transactionId": tx.pk}) if version == "1.6" else ("RequestStopTransaction", {"transactionId": "tx-abc"})
    )
    assert stations.last == expected
    assert result.extra["transaction"] == tx.pk


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
@pytest.mark.parametrize("named_by", ["ocpp_transaction_id", "evse_id"])
def test_stop_charging_finds_the_transaction_by_the_stations_id_or_by_its_evse(cps, stations, version, named_by):
    tx = cps[version]
    ocpp_id = str(tx.pk) if version == "1.6" else "tx-abc"

    result = run_operation("stop-charging", charge_point_id=station(version), **{named_by: ocpp_id if named_by != "evse_id" else 1})

    assert result.extra["transaction"] == tx.pk
    assert stations.last[1] == ({"transactionId": tx.pk} if version == "1.6" else {"transactionId": "tx-abc"})


@pytest.mark.parametrize(
    "arguments, field",
    [
        ({"ocpp_transaction_id": "tx-unknown"}, "ocpp_transaction_id"),
        ({"evse_id": 2}, "evse_id"),
        ({}, "transaction"),
        ({"evse_id": 1, "ocpp_transaction_id": "tx-abc"}, "transaction"),
    ],
)
def test_stop_charging_names_what_it_could_not_find_and_sends_nothing(cps, stations, arguments, field):
    with pytest.raises(operations.InvalidArguments) as caught:
        run_operation("stop-charging", charge_point_id=CS201, **arguments)

    assert caught.value.details["field"] == field
    assert stations.sent == []


@pytest.mark.parametrize("id_tag, status", [("CARD-NOPE", "not registered"), ("CARD-BLOCKED", "Blocked")])
def test_start_charging_refuses_an_id_tag_not_accepted_here_unless_forced(cps, stations, id_tag, status):
    IdTag.objects.create(id_tag="CARD-BLOCKED", status="Blocked")

    with pytest.raises(operations.InvalidArguments) as caught:
        run_operation("start-charging", charge_point_id=CP16, id_tag=id_tag)
    assert caught.value.details["field"] == "id_tag" and status in caught.value.message
    assert stations.sent == []

    run_operation("start-charging", charge_point_id=CP16, id_tag=id_tag, force=True)
    assert stations.last == ("RemoteStartTransaction", {"idTag": id_tag})


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_stopping_a_transaction_of_another_charge_point_is_refused_and_nothing_is_sent(cps, stations, version):
    other = cps["2.0.1" if version == "1.6" else "1.6"]

    with pytest.raises(operations.InvalidArguments) as caught:
        run_operation("stop-charging", charge_point_id=station(version), transaction=other.pk)

    assert caught.value.details["field"] == "transaction"
    assert caught.value.http_status == 400
    assert stations.sent == []


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_a_tx_profile_names_its_transaction_as_the_station_knows_it(cps, stations, version):
    tx = cps[version]
    profile = {**PROFILE, "purpose": "TxProfile", "kind": "Relative", "transaction": tx.pk}
    del profile["start_schedule"]

    run_operation("set-charging-profile", charge_point_id=station(version), evse_id=1, **profile)

    action, payload = stations.last
    sent = payload["csChargingProfiles"] if version == "1.6" else payload["chargingProfile"]
    assert sent["transactionId"] == (tx.pk if version == "1.6" else "tx-abc")


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_a_start_may_carry_a_tx_profile(cps, stations, version):
    profile = {**PROFILE, "purpose": "TxProfile", "kind": "Relative"}
    del profile["start_schedule"]

    run_operation("start-charging", charge_point_id=station(version), id_tag="CARD-1", evse_id=1, charging_profile=profile)

    _, payload = stations.last
    assert payload["chargingProfile"]["chargingProfilePurpose"] == "TxProfile"
    with pytest.raises(operations.InvalidArguments):
        run_operation("start-charging", charge_point_id=station(version), id_tag="CARD-1", charging_profile=PROFILE)


def test_request_ids_of_201_are_drawn_from_the_command_log_ids(cps, stations):
    first = run_operation("start-charging", charge_point_id=CS201, id_tag="CARD-1")
    second = run_operation("fetch-logs", charge_point_id=CS201, location="ftp://x.example.com/")
    third = run_operation("get-configuration", charge_point_id=CS201)

    ids = [first.extra["remote_start_id"], second.extra["request_id"], third.extra["request_id"]]
    assert ids == [stations.sent[0].payload["remoteStartId"], stations.sent[1].payload["requestId"], stations.sent[2].payload["requestId"]]
    assert ids == sorted(set(ids)), "distinct and increasing"
    # Drawn from the Command id series just before the command carrying it, on SQLite as on PostgreSQL.
    assert [first.command_id, second.command_id, third.command_id] == [i + 1 for i in ids]


def _draw_request_ids_in_threads(threads: int, per_thread: int) -> list[int]:
    """Request ids drawn by `threads` threads at once, each with its own database connection."""
    barrier = threading.Barrier(threads)

    def draw():
        try:
            barrier.wait(timeout=10)
            return [services.request_id_allocate() for _ in range(per_thread)]
        finally:
            connection.close()

    with ThreadPoolExecutor(threads) as pool:
        futures = [pool.submit(draw) for _ in range(threads)]
        return [request_id for future in futures for request_id in future.result()]


@pytest.mark.django_db(transaction=True)
def test_request_ids_drawn_concurrently_are_all_distinct_and_never_reused_by_commands():
    if connection.vendor == "sqlite":
        pytest.skip(
            "SQLite's in-memory test database fails concurrent writers at once (table locked) instead "
            "of making them wait: processes on a database file are drawn from in the next test"
        )
    ChargePoint.objects.create(id=CS201, ocpp_version="2.0.1")

    ids = _draw_request_ids_in_threads(threads=6, per_thread=20)

    assert len(ids) == 120
    assert len(set(ids)) == 120
    command = Command.objects.create(charge_point_id=CS201, action="GetBaseReport")
    command.refresh_from_db()
    assert command.pk > max(ids)
    assert services.request_id_allocate() > command.pk


DRAW_REQUEST_IDS = """
import json, sys, time
import django
django.setup()
from chargepoints import services
time.sleep(max(0, float(sys.argv[1]) - time.time()))
print(json.dumps([services.request_id_allocate() for _ in range(int(sys.argv[2]))]))
"""


@pytest.mark.django_db(transaction=True)
def test_request_ids_drawn_by_processes_sharing_one_database_are_all_distinct(tmp_path):
    Command.objects.create(charge_point=ChargePoint.objects.create(id=CS201), action="GetBaseReport")
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        # The test database lives in memory: copy it to a file that processes can share.
        path = tmp_path / "shared.sqlite3"
        connection.ensure_connection()
        copy = sqlite3.connect(path)
        connection.connection.backup(copy)
        # As a deployed database already is: processes switching it to WAL all at once fail "locked".
        copy.execute("PRAGMA journal_mode=WAL")
        copy.close()
        url = f"sqlite:///{path}"
    else:
        url = f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{db['NAME']}"
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "csms.settings"}
    start_at = str(time.time() + 4)  # past every process's Django start-up, so their draws overlap
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", DRAW_REQUEST_IDS, start_at, "25"],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    ids = []
    for process in processes:
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
        ids += json.loads(out.strip().splitlines()[-1])

    assert len(ids) == 100
    assert len(set(ids)) == 100


@pytest.mark.django_db(transaction=True)
def test_the_first_request_id_of_a_fresh_database_is_above_every_command_id():
    ChargePoint.objects.create(id=CS201, ocpp_version="2.0.1")
    existing = Command.objects.create(charge_point_id=CS201, action="GetBaseReport")
    if connection.vendor == "sqlite":
        # As on a database whose counter row is missing (it appears with the table's first insert).
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM sqlite_sequence WHERE name = %s", [Command._meta.db_table])

    request_id = services.request_id_allocate()

    assert request_id > existing.pk
    assert Command.objects.create(charge_point_id=CS201, action="GetBaseReport").pk > request_id


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_id_tags_too_long_for_the_version_are_refused_naming_the_field(cps, stations, version):
    too_long = "X" * (21 if version == "1.6" else 37)

    with pytest.raises(operations.InvalidArguments) as caught:
        run_operation("start-charging", charge_point_id=station(version), id_tag=too_long)

    assert caught.value.details["field"] == "id_tag"
    assert stations.sent == []


def test_a_16_charge_point_resets_as_a_whole(cps, stations):
    with pytest.raises(operations.InvalidArguments) as caught:
        run_operation("reset", charge_point_id=CP16, type="hard", evse_id=1)
    assert caught.value.details["field"] == "evse_id"

    run_operation("reset", charge_point_id=CS201, type="hard", evse_id=1)
    assert stations.last == ("Reset", {"type": "Immediate", "evseId": 1})


def test_a_201_connector_is_named_within_its_evse(cps, stations):
    run_operation("unlock", charge_point_id=CS201, evse_id=1, connector_id=2)
    assert stations.last == ("UnlockConnector", {"evseId": 1, "connectorId": 2})
    run_operation("change-availability", charge_point_id=CS201, operative=False, evse_id=1, connector_id=2)
    assert stations.last == ("ChangeAvailability", {"operationalStatus": "Inoperative", "evse": {"id": 1, "connectorId": 2}})

    with pytest.raises(operations.InvalidArguments) as caught:
        run_operation("unlock", charge_point_id=CP16, evse_id=1, connector_id=2)
    assert caught.value.details["field"] == "connector_id"


def test_an_unknown_charge_point_is_a_404(db, stations):
    with pytest.raises(commands.UnknownChargePoint):
        run_operation("reset", charge_point_id="CP-NOPE")


def test_a_naive_datetime_is_refused(cps, stations):
    with pytest.raises(operations.InvalidArguments) as caught:
        run_operation("update-firmware", charge_point_id=CP16, location="ftp://a/", retrieve_date=datetime(2030, 1, 1))
    assert caught.value.details["field"] == "retrieve_date"


@pytest.mark.parametrize("key", ["HeartbeatInterval", "A.B.C", ".Variable", "Component."])
def test_a_201_configuration_key_must_be_component_dot_variable(cps, stations, key):
    with pytest.raises(operations.InvalidArguments) as caught:
        run_operation("change-configuration", charge_point_id=CS201, key=key, value="1")
    assert caught.value.details["field"] == "key"
    assert stations.sent == []


def test_variable_keys_round_trip():
    for key in ["OCPPCommCtrlr.HeartbeatInterval", "Connector[x]@EVSE1/2.Enabled[y]", "EVSE@EVSE3.Power"]:
        assert variable_key(*parse_variable_key(key)) == key


# --- neutral summaries ---------------------------------------------------------------------


def test_get_configuration_sums_up_values_and_unknown_keys_in_both_versions(cps, stations):
    stations.answers["GetConfiguration"] = {
        "configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "300"}],
        "unknownKey": ["Nope"],
    }
    stations.answers["GetVariables"] = {
        "getVariableResult": [
            {
                "attributeStatus": "Accepted",
                "attributeValue": "300",
                "component": {"name": "OCPPCommCtrlr"},
                "variable": {"name": "HeartbeatInterval"},
            },
            {"attributeStatus": "UnknownVariable", "component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "Nope"}},
        ]
    }

    v16 = run_operation("get-configuration", charge_point_id=CP16, keys=["HeartbeatInterval", "Nope"])
    v201 = run_operation("get-configuration", charge_point_id=CS201, keys=["OCPPCommCtrlr.HeartbeatInterval", "OCPPCommCtrlr.Nope"])

    assert (v16.extra["configuration"], v16.extra["unknown_keys"]) == ({"HeartbeatInterval": "300"}, ["Nope"])
    assert (v201.extra["configuration"], v201.extra["unknown_keys"]) == (
        {"OCPPCommCtrlr.HeartbeatInterval": "300"},
        ["OCPPCommCtrlr.Nope"],
    )
    assert v201.response == stations.answers["GetVariables"], "the raw answer is kept"


def test_change_configuration_status_is_the_set_variable_result_in_201(cps, stations):
    stations.answers["SetVariables"] = {
        "setVariableResult": [
            {"attributeStatus": "RebootRequired", "component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}
        ]
    }
    stations.answers["ChangeConfiguration"] = {"status": "RebootRequired"}

    for cp in (CP16, CS201):
        result = run_operation("change-configuration", charge_point_id=cp, key="OCPPCommCtrlr.HeartbeatInterval", value="1")
        assert result.extra["status"] == "RebootRequired"


# --- reservations and the local list -----------------------------------------------------------


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_reserve_allocates_the_reservation_and_keeps_the_answered_status(cps, stations, version):
    stations.answers["ReserveNow"] = {"status": "Occupied"}

    result = run_operation("reserve", charge_point_id=station(version), id_tag="CARD-1", expiry=EXPIRY, evse_id=2)

    reservation = Reservation.objects.get(pk=result.extra["reservation_id"])
    assert (reservation.charge_point_id, reservation.evse_id, reservation.status) == (station(version), 2, ReservationStatus.OCCUPIED)
    sent_id = stations.last[1]["reservationId" if version == "1.6" else "id"]
    assert sent_id == reservation.pk


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_a_reservation_the_station_certainly_did_not_make_is_deleted(cps, stations, version):
    stations.answers["ReserveNow"] = commands.ChargePointOffline("offline")

    with pytest.raises(commands.ChargePointOffline):
        run_operation("reserve", charge_point_id=station(version), id_tag="CARD-1", expiry=EXPIRY)

    assert not Reservation.objects.exists()


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_an_accepted_cancellation_cancels_the_reservation(cps, stations, version):
    reservation = Reservation.objects.create(
        charge_point_id=station(version), evse_id=1, id_tag="CARD-1", expiry_date=EXPIRY, status="Accepted"
    )

    run_operation("cancel-reservation", charge_point_id=station(version), reservation_id=reservation.pk)

    reservation.refresh_from_db()
    assert reservation.status == ReservationStatus.CANCELLED


def test_the_16_local_list_leaves_out_id_tags_longer_than_20_characters(cps, stations):
    long_group = IdTag.objects.create(id_tag="G" * 30)
    IdTag.objects.create(id_tag="T" * 25)
    IdTag.objects.create(id_tag="MEMBER", parent=long_group)

    result = run_operation("send-local-list", charge_point_id=CP16)

    action, payload = stations.last
    assert action == "SendLocalList"
    assert [e["idTag"] for e in payload["localAuthorizationList"]] == ["CARD-1", "MEMBER", "RFID-9"]
    assert payload["localAuthorizationList"][1]["idTagInfo"] == {"status": "Accepted"}, "a group 1.6 cannot carry is left out"
    assert result.extra["skipped_id_tags"] == ["G" * 30, "T" * 25]


def test_the_201_local_list_carries_id_tokens_with_their_type(cps, stations):
    group = IdTag.objects.create(id_tag="FLEET", type="Central")
    IdTag.objects.create(id_tag="X" * 36, type="eMAID", parent=group, expiry_date=EXPIRY, status="Blocked")
    ChargePoint.objects.filter(pk=CS201).update(local_list_version=4)

    result = run_operation("send-local-list", charge_point_id=CS201)

    action, payload = stations.last
    assert (action, payload["versionNumber"], payload["updateType"]) == ("SendLocalList", 5, "Full")
    assert payload["localAuthorizationList"] == [
        {"idToken": {"idToken": "CARD-1", "type": "Central"}, "idTokenInfo": {"status": "Accepted"}},
        {"idToken": {"idToken": "FLEET", "type": "Central"}, "idTokenInfo": {"status": "Accepted"}},
        {"idToken": {"idToken": "RFID-9", "type": "ISO14443"}, "idTokenInfo": {"status": "Accepted"}},
        {
            "idToken": {"idToken": "X" * 36, "type": "eMAID"},
            "idTokenInfo": {
                "status": "Blocked",
                "cacheExpiryDateTime": EXPIRY_TEXT,
                "groupIdToken": {"idToken": "FLEET", "type": "Central"},
            },
        },
    ]
    assert result.extra["skipped_id_tags"] == []
    cp = ChargePoint.objects.get(pk=CS201)
    assert cp.local_list_version == 5 and cp.local_list_synced_at is not None


def test_an_empty_201_differential_list_leaves_the_list_out(cps, stations):
    run_operation("send-local-list", charge_point_id=CS201)

    run_operation("send-local-list", charge_point_id=CS201, update_type="Differential")

    assert stations.last == ("SendLocalList", {"versionNumber": 2, "updateType": "Differential"})


# --- the API ----------------------------------------------------------------------------------


@pytest.fixture
def staff(db):
    return user_with_role("ops", password="x")


@pytest.fixture
def api(staff):
    client = APIClient()
    client.force_authenticate(staff)
    return client


def post(api, cp, operation, body=None, **params):
    query = "?" + "&".join(f"{k}={v}" for k, v in params.items()) if params else ""
    return api.post(f"/api/v1/chargepoints/{cp}/operations/{operation}/{query}", body or {}, format="json")


# (operation URL, JSON body, {version: action sent})
ROOT_PEM = pki.pem_of(pki.ca_generate(root_only=True)[0].certificate)
API_CASES = [
    ("start-charging", {"id_tag": "CARD-1", "evse_id": 1}, {"1.6": "RemoteStartTransaction", "2.0.1": "RequestStartTransaction"}),
    ("reset", {"type": "hard"}, {"1.6": "Reset", "2.0.1": "Reset"}),
    ("unlock", {"evse_id": 1}, {"1.6": "UnlockConnector", "2.0.1": "UnlockConnector"}),
    ("change-availability", {"operative": False, "evse_id": 1}, {"1.6": "ChangeAvailability", "2.0.1": "ChangeAvailability"}),
    ("trigger-message", {"message": "MeterValues", "evse_id": 1}, {"1.6": "TriggerMessage", "2.0.1": "TriggerMessage"}),
    ("reserve", {"id_tag": "CARD-1", "expiry": "2030-05-01T12:30:00Z", "evse_id": 1}, {"1.6": "ReserveNow", "2.0.1": "ReserveNow"}),
    ("cancel-reservation", {"reservation_id": 3}, {"1.6": "CancelReservation", "2.0.1": "CancelReservation"}),
    (
        "set-charging-profile",
        {
            "evse_id": 0,
            "charging_profile_id": 1,
            "stack_level": 0,
            "purpose": "ChargingStationMaxProfile",
            "kind": "Absolute",
            "start_schedule": "2030-01-01T00:00:00Z",
            "charging_rate_unit": "W",
            "periods": [{"start_period_s": 0, "limit": "11000.0", "number_phases": 3}],
        },
        {"1.6": "SetChargingProfile", "2.0.1": "SetChargingProfile"},
    ),
    ("clear-charging-profile", {"stack_level": 2}, {"1.6": "ClearChargingProfile", "2.0.1": "ClearChargingProfile"}),
    ("composite-schedule", {"evse_id": 0, "duration_s": 600}, {"1.6": "GetCompositeSchedule", "2.0.1": "GetCompositeSchedule"}),
    ("send-local-list", {}, {"1.6": "SendLocalList", "2.0.1": "SendLocalList"}),
    (
        "update-firmware",
        {"location": "https://fw.example.com/a.bin", "retrieve_date": "2030-01-01T00:00:00+02:00"},
        {"1.6": "UpdateFirmware", "2.0.1": "UpdateFirmware"},
    ),
    ("fetch-logs", {"location": "ftp://logs.example.com/"}, {"1.6": "GetDiagnostics", "2.0.1": "GetLog"}),
    ("change-password", {}, {"1.6": "ChangeConfiguration", "2.0.1": "SetVariables"}),
    ("get-configuration", {}, {"1.6": "GetConfiguration", "2.0.1": "GetBaseReport"}),
    ("get-configuration", {"keys": ["OCPPCommCtrlr.HeartbeatInterval"]}, {"1.6": "GetConfiguration", "2.0.1": "GetVariables"}),
    (
        "change-configuration",
        {"key": "OCPPCommCtrlr.HeartbeatInterval", "value": "60"},
        {"1.6": "ChangeConfiguration", "2.0.1": "SetVariables"},
    ),
    (
        "install-certificate",
        {"certificate_type": "CSMSRootCertificate", "certificate": ROOT_PEM},
        {"1.6": "InstallCertificate", "2.0.1": "InstallCertificate"},
    ),
    (
        "get-installed-certificate-ids",
        {"certificate_types": ["CSMSRootCertificate"]},
        {"1.6": "GetInstalledCertificateIds", "2.0.1": "GetInstalledCertificateIds"},
    ),
    (
        "delete-certificate",
        {"issuer_name_hash": "ab" * 32, "issuer_key_hash": "cd" * 32, "serial_number": "1f"},
        {"1.6": "DeleteCertificate", "2.0.1": "DeleteCertificate"},
    ),
    ("renew-certificate", {}, {"1.6": "ExtendedTriggerMessage", "2.0.1": "TriggerMessage"}),
]


def test_every_operation_has_an_api_case():
    assert {case[0] for case in API_CASES} | {"stop-charging"} == set(operations.OPERATIONS)


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
@pytest.mark.parametrize("operation, body, actions", API_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(API_CASES)])
def test_each_operation_endpoint_translates_and_answers_200(api, cps, stations, staff, operation, body, actions, version):
    stations.answers.update({k: v for k, v in ANSWERS.items() if k not in stations.answers})

    response = post(api, station(version), operation, body)

    assert response.status_code == 200, response.json()
    data = response.json()
    sent = stations.sent[-1]
    assert data["action"] == sent.action == actions[version]
    assert (data["operation"], data["ocpp_version"], data["charge_point"]) == (operation, version, station(version))
    assert data["command_id"] == Command.objects.latest("id").pk
    assert data["response"] == ANSWERS.get(sent.action, {"status": "Accepted"})
    assert set(data) == {
        "command_id",
        "charge_point",
        "operation",
        "ocpp_version",
        "action",
        "status",
        "response",
        "round_trip_ms",
        "details",
    }
    assert (sent.source, sent.user) == (CommandSource.API, staff)


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_stop_charging_endpoint(api, cps, stations, version):
    response = post(api, station(version), "stop-charging", {"transaction": cps[version].pk})

    assert response.status_code == 200
    assert response.json()["details"] == {"transaction": cps[version].pk}
    assert response.json()["action"] == ("RemoteStopTransaction" if version == "1.6" else "RequestStopTransaction")


def test_the_answer_carries_the_neutral_summary_and_the_raw_response(api, cps, stations):
    stations.answers["ReserveNow"] = {"status": "Accepted", "statusInfo": {"reasonCode": "OK"}}

    data = post(api, CS201, "reserve", {"id_tag": "CARD-1", "expiry": "2030-05-01T12:30:00Z"}).json()

    assert data["status"] == "Accepted"
    assert data["response"] == {"status": "Accepted", "statusInfo": {"reasonCode": "OK"}}
    assert data["details"] == {"reservation_id": Reservation.objects.get().pk}


@pytest.mark.parametrize(
    "operation, body, field",
    [
        ("start-charging", {}, "id_tag"),
        ("start-charging", {"id_tag": "X" * 37}, "id_tag"),
        ("reset", {"type": "Hard"}, "type"),
        ("unlock", {"evse_id": 0}, "evse_id"),
        ("change-availability", {"operative": "maybe"}, "operative"),
        ("trigger-message", {"message": "TransactionEvent"}, "message"),
        ("reserve", {"id_tag": "CARD-1", "expiry": "2020-01-01T00:00:00Z"}, "expiry"),
        ("reserve", {"id_tag": "CARD-1", "expiry": "tomorrow"}, "expiry"),
        (
            "set-charging-profile",
            {
                "evse_id": 1,
                "charging_profile_id": 1,
                "stack_level": 0,
                "purpose": "TxDefaultProfile",
                "kind": "Absolute",
                "charging_rate_unit": "A",
                "periods": [{"start_period_s": 0, "limit": "16.25"}],
            },
            "periods/0/limit",
        ),
        (
            "set-charging-profile",
            {
                "evse_id": 1,
                "charging_profile_id": 1,
                "stack_level": 0,
                "purpose": "TxDefaultProfile",
                "kind": "Recurring",
                "charging_rate_unit": "A",
                "periods": [{"start_period_s": 0, "limit": 16}],
            },
            "recurrency",
        ),
        (
            "set-charging-profile",
            {
                "evse_id": 1,
                "charging_profile_id": 1,
                "stack_level": 0,
                "purpose": "ChargingStationMaxProfile",
                "kind": "Absolute",
                "charging_rate_unit": "A",
                "periods": [{"start_period_s": 0, "limit": 16}],
            },
            "evse_id",
        ),
        ("set-charging-profile", {"evse_id": 1}, "charging_profile_id"),
        ("clear-charging-profile", {"charging_profile_id": 1, "evse_id": 1}, "charging_profile_id"),
        ("composite-schedule", {"evse_id": 1}, "duration_s"),
        ("send-local-list", {"update_type": "Partial"}, "update_type"),
        ("update-firmware", {"location": "not a uri", "retrieve_date": "2030-01-01T00:00:00Z"}, "location"),
        ("fetch-logs", {}, "location"),
        ("get-configuration", {"keys": "HeartbeatInterval"}, "keys"),
        ("change-configuration", {"key": "A.B"}, "value"),
        ("stop-charging", {"transaction": "last"}, "transaction"),
    ],
)
def test_invalid_arguments_are_a_400_naming_the_field_and_nothing_is_sent(api, cps, stations, operation, body, field):
    response = post(api, CS201, operation, body)

    assert response.status_code == 400, response.json()
    assert response.json()["field"] == field
    assert field.split("/")[0] in response.json()["errors"]
    assert stations.sent == []
    assert not Command.objects.exists()


@pytest.mark.parametrize(
    "cp, operation, body, field",
    [
        (CP16, "start-charging", {"id_tag": "X" * 21}, "id_tag"),
        (CP16, "reset", {"type": "soft", "evse_id": 1}, "evse_id"),
        (CS201, "stop-charging", {"transaction": 999999}, "transaction"),
        (CS201, "get-configuration", {"keys": ["HeartbeatInterval"]}, "keys"),
    ],
)
def test_arguments_the_version_cannot_carry_are_a_400_naming_the_field(api, cps, stations, cp, operation, body, field):
    response = post(api, cp, operation, body)

    assert response.status_code == 400
    assert response.json()["field"] == field
    assert stations.sent == []


def test_a_payload_the_schema_refuses_is_a_400_naming_the_ocpp_field(api, cps, stations):
    # 1.6 ChangeConfiguration keys are CiString50; the neutral key allows longer 2.0.1 paths.
    response = post(api, CP16, "change-configuration", {"key": "K" * 60, "value": "1"})

    assert response.status_code == 400
    assert response.json()["field"] == "key"
    assert stations.sent == []


@pytest.mark.parametrize(
    "error, status",
    [
        (commands.ChargePointOffline("offline"), 409),
        (commands.QueueFull("busy"), 429),
        (commands.CallErrorReceived("no", error_code="NotSupported", error_description="", error_details={}), 502),
        (commands.InvalidResponse("bad", response={}), 502),
        (commands.CommandTimeout("late"), 504),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Exception) else str(v),
)
def test_failures_answer_the_raw_endpoints_statuses(api, cps, stations, error, status):
    stations.answers["Reset"] = error

    response = post(api, CS201, "reset", {"type": "soft"})

    assert response.status_code == status
    body = response.json()
    assert body["detail"] == error.message
    assert body["command_id"] == Command.objects.get().pk
    if status == 502 and "error_code" in error.details:
        assert body["error_code"] == "NotSupported"


def test_an_unknown_charge_point_or_operation_is_a_404(api, cps, stations):
    assert post(api, "CP-NOPE", "reset", {"type": "hard"}).status_code == 404
    unknown = post(api, CP16, "self-destruct")
    assert unknown.status_code == 404
    assert "start-charging" in unknown.json()["detail"]
    assert stations.sent == []


def test_the_timeout_is_passed_on_and_a_bad_one_refused(api, cps, stations):
    assert post(api, CP16, "reset", {}, timeout="2.5").status_code == 200
    assert stations.sent[-1].timeout == 2.5
    assert post(api, CP16, "reset", {}, timeout="soon").status_code == 400


def test_identities_with_special_characters_reach_their_charge_point(api, stations):
    ChargePoint.objects.create(id="CS:1*a@b", ocpp_version="2.0.1", connected=True)

    assert post(api, "CS:1*a@b", "reset", {}).status_code == 200
    assert stations.sent[0].charge_point_id == "CS:1*a@b"


def test_only_staff_may_send_operations(cps, stations, django_user_model):
    client = APIClient()
    assert client.post(f"/api/v1/chargepoints/{CP16}/operations/reset/", {}, format="json").status_code in (401, 403)
    client.force_authenticate(django_user_model.objects.create_user("driver", password="x"))
    assert client.post(f"/api/v1/chargepoints/{CP16}/operations/reset/", {}, format="json").status_code == 403
    assert stations.sent == []


def test_the_openapi_schema_documents_each_operation(api):
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/json").json()

    for name in operations.OPERATIONS:
        post_op = schema["paths"][f"/api/v1/chargepoints/{{charge_point_id}}/operations/{name}/"]["post"]
        assert set(post_op["responses"]) == {"200", "400", "404", "409", "429", "502", "504"}
        if operations.OPERATIONS[name].input().fields:  # renew-certificate takes no arguments, so documents no body
            assert "application/json" in post_op["requestBody"]["content"]
    components = schema["components"]["schemas"]
    assert components["ResetKindEnum"]["enum"] == ["soft", "hard"]
    assert set(components["OperationResult"]["properties"]) >= {
        "command_id",
        "charge_point",
        "operation",
        "ocpp_version",
        "action",
        "response",
    }


def test_whole_limits_are_sent_as_integers(cps, stations):
    # 16 rather than 16.0: the ocpp library's 1.6 charge point reads 16.0 as a Decimal it cannot echo back.
    run_operation("set-charging-profile", charge_point_id=CP16, evse_id=0, **{**PROFILE, "min_charging_rate": 6})

    schedule = stations.last[1]["csChargingProfiles"]["chargingSchedule"]
    assert [type(p["limit"]) for p in schedule["chargingSchedulePeriod"]] == [int, float]
    assert type(schedule["minChargingRate"]) is int


def test_every_operation_has_a_builder_in_each_version_and_every_builder_an_operation():
    from chargepoints import ocpp

    for version in ocpp.VERSIONS:
        assert set(ocpp.dialect(version).OPERATIONS) == set(operations.OPERATIONS), version
        for operation in operations.OPERATIONS.values():
            # The message a builder declares is one the version's central system may send.
            assert set(operation.message(version).split(" or ")) <= set(ocpp.dialect(version).ACTIONS)
