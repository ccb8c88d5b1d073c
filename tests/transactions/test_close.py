"""Operators close a transaction by hand: REST API (POST …/close/) and admin (list action, a transaction's page)."""

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.urls import reverse
from rest_framework.test import APIClient

from transactions.models import StopSource, Transaction

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def user(name: str, *, can_change: bool):
    person = get_user_model().objects.create_user(name, password="pw", is_staff=True)
    if can_change:
        person.user_permissions.add(
            Permission.objects.get(codename="change_transaction"), Permission.objects.get(codename="view_transaction")
        )
    else:
        person.user_permissions.add(Permission.objects.get(codename="view_transaction"))
    return person


@pytest.fixture
def operator():
    return user("operator", can_change=True)


@pytest.fixture
def api(operator):
    client = APIClient()
    client.force_authenticate(operator)
    return client


def start(charge_point, *, connector_id=1, last_meter_wh=None, **fields) -> Transaction:
    return Transaction.objects.create(
        charge_point=charge_point,
        connector_id=connector_id,
        id_tag="T",
        start_timestamp=T0,
        meter_start_wh=1000,
        last_meter_wh=last_meter_wh,
        last_meter_at=T0 + timedelta(minutes=5) if last_meter_wh else None,
        **fields,
    )


# --- API -----------------------------------------------------------------------


def test_the_api_closes_an_active_transaction_with_its_last_reading_and_the_operator(api, charge_point, operator):
    tx = start(charge_point, last_meter_wh=2500)

    response = api.post(f"/api/v1/transactions/{tx.pk}/close/", {"reason": "EVDisconnected"}, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["stop_reason"], body["stop_source"], body["stopped_by"]) == (
        "completed",
        "EVDisconnected",
        "operator",
        "operator",
    )
    assert body["energy_wh"] == 1500
    tx.refresh_from_db()
    assert (tx.meter_stop_wh, tx.stop_source, tx.stopped_by) == (2500, StopSource.OPERATOR, operator)
    assert tx.stop_timestamp is not None


def test_the_api_closes_with_reason_other_by_default(api, charge_point):
    tx = start(charge_point)
    assert api.post(f"/api/v1/transactions/{tx.pk}/close/", {}, format="json").status_code == 200
    tx.refresh_from_db()
    assert (tx.stop_reason, tx.meter_stop_wh) == ("Other", 1000)


def test_the_api_answers_409_for_a_transaction_that_has_ended(api, charge_point):
    tx = start(charge_point, stop_timestamp=T0 + timedelta(hours=1), meter_stop_wh=9000, stop_reason="Local", stop_source="charge_point")
    response = api.post(f"/api/v1/transactions/{tx.pk}/close/", {}, format="json")
    assert response.status_code == 409
    assert "ended already" in response.json()["detail"]
    tx.refresh_from_db()
    assert (tx.meter_stop_wh, tx.stop_reason) == (9000, "Local")


def test_the_api_answers_404_for_an_unknown_transaction(api, db):
    response = api.post("/api/v1/transactions/424242/close/", {}, format="json")
    assert response.status_code == 404
    assert response.json()["detail"] == "No transaction 424242."


def test_the_api_refuses_an_unknown_reason(api, charge_point):
    tx = start(charge_point)
    response = api.post(f"/api/v1/transactions/{tx.pk}/close/", {"reason": "Bored"}, format="json")
    assert response.status_code == 400
    assert "reason" in response.json()
    tx.refresh_from_db()
    assert tx.is_active


def test_the_api_refuses_staff_without_the_permission_to_change_transactions(charge_point):
    client = APIClient()
    client.force_authenticate(user("viewer", can_change=False))
    tx = start(charge_point)
    assert client.post(f"/api/v1/transactions/{tx.pk}/close/", {}, format="json").status_code == 403
    tx.refresh_from_db()
    assert tx.is_active


# --- admin ---------------------------------------------------------------------


@pytest.fixture
def browser(client, operator):
    client.force_login(operator)
    return client


def test_the_admin_closes_selected_transactions_with_a_reason(browser, charge_point):
    first, second = start(charge_point, last_meter_wh=4000), start(charge_point, connector_id=2)
    done = start(charge_point, connector_id=3, stop_timestamp=T0, meter_stop_wh=1000, stop_source="charge_point")
    changelist = reverse("admin:transactions_transaction_changelist")
    selected = [first.pk, second.pk, done.pk]

    page = browser.post(changelist, {"action": "close_transactions", "_selected_action": selected})
    assert page.status_code == 200
    assert b"Close 2 transactions" in page.content
    first.refresh_from_db()
    assert first.is_active  # nothing happens before the operator confirms

    response = browser.post(
        changelist, {"action": "close_transactions", "_selected_action": selected, "apply": "1", "reason": "PowerLoss"}, follow=True
    )
    assert b"Closed 2 transaction(s) (PowerLoss)" in response.content
    for tx in (first, second):
        tx.refresh_from_db()
        assert (tx.stop_reason, tx.stop_source, tx.stopped_by.username) == ("PowerLoss", StopSource.OPERATOR, "operator")
    assert first.meter_stop_wh == 4000
    done.refresh_from_db()
    assert done.stop_source == StopSource.CHARGE_POINT


def test_a_transactions_page_has_a_close_button_that_closes_it(browser, charge_point):
    tx = start(charge_point)
    change = reverse("admin:transactions_transaction_change", args=[tx.pk])
    close = reverse("admin:transactions_transaction_close", args=[tx.pk])
    assert close.encode() in browser.get(change).content

    response = browser.post(close, {"reason": "Other"}, follow=True)

    assert response.redirect_chain[-1][0] == change
    tx.refresh_from_db()
    assert (tx.stop_reason, tx.stop_source) == ("Other", StopSource.OPERATOR)
    assert close.encode() not in response.content  # ended: no button any more


def test_operators_who_may_only_view_transactions_get_no_close_button_or_page(client, charge_point):
    client.force_login(user("viewer", can_change=False))
    tx = start(charge_point)
    close = reverse("admin:transactions_transaction_close", args=[tx.pk])
    assert close.encode() not in client.get(reverse("admin:transactions_transaction_change", args=[tx.pk])).content
    assert client.post(close, {"reason": "Other"}).status_code == 403
    tx.refresh_from_db()
    assert tx.is_active
