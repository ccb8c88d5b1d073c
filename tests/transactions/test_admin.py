"""The operators' admin for id tags, transactions and meter values."""

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from chargepoints import services as cp_services
from chargepoints.models import ChargePoint
from transactions.models import AuthorizationStatus, IdTag, MeterValue, Transaction

pytestmark = pytest.mark.django_db

START = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)


def url(model, view="changelist", *args):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def meter_values(tx, count, start=START, every=timedelta(seconds=10)):
    """`count` energy register readings of `tx`, one every `every`, as unsaved rows."""
    return [
        MeterValue(
            charge_point_id=tx.charge_point_id,
            transaction=tx,
            evse_id=1,
            timestamp=start + i * every,
            value=str(100000 + i),
        )
        for i in range(count)
    ]


@pytest.fixture
def completed(charge_point):
    return Transaction.objects.create(
        charge_point=charge_point,
        connector_id=1,
        id_tag="TAG-DONE",
        start_timestamp=START,
        meter_start_wh=1000,
        stop_timestamp=START + timedelta(hours=1, minutes=23, seconds=45),
        meter_stop_wh=13345,
        stop_reason="EVDisconnected",
    )


@pytest.fixture
def active(charge_point):
    return Transaction.objects.create(
        charge_point=charge_point,
        connector_id=2,
        id_tag="TAG-LIVE",
        start_timestamp=timezone.now() - timedelta(minutes=5),
        meter_start_wh=500,
        last_meter_wh=2750,
    )


@pytest.fixture
def orphan(charge_point):
    return Transaction.objects.create(
        charge_point=charge_point, is_orphan=True, orphan_transaction_id=999, stop_timestamp=START, meter_stop_wh=10
    )


# --- id tags


@pytest.fixture
def tags(db):
    past = timezone.now() - timedelta(days=1)
    return {
        "fleet": IdTag.objects.create(id_tag="FLEET", note="Company cars"),
        "old": IdTag.objects.create(id_tag="OLD", expiry_date=past),
        "blocked": IdTag.objects.create(id_tag="LOST", status=AuthorizationStatus.BLOCKED, note="reported lost"),
    }


def act(admin_client, action, *tags):
    return admin_client.post(url(IdTag), {"action": action, "_selected_action": [t.pk for t in tags]}, follow=True)


def test_it_lists_id_tags_with_their_effective_status(admin_client, tags):
    IdTag.objects.create(id_tag="CHILD", parent=tags["fleet"])

    response = admin_client.get(url(IdTag))

    assert response.status_code == 200
    rows = {tag.id_tag: tag for tag in response.context["cl"].result_list}
    assert set(rows) == {"FLEET", "OLD", "LOST", "CHILD"}
    html = response.content.decode()
    assert '<td class="field-effective_status">Expired</td>' in html
    assert '<td class="field-effective_status">Blocked</td>' in html
    assert '<td class="field-parent nowrap">FLEET</td>' in html


@pytest.mark.parametrize("query, found", [("q=FLE", ["FLEET"]), ("q=lost", ["LOST"]), ("status=Blocked", ["LOST"])])
def test_it_searches_and_filters_id_tags(admin_client, tags, query, found):
    response = admin_client.get(f"{url(IdTag)}?{query}")

    assert [t.id_tag for t in response.context["cl"].result_list] == found


def test_it_blocks_selected_id_tags(admin_client, tags):
    response = act(admin_client, "block", tags["fleet"], tags["old"])

    assert "Blocked 2 id tag(s)." in response.content.decode()
    for name in ("fleet", "old"):
        tags[name].refresh_from_db()
        assert tags[name].status == AuthorizationStatus.BLOCKED


def test_it_expires_selected_id_tags_now(admin_client, tags):
    before = timezone.now()

    act(admin_client, "expire_now", tags["fleet"])

    tags["fleet"].refresh_from_db()
    assert before <= tags["fleet"].expiry_date <= timezone.now()
    assert tags["fleet"].effective_status() == AuthorizationStatus.EXPIRED
    assert tags["fleet"].updated_at >= before


def test_it_accepts_selected_blocked_id_tags(admin_client, tags):
    act(admin_client, "accept", tags["blocked"])

    tags["blocked"].refresh_from_db()
    assert tags["blocked"].status == AuthorizationStatus.ACCEPTED


