"""A simulated charge point: its life (connect, boot, heartbeat, reconnect), its sessions and its operations.

`Station` is version-neutral. What goes on the wire is built by its
`protocol` (`station16.Protocol16` or `station201.Protocol201`), whose
adapter class (an `ocpp` ChargePoint with @on/@after handlers) answers the
central system by calling the operations here: `remote_start`,
`remote_stop`, `reboot`, `change_availability`, `reserve`, `install_profile`,
`update_firmware`, `upload_log`, `data_transfer` … Its `script` (see
`script.Script`) may answer in their place and records what went over the
wire, for tests.

Tasks of a running station (`run`):

- the connection loop: connect (with `Backoff` after failures), boot when
  it has to (first start, after a reboot), report every connector's status,
  heartbeat at HeartbeatInterval, and on disconnection start over;
- the transaction sender: delivers the `TransactionQueue` in order while
  registered, so transactions survive going offline;
- one loop per connector: waits a seeded random pause (or a remote start),
  then runs a session — plug in, authorize, start, meter values every
  MeterValueSampleInterval, stop, unplug;
- a ticker that expires reservations.

Time: sessions use `time.monotonic()` for intervals and UTC wall-clock time
for timestamps. Energy in Wh, power in W, current in A.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import re
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import quote

from .connection import Backoff, Link, basic_authorization, refused_status, ssl_context
from .faults import FaultInjector, FaultRates
from .identity import StationIdentity
from .keystore import PASSWORD_KEY_16, PASSWORD_KEY_201, KeyStore, keys_16, keys_201
from .model import (
    AuthCache,
    Connector,
    LocalAuthList,
    Reservation,
    Session,
    Status,
    Vehicle,
    offline_authorization,
    phase_voltages,
    utc_now,
)
from .offline import CallFailed, Disconnected, QueuedMessage, TransactionQueue, deliver_head
from .profiles import ChargingProfile, ProfileStore, combined_limit
from .script import Script

logger = logging.getLogger("simulator")

# Stop reasons (1.6 Reason, §7.39) after which the connector is not unplugged by a driver.
REBOOT_REASONS = {"SoftReset", "HardReset", "Reboot", "PowerLoss"}
# How often a session integrates energy, even between meter values (s).
INTEGRATION_PERIOD_S = 2.0
# The vendor id of the simulator's own DataTransfer messages (see Station.data_transfer).
VENDOR_ID = "com.simcharge"


@dataclass(frozen=True)
class Event:
    """Something that happened at a charge point, for the live view and the log: `kind` is a short category."""

    at: datetime
    station_id: str
    kind: str
    text: str


@dataclass
class StationSettings:
    """How one simulated charge point behaves. Durations in seconds.

    `session_s` / `pause_s` are (min, max) ranges for the time a car stays
    plugged in and the idle time between sessions; `step_s` is how long each
    step of a reboot, firmware update or log upload takes; `shutdown_s` how
    long the connection stays up between deciding to reboot and closing it.
    `record`: keep every CALL received and sent in the station's `script`
    (for tests; a long run would grow it without end).

    `password`: the Basic-auth password (security profile 1 and 2), kept as
    1.6 AuthorizationKey / 2.0.1 SecurityCtrlr.BasicAuthPassword; none: no
    Authorization header. `ca_file`: trust only this CA (PEM) for a `wss://`
    server; `client_cert` / `client_key`: present this certificate (PEM,
    profile 3). `rotation_reconnect_s`: after accepting a new password the
    station reconnects this long later, to use it.
    """

    station_id: str
    version: str = "1.6"
    connectors: int = 2
    id_tags: tuple = ("DEMO-TAG-1",)
    sample_interval_s: float = 60.0
    sessions: bool = True
    session_s: tuple = (300.0, 1800.0)
    pause_s: tuple = (30.0, 300.0)
    response_timeout_s: float = 30.0
    backoff_base_s: float = 1.0
    backoff_cap_s: float = 60.0
    step_s: float = 1.0
    shutdown_s: float = 0.5
    heartbeat_s: int = 300
    max_current_a: float = 32.0
    vendor: str = "SimCharge"
    model: str = "SIM-22"
    firmware_version: str = "1.0.0"
    faults: FaultRates = field(default_factory=FaultRates)
    record: bool = False
    password: str | None = None
    ca_file: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    rotation_reconnect_s: float = 1.0
    # Where a certificate the CSMS signed (CertificateSigned) is written with its key (<id>.crt, <id>.key),
    # for --client-cert/--client-key; None keeps it in memory only (`Station.identity`).
    certificate_dir: str | None = None


@dataclass
class SessionRequest:
    """Someone wants to charge: a driver with `id_tag` arriving, or a remote start (with its id and profile)."""

    id_tag: str
    remote: bool = False
    remote_start_id: int | None = None
    charging_profile: dict | None = None
    id_tag_type: str = "ISO14443"


class Station:
    """One simulated charge point. `run()` until cancelled or `shutdown()`; state is read by the view and tests."""

    def __init__(
        self,
        settings: StationSettings,
        *,
        url: Callable[[], str],
        seed: int | str = 0,
        events: Callable[[Event], None] | None = None,
    ):
        from .station16 import Protocol16
        from .station201 import Protocol201

        self.settings = settings
        self.id = settings.station_id
        self.version = settings.version
        self.url = url
        self.events = events
        self.rng = random.Random(f"{seed}:{self.id}")
        self.backoff = Backoff(base_s=settings.backoff_base_s, cap_s=settings.backoff_cap_s, rng=random.Random(f"{seed}:{self.id}:backoff"))
        self.faults = FaultInjector(settings.faults, random.Random(f"{seed}:{self.id}:faults")) if settings.faults.any else None
        self.script = Script(record=settings.record)
        self.identity = StationIdentity(self.id)  # its key and the certificate the CSMS signed (SignCertificate)
        if settings.version == "1.6":
            self.protocol = Protocol16(self)
            keys = keys_16
        elif settings.version == "2.0.1":
            self.protocol = Protocol201(self)
            keys = keys_201
        else:
            raise ValueError(f"unsupported OCPP version {settings.version!r}")
        self.config = KeyStore(
            keys(connectors=settings.connectors, heartbeat_s=settings.heartbeat_s, sample_interval_s=settings.sample_interval_s)
        )
        self.config.listeners.append(self._config_changed)
        self.password_key = PASSWORD_KEY_16 if settings.version == "1.6" else PASSWORD_KEY_201
        if settings.password:
            # The operator's setting, taken as given (the central system judges it); only a
            # change from the central system must have the version's shape.
            self.config.keys[self.password_key].value = settings.password
        self.tls = _shared_tls(settings.ca_file, settings.client_cert, settings.client_key)
        self._reconnect_at_once = False
        if "ChargingStation.Model" in self.config:
            self.config.set("ChargingStation.Model", settings.model, force=True)
            self.config.set("ChargingStation.VendorName", settings.vendor, force=True)
        self.connectors: dict[int, Connector] = {
            cid: Connector(cid, meter_wh=float(self.rng.randrange(100_000, 5_000_000)), max_current_a=settings.max_current_a)
            for cid in range(1, settings.connectors + 1)
        }
        self._connector_rng = {cid: random.Random(f"{seed}:{self.id}:{cid}") for cid in self.connectors}
        self.operative = True
        self.profiles = ProfileStore()
        self.local_list = LocalAuthList(max_length=self.config.get_int("LocalAuthListMaxLength", 1000))
        self.auth_cache = AuthCache()
        self.tx_queue = TransactionQueue()
        self.firmware_version = settings.firmware_version
        self.firmware_status = "Idle"
        self.log_status = "Idle"
        self.stats: Counter = Counter()

        self.state = "stopped"
        self.link: Link | None = None
        self.registered = asyncio.Event()
        self.needs_boot = True
        self.boot_reason = "PowerUp"
        self.boots = 0
        self.stopping = False
        self.rebooting: str | None = None
        self.after_boot: list[Callable[[], object]] = []
        self._heartbeat_changed = asyncio.Event()
        self._requests = {cid: asyncio.Queue() for cid in self.connectors}
        self._requested: set[int] = set()
        self._wake = {cid: asyncio.Event() for cid in self.connectors}
        self._idle = {cid: asyncio.Event() for cid in self.connectors}
        for event in self._idle.values():
            event.set()
        self._session_counter = 0
        self._tasks: set[asyncio.Task] = set()
        self._run_task: asyncio.Task | None = None
        self.last_event = ""

    # --- reporting -------------------------------------------------------

    def certificate_installed(self) -> None:
        """A CertificateSigned chain was installed (`identity`): note it, and write it out when `certificate_dir` is set."""
        where = ""
        if self.settings.certificate_dir:
            cert_path, key_path = self.identity.write(self.settings.certificate_dir)
            where = f" ({cert_path}, {key_path})"
        self.note("command", f"CertificateSigned: new charge point certificate installed{where}")

    async def request_certificate(self):
        """Send a SignCertificate with a new CSR now (A02/A03); returns its answer. The CertificateSigned follows from the CSMS."""
        result = await self.send(self.protocol.sign_certificate())
        if result is None or result.status != "Accepted":
            self.identity.cancel()
        return result

    def note(self, kind: str, text: str) -> None:
        """Record an event for the view / log (and the `simulator` logger at DEBUG)."""
        self.stats[f"event_{kind}"] += 1
        self.last_event = text
        logger.debug("%s: %s", self.id, text)
        if self.events is not None:
            self.events(Event(utc_now(), self.id, kind, text))

    def snapshot(self) -> dict:
        """What the live view shows: state, connector statuses, session energy (kWh) and power (kW), queue length."""
        sessions = [c.session for c in self.connectors.values() if c.session is not None]
        return {
            "id": self.id,
            "version": self.version,
            "state": self.state,
            "statuses": [(cid, c.status) for cid, c in self.connectors.items()],
            "energy_kwh": sum(s.energy_wh for s in sessions) / 1000.0,
            "power_kw": sum(s.power_w for s in sessions) / 1000.0,
            "queued": len(self.tx_queue),
            "sessions": int(self.stats["sessions"]),
        }

    def spawn(self, coroutine) -> asyncio.Task:
        """Run a follow-up (status reports, firmware steps …) as a task that is cancelled with the station."""
        task = asyncio.ensure_future(self._guard(coroutine))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _guard(self, coroutine):
        try:
            return await coroutine
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("%s: follow-up failed", self.id)
            self.stats["errors"] += 1

    # --- life --------------------------------------------------------------

    async def run(self) -> None:
        """Connect, boot and simulate until cancelled."""
        self._run_task = asyncio.current_task()
        self.state = "connecting"
        tasks = [
            asyncio.create_task(self._connection_loop(), name=f"{self.id}-connection"),
            asyncio.create_task(self._transaction_sender(), name=f"{self.id}-tx"),
            asyncio.create_task(self._reservation_ticker(), name=f"{self.id}-reservations"),
        ]
        tasks += [asyncio.create_task(self._connector_loop(cid), name=f"{self.id}-c{cid}") for cid in self.connectors]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks + list(self._tasks):
                task.cancel()
            await asyncio.gather(*tasks, *self._tasks, return_exceptions=True)
            if self.link is not None:
                await self.link.close()
                self.link = None
            self.registered.clear()
            self.state = "stopped"

    async def shutdown(self, grace_s: float = 5.0) -> None:
        """Stop taking new sessions, end running ones (reason Other) and deliver the queue within `grace_s`.

        The connection loop keeps reconnecting meanwhile, so a charge point
        that is offline at that moment still delivers if it gets back in time.
        """
        self.stopping = True
        for connector in self.connectors.values():
            if connector.session is not None:
                self.request_stop(connector.session, "Other")
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline:
            if all(event.is_set() for event in self._idle.values()) and len(self.tx_queue) == 0:
                break
            await asyncio.sleep(0.05)

    def _url(self) -> str:
        base = self.url()
        return base + ("" if base.endswith("/") else "/") + quote(self.id, safe="")

    async def _connection_loop(self) -> None:
        while True:  # until cancelled
            try:
                link = await Link.open(
                    self._url(),
                    subprotocol=self.protocol.subprotocol,
                    adapter_factory=self.protocol.adapter,
                    ping_interval=self.config.get_int("WebSocketPingInterval", 0) or None,
                    faults=self.faults,
                    script=self.script,
                    authorization=self.authorization(),
                    tls=self.tls,
                )
            except asyncio.CancelledError:
                raise
            except Exception as error:  # OSError, TimeoutError, HandshakeRefused, websockets' InvalidHandshake …
                self.state = "offline" if self.boots else "connecting"
                delay = self.backoff.next_delay()
                self.stats["connect_failures"] += 1
                self._note_connect_failure(error, delay)
                await asyncio.sleep(delay)
                continue
            self.link = link
            self.stats["connections"] += 1
            self.note("connection", "connected")
            heartbeat = None
            try:
                if await self._register(link):
                    heartbeat = asyncio.create_task(self._heartbeat_loop(link))
                await link.closed.wait()
            finally:
                self.registered.clear()
                if heartbeat is not None:
                    heartbeat.cancel()
                await link.close()
                self.link = None
            if self.rebooting:
                await self._come_back_from_reboot()
                continue
            if self._reconnect_at_once:
                self._reconnect_at_once = False
                self.note("security", "reconnecting with the new password")
                continue
            self.state = "offline"
            delay = self.backoff.next_delay()
            self.note("connection", f"disconnected; reconnecting in {delay:.1f} s")
            await asyncio.sleep(delay)

    async def _register(self, link: Link) -> bool:
        """Boot when needed (retrying until Accepted), then report statuses; False when the link closed first."""
        while self.needs_boot and not link.is_closed:
            self.state = "booting"
            try:
                result = await link.call(self.protocol.boot_notification(self.boot_reason))
            except Disconnected:
                return False
            except (TimeoutError, CallFailed) as error:
                self.note("boot", f"BootNotification failed ({_describe(error)}); retrying")
                await _sleep_unless_closed(link, max(1.0, self.settings.step_s))
                continue
            status, interval = self.protocol.boot_result(result)
            if interval > 0:
                self.config.set("HeartbeatInterval", str(interval), force=True)
            if status == "Accepted":
                self.needs_boot = False
                self.boots += 1
                self.note("boot", f"booted ({self.boot_reason}): Accepted, heartbeat every {interval} s")
                break
            self.state = "pending" if status == "Pending" else "rejected"
            self.note("boot", f"BootNotification answered {status}; retrying in {interval or 30} s")
            await _sleep_unless_closed(link, interval or 30)
        if link.is_closed:
            return False
        self.backoff.reset()
        self.registered.set()
        self.state = "online"
        for payload in self.protocol.status_notifications():
            await self.send(payload)
        follow_ups, self.after_boot = self.after_boot, []
        for follow_up in follow_ups:
            self.spawn(follow_up())
        return True

    async def _heartbeat_loop(self, link: Link) -> None:
        while not link.is_closed:
            interval = self.config.get_float("HeartbeatInterval", 300)
            self._heartbeat_changed.clear()
            if interval <= 0:
                await self._heartbeat_changed.wait()
                continue
            try:
                await asyncio.wait_for(self._heartbeat_changed.wait(), interval)
                continue  # a new interval: start counting again
            except TimeoutError:
                pass
            if await self.send(self.protocol.heartbeat(), attempts=1) is not None:
                self.stats["heartbeats"] += 1

    # --- credentials (security profiles 1–3) ----------------------------------

    def authorization(self) -> str | None:
        """The Authorization header of the next connection: Basic with the stored password, None without one."""
        password = self.config.get(self.password_key)
        return basic_authorization(self.id, password) if password else None

    def _note_connect_failure(self, error: BaseException, delay: float) -> None:
        status = refused_status(error)
        if status is not None:
            self.stats["auth_refused"] += 1
            self.note("security", f"authentication refused (HTTP {status}); retrying in {delay:.1f} s")
        else:
            self.note("connection", f"cannot connect ({_describe(error)}); retrying in {delay:.1f} s")

    async def _reconnect_after_rotation(self) -> None:
        """After an accepted new password: close and reconnect with it (2.0.1 A01, 1.6 Security Whitepaper §5.1).

        The current connection was authenticated with the old one and stays
        so; the central system keeps the old password valid until the station
        came back with the new one. The short wait lets the answer go out first.
        """
        await asyncio.sleep(self.settings.rotation_reconnect_s)
        link = self.link
        if link is None or link.is_closed or self.rebooting:
            return  # the next connection uses the new password anyway
        self._reconnect_at_once = True
        self.registered.clear()
        await link.close()

    def _config_changed(self, name: str, value: str) -> None:
        if name == self.password_key:
            self.note("security", "new Basic-auth password accepted; reconnecting to use it")
            self.spawn(self._reconnect_after_rotation())
        elif name == "HeartbeatInterval":
            self._heartbeat_changed.set()
        elif name == "MeterValueSampleInterval":
            for event in self._wake.values():
                event.set()
        elif name == "AuthorizationCacheEnabled":
            self.auth_cache.enabled = value == "true"

    async def send(self, payload, *, attempts: int = 2, registered: bool = True):
        """Send a message that is worth nothing later (status, heartbeat, notifications) and return its answer.

        Only while registered (or merely connected with `registered=False`,
        for messages the central system asked for); None when offline, on
        a CALLERROR or after `attempts` timeouts.
        """
        for _ in range(attempts):
            link = self.link
            if link is None or link.is_closed or (registered and not self.registered.is_set()):
                return None
            try:
                return await link.call(payload)
            except Disconnected:
                return None
            except TimeoutError:
                self.stats["timeouts"] += 1
                continue
            except CallFailed as error:
                self.note("error", f"{type(payload).__name__} answered with CALLERROR {error.code}")
                return None
        return None

    async def _transaction_sender(self) -> None:
        while True:
            message = await self.tx_queue.wait()
            await self.registered.wait()
            link = self.link
            if link is None or link.is_closed:
                await asyncio.sleep(0.05)
                continue
            session = message.session
            if self.faults is not None and session is not None and not session.ended and self.faults.disconnect():
                self.note("fault", "connection cut in the middle of a transaction")
                self.registered.clear()
                link.abort()
                continue
            attempts = self.config.get_int("TransactionMessageAttempts", 3)
            outcome = await deliver_head(self.tx_queue, link.call, attempts=attempts)
            if outcome == "sent":
                self.stats["tx_messages"] += 1
            elif outcome in ("given_up", "skipped"):
                self.note("error", f"{message.action} given up ({outcome})")
            elif outcome == "retry":
                self.stats["tx_retries"] += 1
                retry_s = self.config.get_float("TransactionMessageRetryInterval", 5) * max(1, message.attempts)
                await asyncio.sleep(min(retry_s, 60) if message.attempts else 0.1)

    # --- reboot --------------------------------------------------------------

    async def reboot(self, *, boot_reason: str = "RemoteReset", stop_reason: str = "SoftReset") -> None:
        """Reset (1.6 §5.14, 2.0.1 B11/B12): end sessions with `stop_reason`, disconnect, boot again with `boot_reason`."""
        if self.rebooting:
            return
        self.rebooting = boot_reason
        self.state = "rebooting"
        self.note("boot", f"rebooting ({boot_reason})")
        for connector in self.connectors.values():
            if connector.session is not None:
                self.request_stop(connector.session, stop_reason)
        # Like a real charger, try to deliver the StopTransactions before going down.
        deadline = time.monotonic() + max(2.0, 3 * self.settings.step_s)
        while time.monotonic() < deadline:
            if all(e.is_set() for e in self._idle.values()) and (len(self.tx_queue) == 0 or not self.registered.is_set()):
                break
            await asyncio.sleep(0.05)
        # A charger takes a moment to go down; the central system meanwhile finishes with the answer it got.
        await asyncio.sleep(self.settings.shutdown_s)
        self.registered.clear()
        if self.link is not None:
            await self.link.close()
        else:
            await self._come_back_from_reboot()

    async def _come_back_from_reboot(self) -> None:
        self.state = "rebooting"
        await asyncio.sleep(self.settings.step_s)
        self.config.reboot()
        self.boot_reason, self.rebooting = self.rebooting or "PowerUp", None
        self.needs_boot = True
        for connector in self.connectors.values():
            if connector.session is None:
                connector.plugged = False
                connector.status = connector.idle_status

    # --- sessions ----------------------------------------------------------

    def _can_start(self, connector: Connector) -> bool:
        return (
            not self.stopping
            and not self.rebooting
            and self.boots > 0
            and self.operative
            and connector.operative
            and connector.session is None
            and not connector.plugged
        )

    async def _connector_loop(self, cid: int) -> None:
        connector = self.connectors[cid]
        rng = self._connector_rng[cid]
        while True:
            timeout = rng.uniform(*self.settings.pause_s) if self.settings.sessions else None
            try:
                request = await asyncio.wait_for(self._requests[cid].get(), timeout)
            except TimeoutError:
                if not self._can_start(connector) or cid in self._requested:
                    continue
                if connector.reservation is not None:
                    id_tag = connector.reservation.id_tag  # the driver who reserved arrives
                else:
                    id_tag = rng.choice(self.settings.id_tags)
                request = SessionRequest(id_tag=id_tag)
            self._idle[cid].clear()
            try:
                await self._run_session(connector, request, rng)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("%s: session on connector %s failed", self.id, cid)
                self.stats["errors"] += 1
                connector.session = None
                connector.plugged = False
            finally:
                self._requested.discard(cid)
                self._idle[cid].set()

    async def set_status(self, connector: Connector, status: str, *, force: bool = False) -> None:
        """Change a connector's status and report it (StatusNotification) when it changed."""
        if connector.status == status and not force:
            return
        connector.status = status
        self.note("status", f"connector {connector.connector_id} {status}")
        await self.send(self.protocol.status_notification(connector))

    async def authorize(self, id_tag: str) -> bool:
        """Whether `id_tag` may charge: Authorize when online (unless pre-authorized locally), else the local list / cache."""
        local = self.local_list.status(id_tag) if self.config.get_bool("LocalAuthListEnabled", True) else None
        if self.registered.is_set():
            if local == "Accepted" and self.config.get_bool("LocalPreAuthorize"):
                return True
            result = await self.send(self.protocol.authorize(id_tag))
            if result is not None:
                info = self.protocol.id_tag_info(result)
                self.auth_cache.remember(id_tag, info)
                return info.get("status") == "Accepted"
        return offline_authorization(
            id_tag,
            local_list=self.local_list if self.config.get_bool("LocalAuthListEnabled", True) else None,
            cache=self.auth_cache,
            local_authorize_offline=self.config.get_bool("LocalAuthorizeOffline", True),
            allow_unknown=self.config.get_bool("AllowOfflineTxForUnknownId"),
        )

    def new_transaction_id(self) -> str:
        """A 2.0.1 transactionId: a UUID drawn from the station's seeded generator."""
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    async def _run_session(self, connector: Connector, request: SessionRequest, rng: random.Random) -> None:
        cid = connector.connector_id
        connector.plugged = True
        await self.set_status(connector, Status.PREPARING)
        if request.remote and not self.config.get_bool("AuthorizeRemoteTxRequests"):
            accepted = True
        else:
            accepted = await self.authorize(request.id_tag)
        if not accepted or self.stopping or self.rebooting:
            self.note("session", f"connector {cid}: {request.id_tag} not authorized")
            await asyncio.sleep(self.settings.step_s)
            connector.plugged = False
            await self.set_status(connector, connector.idle_status)
            return

        reservation = connector.reservation
        if reservation is not None and reservation.admits(request.id_tag):
            connector.reservation = None
        else:
            reservation = None
        self._session_counter += 1
        session = Session(
            local_id=self._session_counter,
            connector_id=cid,
            id_tag=request.id_tag,
            id_tag_type=request.id_tag_type,
            vehicle=Vehicle.random(rng),
            meter_start_wh=int(connector.meter_wh),
            started_at=self._stamp(connector),
            reservation_id=reservation.reservation_id if reservation else None,
            remote_start_id=request.remote_start_id,
            remote=request.remote,
        )
        if self.version == "2.0.1":
            session.transaction_id = self.new_transaction_id()
        session.advanced_at = time.monotonic()
        connector.session = session
        self.stats["sessions"] += 1
        if request.charging_profile is not None:
            profile = ChargingProfile.from_ocpp(cid, request.charging_profile, installed_at=utc_now())
            if self.version == "2.0.1":
                profile.transaction_id = session.transaction_id
            self.profiles.install(profile)
        self._update_power(connector)
        self.tx_queue.put(self.protocol.transaction_started(session))
        self.note(
            "session",
            f"connector {cid}: started for {session.id_tag}"
            f"{' (remote)' if session.remote else ''}{f' on reservation {session.reservation_id}' if reservation else ''}"
            f", {session.vehicle.model.name} at {session.vehicle.soc_pct:.0f} %",
        )
        await self.set_status(connector, session.charging_state)

        plug_until = time.monotonic() + rng.uniform(*self.settings.session_s)
        last_sample = time.monotonic()
        wake = self._wake[cid]
        while session.stop_reason is None:
            now = time.monotonic()
            if now >= plug_until:
                break
            interval = self.config.get_float("MeterValueSampleInterval", 0)
            next_sample = last_sample + interval if interval > 0 else float("inf")
            wait = min(plug_until, next_sample, now + INTEGRATION_PERIOD_S) - now
            wake.clear()
            try:
                await asyncio.wait_for(wake.wait(), max(0.0, wait))
            except TimeoutError:
                pass
            previous = session.charging_state
            self._advance(connector)
            if session.stop_reason is None and session.charging_state != previous:
                changed = self.protocol.charging_state_changed(session)
                if changed is not None:
                    self.tx_queue.put(changed)
                await self.set_status(connector, session.charging_state)
            now = time.monotonic()
            # At the very end the Transaction.End reading stands for the last sample.
            if interval > 0 and now >= next_sample and session.stop_reason is None and now < plug_until:
                connector.voltage_v = phase_voltages(self.rng)
                self.tx_queue.put(self.protocol.meter_values(session, self.reading(connector, "Sample.Periodic")))
                last_sample = next_sample if now - next_sample < interval else now

        self._advance(connector)
        reason = session.stop_reason or ("Local" if rng.random() < 0.7 else "EVDisconnected")
        session.stop_reason = reason
        session.ended = True
        session.power_w = session.current_a = 0.0
        self.tx_queue.put(self.protocol.transaction_ended(session, reason, self.reading(connector, "Transaction.End")))
        self.profiles.end_transaction(self.protocol.profile_transaction_id(session))
        connector.session = None
        self.note("session", f"connector {cid}: stopped ({reason}), {session.energy_wh / 1000:.2f} kWh")
        if reason in REBOOT_REASONS or self.rebooting:
            connector.plugged = False
            connector.status = connector.idle_status
            return
        await self.set_status(connector, Status.FINISHING)
        await asyncio.sleep(rng.uniform(0.5, 2.0) * self.settings.step_s)
        connector.plugged = False
        if connector.inoperative_scheduled:
            connector.operative, connector.inoperative_scheduled = False, False
            self._availability_changed()
        await self.set_status(connector, connector.idle_status)

    @staticmethod
    def _stamp(connector: Connector) -> datetime:
        """Now, but later than the connector's previous reading: OCPP sends milliseconds, readings must not tie."""
        at = utc_now()
        at = at.replace(microsecond=at.microsecond // 1000 * 1000)  # what goes on the wire
        if connector.last_reading_at is not None and at <= connector.last_reading_at:
            at = connector.last_reading_at + timedelta(milliseconds=1)
        connector.last_reading_at = at
        return at

    def reading(self, connector: Connector, context: str) -> Reading:
        """A meter reading of `connector` now, in the `context` (Sample.Periodic, Transaction.Begin/End, Trigger)."""
        session = connector.session
        return Reading(
            timestamp=self._stamp(connector),
            energy_wh=int(connector.meter_wh),
            electrical=connector.electrical(),
            soc_pct=round(session.vehicle.soc_pct, 1) if session else None,
            context=context,
        )

    def limit_for(self, connector: Connector):
        """The current limit (model.Limit in A) the installed charging profiles put on `connector`'s session now."""
        session = connector.session
        if session is None:
            return None
        limits = self.profiles.limits(
            connector.connector_id,
            now=utc_now(),
            session_start=session.started_at,
            transaction_id=self.protocol.profile_transaction_id(session),
        )
        sharing = sum(1 for c in self.connectors.values() if c.session is not None)
        return combined_limit(limits, phases=session.vehicle.model.phases, voltage_v=connector.mean_voltage_v, share=sharing)

    def _advance(self, connector: Connector) -> None:
        session = connector.session
        if session is None:
            return
        now = time.monotonic()
        elapsed, session.advanced_at = now - session.advanced_at, now
        connector.meter_wh += session.advance(
            elapsed,
            evse_max_current_a=connector.max_current_a,
            limit=self.limit_for(connector),
            voltage_v=connector.mean_voltage_v,
        )

    def _update_power(self, connector: Connector) -> None:
        session = connector.session
        if session is not None:
            session.set_power(
                evse_max_current_a=connector.max_current_a, limit=self.limit_for(connector), voltage_v=connector.mean_voltage_v
            )

    def limits_changing(self) -> None:
        """Call before installing or clearing profiles: energy so far is integrated under the old limits."""
        for connector in self.connectors.values():
            self._advance(connector)

    def limits_changed(self) -> None:
        """Call after installing or clearing profiles: sessions take the new limit now."""
        for cid, connector in self.connectors.items():
            self._update_power(connector)
            self._wake[cid].set()

    def request_stop(self, session: Session, reason: str) -> None:
        """Ask the session to end with `reason` (a 1.6 Reason); its connector loop stops it."""
        if session.stop_reason is None and not session.ended:
            session.stop_reason = reason
            self._wake[session.connector_id].set()

    def deauthorize(self, session: Session) -> None:
        """The central system refused the id tag of a running transaction (1.6 §4.8, 2.0.1 E05)."""
        if self.config.get_bool("StopTransactionOnInvalidId", True):
            self.note("session", f"connector {session.connector_id}: {session.id_tag} refused; stopping")
            self.request_stop(session, "DeAuthorized")

    def find_session(self, transaction_id) -> Session | None:
        for connector in self.connectors.values():
            session = connector.session
            if session is not None and self.protocol.matches_transaction(session, transaction_id):
                return session
        return None

    # --- operations the central system asks for ----------------------------

    def remote_start(
        self,
        id_tag: str,
        connector_id: int | None = None,
        *,
        remote_start_id: int | None = None,
        charging_profile: dict | None = None,
        id_tag_type: str = "Central",
    ) -> bool:
        """RemoteStartTransaction / RequestStartTransaction: queue a remote session; False when no connector can take it."""
        if self.stopping or self.rebooting or not self.operative:
            return False
        candidates = [connector_id] if connector_id else list(self.connectors)
        for cid in candidates:
            connector = self.connectors.get(cid)
            if connector is None or cid in self._requested or not connector.operative:
                continue
            if connector.session is not None or connector.plugged:
                continue
            if connector.reservation is not None and not connector.reservation.admits(id_tag):
                continue
            self._requested.add(cid)
            self._requests[cid].put_nowait(
                SessionRequest(
                    id_tag=id_tag,
                    remote=True,
                    remote_start_id=remote_start_id,
                    charging_profile=charging_profile,
                    id_tag_type=id_tag_type,
                )
            )
            self.note("command", f"remote start for {id_tag} on connector {cid}")
            return True
        return False

    def remote_stop(self, transaction_id) -> bool:
        """RemoteStopTransaction / RequestStopTransaction: stop the session with that transaction id."""
        session = self.find_session(transaction_id)
        if session is None:
            return False
        self.note("command", f"remote stop of transaction {transaction_id}")
        self.request_stop(session, "Remote")
        return True

    def unlock(self, connector_id: int, *, stop_session: bool) -> str:
        """UnlockConnector: "Unlocked", "UnknownConnector", or "Busy" when a session runs and may not be stopped."""
        connector = self.connectors.get(connector_id)
        if connector is None:
            return "UnknownConnector"
        if connector.session is not None:
            if not stop_session:
                return "Busy"
            self.request_stop(connector.session, "UnlockCommand")
        self.note("command", f"connector {connector_id} unlocked")
        return "Unlocked"

    def change_availability(self, connector_id: int, operative: bool) -> str:
        """ChangeAvailability (1.6 §5.2, 2.0.1 G03/G04) of a connector or, with 0, the whole charge point.

        Returns "Accepted", "Scheduled" (a session runs; applied when it ends)
        or "Rejected" (no such connector). Status notifications follow from
        `report_availability()`.
        """
        if connector_id != 0 and connector_id not in self.connectors:
            return "Rejected"
        targets = list(self.connectors.values()) if connector_id == 0 else [self.connectors[connector_id]]
        if connector_id == 0:
            self.operative = operative
        scheduled = False
        for connector in targets:
            if not operative and connector.session is not None:
                connector.inoperative_scheduled = True
                scheduled = True
            else:
                connector.operative = operative
                connector.inoperative_scheduled = False
        self._availability_changed()
        self.note(
            "command",
            f"availability of {'the charge point' if connector_id == 0 else f'connector {connector_id}'}: "
            f"{'Operative' if operative else 'Inoperative'}{' (scheduled)' if scheduled else ''}",
        )
        return "Scheduled" if scheduled else "Accepted"

    def _availability_changed(self) -> None:
        if "ChargingStation.AvailabilityState" in self.config:
            self.config.set("ChargingStation.AvailabilityState", "Available" if self.operative else "Unavailable", force=True)
            for cid, connector in self.connectors.items():
                self.config.set(f"EVSE{cid}.AvailabilityState", _status_201(connector), force=True)

    async def report_idle_statuses(self, connector_ids=None) -> None:
        """Report the status of connectors with nothing plugged in (after availability or reservation changes)."""
        for cid, connector in self.connectors.items():
            if connector_ids is not None and cid not in connector_ids:
                continue
            if connector.session is None and not connector.plugged:
                await self.set_status(connector, connector.idle_status)
        if self.version == "1.6" and (connector_ids is None or 0 in connector_ids):
            await self.send(self.protocol.status_notification(None))

    def reserve(self, reservation: Reservation) -> str:
        """ReserveNow (1.6 §5.13, 2.0.1 H01): "Accepted", "Occupied", "Unavailable", "Faulted" or "Rejected"."""
        connector = self.connectors.get(reservation.connector_id)
        if connector is None:
            return "Rejected"
        if not connector.operative or not self.operative:
            return "Unavailable"
        if connector.status == Status.FAULTED:
            return "Faulted"
        if connector.session is not None or connector.plugged or reservation.connector_id in self._requested:
            return "Occupied"
        if connector.reservation is not None and connector.reservation.reservation_id != reservation.reservation_id:
            return "Occupied"
        for other in self.connectors.values():  # a new reservation with a known id replaces the old one
            if other.reservation is not None and other.reservation.reservation_id == reservation.reservation_id:
                other.reservation = None
        connector.reservation = reservation
        self.note(
            "command", f"connector {reservation.connector_id} reserved for {reservation.id_tag} (reservation {reservation.reservation_id})"
        )
        return "Accepted"

    def cancel_reservation(self, reservation_id: int) -> int | None:
        """CancelReservation: remove it; returns its connector id, or None when unknown."""
        for cid, connector in self.connectors.items():
            if connector.reservation is not None and connector.reservation.reservation_id == reservation_id:
                connector.reservation = None
                self.note("command", f"reservation {reservation_id} cancelled")
                return cid
        return None

    async def _reservation_ticker(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            now = utc_now()
            for connector in self.connectors.values():
                reservation = connector.reservation
                if reservation is not None and reservation.expired(now):
                    connector.reservation = None
                    self.note("session", f"reservation {reservation.reservation_id} expired")
                    expired = self.protocol.reservation_expired(reservation)
                    if expired is not None:
                        await self.send(expired)
                    if connector.session is None and not connector.plugged:
                        await self.set_status(connector, connector.idle_status)

    def install_profile(self, profile: ChargingProfile) -> None:
        self.limits_changing()
        self.profiles.install(profile)
        self.limits_changed()
        self.note("command", f"charging profile {profile.profile_id} ({profile.purpose}) installed on {profile.connector_id}")

    def clear_profiles(self, **criteria) -> list[int]:
        self.limits_changing()
        cleared = self.profiles.clear(**criteria)
        self.limits_changed()
        if cleared:
            self.note("command", f"charging profiles {cleared} cleared")
        return cleared

    async def update_firmware(self, *, location: str, retrieve_at: datetime | None, request_id: int | None = None) -> None:
        """Walk through a firmware update (1.6 §5.19, 2.0.1 L01): download, install, reboot, report Installed.

        An update with a `request_id` (2.0.1's, and 1.6's SignedUpdateFirmware)
        also reports the statuses only signed updates know (DownloadScheduled,
        SignatureVerified, InstallRebooting). Once installed, the station
        reports the security event FirmwareUpdated (2.0.1 A04, 1.6 Security Whitepaper).
        """
        signed = request_id is not None
        if retrieve_at is not None:
            wait_s = (retrieve_at - utc_now()).total_seconds()
            if wait_s > 0:
                if signed:
                    await self._firmware_status("DownloadScheduled", request_id)
                await asyncio.sleep(wait_s)
        for status in ("Downloading", "Downloaded"):
            await self._firmware_status(status, request_id)
            await asyncio.sleep(self.settings.step_s)
        if signed:
            await self._firmware_status("SignatureVerified", request_id)
        await self._firmware_status("Installing", request_id)
        await asyncio.sleep(self.settings.step_s)
        self.firmware_version = _next_version(self.firmware_version, location)

        async def installed():
            await self._firmware_status("Installed", request_id)
            self.firmware_status = "Idle"
            await self.send(self.protocol.security_event("FirmwareUpdated", f"firmware {self.firmware_version}"))

        self.after_boot.append(installed)
        if signed:
            await self._firmware_status("InstallRebooting", request_id)
        await self.reboot(boot_reason="FirmwareUpdate", stop_reason="Reboot")

    async def _firmware_status(self, status: str, request_id: int | None) -> None:
        self.firmware_status = status
        self.note("firmware", f"firmware {status}")
        await self.send(self.protocol.firmware_status(status, request_id))

    async def upload_log(self, *, request_id: int | None = None) -> None:
        """Walk through a diagnostics / log upload (1.6 §5.9, 2.0.1 N01): Uploading, then Uploaded."""
        for status in ("Uploading", "Uploaded"):
            await asyncio.sleep(self.settings.step_s)
            self.log_status = status
            self.note("firmware", f"log upload {status}")
            await self.send(self.protocol.log_status(status, request_id))
        self.log_status = "Idle"

    def data_transfer(self, vendor_id: str, message_id: str | None, data):
        """DataTransfer from the central system (1.6 §5.6, 2.0.1 P01): returns (status, data to answer with).

        The simulator's own vendor (`VENDOR_ID`) knows one message, "Echo":
        Accepted, with `data` sent back unchanged. Its other message ids are
        UnknownMessageId, and other vendors UnknownVendorId.
        """
        if vendor_id != VENDOR_ID:
            return "UnknownVendorId", None
        if message_id != "Echo":
            return "UnknownMessageId", None
        self.note("command", f"DataTransfer Echo of {str(data)[:40]!r}")
        return "Accepted", data

    def transaction_message(self, action: str, build, session: Session | None, on_result=None) -> QueuedMessage:
        """A QueuedMessage for the transaction queue, marked offline when the station is not registered."""
        return QueuedMessage(action=action, build=build, session=session, on_result=on_result, queued_offline=not self.registered.is_set())


@dataclass(frozen=True)
class Reading:
    """A meter reading: register (Wh), electrical values, EV state of charge (%) and the OCPP ReadingContext."""

    timestamp: datetime
    energy_wh: int
    electrical: object
    soc_pct: float | None
    context: str


def _status_201(connector: Connector) -> str:
    if not connector.operative:
        return "Unavailable"
    if connector.reservation is not None:
        return "Reserved"
    return "Occupied" if connector.plugged else "Available"


def _next_version(version: str, location: str) -> str:
    """The firmware version after an update from `location`.

    The version its file name gives ("…/fw-2.1.0.bin": 2.1.0), else the patch number plus one.
    """
    named = re.search(r"\d+(?:\.\d+)+", location.rsplit("/", 1)[-1])
    if named:
        return named.group(0)
    parts = version.split(".")
    if parts and parts[-1].isdigit():
        parts[-1] = str(int(parts[-1]) + 1)
        return ".".join(parts)
    return version + ".1"


@functools.lru_cache(maxsize=8)
def _shared_tls(ca_file: str | None, client_cert: str | None, client_key: str | None):
    """One SSLContext per (CA, certificate, key) for the whole fleet; None: websockets' default for wss://."""
    if not (ca_file or client_cert or client_key):
        return None
    return ssl_context(ca_file=ca_file, client_cert=client_cert, client_key=client_key)


def _describe(error: BaseException) -> str:
    text = str(error) or error.__class__.__name__
    return text if len(text) < 120 else text[:117] + "..."


async def _sleep_unless_closed(link: Link, seconds: float) -> None:
    try:
        await asyncio.wait_for(link.closed.wait(), seconds)
    except TimeoutError:
        pass
