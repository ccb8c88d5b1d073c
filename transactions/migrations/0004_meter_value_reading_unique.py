"""One row per meter reading: drop stored duplicates, then make them impossible.

Charge points that resent a MeterValues after a lost CALLRESULT left every
sampled value twice. The duplicates (all but the first row of each key of
`meter_value_reading_unique`) are deleted first, or the unique index could not
be built. The unique index leads with (charge_point, -timestamp), so it takes
over from the index on exactly those columns.
"""

import django.db.models.functions.comparison
from django.db import migrations, models

# Portable between SQLite and PostgreSQL; the correlated lookup runs on the
# (charge_point, -timestamp) index, removed only afterwards.
DELETE_DUPLICATES = """
DELETE FROM transactions_metervalue
WHERE EXISTS (
    SELECT 1 FROM transactions_metervalue AS kept
    WHERE kept.charge_point_id = transactions_metervalue.charge_point_id
      AND kept."timestamp" = transactions_metervalue."timestamp"
      AND kept.connector_id = transactions_metervalue.connector_id
      AND kept.measurand = transactions_metervalue.measurand
      AND kept.phase = transactions_metervalue.phase
      AND kept.location = transactions_metervalue.location
      AND kept.context = transactions_metervalue.context
      AND kept.unit = transactions_metervalue.unit
      AND kept.format = transactions_metervalue.format
      AND COALESCE(kept.transaction_id, 0) = COALESCE(transactions_metervalue.transaction_id, 0)
      AND kept.id < transactions_metervalue.id
)
"""


class Migration(migrations.Migration):

    dependencies = [
        ("transactions", "0003_ocpp201"),
    ]

    operations = [
        migrations.RunSQL(DELETE_DUPLICATES, reverse_sql=migrations.RunSQL.noop, elidable=True),
        migrations.AddConstraint(
            model_name="metervalue",
            constraint=models.UniqueConstraint(
                models.F("charge_point"),
                models.OrderBy(models.F("timestamp"), descending=True),
                models.F("connector_id"),
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
            ),
        ),
        migrations.RemoveIndex(
            model_name="metervalue",
            name="transaction_charge__1b03ed_idx",
        ),
    ]
