"""The dashboard's WebSocket: who may open it, and what a browser receives when charge points change."""

from __future__ import annotations

import asyncio
import time

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from chargepoints import live
from chargepoints import services as chargepoint_services
from chargepoints.dashboard import consumers
from csms.asgi import application
from tests.dashboard.fleet import charge_point
from tests.users import user_with_role
from transactions import services as transaction_services

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = (b"origin", b"http://localhost:8000")


@database_sync_to_async
def session_cookie(user) -> tuple[bytes, bytes]:
    client = Client()
    client.force_login(user)
    return (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())


async def open_dashboard(user=None, *, headers=(ORIGIN,)) -> tuple[WebsocketCommunicator, bool]:
    headers = list(headers)
    if user is not None:
        headers.append(await session_cookie(user))
    communicator = WebsocketCommunicator(application, "/ws/dashboard/", headers=headers)
    accepted, _ = await communicator.connect(timeout=5)
    return communicator, accepted


async def viewer():
    return await database_sync_to_async(user_with_role)("viewer-1", "viewer")


async def watch(communicator, charge_point_ids) -> dict:
    """Tell the server which rows the page shows; returns the update it answers with."""
    await communicator.send_json_to({"watch": list(charge_point_ids)})
    return await communicator.receive_json_from(timeout=5)


def rows_of(update: dict) -> dict[str, str]:
    return dict(update["rows"])


async def test_an_anonymous_browser_is_refused():
    communicator, accepted = await open_dashboard()
    assert not accepted


async def test_a_user_without_staff_status_is_refused():
    customer = await database_sync_to_async(get_user_model().objects.create_user)("customer")
    communicator, accepted = await open_dashboard(customer)
    assert not accepted


async def test_staff_who_may_not_view_charge_points_are_refused():
    clerk = await database_sync_to_async(get_user_model().objects.create_user)("clerk", is_staff=True)
    communicator, accepted = await open_dashboard(clerk)
    assert not accepted


async def test_a_page_of_a_foreign_origin_is_refused():
    communicator, accepted = await open_dashboard(await viewer(), headers=[(b"origin", b"https://evil.example")])
    assert not accepted


async def test_a_connection_without_origin_is_refused():
    communicator, accepted = await open_dashboard(await viewer(), headers=[])
    assert not accepted


async def test_charge_points_still_connect_without_origin(ocpp_connect):
    await database_sync_to_async(charge_point)("CP-1", online=False)
    _, accepted, _ = await ocpp_connect("/ocpp/CP-1")
    assert accepted


async def test_staff_get_the_rows_they_watch_and_the_counts():
    await database_sync_to_async(charge_point)("CP-1", statuses={(1, 1): "Available"})
    await database_sync_to_async(charge_point)("CP-2", online=False, statuses={(1, 1): "Available"})
    communicator, accepted = await open_dashboard(await viewer())
    assert accepted
    update = await watch(communicator, ["CP-2", "CP-unknown"])
    assert list(rows_of(update)) == ["CP-2"]
    assert "Available (stale)" in rows_of(update)["CP-2"]
    assert update["counts"]["online"] == 1 and update["counts"]["offline"] == 1
    await communicator.disconnect()


async def test_a_frame_that_is_not_a_watch_is_ignored_and_the_socket_stays_open():
    await database_sync_to_async(charge_point)("CP-1")
    communicator, _ = await open_dashboard(await viewer())
    await communicator.send_to(text_data="not json")
    await communicator.send_json_to({"watch": "CP-1"})
    assert await communicator.receive_nothing(timeout=0.3)
    assert list(rows_of(await watch(communicator, ["CP-1"]))) == ["CP-1"]
    await communicator.disconnect()


async def test_a_status_change_reaches_an_open_dashboard_within_a_second():
    await database_sync_to_async(charge_point)("CP-1", statuses={(1, 1): "Available"})
    communicator, _ = await open_dashboard(await viewer())
    await watch(communicator, ["CP-1"])

    started = time.monotonic()
    await database_sync_to_async(chargepoint_services.status_notification_create)(
        charge_point_id="CP-1", connector_id=1, status="Faulted", error_code="GroundFailure"
    )
    update = await communicator.receive_json_from(timeout=1)
    assert time.monotonic() - started < 1
    assert "badge-faulted" in rows_of(update)["CP-1"] and "GroundFailure" in rows_of(update)["CP-1"]
    assert update["counts"]["faulted"] == 1
    await communicator.disconnect()


