"""Writes about webhooks: emit an event (into the outbox), claim and record deliveries, subscriptions."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from .models import Delivery, Event, Subscription


def event_emit(*, type: str, data: dict) -> Event | None:
    """Put an event of `type` (models.EVENT_TYPES) with JSON-able `data` in the outbox; returns it, None when nobody wants it.

    Call it inside the transaction that writes what the event describes: the
    event and its deliveries (one per active subscription wanting `type`)
    commit or roll back with it. Sent later by `manage.py webhooks_worker`.
    """
    events = events_emit(type=type, data=[data])
    return events[0] if events else None


def events_emit(*, type: str, data: list[dict]) -> list[Event]:
    """`event_emit` for many events of one `type` (one per item of `data`), with one subscription lookup; returns them.

    An empty list when nobody wants `type`. Events are created in the order of
    `data` (their pks, hence their delivery order, follow it).
    """
    subscriptions = [s for s in Subscription.objects.filter(active=True) if s.wants(type)]
    if not subscriptions or not data:
        return []
    now = timezone.now()
    with transaction.atomic():
        events = [Event.objects.create(type=type, data=item) for item in data]
        Delivery.objects.bulk_create(Delivery(event=event, subscription=s, next_attempt_at=now) for event in events for s in subscriptions)
    return events


def deliveries_claim(*, limit: int, lease_s: float) -> list[Delivery]:
    """Claim up to `limit` due pending deliveries, oldest event first, for `lease_s` seconds; returns them with event and subscription.

    Claiming pushes `next_attempt_at` past the lease, so a worker that dies
    mid-delivery leaves them due again once the lease ends (at least once),
    and concurrent workers (SKIP LOCKED on PostgreSQL) take different ones.
    """
    now = timezone.now()
    with transaction.atomic():
        due = Delivery.objects.filter(status=Delivery.Status.PENDING, next_attempt_at__lte=now).order_by("event__created_at", "pk")
        if connection.features.has_select_for_update_skip_locked:
            due = due.select_for_update(skip_locked=True, of=("self",))
        claimed = list(due.select_related("event", "subscription")[:limit])
        Delivery.objects.filter(pk__in=[d.pk for d in claimed]).update(next_attempt_at=now + timedelta(seconds=lease_s))
    return claimed


def delivery_succeeded(*, delivery_id: int, status_code: int) -> None:
    """Mark a delivery delivered after a 2xx answer `status_code`."""
    Delivery.objects.filter(pk=delivery_id).update(
        status=Delivery.Status.DELIVERED, last_status_code=status_code, last_error="", delivered_at=timezone.now()
    )


def retry_delay(attempts: int) -> timedelta:
    """Wait before the next try after `attempts` failed ones: WEBHOOK_RETRY_BASE * 2^(attempts-1), at most WEBHOOK_RETRY_MAX seconds."""
    return timedelta(seconds=min(settings.WEBHOOK_RETRY_BASE * 2 ** max(attempts - 1, 0), settings.WEBHOOK_RETRY_MAX))


def delivery_failed(*, delivery_id: int, status_code: int | None, error: str, now: datetime | None = None) -> Delivery:
    """Record a failed try (a non-2xx `status_code`, or None and the connection `error`); schedule the next or give up.

    After WEBHOOK_MAX_ATTEMPTS tries the delivery is `failed` (shown in the
    admin, where it can be retried). Returns the delivery.
    """
    now = now or timezone.now()
    with transaction.atomic():
        delivery = Delivery.objects.select_for_update().get(pk=delivery_id)
        delivery.attempts += 1
        delivery.last_status_code = status_code
        delivery.last_error = error[:500]
        if delivery.attempts >= settings.WEBHOOK_MAX_ATTEMPTS:
            delivery.status = Delivery.Status.FAILED
        else:
            delivery.next_attempt_at = now + retry_delay(delivery.attempts)
        delivery.save(update_fields=["attempts", "last_status_code", "last_error", "status", "next_attempt_at"])
    return delivery


def deliveries_retry(*, delivery_ids: list[int]) -> int:
    """Make the given deliveries pending and due now (an operator's "retry" in the admin); returns how many."""
    return (
        Delivery.objects.filter(pk__in=delivery_ids)
        .exclude(status=Delivery.Status.DELIVERED)
        .update(status=Delivery.Status.PENDING, next_attempt_at=timezone.now())
    )


def deliveries_prune(*, older_than: timedelta) -> int:
    """Delete events (and their deliveries) older than `older_than` whose deliveries are all finished; returns how many events."""
    old = Event.objects.filter(created_at__lt=timezone.now() - older_than).exclude(deliveries__status=Delivery.Status.PENDING)
    deleted, _ = Event.objects.filter(pk__in=old.values("pk")).delete()
    return deleted


def subscription_create(
    *, url: str, event_types: list[str] | None = None, active: bool = True, description: str = "", secret: str = ""
) -> Subscription:
    """A new subscription (a random secret unless `secret` is given)."""
    fields = {"url": url, "event_types": event_types or [], "active": active, "description": description}
    if secret:
        fields["secret"] = secret
    return Subscription.objects.create(**fields)


def subscription_update(*, subscription: Subscription, data: dict) -> Subscription:
    """Change the fields in `data` (url, event_types, active, description, secret) of `subscription`."""
    for name, value in data.items():
        setattr(subscription, name, value)
    subscription.save()
    return subscription


def subscription_delete(*, subscription: Subscription) -> None:
    """Delete `subscription` and its pending deliveries."""
    subscription.delete()
