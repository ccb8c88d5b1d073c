"""A station's script: answers that differ from its own, and a record of its CALLs, for tests and drills.

Every `Station` has one (`station.script`). As built it changes nothing and
records nothing, so a fleet of thousands pays nothing for it. Turn on what
is needed, by action name:

    script = station.script
    script.record = True                                   # or StationSettings / SimulationOptions(record=True)
    script.silent.add("ClearCache")                        # never answer ClearCache
    script.delays_s["UnlockConnector"] = 1.5               # answer UnlockConnector 1.5 s late
    script.answers["ClearCache"] = {"status": "Rejected"}  # answer with this CALLRESULT payload (camelCase)
    script.answers["ReserveNow"] = CallError("NotImplemented", "no reservations on this unit")
    script.received[-1]  # ("ClearCache", {}): the last CALL from the central system, payload as on the wire
    script.sent[-1]      # ("Heartbeat", call.Heartbeat(), its answer): the last CALL of the station

A scripted answer replaces the station's handler, so nothing follows it (a
scripted Reset answer reboots nothing). A callable answer gets the CALL's
payload and returns a payload, a `CallError`, or None to let the station
answer itself. A delay holds the whole connection: the `ocpp` library reads
one frame at a time, so frames behind the delayed CALL wait too, as behind a
charger busy writing to flash. Silence and delays come before the answer.

The state is plain lists, sets and dicts; a change made from another thread
(the test thread of a `runner.BackgroundSimulation`) applies from the next
frame on.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class CallError:
    """A CALLERROR to answer with (OCPP-J §4.2.3): `code` is an ErrorCode such as NotImplemented or NotSupported."""

    code: str
    description: str = ""
    details: dict = field(default_factory=dict)

    def frame(self, unique_id: str) -> list:
        return [4, unique_id, self.code, self.description, self.details]


Answer = dict | CallError | Callable[[dict], dict | CallError | None]


class Script:
    """What one station does differently from its handlers, and (with `record`) what it received and sent.

    `received`: (action, payload) of every CALL from the central system, in
    arrival order, the payload a dict as on the wire (camelCase). `sent`:
    (action, request, answer) of every CALL the station made, the request
    and answer being the `ocpp` call / call_result dataclasses; answer None
    when no CALLRESULT came (a CALLERROR, a timeout, a lost connection).
    """

    def __init__(self, *, record: bool = False):
        self.record = record
        self.received: list[tuple[str, dict]] = []
        self.sent: list[tuple[str, object, object]] = []
        self.silent: set[str] = set()
        self.delays_s: dict[str, float] = {}
        self.answers: dict[str, Answer] = {}

    @property
    def active(self) -> bool:
        """Whether incoming frames need a look at all (False: they go straight to the handlers)."""
        return bool(self.record or self.silent or self.delays_s or self.answers)

    async def incoming(self, raw: str) -> tuple[bool, list | None]:
        """Look at one frame from the central system before the handlers do; returns (handled, reply frame).

        Not handled: route the frame as usual (it may have been recorded and
        delayed). Handled: the handlers never see it; send the reply frame,
        if any (None: left unanswered).
        """
        try:
            frame = json.loads(raw)
        except ValueError:
            return False, None
        if not (isinstance(frame, list) and len(frame) == 4 and frame[0] == 2 and isinstance(frame[2], str)):
            return False, None
        unique_id, action, payload = frame[1], frame[2], frame[3]
        if self.record:
            self.received.append((action, payload))
        if action in self.silent:
            return True, None
        delay_s = self.delays_s.get(action)
        if delay_s:
            await asyncio.sleep(delay_s)
        answer = self.answers.get(action)
        if callable(answer):
            answer = answer(payload)
        if answer is None:
            return False, None
        if isinstance(answer, CallError):
            return True, answer.frame(unique_id)
        return True, [3, unique_id, answer]

    def outgoing(self, request, answer) -> None:
        """Note a CALL the station made and its answer (None when none came)."""
        if self.record:
            self.sent.append((type(request).__name__, request, answer))
