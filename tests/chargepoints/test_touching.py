"""Heartbeats of many connections written together (chargepoints/touching.py), each charge point's own times set."""

from __future__ import annotations

import asyncio

import pytest

from chargepoints import touching
from chargepoints.models import ChargePoint

pytestmark = pytest.mark.django_db(transaction=True)


async def test_heartbeats_arriving_together_share_transactions_and_set_each_charge_points_times(ocpp_connect):
    ids = [f"CP-HB{n}" for n in range(6)]
    clients = []
    for cp_id in ids:
        await ChargePoint.objects.acreate(id=cp_id)
        client, accepted, _ = await ocpp_connect(f"/ocpp/{cp_id}")
        assert accepted
        clients.append(client)
    await ChargePoint.objects.acreate(id="CP-SILENT")
    writer = touching.touch_writer()
    before_batches, before_requests = writer.batches, writer.requests

    replies = await asyncio.gather(*(client.call("Heartbeat", {}) for client in clients))

    assert [reply[0] for reply in replies] == [3] * len(ids)
    beaten = {cp.id: cp async for cp in ChargePoint.objects.all()}
    assert all(beaten[cp_id].last_heartbeat is not None and beaten[cp_id].last_seen is not None for cp_id in ids)
    assert beaten["CP-SILENT"].last_heartbeat is None and beaten["CP-SILENT"].last_seen is None
    assert writer.requests - before_requests >= len(ids)
    assert writer.batches - before_batches < writer.requests - before_requests


def test_a_touch_without_heartbeat_moves_only_last_seen(db):
    ChargePoint.objects.create(id="CP-A")
    ChargePoint.objects.create(id="CP-B")
    from chargepoints import services

    (now_a, now_b) = services.charge_points_touch(touches=[("CP-A", True), ("CP-B", False)])
    a, b = ChargePoint.objects.get(id="CP-A"), ChargePoint.objects.get(id="CP-B")
    assert a.last_heartbeat == a.last_seen == now_a
    assert b.last_seen == now_b and b.last_heartbeat is None
