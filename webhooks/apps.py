from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    """Events for integrators: subscriptions, an outbox written with what it describes, signed deliveries."""

    name = "webhooks"
    verbose_name = "Webhooks"
