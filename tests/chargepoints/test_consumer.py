"""The OCPP consumer over Channels' WebsocketCommunicator: who may connect, and how every frame is answered."""

import asyncio
import json
import logging

import pytest
from channels.db import database_sync_to_async

from chargepoints import presence, services
from chargepoints.models import ChargePoint

pytestmark = pytest.mark.django_db(transaction=True)

BOOT = {"chargePointVendor": "Acme", "chargePointModel": "Fast-1"}


async def test_it_accepts_a_registered_charge_point_and_echoes_ocpp16(charge_point, ocpp_connect):
    client, accepted, subprotocol = await ocpp_connect("/ocpp/CP-1")
    assert accepted
    assert subprotocol == "ocpp1.6"
    reply = await client.call("Heartbeat", {})
    assert reply[0] == 3 and "currentTime" in reply[2]
    cp = await ChargePoint.objects.select_related("server_process").aget(pk="CP-1")
    assert cp.connected and cp.ocpp_version == "1.6" and cp.online
    assert cp.server_process_id == presence.PROCESS_ID and cp.server_process.alive


async def test_it_serves_the_versioned_path(charge_point, ocpp_connect):
    client, accepted, subprotocol = await ocpp_connect("/ocpp/1.6/CP-1")
    assert accepted and subprotocol == "ocpp1.6"
    assert (await client.call("Heartbeat", {}))[0] == 3


async def test_it_picks_ocpp16_among_several_offered_subprotocols(charge_point, ocpp_connect):
    _, accepted, subprotocol = await ocpp_connect("/ocpp/CP-1", subprotocols=["ocpp1.2", "ocpp1.6", "foo"])
    assert accepted and subprotocol == "ocpp1.6"


async def test_it_treats_a_connection_without_subprotocol_as_ocpp16(charge_point, ocpp_connect, caplog):
    with caplog.at_level(logging.INFO, logger="csms.ocpp"):
        client, accepted, subprotocol = await ocpp_connect("/ocpp/CP-1", subprotocols=[])
    assert accepted and subprotocol is None
    assert "no subprotocol offered" in caplog.text
    assert (await client.call("BootNotification", BOOT))[2]["status"] == "Accepted"


async def test_it_rejects_only_unsupported_subprotocols(charge_point, ocpp_connect):
    _, accepted, _ = await ocpp_connect("/ocpp/CP-1", subprotocols=["ocpp1.5", "mqtt"])
    assert not accepted


async def test_it_rejects_an_unknown_charge_point(db, ocpp_connect):
    _, accepted, _ = await ocpp_connect("/ocpp/NOBODY")
    assert not accepted
    assert not await ChargePoint.objects.filter(pk="NOBODY").aexists()


async def test_it_registers_an_unknown_charge_point_when_allowed(db, ocpp_connect, settings):
    settings.OCPP_ALLOW_UNKNOWN_CHARGE_POINTS = True
    _, accepted, _ = await ocpp_connect("/ocpp/NEW-ONE")
    assert accepted
    cp = await ChargePoint.objects.aget(pk="NEW-ONE")
    assert cp.connected


@pytest.mark.parametrize(
    "path",
    ["/ocpp/" + "A" * 49, "/ocpp/CP%231", "/ocpp/CP%201", "/ocpp/", "/ocpp/a/b/c", "/elsewhere/CP-1", "/ocpp/2.0.1/CP-1"],
)
async def test_it_rejects_identities_outside_identifier_string_before_the_upgrade(db, ocpp_connect, settings, path):
    settings.OCPP_ALLOW_UNKNOWN_CHARGE_POINTS = True
    _, accepted, _ = await ocpp_connect(path)
    assert not accepted
    assert not await ChargePoint.objects.aexists()


async def test_it_url_decodes_the_identity(db, ocpp_connect, settings):
    settings.OCPP_ALLOW_UNKNOWN_CHARGE_POINTS = True
    _, accepted, _ = await ocpp_connect("/ocpp/CP%2A1%3Aa%40b.c")
    assert accepted
    assert await ChargePoint.objects.filter(pk="CP*1:a@b.c").aexists()


