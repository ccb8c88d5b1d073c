"""The energy and sessions report: per day, charge point and id tag, as a table, a chart and CSV."""

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from chargepoints.models import ChargePoint
from tests.users import user_with_role
from transactions.models import Transaction

pytestmark = pytest.mark.django_db

REPORT = "admin:transactions_transaction_report"
RANGE = {"date_from": "2025-03-01", "date_to": "2025-03-03"}


def session(cp, id_tag, start, energy_wh, *, running=False, meter_start_wh=1000):
    fields = {"stop_timestamp": start + timedelta(hours=1), "meter_stop_wh": meter_start_wh + energy_wh}
    if running:
        fields = {"last_meter_wh": meter_start_wh + energy_wh}
    return Transaction.objects.create(
        charge_point_id=cp, connector_id=1, id_tag=id_tag, start_timestamp=start, meter_start_wh=meter_start_wh, **fields
    )


@pytest.fixture
def sessions(db):
    """Five sessions in range on two charge points and three id tags, plus ones outside it and an orphan."""
    ChargePoint.objects.create(id="CP-A")
    ChargePoint.objects.create(id="CP-B")
    day1 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
    day3 = datetime(2025, 3, 3, 23, 30, tzinfo=UTC)
    session("CP-A", "ALICE", day1, 10_000)
    session("CP-A", "BOB", day1 + timedelta(hours=4), 5_500)
    session("CP-B", "ALICE", day1 + timedelta(hours=10), 2_250)
    session("CP-B", "CAROL", day3, 7_000)
    session("CP-A", "CAROL", day3 - timedelta(hours=1), 1_000, running=True)  # counts with its energy so far
    session("CP-A", "ALICE", datetime(2025, 2, 28, 23, 59, tzinfo=UTC), 99_000)  # the day before
    session("CP-B", "BOB", datetime(2025, 3, 4, 0, 0, tzinfo=UTC), 99_000)  # the day after
    Transaction.objects.create(charge_point_id="CP-A", is_orphan=True, orphan_transaction_id=5, stop_timestamp=day1, meter_stop_wh=7)


def table(response) -> list[tuple[str, int, str]]:
    return [(str(row.key), row.sessions, str(row.energy_kwh)) for row in response.context["rows"]]


def test_it_sums_sessions_and_energy_per_day_with_empty_days_listed(admin_client, sessions, django_assert_max_num_queries):
    with django_assert_max_num_queries(4):  # session, user, the GROUP BY (+ a savepoint on some backends)
        response = admin_client.get(reverse(REPORT), {**RANGE, "by": "day"})

    assert response.status_code == 200
    assert table(response) == [("2025-03-01", 3, "17.750"), ("2025-03-02", 0, "0.000"), ("2025-03-03", 2, "8.000")]
    html = response.content.decode()
    assert '<th class="num" id="total-sessions">5</th>' in html and '<th class="num" id="total-kwh">25.750</th>' in html


def test_it_sums_per_charge_point(admin_client, sessions):
    response = admin_client.get(reverse(REPORT), {**RANGE, "by": "charge_point"})

    assert table(response) == [("CP-A", 3, "16.500"), ("CP-B", 2, "9.250")]


def test_it_sums_per_id_tag(admin_client, sessions):
    response = admin_client.get(reverse(REPORT), {**RANGE, "by": "id_tag"})

    assert table(response) == [("ALICE", 2, "12.250"), ("BOB", 1, "5.500"), ("CAROL", 2, "8.000")]


def test_the_chart_gets_the_same_figures_as_the_table(admin_client, sessions):
    html = admin_client.get(reverse(REPORT), {**RANGE, "by": "charge_point"}).content.decode()

    data = json.loads(html.split('<script id="report-data" type="application/json">')[1].split("</script>")[0])
    assert data == {"labels": ["CP-A", "CP-B"], "energy_kwh": [16.5, 9.25], "sessions": [3, 2]}
    assert "/static/vendor/chart.js/chart.umd.min.js" in html


