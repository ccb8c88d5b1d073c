"""State that follows from OCPP 2.0.1 stations' answers (chargepoints.ocpp.v201.answers).

As in tests/chargepoints/ocpp/v16/test_answers.py: each test stores a `Command` sent in 2.0.1, records
the station's CALLRESULT through `services.command_finish` — the door the
consumer uses — and checks what an operator would then see in the database.
"""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone as dj_timezone

from chargepoints import services
from chargepoints.exceptions import CommandOutcome
from chargepoints.models import (
    ChargePoint,
    ChargingProfile,
    ChargingProfileInstallation,
    Command,
    CommandStatus,
    ConfigurationKey,
    Variable,
)
from transactions.models import Reservation, ReservationStatus, Transaction

pytestmark = pytest.mark.django_db

EXPIRY = "2026-11-22T12:00:00Z"
AUTH_CTRLR = {"name": "AuthCtrlr"}
EVSE_1 = {"name": "EVSE", "evse": {"id": 1}}
CONNECTOR_1_2 = {"name": "Connector", "evse": {"id": 1, "connectorId": 2}}


@pytest.fixture
def station(db):
    return ChargePoint.objects.create(id="CS-1", ocpp_version="2.0.1")


@pytest.fixture
def other_station(db):
    return ChargePoint.objects.create(id="CS-2", ocpp_version="2.0.1")


def answer(action: str, payload: dict, response: dict, charge_point_id: str = "CS-1", version="2.0.1") -> Command:
    """Send `action` in `version` and record the CALLRESULT `response`, as the consumer does."""
    command = Command.objects.create(
        charge_point_id=charge_point_id,
        action=action,
        ocpp_version=version,
        payload=payload,
        status=CommandStatus.SENT,
        unique_id="u1",
    )
    services.command_finish(
        command_id=command.pk, outcome=CommandOutcome(status=CommandStatus.ANSWERED, response=response, round_trip_ms=8)
    )
    command.refresh_from_db()
    return command


def report(charge_point_id="CS-1", component=AUTH_CTRLR, variable="Enabled", value="true", mutability="ReadWrite"):
    """Have the station report one variable attribute in a NotifyReport (B07)."""
    services.device_model_report(
        charge_point_id=charge_point_id,
        report_data=[
            {
                "component": component,
                "variable": {"name": variable},
                "variableAttribute": [{"value": value, "mutability": mutability}],
                "variableCharacteristics": {"dataType": "boolean"},
            }
        ],
    )


def result(component: dict, variable: str, status="Accepted", **fields) -> dict:
    """A get/setVariableResult entry for `component`.`variable`."""
    return {"attributeStatus": status, "component": component, "variable": {"name": variable}, **fields}


def values(charge_point_id="CS-1") -> dict[tuple, str | None]:
    """{(component path, variable path, attribute type): value} of the station's device model."""
    return {
        (v.component_path, v.variable_path, v.attribute_type): v.value for v in Variable.objects.filter(charge_point_id=charge_point_id)
    }


def installed(charge_point_id: str = "CS-1") -> dict[int, int]:
    """Active installations: {charging profile id: EVSE id}."""
    active = ChargingProfileInstallation.objects.filter(charge_point_id=charge_point_id, cleared_at__isnull=True)
    return dict(active.values_list("profile__charging_profile_id", "evse_id"))


def profile(profile_id: int, purpose="TxDefaultProfile", stack_level=0, limit=16.0, **fields) -> dict:
    """A 2.0.1 ChargingProfileType with one schedule (a list, unlike 1.6)."""
    return {
        "id": profile_id,
        "stackLevel": stack_level,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": "Absolute",
        "chargingSchedule": [
            {
                "id": 1,
                "chargingRateUnit": "A",
                "startSchedule": "2026-11-22T00:00:00Z",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}],
            }
        ],
        **fields,
    }


def set_profile(evse_id: int, p: dict, status="Accepted", charge_point_id="CS-1") -> Command:
    return answer("SetChargingProfile", {"evseId": evse_id, "chargingProfile": p}, {"status": status}, charge_point_id)


# --- GetVariables (B06)


