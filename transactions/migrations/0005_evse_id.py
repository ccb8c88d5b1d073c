"""MeterValue and Reservation name the EVSE as the spec does: `evse_id`, not `connector_id`.

The column held an EVSE id all along (a 1.6 connector N is EVSE N), so the
rename keeps every row. `meter_value_reading_unique` names the column in an
expression: PostgreSQL and SQLite (>= 3.25, ALTER TABLE ... RENAME COLUMN)
carry a column rename into the indexes that use it, so only the migration
state's copy of the constraint is replaced; rebuilding the unique index on
the largest table would cost a full scan for nothing.
"""

import django.db.models.functions.comparison
from django.db import migrations, models


def reading_unique(column):
    return models.UniqueConstraint(
        models.F("charge_point"),
        models.OrderBy(models.F("timestamp"), descending=True),
        models.F(column),
        models.F("measurand"),
        models.F("phase"),
        models.F("location"),
        models.F("context"),
        models.F("unit"),
        models.F("format"),
        django.db.models.functions.comparison.Coalesce(
            models.F("transaction"), models.Value(0), output_field=models.BigIntegerField()
        ),
        name="meter_value_reading_unique",
    )


class Migration(migrations.Migration):

    dependencies = [
        ("transactions", "0004_meter_value_reading_unique"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.RemoveConstraint(model_name="metervalue", name="meter_value_reading_unique")]
        ),
        migrations.RenameField(model_name="metervalue", old_name="connector_id", new_name="evse_id"),
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.AddConstraint(model_name="metervalue", constraint=reading_unique("evse_id"))]
        ),
        migrations.AlterField(
            model_name="metervalue",
            name="evse_id",
            field=models.PositiveIntegerField(verbose_name="EVSE id"),
        ),
        migrations.RenameField(model_name="reservation", old_name="connector_id", new_name="evse_id"),
        migrations.AlterField(
            model_name="reservation",
            name="evse_id",
            field=models.PositiveIntegerField(verbose_name="EVSE id"),
        ),
    ]