def test_the_csv_is_the_same_table(admin_client, sessions):
    response = admin_client.get(reverse(REPORT), {**RANGE, "by": "id_tag", "format": "csv"})

    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="energy-by-id-tag-2025-03-01-2025-03-03.csv"'
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows == [["id_tag", "sessions", "energy_kwh"], ["ALICE", "2", "12.250"], ["BOB", "1", "5.500"], ["CAROL", "2", "8.000"]]


def test_the_page_links_its_groupings_and_csv_for_the_same_range(admin_client, sessions):
    html = admin_client.get(reverse(REPORT), {**RANGE, "by": "day"}).content.decode()

    assert 'href="?date_from=2025-03-01&amp;date_to=2025-03-03&amp;by=charge_point"' in html
    assert 'href="?date_from=2025-03-01&amp;date_to=2025-03-03&amp;by=day&amp;format=csv"' in html


def test_the_default_range_is_the_last_30_days(admin_client, db):
    ChargePoint.objects.create(id="CP-A")
    today = timezone.localdate()
    session("CP-A", "NEW", timezone.now() - timedelta(minutes=1), 3_000)
    session("CP-A", "OLD", timezone.now() - timedelta(days=31), 3_000)

    response = admin_client.get(reverse(REPORT))

    rows = response.context["rows"]
    assert [rows[0].key, rows[-1].key, len(rows)] == [today - timedelta(days=29), today, 30]
    assert sum(r.sessions for r in rows) == 1


def test_a_reversed_range_is_an_error_not_a_report(admin_client, sessions):
    response = admin_client.get(reverse(REPORT), {"date_from": "2025-03-03", "date_to": "2025-03-01"})

    assert response.status_code == 200
    assert "The range ends before it starts." in response.content.decode()
    assert response.context["rows"] == []


def test_it_is_linked_from_the_transaction_list_and_the_admin_index(admin_client):
    listing = admin_client.get(reverse("admin:transactions_transaction_changelist")).content.decode()
    index = admin_client.get(reverse("admin:index")).content.decode()

    assert f'href="{reverse(REPORT)}"' in listing and f'href="{reverse(REPORT)}"' in index


def test_it_needs_the_permission_to_view_transactions(client, sessions):
    nobody = get_user_model().objects.create_user("staff", is_staff=True)
    client.force_login(nobody)
    refused = client.get(reverse(REPORT), RANGE)
    refused_csv = client.get(reverse(REPORT), {**RANGE, "format": "csv"})
    index = client.get(reverse("admin:index")).content.decode()
    client.force_login(user_with_role("viewer", role="viewer"))
    allowed = client.get(reverse(REPORT), RANGE)

    assert [refused.status_code, refused_csv.status_code, allowed.status_code] == [403, 403, 200]
    assert reverse(REPORT) not in index


def test_days_follow_the_admins_time_zone(admin_client, settings, db):
    settings.TIME_ZONE = "Europe/Berlin"
    ChargePoint.objects.create(id="CP-A")
    # 23:30 UTC on 1 March is 00:30 on 2 March in Berlin.
    session("CP-A", "LATE", datetime(2025, 3, 1, 23, 30, tzinfo=UTC), 4_000)

    response = admin_client.get(reverse(REPORT), {"date_from": "2025-03-01", "date_to": "2025-03-02", "by": "day"})

    assert table(response) == [("2025-03-01", 0, "0.000"), ("2025-03-02", 1, "4.000")]
    assert response.context["rows"][0].key == date(2025, 3, 1)


def test_the_form_shows_the_range_it_reports_when_only_a_grouping_is_asked(admin_client, db):
    today = timezone.localdate()

    html = admin_client.get(reverse(REPORT), {"by": "id_tag"}).content.decode()

    assert f'name="date_from" value="{today - timedelta(days=29)}"' in html and f'name="date_to" value="{today}"' in html
