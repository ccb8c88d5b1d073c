"""Splitting 2.0.1 requests within the station's ItemsPerMessage / BytesPerMessage, and merging the answers.

chargepoints.ocpp.v201.split is pure: no database, no Django.
"""

import itertools
import json

import pytest

from chargepoints.ocpp import rpc
from chargepoints.ocpp.v201.split import frame_bytes, merge, split


def get(name: str, component: str = "OCPPCommCtrlr") -> dict:
    return {"component": {"name": component}, "variable": {"name": name}}


def put(name: str, value: str, component: str = "OCPPCommCtrlr") -> dict:
    return {"attributeValue": value, **get(name, component)}


def got(name: str, value: str = "1", status: str = "Accepted") -> dict:
    return {"attributeStatus": status, "attributeValue": value, **get(name)}


FIVE = [get(f"Var{i}") for i in range(5)]


def names(part: dict, key: str = "getVariableData") -> list[str]:
    return [entry["variable"]["name"] for entry in part[key]]


# --- split ---------------------------------------------------------------------------------------


def test_it_splits_get_variables_by_items_per_message():
    parts = split("GetVariables", {"getVariableData": FIVE}, items_per_message=2, bytes_per_message=None)

    assert [names(part) for part in parts] == [["Var0", "Var1"], ["Var2", "Var3"], ["Var4"]]


def test_it_splits_set_variables_by_bytes_per_message_filling_each_part_as_far_as_it_fits():
    entries = [put(f"Var{i}", "x" * 10) for i in range(5)]
    two_fit = frame_bytes("SetVariables", {"setVariableData": entries[:2]})

    parts = split("SetVariables", {"setVariableData": entries}, items_per_message=None, bytes_per_message=two_fit)

    assert [names(part, "setVariableData") for part in parts] == [["Var0", "Var1"], ["Var2", "Var3"], ["Var4"]]
    assert all(frame_bytes("SetVariables", part) <= two_fit for part in parts)


def test_a_frame_one_byte_short_of_the_limit_moves_the_last_entry_to_the_next_part():
    entries = [put(f"Var{i}", "x" * 10) for i in range(4)]
    two_fit = frame_bytes("SetVariables", {"setVariableData": entries[:2]})

    parts = split("SetVariables", {"setVariableData": entries}, items_per_message=None, bytes_per_message=two_fit - 1)

    assert [len(part["setVariableData"]) for part in parts] == [1, 1, 1, 1]


def test_each_part_keeps_within_both_limits_and_the_entries_keep_their_order():
    entries = [put(f"Var{i}", "é" * (i * 37 % 90)) for i in range(40)]
    limit_bytes = 400

    parts = split("SetVariables", {"setVariableData": entries}, items_per_message=3, bytes_per_message=limit_bytes)

    assert [entry for part in parts for entry in part["setVariableData"]] == entries
    for part in parts:
        assert 1 <= len(part["setVariableData"]) <= 3
        assert frame_bytes("SetVariables", part) <= limit_bytes
    # Greedy: no part could have taken the next part's first entry.
    for part, following in itertools.pairwise(parts):
        grown = {"setVariableData": part["setVariableData"] + following["setVariableData"][:1]}
        assert len(grown["setVariableData"]) > 3 or frame_bytes("SetVariables", grown) > limit_bytes


def test_an_entry_too_large_alone_still_goes_alone_in_its_part():
    entries = [put("Small0", "a"), put("Huge", "x" * 1000), put("Small1", "b"), put("Small2", "c")]
    limit_bytes = frame_bytes("SetVariables", {"setVariableData": entries[2:]})

    parts = split("SetVariables", {"setVariableData": entries}, items_per_message=None, bytes_per_message=limit_bytes)

    assert [names(part, "setVariableData") for part in parts] == [["Small0"], ["Huge"], ["Small1", "Small2"]]


@pytest.mark.parametrize(
    "items, size",
    [(None, None), (5, None), (None, 10_000), (5, 10_000), (100, 100_000)],
)
def test_a_payload_within_the_limits_is_one_part_unchanged(items, size):
    payload = {"getVariableData": FIVE}

    parts = split("GetVariables", payload, items_per_message=items, bytes_per_message=size)

    assert parts == [payload]
    assert parts[0] is payload


def test_a_payload_of_exactly_the_byte_limit_is_not_split():
    payload = {"getVariableData": FIVE}

    exactly = frame_bytes("GetVariables", payload)

    assert split("GetVariables", payload, items_per_message=None, bytes_per_message=exactly) == [payload]


