"""Fault injection: how a simulated charge point misbehaves on the wire, by seeded chance.

Each rate is a probability (0..1) rolled per outgoing message:

- drop: the frame is not sent. A CALL then waits for its response timeout
  and is retried like any unanswered CALL; a CALLRESULT leaves the central
  system's command waiting for its own timeout.
- duplicate: after a CALL is answered, the same request (same payload, new
  message id) is sent again — what a charger does when it lost the reply.
  OCPP-J allows one outstanding CALL, so the duplicate follows the answer.
- malformed: a broken frame (not JSON, or not an OCPP-J array) goes out
  before the real one, which still follows.
- delay: every outgoing frame waits a random 0..`delay_s` seconds first.
- disconnect_mid_transaction: before a transaction message is sent while a
  transaction runs, the TCP connection is cut without a close frame; the
  message stays queued and goes out after the reconnection.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass

BROKEN_FRAMES = (
    lambda frame: frame[: max(1, len(frame) // 2)],  # truncated
    lambda frame: frame.replace("[", "{", 1),  # not JSON
    lambda frame: '"' + frame,  # unterminated string
    lambda frame: "[2, 17]",  # JSON, but not an OCPP-J frame
)


@dataclass(frozen=True)
class FaultRates:
    """Probabilities per outgoing message (0..1); `delay_s` is the longest random delay in seconds."""

    drop: float = 0.0
    duplicate: float = 0.0
    delay_s: float = 0.0
    disconnect_mid_transaction: float = 0.0
    malformed: float = 0.0

    def __post_init__(self):
        for name in ("drop", "duplicate", "disconnect_mid_transaction", "malformed"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a probability between 0 and 1, not {value}")
        if self.delay_s < 0:
            raise ValueError(f"delay must be 0 or more seconds, not {self.delay_s}")

    @property
    def any(self) -> bool:
        return any((self.drop, self.duplicate, self.delay_s, self.disconnect_mid_transaction, self.malformed))


class FaultInjector:
    """Rolls the dice for one charge point with its own seeded `rng`; `counts` tallies what it injected."""

    def __init__(self, rates: FaultRates, rng: random.Random):
        self.rates = rates
        self.rng = rng
        self.counts: Counter = Counter()

    def _roll(self, name: str, rate: float) -> bool:
        if rate <= 0.0:
            return False
        hit = self.rng.random() < rate
        if hit:
            self.counts[name] += 1
        return hit

    def drop(self) -> bool:
        return self._roll("dropped", self.rates.drop)

    def duplicate(self) -> bool:
        return self._roll("duplicated", self.rates.duplicate)

    def disconnect(self) -> bool:
        return self._roll("disconnected", self.rates.disconnect_mid_transaction)

    def delay_s(self) -> float:
        """Seconds to hold the next frame back: uniform in 0..delay_s."""
        return self.rng.uniform(0.0, self.rates.delay_s) if self.rates.delay_s > 0 else 0.0

    def malformed(self, frame: str) -> str | None:
        """A broken frame to send before `frame`, or None."""
        if not self._roll("malformed", self.rates.malformed):
            return None
        return self.rng.choice(BROKEN_FRAMES)(frame)
