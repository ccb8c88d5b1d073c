"""manage.py roles [--grant USERNAME viewer|operator [--api-only]]: the "Viewers" and "Operators" groups.

What each role may do is README "Permissions"; the permissions are
`csms.services.role_permissions`.
"""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from csms import services


class Command(BaseCommand):
    help = (
        'Create or reset the groups "Viewers" (view everything) and "Operators" (also register and change charge '
        "points and id tags, close transactions, set variables and send commands) to their permissions; with "
        "--grant, put a user in one of them."
    )

    def add_arguments(self, parser):
        parser.add_argument("--grant", nargs=2, metavar=("USERNAME", "ROLE"), help="put USERNAME in ROLE: viewer or operator")
        parser.add_argument(
            "--api-only",
            action="store_true",
            help="with --grant: leave the user's staff status as it is (an integrator's account needs no admin login)",
        )

    def handle(self, *args, grant, api_only, **options):
        for name, count in services.role_groups_ensure().items():
            self.stdout.write(f"{name}: {count} permissions")
        if grant:
            username, role = grant
            try:
                user = services.role_grant(username=username, role=role, staff=not api_only)
            except get_user_model().DoesNotExist:
                raise CommandError(f"no user {username!r}") from None
            except KeyError:
                raise CommandError(f"unknown role {role!r}: viewer or operator") from None
            self.stdout.write(f"{username}: {role}{' (staff)' if user.is_staff else ''}")
