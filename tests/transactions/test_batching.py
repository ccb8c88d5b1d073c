"""Group commit of MeterValues (transactions/batching.py): many charge points in one transaction, answered only once committed."""

from __future__ import annotations

import asyncio
import threading

import pytest
from django.db import OperationalError, transaction

from chargepoints.models import ChargePoint
from csms.batching import GroupCommit
from transactions import batching, services
from transactions.models import MeterValue

pytestmark = pytest.mark.django_db(transaction=True)


def meter_values(n: int, value: str = "100") -> dict:
    return {"connectorId": 1, "meterValue": [{"timestamp": f"2026-12-05T10:00:{n:02d}Z", "sampledValue": [{"value": value}]}]}


@pytest.fixture
async def clients(ocpp_connect):
    """Five connected 1.6 charge points CP-B0 … CP-B4."""
    ids = [f"CP-B{n}" for n in range(5)]
    for cp_id in ids:
        await ChargePoint.objects.acreate(id=cp_id)
    connected = []
    for cp_id in ids:
        client, accepted, _ = await ocpp_connect(f"/ocpp/{cp_id}")
        assert accepted
        connected.append(client)
    return connected


async def test_meter_values_of_many_charge_points_arriving_together_share_transactions_and_are_all_stored(clients):
    writer = batching.meter_values_writer()
    before_batches, before_requests = writer.batches, writer.requests

    for round_ in range(3):
        replies = await asyncio.gather(*(client.call("MeterValues", meter_values(round_, str(n))) for n, client in enumerate(clients)))
        assert [reply[0] for reply in replies] == [3] * len(clients)

    assert await MeterValue.objects.acount() == 3 * len(clients)
    written = writer.requests - before_requests
    assert written == 3 * len(clients)
    # Requests that wait while a write runs go together into the next one.
    assert writer.batches - before_batches < written


async def test_the_callresult_is_sent_only_after_the_commit(clients, monkeypatch):
    """The ORM thread is held after the rows are written, before the transaction commits: no answer may leave."""
    written, release = threading.Event(), threading.Event()
    write_many = services.meter_values_create_many

    def held(*, requests):
        with transaction.atomic():
            rows = write_many(requests=requests)
            written.set()
            assert release.wait(10)
        return rows

    monkeypatch.setattr(services, "meter_values_create_many", held)
    client = clients[0]
    await client.communicator.send_json_to([2, "held-1", "MeterValues", meter_values(1)])
    assert await asyncio.to_thread(written.wait, 5)
    assert await client.communicator.receive_nothing(timeout=0.5), "answered before the commit"
    release.set()
    reply = await client.receive()
    assert reply == [3, "held-1", {}]
    assert await MeterValue.objects.acount() == 1


async def test_a_write_whose_commit_fails_is_never_acknowledged_and_stores_nothing(clients, monkeypatch):
    write_many = services.meter_values_create_many

    def failing(*, requests):
        with transaction.atomic():
            write_many(requests=requests)
            raise OperationalError("disk I/O error")

    monkeypatch.setattr(services, "meter_values_create_many", failing)
    reply = await clients[0].call("MeterValues", meter_values(1))
    assert reply[0] == 4 and reply[2] == "InternalError", reply
    assert await MeterValue.objects.acount() == 0


async def test_a_request_the_database_refuses_does_not_fail_the_others_of_its_batch():
    calls = []

    def write_many(requests):
        calls.append(list(requests))
        if "bad" in requests:
            raise OperationalError("refused")
        return [request.upper() for request in requests]

    writer = GroupCommit(write_many, max_batch=10)
    results = await asyncio.gather(*(writer.submit(r) for r in ["a", "bad", "c"]), return_exceptions=True)

    assert results[0] == "A" and results[2] == "C"
    assert isinstance(results[1], OperationalError)
    # One batch of three, then each alone.
    assert calls == [["a", "bad", "c"], ["a"], ["bad"], ["c"]]


async def test_a_batch_holds_at_most_max_batch_requests_in_the_order_submitted():
    calls = []

    def write_many(requests):
        calls.append(list(requests))
        return requests

    writer = GroupCommit(write_many, max_batch=2)
    assert await asyncio.gather(*(writer.submit(n) for n in range(5))) == [0, 1, 2, 3, 4]
    assert calls == [[0, 1], [2, 3], [4]]
    assert (writer.batches, writer.requests) == (3, 5)


def test_one_batch_moves_each_transactions_energy_to_its_newest_reading_and_never_backwards(db):
    from datetime import UTC, datetime

    from transactions.models import Transaction

    ChargePoint.objects.create(id="CP-E")
    at = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)
    ahead = Transaction.objects.create(charge_point_id="CP-E", evse_id=1, connector_id=1, id_tag="T", meter_start_wh=0, start_timestamp=at)
    behind = Transaction.objects.create(charge_point_id="CP-E", evse_id=2, connector_id=2, id_tag="T", meter_start_wh=0, start_timestamp=at)
    Transaction.objects.filter(pk=ahead.pk).update(last_meter_wh=9000, last_meter_at=at.replace(hour=12))

    def request(tx, evse_id, *readings):
        samples = [
            services.MeterSample(timestamp=at.replace(minute=m), sampled_values=[services.SampledValue(value=v)]) for m, v in readings
        ]
        return services.MeterValuesRequest(charge_point_id="CP-E", evse_id=evse_id, transaction_pk=tx.pk, samples=samples)

    services.meter_values_create_many(
        requests=[request(ahead, 1, (5, "5000")), request(behind, 2, (5, "500"), (9, "900")), request(behind, 2, (7, "700"))]
    )

    ahead.refresh_from_db()
    behind.refresh_from_db()
    assert (ahead.last_meter_wh, ahead.last_meter_at) == (9000, at.replace(hour=12)), "a late reading moved energy backwards"
    assert (behind.last_meter_wh, behind.last_meter_at) == (900, at.replace(minute=9))
    assert MeterValue.objects.count() == 4


async def test_services_called_together_commit_together_and_one_that_raises_is_rolled_back_alone():
    from csms.batching import together

    def register(charge_point_id):
        ChargePoint.objects.create(id=charge_point_id)
        return charge_point_id

    def register_then_fail(charge_point_id):
        ChargePoint.objects.create(id=charge_point_id)
        raise ValueError("refused after writing")

    results = await asyncio.gather(
        together(register, charge_point_id="CP-T1"),
        together(register_then_fail, charge_point_id="CP-T2"),
        together(register, charge_point_id="CP-T3"),
        return_exceptions=True,
    )

    assert results[0] == "CP-T1" and results[2] == "CP-T3"
    assert isinstance(results[1], ValueError)
    assert sorted([cp.id async for cp in ChargePoint.objects.all()]) == ["CP-T1", "CP-T3"]