def test_get_variables_stores_each_accepted_value(station):
    answer(
        "GetVariables",
        {
            "getVariableData": [
                {"component": AUTH_CTRLR, "variable": {"name": "Enabled"}},
                {"component": EVSE_1, "variable": {"name": "Power"}, "attributeType": "MaxSet"},
            ]
        },
        {
            "getVariableResult": [
                result(AUTH_CTRLR, "Enabled", attributeValue="false"),
                {
                    "attributeStatus": "Accepted",
                    "attributeType": "MaxSet",
                    "component": EVSE_1,
                    "variable": {"name": "Power"},
                    "attributeValue": "22000",
                },
            ]
        },
    )

    assert values() == {
        ("AuthCtrlr", "Enabled", "Actual"): "false",
        ("EVSE@EVSE1", "Power", "MaxSet"): "22000",
    }


def test_get_variables_updates_a_reported_variable_and_keeps_its_characteristics(station):
    report(value="true", mutability="ReadWrite")

    answer(
        "GetVariables",
        {"getVariableData": [{"component": AUTH_CTRLR, "variable": {"name": "Enabled"}}]},
        {"getVariableResult": [result(AUTH_CTRLR, "Enabled", attributeValue="false")]},
    )

    variable = Variable.objects.get()
    assert (variable.value, variable.mutability, variable.data_type) == ("false", "ReadWrite", "boolean")


def test_get_variables_takes_the_requested_attribute_type_when_the_station_leaves_it_out(station):
    answer(
        "GetVariables",
        {"getVariableData": [{"component": EVSE_1, "variable": {"name": "Power"}, "attributeType": "Target"}]},
        {"getVariableResult": [result(EVSE_1, "Power", attributeValue="11000")]},
    )

    assert values() == {("EVSE@EVSE1", "Power", "Target"): "11000"}


def test_get_variables_matches_results_answered_out_of_order(station):
    answer(
        "GetVariables",
        {
            "getVariableData": [
                {"component": EVSE_1, "variable": {"name": "Power"}, "attributeType": "Target"},
                {"component": AUTH_CTRLR, "variable": {"name": "Enabled"}},
            ]
        },
        {
            "getVariableResult": [
                result(AUTH_CTRLR, "Enabled", attributeValue="true"),
                result(EVSE_1, "Power", attributeValue="7000"),
            ]
        },
    )

    assert values() == {("AuthCtrlr", "Enabled", "Actual"): "true", ("EVSE@EVSE1", "Power", "Target"): "7000"}


@pytest.mark.parametrize("status", ["Rejected", "UnknownComponent", "UnknownVariable", "NotSupportedAttributeType"])
def test_get_variables_keeps_the_stored_value_when_not_accepted(station, status):
    report(value="true")

    answer(
        "GetVariables",
        {"getVariableData": [{"component": AUTH_CTRLR, "variable": {"name": "Enabled"}}]},
        {"getVariableResult": [{"attributeStatus": status, "component": AUTH_CTRLR, "variable": {"name": "Enabled"}}]},
    )

    assert values() == {("AuthCtrlr", "Enabled", "Actual"): "true"}


def test_get_variables_keeps_instances_and_connectors_apart(station):
    answer(
        "GetVariables",
        {
            "getVariableData": [
                {"component": {**CONNECTOR_1_2, "instance": "A"}, "variable": {"name": "Available", "instance": "x"}},
            ]
        },
        {
            "getVariableResult": [
                {
                    "attributeStatus": "Accepted",
                    "component": {**CONNECTOR_1_2, "instance": "A"},
                    "variable": {"name": "Available", "instance": "x"},
                    "attributeValue": "true",
                }
            ]
        },
    )

    variable = Variable.objects.get()
    assert (variable.component, variable.component_instance) == ("Connector", "A")
    assert (variable.evse_id, variable.connector_id) == (1, 2)
    assert (variable.variable, variable.variable_instance, variable.value) == ("Available", "x", "true")


def test_a_1_6_get_configuration_is_not_read_as_get_variables(station):
    # Same device, other version: the version the command was sent in picks the applier.
    key = {"key": "HeartbeatInterval", "value": "60", "readonly": False}
    answer("GetConfiguration", {}, {"configurationKey": [key]}, version="1.6")

    assert ConfigurationKey.objects.filter(charge_point_id="CS-1").count() == 1
    assert not Variable.objects.exists()


# --- SetVariables (B05)


def set_variables(entries: list[dict], results: list[dict]) -> Command:
    return answer("SetVariables", {"setVariableData": entries}, {"setVariableResult": results})


