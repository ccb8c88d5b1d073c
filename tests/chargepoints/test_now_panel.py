"""The "Now" panel at the top of a charge point's admin page: what it shows, what it costs, and that it is pushed live."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from chargepoints import services as chargepoint_services
from chargepoints.models import BootNotification
from chargepoints.now.panel import now_panel_html
from csms.asgi import application
from tests.dashboard.fleet import charge_point
from tests.users import user_with_role
from transactions import services as transaction_services
from transactions.models import IdTag

ORIGIN = (b"origin", b"http://localhost:8000")


def page(client: Client, charge_point_id: str) -> str:
    response = client.get(reverse("admin:chargepoints_chargepoint_change", args=[charge_point_id]))
    assert response.status_code == 200
    return response.content.decode()


def panel_of(html: str) -> str:
    """The #now element of a page (or the panel itself), up to the Commands box or its end."""
    start = html.index('id="now"')
    end = html.find('id="commands"', start)
    return html[start : end if end != -1 else len(html)]


@pytest.fixture
def viewer_client(db):
    user_with_role("viewer-1", "viewer")
    client = Client()
    client.force_login(get_user_model().objects.get(username="viewer-1"))
    return client


def samples(minute: int, *, energy_wh: int, power_w: int | None = None):
    values = [transaction_services.SampledValue(value=str(energy_wh), measurand="Energy.Active.Import.Register", unit="Wh")]
    if power_w is not None:
        values.append(transaction_services.SampledValue(value=str(power_w), measurand="Power.Active.Import", unit="W"))
    moment = timezone.now() - timedelta(minutes=30) + timedelta(minutes=minute)
    return [transaction_services.MeterSample(timestamp=moment, sampled_values=values)]


def start_charging(charge_point_id: str, *, connector_id: int = 1, meter_start_wh: int = 1000, readings: int = 2):
    """A StartTransaction on `connector_id` and `readings` meter values a minute apart, the last at 3.5 kWh and 7.4 kW."""
    IdTag.objects.get_or_create(id_tag="TAG-NOW")
    tx, _ = transaction_services.transaction_start(
        charge_point_id=charge_point_id,
        connector_id=connector_id,
        id_tag="TAG-NOW",
        meter_start_wh=meter_start_wh,
        timestamp=timezone.now() - timedelta(minutes=30),
    )
    for n in range(readings):
        last = n == readings - 1
        transaction_services.meter_values_create(
            charge_point_id=charge_point_id,
            evse_id=connector_id,
            transaction_pk=tx.pk,
            samples=samples(n, energy_wh=3500 if last else 1000 + n, power_w=7400 if last else 7000),
        )
    return tx


def boot(charge_point_id: str, n: int, status: str = "Accepted") -> None:
    BootNotification.objects.create(
        charge_point_id=charge_point_id,
        vendor="Acme",
        model="AC22",
        firmware_version=f"fw-{n}",
        status=status,
        received_at=timezone.now() - timedelta(hours=10 - n),
    )


def test_the_panel_sits_above_the_commands_box(viewer_client):
    charge_point("CP-1", statuses={(1, 1): "Available"})
    html = page(viewer_client, "CP-1")
    assert html.index('id="now"') < html.index('id="commands"')


def test_each_connector_shows_its_status_now_as_a_coloured_badge(viewer_client):
    charge_point("CP-1", statuses={(1, 1): "Available", (2, 2): "Charging"})
    chargepoint_services.status_notification_create(
        charge_point_id="CP-1", connector_id=3, status="Faulted", error_code="GroundFailure", info="RCD tripped"
    )
    panel = panel_of(page(viewer_client, "CP-1"))
    assert '<span class="cp-status cp-status-available">1: Available</span>' in panel
    assert '<span class="cp-status cp-status-busy">2: Charging</span>' in panel
    assert 'cp-status-faulted" title="GroundFailure">3: Faulted</span>' in panel
    assert "GroundFailure · RCD tripped" in panel
    assert "cp-stale" not in panel
    assert ">online</strong>" in panel
    assert "OCPP 1.6" in panel


def test_an_ocpp_201_connector_is_named_by_its_evse(viewer_client):
    charge_point("CS-1", version="2.0.1", statuses={(1, 1): "Occupied", (2, 1): "Available"})
    panel = panel_of(page(viewer_client, "CS-1"))
    assert "EVSE 1 · connector 1: Occupied" in panel
    assert "EVSE 2 · connector 1: Available" in panel
    assert "OCPP 2.0.1" in panel


