"""manage.py simulate — run simulated OCPP 1.6 / 2.0.1 charge points against a central system.

    manage.py simulate --count 10 --ocpp mixed --connectors 2 --sample-interval 10
    manage.py simulate --ids DEMO-CP-1,DEMO-CP-2,DEMO-CP-3 --ocpp 1.6,2.0.1,1.6
    manage.py simulate --count 50 --drop 0.01 --disconnect-mid-transaction 0.02 --duration 300 --seed 7

Each charge point boots, heartbeats, reports its connectors and runs
charging sessions (unless --no-sessions), answers every central-system
operation, reconnects with backoff and replays queued transaction messages.
On a terminal a live table is shown; otherwise one line per event. Ctrl-C
ends the running sessions and delivers what is queued (a second Ctrl-C
quits at once). The charge points must be registered with the central
system (or OCPP_ALLOW_UNKNOWN_CHARGE_POINTS on); see also `demo_setup`.

At security profile 1 or 2 the central system wants each charge point's
Basic-auth password (`manage.py charge_point_password ID` sets one):

    manage.py simulate --ids CP-1 --password 0123…(40 hex)
    manage.py simulate --count 100 --passwords-file passwords.txt   # lines "SIM-0001 <password>"
    manage.py simulate --url wss://csms.example/ocpp/ --ca-file ca.pem --passwords-file passwords.txt
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from django.core.management.base import BaseCommand, CommandError

from simulator import DEFAULT_URL, FaultRates, Simulation, SimulationOptions
from simulator.model import split_range
from simulator.runner import read_passwords
from simulator.view import LogView, QuietView, TableView


def probability(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise ValueError
    return value


def positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise ValueError
    return value


def non_negative(text: str) -> float:
    value = float(text)
    if value < 0:
        raise ValueError
    return value


class Command(BaseCommand):
    help = "Run simulated OCPP 1.6 / 2.0.1 charge points (sessions, commands, faults) against a central system."
    requires_system_checks = []

    def add_arguments(self, parser):
        who = parser.add_argument_group("charge points")
        who.add_argument("--count", type=int, default=1, help="number of charge points (default 1)")
        who.add_argument("--id-prefix", default="SIM-", help="ids are PREFIX + a number: SIM-0001 … (default SIM-)")
        who.add_argument("--id-width", type=int, default=4, help="digits of that number, zero-padded (default 4)")
        who.add_argument("--ids", default="", help="comma-separated ids; overrides --count/--id-prefix")
        who.add_argument(
            "--ocpp",
            default="1.6",
            help="1.6, 2.0.1, mixed (alternating, 1.6 first) or one version per id: 1.6,2.0.1,1.6 (default 1.6)",
        )
        who.add_argument("--connectors", type=int, default=2, help="connectors (2.0.1: EVSEs) per charge point (default 2)")
        who.add_argument("--url", default=DEFAULT_URL, help=f"central system base URL; the id is appended (default {DEFAULT_URL})")

        security = parser.add_argument_group("security (OCPP security profiles 1–3)")
        security.add_argument(
            "--password", default="", help="Basic-auth password of every charge point (1.6 AuthorizationKey: 40 hex characters)"
        )
        security.add_argument(
            "--passwords-file", default="", help="file of lines 'identity password', one per charge point; wins over --password"
        )
        security.add_argument("--ca-file", default="", help="wss://: trust this CA (PEM) for the server's certificate")
        security.add_argument("--client-cert", default="", help="wss://: present this client certificate (PEM; profile 3)")
        security.add_argument("--client-key", default="", help="the client certificate's private key (PEM), if not in --client-cert")

        how = parser.add_argument_group("behaviour")
        how.add_argument("--seed", type=int, default=None, help="seed for every random choice (default: random, printed)")
        how.add_argument("--id-tags", default="DEMO-TAG-1", help="comma-separated id tags drivers use (default DEMO-TAG-1)")
        how.add_argument("--sample-interval", type=positive, default=60.0, help="seconds between meter values (default 60)")
        how.add_argument("--duration", type=positive, default=None, help="stop after this many seconds (default: until Ctrl-C)")
        how.add_argument("--no-sessions", action="store_true", help="only boot, heartbeat and status; sessions only on remote start")
        how.add_argument("--session-seconds", default="300-1800", help="how long a car stays plugged in, MIN-MAX (default 300-1800)")
        how.add_argument("--pause-seconds", default="30-300", help="idle time between sessions, MIN-MAX (default 30-300)")
        how.add_argument(
            "--step-seconds",
            type=non_negative,
            default=1.0,
            help="duration of each step of a reboot, firmware update or log upload (default 1)",
        )
        how.add_argument("--response-timeout", type=positive, default=30.0, help="seconds to wait for an answer (default 30)")
        how.add_argument("--backoff", default="1-60", help="reconnect backoff, BASE-CAP seconds (default 1-60)")
        how.add_argument("--ramp-up", type=non_negative, default=0.0, help="spread the first connections over this many seconds")
        how.add_argument(
            "--stop-grace", type=non_negative, default=5.0, help="on stop, seconds to end sessions and deliver queued messages (default 5)"
        )

        faults = parser.add_argument_group("fault injection (probabilities per outgoing message, 0..1)")
        faults.add_argument("--drop", type=probability, default=0.0, help="do not send the frame (a CALL times out and is retried)")
        faults.add_argument("--duplicate", type=probability, default=0.0, help="send an answered request again with a new message id")
        faults.add_argument("--delay", type=non_negative, default=0.0, help="delay every frame by up to this many seconds")
        faults.add_argument(
            "--disconnect-mid-transaction", type=probability, default=0.0, help="cut the connection before a transaction message"
        )
        faults.add_argument("--malformed", type=probability, default=0.0, help="send a broken frame before the real one")

        view = parser.add_argument_group("output")
        view.add_argument(
            "--view",
            choices=("auto", "table", "log", "quiet"),
            default="auto",
            help="live table on a terminal, log lines otherwise (default auto)",
        )

    def handle(self, *args, **opts):
        try:
            options = self._options(opts)
        except ValueError as error:
            raise CommandError(str(error)) from None
        kind = opts["view"]
        if kind == "auto":
            kind = "table" if self.stdout.isatty() else "log"
        view = {"table": TableView, "log": LogView, "quiet": QuietView}[kind](self.stdout._out)
        restore = self._configure_logging(opts["verbosity"], view)
        try:
            simulation = Simulation(options, events=view.event)
        except (OSError, ValueError) as error:  # unreadable --ca-file / --client-cert / --client-key (ssl.SSLError too)
            restore()
            raise CommandError(f"cannot set up TLS: {error}") from None
        if kind != "table":
            self.stdout.write(
                f"Simulating {len(options.ids)} charge point(s) ({', '.join(sorted(set(options.versions)))}) "
                f"against {options.url} — seed {options.seed}"
            )
        try:
            asyncio.run(self._main(simulation, view, opts["duration"]))
        except KeyboardInterrupt:
            self.stderr.write("Interrupted.")
        finally:
            restore()
        self._summary(simulation)

    def _options(self, opts) -> SimulationOptions:
        ids = [i.strip() for i in opts["ids"].split(",") if i.strip()]
        if not ids and opts["count"] < 1:
            raise ValueError("--count must be at least 1")
        if opts["connectors"] < 1:
            raise ValueError("--connectors must be at least 1")
        id_tags = tuple(t.strip() for t in opts["id_tags"].split(",") if t.strip())
        if not id_tags:
            raise ValueError("--id-tags needs at least one id tag")
        base, cap = split_range(opts["backoff"])
        if base <= 0:
            raise ValueError("--backoff BASE must be above 0")
        url = opts["url"]
        if not url.startswith(("ws://", "wss://")):
            raise ValueError(f"--url must start with ws:// or wss://, not {url!r}")
        passwords = {}
        if opts["passwords_file"]:
            try:
                with open(opts["passwords_file"], encoding="utf-8") as lines:
                    passwords = read_passwords(lines)
            except OSError as error:
                raise ValueError(f"--passwords-file: {error}") from None
            except ValueError as error:
                raise ValueError(f"--passwords-file {opts['passwords_file']}: {error}") from None
        if opts["client_key"] and not opts["client_cert"]:
            raise ValueError("--client-key needs --client-cert")
        return SimulationOptions.build(
            count=opts["count"],
            id_prefix=opts["id_prefix"],
            id_width=opts["id_width"],
            ids=ids or None,
            ocpp=opts["ocpp"],
            seed=opts["seed"],
            url=url,
            connectors=opts["connectors"],
            id_tags=id_tags,
            sample_interval_s=opts["sample_interval"],
            sessions=not opts["no_sessions"],
            session_s=split_range(opts["session_seconds"]),
            pause_s=split_range(opts["pause_seconds"]),
            faults=FaultRates(
                drop=opts["drop"],
                duplicate=opts["duplicate"],
                delay_s=opts["delay"],
                disconnect_mid_transaction=opts["disconnect_mid_transaction"],
                malformed=opts["malformed"],
            ),
            response_timeout_s=opts["response_timeout"],
            backoff_base_s=base,
            backoff_cap_s=cap,
            step_s=opts["step_seconds"],
            ramp_up_s=opts["ramp_up"],
            grace_s=opts["stop_grace"],
            password=opts["password"] or None,
            passwords=passwords,
            ca_file=opts["ca_file"] or None,
            client_cert=opts["client_cert"] or None,
            client_key=opts["client_key"] or None,
        )

    def _configure_logging(self, verbosity: int, view):
        """Simulator logs to stderr (or, under the live table, among its events); returns how to undo it."""
        simulator = logging.getLogger("simulator")
        frames = logging.getLogger("simulator.frames")
        saved = (simulator.propagate, simulator.level, frames.level)
        handler = view.log_handler() if isinstance(view, TableView) else logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        simulator.addHandler(handler)
        simulator.propagate = False
        simulator.setLevel(logging.DEBUG if verbosity >= 3 else logging.WARNING)
        # Every frame in and out at -v 3; the library's complaints about the server's answers to
        # injected malformed frames are noise otherwise.
        frames.setLevel(logging.INFO if verbosity >= 3 else logging.CRITICAL)

        def restore():
            simulator.removeHandler(handler)
            simulator.propagate, _, _ = saved
            simulator.setLevel(saved[1])
            frames.setLevel(saved[2])

        return restore

    async def _main(self, simulation: Simulation, view, duration) -> None:
        loop = asyncio.get_running_loop()
        interrupts = 0
        main = asyncio.current_task()

        def interrupted():
            nonlocal interrupts
            interrupts += 1
            if interrupts == 1:
                simulation.stop()  # graceful: end sessions, deliver the queue
            else:
                main.cancel()

        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, interrupted)
            except (NotImplementedError, RuntimeError):
                pass
        drawing = asyncio.create_task(view.run(simulation))
        try:
            await simulation.run(duration)
        except asyncio.CancelledError:
            pass
        finally:
            drawing.cancel()
            await asyncio.gather(drawing, return_exceptions=True)

    def _summary(self, simulation: Simulation) -> None:
        totals = simulation.totals()
        faults = {k.removeprefix("fault_"): v for k, v in totals.items() if k.startswith("fault_")}
        self.stdout.write(
            f"{totals['stations']} charge point(s), {totals.get('sessions', 0)} sessions, "
            f"{totals.get('tx_messages', 0)} transaction messages delivered, {totals['queued']} still queued, "
            f"{totals.get('connections', 0)} connections, {sum(s.boots for s in simulation.stations.values())} boots, "
            f"{totals.get('frames_out', 0)} frames out, {totals.get('frames_in', 0)} in"
            + (f"; faults injected: {', '.join(f'{k} {v}' for k, v in sorted(faults.items()))}" if faults else "")
            + f". Seed {simulation.options.seed}."
        )
