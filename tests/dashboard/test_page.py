"""The dashboard page at `/`: who sees it, its counts, badges, filters, sorting and paging."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from chargepoints.models import ChargePoint
from tests.dashboard.fleet import charge_point
from tests.users import user_with_role
from transactions.models import Transaction

pytestmark = pytest.mark.django_db


@pytest.fixture
def viewer_client(client):
    client.force_login(user_with_role("viewer-1", "viewer"))
    return client


@pytest.fixture
def fleet():
    """Six charge points, one in each state the counts tell apart."""
    charge_point("CP-AVAILABLE", statuses={(1, 1): "Available"}, vendor="Acme", serial_number="SN-111")
    charge_point("CP-CHARGING", statuses={(1, 1): "Charging", (2, 2): "Available"}, vendor="Acme")
    charge_point(
        "CP-OCCUPIED-201", version="2.0.1", statuses={(1, 1): "Occupied", (1, 2): "Available"}, open_transaction_on=1, vendor="Volt"
    )
    charge_point("CP-FAULTED", statuses={(0, 0): "Available", (1, 1): "Faulted"}, vendor="Volt", model="DC50")
    charge_point("CP-OFFLINE", online=False, statuses={(1, 1): "Available"}, vendor="Acme")
    charge_point("CP-UNAVAILABLE", statuses={(1, 1): "Unavailable"}, vendor="Acme")


def counts(html: str) -> dict[str, str]:
    return dict(re.findall(r'data-count="([a-z_]+)">([^<]*)<', html))


def row_ids(html: str) -> list[str]:
    return re.findall(r'<tr class="[a-z]+" data-charge-point="([^"]+)"', html)


def row(html: str, charge_point_id: str) -> str:
    match = re.search(rf'<tr [^>]*data-charge-point="{re.escape(charge_point_id)}">.*?</tr>', html, re.S)
    assert match, f"no row for {charge_point_id}"
    return match[0]


def test_an_anonymous_visitor_is_sent_to_the_admin_login_and_back(client):
    response = client.get("/?state=faulted")
    assert response.status_code == 302
    assert response["Location"] == "/admin/login/?next=/%3Fstate%3Dfaulted"


def test_a_user_without_staff_status_gets_403(client):
    client.force_login(get_user_model().objects.create_user("customer"))
    assert client.get("/").status_code == 403


def test_staff_who_may_not_view_charge_points_get_403(client):
    client.force_login(get_user_model().objects.create_user("clerk", is_staff=True))
    assert client.get("/").status_code == 403


def test_the_admin_view_site_link_leads_to_the_dashboard(viewer_client):
    assert '<a href="/">View site</a>' in viewer_client.get("/admin/").content.decode()


def test_staff_see_counts_that_match_the_database(viewer_client, fleet):
    html = viewer_client.get("/").content.decode()
    assert counts(html) == {
        "online": "5",
        "offline": "1",
        "charging": "2",  # a Charging connector (1.6), an open transaction (2.0.1 Occupied)
        "faulted": "1",
        "unavailable": "1",
        "energy_today_kwh": "0.000",
        "total": "6",
    }
    assert row_ids(html) == ["CP-AVAILABLE", "CP-CHARGING", "CP-FAULTED", "CP-OCCUPIED-201", "CP-OFFLINE", "CP-UNAVAILABLE"]


def test_each_count_is_the_number_of_rows_its_filter_shows(viewer_client, fleet):
    shown = counts(viewer_client.get("/").content.decode())
    for state in ("online", "offline", "charging", "faulted", "unavailable"):
        assert len(row_ids(viewer_client.get(f"/?state={state}").content.decode())) == int(shown[state]), state


def test_a_faulted_connector_shows_a_red_badge(viewer_client, fleet):
    faulted = row(viewer_client.get("/").content.decode(), "CP-FAULTED")
    assert re.search(r'class="badge badge-faulted"[^>]*><span class="badge-label">Connector 1</span> Faulted</span>', faulted)
    assert '<span class="badge-label">Charge point</span> Available' in faulted


def test_a_2_0_1_connector_is_named_by_its_evse_and_connector(viewer_client, fleet):
    occupied = row(viewer_client.get("/").content.decode(), "CP-OCCUPIED-201")
    assert '<span class="badge-label">EVSE 1 · connector 2</span> Available' in occupied
    assert "badge-charging" in occupied and "pill-charging" in occupied
    assert "2.0.1" in occupied


def test_the_statuses_of_an_offline_charge_point_are_shown_stale(viewer_client, fleet):
    html = viewer_client.get("/").content.decode()
    offline = row(html, "CP-OFFLINE")
    assert "Available (stale)" in offline and "badge-available stale" in offline and "pill-offline" in offline
    assert "(stale)" not in row(html, "CP-AVAILABLE")


def test_a_charge_point_whose_process_lease_expired_is_offline_and_stale(viewer_client, fleet):
    from chargepoints.models import ServerProcess

    dead = ServerProcess.objects.create(id="dead", renewed_at=timezone.now() - timedelta(hours=1))
    ChargePoint.objects.filter(pk="CP-AVAILABLE").update(server_process=dead)
    html = viewer_client.get("/").content.decode()
    assert "Available (stale)" in row(html, "CP-AVAILABLE")
    assert counts(html)["offline"] == "2"


@pytest.mark.parametrize(
    "query, expected",
    [
        ("state=faulted", ["CP-FAULTED"]),
        ("state=offline", ["CP-OFFLINE"]),
        ("state=online", ["CP-AVAILABLE", "CP-CHARGING", "CP-FAULTED", "CP-OCCUPIED-201", "CP-UNAVAILABLE"]),
        ("state=charging", ["CP-CHARGING", "CP-OCCUPIED-201"]),
        ("state=unavailable", ["CP-UNAVAILABLE"]),
        ("version=2.0.1", ["CP-OCCUPIED-201"]),
        ("q=volt", ["CP-FAULTED", "CP-OCCUPIED-201"]),
        ("q=dc50", ["CP-FAULTED"]),
        ("q=SN-111", ["CP-AVAILABLE"]),
        ("q=offline", ["CP-OFFLINE"]),
        ("state=online&version=1.6&q=acme", ["CP-AVAILABLE", "CP-CHARGING", "CP-UNAVAILABLE"]),
        ("state=nonsense", ["CP-AVAILABLE", "CP-CHARGING", "CP-FAULTED", "CP-OCCUPIED-201", "CP-OFFLINE", "CP-UNAVAILABLE"]),
    ],
)
def test_filters_show_only_the_matching_charge_points(viewer_client, fleet, query, expected):
    assert row_ids(viewer_client.get(f"/?{query}").content.decode()) == expected


def test_sorting_by_status_puts_what_needs_an_operator_first(viewer_client, fleet):
    ids = row_ids(viewer_client.get("/?sort=status").content.decode())
    assert ids == ["CP-FAULTED", "CP-OFFLINE", "CP-UNAVAILABLE", "CP-CHARGING", "CP-OCCUPIED-201", "CP-AVAILABLE"]
    assert row_ids(viewer_client.get("/?sort=-status").content.decode()) == [
        "CP-AVAILABLE",
        "CP-CHARGING",
        "CP-OCCUPIED-201",
        "CP-UNAVAILABLE",
        "CP-OFFLINE",
        "CP-FAULTED",
    ]


def test_sorting_by_identity_and_by_last_seen(viewer_client):
    now = timezone.now()
    charge_point("CP-B", last_seen=now - timedelta(seconds=30))
    charge_point("CP-A", last_seen=now - timedelta(seconds=10))
    charge_point("CP-C", last_seen=now - timedelta(seconds=20))
    ChargePoint.objects.create(id="CP-NEVER")
    assert row_ids(viewer_client.get("/?sort=-id").content.decode()) == ["CP-NEVER", "CP-C", "CP-B", "CP-A"]
    assert row_ids(viewer_client.get("/?sort=-last_seen").content.decode()) == ["CP-A", "CP-C", "CP-B", "CP-NEVER"]
    assert row_ids(viewer_client.get("/?sort=last_seen").content.decode()) == ["CP-B", "CP-C", "CP-A", "CP-NEVER"]


def test_pages_hold_50_charge_points_and_their_links_keep_the_filters(viewer_client):
    from tests.dashboard.fleet import many_charge_points

    many_charge_points(120)
    html = viewer_client.get("/?version=1.6&page=2").content.decode()
    assert len(row_ids(html)) == 30  # 80 of the 120 speak 1.6
    assert "Page 2 of 2." in html
    assert 'href="?version=1.6&amp;page=1"' in html
    assert len(row_ids(viewer_client.get("/").content.decode())) == 50


def test_energy_today_counts_the_sessions_started_today(viewer_client, fleet):
    now = timezone.now()
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    cp = ChargePoint.objects.get(pk="CP-CHARGING")

    def session(start, meter_start, meter_stop=None, last_meter=None, **kwargs):
        Transaction.objects.create(
            charge_point=cp,
            connector_id=1,
            start_timestamp=start,
            meter_start_wh=meter_start,
            meter_stop_wh=meter_stop,
            stop_timestamp=start + timedelta(minutes=1) if meter_stop is not None else None,
            last_meter_wh=last_meter,
            **kwargs,
        )

    session(midnight + timedelta(seconds=1), 1_000, meter_stop=13_345)  # 12.345 kWh, ended
    session(midnight + timedelta(seconds=2), 50_000, last_meter=50_500)  # 0.5 kWh so far, running
    session(midnight - timedelta(minutes=5), 0, meter_stop=99_000)  # started yesterday: not today's
    session(midnight + timedelta(seconds=3), 9_000, meter_stop=100)  # meter reset: counts nothing
    session(midnight + timedelta(seconds=4), 0, meter_stop=7_000, is_orphan=True)  # orphan stop: not a session of ours
    assert counts(viewer_client.get("/").content.decode())["energy_today_kwh"] == "12.845"


def _queries_for_page(client, path: str) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        assert client.get(path).status_code == 200
    return len(queries)


@pytest.mark.parametrize("path", ["/", "/?state=charging&sort=status", "/?sort=-last_seen&q=Acme&page=2"])
def test_the_page_costs_the_same_queries_for_10_and_200_charge_points(viewer_client, path):
    from tests.dashboard.fleet import many_charge_points

    many_charge_points(10, prefix="A-")
    small = _queries_for_page(viewer_client, path)
    many_charge_points(190, prefix="B-")
    assert _queries_for_page(viewer_client, path) == small


def test_a_row_links_to_the_admin_page_of_its_charge_point_whatever_its_identity(viewer_client):
    charge_point("CP:1|a@b*=+", statuses={(1, 1): "Available"})
    html = viewer_client.get("/").content.decode()
    link = re.search(r'<td class="cp-id"><a href="([^"]+)">CP:1\|a@b\*=\+</a>', row(html, "CP:1|a@b*=+"))[1]
    response = viewer_client.get(link)
    assert response.status_code == 200 and response.context["original"].pk == "CP:1|a@b*=+"


@pytest.mark.parametrize(
    "status, colour",
    [
        ("Available", "available"),
        ("Charging", "charging"),
        ("Occupied", "charging"),
        ("Unavailable", "unavailable"),
        ("Preparing", "other"),
        ("Reserved", "other"),
        ("", "unknown"),
    ],
)
def test_each_status_has_the_colour_the_admin_gives_it(viewer_client, status, colour):
    charge_point("CP-1", statuses={(1, 1): status})
    assert f'class="badge badge-{colour}"' in row(viewer_client.get("/").content.decode(), "CP-1")