def test_an_offline_charge_points_statuses_are_shown_stale(viewer_client):
    cp = charge_point("CP-1", online=False, statuses={(1, 1): "Charging"})
    panel = panel_of(page(viewer_client, "CP-1"))
    assert 'cp-connectors cp-stale"' in panel
    assert '<span class="cp-stale-label">stale</span>' in panel
    assert "cp-now-offline" in panel and ">offline</strong>" in panel
    # Never disconnected cleanly: "since" is when it was last seen.
    assert f"since {timezone.localtime(cp.last_seen):%Y-%m-%d %H:%M:%S}" in panel


def test_an_online_charge_point_says_since_when_it_is_connected(viewer_client):
    cp = charge_point("CP-1", statuses={(1, 1): "Available"})
    cp.connected_at = timezone.now() - timedelta(hours=2)
    cp.save(update_fields=["connected_at"])
    panel = panel_of(page(viewer_client, "CP-1"))
    assert ">online</strong>" in panel
    assert f"since {timezone.localtime(cp.connected_at):%Y-%m-%d %H:%M:%S}" in panel


def test_the_open_transaction_shows_its_energy_so_far_and_power_now_from_meter_values(viewer_client):
    charge_point("CP-1", statuses={(1, 1): "Charging"})
    tx = start_charging("CP-1")
    panel = panel_of(page(viewer_client, "CP-1"))
    row = panel[panel.index(f'data-transaction-id="{tx.pk}"') :]
    assert f'href="{reverse("admin:transactions_transaction_change", args=[tx.pk])}">{tx.pk}</a>' in row
    assert "connector 1" in row and "TAG-NOW" in row
    assert '<td data-figure="energy_kwh">2.500 kWh</td>' in row
    assert '<td data-figure="power_kw">7.400 kW</td>' in row
    assert re.search(r"<td>0:(29|30):\d\d</td>", row)


def test_power_now_is_derived_from_energy_readings_when_no_power_is_sampled(viewer_client):
    charge_point("CP-1", statuses={(1, 1): "Charging"})
    tx, _ = transaction_services.transaction_start(
        charge_point_id="CP-1", connector_id=1, id_tag="TAG-X", meter_start_wh=0, timestamp=timezone.now() - timedelta(minutes=30)
    )
    for minute, energy_wh in ((0, 0), (1, 100)):  # 100 Wh in a minute: 6 kW
        transaction_services.meter_values_create(
            charge_point_id="CP-1", evse_id=1, transaction_pk=tx.pk, samples=samples(minute, energy_wh=energy_wh)
        )
    panel = panel_of(page(viewer_client, "CP-1"))
    assert '<td data-figure="power_kw">6.000 kW (from energy readings)</td>' in panel


def test_no_open_transaction_is_said_so(viewer_client):
    charge_point("CP-1", statuses={(1, 1): "Available"})
    assert "No transaction is open." in panel_of(page(viewer_client, "CP-1"))


def test_the_last_five_boots_are_listed_newest_first_with_a_link_to_all(viewer_client):
    charge_point("CP-1")
    for n in range(7):
        boot("CP-1", n, status="Pending" if n == 6 else "Accepted")
    panel = panel_of(page(viewer_client, "CP-1"))
    firmware = re.findall(r"<td>(fw-\d)</td>", panel)
    assert firmware == ["fw-6", "fw-5", "fw-4", "fw-3", "fw-2"]
    assert "<td>Pending</td>" in panel
    assert "/admin/chargepoints/bootnotification/?charge_point__id__exact=CP-1" in panel


