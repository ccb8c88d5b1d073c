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
    """Run all six scenarios with 3 charge points for 2 s each (dashboard: 30 registered); returns results.json as a dict."""
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
            "--changes",
            "4",
            "--page-loads",
            "2",
            "--requests",
            "3",
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
    assert set(bench_results["scenarios"]) == {"throughput", "idle", "bootstorm", "command", "dashboard", "rpc"}
    for heading in (
        "throughput — 3 charge points",
        "idle — 3 charge points",
        "bootstorm — 3 charge points",
        "command — API commands",
        "dashboard — 30 charge points registered, 3 connected",
        "rpc — µs per frame in the RPC layer",
    ):
        assert heading in bench_results["stdout"]


def test_throughput_counts_answered_calls_and_the_rows_they_stored(bench_results):
    r = bench_results["scenarios"]["throughput"]["results"]
    assert r["charge_points_up"] == 3
    assert r["calls_ok"] > 0 and r["errors"] == {}
    assert r["calls_ok"] == r["transactions_started"] + r["meter_values_ok"]
    assert r["rows_stored"] == r["rows_expected"] == r["meter_values_ok"] * 2
    assert r["transactions_stored"] == r["transactions_started"]
    assert r["latency_ms"]["count"] == r["calls_ok"]


def test_throughput_drives_the_baseline_in_the_same_run_and_prints_the_ratio(bench_results):
    r = bench_results["scenarios"]["throughput"]["results"]
    baseline = r["baseline"]
    assert baseline["charge_points_up"] == 3 and baseline["errors"] == {}
    assert baseline["calls_ok"] == baseline["transactions_started"] + baseline["meter_values_ok"] > 0
    assert r["vs_baseline"]["calls_per_s"] == round(r["calls_per_s"] / baseline["calls_per_s"], 2)
    assert "baseline (bare ocpp server)" in bench_results["stdout"] and "× baseline" in bench_results["stdout"]


def test_throughput_then_paces_the_load_at_half_the_closed_loop_rate(bench_results):
    r = bench_results["scenarios"]["throughput"]["results"]
    half = r["half_rate"]
    assert abs(half["target_calls_per_s"] - r["calls_per_s"] / 2) <= 0.1
    assert half["latency_ms"]["count"] > 0 and half["latency_ms"]["p99"] is not None
    assert "at half that rate" in bench_results["stdout"]


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


def test_dashboard_measures_the_page_and_sees_every_status_change_pushed(bench_results):
    r = bench_results["scenarios"]["dashboard"]["results"]
    assert r["charge_points_up"] == 3 and r["setup_failures"] == {}
    assert r["counts"]["total"] == 30 and r["counts"]["online"] == 3
    for name, page in r["pages"].items():
        assert page["status"] == 200, name
        assert page["ms"]["count"] == 3 and page["ms"]["p50"] > 0
    # Chromium is installed wherever the suite runs the browser tests (.ci/run); without it the scenario says so.
    paint = r["first_paint"]
    if "not_measured" not in paint:
        assert paint["ms"]["first_contentful_paint"]["count"] == 2
        assert paint["rows_shown"] == 30  # a page of 50: the whole fleet, as signed-in staff
    assert r["status_change"]["shown"] == r["status_change"]["changes"] == 4
    assert r["burst"]["rows_shown"] == r["burst"]["watched"] == 3
    assert r["burst"]["errors"] == {} and r["burst"]["messages"] >= 1


def test_the_charge_points_authenticate_at_security_profile_1_by_default(bench_results):
    for name, scenario in bench_results["scenarios"].items():
        if name != "rpc":  # in-process, no charge points
            assert scenario["config"]["security_profile"] == "1"


