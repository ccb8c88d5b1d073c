"""The API's shared doors: JSON errors, strict paging and parameters, filters, histories, CSV export, id tag import."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from chargepoints.models import (
    BootNotification,
    ChargePoint,
    Command,
    Connector,
    ServerProcess,
    StatusNotification,
)
from transactions.models import IdTag, MeterValue, Reservation, Transaction

pytestmark = pytest.mark.django_db

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
def api():
    client = APIClient()
    client.force_authenticate(get_user_model().objects.create_superuser("root", password="x"))
    return client


def ids(response) -> list:
    assert response.status_code == 200, response.content
    return [row.get("id", row.get("id_tag")) for row in response.json()["results"]]


# --- errors as JSON


def test_it_answers_a_json_body_nested_too_deeply_with_400(api):
    body = "[" * 100_000 + "]" * 100_000

    response = api.post("/api/v1/id-tags/", body, content_type="application/json")

    assert response.status_code == 400
    assert "nested too deeply" in response.json()["detail"]


@pytest.mark.parametrize("path", ["/api/v1/", "/api/v1/transactions/abc/", "/api/v2/chargepoints/", "/api/nothing"])
def test_it_answers_unknown_api_paths_with_a_json_404(api, path):
    response = api.get(path)

    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert "detail" in response.json()


def test_it_still_redirects_an_api_path_without_its_slash(api):
    response = api.get("/api/v1/chargepoints")

    assert response.status_code == 301
    assert response["Location"].endswith("/api/v1/chargepoints/")


def test_it_answers_an_unknown_format_with_json_not_html(api):
    response = api.get("/api/v1/chargepoints/", {"format": "xml"})

    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")


def test_it_renders_a_charge_point_in_the_browsable_api(api):
    ChargePoint.objects.create(id="CP-1")

    response = api.get("/api/v1/chargepoints/CP-1/", {"format": "api"})

    assert response.status_code == 200
    assert b"CP-1" in response.content


# --- pagination and query parameters


def test_it_caps_limit_at_1000(api):
    ChargePoint.objects.bulk_create([ChargePoint(id=f"CP-{i:04}") for i in range(1005)])

    response = api.get("/api/v1/chargepoints/", {"limit": 1_000_000_000})

    assert response.status_code == 200
    assert len(response.json()["results"]) == 1000
    assert response.json()["count"] == 1005


@pytest.mark.parametrize(("name", "value"), [("limit", "abc"), ("limit", "0"), ("limit", "-5"), ("offset", "x"), ("offset", "-1")])
def test_it_rejects_bad_pagination_naming_the_parameter(api, name, value):
    response = api.get("/api/v1/transactions/", {name: value})

    assert response.status_code == 400
    assert name in response.json()


def test_it_rejects_an_unknown_query_parameter_naming_it(api):
    response = api.get("/api/v1/transactions/", {"chargepoint": "CP-1"})

    assert response.status_code == 400
    assert "chargepoint" in response.json()
    assert "charge_point" in response.json()["chargepoint"][0]


def test_it_rejects_ordering_by_an_unknown_field(api):
    response = api.get("/api/v1/transactions/", {"ordering": "password"})

    assert response.status_code == 400
    assert "ordering" in response.json()


# --- charge point filters


def test_it_filters_charge_points_by_online_with_the_property_rule(api, settings):
    now = timezone.now()
    alive = ServerProcess.objects.create(id="alive", renewed_at=now)
    dead = ServerProcess.objects.create(id="dead", renewed_at=now - timedelta(seconds=settings.OCPP_PRESENCE_TTL + 5))
    ChargePoint.objects.create(id="ON", connected=True, last_seen=now, server_process=alive)
    ChargePoint.objects.create(id="ON-NO-LEASE", connected=True, last_seen=now)
    ChargePoint.objects.create(id="DEAD-PROCESS", connected=True, last_seen=now, server_process=dead)
    ChargePoint.objects.create(id="SILENT", connected=True, last_seen=now - timedelta(seconds=2 * settings.OCPP_HEARTBEAT_INTERVAL + 61))
    ChargePoint.objects.create(id="NEVER")

    online = ids(api.get("/api/v1/chargepoints/", {"online": "true"}))
    offline = ids(api.get("/api/v1/chargepoints/", {"online": "false"}))

    assert online == ["ON", "ON-NO-LEASE"]
    assert offline == ["DEAD-PROCESS", "NEVER", "SILENT"]
    by_property = {cp.id: cp.online for cp in ChargePoint.objects.select_related("server_process")}
    assert sorted(k for k, v in by_property.items() if v) == online


def test_it_filters_charge_points_by_connector_status_version_and_registration(api):
    ChargePoint.objects.create(id="A", ocpp_version="1.6", registration_status="Accepted")
    ChargePoint.objects.create(id="B", ocpp_version="2.0.1", registration_status="Pending")
    Connector.objects.create(charge_point_id="A", connector_id=1, evse_id=1, status="Faulted")
    Connector.objects.create(charge_point_id="A", connector_id=2, evse_id=2, status="Faulted")
    Connector.objects.create(charge_point_id="B", connector_id=1, evse_id=1, status="Available")

    assert ids(api.get("/api/v1/chargepoints/", {"status": "Faulted"})) == ["A"]
    assert ids(api.get("/api/v1/chargepoints/", {"ocpp_version": "2.0.1"})) == ["B"]
    assert ids(api.get("/api/v1/chargepoints/", {"registration_status": "pending"})) == ["B"]
    assert ids(api.get("/api/v1/chargepoints/", {"ordering": "-id"})) == ["B", "A"]
    assert api.get("/api/v1/chargepoints/", {"ocpp_version": "3"}).status_code == 400


# --- transaction filters and CSV


@pytest.fixture
def sessions():
    ChargePoint.objects.create(id="CP-1")
    ChargePoint.objects.create(id="CP-2")
    a = Transaction.objects.create(
        charge_point_id="CP-1",
        connector_id=1,
        id_tag="ALICE",
        start_timestamp=T0,
        meter_start_wh=1000,
        stop_timestamp=T0 + timedelta(hours=1, minutes=30),
        meter_stop_wh=13_345,
        stop_reason="Local",
    )
    b = Transaction.objects.create(
        charge_point_id="CP-2", evse_id=1, connector_id=1, id_tag="BOB", start_timestamp=T0 + timedelta(days=1), meter_start_wh=0
    )
    return a, b


def test_it_filters_transactions_by_id_tag_dates_energy_and_orders_them(api, sessions):
    a, b = sessions

    assert ids(api.get("/api/v1/transactions/", {"id_tag": "ALICE"})) == [a.pk]
    assert ids(api.get("/api/v1/transactions/", {"since": (T0 + timedelta(hours=2)).isoformat()})) == [b.pk]
    assert ids(api.get("/api/v1/transactions/", {"until": (T0 + timedelta(hours=2)).isoformat()})) == [a.pk]
    assert ids(api.get("/api/v1/transactions/", {"stopped_since": T0.isoformat()})) == [a.pk]
    assert ids(api.get("/api/v1/transactions/", {"energy_wh_min": 10_000})) == [a.pk]
    assert ids(api.get("/api/v1/transactions/", {"ordering": "start_timestamp"})) == [a.pk, b.pk]
    assert ids(api.get("/api/v1/transactions/", {"ordering": "-energy_wh"}))[0] == a.pk
    assert api.get("/api/v1/transactions/", {"since": "yesterday"}).status_code == 400


def test_it_exports_transactions_as_csv_one_line_per_session(api, sessions):
    a, b = sessions

    response = api.get("/api/v1/transactions/", {"format": "csv", "charge_point": "CP-1"})

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows == [
        {
            "transaction id": str(a.pk),
            "ocpp transaction id": str(a.pk),
            "charge point": "CP-1",
            "evse id": "",
            "connector id": "1",
            "id tag": "ALICE",
            "start": "2025-03-01T08:00:00Z",
            "stop": "2025-03-01T09:30:00Z",
            "duration (s)": "5400",
            "energy (kWh)": "12.345",
            "stop reason": "Local",
            "status": "completed",
        }
    ]


def test_it_exports_every_page_as_csv_not_just_the_first(api, sessions):
    response = api.get("/api/v1/transactions/", {"format": "csv"})

    lines = b"".join(response.streaming_content).decode().splitlines()
    assert len(lines) == 3  # header and both sessions


def test_it_exports_selected_transactions_from_the_admin(sessions):
    client = Client()
    client.force_login(get_user_model().objects.create_superuser("admin", password="x"))
    a, _ = sessions

    response = client.post("/admin/transactions/transaction/", {"action": "export_csv", "_selected_action": [str(a.pk)]})

    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode()
    assert text.splitlines()[0].startswith("transaction id,")
    assert "ALICE" in text and "BOB" not in text


# --- commands and id tags filters


def test_it_filters_commands_by_status_as_the_admin_shows_it(api):
    ChargePoint.objects.create(id="CP-1")
    answered = Command.objects.create(charge_point_id="CP-1", action="Reset", status="answered")
    Command.objects.create(charge_point_id="CP-1", action="Reset", status="timeout")

    assert ids(api.get("/api/v1/commands/", {"status": "Answered"})) == [answered.pk]
    assert ids(api.get("/api/v1/commands/", {"status": "answered"})) == [answered.pk]
    assert len(ids(api.get("/api/v1/commands/", {"status": "Timed out"}))) == 1
    assert api.get("/api/v1/commands/", {"status": "Lost"}).status_code == 400


def test_it_filters_id_tags_by_status_and_parent(api):
    group = IdTag.objects.create(id_tag="GROUP")
    IdTag.objects.create(id_tag="A", parent=group)
    IdTag.objects.create(id_tag="B", status="Blocked")

    assert ids(api.get("/api/v1/id-tags/", {"status": "Blocked"})) == ["B"]
    assert ids(api.get("/api/v1/id-tags/", {"parent": "GROUP"})) == ["A"]


# --- histories


def test_it_lists_status_history_and_boots_of_a_charge_point_newest_first(api):
    ChargePoint.objects.create(id="CP-1")
    ChargePoint.objects.create(id="CP-2")
    old = StatusNotification.objects.create(
        charge_point_id="CP-1", connector_id=1, status="Available", error_code="NoError", received_at=T0
    )
    new = StatusNotification.objects.create(
        charge_point_id="CP-1", connector_id=1, status="Faulted", error_code="GroundFailure", received_at=T0 + timedelta(minutes=5)
    )
    StatusNotification.objects.create(charge_point_id="CP-2", connector_id=1, status="Available", error_code="NoError", received_at=T0)
    BootNotification.objects.create(charge_point_id="CP-1", vendor="V", model="M", status="Accepted")

    assert ids(api.get("/api/v1/status-notifications/", {"charge_point": "CP-1"})) == [new.pk, old.pk]
    assert ids(api.get("/api/v1/status-notifications/", {"charge_point": "CP-1", "status": "Faulted"})) == [new.pk]
    assert ids(api.get("/api/v1/status-notifications/", {"since": (T0 + timedelta(minutes=1)).isoformat()})) == [new.pk]
    boots = api.get("/api/v1/boot-notifications/", {"charge_point": "CP-1"}).json()["results"]
    assert [(b["charge_point"], b["vendor"], b["status"]) for b in boots] == [("CP-1", "V", "Accepted")]


def test_it_lists_reservations_and_meter_values_of_a_charge_point(api):
    ChargePoint.objects.create(id="CP-1")
    reservation = Reservation.objects.create(charge_point_id="CP-1", evse_id=1, id_tag="T", expiry_date=T0)
    MeterValue.objects.create(charge_point_id="CP-1", evse_id=1, timestamp=T0, value="10")
    MeterValue.objects.create(charge_point_id="CP-1", evse_id=1, timestamp=T0 + timedelta(minutes=1), value="20")

    assert ids(api.get("/api/v1/reservations/", {"charge_point": "CP-1"})) == [reservation.pk]
    values = api.get("/api/v1/chargepoints/CP-1/meter-values/", {"since": (T0 + timedelta(seconds=30)).isoformat()}).json()
    assert [v["value"] for v in values["results"]] == ["20"]
    assert api.get("/api/v1/chargepoints/NOPE/meter-values/").status_code == 404


# --- id tag import


def test_it_imports_id_tags_from_a_json_list_creating_and_updating(api):
    IdTag.objects.create(id_tag="OLD", note="before")

    response = api.post(
        "/api/v1/id-tags/import/",
        [{"id_tag": "OLD", "status": "Blocked"}, {"id_tag": "CHILD", "parent_id_tag": "GROUP"}, {"id_tag": "GROUP"}],
        format="json",
    )

    assert response.status_code == 200, response.content
    assert response.json() == {"created": 2, "updated": 1}
    old = IdTag.objects.get(id_tag="OLD")
    assert (old.status, old.note) == ("Blocked", "")
    assert IdTag.objects.get(id_tag="CHILD").parent.id_tag == "GROUP"


def test_it_imports_id_tags_from_an_uploaded_csv_file(api):
    text = "id_tag,status,expiry_date,parent_id_tag,note\nCARD-1,Accepted,,,Van 1\nCARD-2,Blocked,2030-01-01T00:00:00Z,CARD-1,\n"

    response = api.post("/api/v1/id-tags/import/", {"file": SimpleUploadedFile("tags.csv", text.encode())}, format="multipart")

    assert response.status_code == 200, response.content
    assert response.json() == {"created": 2, "updated": 0}
    card = IdTag.objects.get(id_tag="CARD-2")
    assert (card.status, card.parent.id_tag, card.expiry_date.year) == ("Blocked", "CARD-1", 2030)


def test_it_imports_nothing_when_a_row_is_invalid_and_names_the_row(api):
    response = api.post(
        "/api/v1/id-tags/import/",
        [{"id_tag": "GOOD"}, {"id_tag": "BAD", "status": "Maybe"}, {"id_tag": "X", "parent_id_tag": "NONE"}],
        format="json",
    )

    assert response.status_code == 400
    errors = response.json()["errors"]
    assert "status" in errors["1"]
    assert not IdTag.objects.exists()


def test_it_names_an_unknown_parent_in_an_import(api):
    response = api.post("/api/v1/id-tags/import/", [{"id_tag": "GOOD"}, {"id_tag": "X", "parent_id_tag": "NONE"}], format="json")

    assert response.status_code == 400
    assert "parent_id_tag" in response.json()["errors"]["1"]
    assert not IdTag.objects.exists()


def _get_paths_without_parameters() -> list[str]:
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    return sorted(path for path, operations in schema["paths"].items() if "get" in operations and "{" not in path)


@pytest.mark.parametrize("path", _get_paths_without_parameters())
def test_every_get_endpoint_without_a_path_parameter_rejects_an_unknown_query_parameter(api, path):
    response = api.get(path, {"no_such_parameter": "1"})

    assert response.status_code == 400, (path, response.status_code)
    assert "no_such_parameter" in response.json()


@pytest.mark.parametrize(
    ("path", "ordering"),
    [("/api/v1/security-events/", "-timestamp"), ("/api/v1/certificates/", "not_after"), ("/api/v1/webhooks/subscriptions/", "-url")],
)
def test_the_newer_lists_order_by_their_fields_and_refuse_others(api, path, ordering):
    assert api.get(path, {"ordering": ordering}).status_code == 200
    refused = api.get(path, {"ordering": "secret"})

    assert refused.status_code == 400
    assert "ordering" in refused.json()