def queries_of_panel(charge_point_id: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert now_panel_html(charge_point_id=charge_point_id)
    return len(captured.captured_queries)


def test_the_panels_queries_do_not_grow_with_connectors_boots_or_meter_values(db):
    charge_point("CP-SMALL", statuses={(1, 1): "Charging"})
    start_charging("CP-SMALL", readings=2)
    boot("CP-SMALL", 1)
    charge_point("CP-BIG", statuses={(n, n): "Charging" if n == 1 else "Available" for n in range(1, 13)})
    start_charging("CP-BIG", readings=60)
    for n in range(9):
        boot("CP-BIG", n)

    small, big = queries_of_panel("CP-SMALL"), queries_of_panel("CP-BIG")
    assert small == big
    assert big <= 8  # charge point, connectors, open transactions, boots, and power now's three


def test_the_panel_of_an_unknown_charge_point_is_none(db):
    assert now_panel_html(charge_point_id="CP-NONE") is None


# The WebSocket (ws/chargepoints/<id>/now/).


@database_sync_to_async
def session_cookie(user) -> tuple[bytes, bytes]:
    client = Client()
    client.force_login(user)
    return (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())


async def open_panel(charge_point_id: str, user=None, *, headers=(ORIGIN,)) -> tuple[WebsocketCommunicator, bool]:
    headers = list(headers)
    if user is not None:
        headers.append(await session_cookie(user))
    communicator = WebsocketCommunicator(application, f"/ws/chargepoints/{charge_point_id}/now/", headers=headers)
    accepted, _ = await communicator.connect(timeout=5)
    return communicator, accepted


async def viewer():
    return await database_sync_to_async(user_with_role)("viewer-ws", "viewer")


@pytest.mark.django_db(transaction=True)
async def test_an_open_panel_receives_a_status_change_within_a_second():
    await database_sync_to_async(charge_point)("CP-1", statuses={(1, 1): "Available"})
    communicator, accepted = await open_panel("CP-1", await viewer())
    assert accepted
    first = await communicator.receive_json_from(timeout=5)  # what changed since the page was rendered
    assert "1: Available" in first["panel"]

    started = time.monotonic()
    await database_sync_to_async(chargepoint_services.status_notification_create)(
        charge_point_id="CP-1", connector_id=1, status="Faulted", error_code="GroundFailure"
    )
    update = await communicator.receive_json_from(timeout=1)
    assert time.monotonic() - started < 1
    assert 'cp-status-faulted" title="GroundFailure">1: Faulted</span>' in update["panel"]
    assert update["panel"].startswith('<div class="module cp-now" id="now"')
    await communicator.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_a_meter_value_reaches_an_open_panel_as_power_now():
    await database_sync_to_async(charge_point)("CP-1", statuses={(1, 1): "Charging"})
    tx = await database_sync_to_async(start_charging)("CP-1")
    communicator, _ = await open_panel("CP-1", await viewer())
    assert "7.400 kW" in (await communicator.receive_json_from(timeout=5))["panel"]

    await database_sync_to_async(transaction_services.meter_values_create)(
        charge_point_id="CP-1", evse_id=1, transaction_pk=tx.pk, samples=samples(5, energy_wh=4000, power_w=11000)
    )
    update = await communicator.receive_json_from(timeout=2)
    assert '<td data-figure="power_kw">11.000 kW</td>' in update["panel"]
    assert '<td data-figure="energy_kwh">3.000 kWh</td>' in update["panel"]
    await communicator.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_changes_of_other_charge_points_send_nothing():
    await database_sync_to_async(charge_point)("CP-1", statuses={(1, 1): "Available"})
    await database_sync_to_async(charge_point)("CP-2", statuses={(1, 1): "Available"})
    communicator, _ = await open_panel("CP-1", await viewer())
    await communicator.receive_json_from(timeout=5)
    await database_sync_to_async(chargepoint_services.status_notification_create)(
        charge_point_id="CP-2", connector_id=1, status="Faulted", error_code="GroundFailure"
    )
    assert await communicator.receive_nothing(timeout=0.8)
    await communicator.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_a_burst_of_changes_is_coalesced():
    await database_sync_to_async(charge_point)("CP-1", statuses={(1, 1): "Available"})
    communicator, _ = await open_panel("CP-1", await viewer())
    await communicator.receive_json_from(timeout=5)
    started = time.monotonic()
    for n in range(20):
        await database_sync_to_async(chargepoint_services.status_notification_create)(
            charge_point_id="CP-1", connector_id=1, status="Faulted" if n % 2 else "Available", error_code="NoError"
        )
    received = []
    while time.monotonic() - started < 1.5:
        if await communicator.receive_nothing(timeout=0.1):
            continue
        received.append(await communicator.receive_json_from())
    assert 1 <= len(received) <= 4  # at most about two a second
    assert "1: Faulted" in received[-1]["panel"]  # the last state wins
    await communicator.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_an_anonymous_browser_is_refused():
    await database_sync_to_async(charge_point)("CP-1")
    _, accepted = await open_panel("CP-1")
    assert not accepted


@pytest.mark.django_db(transaction=True)
async def test_a_user_without_staff_status_is_refused():
    await database_sync_to_async(charge_point)("CP-1")
    customer = await database_sync_to_async(get_user_model().objects.create_user)("customer")
    _, accepted = await open_panel("CP-1", customer)
    assert not accepted


@pytest.mark.django_db(transaction=True)
async def test_staff_who_may_not_view_charge_points_are_refused():
    await database_sync_to_async(charge_point)("CP-1")
    clerk = await database_sync_to_async(get_user_model().objects.create_user)("clerk", is_staff=True)
    _, accepted = await open_panel("CP-1", clerk)
    assert not accepted


@pytest.mark.django_db(transaction=True)
async def test_a_page_of_a_foreign_origin_is_refused():
    await database_sync_to_async(charge_point)("CP-1")
    _, accepted = await open_panel("CP-1", await viewer(), headers=[(b"origin", b"https://evil.example")])
    assert not accepted


@pytest.mark.django_db(transaction=True)
async def test_an_unknown_charge_point_is_refused():
    _, accepted = await open_panel("CP-NONE", await viewer())
    assert not accepted