async def test_a_second_connection_takes_over_and_the_old_socket_closes(charge_point, ocpp_connect):
    old, _, _ = await ocpp_connect("/ocpp/CP-1")
    new, accepted, _ = await ocpp_connect("/ocpp/CP-1")
    assert accepted
    closed = await old.communicator.receive_output(timeout=5)
    assert closed["type"] == "websocket.close"
    await old.communicator.disconnect()  # the old socket's late disconnect
    cp = await ChargePoint.objects.aget(pk="CP-1")
    assert cp.connected, "the old connection's disconnect must not mark the new one offline"
    assert (await new.call("Heartbeat", {}))[0] == 3


async def test_disconnecting_marks_the_charge_point_offline(charge_point, ocpp_connect):
    client, _, _ = await ocpp_connect("/ocpp/CP-1")
    await client.close()
    cp = await ChargePoint.objects.select_related("server_process").aget(pk="CP-1")
    assert not cp.connected and not cp.online and cp.disconnected_at is not None


# --- Bad frames: the right CALLERROR, and the connection stays usable ------


async def answers_then_still_works(client, raw: str) -> list:
    await client.send_raw(raw)
    reply = await client.receive()
    assert (await client.call("Heartbeat", {}))[0] == 3, "connection must stay usable"
    return reply


async def test_invalid_json_gets_formation_violation(charge_point, ocpp_connect):
    client, _, _ = await ocpp_connect()
    reply = await answers_then_still_works(client, "{this is not json")
    assert reply[:3] == [4, "-1", "FormationViolation"]


async def test_a_frame_of_the_wrong_shape_gets_formation_violation_with_its_unique_id(charge_point, ocpp_connect):
    client, _, _ = await ocpp_connect()
    reply = await answers_then_still_works(client, '[2,"abc","Heartbeat"]')
    assert reply[:3] == [4, "abc", "FormationViolation"]


async def test_an_unknown_action_gets_not_implemented(charge_point, ocpp_connect):
    client, _, _ = await ocpp_connect()
    reply = await answers_then_still_works(client, '[2,"u1","MakeCoffee",{}]')
    assert reply[:3] == [4, "u1", "NotImplemented"]


async def test_a_central_system_action_sent_by_a_charge_point_gets_not_supported(charge_point, ocpp_connect):
    client, _, _ = await ocpp_connect()
    reply = await answers_then_still_works(client, '[2,"u1","Reset",{"type":"Hard"}]')
    assert reply[:3] == [4, "u1", "NotSupported"]


async def test_a_schema_violation_gets_the_matching_error_code(charge_point, ocpp_connect):
    client, _, _ = await ocpp_connect()
    reply = await answers_then_still_works(client, json.dumps([2, "u1", "BootNotification", {"chargePointVendor": "A"}]))
    assert reply[:3] == [4, "u1", "OccurenceConstraintViolation"]
    assert reply[4]["field"] == "chargePointModel"
    assert not await ChargePoint.objects.filter(vendor="A").aexists()


async def test_a_unique_id_over_36_characters_is_rejected(charge_point, ocpp_connect):
    client, _, _ = await ocpp_connect()
    reply = await answers_then_still_works(client, json.dumps([2, "u" * 37, "Heartbeat", {}]))
    assert reply[:3] == [4, "u" * 37, "FormationViolation"]


async def test_a_binary_frame_gets_formation_violation(charge_point, ocpp_connect):
    client, _, _ = await ocpp_connect()
    await client.communicator.send_to(bytes_data=b'[2,"b1","Heartbeat",{}]')
    reply = await client.receive()
    assert reply[:3] == [4, "b1", "FormationViolation"]
    assert (await client.call("Heartbeat", {}))[0] == 3