@pytest.mark.parametrize("status", ["Accepted", "RebootRequired"])
def test_set_variables_stores_the_value_the_request_set(station, status):
    report(value="true")

    set_variables(
        [{"component": AUTH_CTRLR, "variable": {"name": "Enabled"}, "attributeValue": "false"}],
        [{"attributeStatus": status, "component": AUTH_CTRLR, "variable": {"name": "Enabled"}}],
    )

    assert values() == {("AuthCtrlr", "Enabled", "Actual"): "false"}


@pytest.mark.parametrize("status", ["Rejected", "UnknownComponent", "UnknownVariable", "NotSupportedAttributeType"])
def test_set_variables_keeps_the_value_when_refused(station, status):
    report(value="true")

    set_variables(
        [{"component": AUTH_CTRLR, "variable": {"name": "Enabled"}, "attributeValue": "false"}],
        [{"attributeStatus": status, "component": AUTH_CTRLR, "variable": {"name": "Enabled"}}],
    )

    assert values() == {("AuthCtrlr", "Enabled", "Actual"): "true"}


def test_set_variables_stores_only_the_accepted_entries_of_a_mixed_answer(station):
    set_variables(
        [
            {"component": AUTH_CTRLR, "variable": {"name": "Enabled"}, "attributeValue": "false"},
            {"component": EVSE_1, "variable": {"name": "Power"}, "attributeType": "Target", "attributeValue": "7400"},
            {"component": EVSE_1, "variable": {"name": "Power"}, "attributeType": "MaxSet", "attributeValue": "99999"},
        ],
        [
            {"attributeStatus": "Accepted", "component": AUTH_CTRLR, "variable": {"name": "Enabled"}},
            result(EVSE_1, "Power", attributeType="Target"),
            result(EVSE_1, "Power", "Rejected", attributeType="MaxSet"),
        ],
    )

    assert values() == {("AuthCtrlr", "Enabled", "Actual"): "false", ("EVSE@EVSE1", "Power", "Target"): "7400"}


def test_set_variables_matches_results_by_attribute_type_not_position(station):
    set_variables(
        [
            {"component": EVSE_1, "variable": {"name": "Power"}, "attributeType": "Target", "attributeValue": "7400"},
            {"component": EVSE_1, "variable": {"name": "Power"}, "attributeType": "MaxSet", "attributeValue": "11000"},
        ],
        [
            result(EVSE_1, "Power", attributeType="MaxSet"),
            result(EVSE_1, "Power", "Rejected", attributeType="Target"),
        ],
    )

    assert values() == {("EVSE@EVSE1", "Power", "MaxSet"): "11000"}


def test_set_variables_keeps_no_value_of_a_write_only_variable(station):
    security = {"name": "SecurityCtrlr"}
    report(component=security, variable="BasicAuthPassword", value=None, mutability="WriteOnly")
    before = Variable.objects.get().updated_at

    set_variables(
        [{"component": security, "variable": {"name": "BasicAuthPassword"}, "attributeValue": "s3cret-s3cret-s3cret"}],
        [result(security, "BasicAuthPassword")],
    )

    password = Variable.objects.get()
    assert password.value is None  # a secret the station never reports stays unreadable here too
    assert password.updated_at > before


@pytest.mark.parametrize("logged_value", ["s3cret-s3cret-s3cret", "***"])
def test_set_variables_keeps_no_basic_auth_password_even_when_the_station_did_not_report_it(station, logged_value):
    # SecurityCtrlr.BasicAuthPassword is WriteOnly by the spec, reported or not;
    # the logged request holds "***" (services.command_create), older rows the password.
    security = {"name": "SecurityCtrlr"}
    report(component=security, variable="BasicAuthPassword", value=None, mutability="ReadWrite")  # a sloppy report

    set_variables(
        [{"component": security, "variable": {"name": "BasicAuthPassword"}, "attributeValue": logged_value}],
        [result(security, "BasicAuthPassword")],
    )

    assert values() == {("SecurityCtrlr", "BasicAuthPassword", "Actual"): None}


def test_set_variables_of_an_unreported_basic_auth_password_stores_nothing(station):
    security = {"name": "SecurityCtrlr"}

    set_variables(
        [{"component": security, "variable": {"name": "BasicAuthPassword"}, "attributeValue": "***"}],
        [result(security, "BasicAuthPassword")],
    )

    assert not Variable.objects.exists()


