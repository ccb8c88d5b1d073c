"""REST API: /api/v1/transactions/ (read-only) and /api/v1/id-tags/ (CRUD)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.services import api_token_create
from chargepoints.models import ChargePoint
from tests.users import PERMISSION_QUERIES, user_with_role
from transactions.models import IdTag, MeterValue, Transaction

pytestmark = pytest.mark.django_db

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
def api():
    client = APIClient()
    client.force_authenticate(user_with_role("operator"))
    return client


@pytest.fixture
def cps():
    ChargePoint.objects.create(id="CP-1")
    ChargePoint.objects.create(id="CP:2*B")


def start(cp_id="CP-1", *, connector_id=1, id_tag="T", at=T0, meter_start_wh=1000, **fields) -> Transaction:
    return Transaction.objects.create(
        charge_point_id=cp_id,
        connector_id=connector_id,
        id_tag=id_tag,
        id_tag_status="Accepted",
        start_timestamp=at,
        meter_start_wh=meter_start_wh,
        **fields,
    )


def results(response) -> list[dict]:
    assert response.status_code == 200, response.content
    return response.json()["results"]


# --- transactions


def test_it_lists_transactions_newest_first(api, cps):
    older = start(at=T0)
    newer = start("CP:2*B", at=T0 + timedelta(hours=1))

    ids = [tx["id"] for tx in results(api.get("/api/v1/transactions/"))]

    assert ids == [newer.pk, older.pk]


def test_it_shows_live_energy_of_an_active_transaction(api, cps):
    tx = start(meter_start_wh=1000, last_meter_wh=4500, last_meter_at=T0 + timedelta(minutes=30), reservation_id=7)

    [item] = results(api.get("/api/v1/transactions/"))

    assert item == {
        "id": tx.pk,
        "ocpp_transaction_id": str(tx.pk),
        "station_transaction_id": "",
        "charge_point": "CP-1",
        "evse_id": None,
        "connector_id": 1,
        "id_tag": "T",
        "id_tag_type": "",
        "id_tag_status": "Accepted",
        "charging_state": "",
        "reservation_id": 7,
        "start_timestamp": "2025-03-01T08:00:00Z",
        "stop_timestamp": None,
        "meter_start_wh": 1000,
        "meter_stop_wh": None,
        "energy_wh": 3500,
        "stop_reason": "",
        "stop_id_tag": "",
        "stop_source": "",
        "stopped_by": None,
        "status": "active",
        "is_orphan": False,
        "orphan_transaction_id": None,
    }


def test_it_shows_the_energy_of_a_completed_transaction_from_its_meter_stop(api, cps):
    start(
        meter_start_wh=1000,
        last_meter_wh=5000,
        stop_timestamp=T0 + timedelta(hours=2),
        meter_stop_wh=6200,
        stop_reason="EVDisconnected",
        stop_id_tag="T",
    )

    [item] = results(api.get("/api/v1/transactions/"))

    assert item["status"] == "completed"
    assert item["energy_wh"] == 5200
    assert item["meter_stop_wh"] == 6200
    assert item["stop_reason"] == "EVDisconnected"
    assert item["stop_timestamp"] == "2025-03-01T10:00:00Z"


def test_it_shows_an_orphan_stop_as_orphan(api, cps):
    Transaction.objects.create(charge_point_id="CP-1", is_orphan=True, orphan_transaction_id=991, stop_timestamp=T0, meter_stop_wh=800)

    [item] = results(api.get("/api/v1/transactions/"))

    assert item["status"] == "orphan"
    assert item["is_orphan"] is True
    assert item["orphan_transaction_id"] == 991
    assert item["energy_wh"] is None


def test_it_filters_transactions_by_charge_point(api, cps):
    start("CP-1")
    theirs = start("CP:2*B")

    items = results(api.get("/api/v1/transactions/", {"charge_point": "CP:2*B"}))

    assert [tx["id"] for tx in items] == [theirs.pk]


def test_it_filters_transactions_by_status(api, cps):
    active = start(at=T0)
    completed = start(at=T0 - timedelta(days=1), stop_timestamp=T0 - timedelta(hours=20), meter_stop_wh=2000)

    assert [tx["id"] for tx in results(api.get("/api/v1/transactions/", {"status": "active"}))] == [active.pk]
    assert [tx["id"] for tx in results(api.get("/api/v1/transactions/", {"status": "completed"}))] == [completed.pk]


def test_it_combines_the_charge_point_and_status_filters(api, cps):
    start("CP-1", stop_timestamp=T0 + timedelta(hours=1), meter_stop_wh=2000)
    wanted = start("CP-1", connector_id=2)
    start("CP:2*B")

    items = results(api.get("/api/v1/transactions/", {"charge_point": "CP-1", "status": "active"}))

    assert [tx["id"] for tx in items] == [wanted.pk]


def test_it_rejects_an_unknown_status_filter(api, cps):
    response = api.get("/api/v1/transactions/", {"status": "running"})

    assert response.status_code == 400
    assert "status" in response.json()


def test_it_lists_transactions_in_a_constant_number_of_queries(api, cps, django_assert_num_queries):
    for n in range(5):
        start(connector_id=n + 1, last_meter_wh=1000 + n)

    # count and page
    with django_assert_num_queries(PERMISSION_QUERIES + 2):
        items = results(api.get("/api/v1/transactions/"))

    assert len(items) == 5


def test_it_retrieves_a_transaction_with_its_meter_values_in_time_order(api, cps):
    tx = start(last_meter_wh=1600)
    for minutes, value in [(10, "1600"), (5, "1300")]:
        MeterValue.objects.create(
            charge_point_id="CP-1",
            transaction=tx,
            evse_id=1,
            timestamp=T0 + timedelta(minutes=minutes),
            value=value,
        )
    MeterValue.objects.create(
        charge_point_id="CP-1",
        transaction=tx,
        evse_id=1,
        timestamp=T0 + timedelta(minutes=5),
        value="16.1",
        measurand="Current.Import",
        phase="L1",
        unit="A",
    )
    MeterValue.objects.create(charge_point_id="CP-1", evse_id=1, timestamp=T0, value="999")  # no transaction

    response = api.get(f"/api/v1/transactions/{tx.pk}/")

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == tx.pk
    assert body["energy_wh"] == 600
    values = body["meter_values"]
    assert [(v["timestamp"], v["measurand"], v["value"]) for v in values] == [
        ("2025-03-01T08:05:00Z", "Energy.Active.Import.Register", "1300"),
        ("2025-03-01T08:05:00Z", "Current.Import", "16.1"),
        ("2025-03-01T08:10:00Z", "Energy.Active.Import.Register", "1600"),
    ]
    assert values[1] == {
        "timestamp": "2025-03-01T08:05:00Z",
        "evse_id": 1,
        "measurand": "Current.Import",
        "phase": "L1",
        "unit": "A",
        "context": "Sample.Periodic",
        "location": "Outlet",
        "format": "Raw",
        "value": "16.1",
    }


def readings(tx, count, *, start=T0, every=timedelta(seconds=10)) -> list[MeterValue]:
    """`count` stored samples of `tx`, each an energy register reading and an L1 current."""
    rows = []
    for n in range(count):
        at = start + every * n
        rows.append(MeterValue(charge_point_id=tx.charge_point_id, transaction=tx, evse_id=1, timestamp=at, value=str(1000 + n)))
        rows.append(
            MeterValue(
                charge_point_id=tx.charge_point_id,
                transaction=tx,
                evse_id=1,
                timestamp=at,
                value="16.0",
                measurand="Current.Import",
                phase="L1",
                unit="A",
            )
        )
    return MeterValue.objects.bulk_create(rows)


def test_it_embeds_only_the_latest_meter_values_in_a_transaction_with_their_count_and_link(api, cps, django_assert_max_num_queries):
    tx = start(last_meter_wh=1499, last_meter_at=T0 + timedelta(seconds=4990))
    readings(tx, 500)  # 1,000 sampled values

    with django_assert_max_num_queries(PERMISSION_QUERIES + 3):
        response = api.get(f"/api/v1/transactions/{tx.pk}/")

    assert response.status_code == 200
    body = response.json()
    assert body["meter_values_count"] == 1000
    assert body["meter_values_url"] == f"http://testserver/api/v1/transactions/{tx.pk}/meter-values/"
    assert (body["last_meter_wh"], body["last_meter_at"], body["energy_wh"]) == (1499, "2025-03-01T09:23:10Z", 499)
    values = body["meter_values"]
    assert len(values) == 200
    assert [v["value"] for v in values if v["measurand"] == "Energy.Active.Import.Register"] == [str(1000 + n) for n in range(400, 500)]
    assert values == sorted(values, key=lambda v: v["timestamp"])


def test_it_shows_a_transaction_without_meter_values(api, cps):
    tx = start()

    body = api.get(f"/api/v1/transactions/{tx.pk}/").json()

    assert (body["meter_values_count"], body["meter_values"], body["last_meter_wh"]) == (0, [], None)


def test_it_pages_through_all_meter_values_of_a_transaction_oldest_first(api, cps, django_assert_max_num_queries):
    tx = start()
    readings(tx, 500)
    other = start(connector_id=2)
    readings(other, 3)
    url = f"/api/v1/transactions/{tx.pk}/meter-values/"

    with django_assert_max_num_queries(PERMISSION_QUERIES + 3):  # the transaction, count and page
        response = api.get(url, {"limit": 300, "offset": 600})

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1000
    assert body["next"] == f"http://testserver{url}?limit=300&offset=900"
    page = body["results"]
    assert len(page) == 300
    assert page[0] == {
        "timestamp": "2025-03-01T08:50:00Z",
        "evse_id": 1,
        "measurand": "Energy.Active.Import.Register",
        "phase": "",
        "unit": "Wh",
        "context": "Sample.Periodic",
        "location": "Outlet",
        "format": "Raw",
        "value": "1300",
    }
    assert page == sorted(page, key=lambda v: v["timestamp"])
    assert len(results(api.get(url, {"limit": 1000}))) == 1000
    assert len(results(api.get(url))) == 100  # the project's page size


@pytest.mark.parametrize(
    "query, count",
    [
        ({"measurand": "Current.Import"}, 5),
        ({"measurand": "Energy.Active.Import.Register"}, 5),
        ({"phase": "L1"}, 5),
        ({"phase": ""}, 5),
        ({"context": "Sample.Periodic"}, 10),
        ({"context": "Transaction.End"}, 0),
        ({"since": "2025-03-01T08:00:20Z"}, 6),
        ({"until": "2025-03-01T08:00:20Z"}, 4),
        ({"measurand": "Current.Import", "since": "2025-03-01T08:00:10Z", "until": "2025-03-01T08:00:30Z"}, 2),
    ],
)
def test_it_filters_the_meter_values_of_a_transaction(api, cps, query, count):
    tx = start()
    readings(tx, 5)

    assert len(results(api.get(f"/api/v1/transactions/{tx.pk}/meter-values/", query))) == count


def test_it_rejects_an_invalid_meter_value_filter(api, cps):
    tx = start()

    response = api.get(f"/api/v1/transactions/{tx.pk}/meter-values/", {"since": "yesterday"})

    assert response.status_code == 400
    assert "since" in response.json()


def test_it_answers_404_for_the_meter_values_of_an_unknown_transaction(api, cps):
    assert api.get("/api/v1/transactions/424242/meter-values/").status_code == 404


def test_it_answers_404_for_an_unknown_transaction(api, cps):
    assert api.get("/api/v1/transactions/424242/").status_code == 404
    assert api.get("/api/v1/transactions/99999999999999999999999/").status_code == 404


def test_it_does_not_let_clients_write_transactions(api, cps, admin_user):
    tx = start()
    superuser = APIClient()
    superuser.force_authenticate(admin_user)

    # An operator holds no add/delete permission on transactions; not even a superuser finds the method.
    assert api.post("/api/v1/transactions/", {"charge_point": "CP-1"}, format="json").status_code == 403
    assert api.delete(f"/api/v1/transactions/{tx.pk}/").status_code == 403
    assert superuser.post("/api/v1/transactions/", {"charge_point": "CP-1"}, format="json").status_code == 405
    assert superuser.delete(f"/api/v1/transactions/{tx.pk}/").status_code == 405
    assert Transaction.objects.count() == 1


def test_it_answers_401_to_anonymous_transaction_requests(db):
    assert APIClient().get("/api/v1/transactions/").status_code == 401


def test_it_answers_403_to_a_token_of_a_user_without_permissions(db):
    _, token = api_token_create(user=get_user_model().objects.create_user("driver"))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")

    assert client.get("/api/v1/transactions/").status_code == 403
    assert client.get("/api/v1/id-tags/").status_code == 403


# --- id tags

TAGS = "/api/v1/id-tags/"


def test_it_creates_an_id_tag_with_defaults(api):
    response = api.post(TAGS, {"id_tag": "04A2B3C4D5"}, format="json")

    assert response.status_code == 201
    body = response.json()
    assert body["id_tag"] == "04A2B3C4D5"
    assert body["status"] == "Accepted"
    assert body["effective_status"] == "Accepted"
    assert body["expiry_date"] is None
    assert body["parent_id_tag"] is None
    assert body["note"] == ""
    assert body["created_at"] and body["updated_at"]
    assert IdTag.objects.get(id_tag="04A2B3C4D5").status == "Accepted"


def test_it_creates_an_id_tag_with_a_parent(api):
    IdTag.objects.create(id_tag="FLEET-1")

    response = api.post(
        TAGS,
        {"id_tag": "CARD-1", "status": "Blocked", "parent_id_tag": "FLEET-1", "note": "lost"},
        format="json",
    )

    assert response.status_code == 201
    assert response.json()["parent_id_tag"] == "FLEET-1"
    tag = IdTag.objects.get(id_tag="CARD-1")
    assert tag.parent.id_tag == "FLEET-1"
    assert (tag.status, tag.note) == ("Blocked", "lost")


def test_it_creates_and_changes_the_type_of_an_id_token(api):
    response = api.post(TAGS, {"id_tag": "EMP-77", "type": "eMAID"}, format="json")

    assert response.status_code == 201
    assert response.json()["type"] == "eMAID"
    tag = IdTag.objects.get(id_tag="EMP-77")
    assert tag.type == "eMAID"

    response = api.patch(f"{TAGS}EMP-77/", {"type": "ISO14443"}, format="json")

    assert response.status_code == 200
    tag.refresh_from_db()
    assert tag.type == "ISO14443"

    response = api.patch(f"{TAGS}EMP-77/", {"note": "fleet card"}, format="json")

    tag.refresh_from_db()
    assert (tag.type, tag.note) == ("ISO14443", "fleet card")

    response = api.put(f"{TAGS}EMP-77/", {"id_tag": "EMP-77"}, format="json")

    tag.refresh_from_db()
    assert tag.type == ""


def test_it_rejects_an_unknown_id_token_type(api):
    response = api.post(TAGS, {"id_tag": "EMP-77", "type": "Barcode"}, format="json")

    assert response.status_code == 400
    assert "type" in response.json()
    assert not IdTag.objects.exists()


def test_it_rejects_an_unknown_parent_id_tag(api):
    response = api.post(TAGS, {"id_tag": "CARD-1", "parent_id_tag": "NOPE"}, format="json")

    assert response.status_code == 400
    assert response.json() == {"parent_id_tag": ["Unknown parent id tag 'NOPE'."]}
    assert not IdTag.objects.exists()


def test_it_rejects_a_duplicate_id_tag(api):
    IdTag.objects.create(id_tag="CARD-1")

    response = api.post(TAGS, {"id_tag": "CARD-1"}, format="json")

    assert response.status_code == 400
    assert response.json() == {"id_tag": ["An id tag 'CARD-1' already exists."]}


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"id_tag": "X" * 37}, "id_tag"),
        ({"id_tag": ""}, "id_tag"),
        ({"id_tag": "a/b"}, "id_tag"),
        ({}, "id_tag"),
        ({"id_tag": "OK", "status": "Maybe"}, "status"),
        ({"id_tag": "OK", "expiry_date": "tomorrow"}, "expiry_date"),
        ({"id_tag": "OK", "note": "n" * 201}, "note"),
    ],
)
def test_it_rejects_invalid_id_tag_fields_naming_the_field(api, payload, field):
    response = api.post(TAGS, payload, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert not IdTag.objects.exists()


def test_it_shows_an_expired_tag_as_expired(api):
    IdTag.objects.create(id_tag="OLD", expiry_date=timezone.now() - timedelta(days=1))

    body = api.get(f"{TAGS}OLD/").json()

    assert body["status"] == "Accepted"
    assert body["effective_status"] == "Expired"


def test_it_lists_id_tags_in_order(api):
    parent = IdTag.objects.create(id_tag="B-FLEET")
    IdTag.objects.create(id_tag="C-CARD", parent=parent)
    IdTag.objects.create(id_tag="A-CARD")

    items = results(api.get(TAGS))

    assert [(t["id_tag"], t["parent_id_tag"]) for t in items] == [
        ("A-CARD", None),
        ("B-FLEET", None),
        ("C-CARD", "B-FLEET"),
    ]


def test_it_retrieves_an_id_tag_with_special_characters(api):
    IdTag.objects.create(id_tag="tag.with:odd*chars")

    response = api.get(f"{TAGS}tag.with:odd*chars/")

    assert response.status_code == 200
    assert response.json()["id_tag"] == "tag.with:odd*chars"


def test_it_answers_404_for_an_unknown_id_tag(api):
    assert api.get(f"{TAGS}NOPE/").status_code == 404


def test_it_changes_an_id_tag_status_with_patch(api):
    IdTag.objects.create(id_tag="CARD-1", note="keep me")

    response = api.patch(f"{TAGS}CARD-1/", {"status": "Blocked"}, format="json")

    assert response.status_code == 200
    assert response.json()["status"] == "Blocked"
    tag = IdTag.objects.get(id_tag="CARD-1")
    assert (tag.status, tag.note) == ("Blocked", "keep me")


def test_it_clears_a_parent_with_patch(api):
    parent = IdTag.objects.create(id_tag="FLEET")
    IdTag.objects.create(id_tag="CARD-1", parent=parent)

    response = api.patch(f"{TAGS}CARD-1/", {"parent_id_tag": None}, format="json")

    assert response.status_code == 200
    assert IdTag.objects.get(id_tag="CARD-1").parent is None


def test_it_renames_an_id_tag(api):
    IdTag.objects.create(id_tag="OLD-NAME")

    response = api.patch(f"{TAGS}OLD-NAME/", {"id_tag": "NEW-NAME"}, format="json")

    assert response.status_code == 200
    assert list(IdTag.objects.values_list("id_tag", flat=True)) == ["NEW-NAME"]
    assert api.get(f"{TAGS}NEW-NAME/").status_code == 200


def test_it_refuses_to_rename_an_id_tag_to_a_taken_one(api):
    IdTag.objects.create(id_tag="A")
    IdTag.objects.create(id_tag="B")

    response = api.patch(f"{TAGS}B/", {"id_tag": "A"}, format="json")

    assert response.status_code == 400
    assert "id_tag" in response.json()
    assert sorted(IdTag.objects.values_list("id_tag", flat=True)) == ["A", "B"]


def test_it_replaces_an_id_tag_with_put(api):
    parent = IdTag.objects.create(id_tag="FLEET")
    IdTag.objects.create(id_tag="CARD-1", status="Blocked", note="old", parent=parent, expiry_date=timezone.now())

    response = api.put(f"{TAGS}CARD-1/", {"id_tag": "CARD-1", "note": "new"}, format="json")

    assert response.status_code == 200
    tag = IdTag.objects.get(id_tag="CARD-1")
    assert (tag.status, tag.note, tag.parent, tag.expiry_date) == ("Accepted", "new", None, None)


def test_it_rejects_a_put_without_id_tag(api):
    IdTag.objects.create(id_tag="CARD-1")

    response = api.put(f"{TAGS}CARD-1/", {"status": "Blocked"}, format="json")

    assert response.status_code == 400
    assert "id_tag" in response.json()


def test_it_deletes_an_id_tag_and_orphans_its_children(api):
    parent = IdTag.objects.create(id_tag="FLEET")
    IdTag.objects.create(id_tag="CARD-1", parent=parent)

    response = api.delete(f"{TAGS}FLEET/")

    assert response.status_code == 204
    assert not IdTag.objects.filter(id_tag="FLEET").exists()
    assert IdTag.objects.get(id_tag="CARD-1").parent is None
