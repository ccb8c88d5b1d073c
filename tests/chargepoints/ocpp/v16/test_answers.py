"""State that follows from charge points' answers (chargepoints.ocpp.v16.answers), and the operations that build payloads.

Each test stores a `Command` as the consumer would have sent it, records its
outcome through `services.command_finish` — the one door the consumer uses —
and checks what an operator would then see in the database.
"""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone as dj_timezone
from django.utils.timezone import now as dj_now

from chargepoints import commands, services
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
from chargepoints.ocpp.datetimes import format_datetime
from tests.chargepoints.test_operations import run_operation
from transactions import services as tx_services
from transactions.models import IdTag, Reservation, ReservationStatus, Transaction

pytestmark = pytest.mark.django_db

EXPIRY = "2026-11-22T12:00:00Z"


@pytest.fixture
def other_charge_point(db):
    return ChargePoint.objects.create(id="CP-2")


def sent(action: str, payload: dict, charge_point_id: str = "CP-1") -> Command:
    """A command whose CALL went out and waits for its answer."""
    return Command.objects.create(
        charge_point_id=charge_point_id, action=action, payload=payload, status=CommandStatus.SENT, unique_id="u1"
    )


def answer(action: str, payload: dict, response: dict, charge_point_id: str = "CP-1") -> Command:
    """Send `action` and record the CALLRESULT `response`, as the consumer does."""
    command = sent(action, payload, charge_point_id)
    services.command_finish(
        command_id=command.pk, outcome=CommandOutcome(status=CommandStatus.ANSWERED, response=response, round_trip_ms=8)
    )
    command.refresh_from_db()
    return command


def keys(charge_point_id: str = "CP-1") -> dict[str, tuple]:
    return {k.key: (k.value, k.readonly) for k in ConfigurationKey.objects.filter(charge_point_id=charge_point_id)}


def installed(charge_point_id: str = "CP-1") -> dict[int, int]:
    """Active installations: {charging profile id: connector id}."""
    return dict(
        ChargingProfileInstallation.objects.filter(charge_point_id=charge_point_id, cleared_at__isnull=True).values_list(
            "profile__charging_profile_id", "evse_id"
        )
    )


def profile(profile_id: int, purpose: str = "TxDefaultProfile", stack_level: int = 0, limit: float = 16) -> dict:
    return {
        "chargingProfileId": profile_id,
        "stackLevel": stack_level,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": "Absolute",
        "validFrom": "2026-11-22T00:00:00Z",
        "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}]},
    }


def set_profile(connector_id: int, p: dict, status: str = "Accepted", charge_point_id: str = "CP-1") -> Command:
    return answer("SetChargingProfile", {"connectorId": connector_id, "csChargingProfiles": p}, {"status": status}, charge_point_id)


# --- GetConfiguration (§5.8) -------------------------------------------------


def test_a_get_configuration_of_all_keys_replaces_the_snapshot(charge_point):
    ConfigurationKey.objects.create(charge_point=charge_point, key="Gone", value="1")
    ConfigurationKey.objects.create(charge_point=charge_point, key="HeartbeatInterval", value="300")

    answer(
        "GetConfiguration",
        {},
        {
            "configurationKey": [
                {"key": "HeartbeatInterval", "readonly": False, "value": "60"},
                {"key": "NumberOfConnectors", "readonly": True, "value": "2"},
                {"key": "NoValue", "readonly": True},
            ]
        },
    )

    assert keys() == {"HeartbeatInterval": ("60", False), "NumberOfConnectors": ("2", True), "NoValue": (None, True)}


def test_a_get_configuration_of_some_keys_updates_them_and_forgets_the_unknown_ones(charge_point):
    for key, value in (("HeartbeatInterval", "300"), ("Kept", "k"), ("Removed", "r")):
        ConfigurationKey.objects.create(charge_point=charge_point, key=key, value=value)

    answer(
        "GetConfiguration",
        {"key": ["HeartbeatInterval", "Removed", "NeverHeardOf"]},
        {
            "configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "90"}],
            "unknownKey": ["Removed", "NeverHeardOf"],
        },
    )

    assert keys() == {"HeartbeatInterval": ("90", False), "Kept": ("k", False)}