async def test_a_change_of_a_charge_point_not_on_the_page_updates_only_the_counts():
    await database_sync_to_async(charge_point)("CP-1", statuses={(1, 1): "Available"})
    await database_sync_to_async(charge_point)("CP-2", statuses={(1, 1): "Available"})
    communicator, _ = await open_dashboard(await viewer())
    await watch(communicator, ["CP-1"])
    await database_sync_to_async(chargepoint_services.status_notification_create)(
        charge_point_id="CP-2", connector_id=1, status="Unavailable"
    )
    update = await communicator.receive_json_from(timeout=1)
    assert update["rows"] == [] and update["counts"]["unavailable"] == 1
    await communicator.disconnect()


async def test_connects_disconnects_and_transactions_reach_the_dashboard(ocpp_connect):
    await database_sync_to_async(charge_point)("CP-1", online=False, statuses={(1, 1): "Available"})
    communicator, _ = await open_dashboard(await viewer())
    assert "pill-offline" in rows_of(await watch(communicator, ["CP-1"]))["CP-1"]

    client, accepted, _ = await ocpp_connect("/ocpp/CP-1")
    update = await communicator.receive_json_from(timeout=1)
    assert "pill-online" in rows_of(update)["CP-1"] and update["counts"]["online"] == 1

    tx, _ = await database_sync_to_async(transaction_services.transaction_start)(
        charge_point_id="CP-1", connector_id=1, id_tag="TAG", meter_start_wh=1000, timestamp=timezone.now()
    )
    update = await communicator.receive_json_from(timeout=1)
    assert "pill-charging" in rows_of(update)["CP-1"] and update["counts"]["charging"] == 1

    await database_sync_to_async(transaction_services.transaction_stop)(
        charge_point_id="CP-1", transaction_pk=tx.pk, meter_stop_wh=3500, timestamp=timezone.now()
    )
    update = await communicator.receive_json_from(timeout=1)
    assert update["counts"]["charging"] == 0 and update["counts"]["energy_today_kwh"] == "2.500"

    await client.close()
    update = await communicator.receive_json_from(timeout=1)
    assert "Available (stale)" in rows_of(update)["CP-1"] and update["counts"]["offline"] == 1
    await communicator.disconnect()


async def test_meter_values_update_the_energy_delivered_today():
    await database_sync_to_async(charge_point)("CP-1", statuses={(1, 1): "Charging"})
    tx, _ = await database_sync_to_async(transaction_services.transaction_start)(
        charge_point_id="CP-1", connector_id=1, id_tag="TAG", meter_start_wh=1000, timestamp=timezone.now()
    )
    communicator, _ = await open_dashboard(await viewer())
    assert (await watch(communicator, ["CP-1"]))["counts"]["energy_today_kwh"] == "0.000"
    sample = transaction_services.MeterSample(timestamp=timezone.now(), sampled_values=[transaction_services.SampledValue(value="1750")])
    await database_sync_to_async(transaction_services.meter_values_create)(
        charge_point_id="CP-1", evse_id=1, transaction_pk=tx.pk, samples=[sample]
    )
    assert (await communicator.receive_json_from(timeout=1))["counts"]["energy_today_kwh"] == "0.750"
    await communicator.disconnect()


async def test_a_burst_of_500_status_changes_arrives_as_a_handful_of_messages_with_the_final_states():
    ids = [f"CP-{n:02d}" for n in range(50)]
    for cp in ids:
        await database_sync_to_async(charge_point)(cp, statuses={(1, 1): "Available"})
    communicator, _ = await open_dashboard(await viewer())
    await watch(communicator, ids)
    sequence = ["Preparing", "Charging", "SuspendedEV", "Charging", "Finishing", "Available", "Preparing", "Charging", "Unavailable"]

    def burst():
        # 50 charge points × 10 StatusNotifications, each its own transaction, the last one Faulted.
        for status in [*sequence, "Faulted"]:
            for cp in ids:
                chargepoint_services.status_notification_create(charge_point_id=cp, connector_id=1, status=status)

    started = time.monotonic()
    await database_sync_to_async(burst)()
    burst_s = time.monotonic() - started

    received, final = [], {}
    deadline = time.monotonic() + 5
    while not (len(final) == len(ids) and all("Faulted" in html for html in final.values())):
        assert time.monotonic() < deadline, f"final states not received: {len(received)} messages"
        update = await communicator.receive_json_from(timeout=max(0.1, deadline - time.monotonic()))
        received.append(update)
        final.update(rows_of(update))
    assert received[-1]["counts"]["faulted"] == len(ids)
    # One message per MIN_SEND_INTERVAL_S at most while the burst lasts, and one to catch up.
    assert len(received) <= burst_s / consumers.MIN_SEND_INTERVAL_S + 2, (len(received), burst_s)
    assert len(received) < 20
    print(f"{len(received)} messages for a burst of {burst_s:.2f} s")
    await asyncio.sleep(consumers.MIN_SEND_INTERVAL_S + 0.2)
    assert await communicator.receive_nothing(timeout=0.2)
    await communicator.disconnect()


