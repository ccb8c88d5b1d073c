"""What `simulate` shows: a live table on a terminal, one log line per event otherwise.

`TableView` redraws a compact table about once a second with plain ANSI
escape codes (no dependency): one row per charge point with its OCPP
version, connection state, connector statuses, the energy (kWh) and power
(kW) of its running sessions and its queued transaction messages, plus the
fleet's totals and the latest events. `LogView` writes each event as a line.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import sys
from collections import deque

from .station import Event

RESET = "\x1b[0m"
BOLD = "\x1b[1m"
DIM = "\x1b[2m"
COLORS = {"red": "\x1b[31m", "green": "\x1b[32m", "yellow": "\x1b[33m", "blue": "\x1b[34m", "magenta": "\x1b[35m", "cyan": "\x1b[36m"}
STATUS_STYLE = {
    "Available": ("Avail", DIM),
    "Preparing": ("Prep", COLORS["yellow"]),
    "Charging": ("Chrg", COLORS["green"] + BOLD),
    "SuspendedEV": ("SusEV", COLORS["cyan"]),
    "SuspendedEVSE": ("SusSE", COLORS["cyan"]),
    "Finishing": ("Fin", COLORS["yellow"]),
    "Reserved": ("Resv", COLORS["magenta"]),
    "Unavailable": ("Unav", COLORS["red"]),
    "Faulted": ("Fault", COLORS["red"] + BOLD),
}
STATE_STYLE = {
    "online": COLORS["green"],
    "offline": COLORS["red"],
    "connecting": COLORS["yellow"],
    "booting": COLORS["yellow"],
    "pending": COLORS["yellow"],
    "rejected": COLORS["red"],
    "rebooting": COLORS["magenta"],
    "stopped": DIM,
}


def format_event(event: Event) -> str:
    """One log line: UTC time, charge point, kind, text."""
    return f"{event.at:%Y-%m-%dT%H:%M:%S}Z {event.station_id} {event.kind}: {event.text}"


class LogView:
    """Writes every event as one line to `stream` (for pipes, files and CI logs)."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stdout

    def event(self, event: Event) -> None:
        self.stream.write(format_event(event) + "\n")
        self.stream.flush()

    async def run(self, simulation) -> None:
        return None


class QuietView(LogView):
    """Shows nothing while running."""

    def event(self, event: Event) -> None:
        pass


class TableView:
    """A table of the fleet redrawn every `refresh_s` seconds on a terminal (`stream`, a TTY)."""

    def __init__(self, stream=None, *, refresh_s: float = 1.0, events: int = 6):
        self.stream = stream or sys.stdout
        self.refresh_s = refresh_s
        self.recent: deque[str] = deque(maxlen=events)

    def event(self, event: Event) -> None:
        if event.kind not in ("status",):
            self.recent.append(format_event(event))

    def log_handler(self) -> logging.Handler:
        """A logging handler that puts warnings and errors among the recent events instead of over the table."""
        view = self

        class Handler(logging.Handler):
            def emit(self, record):
                view.recent.append(f"{record.levelname}: {record.getMessage()}"[:200])

        return Handler(logging.WARNING)

    def render(self, simulation, *, width: int = 120, height: int = 40) -> str:
        """The whole screen as text with ANSI colours (no cursor movement)."""
        totals = simulation.totals()
        stations = list(simulation.stations.values())
        id_width = max([len("ID")] + [len(s.id) for s in stations])
        up = int(totals["uptime_s"])
        faults = sum(v for k, v in totals.items() if k.startswith("fault_"))
        lines = [
            f"{BOLD}OCPP simulator{RESET}  {simulation.url}  seed {simulation.options.seed}  "
            f"up {up // 3600:02d}:{up % 3600 // 60:02d}:{up % 60:02d}",
            f"{totals['online']}/{totals['stations']} online  {totals['charging']} charging  "
            f"{totals['power_kw']:.1f} kW  {totals['energy_kwh']:.2f} kWh in sessions  "
            f"{totals.get('sessions', 0)} sessions  {totals['queued']} queued  "
            f"{totals.get('frames_out', 0)} frames out / {totals.get('frames_in', 0)} in"
            + (f"  {faults} faults injected" if faults else ""),
            "",
            f"{BOLD}{'ID':<{id_width}}  {'OCPP':<5}  {'STATE':<10}  {'CONNECTORS':<28}  {'kWh':>8}  {'kW':>6}  {'QUEUE':>5}{RESET}",
        ]
        room = max(1, height - len(lines) - len(self.recent) - 3)
        for station in stations[:room]:
            snap = station.snapshot()
            state_color = STATE_STYLE.get(snap["state"], "")
            connectors, plain = [], []
            for cid, status in snap["statuses"]:
                short, color = STATUS_STYLE.get(status, (status[:5], ""))
                connectors.append(f"{cid}:{color}{short}{RESET}")
                plain.append(f"{cid}:{short}")
            cells = " ".join(connectors) + " " * max(0, 28 - len(" ".join(plain)))
            lines.append(
                f"{snap['id']:<{id_width}}  {snap['version']:<5}  {state_color}{snap['state']:<10}{RESET}  {cells}  "
                f"{snap['energy_kwh']:>8.2f}  {snap['power_kw']:>6.1f}  {snap['queued']:>5}"
            )
        if len(stations) > room:
            lines.append(f"{DIM}… and {len(stations) - room} more{RESET}")
        lines.append("")
        lines += [f"{DIM}{line[:width]}{RESET}" for line in self.recent]
        return "\n".join(lines)

    async def run(self, simulation) -> None:
        """Redraw until cancelled, on the terminal's alternate screen."""
        write = self.stream.write
        write("\x1b[?1049h\x1b[?25l")
        try:
            while True:
                size = shutil.get_terminal_size((120, 40))
                screen = self.render(simulation, width=size.columns, height=size.lines)
                write("\x1b[H" + "\x1b[K\n".join(screen.split("\n")) + "\x1b[K\x1b[J")
                self.stream.flush()
                await asyncio.sleep(self.refresh_s)
        finally:
            write("\x1b[?25h\x1b[?1049l")
            self.stream.flush()
