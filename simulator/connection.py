"""One WebSocket connection of a simulated charge point, and the backoff between connections.

`Link` opens the socket with the version's subprotocol, runs the `ocpp`
ChargePoint adapter's reader as a task, and makes CALLs that fail fast with
`Disconnected` when the socket goes away (the library itself would wait for
its response timeout). `AdapterMixin` sits in front of the library's frame
I/O to count frames, inject faults (`faults.FaultInjector`) and play the
station's `script.Script` (scripted answers, a record of CALLs).

`Backoff` spaces reconnection attempts: exponential, capped, jittered by a
seeded random generator so a fleet does not reconnect in lockstep.

Security profiles (OCPP 1.6 Security Whitepaper §2, 2.0.1 A00): profile 1
and 2 send `Authorization: Basic base64(identity:password)` on the upgrade
(`basic_authorization`); `wss://` URLs use `ssl_context` (trust a CA file,
present a client certificate for profile 3). `refused_status` tells a
refused upgrade (HTTP 401/403: wrong or missing credentials) from other
failures.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import random
import ssl

import websockets
from websockets.exceptions import InvalidStatus

from .offline import CallFailed, Disconnected

logger = logging.getLogger("simulator")
frame_logger = logging.getLogger("simulator.frames")


class Backoff:
    """Delays before reconnection attempts, in seconds.

    Attempt n (from 0) waits between half and all of min(cap_s, base_s × 2ⁿ)
    ("equal jitter"), drawn from `rng`. `reset()` after a good connection.
    """

    def __init__(self, *, base_s: float = 1.0, cap_s: float = 60.0, rng: random.Random | None = None):
        if base_s <= 0 or cap_s < base_s:
            raise ValueError("backoff needs 0 < base_s <= cap_s")
        self.base_s = base_s
        self.cap_s = cap_s
        self.rng = rng or random.Random()
        self.attempt = 0

    def ceiling_s(self, attempt: int) -> float:
        return min(self.cap_s, self.base_s * 2 ** min(attempt, 62))

    def next_delay(self) -> float:
        ceiling = self.ceiling_s(self.attempt)
        self.attempt += 1
        return ceiling / 2 + self.rng.uniform(0, ceiling / 2)

    def reset(self) -> None:
        self.attempt = 0


def basic_authorization(username: str, password: str) -> str:
    """The `Authorization` header value of a charge point: "Basic base64(username:password)" (RFC 7617)."""
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def ssl_context(*, ca_file: str | None = None, client_cert: str | None = None, client_key: str | None = None) -> ssl.SSLContext:
    """A client TLS context for `wss://`: the system's CAs, or only `ca_file`'s; `client_cert` (PEM) presented when given.

    `client_key` is the certificate's private key file when it is not in
    `client_cert`. Raises OSError / ssl.SSLError for unreadable files.
    """
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca_file)
    if client_cert:
        context.load_cert_chain(client_cert, client_key or None)
    elif client_key:
        raise ValueError("a client key needs its client certificate")
    return context


def refused_status(error: BaseException) -> int | None:
    """The HTTP status (401 or 403) when `error` is the server refusing the upgrade for credentials, else None."""
    response = getattr(error, "response", None) if isinstance(error, InvalidStatus) else None
    status = getattr(response, "status_code", None)
    return status if status in (401, 403) else None


class HandshakeRefused(Exception):
    """The server accepted the socket but not our subprotocol."""


class AdapterMixin:
    """Put before `ocpp.v16.ChargePoint` / `ocpp.v201.ChargePoint`: counts frames, plays the script, injects faults.

    Needs `self.station` (for `faults`, `script` and `stats`). Frames in go
    through the station's script first, which may answer them itself.
    """

    station = None
    calls_sent = 0

    async def route_message(self, raw_msg):
        station = self.station
        station.stats["frames_in"] += 1
        script = station.script
        if script.active:
            handled, reply = await script.incoming(raw_msg)
            if handled:
                if reply is not None:
                    await self._send(json.dumps(reply))
                else:
                    station.note("script", f"left unanswered: {raw_msg[:60]}")
                return
        await super().route_message(raw_msg)

    async def _send(self, message):
        station = self.station
        faults = station.faults
        if faults is not None:
            delay = faults.delay_s()
            if delay:
                await asyncio.sleep(delay)
            if faults.drop():
                station.note("fault", f"dropped frame {message[:60]}")
                if message.startswith("[2,"):
                    self.calls_sent += 1  # it was "sent": the CALL now waits for its timeout
                return
            broken = faults.malformed(message)
            if broken is not None:
                station.note("fault", "sent a malformed frame")
                station.stats["frames_out"] += 1
                await self._connection.send(broken)
        station.stats["frames_out"] += 1
        if message.startswith("[2,"):
            self.calls_sent += 1
        await super()._send(message)


class Link:
    """An open connection: `adapter` (the `ocpp` ChargePoint) reading frames in a task, `call` to send CALLs."""

    def __init__(self, ws, adapter, *, faults=None, script=None):
        self.ws = ws
        self.adapter = adapter
        self.faults = faults
        self.script = script
        self.closed = asyncio.Event()
        self.reader = asyncio.create_task(self._read(), name=f"read-{adapter.id}")

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        subprotocol: str,
        adapter_factory,
        open_timeout: float = 10.0,
        ping_interval: float | None = None,
        faults=None,
        script=None,
        authorization: str | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> Link:
        """Connect to `url` offering `subprotocol`; `script` (a `script.Script`) notes the CALLs made through it.

        `authorization` is sent as the Authorization header (see
        `basic_authorization`); `tls` (see `ssl_context`) is used for a `wss://` URL.
        Raises OSError, TimeoutError, websockets' InvalidHandshake (e.g. HTTP 403) or HandshakeRefused.
        """
        extra = {"ssl": tls} if tls is not None and url.startswith("wss://") else {}
        ws = await websockets.connect(
            url,
            subprotocols=[subprotocol],
            additional_headers={"Authorization": authorization} if authorization else None,
            **extra,
            open_timeout=open_timeout,
            ping_interval=ping_interval or None,
            ping_timeout=ping_interval or None,
            close_timeout=2,
            compression=None,
            max_queue=64,
        )
        if ws.subprotocol != subprotocol:
            await ws.close()
            raise HandshakeRefused(f"server answered subprotocol {ws.subprotocol!r}, not {subprotocol!r}")
        return cls(ws, adapter_factory(ws), faults=faults, script=script)

    async def _read(self) -> None:
        try:
            await self.adapter.start()
        except websockets.ConnectionClosed:
            pass
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("%s: reader failed", self.adapter.id)
        finally:
            self.closed.set()

    @property
    def is_closed(self) -> bool:
        return self.closed.is_set()

    async def _call_once(self, payload):
        if self.closed.is_set():
            raise Disconnected()
        sent_before = self.adapter.calls_sent
        task = asyncio.ensure_future(self.adapter.call(payload, suppress=False))
        closed = asyncio.ensure_future(self.closed.wait())
        try:
            await asyncio.wait({task, closed}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            task.cancel()
            closed.cancel()
            raise
        closed.cancel()
        if not task.done():
            task.cancel()
            raise Disconnected()
        try:
            return task.result()
        except (websockets.ConnectionClosed, ConnectionError):
            raise Disconnected() from None
        except TimeoutError:
            raise
        except Exception as error:
            code = getattr(error, "code", None) or error.__class__.__name__
            description = getattr(error, "description", None) or str(error)
            if self.adapter.calls_sent == sent_before:
                # Nothing went out: our own request failed the schema. A bug of the simulator's.
                logger.error(
                    "%s: %s not sent, it fails the schema: %s %s",
                    self.adapter.id,
                    type(payload).__name__,
                    code,
                    getattr(error, "details", ""),
                )
                raise CallFailed("InvalidRequest", description) from None
            raise CallFailed(code, description) from None

    async def call(self, payload):
        """Send one CALL and return the answer (the `ocpp` call_result dataclass).

        Raises Disconnected, asyncio.TimeoutError (no answer within the
        response timeout) or CallFailed (a CALLERROR). With the duplicate
        fault, the same request goes out once more after the answer.
        """
        try:
            result = await self._call_once(payload)
        except (TimeoutError, Disconnected, CallFailed):
            if self.script is not None:
                self.script.outgoing(payload, None)
            raise
        if self.script is not None:
            self.script.outgoing(payload, result)
        if self.faults is not None and self.faults.duplicate():
            try:
                await self._call_once(payload)
            except (TimeoutError, CallFailed):
                pass
        return result

    def abort(self) -> None:
        """Cut the TCP connection without a closing handshake (a lost network)."""
        transport = getattr(self.ws, "transport", None)
        if transport is not None:
            transport.abort()

    async def close(self) -> None:
        self.reader.cancel()
        try:
            await asyncio.wait_for(self.ws.close(), 3)
        except Exception:
            self.abort()
        self.closed.set()
