"""manage.py charge_point_password <id> [--password P]: set a charge point's Basic-auth password and print it once."""

from django.core.management.base import BaseCommand, CommandError

from chargepoints import services


class Command(BaseCommand):
    help = (
        "Give a registered charge point a Basic-auth password (security profiles 1 and 2) and print it: it is "
        "shown this once, only its hash is kept. Without --password one is generated (40 hex characters, a valid "
        "1.6 AuthorizationKey and 2.0.1 BasicAuthPassword). The charge point must be configured with the same "
        "password; to change the password of a connected charge point safely, use the change-password operation."
    )

    def add_arguments(self, parser):
        parser.add_argument("charge_point_id", help="OCPP identity of the charge point")
        parser.add_argument("--password", help="16 to 40 printable ASCII characters; generated when left out")

    def handle(self, *args, charge_point_id, password, **options):
        try:
            password = services.charge_point_password_set(charge_point_id=charge_point_id, password=password)
        except services.UnknownChargePoint:
            raise CommandError(f"no charge point {charge_point_id!r} is registered") from None
        except ValueError as exc:
            raise CommandError(f"--password: {exc}") from None
        self.stdout.write(password)
