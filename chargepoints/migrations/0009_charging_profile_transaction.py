"""ChargingProfile.transaction_id, our Transaction's primary key, becomes the foreign key `transaction`.

The column keeps its name (`transaction_id`, a foreign key's column) and its
values; the field is renamed first so that AlterField turns the same column
into a foreign key with its index and constraint. A deleted transaction now
sets it to NULL.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("chargepoints", "0008_charging_profile_transaction_orphans"),
        ("transactions", "0001_initial"),
    ]

    operations = [
        migrations.RenameField(model_name="chargingprofile", old_name="transaction_id", new_name="transaction"),
        migrations.AlterField(
            model_name="chargingprofile",
            name="transaction",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="transactions.transaction",
            ),
        ),
    ]
