from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Who may use the API and admin: hashed expiring API tokens, throttles, login lockout."""

    name = "accounts"
    verbose_name = "Accounts and API tokens"

    def ready(self):
        from . import schema  # noqa: F401 - registers the OpenAPI description of the token scheme
