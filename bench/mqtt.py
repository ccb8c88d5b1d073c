"""The `mqtt` scenario of `make bench` (issue 15): the throughput load through the broker, beside the WebSocket figure.

    python -m bench mqtt --charge-points 10 --duration 5
    MQTT_URL=mqtt://broker:1883 python -m bench mqtt --no-websocket

The same closed loop as `throughput` (bench/scenarios.py: N lean charge
points, StartTransaction then MeterValues with 2 sampled values, back to
back), but the charge points connect to the development gateway
(`manage.py ocpp_mqtt_gateway`), which relays every frame over the broker
(MQTT_URL, default mqtt://127.0.0.1:1883) to one `manage.py ocpp_mqtt`
back-end worker. Both run with the bench deployment's env (its database,
channel layer, security profile) and topic templates, share group and client
ids under a prefix of the run's own, so several runs on one broker never
read each other's messages. By default the WebSocket `throughput` (daphne,
no baseline, no half rate) runs first in the same run, and the MQTT figures
are reported against it.

`start_gateway` and `start_worker` start the two processes for anyone
(tests/mqtt/processes.py uses them too); they raise HarnessError with the
log tail when a process exits or is not ready in time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import time
import urllib.parse
import uuid
from pathlib import Path

from bench import scenarios
from bench.deployment import LOOPBACK, REPO, Server, _die_with_parent, free_port, tail
from bench.harness import HarnessError
from bench.measure import server_log_exceptions

DEFAULT_MQTT_URL = "mqtt://127.0.0.1:1883"
# What the two processes log once they can work (at INFO: OCPP_LOG_LEVEL is raised for them).
GATEWAY_READY = "gateway: connected to the broker"
WORKER_READY = "ocpp_mqtt: serving"
# EMQX's default topic templates, put under the run's prefix.
TOPICS = {
    "MQTT_TOPIC_UPSTREAM": "ocpp/cp/${cid}/${action}",
    "MQTT_TOPIC_REPLY": "ocpp/cp/Reply/${cid}",
    "MQTT_TOPIC_ERROR": "ocpp/cp/Error/${cid}",
    "MQTT_TOPIC_DOWNSTREAM": "ocpp/${cid}/${type}/${action}",
}


def mqtt_url() -> str:
    """The broker the scenario uses: MQTT_URL from the environment, mqtt://127.0.0.1:1883 without it."""
    return os.environ.get("MQTT_URL") or DEFAULT_MQTT_URL


def check_broker(url: str) -> None:
    """Raise HarnessError unless something listens at the broker's host and port."""
    parts = urllib.parse.urlsplit(url)
    port = parts.port or (8883 if parts.scheme == "mqtts" else 1883)
    try:
        with socket.create_connection((parts.hostname, port), timeout=3):
            return
    except OSError as exc:
        raise HarnessError(f"no MQTT broker at {parts.hostname}:{port} ({exc}); start Mosquitto or set MQTT_URL") from exc


def run_env(url: str, prefix: str) -> dict[str, str]:
    """The env the gateway and worker get beyond the deployment's: the broker, topics, share group and client ids under `prefix`."""
    return {
        "MQTT_URL": url,
        "MQTT_SHARE_GROUP": prefix,
        "MQTT_CLIENT_ID_PREFIX": prefix,
        **{name: f"{prefix}/{template}" for name, template in TOPICS.items()},
    }


