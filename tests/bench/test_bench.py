"""`make bench` itself: every scenario runs end to end at a tiny size and reports figures that add up.

The figures are not judged here (benchmarks report, they never assert speed);
these tests only keep the tool working: a scenario that silently measured
nothing, or lost rows, would show up as wrong counts.
"""

import json
import os
import subprocess
import sys

import pytest

from bench.deployment import REPO


@pytest.fixture(scope="module")
def bench_results(tmp_path_factory):
    """Run all four scenarios with 3 charge points for 2 s each; returns results.json as a dict."""
    out = tmp_path_factory.mktemp("bench")
    env = {**os.environ}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--charge-points",
            "3",
            "--duration",
            "2",
            "--rate",
            "5",
            "--load-interval",
            "0.5",
            "--output-dir",
            str(out),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    data = json.loads((out / "results.json").read_text())
    data["stdout"] = result.stdout
    return data


def test_it_runs_every_scenario_and_prints_its_table(bench_results):
    assert set(bench_results["scenarios"]) == {"throughput", "idle", "bootstorm", "command"}
    for heading in ("throughput — 3 charge points", "idle — 3 charge points", "bootstorm — 3 charge points", "command — API commands"):
        assert heading in bench_results["stdout"]


def test_throughput_counts_answered_calls_and_the_rows_they_stored(bench_results):
    r = bench_results["scenarios"]["throughput"]["results"]
    assert r["charge_points_up"] == 3
    assert r["calls_ok"] > 0 and r["errors"] == {}
    assert r["rows_stored"] == r["rows_expected"] == r["calls_ok"] * 4
    assert r["latency_ms"]["count"] == r["calls_ok"]


def test_idle_measures_the_server_holding_every_connection(bench_results):
    r = bench_results["scenarios"]["idle"]["results"]
    assert r["charge_points_up"] == 3 and r["failures"] == {}
    assert r["rss_mib"]["held"] > 0
    assert r["idle_cpu_percent"]["A"] is not None
    assert r["sockets_closed_by_server"] == 0


def test_bootstorm_reports_when_all_were_accepted(bench_results):
    r = bench_results["scenarios"]["bootstorm"]["results"]
    assert r["accepted"] == r["status_reported"] == r["boots_stored"] == 3
    assert r["failures"] == {}
    assert 0 < r["all_accepted_s"] <= r["all_reported_s"]


def test_command_round_trips_reach_the_charge_points_under_load(bench_results):
    r = bench_results["scenarios"]["command"]["results"]
    assert r["ok"] == r["requests"] == 10 and r["errors"] == {}
    assert r["calls_received_by_charge_points"] == 10
    assert r["load"]["meter_values_ok"] > 0 and r["load"]["errors"] == {}
    assert r["http_ms"]["p50"] is not None


def test_the_charge_points_authenticate_at_security_profile_1_by_default(bench_results):
    for scenario in bench_results["scenarios"].values():
        assert scenario["config"]["security_profile"] == "1"


async def test_the_lean_client_sends_basic_auth_with_its_password_and_none_without():
    from websockets.asyncio.server import serve

    from bench.deployment import basic_auth_headers, charge_point_password
    from bench.lean import LeanChargePoint

    seen = []

    def record(connection, request):
        seen.append(request.headers.get("Authorization"))

    async with serve(lambda ws: ws.wait_closed(), "127.0.0.1", 0, subprotocols=["ocpp1.6"], process_request=record) as server:
        url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/ocpp/BENCH-0001"
        for password in (charge_point_password("BENCH-0001"), None):
            cp = LeanChargePoint("BENCH-0001", url, password=password)
            await cp.connect(timeout_s=5)
            await cp.close()
    assert seen == [basic_auth_headers("BENCH-0001")["Authorization"], None]