async def test_the_flusher_sends_a_burst_to_the_group_in_few_messages():
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(live.GROUP, channel)
    await database_sync_to_async(charge_point)("CP-1")

    def burst():
        for n in range(200):
            chargepoint_services.status_notification_create(charge_point_id="CP-1", connector_id=1 + n % 2, status="Available")

    started = time.monotonic()
    await database_sync_to_async(burst)()
    burst_s = time.monotonic() - started
    messages = [await asyncio.wait_for(layer.receive(channel), 2)]
    while True:
        try:
            messages.append(await asyncio.wait_for(layer.receive(channel), live.FLUSH_INTERVAL_S * 2))
        except TimeoutError:
            break
    assert all(m == {"type": live.MESSAGE_TYPE, "charge_point_ids": ["CP-1"]} for m in messages)
    assert len(messages) <= burst_s / live.FLUSH_INTERVAL_S + 2, (len(messages), burst_s)


async def test_the_orm_thread_never_waits_for_the_channel_layer(monkeypatch):
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    redis_answers, sent = asyncio.Event(), []

    async def slow_group_send(group, message):
        await redis_answers.wait()  # a channel layer that takes its time
        sent.append(message)

    monkeypatch.setattr(layer, "group_send", slow_group_send)
    await database_sync_to_async(charge_point)("CP-1")
    # The service returns (its frame is answered) while the channel layer has not answered.
    await asyncio.wait_for(
        database_sync_to_async(chargepoint_services.status_notification_create)(charge_point_id="CP-1", connector_id=1, status="Faulted"),
        timeout=2,
    )
    assert sent == []
    redis_answers.set()
    deadline = time.monotonic() + 2
    while not sent:
        assert time.monotonic() < deadline, "nothing sent"
        await asyncio.sleep(0.02)
    assert sent == [{"type": live.MESSAGE_TYPE, "charge_point_ids": ["CP-1"]}]


async def test_a_rolled_back_change_is_not_announced():
    from channels.layers import get_channel_layer
    from django.db import transaction

    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(live.GROUP, channel)
    await database_sync_to_async(charge_point)("CP-1")

    def change_then_fail():
        with transaction.atomic():
            chargepoint_services.status_notification_create(charge_point_id="CP-1", connector_id=1, status="Faulted")
            transaction.set_rollback(True)

    await database_sync_to_async(change_then_fail)()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(layer.receive(channel), live.FLUSH_INTERVAL_S * 3)


async def test_a_failing_channel_layer_never_reaches_the_ocpp_path(monkeypatch, caplog):
    from channels.layers import get_channel_layer

    layer = get_channel_layer()

    async def redis_away(*args, **kwargs):
        raise ConnectionError("Redis away")

    monkeypatch.setattr(layer, "group_send", redis_away)
    await database_sync_to_async(charge_point)("CP-1")
    notification = await database_sync_to_async(chargepoint_services.status_notification_create)(
        charge_point_id="CP-1", connector_id=1, status="Faulted"
    )
    assert notification.pk

    def logged():
        return any("not pushed to dashboards" in r.getMessage() for r in caplog.records)

    deadline = time.monotonic() + 2
    while not logged():
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)


def test_without_an_event_loop_a_change_is_sent_at_once(transactional_db):
    """A management command (no server loop): the change goes out from its own thread, one message."""
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(live.GROUP, channel)
    charge_point("CP-1")
    chargepoint_services.status_notification_create(charge_point_id="CP-1", connector_id=1, status="Faulted")
    message = async_to_sync(layer.receive)(channel)
    assert message == {"type": live.MESSAGE_TYPE, "charge_point_ids": ["CP-1"]}


def test_group_names_are_valid_channels_group_names():
    import re

    assert re.fullmatch(r"[A-Za-z0-9._-]{1,99}", live.GROUP)