def test_a_secret_a_station_reports_anyway_is_not_stored(station):
    # WriteOnly values and BasicAuthPassword are never readable (B06, B07); a station that sends one anyway.
    report(component={"name": "AcmeCtrlr"}, variable="ModemPin", value="4711", mutability="WriteOnly")
    report(component={"name": "SecurityCtrlr"}, variable="BasicAuthPassword", value="s3cret", mutability="ReadWrite")
    answer(
        "GetVariables",
        {"getVariableData": [{"component": {"name": "SecurityCtrlr"}, "variable": {"name": "BasicAuthPassword"}}]},
        {"getVariableResult": [result({"name": "SecurityCtrlr"}, "BasicAuthPassword", attributeValue="s3cret")]},
    )

    assert values() == {
        ("AcmeCtrlr", "ModemPin", "Actual"): None,
        ("SecurityCtrlr", "BasicAuthPassword", "Actual"): None,
    }


def test_set_variables_ignores_a_result_for_a_variable_it_did_not_set(station, caplog):
    set_variables(
        [{"component": AUTH_CTRLR, "variable": {"name": "Enabled"}, "attributeValue": "false"}],
        [{"attributeStatus": "Accepted", "component": AUTH_CTRLR, "variable": {"name": "LocalAuthorizeOffline"}}],
    )

    assert not Variable.objects.exists()
    assert "answers no requested variable" in caplog.text


def test_set_variables_changes_only_its_own_stations_device_model(station, other_station):
    report("CS-2", value="true")

    set_variables(
        [{"component": AUTH_CTRLR, "variable": {"name": "Enabled"}, "attributeValue": "false"}],
        [{"attributeStatus": "Accepted", "component": AUTH_CTRLR, "variable": {"name": "Enabled"}}],
    )

    assert values("CS-2") == {("AuthCtrlr", "Enabled", "Actual"): "true"}
    assert values("CS-1") == {("AuthCtrlr", "Enabled", "Actual"): "false"}


# --- RequestStopTransaction (F03)


def station_transaction(station_transaction_id="tx-7f3a", charge_point_id="CS-1") -> Transaction:
    return Transaction.objects.create(
        charge_point_id=charge_point_id, station_transaction_id=station_transaction_id, evse_id=1, start_timestamp=dj_timezone.now()
    )


def test_an_accepted_request_stop_marks_the_transaction_by_the_stations_id(station, other_station):
    tx = station_transaction()
    same_id_elsewhere = station_transaction(charge_point_id="CS-2")

    answer("RequestStopTransaction", {"transactionId": "tx-7f3a"}, {"status": "Accepted"})

    tx.refresh_from_db()
    same_id_elsewhere.refresh_from_db()
    assert tx.remote_stop_requested_at is not None
    assert tx.is_active  # the Ended TransactionEvent stops it
    assert same_id_elsewhere.remote_stop_requested_at is None


def test_a_rejected_request_stop_leaves_the_transaction_unmarked(station):
    tx = station_transaction()

    answer("RequestStopTransaction", {"transactionId": "tx-7f3a"}, {"status": "Rejected"})

    tx.refresh_from_db()
    assert tx.remote_stop_requested_at is None


def test_a_request_stop_does_not_read_the_station_id_as_this_systems_id(station):
    # A 1.6 transactionId is our primary key; a 2.0.1 one is the station's string.
    tx = station_transaction(station_transaction_id="tx-other")

    answer("RequestStopTransaction", {"transactionId": str(tx.pk)}, {"status": "Accepted"})

    tx.refresh_from_db()
    assert tx.remote_stop_requested_at is None


# --- ReserveNow (H01) and CancelReservation (H02)


def reserve(reservation_id=41, status="Accepted", charge_point_id="CS-1", **fields) -> Command:
    token = {"idToken": "TOKEN-1", "type": "ISO14443"}
    payload = {"id": reservation_id, "expiryDateTime": EXPIRY, "idToken": token, **fields}
    return answer("ReserveNow", payload, {"status": status}, charge_point_id)


def test_reserve_now_records_the_reservation_on_its_evse(station):
    reserve(evseId=2, groupIdToken={"idToken": "FLEET", "type": "Central"})

    reservation = Reservation.objects.get(pk=41)
    assert reservation.charge_point_id == "CS-1"
    assert (reservation.evse_id, reservation.id_tag, reservation.parent_id_tag) == (2, "TOKEN-1", "FLEET")
    assert reservation.expiry_date == datetime(2026, 11, 22, 12, tzinfo=UTC)
    assert reservation.status == ReservationStatus.ACCEPTED


def test_reserve_now_without_evse_reserves_the_station_as_evse_0(station):
    reserve()

    reservation = Reservation.objects.get(pk=41)
    assert (reservation.evse_id, reservation.parent_id_tag) == (0, "")


