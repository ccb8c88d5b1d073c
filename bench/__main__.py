"""`make bench`: run the load scenarios against a throwaway deployment and print their figures.

    python -m bench                         # every scenario with its default size
    python -m bench throughput bootstorm    # some of them
    python -m bench idle --charge-points 2000 --duration 60 --ocpp mixed
    python -m bench bootstorm --security-profile none   # without Basic auth, to compare

Scenarios (bench/scenarios.py, bench/mqtt.py, bench/command_roundtrip.py, bench/dashboard.py, bench/rpc_micro.py), with
their default charge points and seconds:

    throughput  50 charge points, StartTransaction + MeterValues back-to-back for 30 s,
                against the baseline of the same run (--no-baseline: without)
    baseline    the throughput load against a bare `ocpp` library server alone
    mqtt        the throughput load through `manage.py ocpp_mqtt_gateway`, the broker (MQTT_URL,
                default mqtt://127.0.0.1:1883) and one `manage.py ocpp_mqtt` worker, beside the
                WebSocket throughput of the same run (--no-websocket: without); not run by default
    idle        1,000 charge points connected and booted, held 30 s
    bootstorm   1,000 charge points connect, boot and report status at once
    command     API commands at 10/s for 20 s while 100 charge points send meter values
    dashboard   10,000 charge points registered, 1,000 connected: the page's time, first
                paint in headless Chromium, status changes until the page's socket shows them
    rpc         no server: µs per frame parsed and validated, and per CALLRESULT built, old
                path (json, jsonschema) against the hot path (orjson, fastjsonschema); 10 s

The servers run as `make run` deploys them: one daphne on SQLite and the
in-memory layer, or PostgreSQL and Redis when DATABASE_URL and REDIS_URL name
them (then `command` sends through a second daphne), at security profile 1
(the default: each charge point has a password and sends Basic auth;
--security-profile none measures without). Loopback only. Each
scenario prints a table; all of them go to var/bench/<scenario>.json and
var/bench/results.json. Figures are reported, never asserted.

Exit status: 0 after a run, 1 when a deployment could not be set up, 130 on
Ctrl-C; everything started is stopped and removed on every path out.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path

from bench import command_roundtrip, dashboard, mqtt, rpc_micro, scenarios
from bench.harness import REPO, HarnessError, raise_open_file_limit
from bench.measure import machine_info

SCENARIOS = {
    # name: (run, print, default charge points, default duration s)
    "throughput": (scenarios.throughput, scenarios.print_throughput, 50, 30.0),
    "baseline": (scenarios.baseline, scenarios.print_baseline, 50, 30.0),
    "mqtt": (mqtt.run, mqtt.print_lines, 50, 30.0),
    "idle": (scenarios.idle, scenarios.print_idle, 1000, 30.0),
    "bootstorm": (scenarios.bootstorm, scenarios.print_bootstorm, 1000, None),
    "command": (command_roundtrip.run, command_roundtrip.print_lines, 100, 20.0),
    "dashboard": (dashboard.run, dashboard.print_lines, 1000, None),
    "rpc": (rpc_micro.run, rpc_micro.print_lines, None, 10.0),
}
# What `python -m bench` runs without names: throughput runs the baseline itself.
DEFAULT_SCENARIOS = ("throughput", "idle", "bootstorm", "command", "dashboard", "rpc")
DEFAULT_OUTPUT_DIR = REPO / "var" / "bench"
MAX_CHARGE_POINTS = 50000


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "scenarios",
        nargs="*",
        choices=[[], *SCENARIOS],
        metavar="SCENARIO",
        help=f"any of {', '.join(SCENARIOS)} (default: {', '.join(DEFAULT_SCENARIOS)}, in that order)",
    )
    parser.add_argument(
        "--baseline",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="throughput: also drive the bare ocpp server and report against it (default on; --no-baseline: skip)",
    )
    parser.add_argument(
        "--half-rate",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="throughput: then pace the same load at half the CSMS's closed-loop rate and report its latency (default on)",
    )
    parser.add_argument(
        "--websocket",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="mqtt: first run the WebSocket throughput and report MQTT against it (default on; --no-websocket: skip)",
    )
    parser.add_argument(
        "--client-processes",
        type=int,
        default=1,
        help="idle, bootstorm: client processes the charge points are spread over (default 1; one holds up to its open-file limit)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="throughput, idle, bootstorm: daphne processes behind the server's port (csms.serve --workers; above 1 needs REDIS_URL)",
    )
    parser.add_argument("--charge-points", type=int, default=None, help="charge points (default: the scenario's)")
    parser.add_argument("--duration", type=float, default=None, help="seconds of measured load or hold (default: the scenario's)")
    parser.add_argument("--ocpp", choices=("1.6", "2.0.1", "mixed"), default="1.6", help="charge points' OCPP version (default 1.6)")
    parser.add_argument(
        "--security-profile",
        choices=("none", "1"),
        default="1",
        help="the servers' OCPP security profile: 1 (default, as make run) has every charge point send Basic auth; none compares without",
    )
    parser.add_argument("--timeout", type=float, default=120.0, help="bootstorm: seconds each charge point may take (default 120)")
    parser.add_argument("--rate", type=float, default=10.0, help="command: API commands per second (default 10)")
    parser.add_argument(
        "--load-interval", type=float, default=2.0, help="command: seconds between meter values of each charge point (default 2)"
    )
    parser.add_argument("--command-timeout", type=float, default=10.0, help="command: seconds each command may wait (default 10)")
    parser.add_argument(
        "--registered", type=int, default=None, help="dashboard: charge points registered (default ten times --charge-points)"
    )
    parser.add_argument("--requests", type=int, default=20, help="dashboard: GETs of each page variant (default 20)")
    parser.add_argument("--page-loads", type=int, default=5, help="dashboard: page loads in headless Chromium (default 5)")
    parser.add_argument("--changes", type=int, default=30, help="dashboard: single status changes timed (default 30)")
    parser.add_argument("--output-dir", type=Path, default=DEFAULT_OUTPUT_DIR, help="where the JSON goes (default var/bench)")
    args = parser.parse_args(argv)
    if args.charge_points is not None and not 1 <= args.charge_points <= MAX_CHARGE_POINTS:
        parser.error(f"--charge-points: 1 to {MAX_CHARGE_POINTS}")
    if not 1 <= args.workers <= 64:
        parser.error("--workers: 1 to 64")
    if not 1 <= args.client_processes <= 64:
        parser.error("--client-processes: 1 to 64")
    if args.duration is not None and not 0 < args.duration <= 600:
        parser.error("--duration: above 0 and at most 600 seconds")
    if args.registered is not None and not 1 <= args.registered <= 100000:
        parser.error("--registered: 1 to 100000")
    for name in ("requests", "page_loads", "changes"):
        if not 1 <= getattr(args, name) <= 1000:
            parser.error(f"--{name.replace('_', '-')}: 1 to 1000")
    if not 0 < args.rate <= 500:
        parser.error("--rate: above 0 and at most 500 per second")
    return args


def _raise_keyboard_interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv=None) -> int:
    args = parse_args(argv)
    names = args.scenarios or list(DEFAULT_SCENARIOS)
    # Each charge point is a socket here and in the server: 1,024 descriptors would stop at about a thousand.
    raise_open_file_limit()
    # SIGTERM and SIGHUP take the Ctrl-C path, so the deployments are always removed;
    # SIGINT too when started ignoring it (a background job of a non-interactive shell).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    signal.signal(signal.SIGHUP, _raise_keyboard_interrupt)

    def log(line: str) -> None:
        print(line, flush=True)

    results = {"started_at": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine_info(), "scenarios": {}}
    args.output_dir.mkdir(parents=True, exist_ok=True)
    for name in names:
        run, print_lines, default_count, default_duration = SCENARIOS[name]
        scenario_args = argparse.Namespace(**vars(args))
        scenario_args.charge_points = args.charge_points or default_count
        scenario_args.duration = args.duration or default_duration
        log(f"\n=== {name}: setting up")
        try:
            data = run(scenario_args, log)
        except HarnessError as exc:
            print(f"{name} not run: {exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("\ninterrupted: servers stopped, databases and Redis keys removed", file=sys.stderr)
            return 130
        data["machine"] = machine_info()
        data["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        results["scenarios"][name] = data
        (args.output_dir / f"{name}.json").write_text(json.dumps(data, indent=2) + "\n")
        print("\n" + "\n".join(print_lines(data)), flush=True)
    (args.output_dir / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    m = results["machine"]
    print(f"\nmachine: {m['nproc']} CPU ({m['cpu_model']}), {m['memory_gib']} GiB, load {m['loadavg_1_5_15m']}")
    print(f"written to {args.output_dir}/ ({', '.join(f'{n}.json' for n in names)}, results.json)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