def _start(name: str, args: list[str], env: dict[str, str], log_dir: Path, ready: str, port: int = 0, timeout: float = 30) -> Server:
    log_path = log_dir / f"{name}.log"
    with log_path.open("w") as log_file:
        process = subprocess.Popen(
            [sys.executable, "manage.py", *args],
            cwd=REPO,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
    server = Server(name, port, process, log_path)
    deadline = time.monotonic() + timeout
    while True:
        log = server.log_tail(1000)
        if ready in log:
            return server
        if process.poll() is not None or time.monotonic() > deadline:
            stop(server)
            state = f"exited with {process.returncode}" if process.returncode is not None else f"was not ready within {timeout:g} s"
            raise HarnessError(f"{name} {state}:\n{tail(log)}")
        time.sleep(0.1)


def start_gateway(env: dict[str, str], log_dir: Path, *, name: str | None = None, timeout: float = 30) -> Server:
    """`manage.py ocpp_mqtt_gateway` on a free loopback port with `env`, once connected to the broker (`Server.ws` gives charge point URLs).

    `env` must name the broker (MQTT_URL) and log at INFO (readiness is read
    from the log). Raises HarnessError with the log tail.
    """
    port = free_port()
    args = ["ocpp_mqtt_gateway", "--host", LOOPBACK, "--port", str(port)]
    return _start(name or f"gateway-{port}", args, env, log_dir, GATEWAY_READY, port, timeout)


def start_worker(env: dict[str, str], log_dir: Path, *, name: str = "worker", timeout: float = 30) -> Server:
    """One `manage.py ocpp_mqtt` back-end worker with `env`, once subscribed. Raises HarnessError with the log tail."""
    return _start(name, ["ocpp_mqtt"], env, log_dir, WORKER_READY, 0, timeout)


def stop(server: Server, timeout: float = 10) -> None:
    """SIGTERM, then SIGKILL after `timeout` seconds; nothing when it already exited."""
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(timeout)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()


def run(args, log) -> dict:
    """The scenario: the WebSocket throughput (unless `args.websocket` is False), then the same load through the broker.

    Returns {"scenario": "mqtt", "config", "results": {"websocket", "mqtt", "vs_websocket"}}.
    Raises HarnessError when the broker is unreachable or a process does not start.
    """
    url = mqtt_url()
    check_broker(url)
    websocket = None
    if getattr(args, "websocket", True):
        log("  WebSocket (daphne):")
        ws_args = argparse.Namespace(**{**vars(args), "baseline": False, "half_rate": False})
        websocket = scenarios.throughput(ws_args, log)
    log(f"  MQTT (gateway → {_without_credentials(url)} → ocpp_mqtt):")
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    mqtt_args = argparse.Namespace(**{**vars(args), "half_rate": False})
    with scenarios.deployment(log, servers=0, id_tag=True, security_profile=args.security_profile) as dep:
        env = {**dep.env, **run_env(url, prefix), "OCPP_LOG_LEVEL": "INFO"}
        started = []
        try:
            started.append(start_gateway(env, dep.tmp, name="gateway"))
            started.append(start_worker(env, dep.tmp, name="worker"))
            gateway, worker = started
            log(f"  gateway pid {gateway.process.pid} on {gateway.ws('/ocpp/')}, worker pid {worker.process.pid}, topics under {prefix}/")
            stations = scenarios.fleet(dep, gateway, args)
            result = asyncio.run(scenarios._throughput(mqtt_args, stations, log, dep=dep, servers=started))
            result["server_log_exceptions"] = {s.name: server_log_exceptions(s) for s in started}
        finally:
            for server in started:
                stop(server)
        config = {
            "charge_points": args.charge_points,
            "ocpp": args.ocpp,
            "duration_s": args.duration,
            "calls": ["StartTransaction", "MeterValues"],
            "sampled_values_per_meter_value": scenarios.THROUGHPUT_SAMPLED_VALUES,
            "broker": _without_credentials(url),
            "topic_prefix": prefix,
            **scenarios.describe(dep),
            # describe()'s "servers" counts daphne processes: none here, the gateway and worker instead.
            "gateways": 1,
            "mqtt_workers": 1,
        }
    ws_result = websocket["results"] if websocket else None
    return {
        "scenario": "mqtt",
        "config": config,
        "results": {"websocket": ws_result, "mqtt": result, "vs_websocket": scenarios.versus(result, ws_result)},
    }


def print_lines(data: dict) -> list[str]:
    """The lines of `mqtt`'s table: CALL/s, p50/p99 ms per path and MQTT ÷ WebSocket, then counts and CPU of the MQTT path."""
    c, res = data["config"], data["results"]
    ws, r, vs = res["websocket"], res["mqtt"], res["vs_websocket"]
    errors = ", ".join(f"{k}: {v}" for k, v in r["errors"].items()) or "none"
    lines = [
        f"mqtt — {c['charge_points']} charge points (OCPP {c['ocpp']}), StartTransaction then MeterValues "
        f"({c['sampled_values_per_meter_value']} sampled values) back-to-back for {c['duration_s']:g} s",
        f"  {c['database']}, {c['channel_layer']}, broker {c['broker']}, one gateway, one ocpp_mqtt worker",
        f"  {'':<40}{'CALL/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'× WebSocket':>13}",
    ]
    if ws:
        lines.append(_row("WebSocket (daphne)", ws, 1.0))
    lines.append(_row("MQTT (gateway → Mosquitto → ocpp_mqtt)", r, vs["calls_per_s"] if vs else None))
    if vs:
        lines.append(f"  MQTT/WebSocket: CALL/s {_dash(vs['calls_per_s'], '×')}, p50 {_dash(vs['p50'], '×')}, p99 {_dash(vs['p99'], '×')}")
    lines += [
        f"  MQTT: charge points up {r['charge_points_up']}   setup failures {r['setup_failures'] or 'none'}",
        f"  MQTT: CALLs answered {r['calls_ok']} in {r['window_s']} s: {r['transactions_started']} StartTransaction,"
        f" {r['meter_values_ok']} MeterValues",
        f"  MQTT: errors {errors}   sockets closed by the gateway {r['sockets_closed_by_server']}",
        f"  MQTT: stored meter value rows {r['rows_stored']} of {r['rows_expected']} acknowledged,"
        f" transactions {r['transactions_stored']} of {r['transactions_started']}",
        "  MQTT CPU (100% = one core): " + ", ".join(f"{k} {v}%" for k, v in r["cpu_percent"].items()),
    ]
    if ws:
        lines.append("  WebSocket CPU: " + ", ".join(f"{k} {v}%" for k, v in ws["cpu_percent"].items()))
    return lines


def _without_credentials(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}:{parts.port or (8883 if parts.scheme == 'mqtts' else 1883)}"


def _row(name: str, r: dict, ratio: float | None) -> str:
    lat = r["latency_ms"]
    return f"  {name:<40}{r['calls_per_s']:>10}{_dash(lat['p50']):>10}{_dash(lat['p99']):>10}{_dash(ratio, '×'):>13}"


def _dash(value, suffix: str = "") -> str:
    return "-" if value is None else f"{value}{suffix}"
