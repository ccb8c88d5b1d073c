"""Before ChargingProfile.transaction_id becomes a foreign key: forget transactions that are gone.

A TxProfile kept the primary key of its Transaction as a plain number, so a
deleted transaction left it dangling; the foreign key (next migration) could
not be created over such rows. Its own migration, so that these updates are
committed before PostgreSQL alters the table.
"""

from django.db import migrations


def forget_deleted_transactions(apps, schema_editor):
    ChargingProfile = apps.get_model("chargepoints", "ChargingProfile")
    Transaction = apps.get_model("transactions", "Transaction")
    ChargingProfile.objects.filter(transaction_id__isnull=False).exclude(
        transaction_id__in=Transaction.objects.values("pk")
    ).update(transaction_id=None)


class Migration(migrations.Migration):

    dependencies = [
        ("chargepoints", "0007_charging_profile_evse_id"),
        ("transactions", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(forget_deleted_transactions, migrations.RunPython.noop, elidable=True),
    ]