@pytest.mark.parametrize("status", ["Faulted", "Occupied", "Rejected", "Unavailable"])
def test_reserve_now_keeps_a_refused_answer_as_the_reservation_status(station, status):
    reserve(status=status, evseId=1)

    assert Reservation.objects.get(pk=41).status == status


def test_reserve_now_again_updates_the_same_reservation(station):
    reserve(evseId=1)
    reserve(evseId=2, expiryDateTime="2026-11-23T12:00:00Z")

    reservation = Reservation.objects.get()
    assert reservation.evse_id == 2
    assert reservation.expiry_date == datetime(2026, 11, 23, 12, tzinfo=UTC)


def test_reserve_now_leaves_another_stations_reservation_with_the_same_id_alone(station, other_station, caplog):
    reserve(charge_point_id="CS-2", evseId=1)

    reserve(evseId=3)

    reservation = Reservation.objects.get(pk=41)
    assert (reservation.charge_point_id, reservation.evse_id) == ("CS-2", 1)
    assert "belongs to CS-2" in caplog.text


def test_an_accepted_cancel_reservation_cancels_it(station):
    reserve(evseId=1)

    answer("CancelReservation", {"reservationId": 41}, {"status": "Accepted"})

    assert Reservation.objects.get(pk=41).status == ReservationStatus.CANCELLED


def test_a_rejected_cancel_reservation_keeps_it(station):
    reserve(evseId=1)

    answer("CancelReservation", {"reservationId": 41}, {"status": "Rejected"})

    assert Reservation.objects.get(pk=41).status == ReservationStatus.ACCEPTED


def test_cancel_reservation_never_cancels_another_stations_reservation(station, other_station):
    reserve(charge_point_id="CS-2", evseId=1)

    answer("CancelReservation", {"reservationId": 41}, {"status": "Accepted"})

    assert Reservation.objects.get(pk=41).status == ReservationStatus.ACCEPTED


# --- SetChargingProfile (K01) and ClearChargingProfile (K10)


def test_set_charging_profile_stores_the_profile_and_installs_it_on_the_evse(station):
    set_profile(1, profile(7, validFrom="2026-11-22T00:00:00Z", validTo="2026-12-22T00:00:00Z", recurrencyKind="Daily"))

    stored = ChargingProfile.objects.get(charge_point_id="CS-1", charging_profile_id=7)
    assert (stored.purpose, stored.stack_level, stored.kind, stored.recurrency_kind) == (
        "TxDefaultProfile",
        0,
        "Absolute",
        "Daily",
    )
    assert stored.valid_from == datetime(2026, 11, 22, tzinfo=UTC)
    assert stored.valid_to == datetime(2026, 12, 22, tzinfo=UTC)
    assert stored.schedule == profile(7)["chargingSchedule"]
    assert stored.transaction_id is None
    assert installed() == {7: 1}


def test_a_refused_charging_profile_is_neither_stored_nor_installed(station):
    set_profile(1, profile(7), status="Rejected")

    assert not ChargingProfile.objects.exists()
    assert installed() == {}


@pytest.mark.parametrize("purpose", ["ChargingStationMaxProfile", "ChargingStationExternalConstraints"])
def test_the_longest_201_purposes_are_stored_and_installed(station, purpose):
    command = set_profile(0, profile(9, purpose=purpose))

    assert command.status == CommandStatus.ANSWERED
    assert ChargingProfile.objects.get(charging_profile_id=9).purpose == purpose
    assert installed() == {9: 0}


def test_a_tx_profile_keeps_this_systems_id_of_the_stations_transaction(station):
    tx = station_transaction("tx-7f3a")

    set_profile(1, profile(8, purpose="TxProfile", transactionId="tx-7f3a"))

    assert ChargingProfile.objects.get(charging_profile_id=8).transaction_id == tx.pk


def test_a_tx_profile_for_an_unknown_transaction_is_stored_without_it(station, caplog):
    set_profile(1, profile(8, purpose="TxProfile", transactionId="tx-unknown"))

    assert ChargingProfile.objects.get(charging_profile_id=8).transaction_id is None
    assert installed() == {8: 1}
    assert "unknown here" in caplog.text


