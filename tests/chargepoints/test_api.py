"""REST API: /api/v1/chargepoints/, authentication, and the OpenAPI schema and docs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.services import api_token_create
from chargepoints.models import ChargePoint, Connector, StatusNotification
from tests.users import PERMISSION_QUERIES, user_with_role
from transactions.models import Transaction

pytestmark = pytest.mark.django_db

URL = "/api/v1/chargepoints/"


@pytest.fixture
def staff():
    # No password: hashing one costs a third of a second per test.
    return user_with_role("operator")


@pytest.fixture
def api(staff):
    client = APIClient()
    client.force_authenticate(staff)
    return client


def make_connected(cp_id: str, **fields) -> ChargePoint:
    now = timezone.now()
    return ChargePoint.objects.create(
        id=cp_id, connected=True, session_id="s1", connected_at=now, last_seen=now, ocpp_version="1.6", **fields
    )


# --- authentication


def test_it_answers_401_without_credentials(db):
    response = APIClient().get(URL)

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Token")


def test_it_answers_401_for_an_unknown_token(db):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")

    assert client.get(URL).status_code == 401


def test_it_answers_403_to_a_user_without_permissions(db):
    user = get_user_model().objects.create_user("driver")
    _, token = api_token_create(user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")

    response = client.get(URL)

    assert response.status_code == 403


def test_it_accepts_a_staff_token_made_by_token_create(staff, capsys):
    call_command("token_create", "operator")
    token = capsys.readouterr().out.strip()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")

    response = client.get(URL)

    assert response.status_code == 200


def test_it_accepts_a_staff_session(staff):
    client = APIClient()
    client.force_login(staff)

    assert client.get(URL).status_code == 200


def test_it_refuses_a_session_post_without_csrf_token(staff):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(staff)

    response = client.post(URL, {"id": "CP-9"}, format="json")

    assert response.status_code == 403
    assert not ChargePoint.objects.filter(pk="CP-9").exists()


# --- list


def test_it_lists_charge_points_with_liveness_and_connectors(api):
    make_connected("CP-1", vendor="ACME", model="X1", firmware_version="1.2.3")
    ChargePoint.objects.create(id="CP-2")
    Connector.objects.create(charge_point_id="CP-1", connector_id=2, status="Charging", error_code="NoError")
    Connector.objects.create(charge_point_id="CP-1", connector_id=1, status="Available", error_code="NoError")

    response = api.get(URL)

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    first, second = body["results"]
    assert first["id"] == "CP-1"
    assert first["online"] is True
    assert first["connected"] is True
    assert first["last_seen"] is not None
    assert (first["vendor"], first["model"], first["firmware_version"], first["ocpp_version"]) == (
        "ACME",
        "X1",
        "1.2.3",
        "1.6",
    )
    assert [(c["connector_id"], c["status"]) for c in first["connectors"]] == [(1, "Available"), (2, "Charging")]
    assert second["id"] == "CP-2"
    assert second["online"] is False
    assert second["last_seen"] is None
    assert second["connectors"] == []


def test_it_shows_a_connected_charge_point_that_went_silent_as_offline(api):
    cp = make_connected("CP-1")
    ChargePoint.objects.filter(pk=cp.pk).update(last_seen=timezone.now() - timedelta(days=1))

    result = api.get(URL).json()["results"][0]

    assert result["connected"] is True
    assert result["online"] is False


def test_it_lists_charge_points_in_a_constant_number_of_queries(api, django_assert_num_queries):
    for n in range(5):
        ChargePoint.objects.create(id=f"CP-{n}")
        for connector_id in (1, 2):
            Connector.objects.create(charge_point_id=f"CP-{n}", connector_id=connector_id, status="Available")

    # count, page, connectors of the page
    with django_assert_num_queries(PERMISSION_QUERIES + 3):
        response = api.get(URL)

    assert len(response.json()["results"]) == 5


def test_it_paginates_with_limit_and_offset(api):
    for n in range(3):
        ChargePoint.objects.create(id=f"CP-{n}")

    body = api.get(URL, {"limit": 2, "offset": 2}).json()

    assert body["count"] == 3
    assert [r["id"] for r in body["results"]] == ["CP-2"]


# --- create


def test_it_registers_a_charge_point(api):
    response = api.post(URL, {"id": "CP-NEW", "description": "Car park level 2"}, format="json")

    assert response.status_code == 201
    assert response.json()["id"] == "CP-NEW"
    assert response.json()["connectors"] == []
    cp = ChargePoint.objects.get(pk="CP-NEW")
    assert cp.description == "Car park level 2"
    assert cp.connected is False


def test_it_registers_a_charge_point_without_description(api):
    response = api.post(URL, {"id": "CP-NEW"}, format="json")

    assert response.status_code == 201
    assert ChargePoint.objects.get(pk="CP-NEW").description == ""


@pytest.mark.parametrize("bad_id", ["", "has space", "slash/inside", "x" * 49, "ünïcode", " CP-1"])
def test_it_rejects_an_identity_that_is_not_an_ocpp_identifier_string(api, bad_id):
    response = api.post(URL, {"id": bad_id}, format="json")

    assert response.status_code == 400
    assert "id" in response.json()
    assert ChargePoint.objects.count() == 0


def test_it_rejects_a_registration_without_id(api):
    response = api.post(URL, {"description": "no id"}, format="json")

    assert response.status_code == 400
    assert "id" in response.json()


def test_it_rejects_a_duplicate_identity_with_a_clear_message(api):
    ChargePoint.objects.create(id="CP-1", description="first")

    response = api.post(URL, {"id": "CP-1", "description": "second"}, format="json")

    assert response.status_code == 400
    assert response.json() == {"id": ["A charge point with identity 'CP-1' is already registered."]}
    assert ChargePoint.objects.get(pk="CP-1").description == "first"


def test_it_rejects_a_description_over_200_characters(api):
    response = api.post(URL, {"id": "CP-1", "description": "d" * 201}, format="json")

    assert response.status_code == 400
    assert "description" in response.json()


# --- retrieve


@pytest.mark.parametrize("cp_id", ["CP:1*A", "a+b|c@d.e=f_g-h", "X" * 48])
def test_it_retrieves_a_charge_point_whose_identity_holds_special_characters(api, cp_id):
    ChargePoint.objects.create(id=cp_id)

    response = api.get(f"{URL}{cp_id}/")

    assert response.status_code == 200
    assert response.json()["id"] == cp_id


def test_it_retrieves_a_charge_point_by_percent_encoded_identity(api):
    ChargePoint.objects.create(id="CP:1*A|b")

    response = api.get(f"{URL}CP%3A1%2AA%7Cb/")

    assert response.status_code == 200
    assert response.json()["id"] == "CP:1*A|b"


def test_it_registers_and_retrieves_an_identity_with_colon_and_star(api):
    assert api.post(URL, {"id": "EVSE:01*main"}, format="json").status_code == 201

    assert api.get(f"{URL}EVSE:01*main/").json()["id"] == "EVSE:01*main"


def test_it_answers_404_for_an_unknown_charge_point(api):
    assert api.get(f"{URL}CP-404/").status_code == 404


def test_it_retrieves_boot_fields_statuses_and_connectors(api):
    now = timezone.now()
    make_connected(
        "CP-1",
        vendor="ACME",
        model="X1",
        serial_number="SN1",
        charge_box_serial_number="CB1",
        firmware_version="1.2.3",
        iccid="8944",
        imsi="2620",
        meter_type="M",
        meter_serial_number="MSN",
        last_boot_at=now,
        last_heartbeat=now,
        firmware_status="Installed",
        firmware_status_at=now,
        diagnostics_status="Uploaded",
        diagnostics_status_at=now,
    )
    Connector.objects.create(
        charge_point_id="CP-1",
        connector_id=1,
        status="Faulted",
        error_code="GroundFailure",
        info="RCD tripped",
        vendor_id="com.acme",
        vendor_error_code="E42",
        status_timestamp=now,
    )

    body = api.get(f"{URL}CP-1/").json()

    assert body["serial_number"] == "SN1"
    assert body["charge_box_serial_number"] == "CB1"
    assert body["iccid"] == "8944"
    assert body["imsi"] == "2620"
    assert (body["meter_type"], body["meter_serial_number"]) == ("M", "MSN")
    assert body["last_boot_at"] is not None
    assert body["last_heartbeat"] is not None
    assert (body["firmware_status"], body["diagnostics_status"]) == ("Installed", "Uploaded")
    assert body["online"] is True
    [connector] = body["connectors"]
    assert connector["connector_id"] == 1
    assert connector["status"] == "Faulted"
    assert connector["error_code"] == "GroundFailure"
    assert connector["info"] == "RCD tripped"
    assert connector["vendor_id"] == "com.acme"
    assert connector["vendor_error_code"] == "E42"
    assert connector["status_timestamp"] is not None
    assert connector["updated_at"] is not None


# --- update and delete


def test_it_changes_the_description(api):
    ChargePoint.objects.create(id="CP:1", description="old")

    response = api.patch(f"{URL}CP:1/", {"description": "new"}, format="json")

    assert response.status_code == 200
    assert response.json()["description"] == "new"
    assert ChargePoint.objects.get(pk="CP:1").description == "new"


def test_it_does_not_let_a_patch_change_what_the_charge_point_reports(api):
    ChargePoint.objects.create(id="CP-1", vendor="ACME")

    response = api.patch(f"{URL}CP-1/", {"vendor": "Evil", "connected": True}, format="json")

    assert response.status_code == 200
    cp = ChargePoint.objects.get(pk="CP-1")
    assert (cp.vendor, cp.connected) == ("ACME", False)


def test_it_does_not_replace_a_charge_point_with_put(api):
    ChargePoint.objects.create(id="CP-1")

    assert api.put(f"{URL}CP-1/", {"description": "x"}, format="json").status_code == 405


def test_it_deletes_a_charge_point_with_its_history(api):
    ChargePoint.objects.create(id="CP-1")
    Connector.objects.create(charge_point_id="CP-1", connector_id=1)
    StatusNotification.objects.create(charge_point_id="CP-1", connector_id=1, status="Available", error_code="NoError")

    response = api.delete(f"{URL}CP-1/")

    assert response.status_code == 204
    assert not ChargePoint.objects.filter(pk="CP-1").exists()
    assert not Connector.objects.exists()
    assert not StatusNotification.objects.exists()


def test_it_refuses_to_delete_a_charge_point_with_transactions(api):
    ChargePoint.objects.create(id="CP-1")
    Transaction.objects.create(charge_point_id="CP-1", connector_id=1, id_tag="T", start_timestamp=timezone.now(), meter_start_wh=0)

    response = api.delete(f"{URL}CP-1/")

    assert response.status_code == 409
    assert "1 transaction" in response.json()["detail"]
    assert ChargePoint.objects.filter(pk="CP-1").exists()
    assert Transaction.objects.count() == 1


def test_it_answers_404_when_deleting_an_unknown_charge_point(api):
    assert api.delete(f"{URL}CP-404/").status_code == 404


# --- schema and docs


def test_it_serves_an_openapi_schema_with_the_three_resources(db):
    response = APIClient().get("/api/schema/", {"format": "json"})

    assert response.status_code == 200
    paths = response.json()["paths"]
    assert {"/api/v1/chargepoints/", "/api/v1/transactions/", "/api/v1/id-tags/"} <= set(paths)
    assert "/api/v1/chargepoints/{id}/" in paths


def test_it_serves_swagger_ui_from_this_server_not_a_cdn(db):
    response = APIClient().get("/api/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "drf_spectacular_sidecar/swagger-ui-dist/" in html
    assert "cdn.jsdelivr.net" not in html
