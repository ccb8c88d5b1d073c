"""The console's own page, /console/<charge point id>/, and the console on the charge point's admin page."""

from __future__ import annotations

import pytest
from django.contrib.admin.utils import quote
from django.contrib.auth import get_user_model
from django.urls import reverse

from chargepoints.models import ChargePoint
from tests.users import user_with_role

pytestmark = pytest.mark.django_db


@pytest.fixture
def cp(db):
    return ChargePoint.objects.create(id="CP:1*x")


def test_a_viewer_sees_the_console_of_a_charge_point_wired_to_its_websocket(client, cp):
    client.force_login(user_with_role("viewer-1", "viewer"))

    response = client.get("/console/CP:1*x/")

    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="console" data-charge-point-id="CP:1*x"' in page
    assert "/static/chargepoints/console.js" in page
    assert "Live frames of CP:1*x" in page


def test_the_charge_point_admin_page_carries_the_console_under_its_commands(client, cp):
    client.force_login(user_with_role("viewer-1", "viewer"))

    page = client.get(reverse("admin:chargepoints_chargepoint_change", args=[quote(cp.pk)])).content.decode()

    assert 'id="console" data-charge-point-id="CP:1*x"' in page
    assert page.index('id="commands"') < page.index('id="console"') < page.index('id="chargepoint_form"')


def test_an_anonymous_visitor_is_sent_to_the_admin_login(client, cp):
    response = client.get("/console/CP:1*x/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_staff_without_view_permission_is_refused(client, cp):
    client.force_login(get_user_model().objects.create_user("staff-only", is_staff=True))
    assert client.get("/console/CP:1*x/").status_code == 403


def test_an_unknown_charge_point_is_not_found(client, admin_user):
    client.force_login(admin_user)
    assert client.get("/console/NOPE/").status_code == 404