def test_a_profile_replaces_the_one_with_its_id_and_the_one_with_its_purpose_and_stack_level(station):
    set_profile(1, profile(7, stack_level=0))
    set_profile(1, profile(8, stack_level=1))
    set_profile(2, profile(9, stack_level=1))

    set_profile(0, profile(7, stack_level=2))  # same id, moved to the station as a whole
    set_profile(1, profile(10, stack_level=1))  # same purpose and level on EVSE 1

    assert installed() == {7: 0, 9: 2, 10: 1}
    assert ChargingProfile.objects.get(charging_profile_id=7).stack_level == 2


def test_clear_charging_profile_by_id_clears_only_that_profile(station):
    set_profile(1, profile(7))
    set_profile(2, profile(8))

    answer("ClearChargingProfile", {"chargingProfileId": 7}, {"status": "Accepted"})

    assert installed() == {8: 2}
    assert ChargingProfile.objects.count() == 2  # kept, with its installation history


@pytest.mark.parametrize(
    "criteria, left",
    [
        ({"evseId": 1}, {9: 2}),
        ({"chargingProfilePurpose": "TxProfile"}, {7: 1, 8: 1}),
        ({"stackLevel": 1}, {7: 1, 9: 2}),
        ({"evseId": 2, "stackLevel": 0}, {7: 1, 8: 1}),
        ({"evseId": 1, "chargingProfilePurpose": "TxDefaultProfile", "stackLevel": 1}, {7: 1, 9: 2}),
    ],
)
def test_clear_charging_profile_by_criteria_clears_what_matches_them_all(station, criteria, left):
    station_transaction("tx-1")
    set_profile(1, profile(7, stack_level=0))
    set_profile(1, profile(8, stack_level=1))
    set_profile(2, profile(9, purpose="TxProfile", stack_level=0, transactionId="tx-1"))

    answer("ClearChargingProfile", {"chargingProfileCriteria": criteria}, {"status": "Accepted"})

    assert installed() == left


def test_clear_charging_profile_without_id_or_criteria_clears_everything(station):
    set_profile(1, profile(7))
    set_profile(2, profile(8))

    answer("ClearChargingProfile", {}, {"status": "Accepted"})

    assert installed() == {}


def test_clear_charging_profile_answered_unknown_clears_nothing(station):
    set_profile(1, profile(7))

    answer("ClearChargingProfile", {"chargingProfileId": 7}, {"status": "Unknown"})

    assert installed() == {7: 1}


def test_clear_charging_profile_touches_only_its_own_station(station, other_station):
    set_profile(1, profile(7))
    set_profile(1, profile(7), charge_point_id="CS-2")

    answer("ClearChargingProfile", {"chargingProfileId": 7}, {"status": "Accepted"})

    assert installed("CS-1") == {}
    assert installed("CS-2") == {7: 1}


# --- SendLocalList (D01) and GetLocalListVersion (D02)


def test_an_accepted_local_list_sets_the_stations_list_version(station):
    synced = dj_timezone.now() - timedelta(hours=1)
    ChargePoint.objects.filter(pk="CS-1").update(local_list_version=3, local_list_synced_at=synced)

    answer("SendLocalList", {"versionNumber": 4, "updateType": "Differential"}, {"status": "Accepted"})

    station.refresh_from_db()
    assert station.local_list_version == 4
    assert station.local_list_synced_at == synced  # operations.send_local_list owns that moment


@pytest.mark.parametrize("status", ["Failed", "VersionMismatch"])
def test_a_refused_local_list_keeps_the_list_version(station, status):
    ChargePoint.objects.filter(pk="CS-1").update(local_list_version=3)

    answer("SendLocalList", {"versionNumber": 4, "updateType": "Full"}, {"status": status})

    station.refresh_from_db()
    assert station.local_list_version == 3


def test_a_reported_list_version_other_than_ours_forgets_when_we_synced(station):
    ChargePoint.objects.filter(pk="CS-1").update(local_list_version=4, local_list_synced_at=dj_timezone.now())

    answer("GetLocalListVersion", {}, {"versionNumber": 0})

    station.refresh_from_db()
    assert (station.local_list_version, station.local_list_synced_at) == (0, None)


def test_a_reported_list_version_equal_to_ours_keeps_the_sync_time(station):
    synced = dj_timezone.now() - timedelta(minutes=5)
    ChargePoint.objects.filter(pk="CS-1").update(local_list_version=4, local_list_synced_at=synced)

    answer("GetLocalListVersion", {}, {"versionNumber": 4})

    station.refresh_from_db()
    assert (station.local_list_version, station.local_list_synced_at) == (4, synced)
