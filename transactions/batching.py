"""MeterValues of many charge points in one database transaction (group commit, `csms.batching`).

Every MeterValues request of a process goes through one `GroupCommit` per
event loop, and the consumer sends the CALLRESULT only after `store`
returned, that is after the commit of the request's batch.

Ordering per charge point: a connection's frames are processed one after the
other (the consumer awaits each CALL's handler), so a charge point has at most
one request in a batch, and its requests are committed in the order sent.
"""

from __future__ import annotations

from csms.batching import GroupCommit, writer_for

from . import services


def meter_values_writer() -> GroupCommit[services.MeterValuesRequest, list]:
    """This event loop's group commit of MeterValues requests (`services.meter_values_create_many`)."""
    return writer_for("MeterValues write", _write)


def _write(requests: list[services.MeterValuesRequest]) -> list[list]:
    return services.meter_values_create_many(requests=requests)


async def meter_values_store(request: services.MeterValuesRequest) -> list:
    """Store one MeterValues request with the others of its moment; returns its rows once committed (see the module)."""
    return await meter_values_writer().submit(request)
