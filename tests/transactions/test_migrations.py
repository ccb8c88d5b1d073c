"""Migrations that rewrite stored data: run them on a database holding what they must cope with."""

from datetime import UTC, datetime

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("transactions", "0003_ocpp201")]
AFTER = [("transactions", "0004_meter_value_reading_unique")]
T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def migrate(targets):
    """Migrate the test database to `targets`; returns the app registry of that state."""
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.fixture(autouse=True)
def latest_schema_afterwards():
    """Leave the database as the other tests expect it: every migration applied."""
    yield
    executor = MigrationExecutor(connection)
    migrate(executor.loader.graph.leaf_nodes())


def test_the_reading_unique_migration_keeps_the_first_of_each_duplicated_reading():
    apps = migrate(BEFORE)
    try:
        ChargePoint = apps.get_model("chargepoints", "ChargePoint")
        Transaction = apps.get_model("transactions", "Transaction")
        MeterValue = apps.get_model("transactions", "MeterValue")
        ChargePoint.objects.create(id="CP-1")
        tx = Transaction.objects.create(charge_point_id="CP-1", connector_id=1)

        def reading(value="1500", **fields):
            fields = {"charge_point_id": "CP-1", "connector_id": 1, "timestamp": T0, "transaction": tx, **fields}
            return MeterValue.objects.create(value=value, **fields).pk

        kept = [
            reading(),
            reading(phase="L1"),
            reading(context="Sample.Clock"),
            reading(transaction=None),
            reading(connector_id=2),
        ]
        duplicates = [reading(), reading(value="1501"), reading(phase="L1"), reading(transaction=None)]
    finally:
        apps = migrate(AFTER)

    MeterValue = apps.get_model("transactions", "MeterValue")
    assert sorted(MeterValue.objects.values_list("pk", flat=True)) == kept
    assert MeterValue.objects.get(pk=kept[0]).value == "1500"
    assert not set(duplicates) & set(MeterValue.objects.values_list("pk", flat=True))


def test_the_evse_id_renames_keep_the_meter_values_and_reservations_and_their_unique_reading():
    apps = migrate([("transactions", "0004_meter_value_reading_unique")])
    ChargePoint = apps.get_model("chargepoints", "ChargePoint")
    MeterValue = apps.get_model("transactions", "MeterValue")
    Reservation = apps.get_model("transactions", "Reservation")
    ChargePoint.objects.create(id="CP-1")
    reading = MeterValue.objects.create(charge_point_id="CP-1", connector_id=2, timestamp=T0, value="1500").pk
    reservation = Reservation.objects.create(charge_point_id="CP-1", connector_id=3, id_tag="T", expiry_date=T0).pk

    apps = migrate([("transactions", "0005_evse_id")])

    MeterValue = apps.get_model("transactions", "MeterValue")
    assert MeterValue.objects.get(pk=reading).evse_id == 2
    assert apps.get_model("transactions", "Reservation").objects.get(pk=reservation).evse_id == 3
    # The unique reading index followed the renamed column.
    with pytest.raises(IntegrityError), transaction.atomic():
        MeterValue.objects.create(charge_point_id="CP-1", evse_id=2, timestamp=T0, value="1501")
    MeterValue.objects.create(charge_point_id="CP-1", evse_id=1, timestamp=T0, value="1501")


def test_a_charging_profile_keeps_its_transaction_and_forgets_one_that_is_gone():
    apps = migrate([("chargepoints", "0007_charging_profile_evse_id"), ("transactions", "0005_evse_id")])
    ChargePoint = apps.get_model("chargepoints", "ChargePoint")
    ChargingProfile = apps.get_model("chargepoints", "ChargingProfile")
    Transaction = apps.get_model("transactions", "Transaction")
    ChargePoint.objects.create(id="CP-1")
    tx = Transaction.objects.create(charge_point_id="CP-1")

    def profile(profile_id, transaction_id):
        return ChargingProfile.objects.create(
            charge_point_id="CP-1",
            charging_profile_id=profile_id,
            purpose="TxProfile",
            stack_level=0,
            kind="Absolute",
            transaction_id=transaction_id,
            schedule={},
        ).pk

    kept, gone, none = profile(1, tx.pk), profile(2, tx.pk + 1000), profile(3, None)

    apps = migrate([("chargepoints", "0009_charging_profile_transaction"), ("transactions", "0005_evse_id")])

    ChargingProfile = apps.get_model("chargepoints", "ChargingProfile")
    assert ChargingProfile.objects.get(pk=kept).transaction_id == tx.pk
    assert ChargingProfile.objects.get(pk=gone).transaction_id is None
    assert ChargingProfile.objects.get(pk=none).transaction_id is None


def test_the_station_transaction_id_rename_keeps_the_ids_and_their_uniqueness():
    apps = migrate([("transactions", "0005_evse_id")])
    ChargePoint = apps.get_model("chargepoints", "ChargePoint")
    Transaction = apps.get_model("transactions", "Transaction")
    ChargePoint.objects.create(id="CS-1")
    station = Transaction.objects.create(charge_point_id="CS-1", transaction_id="tx-7f3a").pk

    apps = migrate([("transactions", "0006_station_transaction_id")])

    Transaction = apps.get_model("transactions", "Transaction")
    assert Transaction.objects.get(pk=station).station_transaction_id == "tx-7f3a"
    # Both partial unique indexes followed the renamed column.
    with pytest.raises(IntegrityError), transaction.atomic():
        Transaction.objects.create(charge_point_id="CS-1", station_transaction_id="tx-7f3a")
    start = dict(charge_point_id="CS-1", connector_id=1, id_tag="T", start_timestamp=T0, meter_start_wh=0)
    Transaction.objects.create(**start)
    with pytest.raises(IntegrityError), transaction.atomic():
        Transaction.objects.create(**start)
    Transaction.objects.create(**start, station_transaction_id="tx-2")  # 2.0.1: not a 1.6 StartTransaction retry
