"""daphne as `python -m csms.serve` runs it: its Server with a graceful shutdown.

On SIGTERM or SIGINT (Twisted stops the reactor), before daphne cancels its
application instances, `Server.graceful_shutdown`:

1. stops listening, so new connections go to another process;
2. asks every charge point connection to close (`csms.shutdown`, handled by
   the OCPP consumer after the frames it has already received, so they are
   answered; a command in flight gets a few seconds for its answer), which
   closes the socket with 1012 "service restart" (RFC 6455 §7.4.1): charge
   points reconnect at once, to another process behind the same address;
3. waits for their disconnect handlers, which mark them offline in the
   database, until OCPP_SHUTDOWN_TIMEOUT seconds have passed; connections
   still open then are aborted (their handlers still run, briefly);
4. lets daphne cancel whatever is left (HTTP requests) and stop.

docs/reliability.md, "Shutdown"; tests/faults/test_shutdown.py.
"""

from __future__ import annotations

import asyncio
import logging
import os

import daphne.server  # noqa: F401 - first of twisted: installs the asyncio reactor (daphne.server says why)
from daphne.server import Server as DaphneServer
from daphne.ws_protocol import WebSocketProtocol
from twisted.internet import defer, reactor

logger = logging.getLogger("csms.server")

SERVICE_RESTART = 1012
# Close codes a server may send that autobahn refuses from an application: going away, internal error, service restart.
SERVER_CLOSE_CODES = frozenset({1001, 1011, SERVICE_RESTART})
# Seconds the aborted connections' disconnect handlers get once the timeout has passed.
ABORT_GRACE_S = 2.0


class Server(DaphneServer):
    """daphne's Server, closing charge point connections with 1012 and marking them offline on shutdown.

    `shutdown_timeout`: seconds the graceful part may take (default
    OCPP_SHUTDOWN_TIMEOUT); a command in flight gets at most half of it.
    """

    def __init__(self, *args, shutdown_timeout: float | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        if shutdown_timeout is None:
            from django.conf import settings

            shutdown_timeout = settings.OCPP_SHUTDOWN_TIMEOUT
        self.shutdown_timeout = shutdown_timeout
        self.ports = []
        self._draining = False
        self._adopted_closed = False

    def listen_success(self, port):
        self.ports.append(port)
        super().listen_success(port)
        self._close_adopted_descriptors()
        return port

    def _close_adopted_descriptors(self) -> None:
        """Close the descriptors given as `fd:fileno=N` endpoints (csms.serve --workers) once Twisted listens on its copies.

        Twisted duplicates an adopted socket; with the original left open,
        stopListening at shutdown would not close it and connections would
        queue where nobody accepts them anymore, instead of being refused.
        """
        if self._adopted_closed:
            return  # once: the number may belong to another file by now
        self._adopted_closed = True
        for endpoint in self.endpoints:
            if endpoint.startswith("fd:"):
                fields = dict(part.split("=", 1) for part in endpoint.split(":")[1:] if "=" in part)
                try:
                    os.close(int(fields["fileno"]))
                except (KeyError, ValueError, OSError):
                    pass

    def run(self):
        # Before daphne's own "before shutdown" trigger (kill_all_applications), which waits for this one.
        reactor.addSystemEventTrigger("before", "shutdown", self.graceful_shutdown)
        reactor.callWhenRunning(self._start_presence)
        super().run()

    def _start_presence(self) -> None:
        """Renew this process's lease and sweep dead ones, from now on (chargepoints.presence)."""
        from chargepoints import presence

        self._presence = asyncio.ensure_future(presence.run())

    async def handle_reply(self, protocol, message):
        """daphne's, but a WebSocket may be closed with 1012 (and 1001, 1011): codes RFC 6455 §7.4.1 gives servers.

        autobahn's sendClose admits only 1000 and 3000-4999 from an
        application; the close frame itself is sent the same way it would.
        """
        if (
            message.get("type") == "websocket.close"
            and message.get("code") in SERVER_CLOSE_CODES
            and isinstance(protocol, WebSocketProtocol)
            and protocol in self.connections
            and not self.connections[protocol].get("disconnected")
            and protocol.state == WebSocketProtocol.STATE_OPEN
        ):
            protocol.sendCloseFrame(code=message["code"], isReply=False)
            return
        await super().handle_reply(protocol, message)

    def kill_all_applications(self):
        if self._draining:
            return None  # graceful_shutdown calls it once it is done
        return super().kill_all_applications()

    def graceful_shutdown(self) -> defer.Deferred:
        """Steps 1-4 of the module docstring; a Deferred that fires when daphne may stop the reactor."""
        self._draining = True
        for port in self.ports:
            port.stopListening()
        sockets = self._open_websockets()
        logger.warning("Shutting down: closing %d WebSocket connections with %d", len(sockets), SERVICE_RESTART)
        for protocol in sockets:
            protocol.application_queue.put_nowait(
                {"type": "csms.shutdown", "code": SERVICE_RESTART, "command_grace": self.shutdown_timeout / 2}
            )
        return defer.Deferred.fromFuture(asyncio.ensure_future(self._drain()))

    def _open_websockets(self) -> list[WebSocketProtocol]:
        return [
            protocol
            for protocol, details in self.connections.items()
            if isinstance(protocol, WebSocketProtocol)
            and hasattr(protocol, "application_queue")
            and "application_instance" in details
            and not details["application_instance"].done()
        ]

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.shutdown_timeout
        while (left := self._open_websockets()) and loop.time() < deadline:
            await asyncio.sleep(0.05)
        if left:
            logger.warning("Shutdown: %d connections still open after %g s; aborting them", len(left), self.shutdown_timeout)
            for protocol in left:
                protocol.dropConnection(abort=True)
            abort_deadline = loop.time() + ABORT_GRACE_S
            while self._open_websockets() and loop.time() < abort_deadline:
                await asyncio.sleep(0.05)
        self._draining = False
        if getattr(self, "_presence", None) is not None:
            self._presence.cancel()
        killed = super().kill_all_applications()
        if killed is not None:
            await killed.asFuture(loop)
        logger.warning("Shutdown: done")