def test_a_get_configuration_answer_touches_only_its_own_charge_points_keys(charge_point, other_charge_point):
    ConfigurationKey.objects.create(charge_point=other_charge_point, key="HeartbeatInterval", value="300")

    answer("GetConfiguration", {}, {"configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "5"}]})

    assert keys("CP-2") == {"HeartbeatInterval": ("300", False)}


# --- ChangeConfiguration (§5.3) ----------------------------------------------


@pytest.mark.parametrize("status", ["Accepted", "RebootRequired"])
def test_an_accepted_configuration_change_is_the_keys_new_value(charge_point, status):
    ConfigurationKey.objects.create(charge_point=charge_point, key="HeartbeatInterval", value="300")

    answer("ChangeConfiguration", {"key": "HeartbeatInterval", "value": "120"}, {"status": status})
    answer("ChangeConfiguration", {"key": "NotYetKnown", "value": "on"}, {"status": status})

    assert keys() == {"HeartbeatInterval": ("120", False), "NotYetKnown": ("on", False)}


@pytest.mark.parametrize("status", ["Rejected", "NotSupported"])
def test_a_refused_configuration_change_changes_nothing(charge_point, status):
    ConfigurationKey.objects.create(charge_point=charge_point, key="NumberOfConnectors", value="2", readonly=True)

    answer("ChangeConfiguration", {"key": "NumberOfConnectors", "value": "8"}, {"status": status})
    answer("ChangeConfiguration", {"key": "Volume", "value": "11"}, {"status": status})

    assert keys() == {"NumberOfConnectors": ("2", True)}


@pytest.mark.parametrize("logged_value", ["0123456789abcdef0123456789abcdef01234567", "***"])
def test_an_accepted_authorization_key_is_recorded_as_changed_without_its_value(charge_point, logged_value):
    # The log holds "***" (services.command_create); older rows may still hold the key itself.
    ConfigurationKey.objects.create(charge_point=charge_point, key="AuthorizationKey", value=None)
    before = ConfigurationKey.objects.get().updated_at

    answer("ChangeConfiguration", {"key": "AuthorizationKey", "value": logged_value}, {"status": "Accepted"})

    key = ConfigurationKey.objects.get()
    assert key.value is None and key.updated_at > before


def test_a_get_configuration_that_reports_the_authorization_key_does_not_store_it(charge_point):
    # The Security Whitepaper forbids reporting it; a charge point that does anyway.
    answer(
        "GetConfiguration",
        {},
        {"configurationKey": [{"key": "AuthorizationKey", "readonly": False, "value": "0123456789abcdef"}]},
    )

    assert keys() == {"AuthorizationKey": (None, False)}


# --- RemoteStopTransaction (§5.12) -------------------------------------------


def start(charge_point_id: str = "CP-1", connector_id: int = 1, reservation_id=None, minute: int = 0) -> Transaction:
    tx, _ = tx_services.transaction_start(
        charge_point_id=charge_point_id,
        connector_id=connector_id,
        id_tag="CARD-1",
        meter_start_wh=1000,
        timestamp=datetime(2026, 11, 22, 10, minute, tzinfo=UTC),
        reservation_id=reservation_id,
    )
    return tx


def test_an_accepted_remote_stop_marks_the_transaction_as_asked_to_stop(charge_point):
    tx = start()

    answer("RemoteStopTransaction", {"transactionId": tx.pk}, {"status": "Accepted"})

    tx.refresh_from_db()
    assert tx.remote_stop_requested_at is not None
    assert tx.is_active, "the StopTransaction that follows closes it, not the answer"


def test_a_rejected_remote_stop_leaves_the_transaction_alone(charge_point):
    tx = start()

    answer("RemoteStopTransaction", {"transactionId": tx.pk}, {"status": "Rejected"})

    tx.refresh_from_db()
    assert tx.remote_stop_requested_at is None


def test_a_remote_stop_accepted_by_one_charge_point_does_not_mark_another_ones_transaction(charge_point, other_charge_point):
    tx = start("CP-2")

    answer("RemoteStopTransaction", {"transactionId": tx.pk}, {"status": "Accepted"})

    tx.refresh_from_db()
    assert tx.remote_stop_requested_at is None


# --- ReserveNow (§5.13) and CancelReservation (§5.1) ------------------------


def reserve(reservation_id: int, status: str, connector_id: int = 1, charge_point_id: str = "CP-1", **extra) -> Command:
    payload = {"connectorId": connector_id, "expiryDate": EXPIRY, "idTag": "CARD-1", "reservationId": reservation_id, **extra}
    return answer("ReserveNow", payload, {"status": status}, charge_point_id)


@pytest.mark.parametrize("status", ["Accepted", "Faulted", "Occupied", "Rejected", "Unavailable"])
def test_a_reservation_takes_the_status_the_charge_point_answers(charge_point, status):
    reserve(77, status, connector_id=2, parentIdTag="FLEET")

    reservation = Reservation.objects.get(pk=77)
    assert reservation.status == status
    assert (reservation.charge_point_id, reservation.evse_id) == ("CP-1", 2)
    assert (reservation.id_tag, reservation.parent_id_tag) == ("CARD-1", "FLEET")
    assert reservation.expiry_date == datetime(2026, 11, 22, 12, tzinfo=UTC)


def test_a_requested_reservation_is_updated_by_the_answer(charge_point):
    requested = Reservation.objects.create(
        charge_point=charge_point, evse_id=1, id_tag="CARD-1", expiry_date=dj_timezone.now(), status=ReservationStatus.REQUESTED
    )

    reserve(requested.pk, "Accepted")

    requested.refresh_from_db()
    assert requested.status == ReservationStatus.ACCEPTED
    assert Reservation.objects.count() == 1


def test_an_accepted_cancellation_cancels_the_reservation(charge_point):
    reserve(5, "Accepted")

    answer("CancelReservation", {"reservationId": 5}, {"status": "Accepted"})

    assert Reservation.objects.get(pk=5).status == ReservationStatus.CANCELLED


def test_a_rejected_cancellation_leaves_the_reservation(charge_point):
    reserve(5, "Accepted")

    answer("CancelReservation", {"reservationId": 5}, {"status": "Rejected"})

    assert Reservation.objects.get(pk=5).status == ReservationStatus.ACCEPTED


def test_a_cancellation_on_one_charge_point_does_not_cancel_another_ones_reservation(charge_point, other_charge_point):
    reserve(5, "Accepted", charge_point_id="CP-2")

    answer("CancelReservation", {"reservationId": 5}, {"status": "Accepted"})

    assert Reservation.objects.get(pk=5).status == ReservationStatus.ACCEPTED


def test_it_marks_the_reservation_used_when_a_transaction_starts_on_it(charge_point):
    reserve(9, "Accepted")

    tx = start(reservation_id=9)

    reservation = Reservation.objects.get(pk=9)
    assert reservation.status == ReservationStatus.USED
    assert reservation.transaction == tx
    assert tx.reservation_id == 9


def test_a_start_transaction_retried_after_a_lost_reply_consumes_the_reservation_once(charge_point):
    reserve(9, "Accepted")
    first = start(reservation_id=9)

    again = start(reservation_id=9)

    assert again == first
    assert Transaction.objects.count() == 1
    assert Reservation.objects.get(pk=9).transaction == first


def test_a_transaction_naming_another_charge_points_reservation_does_not_consume_it(charge_point, other_charge_point):
    reserve(9, "Accepted", charge_point_id="CP-2")

    start("CP-1", reservation_id=9)

    reservation = Reservation.objects.get(pk=9)
    assert reservation.status == ReservationStatus.ACCEPTED
    assert reservation.transaction is None


def test_a_transaction_without_a_reservation_leaves_reservations_alone(charge_point):
    reserve(9, "Accepted")

    start()

    assert Reservation.objects.get(pk=9).status == ReservationStatus.ACCEPTED


# --- SetChargingProfile (§5.16) ----------------------------------------------


def test_an_accepted_charging_profile_is_stored_and_installed_on_the_connector(charge_point):
    tx = start()
    p = profile(1, "TxProfile", stack_level=2, limit=10)
    p["transactionId"] = tx.pk
    p["validTo"] = "2026-11-23T00:00:00Z"
    p["recurrencyKind"] = "Daily"

    set_profile(1, p)

    stored = ChargingProfile.objects.get(charging_profile_id=1)
    assert (stored.purpose, stored.stack_level, stored.kind, stored.recurrency_kind) == ("TxProfile", 2, "Absolute", "Daily")
    assert stored.transaction == tx
    assert stored.valid_from == datetime(2026, 11, 22, tzinfo=UTC)
    assert stored.valid_to == datetime(2026, 11, 23, tzinfo=UTC)
    assert stored.schedule["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 10}]
    assert installed() == {1: 1}


def test_a_tx_profile_for_a_transaction_unknown_here_is_stored_without_it(charge_point):
    ChargePoint.objects.create(id="CP-2")
    other = start(charge_point_id="CP-2")  # not this charge point's
    for profile_id, transaction_id in ((1, 424242), (2, other.pk)):
        p = profile(profile_id, "TxProfile", stack_level=profile_id, limit=10)
        p["transactionId"] = transaction_id
        set_profile(1, p)

    assert list(ChargingProfile.objects.order_by("charging_profile_id").values_list("transaction", flat=True)) == [None, None]
    assert installed() == {1: 1, 2: 1}


def test_deleting_its_transaction_keeps_the_tx_profile_without_it(charge_point):
    tx = start()
    p = profile(1, "TxProfile", stack_level=2, limit=10)
    p["transactionId"] = tx.pk
    set_profile(1, p)

    tx.delete()

    stored = ChargingProfile.objects.get(charging_profile_id=1)
    assert stored.transaction is None
    assert installed() == {1: 1}


@pytest.mark.parametrize("status", ["Rejected", "NotSupported"])
def test_a_refused_charging_profile_is_not_installed(charge_point, status):
    set_profile(1, profile(1), status=status)

    assert installed() == {}
    assert not ChargingProfile.objects.exists()


def test_a_profile_with_the_same_id_replaces_the_installed_one_wherever_it_was(charge_point):
    set_profile(1, profile(1, limit=16))

    set_profile(2, profile(1, stack_level=3, limit=8))

    assert installed() == {1: 2}
    assert ChargingProfile.objects.get(charging_profile_id=1).stack_level == 3
    assert ChargingProfileInstallation.objects.filter(cleared_at__isnull=False).count() == 1


def test_a_profile_with_the_same_purpose_and_stack_level_on_the_same_connector_replaces_it(charge_point):
    set_profile(1, profile(1))

    set_profile(1, profile(2))

    assert installed() == {2: 1}


def test_profiles_that_differ_in_connector_stack_level_or_purpose_stay_installed_together(charge_point):
    set_profile(1, profile(1))
    set_profile(2, profile(2))
    set_profile(1, profile(3, stack_level=1))
    set_profile(1, profile(4, "ChargePointMaxProfile"))

    assert installed() == {1: 1, 2: 2, 3: 1, 4: 1}


def test_a_profile_set_on_one_charge_point_leaves_another_ones_installations(charge_point, other_charge_point):
    set_profile(1, profile(1), charge_point_id="CP-2")

    set_profile(1, profile(2), charge_point_id="CP-1")

    assert installed("CP-2") == {1: 1}
    assert installed("CP-1") == {2: 1}


# --- ClearChargingProfile (§5.5) ---------------------------------------------


@pytest.fixture
def four_profiles(charge_point, other_charge_point):
    """CP-1: 1 TxDefault/0 on #1, 2 TxDefault/1 on #1, 3 TxDefault/0 on #2, 4 ChargePointMax/0 on #0; CP-2: 5 on #1."""
    set_profile(1, profile(1))
    set_profile(1, profile(2, stack_level=1))
    set_profile(2, profile(3))
    set_profile(0, profile(4, "ChargePointMaxProfile"))
    set_profile(1, profile(5), charge_point_id="CP-2")


def clear(request: dict, status: str = "Accepted") -> None:
    answer("ClearChargingProfile", request, {"status": status})


def test_clearing_by_id_clears_that_profile_only(four_profiles):
    clear({"id": 2, "connectorId": 2})  # the id wins over the other criteria

    assert installed() == {1: 1, 3: 2, 4: 0}


def test_clearing_by_connector_clears_every_profile_on_it(four_profiles):
    clear({"connectorId": 1})

    assert installed() == {3: 2, 4: 0}


def test_clearing_by_purpose_and_stack_level_clears_the_profiles_matching_both(four_profiles):
    clear({"chargingProfilePurpose": "TxDefaultProfile", "stackLevel": 0})

    assert installed() == {2: 1, 4: 0}


def test_clearing_by_connector_zero_clears_the_charge_point_wide_profiles(four_profiles):
    clear({"connectorId": 0})

    assert installed() == {1: 1, 2: 1, 3: 2}


def test_clearing_without_criteria_clears_every_profile_of_the_charge_point(four_profiles):
    clear({})

    assert installed() == {}
    assert installed("CP-2") == {5: 1}


def test_a_clear_the_charge_point_answers_unknown_clears_nothing(four_profiles):
    clear({}, status="Unknown")

    assert installed() == {1: 1, 2: 1, 3: 2, 4: 0}


# --- SendLocalList (§5.15) and GetLocalListVersion (§5.10) -------------------


def test_an_accepted_local_list_sets_the_list_version(charge_point):
    answer("SendLocalList", {"listVersion": 4, "updateType": "Full", "localAuthorizationList": []}, {"status": "Accepted"})

    charge_point.refresh_from_db()
    assert charge_point.local_list_version == 4
    # A list sent raw says nothing of when it was built: no Differential may build on it.
    assert charge_point.local_list_synced_at is None


def test_a_reported_version_other_than_ours_forgets_what_was_synced(charge_point):
    ChargePoint.objects.filter(pk="CP-1").update(local_list_version=4, local_list_synced_at=dj_now())

    answer("GetLocalListVersion", {}, {"listVersion": 4})
    charge_point.refresh_from_db()
    assert charge_point.local_list_synced_at is not None

    answer("GetLocalListVersion", {}, {"listVersion": 0})
    charge_point.refresh_from_db()
    assert (charge_point.local_list_version, charge_point.local_list_synced_at) == (0, None)


@pytest.mark.parametrize("status", ["Failed", "NotSupported", "VersionMismatch"])
def test_a_refused_local_list_keeps_the_known_version(charge_point, status):
    ChargePoint.objects.filter(pk="CP-1").update(local_list_version=3)

    answer("SendLocalList", {"listVersion": 4, "updateType": "Differential"}, {"status": status})

    charge_point.refresh_from_db()
    assert (charge_point.local_list_version, charge_point.local_list_synced_at) == (3, None)


@pytest.mark.parametrize("version", [-1, 0, 12])
def test_the_reported_local_list_version_is_remembered(charge_point, version):
    answer("GetLocalListVersion", {}, {"listVersion": version})

    charge_point.refresh_from_db()
    assert charge_point.local_list_version == version


# --- Outcomes other than a CALLRESULT ---------------------------------------


CHANGES = [
    ("ChangeConfiguration", {"key": "HeartbeatInterval", "value": "1"}, {"status": "Accepted"}),
    ("ReserveNow", {"connectorId": 1, "expiryDate": EXPIRY, "idTag": "CARD-1", "reservationId": 3}, {"status": "Accepted"}),
    ("SetChargingProfile", {"connectorId": 1, "csChargingProfiles": profile(1)}, {"status": "Accepted"}),
    ("SendLocalList", {"listVersion": 4, "updateType": "Full"}, {"status": "Accepted"}),
    ("GetLocalListVersion", {}, {"listVersion": 9}),
]


def nothing_applied(charge_point) -> None:
    charge_point.refresh_from_db()
    assert keys() == {}
    assert not Reservation.objects.exists()
    assert installed() == {}
    assert charge_point.local_list_version is None


@pytest.mark.parametrize("action,payload,_", CHANGES, ids=[c[0] for c in CHANGES])
def test_a_call_error_is_recorded_and_applies_nothing(charge_point, action, payload, _):
    command = sent(action, payload)

    services.command_finish(
        command_id=command.pk,
        outcome=CommandOutcome(
            status=CommandStatus.CALL_ERROR,
            error_code="NotSupported",
            error_description="not on this unit",
            error_details={"why": "firmware"},
            round_trip_ms=5,
        ),
    )

    command.refresh_from_db()
    assert (command.status, command.error_code, command.error_description) == ("call_error", "NotSupported", "not on this unit")
    assert command.error_details == {"why": "firmware"} and command.completed_at is not None
    nothing_applied(charge_point)


@pytest.mark.parametrize("action,payload,_", CHANGES, ids=[c[0] for c in CHANGES])
def test_a_timeout_applies_nothing(charge_point, action, payload, _):
    command = sent(action, payload)

    services.command_finish(command_id=command.pk, outcome=CommandOutcome(status=CommandStatus.TIMEOUT))

    command.refresh_from_db()
    assert command.status == CommandStatus.TIMEOUT and command.response is None
    nothing_applied(charge_point)


@pytest.mark.parametrize("action,payload,response", CHANGES, ids=[c[0] for c in CHANGES])
def test_an_answer_that_failed_the_schema_is_kept_but_applies_nothing(charge_point, action, payload, response):
    command = sent(action, payload)

    services.command_finish(
        command_id=command.pk, outcome=CommandOutcome(status=CommandStatus.FAILED, response=response, error_description="invalid answer")
    )

    command.refresh_from_db()
    assert command.response == response
    nothing_applied(charge_point)


def test_the_outcome_of_a_deleted_command_is_ignored(charge_point):
    command = sent("ClearCache", {})
    Command.objects.filter(pk=command.pk).delete()

    assert (
        services.command_finish(
            command_id=command.pk, outcome=CommandOutcome(status=CommandStatus.ANSWERED, response={"status": "Accepted"})
        )
        is None
    )


# --- Firmware and diagnostics status notifications (§4.5, §4.4) ---------------


def test_a_firmware_status_reports_on_the_latest_answered_update_firmware(charge_point, other_charge_point):
    request = {"location": "https://fw.example.com/2.0.bin", "retrieveDate": EXPIRY}
    answer("UpdateFirmware", request, {})
    latest = answer("UpdateFirmware", request, {})
    unanswered = sent("UpdateFirmware", request)
    services.command_finish(command_id=unanswered.pk, outcome=CommandOutcome(status=CommandStatus.TIMEOUT))
    answer("UpdateFirmware", request, {}, charge_point_id="CP-2")

    row = services.firmware_status_create(charge_point_id="CP-1", status="Downloading")

    assert row.command_id == latest.pk
    charge_point.refresh_from_db()
    assert charge_point.firmware_status == "Downloading" and charge_point.firmware_status_at == row.received_at


def test_a_firmware_status_without_an_update_firmware_reports_on_nothing(charge_point):
    row = services.firmware_status_create(charge_point_id="CP-1", status="Idle")

    assert row.command is None
    assert FirmwareStatusNotification.objects.get().status == "Idle"


def test_a_diagnostics_status_reports_on_the_latest_answered_get_diagnostics(charge_point):
    answer("GetDiagnostics", {"location": "ftp://a/"}, {})
    latest = answer("GetDiagnostics", {"location": "ftp://b/"}, {"fileName": "diag.zip"})
    failed = sent("GetDiagnostics", {"location": "ftp://c/"})
    services.command_finish(command_id=failed.pk, outcome=CommandOutcome(status=CommandStatus.CALL_ERROR, error_code="InternalError"))

    services.diagnostics_status_create(charge_point_id="CP-1", status="Uploading")
    services.diagnostics_status_create(charge_point_id="CP-1", status="Uploaded")

    assert [(r.status, r.command_id) for r in DiagnosticsStatusNotification.objects.order_by("id")] == [
        ("Uploading", latest.pk),
        ("Uploaded", latest.pk),
    ]
    charge_point.refresh_from_db()
    assert charge_point.diagnostics_status == "Uploaded"


# --- operations.send_local_list ----------------------------------------------


class FakeChargePoint:
    """Stands in for `commands.call`: records the CALLs and answers them through `command_finish`."""

    def __init__(self, response: dict | None = None, error: commands.CommandError | None = None):
        self.response = response or {"status": "Accepted"}
        self.error = error
        self.calls: list[tuple[str, str, dict]] = []
        self.seen: list = []  # what `inspect` returned while the CALL was "in flight"
        self.inspect = None

    def __call__(self, charge_point_id, action, payload, *, source=None, user=None, timeout=None, secret_change=False):
        self.calls.append((charge_point_id, action, payload))
        if self.inspect:
            self.seen.append(self.inspect(payload))
        if self.error is not None:
            raise self.error
        command = sent(action, payload, charge_point_id)
        services.command_finish(command_id=command.pk, outcome=CommandOutcome(status=CommandStatus.ANSWERED, response=self.response))
        return commands.CommandResult(command.pk, action, self.response, 5)


@pytest.fixture
def fake(monkeypatch):
    fake = FakeChargePoint()
    monkeypatch.setattr(commands, "call", fake)
    return fake


@pytest.fixture
def tags(db):
    fleet = IdTag.objects.create(id_tag="FLEET")
    expires = datetime(2027, 1, 1, tzinfo=UTC)
    IdTag.objects.create(id_tag="CARD-1", parent=fleet, expiry_date=expires)
    IdTag.objects.create(id_tag="CARD-2", status="Blocked")
    return fleet


def test_a_full_local_list_carries_every_id_tag_with_its_authorization(charge_point, tags, fake):
    result = run_operation("send-local-list", charge_point_id="CP-1")

    [(cp_id, action, payload)] = fake.calls
    assert (cp_id, action) == ("CP-1", "SendLocalList")
    assert payload == {
        "listVersion": 1,
        "updateType": "Full",
        "localAuthorizationList": [
            {"idTag": "CARD-1", "idTagInfo": {"status": "Accepted", "expiryDate": "2027-01-01T00:00:00.000Z", "parentIdTag": "FLEET"}},
            {"idTag": "CARD-2", "idTagInfo": {"status": "Blocked"}},
            {"idTag": "FLEET", "idTagInfo": {"status": "Accepted"}},
        ],
    }
    assert result.response == {"status": "Accepted"}
    charge_point.refresh_from_db()
    assert charge_point.local_list_version == 1


def test_each_list_sent_is_one_version_above_the_last_known(charge_point, tags, fake):
    ChargePoint.objects.filter(pk="CP-1").update(local_list_version=6)

    run_operation("send-local-list", charge_point_id="CP-1")
    run_operation("send-local-list", charge_point_id="CP-1")

    assert [payload["listVersion"] for _, _, payload in fake.calls] == [7, 8]


def test_a_charge_point_without_list_support_gets_version_one(charge_point, tags, fake):
    ChargePoint.objects.filter(pk="CP-1").update(local_list_version=-1)

    run_operation("send-local-list", charge_point_id="CP-1")

    assert fake.calls[0][2]["listVersion"] == 1


def test_a_differential_list_carries_only_the_id_tags_changed_since_the_last_accepted_list(charge_point, tags, fake):
    run_operation("send-local-list", charge_point_id="CP-1")
    charge_point.refresh_from_db()
    later = charge_point.local_list_synced_at + timedelta(seconds=1)
    IdTag.objects.filter(id_tag="CARD-2").update(status="Accepted", updated_at=later)
    IdTag.objects.create(id_tag="CARD-3", created_at=later)

    run_operation("send-local-list", charge_point_id="CP-1", update_type="Differential")

    payload = fake.calls[-1][2]
    assert (payload["listVersion"], payload["updateType"]) == (2, "Differential")
    assert payload["localAuthorizationList"] == [
        {"idTag": "CARD-2", "idTagInfo": {"status": "Accepted"}},
        {"idTag": "CARD-3", "idTagInfo": {"status": "Accepted"}},
    ]


def test_a_differential_list_without_an_accepted_list_before_is_sent_as_full(charge_point, tags, fake):
    run_operation("send-local-list", charge_point_id="CP-1", update_type="Differential")

    payload = fake.calls[0][2]
    assert payload["updateType"] == "Full"
    assert len(payload["localAuthorizationList"]) == 3


def test_a_refused_list_does_not_move_the_version(charge_point, tags, fake):
    fake.response = {"status": "Failed"}

    run_operation("send-local-list", charge_point_id="CP-1")
    run_operation("send-local-list", charge_point_id="CP-1")

    assert [payload["listVersion"] for _, _, payload in fake.calls] == [1, 1]
    charge_point.refresh_from_db()
    assert charge_point.local_list_version is None


# --- operations.reserve_now ---------------------------------------------------


def reserve_now(**kwargs):
    """The reserve operation on connector 2 of CP-1; returns (the reservation, the result)."""
    result = run_operation("reserve", charge_point_id="CP-1", evse_id=2, id_tag="CARD-1", expiry=dj_now() + timedelta(hours=1), **kwargs)
    return Reservation.objects.get(pk=result.extra["reservation_id"]), result


def test_reserve_now_allocates_the_reservation_id_before_the_call_goes_out(charge_point, fake):
    fake.inspect = lambda payload: Reservation.objects.filter(pk=payload["reservationId"]).values_list("status", flat=True).first()

    reservation, result = reserve_now(parent_id_tag="FLEET")

    [(_, action, payload)] = fake.calls
    assert action == "ReserveNow"
    assert payload == {
        "connectorId": 2,
        "expiryDate": format_datetime(reservation.expiry_date),
        "idTag": "CARD-1",
        "reservationId": reservation.pk,
        "parentIdTag": "FLEET",
    }
    assert fake.seen == [ReservationStatus.REQUESTED]
    assert reservation.status == ReservationStatus.ACCEPTED
    assert result.response == {"status": "Accepted"}


def test_reserve_now_gives_every_reservation_its_own_id(charge_point, fake):
    first, _ = reserve_now()
    second, _ = reserve_now()

    assert first.pk != second.pk
    assert [payload["reservationId"] for _, _, payload in fake.calls] == [first.pk, second.pk]


def test_reserve_now_keeps_the_status_the_charge_point_answers(charge_point, fake):
    fake.response = {"status": "Occupied"}

    reservation, _ = reserve_now()

    assert reservation.status == ReservationStatus.OCCUPIED
    assert Reservation.objects.get().status == ReservationStatus.OCCUPIED


@pytest.mark.parametrize(
    "error",
    [
        commands.ChargePointOffline("offline", command_id=1),
        commands.CallErrorReceived("no", command_id=1, error_code="NotImplemented"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_reserve_now_deletes_the_reservation_when_the_charge_point_certainly_did_not_reserve(charge_point, fake, error):
    fake.error = error

    with pytest.raises(type(error)):
        reserve_now()

    assert not Reservation.objects.exists()


def test_reserve_now_keeps_the_reservation_requested_after_a_timeout(charge_point, fake):
    # The charge point may have reserved and its answer got lost.
    fake.error = commands.CommandTimeout("late", command_id=1)

    with pytest.raises(commands.CommandTimeout):
        reserve_now()

    assert Reservation.objects.get().status == ReservationStatus.REQUESTED