def test_the_bytes_counted_are_those_of_the_compact_utf8_call_frame_with_the_longest_unique_id():
    payload = {"setVariableData": [put("Greeting", "Grüß Gott ⚡")]}

    counted = frame_bytes("SetVariables", payload)

    assert counted == len(rpc.call_frame("x" * 36, "SetVariables", payload).encode("utf-8"))
    assert counted > len(rpc.call_frame("x" * 36, "SetVariables", payload)), "bytes, not characters"
    assert counted < len(json.dumps([2, "x" * 36, "SetVariables", payload])), "no spaces, no \\u escapes"


def test_get_report_is_split_by_component_variable_and_every_part_keeps_the_other_fields():
    wanted = [{"component": {"name": f"C{i}"}} for i in range(3)]
    payload = {"requestId": 7, "componentCriteria": ["Available"], "componentVariable": wanted}

    parts = split("GetReport", payload, items_per_message=2, bytes_per_message=None)

    assert [part["componentVariable"] for part in parts] == [wanted[:2], wanted[2:]]
    assert all(part["requestId"] == 7 and part["componentCriteria"] == ["Available"] for part in parts)
    assert [list(part) for part in parts] == [list(payload)] * 2, "field order kept"


def test_get_report_parts_leave_room_for_the_wider_request_id_the_later_parts_get():
    entries = [{"component": {"name": f"Comp{i}"}} for i in range(6)]
    payload = {"requestId": 1, "componentVariable": entries}
    limit_bytes = frame_bytes("GetReport", {**payload, "componentVariable": entries[:3]}) + 5

    parts = split("GetReport", payload, items_per_message=None, bytes_per_message=limit_bytes)

    assert len(parts) > 2
    for part in parts:
        assert frame_bytes("GetReport", {**part, "requestId": 2**63 - 1}) <= limit_bytes


def test_a_get_report_without_component_variable_is_never_split():
    payload = {"requestId": 7, "componentCriteria": ["Active", "Available", "Enabled", "Problem"]}

    assert split("GetReport", payload, items_per_message=1, bytes_per_message=10) == [payload]


def test_other_actions_are_never_split():
    payload = {"requestId": 7, "reportBase": "FullInventory"}

    assert split("GetBaseReport", payload, items_per_message=1, bytes_per_message=10) == [payload]


def test_a_limit_below_one_is_refused():
    with pytest.raises(ValueError):
        split("GetVariables", {"getVariableData": FIVE}, items_per_message=0, bytes_per_message=None)


# --- merge ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("action, key", [("GetVariables", "getVariableResult"), ("SetVariables", "setVariableResult")])
def test_variable_results_are_concatenated_in_the_parts_order_into_a_schema_valid_answer(action, key):
    answers = [{key: [got("Var0"), got("Var1")]}, {key: [got("Var2", status="UnknownVariable")]}, {key: [got("Var3")]}]
    if action == "SetVariables":
        answers = [{key: [{k: v for k, v in r.items() if k != "attributeValue"} for r in a[key]]} for a in answers]

    merged = merge(action, answers)

    assert [result["variable"]["name"] for result in merged[key]] == ["Var0", "Var1", "Var2", "Var3"]
    assert merged[key][2]["attributeStatus"] == "UnknownVariable"
    rpc.validate_payload("2.0.1", action, merged, response=True)


ACCEPTED = {"status": "Accepted"}
EMPTY = {"status": "EmptyResultSet"}
REJECTED = {"status": "Rejected", "statusInfo": {"reasonCode": "TooManyElements"}}
NOT_SUPPORTED = {"status": "NotSupported"}


@pytest.mark.parametrize(
    "answers, expected",
    [
        ([ACCEPTED, ACCEPTED, ACCEPTED], ACCEPTED),
        ([EMPTY, EMPTY], EMPTY),
        ([ACCEPTED, EMPTY], ACCEPTED),
        ([EMPTY, ACCEPTED, EMPTY], ACCEPTED),
        ([ACCEPTED, REJECTED, NOT_SUPPORTED], REJECTED),
        ([EMPTY, NOT_SUPPORTED, REJECTED], NOT_SUPPORTED),
        ([REJECTED, ACCEPTED], REJECTED),
    ],
)
def test_get_report_answers_one_status_by_the_documented_rule(answers, expected):
    merged = merge("GetReport", answers)

    assert merged == expected
    rpc.validate_payload("2.0.1", "GetReport", merged, response=True)


def test_a_single_answer_is_returned_as_it_came():
    answer = {"getVariableResult": [got("Var0")]}

    assert merge("GetVariables", [answer]) == answer


def test_merging_nothing_or_an_action_never_split_is_refused():
    with pytest.raises(ValueError):
        merge("GetVariables", [])
    with pytest.raises(ValueError):
        merge("Reset", [ACCEPTED, ACCEPTED])