async def test_a_failing_handler_gets_internal_error_and_the_connection_stays_open(charge_point, ocpp_connect, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("database on fire")

    monkeypatch.setattr(services, "boot_notification_create", broken)
    client, _, _ = await ocpp_connect()
    reply = await client.call("BootNotification", BOOT)
    assert reply[0] == 4 and reply[2] == "InternalError"
    assert "database on fire" not in json.dumps(reply), "internal details must not leak to the charge point"
    assert (await client.call("Heartbeat", {}))[0] == 3


async def test_an_unexpected_call_result_is_ignored_without_reply(charge_point, ocpp_connect):
    client, _, _ = await ocpp_connect()
    await client.send_raw('[3,"nobody-asked",{}]')
    assert await client.communicator.receive_nothing(timeout=0.2)
    assert (await client.call("Heartbeat", {}))[0] == 3


async def test_protocol_debug_logs_every_frame_with_identity_and_direction(charge_point, ocpp_connect, caplog):
    client, _, _ = await ocpp_connect()
    protocol_logger = logging.getLogger("csms.protocol")
    old_level = protocol_logger.level
    protocol_logger.setLevel(logging.DEBUG)  # what OCPP_PROTOCOL_DEBUG=true configures
    protocol_logger.addHandler(caplog.handler)
    try:
        await client.call("Heartbeat", {}, unique_id="hb-1")
    finally:
        protocol_logger.setLevel(old_level)
        protocol_logger.removeHandler(caplog.handler)
    lines = [r.getMessage() for r in caplog.records if r.name == "csms.protocol"]
    assert any(line.startswith('CP-1 in [2, "hb-1", "Heartbeat"') or line.startswith('CP-1 in [2,"hb-1"') for line in lines)
    assert any(line.startswith('CP-1 out [3,"hb-1"') for line in lines)


async def test_last_seen_is_written_at_most_once_per_interval(charge_point, ocpp_connect, settings):
    settings.OCPP_LAST_SEEN_WRITE_INTERVAL = 3600
    client, _, _ = await ocpp_connect()
    first = (await ChargePoint.objects.aget(pk="CP-1")).last_seen
    await client.call("StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Available"})
    await asyncio.sleep(0.3)  # the write, when due, happens in the background just after the answer
    assert (await ChargePoint.objects.aget(pk="CP-1")).last_seen == first
    settings.OCPP_LAST_SEEN_WRITE_INTERVAL = 0
    await client.call("StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Available"})
    for _ in range(100):
        if (await ChargePoint.objects.aget(pk="CP-1")).last_seen > first:
            break
        await asyncio.sleep(0.05)
    assert (await ChargePoint.objects.aget(pk="CP-1")).last_seen > first


async def test_a_stale_connected_flag_does_not_count_as_online(charge_point):
    await database_sync_to_async(services.charge_point_connect)(
        charge_point_id="CP-1", session_id="s", ocpp_version="1.6", allow_unknown=False
    )
    from datetime import timedelta

    from django.utils import timezone

    await ChargePoint.objects.filter(pk="CP-1").aupdate(last_seen=timezone.now() - timedelta(hours=2))
    cp = await ChargePoint.objects.select_related("server_process").aget(pk="CP-1")
    assert cp.connected and not cp.online


def _connected_by(process_id: str, renewed_ago_s: float) -> ChargePoint:
    from datetime import timedelta

    from django.utils import timezone

    from chargepoints.models import ServerProcess

    ServerProcess.objects.create(id=process_id, renewed_at=timezone.now() - timedelta(seconds=renewed_ago_s))
    return ChargePoint.objects.create(
        id=f"CP-{process_id}", connected=True, session_id="s", last_seen=timezone.now(), server_process_id=process_id
    )


def test_a_charge_point_of_a_dead_process_reads_offline_and_a_sweep_clears_it(db, settings):
    from chargepoints.selectors import charge_point_list

    settings.OCPP_PRESENCE_TTL = 30
    _connected_by("alive", renewed_ago_s=5)
    _connected_by("dead", renewed_ago_s=31)

    online = {cp.id: cp.online for cp in charge_point_list()}
    marked = services.server_processes_sweep(ttl_s=30)

    assert online == {"CP-alive": True, "CP-dead": False}
    assert marked == 1
    assert dict(ChargePoint.objects.values_list("id", "connected")) == {"CP-alive": True, "CP-dead": False}
    assert ChargePoint.objects.get(pk="CP-dead").server_process_id is None


def test_a_process_whose_lease_was_swept_while_it_lived_claims_its_connections_again(db):
    _connected_by("slow", renewed_ago_s=60)
    services.server_processes_sweep(ttl_s=30)

    kept = services.server_process_renew(process_id="slow", sessions={"CP-slow": "s"})

    cp = ChargePoint.objects.select_related("server_process").get(pk="CP-slow")
    assert kept is False
    assert cp.connected and cp.server_process_id == "slow" and cp.online
