"""Group commit: requests of many connections written in one database transaction, each answered once committed.

A `GroupCommit` serves one event loop. The first request of a quiet moment is
written at once, alone; the requests that arrive while a write runs (on the
ORM thread, behind whatever else it has to do) wait and are written together
by the next one, up to `max_batch` (OCPP_WRITE_BATCH_MAX) requests a
transaction. Under load a batch holds about as many requests as arrived
during one write, so the commit, the thread hop and the lookups are paid once
per batch instead of once per request; when quiet, nothing waits for company.

Durability: `submit` returns only after the transaction holding the request
has committed. A crash, a failed commit or a database that stops answering
leaves the request unanswered (or answered InternalError), never acknowledged
and lost. A batch that fails is retried one request at a time, so one request
the database refuses does not fail the others of its batch.

Users: MeterValues (transactions/batching.py), Heartbeat and last_seen
(chargepoints/touching.py).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable
from typing import Generic, TypeVar

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import transaction

logger = logging.getLogger("csms.batching")

Request = TypeVar("Request")
Result = TypeVar("Result")


class GroupCommit(Generic[Request, Result]):
    """Writes requests submitted from one event loop in batches: `write_many(list of requests) -> list of results`.

    `write_many` runs on the ORM thread (database_sync_to_async) and must write
    its whole list in one database transaction, returning one result per
    request in order; a `Failed` result fails that request alone. `max_batch`: most requests per call (None: the setting
    OCPP_WRITE_BATCH_MAX, read at each batch).
    """

    def __init__(self, write_many: Callable[[list[Request]], list[Result]], *, max_batch: int | None = None, name: str = "write"):
        self._write_many = database_sync_to_async(write_many)
        self._max_batch = max_batch
        self._name = name
        self._pending: list[tuple[Request, asyncio.Future]] = []
        self._worker: asyncio.Task | None = None
        self.batches = 0  # batches written, for the bench and tests
        self.requests = 0  # requests written

    async def submit(self, request: Request) -> Result:
        """Write `request` with whatever else is waiting; its result once committed.

        Raises what writing it raised (alone, after its batch failed). A
        caller cancelled while waiting does not cancel the write: its request
        may still be committed, as with any CALL whose answer was lost.
        """
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._pending.append((request, future))
        if self._worker is None or self._worker.done():
            self._worker = loop.create_task(self._run())
        return await future

    async def _run(self) -> None:
        while self._pending:
            limit = self._max_batch or settings.OCPP_WRITE_BATCH_MAX
            batch, self._pending = self._pending[:limit], self._pending[limit:]
            try:
                results = await self._write_many([request for request, _ in batch])
            except Exception as error:
                if len(batch) == 1:
                    _settle(batch[0][1], error=error)
                    continue
                logger.warning("%s of %d requests failed (%s); writing them one by one", self._name, len(batch), error)
                for request, future in batch:
                    try:
                        (result,) = await self._write_many([request])
                    except Exception as alone:
                        _settle(future, error=alone)
                    else:
                        _settle(future, result=result)
                continue
            self.batches += 1
            self.requests += len(batch)
            for (_, future), result in zip(batch, results, strict=True):
                if isinstance(result, Failed):
                    _settle(future, error=result.error)
                else:
                    _settle(future, result=result)


class Failed:
    """A result of `write_many` saying that this one request failed with `error` (the others of the batch committed)."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException):
        self.error = error


def _settle(future: asyncio.Future, *, result=None, error: BaseException | None = None) -> None:
    if future.done():  # its caller was cancelled (a disconnect)
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


_writers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, GroupCommit]] = weakref.WeakKeyDictionary()


def writer_for(name: str, write_many: Callable[[list], list]) -> GroupCommit:
    """The running event loop's GroupCommit called `name`, made with `write_many` the first time it is asked for.

    One per loop: a GroupCommit's futures belong to the loop that made them
    (a test's loop, the server's loop). RuntimeError outside a running loop.
    """
    writers = _writers.setdefault(asyncio.get_running_loop(), {})
    writer = writers.get(name)
    if writer is None:
        writer = writers[name] = GroupCommit(write_many, name=name)
    return writer


def _each_in_one_transaction(calls: list[tuple[Callable, dict]]) -> list:
    """Run each (service, keyword arguments) in its own savepoint of one transaction; their results, `Failed` for those that raised."""
    results = []
    with transaction.atomic():
        for service, kwargs in calls:
            try:
                with transaction.atomic():
                    results.append(service(**kwargs))
            except Exception as error:
                results.append(Failed(error))
    return results


async def together(service: Callable[..., Result], **kwargs) -> Result:
    """`await database_sync_to_async(service)(**kwargs)`, committed with the other services called so at this moment.

    The services of many connections run one after the other on the ORM
    thread in one transaction, each in a savepoint of its own: one that
    raises is rolled back alone and its caller gets the exception; the others
    commit together, and each caller resumes once they have. For the writes
    of frames that come in storms (BootNotification, StatusNotification,
    transactions): one commit, one thread hop per batch. A service that
    must see its own commit before returning (an external side effect)
    must not be called so; on_commit hooks run after the batch's commit.
    """
    return await writer_for("service write", _each_in_one_transaction).submit((service, kwargs))
