"""The transaction message queue: what a charge point must deliver in order, connected or not.

OCPP 1.6 §4.7 / §4.8 / §4.10 and 2.0.1 E (offline behaviour): transaction
messages (StartTransaction, MeterValues of a transaction, StopTransaction;
2.0.1 TransactionEvent) are queued while the charge point is offline and
delivered in order, oldest first, once it is back. Each is retried until
answered; a CALLERROR counts as a failed attempt, and after
TransactionMessageAttempts it is given up.

In 1.6 the transaction id comes from the central system's answer to
StartTransaction, so a transaction started offline has none yet: queued
messages build their payload only when it is their turn (`QueuedMessage.build`),
by which time the StartTransaction ahead of them has been answered and the
session knows its id.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field


class SkipMessage(Exception):
    """Raised by `QueuedMessage.build` when the message can no longer be sent (its StartTransaction was refused)."""


class Disconnected(Exception):
    """The connection closed before the answer came (or there is no connection)."""


class CallFailed(Exception):
    """The central system answered a CALL with a CALLERROR."""

    def __init__(self, code: str, description: str = ""):
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description


@dataclass
class QueuedMessage:
    """One transaction message waiting for delivery.

    `build()` returns the `ocpp` call dataclass to send (or raises
    SkipMessage); `on_result(answer)` runs once the central system answered.
    `session` is the `model.Session` it belongs to; `queued_offline` tells
    whether it was created without a connection.
    """

    action: str
    build: Callable[[], object]
    session: object | None = None
    on_result: Callable[[object], None] | None = None
    queued_offline: bool = False
    attempts: int = 0
    created_at: float = field(default_factory=time.monotonic)


class TransactionQueue:
    """FIFO of `QueuedMessage`s; `wait()` blocks until one is there."""

    def __init__(self):
        self._items: deque[QueuedMessage] = deque()
        self._not_empty = asyncio.Event()
        self.delivered = 0
        self.given_up = 0

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self):
        return iter(list(self._items))

    def put(self, message: QueuedMessage) -> None:
        self._items.append(message)
        self._not_empty.set()

    def peek(self) -> QueuedMessage | None:
        return self._items[0] if self._items else None

    def pop(self) -> QueuedMessage:
        message = self._items.popleft()
        if not self._items:
            self._not_empty.clear()
        return message

    async def wait(self) -> QueuedMessage:
        """The oldest message, once there is one (not removed)."""
        while not self._items:
            await self._not_empty.wait()
        return self._items[0]

    def pending_for(self, session) -> bool:
        return any(message.session is session for message in self._items)


async def deliver_head(queue: TransactionQueue, call: Callable[[object], Awaitable[object]], *, attempts: int = 3) -> str:
    """Send the oldest queued message through `call` and remove it once answered.

    Returns "sent", "skipped" (SkipMessage), "given_up" (a CALLERROR for the
    `attempts`-th time; removed), "retry" (a CALLERROR or no answer; kept)
    or "offline" (Disconnected; kept). `call` sends one payload and returns
    its answer, raising Disconnected, asyncio.TimeoutError or CallFailed.
    """
    message = queue.peek()
    if message is None:
        return "empty"
    try:
        payload = message.build()
    except SkipMessage:
        queue.pop()
        queue.given_up += 1
        return "skipped"
    try:
        result = await call(payload)
    except Disconnected:
        return "offline"
    except TimeoutError:
        return "retry"
    except CallFailed:
        message.attempts += 1
        if message.attempts >= attempts:
            queue.pop()
            queue.given_up += 1
            return "given_up"
        return "retry"
    # The head may have been removed meanwhile only by another sender; there is one per charge point.
    if queue.peek() is message:
        queue.pop()
    queue.delivered += 1
    if message.on_result is not None:
        message.on_result(result)
    return "sent"
