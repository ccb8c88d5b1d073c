"""Webhooks: who wants which events (Subscription), what happened (Event, the outbox), and each delivery (Delivery)."""

from __future__ import annotations

import secrets
import uuid

from django.db import models

# The events the CSMS emits; `data` of each is documented in the README ("Webhooks").
EVENT_TYPES = (
    "chargepoint.connected",
    "chargepoint.disconnected",
    "chargepoint.status_changed",
    "transaction.started",
    "transaction.ended",
    "meter_values",
    "command.answered",
    "security_event",
)


def _new_secret() -> str:
    return secrets.token_urlsafe(32)


class Subscription(models.Model):
    """An integrator's endpoint: events of `event_types` (all when empty) are POSTed to `url`, signed with `secret`."""

    url = models.URLField(max_length=500, help_text="http(s) URL that receives the events as POST requests.")
    event_types = models.JSONField(default=list, blank=True, help_text="Event types to send; empty: all of them.")
    secret = models.CharField(max_length=100, default=_new_secret, help_text="Key of the HMAC-SHA256 signature (X-CSMS-Signature).")
    active = models.BooleanField(default=True)
    description = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return self.url

    def wants(self, event_type: str) -> bool:
        """Whether this subscription receives events of `event_type`."""
        return self.active and (not self.event_types or event_type in self.event_types)


class Event(models.Model):
    """Something that happened, written in the same database transaction as the change it describes (the outbox).

    `id` is sent with every delivery (`X-CSMS-Event-Id`, body `id`): receivers
    dedupe on it, as a delivery may be repeated (at least once).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    type = models.CharField(max_length=50, db_index=True)
    data = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"{self.type} {self.id}"


class Delivery(models.Model):
    """One event to one subscription: pending until a 2xx answer, retried with exponential backoff, failed after the last try."""

    class Status(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        FAILED = "failed"

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="deliveries")
    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(help_text="When the worker tries (again); a claim pushes it forward.")
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["pk"]
        verbose_name_plural = "deliveries"
        constraints = [models.UniqueConstraint(fields=["event", "subscription"], name="webhook_delivery_once")]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="webhook_delivery_due")]

    def __str__(self) -> str:
        return f"{self.event} → {self.subscription}"