def test_the_baseline_scenario_runs_alone(tmp_path):
    env = {**os.environ}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    result = subprocess.run(
        [sys.executable, "-m", "bench", "baseline", "--charge-points", "2", "--duration", "1", "--output-dir", str(tmp_path)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    data = json.loads((tmp_path / "baseline.json").read_text())
    r = data["results"]
    assert r["charge_points_up"] == 2 and r["errors"] == {} and r["sockets_closed_by_server"] == 0
    assert r["transactions_started"] > 0 and r["meter_values_ok"] > 0
    assert "baseline — 2 charge points" in result.stdout


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


def test_bootstorm_and_idle_run_from_several_client_processes(tmp_path):
    env = {**os.environ}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "bootstorm",
            "idle",
            "--charge-points",
            "5",
            "--client-processes",
            "2",
            "--duration",
            "1",
            "--output-dir",
            str(tmp_path),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    storm = json.loads((tmp_path / "bootstorm.json").read_text())
    assert storm["config"]["client_processes"] == 2
    r = storm["results"]
    assert r["accepted"] == r["status_reported"] == r["boots_stored"] == 5 and r["failures"] == {}
    assert r["accepted_ms"]["count"] == 5 and 0 < r["all_accepted_s"] <= r["all_reported_s"]
    idle = json.loads((tmp_path / "idle.json").read_text())["results"]
    assert idle["charge_points_up"] == 5 and idle["failures"] == {} and idle["sockets_closed_by_server"] == 0


def test_large_fleets_connect_from_several_loopback_addresses():
    from bench.clients import check_capacity, source_address

    assert source_address(0, 20000) is None
    assert [source_address(i, 50000) for i in (0, 19999, 20000, 49999)] == ["127.0.0.1", "127.0.0.1", "127.0.0.2", "127.0.0.3"]
    with pytest.raises(ValueError, match="--client-processes 3"):
        check_capacity(50000, 1, 20000)
    check_capacity(50000, 3, 20000)


async def test_the_lean_client_connects_from_its_source_address():
    from websockets.asyncio.server import serve

    from bench.lean import LeanChargePoint

    peers = []

    async def record(ws):
        peers.append(ws.remote_address[0])
        await ws.wait_closed()

    async with serve(record, "127.0.0.1", 0, subprotocols=["ocpp1.6"]) as server:
        url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/ocpp/BENCH-0001"
        cp = LeanChargePoint("BENCH-0001", url, source_address="127.0.0.2")
        await cp.connect(timeout_s=5)
        await cp.close()
    assert peers == ["127.0.0.2"]


def test_throughput_runs_against_several_workers(tmp_path):
    from tests.e2e.test_multiprocess import shared_redis_url

    env = {**os.environ, "REDIS_URL": shared_redis_url()}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    result = subprocess.run(
        [sys.executable, "-m", "bench", "throughput", "--workers", "2", "--no-baseline", "--charge-points", "4", "--duration", "1"]
        + ["--output-dir", str(tmp_path)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    data = json.loads((tmp_path / "throughput.json").read_text())
    assert data["config"]["workers"] == 2
    r = data["results"]
    assert r["charge_points_up"] == 4 and r["errors"] == {} and r["baseline"] is None
    assert r["rows_stored"] == r["rows_expected"] == r["meter_values_ok"] * 2
    assert "2 server workers" in result.stdout


def test_the_mqtt_scenario_runs_the_load_through_the_gateway_and_the_broker_beside_websocket(tmp_path):
    # Mosquitto at MQTT_TEST_URL as tests/mqtt/ use it; when it is down the bench exits 1 and this fails (never skips).
    env = {**os.environ, "MQTT_URL": os.environ.get("MQTT_TEST_URL", "mqtt://127.0.0.1:1883")}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    result = subprocess.run(
        [sys.executable, "-m", "bench", "mqtt", "--charge-points", "3", "--duration", "2", "--output-dir", str(tmp_path)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    data = json.loads((tmp_path / "mqtt.json").read_text())
    r = data["results"]["mqtt"]
    assert r["charge_points_up"] == 3 and r["errors"] == {} and r["sockets_closed_by_server"] == 0
    assert r["calls_ok"] > 0 and r["transactions_started"] > 0 and r["meter_values_ok"] > 0
    assert r["rows_stored"] == r["rows_expected"] == r["meter_values_ok"] * 2
    assert r["transactions_stored"] == r["transactions_started"]
    assert {"gateway", "worker"} <= set(r["cpu_percent"])
    # The WebSocket run of the same invocation, and the ratio between them.
    assert data["results"]["websocket"]["calls_ok"] > 0
    assert data["results"]["vs_websocket"]["calls_per_s"] is not None
    assert "mqtt — 3 charge points" in result.stdout
    assert "WebSocket (daphne)" in result.stdout and "MQTT (gateway → Mosquitto → ocpp_mqtt)" in result.stdout
    assert "MQTT/WebSocket: CALL/s" in result.stdout
