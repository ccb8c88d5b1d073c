"""The bench's baseline: a bare Python OCPP 1.6 server, what the CSMS is measured against.

    python -m bench.baseline_server --port 9000     # prints "listening on 127.0.0.1:9000", runs until SIGTERM

The mobilityhouse `ocpp` library's ChargePoint (`ocpp.v16`, one `@on`
handler per action, its own JSON-schema validation) on `websockets`, with
nothing stored and nothing checked: every BootNotification is Accepted,
every id tag too, StartTransaction hands out the next transaction id. No
database, no channel layer, no authentication (a Basic-auth header is
ignored). What one Python process serving OCPP-J costs at least; the
`throughput` scenario (bench/scenarios.py) drives it with its own client and
reports its figures as multiples of this server's.

Exit status 0 on SIGTERM or SIGINT, 1 when the port cannot be bound.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import signal
import sys
from datetime import UTC, datetime

import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call_result
from ocpp.v16.datatypes import IdTagInfo
from ocpp.v16.enums import Action, AuthorizationStatus, RegistrationStatus

from bench.harness import raise_open_file_limit

SUBPROTOCOL = "ocpp1.6"
HEARTBEAT_INTERVAL_S = 300
_transaction_ids = itertools.count(1)


class BaselineChargePoint(ChargePoint):
    """One connected charge point: answers BootNotification, StatusNotification, Heartbeat, StartTransaction, MeterValues."""

    @on(Action.boot_notification)
    def on_boot_notification(self, **payload):
        return call_result.BootNotification(current_time=_now(), interval=HEARTBEAT_INTERVAL_S, status=RegistrationStatus.accepted)

    @on(Action.status_notification)
    def on_status_notification(self, **payload):
        return call_result.StatusNotification()

    @on(Action.heartbeat)
    def on_heartbeat(self, **payload):
        return call_result.Heartbeat(current_time=_now())

    @on(Action.start_transaction)
    def on_start_transaction(self, **payload):
        return call_result.StartTransaction(
            transaction_id=next(_transaction_ids), id_tag_info=IdTagInfo(status=AuthorizationStatus.accepted)
        )

    @on(Action.meter_values)
    def on_meter_values(self, **payload):
        return call_result.MeterValues()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def handle(connection) -> None:
    """One charge point's socket (websockets >= 14: the connection alone; its path in `connection.request.path`)."""
    charge_point_id = connection.request.path.rstrip("/").rsplit("/", 1)[-1]
    if connection.subprotocol != SUBPROTOCOL:
        await connection.close(1002, "ocpp1.6 only")
        return
    try:
        await BaselineChargePoint(charge_point_id, connection).start()
    except websockets.ConnectionClosed:
        pass


async def serve(host: str, port: int) -> None:
    """Serve until SIGTERM or SIGINT. Raises OSError when (`host`, `port`) cannot be bound."""
    stop = asyncio.get_running_loop().create_future()
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, lambda: stop.done() or stop.set_result(None))
    async with websockets.serve(handle, host, port, subprotocols=[SUBPROTOCOL], ping_interval=None, max_queue=None) as server:
        bound = server.sockets[0].getsockname()
        print(f"listening on {bound[0]}:{bound[1]}", flush=True)
        await stop


def main(argv=None) -> int:
    """`python -m bench.baseline_server [--host H] [--port P]`: serve until SIGTERM/SIGINT; returns the exit status (0, or 1 when unbound)."""
    parser = argparse.ArgumentParser(prog="python -m bench.baseline_server", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    args = parser.parse_args(argv)
    # The ocpp library logs every frame at INFO.
    logging.basicConfig(level=logging.WARNING)
    raise_open_file_limit()
    try:
        asyncio.run(serve(args.host, args.port))
    except OSError as exc:
        print(f"baseline server: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
