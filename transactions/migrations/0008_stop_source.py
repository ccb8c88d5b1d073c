import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def stopped_by_the_charge_point(apps, schema_editor):
    # Until now only a charge point's StopTransaction / TransactionEvent Ended
    # (or an orphan stop) could end a transaction.
    Transaction = apps.get_model("transactions", "Transaction")
    Transaction.objects.filter(stop_timestamp__isnull=False).update(stop_source="charge_point")


class Migration(migrations.Migration):
    dependencies = [
        ("transactions", "0007_id_tag_type_choices"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="transaction",
            name="stop_source",
            field=models.CharField(
                blank=True, choices=[("charge_point", "Charge point"), ("policy", "CSMS policy"), ("operator", "Operator")], max_length=12
            ),
        ),
        migrations.AddField(
            model_name="transaction",
            name="stopped_by",
            field=models.ForeignKey(
                blank=True,
                help_text="The operator who closed it by hand.",
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.RunPython(stopped_by_the_charge_point, migrations.RunPython.noop),
    ]
