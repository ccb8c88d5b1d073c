"""`manage.py token_create <username> [--ttl-hours N]`: issue an API token and print it (only the token, one line)."""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from accounts import services


class Command(BaseCommand):
    help = "Issue a new hashed API token for a user and print it once (use it as 'Authorization: Token <token>')."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument(
            "--ttl-hours", type=float, default=None, help="lifetime in hours; 0 never expires (default API_TOKEN_TTL_HOURS)"
        )

    def handle(self, *args, username, ttl_hours, **options):
        User = get_user_model()
        try:
            user = User.objects.get(**{User.USERNAME_FIELD: username})
        except User.DoesNotExist as exc:
            raise CommandError(f"no user {username!r}") from exc
        ttl = "default" if ttl_hours is None else (timedelta(hours=ttl_hours) if ttl_hours > 0 else None)
        _, token = services.api_token_create(user=user, ttl=ttl)
        self.stdout.write(token)
