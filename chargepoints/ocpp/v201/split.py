"""Split an OCPP 2.0.1 request too large for the station into parts it accepts, and merge their answers.

A station states in its device model (2.0.1 Part 2 §2, DeviceDataCtrlr) how
many entries and bytes it takes in one GetVariables, SetVariables or GetReport
request: variables `ItemsPerMessage` and `BytesPerMessage` with instance
`GetVariables`, `SetVariables` or `GetReport`. Past them it refuses the whole
request: CALLERROR OccurrenceConstraintViolation (too many entries) or
FormatViolation (too many bytes) — B05 (SetVariables), B06.FR.16/.17
(GetVariables), B08.FR.17/.18 (GetReport) — and some stations answer Rejected
with reasonCode TooManyElements or TooLargeElement instead.

    parts = split("GetVariables", payload, items_per_message=2, bytes_per_message=None)
    answers = [send(part) for part in parts]
    merge("GetVariables", answers)

Pure Python, no Django: the caller finds the limits and sends the parts
(`chargepoints.commands`).

How bytes are counted: the length in UTF-8 of the whole OCPP-J CALL frame
`[2,"<unique id>","<Action>",<payload>]` serialised compactly (no spaces after
`,` and `:`; non-ASCII characters as themselves, not `\\uXXXX`), which is
how the consumer writes frames (`rpc.call_frame`). The unique id is counted
at 36 characters, the longest OCPP-J allows (ours are 32), so a frame is
never longer than counted. The spec does not say whether BytesPerMessage
counts the frame or the payload; the frame is the larger, so counting it is
the safe reading. Values JSON cannot hold (Decimal, datetime) are counted as
their `str()`.
"""

from __future__ import annotations

import json

# Action → (the request's list the station counts, the answer's list of results; None: the answer has none).
LISTS: dict[str, tuple[str, str | None]] = {
    "GetVariables": ("getVariableData", "getVariableResult"),
    "SetVariables": ("setVariableData", "setVariableResult"),
    "GetReport": ("componentVariable", None),
}
ACTIONS = frozenset(LISTS)

UNIQUE_ID_LENGTH = 36  # the longest unique id OCPP-J allows (as rpc.MAX_UNIQUE_ID_LENGTH)
# Every part of a GetReport after the first gets a requestId of its own, drawn
# after splitting: parts are measured with the id as wide as any the CSMS can
# draw (a 64-bit id series, 19 digits), so no new id can push one past the limit.
WIDEST_REQUEST_ID = 2**63 - 1


def frame_bytes(action: str, payload: dict) -> int:
    """The length in UTF-8 bytes of the CALL frame carrying `payload` (see the module docstring)."""
    return len(_dumps([2, "0" * UNIQUE_ID_LENGTH, action, payload]).encode("utf-8"))


def split(action: str, payload: dict, *, items_per_message: int | None, bytes_per_message: int | None) -> list[dict]:
    """`payload` as one or more payloads of `action`, each within both limits; items keep their order.

    action: GetVariables (splits getVariableData), SetVariables
    (setVariableData) or GetReport (componentVariable; other fields, such as
    componentCriteria and requestId, are copied to every part — the caller
    gives each part after the first a requestId of its own). A GetReport
    without componentVariable, any other action, and a payload within the
    limits are returned as the single part `[payload]`, unchanged.
    items_per_message: most entries per part; bytes_per_message: most bytes
    of a part's CALL frame (`frame_bytes`); None is no limit.

    Parts are filled greedily in order. An entry that alone makes its frame
    longer than bytes_per_message still goes, alone in its part: the station
    answers what it answers (a CALLERROR for that part).

    Raises ValueError for a limit below 1.
    """
    for name, limit in (("items_per_message", items_per_message), ("bytes_per_message", bytes_per_message)):
        if limit is not None and limit < 1:
            raise ValueError(f"{name} must be at least 1, not {limit!r}")
    if action not in LISTS:
        return [payload]
    key = LISTS[action][0]
    items = payload.get(key)
    if not isinstance(items, list) or len(items) < 2 or _fits(action, payload, items_per_message, bytes_per_message):
        return [payload]

    # The compact list is "[" + ",".join(items) + "]": a part's frame is the
    # frame with an empty list, plus its items, plus the commas between them.
    empty = {**payload, key: []}
    if action == "GetReport" and "requestId" in empty and len(_dumps(empty["requestId"])) < len(str(WIDEST_REQUEST_ID)):
        empty["requestId"] = WIDEST_REQUEST_ID
    base = frame_bytes(action, empty)
    parts: list[list] = []
    current: list = []
    size = base
    for item in items:
        item_bytes = len(_dumps(item).encode("utf-8"))
        grown = size + item_bytes + (1 if current else 0)
        too_many = items_per_message is not None and len(current) >= items_per_message
        too_large = bytes_per_message is not None and grown > bytes_per_message
        if current and (too_many or too_large):
            parts.append(current)
            current, grown = [], base + item_bytes
        current.append(item)
        size = grown
    parts.append(current)
    return [{**payload, key: part} for part in parts]


def merge(action: str, responses: list[dict]) -> dict:
    """One answer of `action` from the answers to its parts, in the parts' order; valid against the official schema.

    GetVariables / SetVariables: the getVariableResult / setVariableResult
    lists concatenated in order, so the merged answer holds one result per
    entry requested, in the order requested, as one answer would (B06.FR.01;
    B05 likewise). Any other field (customData) is the first part's.

    GetReport (B08) answers one status for the whole request, and the merged
    status follows what the operator then sees arrive as NotifyReport:
    Accepted when every part was Accepted; else the first part whose status
    is neither Accepted nor EmptyResultSet (Rejected, NotSupported) decides,
    as one refused part means the report asked for is not coming in full;
    EmptyResultSet only when every part was (no variable asked for matched);
    a mix of Accepted and EmptyResultSet is Accepted (a report is coming, of
    the parts that matched). The merged answer is that deciding part's answer
    (status, statusInfo, customData), copied.

    A single answer is returned as is (copied). Raises ValueError for no
    answers or an action `split` does not split.
    """
    if not responses:
        raise ValueError("no answers to merge")
    if action not in LISTS:
        raise ValueError(f"{action} answers are not merged")
    if len(responses) == 1:
        return dict(responses[0])
    results_key = LISTS[action][1]
    if results_key is not None:
        merged = dict(responses[0])
        merged[results_key] = [result for response in responses for result in response.get(results_key) or []]
        return merged
    statuses = [response.get("status") for response in responses]
    if all(status == "Accepted" for status in statuses):
        return dict(responses[0])
    if all(status == "EmptyResultSet" for status in statuses):
        return dict(responses[0])
    for response in responses:
        if response.get("status") not in ("Accepted", "EmptyResultSet"):
            return dict(response)
    return dict(next(response for response in responses if response.get("status") == "Accepted"))


def _fits(action: str, payload: dict, items_per_message: int | None, bytes_per_message: int | None) -> bool:
    items = payload[LISTS[action][0]]
    if items_per_message is not None and len(items) > items_per_message:
        return False
    return bytes_per_message is None or frame_bytes(action, payload) <= bytes_per_message


def _dumps(value) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
