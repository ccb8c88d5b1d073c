"""REST API for OCPP 2.0.1 stations: EVSEs, registration status, device model, station transaction ids, token types."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from chargepoints import selectors, services
from chargepoints.models import ChargePoint, Variable
from tests.users import PERMISSION_QUERIES, user_with_role
from transactions.models import IdTag, Transaction

pytestmark = pytest.mark.django_db

URL = "/api/v1/chargepoints/"
TAGS = "/api/v1/id-tags/"
T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
def api():
    client = APIClient()
    client.force_authenticate(user_with_role("operator"))
    return client


@pytest.fixture
def station(db):
    now = timezone.now()
    return ChargePoint.objects.create(id="CS-1", ocpp_version="2.0.1", connected=True, session_id="s1", connected_at=now, last_seen=now)


def variable(component="AuthCtrlr", name="Enabled", charge_point_id="CS-1", **fields) -> Variable:
    return Variable.objects.create(charge_point_id=charge_point_id, component=component, variable=name, **fields)


# --- connectors and registration status


def test_connectors_carry_their_evse(api, station):
    services.status_notification_create(charge_point_id="CS-1", evse_id=1, connector_id=2, status="Occupied")
    services.status_notification_create(charge_point_id="CS-1", evse_id=1, connector_id=1, status="Available")
    ChargePoint.objects.create(id="CP-16", ocpp_version="1.6")
    services.status_notification_create(charge_point_id="CP-16", connector_id=2, status="Charging", error_code="NoError")

    station_body = api.get(f"{URL}CS-1/").json()
    legacy_body = api.get(f"{URL}CP-16/").json()

    assert sorted((c["evse_id"], c["connector_id"], c["status"]) for c in station_body["connectors"]) == [
        (1, 1, "Available"),
        (1, 2, "Occupied"),
    ]
    assert [(c["evse_id"], c["connector_id"]) for c in legacy_body["connectors"]] == [(2, 2)]


def test_charge_points_show_their_registration_status(api, station):
    ChargePoint.objects.create(id="CP-P", registration_status="Pending")

    listed = {cp["id"]: cp["registration_status"] for cp in api.get(URL).json()["results"]}
    detail = api.get(f"{URL}CP-P/").json()

    assert listed == {"CP-P": "Pending", "CS-1": "Accepted"}
    assert detail["registration_status"] == "Pending"
    assert detail["ocpp_version"] == ""


def test_a_patch_sets_the_registration_status_answered_at_the_next_boot(api, station):
    response = api.patch(f"{URL}CS-1/", {"registration_status": "Rejected"}, format="json")

    assert response.status_code == 200
    assert response.json()["registration_status"] == "Rejected"
    station.refresh_from_db()
    assert station.registration_status == "Rejected"
    assert services.boot_notification_create(charge_point_id="CS-1", vendor="V", model="M").status == "Rejected"


def test_a_patch_sets_description_and_registration_status_together(api, station):
    response = api.patch(f"{URL}CS-1/", {"description": "Depot", "registration_status": "Pending"}, format="json")

    assert response.status_code == 200
    station.refresh_from_db()
    assert (station.description, station.registration_status) == ("Depot", "Pending")


def test_a_patch_of_the_description_alone_keeps_the_registration_status(api, station):
    ChargePoint.objects.filter(pk="CS-1").update(registration_status="Pending", description="old")

    api.patch(f"{URL}CS-1/", {"description": "new"}, format="json")

    station.refresh_from_db()
    assert (station.description, station.registration_status) == ("new", "Pending")


def test_a_patch_of_the_registration_status_writes_nothing_else(api, station, monkeypatch):
    real_update = services.charge_point_update

    def disconnect_meanwhile(**kwargs):
        # The view loaded the charge point connected; the consumer marks it offline before the save.
        services.charge_point_disconnect(charge_point_id="CS-1", session_id="s1")
        return real_update(**kwargs)

    monkeypatch.setattr(services, "charge_point_update", disconnect_meanwhile)

    response = api.patch(f"{URL}CS-1/", {"registration_status": "Pending"}, format="json")

    assert response.status_code == 200
    station.refresh_from_db()
    assert station.registration_status == "Pending"
    assert not station.connected


@pytest.mark.parametrize("payload", [{"registration_status": "Maybe"}, {"registration_status": ""}])
def test_an_unknown_registration_status_is_refused_naming_the_field(api, station, payload):
    response = api.patch(f"{URL}CS-1/", payload, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["registration_status"]
    station.refresh_from_db()
    assert station.registration_status == "Accepted"


def test_a_refused_registration_status_leaves_the_description_too(api, station):
    response = api.patch(f"{URL}CS-1/", {"description": "new", "registration_status": "Maybe"}, format="json")

    assert response.status_code == 400
    station.refresh_from_db()
    assert station.description == ""


# --- the device model


def test_it_lists_a_stations_device_model(api, station):
    updated = timezone.now()
    variable(
        "EVSE",
        "Power",
        evse_id=1,
        attribute_type="MaxSet",
        value="22000",
        mutability="ReadOnly",
        unit="W",
        data_type="decimal",
        updated_at=updated,
    )

    response = api.get(f"{URL}CS-1/variables/")

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    assert body["results"] == [
        {
            "component": "EVSE",
            "component_instance": "",
            "evse_id": 1,
            "connector_id": 0,
            "variable": "Power",
            "variable_instance": "",
            "attribute_type": "MaxSet",
            "value": "22000",
            "mutability": "ReadOnly",
            "unit": "W",
            "data_type": "decimal",
            "updated_at": updated.isoformat().replace("+00:00", "Z"),
        }
    ]


def test_the_device_model_is_ordered_by_component_variable_and_attribute_type(api, station):
    variable("EVSE", "Power", evse_id=2, attribute_type="Actual")
    variable("EVSE", "Power", evse_id=1, attribute_type="Target")
    variable("EVSE", "Power", evse_id=1, attribute_type="MaxSet")
    variable("AuthCtrlr", "Enabled")
    variable("Connector", "Available", evse_id=1, connector_id=1, component_instance="B")
    variable("Connector", "Available", evse_id=1, connector_id=1, component_instance="A", variable_instance="x")

    results = api.get(f"{URL}CS-1/variables/").json()["results"]

    assert [(r["component"], r["component_instance"], r["evse_id"], r["attribute_type"]) for r in results] == [
        ("AuthCtrlr", "", 0, "Actual"),
        ("Connector", "A", 1, "Actual"),
        ("Connector", "B", 1, "Actual"),
        ("EVSE", "", 1, "MaxSet"),
        ("EVSE", "", 1, "Target"),
        ("EVSE", "", 2, "Actual"),
    ]


def test_the_device_model_is_paginated_without_overlap(api, station):
    for attribute_type in ("Actual", "Target", "MinSet", "MaxSet"):
        for evse_id in (1, 2, 3):
            variable("EVSE", "Power", evse_id=evse_id, attribute_type=attribute_type)

    pages = [api.get(f"{URL}CS-1/variables/", {"limit": 5, "offset": offset}).json() for offset in (0, 5, 10)]

    seen = [(r["evse_id"], r["attribute_type"]) for page in pages for r in page["results"]]
    assert pages[0]["count"] == 12
    assert len(seen) == len(set(seen)) == 12
    assert pages[0]["next"] and pages[2]["next"] is None


@pytest.mark.parametrize(
    "query, expected",
    [
        ({"component": "EVSE"}, [("EVSE", "Power")]),
        ({"variable": "Enabled"}, [("AuthCtrlr", "Enabled"), ("LocalAuthListCtrlr", "Enabled")]),
        ({"component": "AuthCtrlr", "variable": "Enabled"}, [("AuthCtrlr", "Enabled")]),
        ({"component": "Evse"}, []),  # exact names
    ],
)
def test_the_device_model_filters_by_component_and_variable(api, station, query, expected):
    variable("AuthCtrlr", "Enabled")
    variable("LocalAuthListCtrlr", "Enabled")
    variable("EVSE", "Power", evse_id=1)

    results = api.get(f"{URL}CS-1/variables/", query).json()["results"]

    assert [(r["component"], r["variable"]) for r in results] == expected


def test_the_device_model_holds_only_the_stations_own_variables(api, station):
    ChargePoint.objects.create(id="CS:2*B", ocpp_version="2.0.1")
    variable("AuthCtrlr", "Enabled", value="true")
    variable("AuthCtrlr", "Enabled", charge_point_id="CS:2*B", value="false")

    results = api.get(f"{URL}CS:2*B/variables/").json()["results"]

    assert [r["value"] for r in results] == ["false"]


def test_a_charge_point_without_a_device_model_lists_none(api):
    ChargePoint.objects.create(id="CP-16", ocpp_version="1.6")

    response = api.get(f"{URL}CP-16/variables/")

    assert response.status_code == 200
    assert response.json()["results"] == []


def test_the_device_model_of_an_unknown_charge_point_is_404(api):
    assert api.get(f"{URL}CS-404/variables/").status_code == 404


def test_the_device_model_is_read_only(api, station):
    assert api.post(f"{URL}CS-1/variables/", {}, format="json").status_code == 405
    assert api.delete(f"{URL}CS-1/variables/").status_code == 405


def test_the_device_model_needs_staff_credentials(station):
    assert APIClient().get(f"{URL}CS-1/variables/").status_code == 401


def test_the_device_model_reads_in_a_constant_number_of_queries(api, station, django_assert_num_queries):
    Variable.objects.bulk_create(Variable(charge_point_id="CS-1", component=f"C{i:03}", variable="V") for i in range(50))

    with django_assert_num_queries(PERMISSION_QUERIES + 3):  # exists, count, page
        response = api.get(f"{URL}CS-1/variables/")

    assert len(response.json()["results"]) == 50


def test_the_device_model_selector_treats_empty_filters_as_none(station):
    variable("AuthCtrlr", "Enabled")
    variable("EVSE", "Power", evse_id=1)

    everything = selectors.variables_for("CS-1", component="", variable=None)

    assert [(v.component, v.variable) for v in everything] == [("AuthCtrlr", "Enabled"), ("EVSE", "Power")]
    assert not selectors.variables_for("CS-404").exists()


def test_the_schema_documents_the_device_model(db):
    paths = APIClient().get("/api/schema/", {"format": "json"}).json()["paths"]

    assert "/api/v1/chargepoints/{id}/variables/" in paths
    assert set(paths["/api/v1/chargepoints/{id}/variables/"]) == {"get"}


# --- transactions


def test_a_station_transaction_shows_the_stations_id_evse_token_type_and_charging_state(api, station):
    tx = Transaction.objects.create(
        charge_point=station,
        station_transaction_id="tx-7f3a",
        evse_id=1,
        connector_id=2,
        id_tag="04E1A2B3C4D5E6",
        id_tag_type="ISO14443",
        id_tag_status="Accepted",
        charging_state="SuspendedEV",
        start_timestamp=T0,
    )

    [listed] = api.get("/api/v1/transactions/").json()["results"]
    detail = api.get(f"/api/v1/transactions/{tx.pk}/").json()

    for body in (listed, detail):
        assert body["id"] == tx.pk
        assert body["station_transaction_id"] == "tx-7f3a"
        assert (body["evse_id"], body["connector_id"]) == (1, 2)
        assert (body["id_tag"], body["id_tag_type"]) == ("04E1A2B3C4D5E6", "ISO14443")
        assert body["charging_state"] == "SuspendedEV"


def test_a_1_6_transaction_has_no_station_transaction_id_its_transaction_id_is_ours(api):
    ChargePoint.objects.create(id="CP-16", ocpp_version="1.6")
    tx = Transaction.objects.create(charge_point_id="CP-16", connector_id=1, id_tag="T", start_timestamp=T0)

    [body] = api.get("/api/v1/transactions/").json()["results"]

    assert (body["id"], body["station_transaction_id"]) == (tx.pk, "")
    assert (body["evse_id"], body["id_tag_type"], body["charging_state"]) == (None, "", "")


# --- id tags: 2.0.1 idTokens


def test_an_id_tag_is_created_with_an_id_token_type(api):
    response = api.post(TAGS, {"id_tag": "04E1A2B3C4D5E6", "type": "ISO14443"}, format="json")

    assert response.status_code == 201
    assert response.json()["type"] == "ISO14443"
    assert IdTag.objects.get().type == "ISO14443"


def test_an_id_tag_without_type_is_a_1_6_id_tag(api):
    response = api.post(TAGS, {"id_tag": "LEGACY"}, format="json")

    assert response.status_code == 201
    assert response.json()["type"] == ""
    assert IdTag.objects.get().type == ""


@pytest.mark.parametrize("token_type", ["Barcode", "iso14443", None])
def test_an_id_token_type_outside_the_enum_is_refused(api, token_type):
    response = api.post(TAGS, {"id_tag": "X", "type": token_type}, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["type"]
    assert not IdTag.objects.exists()


def test_a_patch_changes_only_the_type(api):
    IdTag.objects.create(id_tag="CARD-1", note="keep", status="Blocked")

    response = api.patch(f"{TAGS}CARD-1/", {"type": "eMAID"}, format="json")

    assert response.status_code == 200
    tag = IdTag.objects.get()
    assert (tag.type, tag.note, tag.status) == ("eMAID", "keep", "Blocked")


def test_a_patch_without_type_keeps_it(api):
    IdTag.objects.create(id_tag="CARD-1", type="Central")

    api.patch(f"{TAGS}CARD-1/", {"note": "n"}, format="json")

    assert IdTag.objects.get().type == "Central"


def test_a_put_without_type_clears_it(api):
    IdTag.objects.create(id_tag="CARD-1", type="Central")

    response = api.put(f"{TAGS}CARD-1/", {"id_tag": "CARD-1"}, format="json")

    assert response.status_code == 200
    assert IdTag.objects.get().type == ""


def test_a_rename_to_a_taken_id_tag_keeps_the_type_it_had(api):
    IdTag.objects.create(id_tag="CARD-1", type="Central")
    IdTag.objects.create(id_tag="CARD-2")

    response = api.patch(f"{TAGS}CARD-1/", {"id_tag": "CARD-2", "type": "eMAID"}, format="json")

    assert response.status_code == 400
    assert IdTag.objects.get(id_tag="CARD-1").type == "Central"


def test_a_36_character_id_token_is_created_and_addressed_by_its_url(api):
    token = "E" * 36

    created = api.post(TAGS, {"id_tag": token, "type": "eMAID"}, format="json")
    fetched = api.get(f"{TAGS}{token}/")

    assert created.status_code == 201
    assert fetched.status_code == 200 and fetched.json()["id_tag"] == token
    assert api.post(TAGS, {"id_tag": "E" * 37}, format="json").status_code == 400