def test_it_adds_and_edits_id_tags(admin_client, tags):
    added = admin_client.post(
        url(IdTag, "add"), {"id_tag": "NEW-CARD", "status": "Accepted", "parent": tags["fleet"].pk, "note": "Visitor"}
    )
    tag = IdTag.objects.get(id_tag="NEW-CARD")
    edited = admin_client.post(url(IdTag, "change", tag.pk), {"id_tag": "NEW-CARD", "status": "Blocked"})

    assert added.status_code == 302 and edited.status_code == 302
    tag.refresh_from_db()
    assert tag.status == AuthorizationStatus.BLOCKED and tag.parent is None
    old = admin_client.get(url(IdTag, "change", tags["old"].pk))
    assert old.status_code == 200
    assert '<div class="readonly">Expired</div>' in old.content.decode()


def test_it_deletes_id_tags_one_or_many_leaving_their_children_without_a_parent(admin_client, tags):
    child = IdTag.objects.create(id_tag="CHILD", parent=tags["fleet"])

    one = admin_client.post(url(IdTag, "delete", tags["fleet"].pk), {"post": "yes"})
    many = admin_client.post(
        url(IdTag), {"action": "delete_selected", "post": "yes", "_selected_action": [tags["old"].pk, tags["blocked"].pk]}
    )

    assert one.status_code == 302 and many.status_code == 302
    assert list(IdTag.objects.values_list("id_tag", flat=True)) == ["CHILD"]
    child.refresh_from_db()
    assert child.parent is None


def test_it_finds_parent_id_tags_by_autocomplete(admin_client, tags):
    response = admin_client.get(
        reverse("admin:autocomplete"),
        {"app_label": "transactions", "model_name": "idtag", "field_name": "parent", "term": "FLE"},
    )

    assert response.status_code == 200
    assert [r["text"] for r in response.json()["results"]] == ["FLEET"]


# --- transactions


def test_it_lists_transactions_with_duration_energy_and_status(admin_client, completed, active, orphan):
    response = admin_client.get(url(Transaction))

    assert response.status_code == 200
    html = response.content.decode()
    assert '<td class="field-duration">1:23:45</td>' in html
    assert '<td class="field-energy_kwh">12.345</td>' in html  # 13345 - 1000 Wh
    assert '<td class="field-energy_kwh">2.250</td>' in html  # live: latest reading 2750 - 500 Wh
    for status in ("Completed", "Active", "Orphan"):
        assert f'<td class="field-status">{status}</td>' in html
    assert "TAG-DONE" in html and "EVDisconnected" in html


@pytest.mark.parametrize(
    "query, found",
    [
        ("status=active", ["active"]),
        ("status=completed", ["orphan", "completed"]),
        ("is_orphan__exact=1", ["orphan"]),
        ("charge_point__id__exact=CP-2", []),
        ("q=TAG-LIVE", ["active"]),
        ("q=CP-1", ["orphan", "active", "completed"]),
    ],
)
def test_it_filters_and_searches_transactions(admin_client, completed, active, orphan, query, found):
    ChargePoint.objects.create(id="CP-2")
    by_pk = {completed.pk: "completed", active.pk: "active", orphan.pk: "orphan"}

    response = admin_client.get(f"{url(Transaction)}?{query}")

    assert response.status_code == 200
    assert [by_pk[tx.pk] for tx in response.context["cl"].result_list] == found


def test_it_shows_a_transaction_with_its_meter_values(admin_client, completed):
    MeterValue.objects.bulk_create(meter_values(completed, 3))

    response = admin_client.get(url(Transaction, "change", completed.pk))

    assert response.status_code == 200
    html = response.content.decode()
    assert "TAG-DONE" in html and "1:23:45" in html and "12.345" in html
    for value in ("100000", "100001", "100002"):
        assert value in html
    assert f'{url(MeterValue)}?transaction__id__exact={completed.pk}">all 3 meter values</a>' in html


def test_it_pages_the_meter_values_50_at_a_time_newest_first_and_links_to_all(admin_client, completed):
    MeterValue.objects.bulk_create(meter_values(completed, 120))

    first = admin_client.get(url(Transaction, "change", completed.pk))
    last = admin_client.get(url(Transaction, "change", completed.pk), {"meter_page": 3})

    shown = [mv.value for mv in first.context["meter_page"]]
    assert shown == [str(100000 + i) for i in range(119, 69, -1)]  # newest first
    html = first.content.decode()
    assert "100069" not in html and "page 1 of 3" in html and "?meter_page=2#meter-values" in html
    assert [mv.value for mv in last.context["meter_page"]] == [str(100000 + i) for i in range(19, -1, -1)]
    assert f'{url(MeterValue)}?transaction__id__exact={completed.pk}">all 120 meter values</a>' in html


