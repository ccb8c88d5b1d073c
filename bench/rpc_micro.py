"""`python -m bench rpc`: microseconds per frame in the RPC layer, the jsonschema/json path against the hot path.

In-process, no server: what `chargepoints/ocpp/rpc.py` spends on one frame
in (parse + validate) and one answer out (build the CALLRESULT), for frames
the throughput scenario's charge points send:

- 1.6 MeterValues with 2 sampled values (energy register, power)
- 1.6 StartTransaction
- 2.0.1 TransactionEvent Updated with 2 sampled values
- CALLRESULTs: the StartTransaction answer, the 2.0.1 BootNotification answer

"old" is the path before issue 14: `json.loads`, then jsonschema's
Draft4Validator (re-parsing with Decimal where the schema has multipleOf),
`json.dumps` for the answer, and the check of our own answer against its
response schema (now off unless OCPP_VALIDATE_ANSWERS). "new" is the hot path:
orjson and the compiled fastjsonschema validators. Each figure is the median
over 5 batches of the per-call time, after a warm-up (schemas loaded and
compiled once, as a server does on its first frame of each action).
"""

from __future__ import annotations

import contextlib
import json
import statistics
import time
from importlib import metadata

FRAMES = {
    "1.6 MeterValues (2 sampled values)": (
        "1.6",
        json.dumps(
            [
                2,
                "mv-000123",
                "MeterValues",
                {
                    "connectorId": 1,
                    "transactionId": 42,
                    "meterValue": [
                        {
                            "timestamp": "2026-12-05T10:00:00.123Z",
                            "sampledValue": [
                                {
                                    "value": "1234.5",
                                    "context": "Sample.Periodic",
                                    "measurand": "Energy.Active.Import.Register",
                                    "location": "Outlet",
                                    "unit": "Wh",
                                },
                                {"value": "7400", "context": "Sample.Periodic", "measurand": "Power.Active.Import", "unit": "W"},
                            ],
                        }
                    ],
                },
            ],
            separators=(",", ":"),
        ),
    ),
    "1.6 StartTransaction": (
        "1.6",
        '[2,"st-000001","StartTransaction",{"connectorId":1,"idTag":"BENCH-TAG-0001","meterStart":1000,'
        '"timestamp":"2026-12-05T10:00:00Z"}]',
    ),
    "2.0.1 TransactionEvent (2 sampled values)": (
        "2.0.1",
        json.dumps(
            [
                2,
                "te-000123",
                "TransactionEvent",
                {
                    "eventType": "Updated",
                    "timestamp": "2026-12-05T10:00:00.123Z",
                    "triggerReason": "MeterValuePeriodic",
                    "seqNo": 7,
                    "transactionInfo": {"transactionId": "BENCH-0001-1", "chargingState": "Charging"},
                    "evse": {"id": 1, "connectorId": 1},
                    "meterValue": [
                        {
                            "timestamp": "2026-12-05T10:00:00.123Z",
                            "sampledValue": [
                                {
                                    "value": 1234.5,
                                    "context": "Sample.Periodic",
                                    "measurand": "Energy.Active.Import.Register",
                                    "unitOfMeasure": {"unit": "Wh"},
                                },
                                {
                                    "value": 7400,
                                    "context": "Sample.Periodic",
                                    "measurand": "Power.Active.Import",
                                    "unitOfMeasure": {"unit": "W"},
                                },
                            ],
                        }
                    ],
                },
            ],
            separators=(",", ":"),
        ),
    ),
}

ANSWERS = {
    "1.6 StartTransaction answer": (
        "1.6",
        "StartTransaction",
        {"idTagInfo": {"status": "Accepted", "expiryDate": "2026-12-06T10:00:00+00:00"}, "transactionId": 42},
    ),
    "2.0.1 BootNotification answer": (
        "2.0.1",
        "BootNotification",
        {"currentTime": "2026-12-05T10:00:00.123456+00:00", "interval": 300, "status": "Accepted"},
    ),
}

BATCHES = 5


@contextlib.contextmanager
def _old_parser():
    """parse_frame as it was: json.loads for every frame."""
    from chargepoints.ocpp import rpc

    loads = rpc._loads
    rpc._loads = json.loads
    try:
        yield
    finally:
        rpc._loads = loads


