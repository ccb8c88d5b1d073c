"""Webhooks: events written with what they describe, signed deliveries, retries with backoff, the API and admin."""

import threading
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from rest_framework.test import APIClient

from chargepoints import services as cp_services
from chargepoints.models import ChargePoint
from tests.webhooks.receiver import Receiver
from webhooks import services, worker
from webhooks.models import Delivery, Event
from webhooks.signing import verify

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def cp(db):
    return ChargePoint.objects.create(id="CP-W")


def test_an_event_is_written_only_with_the_change_it_describes(cp):
    services.subscription_create(url="http://127.0.0.1:9/hook")

    with pytest.raises(RuntimeError), transaction.atomic():
        cp_services.status_notification_create(charge_point_id="CP-W", connector_id=1, status="Charging")
        raise RuntimeError("the frame's transaction fails")
    assert not Event.objects.exists()

    with transaction.atomic():
        cp_services.status_notification_create(charge_point_id="CP-W", connector_id=1, status="Charging")
    event = Event.objects.get()
    assert event.type == "chargepoint.status_changed" and event.data["status"] == "Charging"
    assert event.deliveries.get().status == Delivery.Status.PENDING


def test_nothing_is_written_without_a_subscription_wanting_the_event(cp):
    services.subscription_create(url="http://127.0.0.1:9/hook", event_types=["transaction.started"])
    services.subscription_create(url="http://127.0.0.1:9/off", active=False)

    with transaction.atomic():
        cp_services.status_notification_create(charge_point_id="CP-W", connector_id=1, status="Charging")

    assert not Event.objects.exists()


def test_the_worker_posts_signed_events_and_marks_them_delivered(cp):
    with Receiver() as receiver:
        sub = services.subscription_create(url=receiver.url, secret="s" * 32)
        cp_services.security_event_record(charge_point_id="CP-W", type="InvalidCentralSystemCertificate")

        assert worker.run_once() == 1

    headers, body = receiver.received[0]
    assert headers["x-csms-event"] == "security_event"
    assert verify(secret=sub.secret, timestamp=int(headers["x-csms-timestamp"]), body=body, header=headers["x-csms-signature"])
    assert not verify(secret="wrong" * 8, timestamp=int(headers["x-csms-timestamp"]), body=body, header=headers["x-csms-signature"])
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.Status.DELIVERED and delivery.last_status_code == 200
    assert headers["x-csms-event-id"] == str(delivery.event_id)
    assert worker.run_once() == 0, "a delivered event is not sent again"


def test_a_failing_receiver_is_retried_with_exponential_backoff_then_given_up(cp, settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 3
    with Receiver(status=500) as receiver:
        services.subscription_create(url=receiver.url)
        cp_services.security_event_record(charge_point_id="CP-W", type="X")
        delivery = Delivery.objects.get()
        waits = []
        for _ in range(3):
            before = timezone.now()
            Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=before)
            assert worker.run_once() == 1
            delivery.refresh_from_db()
            waits.append(round((delivery.next_attempt_at - before).total_seconds()))

    assert len(receiver.received) == 3
    assert waits[:2] == [10, 20], "WEBHOOK_RETRY_BASE 10 s, doubling"
    assert delivery.status == Delivery.Status.FAILED and delivery.attempts == 3 and delivery.last_status_code == 500


def test_an_unreachable_receiver_records_the_error(cp):
    services.subscription_create(url="http://127.0.0.1:9/hook")
    cp_services.security_event_record(charge_point_id="CP-W", type="X")

    worker.run_once()

    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.Status.PENDING and delivery.attempts == 1 and delivery.last_status_code is None
    assert "Connection refused" in delivery.last_error or "URLError" in delivery.last_error
    assert delivery.next_attempt_at > timezone.now() + timedelta(seconds=5)


def test_a_redirect_is_a_failed_try_and_the_event_is_not_sent_elsewhere(cp):
    with Receiver() as elsewhere, Receiver(status=302, location=None) as receiver:
        receiver.location = elsewhere.url
        services.subscription_create(url=receiver.url)
        cp_services.security_event_record(charge_point_id="CP-W", type="X")

        worker.run_once()

    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.Status.PENDING and delivery.attempts == 1 and delivery.last_status_code == 302
    assert elsewhere.received == [] and elsewhere.gets == [], "urllib's default would re-send it as a GET and call that delivered"


def test_the_worker_deletes_finished_events_past_their_retention_and_keeps_pending_ones(cp, settings):
    settings.WEBHOOK_RETENTION_DAYS = 7
    services.subscription_create(url="http://127.0.0.1:9/hook")
    for _ in range(3):
        cp_services.security_event_record(charge_point_id="CP-W", type="X")
    old, pending_old, recent = Event.objects.order_by("created_at")
    Event.objects.filter(pk__in=[old.pk, pending_old.pk]).update(created_at=timezone.now() - timedelta(days=8))
    Delivery.objects.exclude(event=pending_old).update(status=Delivery.Status.DELIVERED)

    stop = threading.Event()
    threading.Timer(1.0, stop.set).start()
    worker.run(stop=stop, poll_s=0.1)  # prunes before its first pass

    assert set(Event.objects.values_list("pk", flat=True)) == {pending_old.pk, recent.pk}
    assert Delivery.objects.count() == 2


def test_subscriptions_are_managed_through_the_api_and_the_secret_is_shown_once(admin_user):
    api = APIClient()
    api.force_authenticate(admin_user)

    created = api.post(
        "/api/v1/webhooks/subscriptions/", {"url": "https://example.com/hook", "event_types": ["meter_values"]}, format="json"
    )
    assert created.status_code == 201 and len(created.json()["secret"]) >= 32
    url = f"/api/v1/webhooks/subscriptions/{created.json()['id']}/"
    assert "secret" not in api.get(url).json()
    assert api.patch(url, {"active": False}, format="json").json()["active"] is False
    bad = api.post("/api/v1/webhooks/subscriptions/", {"url": "https://example.com/", "event_types": ["nope"]}, format="json")
    assert bad.status_code == 400
    assert api.delete(url).status_code == 204
    assert api.get("/api/v1/webhooks/subscriptions/").json()["count"] == 0


def test_the_admin_lists_deliveries_and_retries_failed_ones(admin_client, cp):
    services.subscription_create(url="http://127.0.0.1:9/hook")
    cp_services.security_event_record(charge_point_id="CP-W", type="X")
    Delivery.objects.update(status=Delivery.Status.FAILED, attempts=12, last_error="HTTP 500")

    assert "HTTP 500" in admin_client.get("/admin/webhooks/delivery/").content.decode()
    admin_client.post("/admin/webhooks/delivery/", {"action": "retry", "_selected_action": [Delivery.objects.get().pk]})

    assert Delivery.objects.get().status == Delivery.Status.PENDING
    assert admin_client.get("/admin/webhooks/subscription/add/").status_code == 200
