"""The charge point list as an operator scans it: status badges, stale statuses, the current-status filter, search;
and the charge point page's Commands box at the top."""

import re
from pathlib import Path

import pytest
from django.urls import reverse

from chargepoints import services
from chargepoints.models import ChargePoint, Connector
from tests.users import user_with_role

pytestmark = pytest.mark.django_db

LIST = "admin:chargepoints_chargepoint_changelist"


def connect(charge_point_id: str, version: str = "1.6"):
    services.charge_point_connect(
        charge_point_id=charge_point_id, session_id=f"s-{charge_point_id}", ocpp_version=version, allow_unknown=False
    )


def status(charge_point_id: str, connector_id: int, value: str, error_code: str = "NoError"):
    services.status_notification_create(charge_point_id=charge_point_id, connector_id=connector_id, status=value, error_code=error_code)


def row_of(html: str, charge_point_id: str) -> str:
    """The list's table row of `charge_point_id`."""
    (row,) = [row for row in html.split("<tr")[1:] if f">{charge_point_id}</a>" in row]
    return row


def badges(html: str, charge_point_id: str) -> list[tuple[str, str]]:
    """[(kind, text) …] of the connector badges in `charge_point_id`'s row."""
    return re.findall(r'class="cp-status cp-status-(\w+)"(?: title="[^"]*")?>([^<]+)</span>', row_of(html, charge_point_id))


@pytest.fixture
def fleet(db):
    for cp in ("CP-OK", "CP-FAULT", "CP-RECOVERED"):
        ChargePoint.objects.create(id=cp)
        connect(cp)
    status("CP-OK", 1, "Available")
    status("CP-OK", 2, "Charging")
    status("CP-OK", 3, "Unavailable")
    status("CP-OK", 4, "SuspendedEV")
    status("CP-FAULT", 1, "Faulted", error_code="GroundFailure")
    status("CP-RECOVERED", 1, "Faulted", error_code="GroundFailure")
    status("CP-RECOVERED", 1, "Available")


def test_connectors_are_coloured_badges_by_status(admin_client, fleet):
    html = admin_client.get(reverse(LIST)).content.decode()

    assert badges(html, "CP-OK") == [
        ("available", "1: Available"),
        ("busy", "2: Charging"),
        ("unavailable", "3: Unavailable"),
        ("other", "4: SuspendedEV"),
    ]
    assert badges(html, "CP-FAULT") == [("faulted", "1: Faulted")]
    assert 'title="GroundFailure"' in html


def test_the_badges_use_the_admins_colour_variables_so_dark_mode_works(admin_client, fleet):
    html = admin_client.get(reverse(LIST)).content.decode()
    sheet = (Path(__file__).resolve().parents[2] / "chargepoints/static/chargepoints/status_badges.css").read_text()
    style = sheet.split(".cp-status-faulted", 1)[1].split("}", 1)[0]

    assert "/static/chargepoints/status_badges.css" in html
    assert "var(--message-error-bg)" in style and "#" not in style


def test_the_connectors_column_comes_right_after_online(admin_client, fleet):
    html = admin_client.get(reverse(LIST)).content.decode()

    columns = re.findall(r'<th scope="col" class="(?:sortable )?column-(\w+)', html)
    assert columns[:3] == ["id", "online", "connector_statuses"]


def test_an_offline_charge_points_statuses_are_shown_stale(admin_client, fleet):
    ChargePoint.objects.create(id="CP-GONE")
    status("CP-GONE", 1, "Available")

    html = admin_client.get(reverse(LIST)).content.decode()

    gone, ok = row_of(html, "CP-GONE"), row_of(html, "CP-OK")
    assert 'class="cp-connectors cp-stale"' in gone and ">stale</span>" in gone
    assert "cp-stale" not in ok


@pytest.mark.parametrize(
    ("value", "listed"),
    [
        ("Faulted", ["CP-FAULT"]),
        ("Unavailable", ["CP-OK"]),
        ("Charging", ["CP-OK"]),
    ],
)
def test_the_connector_status_now_filter_reads_the_current_state_not_the_history(admin_client, fleet, value, listed):
    response = admin_client.get(reverse(LIST), {"connector_status_now": value})

    assert sorted(cp.pk for cp in response.context["cl"].result_list) == listed


def test_a_charge_point_whose_connector_was_faulted_and_is_available_now_is_not_faulted(admin_client, fleet):
    response = admin_client.get(reverse(LIST), {"connector_status_now": "Faulted"})

    assert "CP-RECOVERED" not in [cp.pk for cp in response.context["cl"].result_list]
    assert "has a Faulted connector" in response.content.decode()


def test_a_2_0_1_stations_occupied_connector_counts_as_charging(admin_client, db):
    station = ChargePoint.objects.create(id="CS-1", ocpp_version="2.0.1")
    Connector.objects.create(charge_point=station, evse_id=1, connector_id=1, status="Occupied")

    response = admin_client.get(reverse(LIST), {"connector_status_now": "Charging"})

    assert [cp.pk for cp in response.context["cl"].result_list] == ["CS-1"]
    assert badges(response.content.decode(), "CS-1") == [("busy", "EVSE 1 · connector 1: Occupied")]


def test_searching_a_status_finds_the_charge_points_with_a_connector_in_it_now(admin_client, fleet):
    response = admin_client.get(reverse(LIST), {"q": "Faulted"})

    assert [cp.pk for cp in response.context["cl"].result_list] == ["CP-FAULT"]


# --- the charge point page's Commands box


def test_the_commands_box_sits_above_the_fields_and_the_save_buttons(client, fleet):
    client.force_login(user_with_role("operator"))

    html = client.get(reverse("admin:chargepoints_chargepoint_change", args=["CP-OK"])).content.decode()

    commands_at = html.index('id="commands"')
    assert commands_at < html.index("<fieldset") < html.index('class="submit-row"')
    assert commands_at < html.index('id="chargepoint_form"'), "outside the change form"


def test_the_link_to_all_commands_is_not_blue_on_blue(admin_client, fleet):
    html = admin_client.get(reverse("admin:chargepoints_chargepoint_change", args=["CP-OK"])).content.decode()
    box = html[html.index('id="commands"') :]
    caption = re.search(r"<caption>(.*?)</caption>", box, re.S)[1]

    assert "<a " not in caption, "a link in the header-blue caption"
    assert 'id="command-log-link"' in box
    assert "#commands caption a:link, #commands caption a:visited { color: var(--header-link-color)" in html