def _per_call_us(fn, budget_s: float) -> dict:
    """Median and best µs per call of `fn` over BATCHES batches sized to fill about `budget_s`."""
    fn()  # warm-up: schema loaded and compiled
    started, calls = time.perf_counter(), 0
    while time.perf_counter() - started < budget_s / (BATCHES + 1) or calls < 10:
        fn()
        calls += 1
    per_batch = max(calls, 10)
    samples = []
    for _ in range(BATCHES):
        started = time.perf_counter_ns()
        for _ in range(per_batch):
            fn()
        samples.append((time.perf_counter_ns() - started) / per_batch / 1000)
    return {"median_us": round(statistics.median(samples), 2), "best_us": round(min(samples), 2), "calls_per_batch": per_batch}


def measure(budget_s: float = 1.0) -> dict:
    """µs per call of each step, old path and new; `budget_s` seconds for each figure. Shapes as in `run`'s "results"."""
    from chargepoints.ocpp import rpc

    results = {"frames": {}, "answers": {}}
    for label, (version, text) in FRAMES.items():

        def old(version=version, text=text):
            call = rpc.parse_frame(text)
            rpc._validate_slowly(version, call.action + rpc.REQUEST_SUFFIX[version], call.payload, call.unique_id)

        def new(version=version, text=text):
            call = rpc.parse_frame(text)
            rpc.validate_payload(version, call.action, call.payload, unique_id=call.unique_id)

        with _old_parser():
            old_us = _per_call_us(old, budget_s)
        new_us = _per_call_us(new, budget_s)
        results["frames"][label] = {"old": old_us, "new": new_us, "speedup": round(old_us["median_us"] / new_us["median_us"], 1)}

    for label, (version, action, payload) in ANSWERS.items():

        def old_build(payload=payload):
            return rpc._json_dumps([3, "st-000001", payload])

        def old_check(version=version, action=action, payload=payload):
            rpc._validate_slowly(version, action + "Response", payload, None)

        def new_build(payload=payload):
            return rpc.call_result_frame("st-000001", payload)

        build_old, check_old, build_new = (_per_call_us(f, budget_s) for f in (old_build, old_check, new_build))
        old_total = round(build_old["median_us"] + check_old["median_us"], 2)
        results["answers"][label] = {
            "old_build": build_old,
            "old_check_of_our_answer": check_old,
            "old_total_us": old_total,
            "new_build": build_new,
            "speedup": round(old_total / build_new["median_us"], 1),
        }
    return results


def run(args, log) -> dict:
    """The `rpc` scenario: `args.duration` seconds spread over its figures. Returns config and results (see `measure`)."""
    figures = len(FRAMES) * 2 + len(ANSWERS) * 3
    budget_s = args.duration / figures
    log(f"  {figures} figures, about {budget_s:.2f} s each, in this process (no server)")
    versions = {name: metadata.version(name) for name in ("jsonschema", "fastjsonschema", "orjson")}
    return {"config": {"budget_s_per_figure": round(budget_s, 3), "batches": BATCHES, **versions}, "results": measure(budget_s)}


def print_lines(data: dict) -> list[str]:
    r = data["results"]
    lines = [
        "rpc — µs per frame in the RPC layer, old (json + jsonschema) vs new (orjson + fastjsonschema), median of 5 batches",
        f"  {'parse + validate':<46}{'old':>10}{'new':>10}{'×':>7}",
    ]
    for label, f in r["frames"].items():
        lines.append(f"  {label:<46}{f['old']['median_us']:>10.1f}{f['new']['median_us']:>10.1f}{f['speedup']:>7.1f}")
    lines.append(f"  {'CALLRESULT build (old: + check of our answer)':<46}{'old':>10}{'new':>10}{'×':>7}")
    for label, a in r["answers"].items():
        old = f"{a['old_build']['median_us']:.1f}+{a['old_check_of_our_answer']['median_us']:.1f}"
        lines.append(f"  {label:<46}{old:>10}{a['new_build']['median_us']:>10.1f}{a['speedup']:>7.1f}")
    return lines
