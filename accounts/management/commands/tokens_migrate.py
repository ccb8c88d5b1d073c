"""`manage.py tokens_migrate`: replace the plain-text API tokens of older versions by hashed ones."""

from django.core.management.base import BaseCommand

from accounts import services


class Command(BaseCommand):
    help = (
        "Replace every rest_framework.authtoken token (stored in plain text by older versions) by a new hashed, "
        "expiring API token; prints 'username token' per line, once: hand each to its owner."
    )

    def handle(self, *args, **options):
        issued = services.legacy_tokens_migrate()
        for username, token in issued:
            self.stdout.write(f"{username} {token}")
        self.stderr.write(f"{len(issued)} token(s) replaced; the old ones no longer work.")
