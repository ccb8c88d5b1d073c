"""ChargingProfileInstallation names the EVSE as the spec does: `evse_id`, not `connector_id`.

The column held an EVSE id all along (a 1.6 connector N is EVSE N): the
rename keeps every row.
"""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("chargepoints", "0006_charging_profile_purpose_40"),
    ]

    operations = [
        migrations.RenameField(model_name="chargingprofileinstallation", old_name="connector_id", new_name="evse_id"),
        migrations.AlterField(
            model_name="chargingprofileinstallation",
            name="evse_id",
            field=models.PositiveIntegerField(verbose_name="EVSE id"),
        ),
        migrations.AlterModelOptions(
            name="chargingprofileinstallation",
            options={"ordering": ["charge_point_id", "evse_id", "-installed_at"]},
        ),
    ]
