"""The transaction page: its figures, its live chart's series, and the Stop button."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.messages import get_messages
from django.contrib.staticfiles import finders
from django.urls import reverse
from django.utils import timezone

from chargepoints import commands
from chargepoints.models import ChargePoint, CommandSource
from tests.test_permissions import every_permission_but_send_command
from tests.users import user_with_role
from transactions.models import MeterValue, Transaction

pytestmark = pytest.mark.django_db


def page_url(tx):
    return reverse("admin:transactions_transaction_change", args=[tx.pk])


def series_url(tx):
    return reverse("admin:transactions_transaction_meter_series", args=[tx.pk])


def stop_url(tx):
    return reverse("admin:transactions_transaction_stop", args=[tx.pk])


def reading(tx, at, measurand, value, unit, phase=""):
    return MeterValue(
        charge_point_id=tx.charge_point_id,
        transaction=tx,
        evse_id=tx.connector_id or 1,
        timestamp=at,
        measurand=measurand,
        value=str(value),
        unit=unit,
        phase=phase,
    )


def figure(html: str, key: str) -> str:
    """The text of the summary figure `key` on the page."""
    match = re.search(rf'data-figure="{key}">([^<]*)</dd>', html)
    assert match, f"no figure {key} on the page"
    return match[1]


@pytest.fixture
def running(charge_point):
    """A running session: meter start 10,000 Wh; three samples 10 s apart of energy, power and SoC."""
    start = timezone.now() - timedelta(minutes=2)
    tx = Transaction.objects.create(
        charge_point=charge_point,
        connector_id=1,
        id_tag="TAG-LIVE",
        start_timestamp=start,
        meter_start_wh=10_000,
        last_meter_wh=10_060,
        last_meter_at=start + timedelta(seconds=20),
    )
    rows = []
    for i, (energy_wh, power_w, soc) in enumerate(((10_000, 7000, 40), (10_020, 7100, 41), (10_060, 7200, 43))):
        at = start + timedelta(seconds=10 * i)
        rows += [
            reading(tx, at, "Energy.Active.Import.Register", energy_wh, "Wh"),
            reading(tx, at, "Power.Active.Import", power_w, "W"),
            reading(tx, at, "SoC", soc, "Percent"),
        ]
    MeterValue.objects.bulk_create(rows)
    return tx


@pytest.fixture
def ended(charge_point):
    start = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)
    tx = Transaction.objects.create(
        charge_point=charge_point,
        connector_id=1,
        id_tag="TAG-DONE",
        start_timestamp=start,
        meter_start_wh=0,
        stop_timestamp=start + timedelta(hours=1),
        meter_stop_wh=11_000,
    )
    MeterValue.objects.bulk_create([reading(tx, start + timedelta(minutes=30), "Energy.Active.Import.Register", "5.5", "kWh")])
    return tx


# --- the summary


def test_the_page_shows_the_figures_its_meter_values_give(admin_client, running):
    html = admin_client.get(page_url(running)).content.decode()

    assert figure(html, "charge_point") == "CP-1"
    assert figure(html, "evse") == "connector 1"
    assert figure(html, "id_tag") == "TAG-LIVE"
    assert figure(html, "stop") == "running"
    assert figure(html, "energy_kwh") == "0.060 kWh"
    assert figure(html, "power_kw") == "7.200 kW"  # the latest Power.Active.Import
    assert figure(html, "soc_pct") == "43 %"


def test_without_power_samples_the_power_comes_from_the_last_two_energy_readings(admin_client, running):
    MeterValue.objects.filter(measurand="Power.Active.Import").delete()

    html = admin_client.get(page_url(running)).content.decode()

    # 40 Wh in 10 s is 14.4 kW.
    assert figure(html, "power_kw") == "14.400 kW (from energy readings)"


def test_per_phase_power_is_summed_when_no_total_is_sent(admin_client, running):
    MeterValue.objects.filter(measurand="Power.Active.Import").delete()
    at = running.start_timestamp + timedelta(seconds=30)
    MeterValue.objects.bulk_create([reading(running, at, "Power.Active.Import", "3.68", "kW", phase=p) for p in ("L1", "L2", "L3")])

    html = admin_client.get(page_url(running)).content.decode()

    assert figure(html, "power_kw") == "11.040 kW"


def test_an_ended_transaction_shows_its_stop_and_energy_and_no_soc(admin_client, ended):
    html = admin_client.get(page_url(ended)).content.decode()

    assert figure(html, "stop") == timezone.localtime(ended.stop_timestamp).strftime("%Y-%m-%d %H:%M:%S")
    assert figure(html, "duration") == "1:00:00"
    assert figure(html, "energy_kwh") == "11.000 kWh"
    assert figure(html, "soc_pct") == "—"


def test_a_2_0_1_transaction_names_its_evse_and_connector(admin_client, charge_point):
    tx = Transaction.objects.create(
        charge_point=charge_point, station_transaction_id="tx-1", evse_id=2, connector_id=1, start_timestamp=timezone.now()
    )

    assert figure(admin_client.get(page_url(tx)).content.decode(), "evse") == "EVSE 2 · connector 1"


# --- the chart


def test_the_chart_library_is_served_from_our_static_files(admin_client, running):
    html = admin_client.get(page_url(running)).content.decode()

    assert '<canvas id="meter-chart-canvas"' in html
    assert "/static/vendor/chart.js/chart.umd.min.js" in html
    sources = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', html)
    assert sources and all(src.startswith("/") and not src.startswith("//") for src in sources)
    assert finders.find("vendor/chart.js/chart.umd.min.js") and finders.find("vendor/chart.js/LICENSE.md")
    assert finders.find("transactions/meter_chart.js")


def test_the_series_gives_power_energy_and_soc_over_time(admin_client, running):
    body = admin_client.get(series_url(running)).json()

    assert body["state"] == "running"
    assert [(p["power_kw"], p["energy_kwh"], p["soc_pct"]) for p in body["points"]] == [
        (7.0, 0.0, 40.0),
        (7.1, 0.02, 41.0),
        (7.2, 0.06, 43.0),
    ]
    assert body["figures"] == {"energy_kwh": 0.06, "power_kw": 7.2, "soc_pct": 43.0}
    first = running.start_timestamp.astimezone(UTC)
    assert body["points"][0]["ms"] == int(first.timestamp() * 1000)


def test_the_series_gives_only_the_points_after_since(admin_client, running):
    first = admin_client.get(series_url(running)).json()["points"]

    later = admin_client.get(series_url(running), {"since": first[1]["t"]}).json()["points"]
    none = admin_client.get(series_url(running), {"since": first[2]["t"]}).json()["points"]

    assert [p["t"] for p in later] == [first[2]["t"]]
    assert none == []


def test_a_poll_without_power_samples_derives_its_first_point_from_the_reading_before(admin_client, running):
    MeterValue.objects.filter(measurand="Power.Active.Import").delete()
    first = admin_client.get(series_url(running)).json()

    later = admin_client.get(series_url(running), {"since": first["points"][1]["t"]}).json()

    assert [p["power_kw"] for p in first["points"]] == [None, 7.2, 14.4]
    assert first["power_derived"] is True
    assert [p["power_kw"] for p in later["points"]] == [14.4]


def test_the_series_refuses_a_since_that_is_no_timestamp(admin_client, running):
    response = admin_client.get(series_url(running), {"since": "yesterday"})

    assert response.status_code == 400


def test_a_running_transaction_page_polls_and_an_ended_one_does_not(admin_client, running, ended):
    live = admin_client.get(page_url(running)).content.decode()
    done = admin_client.get(page_url(ended)).content.decode()

    assert f'data-series-url="{series_url(running)}" data-state="running"' in live
    assert 'data-state="ended"' in done and 'data-state="running"' not in done
    assert admin_client.get(series_url(ended)).json()["state"] == "ended"


def test_the_series_tells_the_page_when_the_transaction_ended_meanwhile(admin_client, running):
    assert admin_client.get(series_url(running)).json()["state"] == "running"
    Transaction.objects.filter(pk=running.pk).update(stop_timestamp=timezone.now(), meter_stop_wh=10_060)

    assert admin_client.get(series_url(running)).json()["state"] == "ended"


def test_the_series_needs_the_permission_to_view_transactions(client, running):
    nobody = get_user_model().objects.create_user("staff-without-permissions", is_staff=True)
    client.force_login(nobody)

    assert client.get(series_url(running)).status_code == 403
    client.force_login(user_with_role("viewer", role="viewer"))
    assert client.get(series_url(running)).status_code == 200


# --- the Stop button


@pytest.fixture
def charge_point_answers(monkeypatch):
    """A fake charge point: records [(charge point, action, payload, user)] and accepts every stop."""
    calls = []

    def call(charge_point_id, action, payload, **kwargs):
        calls.append((charge_point_id, action, payload, kwargs.get("user")))
        assert kwargs.get("source") == CommandSource.ADMIN
        return commands.CommandResult(command_id=None, action=action, response={"status": "Accepted"}, round_trip_ms=12)

    monkeypatch.setattr(commands, "call", call)
    return calls


def test_an_operator_sees_the_stop_button_and_stops_the_transaction(client, running, charge_point_answers):
    operator = user_with_role("operator")
    client.force_login(operator)

    page = client.get(page_url(running)).content.decode()
    response = client.post(stop_url(running))

    assert f'action="{stop_url(running)}"' in page and 'id="stop-transaction"' in page
    assert response.status_code == 302 and response["Location"] == page_url(running)
    assert charge_point_answers == [("CP-1", "RemoteStopTransaction", {"transactionId": running.pk}, operator)]
    assert [str(m) for m in get_messages(response.wsgi_request)] == ["CP-1 answered RemoteStopTransaction: Accepted."]


def test_a_2_0_1_station_is_asked_with_its_own_transaction_id(client, charge_point_answers):
    ChargePoint.objects.create(id="CS-1", ocpp_version="2.0.1")
    tx = Transaction.objects.create(charge_point_id="CS-1", station_transaction_id="tx-9", evse_id=1, start_timestamp=timezone.now())
    client.force_login(user_with_role("operator"))

    client.post(stop_url(tx))

    assert [(cp, action, payload) for cp, action, payload, _ in charge_point_answers] == [
        ("CS-1", "RequestStopTransaction", {"transactionId": "tx-9"})
    ]


def test_an_offline_charge_point_is_reported_as_an_error_message(client, running, monkeypatch):
    def offline(charge_point_id, action, payload, **kwargs):
        raise commands.ChargePointOffline(f"Charge point {charge_point_id!r} is not connected")

    monkeypatch.setattr(commands, "call", offline)
    client.force_login(user_with_role("operator"))

    response = client.post(stop_url(running))

    (message,) = get_messages(response.wsgi_request)
    assert message.level_tag == "error"
    assert str(message) == "Stop charging to CP-1 failed: Charge point 'CP-1' is not connected"


@pytest.mark.parametrize("kind", ["viewer", "editor"])
def test_who_may_not_send_commands_sees_no_stop_button_and_cannot_post_it(client, running, charge_point_answers, kind):
    if kind == "viewer":
        user = user_with_role("viewer", role="viewer")
    else:
        user = get_user_model().objects.create_user("editor", is_staff=True)
        user.user_permissions.set(every_permission_but_send_command())
    client.force_login(user)

    page = client.get(page_url(running))
    post = client.post(stop_url(running))

    assert page.status_code == 200
    assert 'id="stop-transaction"' not in page.content.decode() and stop_url(running) not in page.content.decode()
    assert post.status_code == 403
    assert charge_point_answers == []


def test_an_ended_transaction_has_no_stop_button_and_is_not_stopped_again(client, ended, charge_point_answers):
    client.force_login(user_with_role("operator"))

    page = client.get(page_url(ended)).content.decode()
    response = client.post(stop_url(ended))

    assert 'id="stop-transaction"' not in page
    assert charge_point_answers == []
    assert "has ended already" in str(next(iter(get_messages(response.wsgi_request))))


@pytest.mark.parametrize(
    ("fields", "label"),
    [
        ({"evse_id": 1, "connector_id": 1, "station_transaction_id": ""}, "connector 1"),  # 1.6: connector N is EVSE N
        ({"evse_id": 2, "connector_id": 1, "station_transaction_id": "tx-9"}, "EVSE 2 · connector 1"),
        ({"evse_id": 2, "connector_id": None, "station_transaction_id": "tx-9"}, "EVSE 2"),
        ({"evse_id": None, "connector_id": None, "station_transaction_id": ""}, "—"),
    ],
)
def test_a_session_is_placed_in_its_versions_words(fields, label):
    from transactions.admin import evse_label
    from transactions.models import Transaction

    assert evse_label(Transaction(**fields)) == label