def test_it_keeps_transactions_read_only(admin_client, completed):
    assert admin_client.get(url(Transaction, "add")).status_code == 403
    assert admin_client.post(url(Transaction, "change", completed.pk), {"id_tag": "EDITED"}).status_code == 403
    completed.refresh_from_db()
    assert completed.id_tag == "TAG-DONE"


# --- meter values


def test_it_lists_meter_values_newest_first_with_a_link_to_their_transaction(admin_client, completed):
    MeterValue.objects.bulk_create(meter_values(completed, 3))
    MeterValue.objects.create(
        charge_point_id="CP-1",
        evse_id=0,
        timestamp=START - timedelta(seconds=1),
        value="231.4",
        measurand="Voltage",
        unit="V",
        phase="L1",
    )

    response = admin_client.get(url(MeterValue))

    assert response.status_code == 200
    assert [mv.value for mv in response.context["cl"].result_list] == ["100002", "100001", "100000", "231.4"]
    html = response.content.decode()
    assert f'<a href="{url(Transaction, "change", completed.pk)}">{completed.pk}</a>' in html
    assert "Energy.Active.Import.Register" in html and "Voltage" in html


@pytest.mark.parametrize(
    "query, found",
    [
        ("measurand=Voltage", ["231.4"]),
        ("phase=L1", ["231.4"]),
        ("context=Sample.Periodic", ["231.4", "100000"]),  # same timestamp: newest row first
        ("context=Transaction.End", []),
        ("q=cp-2", ["231.4"]),
        ("transaction__id__exact={tx}", ["100000"]),
    ],
)
def test_it_filters_meter_values(admin_client, completed, query, found):
    ChargePoint.objects.create(id="CP-2")
    MeterValue.objects.bulk_create(meter_values(completed, 1))
    MeterValue.objects.create(
        charge_point_id="CP-2",
        evse_id=0,
        timestamp=START,
        value="231.4",
        measurand="Voltage",
        unit="V",
        phase="L1",
    )

    response = admin_client.get(f"{url(MeterValue)}?{query.format(tx=completed.pk)}")

    assert response.status_code == 200
    assert [mv.value for mv in response.context["cl"].result_list] == found


def test_it_shows_a_meter_value_read_only(admin_client, completed):
    [mv] = MeterValue.objects.bulk_create(meter_values(completed, 1))

    assert admin_client.get(url(MeterValue, "change", mv.pk)).status_code == 200
    assert admin_client.get(url(MeterValue, "add")).status_code == 403


# --- scale


@pytest.fixture
def fleet_with_100k_meter_values(db):
    """10 charge points with 2 connectors, 100 completed transactions, 1,000 meter values each."""
    for c in range(10):
        cp_id = f"CP-{c}"
        ChargePoint.objects.create(id=cp_id)
        for connector_id, status in ((1, "Charging"), (2, "Available")):
            cp_services.status_notification_create(charge_point_id=cp_id, connector_id=connector_id, status=status, error_code="NoError")
    txs = Transaction.objects.bulk_create(
        Transaction(
            charge_point_id=f"CP-{n % 10}",
            connector_id=1,
            id_tag=f"TAG-{n}",
            start_timestamp=START + timedelta(hours=n),
            meter_start_wh=0,
            stop_timestamp=START + timedelta(hours=n, minutes=50),
            meter_stop_wh=20000,
        )
        for n in range(100)
    )
    for tx in txs:
        rows = meter_values(tx, 1000, start=tx.start_timestamp, every=timedelta(seconds=3))
        MeterValue.objects.bulk_create(rows, batch_size=1000)
    assert MeterValue.objects.count() == 100_000
    return txs


def test_changelists_run_a_bounded_number_of_queries_with_100k_meter_values(
    admin_client, fleet_with_100k_meter_values, django_assert_max_num_queries
):
    tx = fleet_with_100k_meter_values[-1]
    # Measured: 4, 4, 5, 7 and 11 queries, two of which load the session and the user. The
    # transaction page reads its latest power, energy and SoC readings (three small
    # index reads) and counts and reads one page of its meter values.
    pages = [
        (url(MeterValue), 5),
        (f"{url(MeterValue)}?transaction__id__exact={tx.pk}&measurand=Energy.Active.Import.Register", 5),
        (url(Transaction), 6),
        (url(ChargePoint), 8),
        (url(Transaction, "change", tx.pk), 12),
    ]
    admin_client.get(url(ChargePoint))  # warm up: the first request loads the session and content types

    for page, max_queries in pages:
        with django_assert_max_num_queries(max_queries):
            response = admin_client.get(page)
        assert response.status_code == 200, page

    html = admin_client.get(url(MeterValue)).content.decode()
    assert html.count('<tr><td class="action-checkbox">') == 100
