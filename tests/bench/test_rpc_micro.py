"""The rpc micro-benchmark (bench/rpc_micro.py) measures what it says, on frames the server accepts."""

import json

from bench import rpc_micro
from chargepoints.ocpp import rpc


def test_its_frames_and_answers_are_valid_so_it_times_the_path_every_frame_takes():
    for version, text in rpc_micro.FRAMES.values():
        call = rpc.parse_frame(text)
        rpc.validate_payload(version, call.action, call.payload)
        rpc._validate_slowly(version, call.action + rpc.REQUEST_SUFFIX[version], call.payload, None)
    for version, action, payload in rpc_micro.ANSWERS.values():
        rpc.validate_payload(version, action, payload, response=True)
        assert json.loads(rpc.call_result_frame("u", payload)) == [3, "u", payload]


def test_it_reports_old_and_new_microseconds_for_every_frame_and_answer():
    results = rpc_micro.measure(budget_s=0.01)
    assert set(results["frames"]) == set(rpc_micro.FRAMES)
    assert set(results["answers"]) == set(rpc_micro.ANSWERS)
    for figures in results["frames"].values():
        assert figures["old"]["median_us"] > 0 and figures["new"]["median_us"] > 0
    lines = rpc_micro.print_lines({"results": results})
    assert lines[0].startswith("rpc — µs per frame") and len(lines) == 2 + len(rpc_micro.FRAMES) + 1 + len(rpc_micro.ANSWERS)


def test_the_old_parser_is_put_back_after_timing_it():
    loads = rpc._loads
    with rpc_micro._old_parser():
        assert rpc._loads is json.loads
    assert rpc._loads is loads
