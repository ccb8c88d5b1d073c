"""The lean charge point of the benchmarks: one OCPP-J socket, hand-built frames, nothing else.

Not the product simulator (`simulator/`): that one models
sessions, a key store and faults, and costs far more per connection than the
server work a benchmark wants to measure. This is plain `websockets` with
frames built from dicts: a CALL is a `json.dumps`, an answer is matched to its
CALL by message id, and every CALL the central system sends is answered at
once with a fixed, schema-valid answer.

    cp = LeanChargePoint("BENCH-0001", "ws://127.0.0.1:8000/ocpp/BENCH-0001", version="1.6")
    await cp.connect()
    await cp.boot()                      # raises CallFailed unless Accepted
    await cp.report_status()             # StatusNotification per connector
    await cp.start_transaction("BENCH-TAG")
    latency_s = await cp.meter_values()  # one MeterValues (2.0.1: TransactionEvent Updated)
    await cp.close()

Versions: "1.6" (OCPP 1.6J) and "2.0.1" (OCPP 2.0.1); both speak the
messages above in their own shapes (OCPP 1.6 §4, OCPP 2.0.1 B01, G01, E01-E02).
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import websockets

SUBPROTOCOL = {"1.6": "ocpp1.6", "2.0.1": "ocpp2.0.1"}
BOOT = {
    "1.6": {"chargePointVendor": "Bench", "chargePointModel": "Lean"},
    "2.0.1": {"reason": "PowerUp", "chargingStation": {"vendorName": "Bench", "model": "Lean"}},
}
# Answers to central-system CALLs the benchmarks send; anything else gets {"status": "Accepted"}.
ANSWERS = {
    "GetConfiguration": {"configurationKey": []},
    "DataTransfer": {"status": "UnknownVendorId"},
}
# One meter value: what a three-phase 22 kW charge point reports every sample interval.
SAMPLES_PER_METER_VALUE = 4


class CallFailed(RuntimeError):
    """The central system answered a CALL with a CALLERROR, or with a status other than the one required."""


class LeanChargePoint:
    """One charge point socket; see the module docstring.

    Counters for the benchmarks: `calls_received` (CALLs from the central
    system, all answered), `close_code` (set when the server closed the
    socket, None while open or after `close()`).
    """

    def __init__(
        self,
        charge_point_id: str,
        url: str,
        *,
        version: str = "1.6",
        connectors: int = 2,
        password: str | None = None,
        source_address: str | None = None,
    ):
        if version not in SUBPROTOCOL:
            raise ValueError(f"version: 1.6 or 2.0.1, not {version!r}")
        self.id = charge_point_id
        self.url = url
        self.version = version
        self.connectors = connectors
        # Security profile 1: `Authorization: Basic base64(id:password)` on the upgrade.
        self.password = password
        # The local address to connect from (say 127.0.0.7): one address has about 28,000 ephemeral ports.
        self.source_address = source_address
        self.ws = None
        self.calls_received = 0
        self.close_code: int | None = None
        self.heartbeat_interval_s: int | None = None
        self.transaction_id: int | str | None = None
        self.energy_wh = 0
        self._ids = itertools.count(1)
        self._pending: dict[str, asyncio.Future] = {}
        self._reader: asyncio.Task | None = None
        self._heartbeat: asyncio.Task | None = None
        self._closing = False
        self._seq_no = 0
        self._last_timestamp = datetime.min.replace(tzinfo=UTC)

    # --- the socket -----------------------------------------------------------

    async def connect(self, timeout_s: float = 30) -> None:
        """Open the WebSocket with the version's subprotocol. Raises OSError, websockets exceptions or TimeoutError."""
        # No client pings: daphne pings every socket itself, and the OCPP traffic is the load.
        headers = None
        if self.password is not None:
            token = base64.b64encode(f"{self.id}:{self.password}".encode()).decode()
            headers = {"Authorization": f"Basic {token}"}
        self.ws = await websockets.connect(
            self.url,
            subprotocols=[SUBPROTOCOL[self.version]],
            additional_headers=headers,
            ping_interval=None,
            open_timeout=timeout_s,
            close_timeout=2,
            max_queue=None,
            **({"local_addr": (self.source_address, 0)} if self.source_address else {}),
        )
        self._reader = asyncio.create_task(self._read())

    async def close(self) -> None:
        """Close the socket and stop the reader and heartbeat tasks; never raises."""
        self._closing = True
        for task in (self._heartbeat, self._reader):
            if task is not None:
                task.cancel()
        if self.ws is not None:
            try:
                await self.ws.close()
            except Exception:  # noqa: BLE001 - closing a broken socket
                pass

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                frame = json.loads(raw)
                if frame[0] == 2:
                    self.calls_received += 1
                    await self.ws.send(json.dumps([3, frame[1], ANSWERS.get(frame[2], {"status": "Accepted"})]))
                    continue
                future = self._pending.pop(frame[1], None)
                if future is not None and not future.done():
                    future.set_result(frame)
        except websockets.ConnectionClosed:
            pass
        finally:
            if not self._closing and self.ws is not None:
                self.close_code = self.ws.close_code
            error = ConnectionError(f"{self.id}: socket closed ({self.ws.close_code if self.ws else None})")
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(error)
            self._pending.clear()

    async def call(self, action: str, payload: dict, timeout_s: float = 30) -> tuple[dict, float]:
        """Send one CALL and wait for its answer: (CALLRESULT payload, latency in seconds).

        Latency is from the frame handed to the socket to the answer read.
        Raises CallFailed on a CALLERROR, TimeoutError after `timeout_s`,
        ConnectionError when the socket closes first.
        """
        message_id = str(next(self._ids))
        future = asyncio.get_running_loop().create_future()
        self._pending[message_id] = future
        started = time.perf_counter()
        try:
            await self.ws.send(json.dumps([2, message_id, action, payload]))
            frame = await asyncio.wait_for(future, timeout_s)
        except websockets.ConnectionClosed as exc:
            raise ConnectionError(f"{self.id}: socket closed ({exc})") from exc
        finally:
            self._pending.pop(message_id, None)
        latency = time.perf_counter() - started
        if frame[0] == 4:
            raise CallFailed(f"{action}: CALLERROR {frame[2]} {frame[3]}")
        return frame[2], latency

    # --- OCPP messages --------------------------------------------------------

    def _timestamp(self) -> str:
        """Now in UTC, millisecond precision, strictly after the last one this charge point sent.

        Back-to-back meter values of one connector are then never taken for a
        resent copy of the previous one.
        """
        now = datetime.now(UTC)
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)
        if now <= self._last_timestamp:
            now = self._last_timestamp + timedelta(milliseconds=1)
        self._last_timestamp = now
        return now.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    async def boot(self, timeout_s: float = 30) -> float:
        """BootNotification; returns its latency in seconds. Raises CallFailed unless Accepted."""
        answer, latency = await self.call("BootNotification", BOOT[self.version], timeout_s)
        if answer.get("status") != "Accepted":
            raise CallFailed(f"BootNotification answered {answer.get('status')}")
        self.heartbeat_interval_s = answer.get("interval")
        return latency

    async def report_status(self, status: str = "Available", timeout_s: float = 30) -> None:
        """StatusNotification for every connector, one after the other (1.6: connector 0 too)."""
        if self.version == "1.6":
            for connector in range(0, self.connectors + 1):
                await self.call("StatusNotification", {"connectorId": connector, "errorCode": "NoError", "status": status}, timeout_s)
        else:
            for evse in range(1, self.connectors + 1):
                await self.call(
                    "StatusNotification",
                    {"timestamp": self._timestamp(), "connectorStatus": status, "evseId": evse, "connectorId": 1},
                    timeout_s,
                )

    def start_heartbeats(self) -> None:
        """Send Heartbeat every interval the boot answer gave, from a random phase (as a fleet does)."""
        interval = self.heartbeat_interval_s or 300

        async def beat():
            await asyncio.sleep(interval * (hash(self.id) % 1000) / 1000)
            while True:
                try:
                    await self.call("Heartbeat", {})
                except (CallFailed, TimeoutError, ConnectionError):
                    pass
                await asyncio.sleep(interval)

        self._heartbeat = asyncio.create_task(beat())

    async def start_transaction(self, id_tag: str, connector: int = 1, timeout_s: float = 30) -> float:
        """Start a transaction on `connector` (1.6 StartTransaction; 2.0.1 TransactionEvent Started); returns its latency in s.

        A new timestamp each time. Raises CallFailed when the id tag is not Accepted.
        """
        if self.version == "1.6":
            answer, latency = await self.call(
                "StartTransaction",
                {"connectorId": connector, "idTag": id_tag, "meterStart": self.energy_wh, "timestamp": self._timestamp()},
                timeout_s,
            )
            status = answer["idTagInfo"]["status"]
            self.transaction_id = answer["transactionId"]
        else:
            self.transaction_id = uuid.uuid4().hex
            answer, latency = await self.call(
                "TransactionEvent",
                {
                    "eventType": "Started",
                    "timestamp": self._timestamp(),
                    "triggerReason": "Authorized",
                    "seqNo": self._next_seq_no(),
                    "evse": {"id": connector, "connectorId": 1},
                    "transactionInfo": {"transactionId": self.transaction_id, "chargingState": "Charging"},
                    "idToken": {"idToken": id_tag, "type": "ISO14443"},
                    "meterValue": [self._meter_value_201()],
                },
                timeout_s,
            )
            status = answer.get("idTokenInfo", {}).get("status")
        if status != "Accepted":
            raise CallFailed(f"transaction start: id tag {id_tag} answered {status}")
        return latency

    def _next_seq_no(self) -> int:
        seq_no, self._seq_no = self._seq_no, self._seq_no + 1
        return seq_no

    def _meter_value_201(self, sampled_values: int = SAMPLES_PER_METER_VALUE) -> dict:
        return {
            "timestamp": self._timestamp(),
            "sampledValue": [
                {"value": self.energy_wh, "measurand": "Energy.Active.Import.Register", "unitOfMeasure": {"unit": "Wh"}},
                {"value": 22000, "measurand": "Power.Active.Import", "unitOfMeasure": {"unit": "W"}},
                {"value": 32.0, "measurand": "Current.Import", "unitOfMeasure": {"unit": "A"}},
                {"value": 230.0, "measurand": "Voltage", "unitOfMeasure": {"unit": "V"}},
            ][:sampled_values],
        }

    async def meter_values(self, connector: int = 1, timeout_s: float = 30, *, sampled_values: int = SAMPLES_PER_METER_VALUE) -> float:
        """One periodic meter value of the running transaction with `sampled_values` (1-4) sampled values.

        Energy register, power, current, voltage, the first `sampled_values` of them.
        1.6: MeterValues (§4.7); 2.0.1: TransactionEvent Updated, triggerReason
        MeterValuePeriodic (E02). The energy register grows 10 Wh each time.
        Returns the latency in seconds; raises as `call` does.
        """
        self.energy_wh += 10
        if self.version == "1.6":
            payload = {
                "connectorId": connector,
                "transactionId": self.transaction_id,
                "meterValue": [
                    {
                        "timestamp": self._timestamp(),
                        "sampledValue": [
                            {
                                "value": str(self.energy_wh),
                                "context": "Sample.Periodic",
                                "measurand": "Energy.Active.Import.Register",
                                "unit": "Wh",
                            },
                            {"value": "22000", "context": "Sample.Periodic", "measurand": "Power.Active.Import", "unit": "W"},
                            {"value": "32.0", "context": "Sample.Periodic", "measurand": "Current.Import", "unit": "A"},
                            {"value": "230.0", "context": "Sample.Periodic", "measurand": "Voltage", "unit": "V"},
                        ][:sampled_values],
                    }
                ],
            }
            _, latency = await self.call("MeterValues", payload, timeout_s)
        else:
            _, latency = await self.call(
                "TransactionEvent",
                {
                    "eventType": "Updated",
                    "timestamp": self._timestamp(),
                    "triggerReason": "MeterValuePeriodic",
                    "seqNo": self._next_seq_no(),
                    "transactionInfo": {"transactionId": self.transaction_id},
                    "meterValue": [self._meter_value_201(sampled_values)],
                },
                timeout_s,
            )
        return latency
