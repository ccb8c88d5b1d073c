"""Transaction.transaction_id is the 2.0.1 station's own id: call it station_transaction_id.

`transaction_id` read as our primary key (the 1.6 transactionId) beside the
`transaction_id` columns of the foreign keys to Transaction. RenameField keeps
every row. Both constraints that name the column (`transaction_start_unique`
in its condition, `station_transaction_id_unique` in its fields and
condition) are partial unique indexes that PostgreSQL and SQLite (>= 3.25)
carry through a column rename, so only the migration state's copies are
replaced.
"""

from django.db import migrations, models


def start_unique(column):
    return models.UniqueConstraint(
        condition=models.Q(("is_orphan", False), (column, "")),
        fields=("charge_point", "connector_id", "id_tag", "start_timestamp", "meter_start_wh"),
        name="transaction_start_unique",
    )


def station_unique(column):
    return models.UniqueConstraint(
        condition=models.Q((column, ""), _negated=True),
        fields=("charge_point", column),
        name="station_transaction_id_unique",
    )


class Migration(migrations.Migration):

    dependencies = [
        ("transactions", "0005_evse_id"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveConstraint(model_name="transaction", name="transaction_start_unique"),
                migrations.RemoveConstraint(model_name="transaction", name="station_transaction_id_unique"),
            ]
        ),
        migrations.RenameField(model_name="transaction", old_name="transaction_id", new_name="station_transaction_id"),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddConstraint(model_name="transaction", constraint=start_unique("station_transaction_id")),
                migrations.AddConstraint(model_name="transaction", constraint=station_unique("station_transaction_id")),
            ]
        ),
    ]
