"""Security events for operators (admin) and integrators (GET /api/v1/security-events/)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from chargepoints import services
from chargepoints.models import ChargePoint, SecurityEvent
from tests.users import user_with_role

pytestmark = pytest.mark.django_db

URL = "/api/v1/security-events/"
T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def admin_url(view="changelist", *args):
    return reverse(f"admin:chargepoints_securityevent_{view}", args=args)


def record(charge_point_id: str, type: str, *, source=SecurityEvent.Source.STATION, received_ago_min: int = 0, **fields) -> SecurityEvent:
    event = services.security_event_record(charge_point_id=charge_point_id, type=type, source=source, **fields)
    if received_ago_min:
        # received_at is the service's "now"; tests need a spread of them.
        SecurityEvent.objects.filter(pk=event.pk).update(received_at=timezone.now() - timedelta(minutes=received_ago_min))
        event.refresh_from_db()
    return event


@pytest.fixture
def events():
    """Three events, oldest first: a station's firmware update, a failed login by an unknown identity, a time change."""
    return [
        record("CP-1", "FirmwareUpdated", tech_info="fw 1.2.4", timestamp=T0, received_ago_min=30),
        record(
            "INTRUDER",
            SecurityEvent.AUTHENTICATION_FAILED,
            source=SecurityEvent.Source.CSMS,
            tech_info="wrong password",
            source_address="203.0.113.9",
            received_ago_min=20,
        ),
        record("CP-1", "SettingSystemTime", received_ago_min=10),
    ]


# --- admin


def test_the_admin_lists_security_events_newest_first(admin_client, events):
    listing = admin_client.get(admin_url())

    assert listing.status_code == 200
    assert list(listing.context["cl"].result_list) == events[::-1]
    html = listing.content.decode()
    assert "INTRUDER" in html and "203.0.113.9" in html and "fw 1.2.4" in html


def test_the_admin_filters_security_events_by_source_and_type_and_finds_them_by_identity(admin_client, events):
    firmware, failed, time_set = events

    by_source = admin_client.get(admin_url() + "?source__exact=csms")
    by_type = admin_client.get(admin_url() + "?type=SettingSystemTime")
    by_search = admin_client.get(admin_url() + "?q=CP-1")

    assert list(by_source.context["cl"].result_list) == [failed]
    assert list(by_type.context["cl"].result_list) == [time_set]
    assert list(by_search.context["cl"].result_list) == [time_set, firmware]


def test_security_events_are_read_only_in_the_admin(admin_client, events):
    event = events[0]

    assert admin_client.get(admin_url("change", event.pk)).status_code == 200
    assert admin_client.get(admin_url("add")).status_code == 403
    assert admin_client.post(admin_url("change", event.pk), {"type": "Edited"}).status_code == 403
    event.refresh_from_db()
    assert event.type == "FirmwareUpdated"


def test_the_charge_point_page_shows_its_latest_security_events_and_links_to_all(admin_client, events):
    ChargePoint.objects.create(id="CP-1", ocpp_version="1.6")

    page = admin_client.get(reverse("admin:chargepoints_chargepoint_change", args=["CP-1"]))

    html = page.content.decode()
    assert page.status_code == 200
    assert f'{admin_url()}?charge_point_id__exact=CP-1">security events' in html
    assert html.index("SettingSystemTime") < html.index("FirmwareUpdated"), "newest first"
    assert "INTRUDER" not in html and "AuthenticationFailed" not in html
    linked = admin_client.get(f"{admin_url()}?charge_point_id__exact=CP-1")
    assert list(linked.context["cl"].result_list) == [events[2], events[0]]


def test_the_charge_point_page_says_when_there_are_no_security_events(admin_client, db):
    ChargePoint.objects.create(id="CP-2")

    page = admin_client.get(reverse("admin:chargepoints_chargepoint_change", args=["CP-2"]))

    assert page.status_code == 200
    assert page.context["adminform"].form.instance.pk == "CP-2"
    assert "all security events" not in page.content.decode()


# --- API


@pytest.fixture
def api():
    client = APIClient()
    client.force_authenticate(user_with_role("viewer", role="viewer"))
    return client


def test_the_api_lists_security_events_newest_first_paginated(api, events):
    response = api.get(URL, {"limit": 2})

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3 and body["next"] is not None
    assert [e["id"] for e in body["results"]] == [events[2].pk, events[1].pk]
    failed = body["results"][1]
    assert failed["charge_point"] == "INTRUDER"
    assert (failed["type"], failed["source"], failed["tech_info"], failed["source_address"]) == (
        "AuthenticationFailed",
        "csms",
        "wrong password",
        "203.0.113.9",
    )
    assert failed["timestamp"] and failed["received_at"]


def test_the_api_filters_security_events_by_charge_point_type_source_and_since(api, events):
    firmware, failed, time_set = events

    def ids(**params):
        response = api.get(URL, params)
        assert response.status_code == 200, response.content
        return [e["id"] for e in response.json()["results"]]

    assert ids(charge_point="CP-1") == [time_set.pk, firmware.pk]
    assert ids(type="FirmwareUpdated") == [firmware.pk]
    assert ids(source="csms") == [failed.pk]
    assert ids(since=(failed.received_at).isoformat()) == [time_set.pk, failed.pk]
    assert ids(charge_point="CP-1", source="station", since=failed.received_at.isoformat()) == [time_set.pk]
    assert ids(charge_point="CP-9") == []


@pytest.mark.parametrize("params", [{"source": "attacker"}, {"since": "yesterday"}])
def test_the_api_answers_400_to_an_invalid_filter(api, events, params):
    response = api.get(URL, params)

    assert response.status_code == 400
    assert set(response.json()) == set(params)


def test_the_api_lists_security_events_to_staff_only(events):
    anonymous = APIClient().get(URL)
    client = APIClient()
    client.force_authenticate(get_user_model().objects.create_user("driver", is_staff=False))

    assert anonymous.status_code == 401
    assert client.get(URL).status_code == 403
