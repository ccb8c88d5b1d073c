"""A simulated OCPP 1.6 charge point for end-to-end tests, built on the mobilityhouse `ocpp` library.

`SimulatedChargePoint` answers every central-system operation of OCPP 1.6
(§5) the way a charge point with all feature profiles would, and keeps the
state those operations change (configuration keys, local list, reservations,
charging profiles, transactions) so a test can check both sides. What a real
charge point does after answering — start a transaction after
RemoteStartTransaction, report firmware progress after UpdateFirmware, send
the message TriggerMessage asked for — it does from `@after` hooks, which the
library runs as tasks once the CALLRESULT is sent.

`ChargePointRunner` runs one connection in an event loop of its own thread, so
synchronous tests can call the REST API (blocking) while the charge point keeps
answering the server.

Ways to misbehave, for the failure cases: `silent` actions are never answered,
`delays` answers late (the library reads frames one at a time, so the whole
connection waits meanwhile).
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from datetime import datetime, timedelta, timezone

import websockets
from ocpp.exceptions import NotSupportedError
from ocpp.routing import after, on
from ocpp.v16 import ChargePoint
from ocpp.v16 import call, call_result
from ocpp.v16.enums import (
    Action,
    AvailabilityStatus,
    CancelReservationStatus,
    ChargePointErrorCode,
    ChargePointStatus,
    ChargingProfileStatus,
    ClearCacheStatus,
    ClearChargingProfileStatus,
    ConfigurationStatus,
    DataTransferStatus,
    DiagnosticsStatus,
    FirmwareStatus,
    GetCompositeScheduleStatus,
    MessageTrigger,
    RemoteStartStopStatus,
    ReservationStatus,
    ResetStatus,
    TriggerMessageStatus,
    UnlockStatus,
    UpdateStatus,
)

VENDOR_ID = "com.example.e2e"


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


def default_configuration() -> dict[str, dict]:
    """Configuration keys (OCPP 1.6 §9.1) as a charge point ships them: {key: {"value", "readonly"}}."""
    return {
        "HeartbeatInterval": {"value": "300", "readonly": False},
        "MeterValueSampleInterval": {"value": "60", "readonly": False},
        "ConnectionTimeOut": {"value": "90", "readonly": False},
        "LocalAuthorizeOffline": {"value": "true", "readonly": False},
        "LocalAuthListEnabled": {"value": "true", "readonly": False},
        "NumberOfConnectors": {"value": "2", "readonly": True},
        "SupportedFeatureProfiles": {
            "value": "Core,FirmwareManagement,LocalAuthListManagement,Reservation,SmartCharging,RemoteTrigger",
            "readonly": True,
        },
        "LocalAuthListMaxLength": {"value": "100", "readonly": True},
        # Takes effect only after a reboot.
        "WebSocketPingInterval": {"value": "0", "readonly": False},
    }


class SimulatedChargePoint(ChargePoint):
    """A two-connector charge point with every OCPP 1.6 feature profile.

    State the tests read: `configuration`, `local_list` / `local_list_version`,
    `reservations` {reservationId: {...}}, `profiles` {chargingProfileId:
    (connectorId, profile)}, `transactions` {connectorId: transactionId},
    `received` (every CALL from the central system: (action, payload)),
    `sent` (every CALL this charge point made: (action, request dataclass,
    answer dataclass or None for a CALLERROR)), `errors` (exceptions raised by follow-up messages).
    """

    REBOOT_REQUIRED = {"WebSocketPingInterval"}
    CONNECTORS = (1, 2)

    def __init__(self, id: str, connection, *, firmware_version: str = "1.0.0"):
        super().__init__(id, connection, response_timeout=10)
        self.firmware_version = firmware_version
        self.configuration = default_configuration()
        self.local_list: dict[str, dict] = {}
        self.local_list_version = 0
        self.reservations: dict[int, dict] = {}
        self.profiles: dict[int, tuple[int, dict]] = {}
        self.transactions: dict[int, int] = {}
        self.meter_wh = {connector: 10_000 * connector for connector in self.CONNECTORS}
        self.availability = {connector: "Operative" for connector in (0, *self.CONNECTORS)}
        self.received: list[tuple[str, dict]] = []
        self.sent: list[tuple[str, object, object]] = []
        self.errors: list[BaseException] = []
        self.silent: set[str] = set()
        self.delays: dict[str, float] = {}
        self._starting: dict | None = None

    # --- frames in: record, misbehave on request, then let the library route them

    async def route_message(self, raw_msg):
        try:
            frame = json.loads(raw_msg)
        except ValueError:
            frame = None
        if isinstance(frame, list) and len(frame) == 4 and frame[0] == 2:
            action = frame[2]
            self.received.append((action, frame[3]))
            if action in self.silent:
                return
            if action in self.delays:
                await asyncio.sleep(self.delays[action])
        await super().route_message(raw_msg)

    # --- frames out

    async def send(self, payload):
        """Send a CALL of our own; records it and its answer (None for a CALLERROR) in `sent`."""
        result = await self.call(payload)
        self.sent.append((type(payload).__name__, payload, result))
        return result

    def follow_up(self, *payloads, pause: float = 0.0):
        """Send `payloads` one after another from a task, as a charge point reports progress."""

        async def run():
            try:
                for payload in payloads:
                    if pause:
                        await asyncio.sleep(pause)
                    await self.send(payload)
            except Exception as error:  # surfaced to the test through `errors`
                self.errors.append(error)

        return run()

    async def boot(self):
        """BootNotification, then every connector's status, as after power-up (§4.2, §4.9)."""
        answer = await self.send(
            call.BootNotification(
                charge_point_vendor="Acme", charge_point_model="Sim-2", firmware_version=self.firmware_version
            )
        )
        for connector in (0, *self.CONNECTORS):
            await self.send(self.status(connector))
        return answer

    def status(self, connector: int, status: str | None = None) -> call.StatusNotification:
        if status is None:
            if self.availability.get(connector) == "Inoperative" or self.availability[0] == "Inoperative":
                status = ChargePointStatus.unavailable
            elif connector in self.transactions:
                status = ChargePointStatus.charging
            elif any(r["connector_id"] == connector for r in self.reservations.values()):
                status = ChargePointStatus.reserved
            else:
                status = ChargePointStatus.available
        return call.StatusNotification(
            connector_id=connector, error_code=ChargePointErrorCode.no_error, status=status, timestamp=now_iso()
        )

    def _meter_values(self, connector: int) -> call.MeterValues:
        self.meter_wh[connector] += 125
        return call.MeterValues(
            connector_id=connector,
            transaction_id=self.transactions.get(connector),
            meter_value=[
                {
                    "timestamp": now_iso(),
                    "sampledValue": [
                        {"value": str(self.meter_wh[connector]), "measurand": "Energy.Active.Import.Register", "unit": "Wh"}
                    ],
                }
            ],
        )

    # --- Core profile

    @on(Action.change_availability)
    def on_change_availability(self, connector_id, type, **kwargs):
        # §5.2: a connector in use changes after its transaction ends.
        busy = self.transactions if connector_id == 0 else {c for c in self.transactions if c == connector_id}
        if busy and type == "Inoperative":
            return call_result.ChangeAvailability(status=AvailabilityStatus.scheduled)
        self.availability[connector_id] = type
        return call_result.ChangeAvailability(status=AvailabilityStatus.accepted)

    @after(Action.change_availability)
    def after_change_availability(self, connector_id, **kwargs):
        connectors = (0, *self.CONNECTORS) if connector_id == 0 else (connector_id,)
        return self.follow_up(*(self.status(c) for c in connectors))

    @on(Action.change_configuration)
    def on_change_configuration(self, key, value, **kwargs):
        item = self.configuration.get(key)
        if item is None:
            return call_result.ChangeConfiguration(status=ConfigurationStatus.not_supported)
        if item["readonly"]:
            return call_result.ChangeConfiguration(status=ConfigurationStatus.rejected)
        item["value"] = value
        if key in self.REBOOT_REQUIRED:
            return call_result.ChangeConfiguration(status=ConfigurationStatus.reboot_required)
        return call_result.ChangeConfiguration(status=ConfigurationStatus.accepted)

    @on(Action.clear_cache)
    def on_clear_cache(self, **kwargs):
        return call_result.ClearCache(status=ClearCacheStatus.accepted)

    @on(Action.data_transfer)
    def on_data_transfer(self, vendor_id, message_id=None, data=None, **kwargs):
        if vendor_id != VENDOR_ID:
            return call_result.DataTransfer(status=DataTransferStatus.unknown_vendor_id)
        if message_id != "Echo":
            return call_result.DataTransfer(status=DataTransferStatus.unknown_message_id)
        return call_result.DataTransfer(status=DataTransferStatus.accepted, data=data)

    @on(Action.get_configuration)
    def on_get_configuration(self, key=None, **kwargs):
        wanted = key if key else list(self.configuration)
        known = [k for k in wanted if k in self.configuration]
        unknown = [k for k in wanted if k not in self.configuration]
        return call_result.GetConfiguration(
            configuration_key=[
                {"key": k, "readonly": self.configuration[k]["readonly"], "value": self.configuration[k]["value"]}
                for k in known
            ],
            unknown_key=unknown or None,
        )

    @on(Action.remote_start_transaction)
    def on_remote_start_transaction(self, id_tag, connector_id=None, charging_profile=None, **kwargs):
        free = [c for c in self.CONNECTORS if c not in self.transactions and self.availability[c] == "Operative"]
        connector = connector_id if connector_id is not None else (free[0] if free else None)
        if connector not in free:
            self._starting = None
            return call_result.RemoteStartTransaction(status=RemoteStartStopStatus.rejected)
        self._starting = {"connector_id": connector, "id_tag": id_tag, "charging_profile": charging_profile}
        return call_result.RemoteStartTransaction(status=RemoteStartStopStatus.accepted)

    @after(Action.remote_start_transaction)
    async def after_remote_start_transaction(self, **kwargs):
        starting, self._starting = self._starting, None
        if starting is None:
            return
        connector, id_tag = starting["connector_id"], starting["id_tag"]
        # A reservation for this id tag on this connector is consumed by the transaction (§5.13).
        reservation_id = next(
            (rid for rid, r in self.reservations.items() if r["connector_id"] == connector and r["id_tag"] == id_tag), None
        )
        try:
            await self.send(self.status(connector, ChargePointStatus.preparing))
            answer = await self.send(
                call.StartTransaction(
                    connector_id=connector,
                    id_tag=id_tag,
                    meter_start=self.meter_wh[connector],
                    timestamp=now_iso(),
                    reservation_id=reservation_id,
                )
            )
            self.reservations.pop(reservation_id, None)
            self.transactions[connector] = answer.transaction_id
            if starting["charging_profile"]:
                profile = dict(starting["charging_profile"], transaction_id=answer.transaction_id)
                self.profiles[profile["charging_profile_id"]] = (connector, profile)
            await self.send(self.status(connector))
            await self.send(self._meter_values(connector))
        except Exception as error:
            self.errors.append(error)

    @on(Action.remote_stop_transaction)
    def on_remote_stop_transaction(self, transaction_id, **kwargs):
        if transaction_id not in self.transactions.values():
            return call_result.RemoteStopTransaction(status=RemoteStartStopStatus.rejected)
        return call_result.RemoteStopTransaction(status=RemoteStartStopStatus.accepted)

    @after(Action.remote_stop_transaction)
    async def after_remote_stop_transaction(self, transaction_id, **kwargs):
        connector = next((c for c, tx in self.transactions.items() if tx == transaction_id), None)
        if connector is None:
            return
        await self.stop_transaction(connector, "Remote")

    async def stop_transaction(self, connector: int, reason: str) -> None:
        try:
            transaction_id = self.transactions.pop(connector)
            self.meter_wh[connector] += 250
            await self.send(
                call.StopTransaction(
                    meter_stop=self.meter_wh[connector],
                    timestamp=now_iso(),
                    transaction_id=transaction_id,
                    reason=reason,
                )
            )
            # Tx profiles end with their transaction (§3.13.1).
            for pid, (_, profile) in list(self.profiles.items()):
                if profile.get("transaction_id") == transaction_id:
                    del self.profiles[pid]
            await self.send(self.status(connector, ChargePointStatus.finishing))
            await self.send(self.status(connector))
        except Exception as error:
            self.errors.append(error)

    @on(Action.reset)
    def on_reset(self, type, **kwargs):
        return call_result.Reset(status=ResetStatus.accepted)

    @after(Action.reset)
    async def after_reset(self, type, **kwargs):
        # Transactions end with the reset's reason, then the charge point boots again (§5.14).
        for connector in list(self.transactions):
            await self.stop_transaction(connector, f"{type}Reset")
        try:
            await self.boot()
        except Exception as error:
            self.errors.append(error)

    @on(Action.unlock_connector)
    def on_unlock_connector(self, connector_id, **kwargs):
        if connector_id not in self.CONNECTORS:
            return call_result.UnlockConnector(status=UnlockStatus.not_supported)
        return call_result.UnlockConnector(status=UnlockStatus.unlocked)

    # --- Firmware Management profile

    @on(Action.get_diagnostics)
    def on_get_diagnostics(self, location, **kwargs):
        return call_result.GetDiagnostics(file_name=f"diagnostics-{self.id}.zip")

    @after(Action.get_diagnostics)
    def after_get_diagnostics(self, **kwargs):
        return self.follow_up(
            call.DiagnosticsStatusNotification(status=DiagnosticsStatus.uploading),
            call.DiagnosticsStatusNotification(status=DiagnosticsStatus.uploaded),
        )

    @on(Action.update_firmware)
    def on_update_firmware(self, location, retrieve_date, **kwargs):
        return call_result.UpdateFirmware()

    @after(Action.update_firmware)
    async def after_update_firmware(self, location, **kwargs):
        await self.follow_up(
            call.FirmwareStatusNotification(status=FirmwareStatus.downloading),
            call.FirmwareStatusNotification(status=FirmwareStatus.downloaded),
            call.FirmwareStatusNotification(status=FirmwareStatus.installing),
        )
        # Installed, the new firmware boots and reports its version.
        match = re.search(r"\d+(\.\d+)+", location.rsplit("/", 1)[-1])
        self.firmware_version = match.group(0) if match else self.firmware_version + "+1"
        await self.follow_up(call.FirmwareStatusNotification(status=FirmwareStatus.installed))
        try:
            await self.boot()
        except Exception as error:
            self.errors.append(error)

    # --- Local Auth List Management profile

    @on(Action.get_local_list_version)
    def on_get_local_list_version(self, **kwargs):
        return call_result.GetLocalListVersion(list_version=self.local_list_version)

    @on(Action.send_local_list)
    def on_send_local_list(self, list_version, update_type, local_authorization_list=None, **kwargs):
        entries = local_authorization_list or []
        if len(entries) > int(self.configuration["LocalAuthListMaxLength"]["value"]):
            return call_result.SendLocalList(status=UpdateStatus.failed)
        if update_type == "Differential":
            # §5.15: a differential update must build on the list the charge point has.
            if list_version <= self.local_list_version:
                return call_result.SendLocalList(status=UpdateStatus.version_mismatch)
            for entry in entries:
                if entry.get("id_tag_info") is None:
                    self.local_list.pop(entry["id_tag"], None)
                else:
                    self.local_list[entry["id_tag"]] = entry["id_tag_info"]
        else:
            self.local_list = {e["id_tag"]: e["id_tag_info"] for e in entries if e.get("id_tag_info") is not None}
        self.local_list_version = list_version
        return call_result.SendLocalList(status=UpdateStatus.accepted)

    # --- Reservation profile

    @on(Action.reserve_now)
    def on_reserve_now(self, connector_id, expiry_date, id_tag, reservation_id, parent_id_tag=None, **kwargs):
        if connector_id not in self.CONNECTORS:
            return call_result.ReserveNow(status=ReservationStatus.rejected)
        if self.availability[connector_id] != "Operative":
            return call_result.ReserveNow(status=ReservationStatus.unavailable)
        if connector_id in self.transactions:
            return call_result.ReserveNow(status=ReservationStatus.occupied)
        taken = any(
            r["connector_id"] == connector_id and rid != reservation_id for rid, r in self.reservations.items()
        )
        if taken:
            return call_result.ReserveNow(status=ReservationStatus.occupied)
        self.reservations[reservation_id] = {
            "connector_id": connector_id,
            "id_tag": id_tag,
            "parent_id_tag": parent_id_tag,
            "expiry_date": expiry_date,
        }
        return call_result.ReserveNow(status=ReservationStatus.accepted)

    @after(Action.reserve_now)
    def after_reserve_now(self, connector_id, reservation_id, **kwargs):
        if reservation_id in self.reservations:
            return self.follow_up(self.status(connector_id))

    @on(Action.cancel_reservation)
    def on_cancel_reservation(self, reservation_id, **kwargs):
        reservation = self.reservations.pop(reservation_id, None)
        if reservation is None:
            return call_result.CancelReservation(status=CancelReservationStatus.rejected)
        self._cancelled_connector = reservation["connector_id"]
        return call_result.CancelReservation(status=CancelReservationStatus.accepted)

    @after(Action.cancel_reservation)
    def after_cancel_reservation(self, **kwargs):
        connector, self._cancelled_connector = getattr(self, "_cancelled_connector", None), None
        if connector is not None:
            return self.follow_up(self.status(connector))

    # --- Smart Charging profile

    @on(Action.set_charging_profile)
    def on_set_charging_profile(self, connector_id, cs_charging_profiles, **kwargs):
        profile = cs_charging_profiles
        if profile["charging_profile_purpose"] == "TxProfile":
            # §5.16: a TxProfile needs a transaction on the connector.
            if connector_id not in self.transactions:
                return call_result.SetChargingProfile(status=ChargingProfileStatus.rejected)
            profile = dict(profile, transaction_id=self.transactions[connector_id])
        # §3.13.2: same id, or same purpose and stack level on the connector, is replaced.
        for pid, (connector, installed) in list(self.profiles.items()):
            if pid == profile["charging_profile_id"] or (
                connector == connector_id
                and installed["charging_profile_purpose"] == profile["charging_profile_purpose"]
                and installed["stack_level"] == profile["stack_level"]
            ):
                del self.profiles[pid]
        self.profiles[profile["charging_profile_id"]] = (connector_id, profile)
        return call_result.SetChargingProfile(status=ChargingProfileStatus.accepted)

    @on(Action.clear_charging_profile)
    def on_clear_charging_profile(
        self, id=None, connector_id=None, charging_profile_purpose=None, stack_level=None, **kwargs
    ):
        def matches(pid, connector, profile):
            if id is not None:
                return pid == id
            return (
                (connector_id is None or connector == connector_id)
                and (charging_profile_purpose is None or profile["charging_profile_purpose"] == charging_profile_purpose)
                and (stack_level is None or profile["stack_level"] == stack_level)
            )

        cleared = [pid for pid, (connector, profile) in self.profiles.items() if matches(pid, connector, profile)]
        for pid in cleared:
            del self.profiles[pid]
        status = ClearChargingProfileStatus.accepted if cleared else ClearChargingProfileStatus.unknown
        return call_result.ClearChargingProfile(status=status)

    @on(Action.get_composite_schedule)
    def on_get_composite_schedule(self, connector_id, duration, charging_rate_unit=None, **kwargs):
        applicable = [p for c, p in self.profiles.values() if c in (0, connector_id)]
        if not applicable:
            return call_result.GetCompositeSchedule(status=GetCompositeScheduleStatus.rejected)
        # Simplified composition: the highest stack level wins for the whole period.
        top = max(applicable, key=lambda p: p["stack_level"])
        schedule = top["charging_schedule"]
        return call_result.GetCompositeSchedule(
            status=GetCompositeScheduleStatus.accepted,
            connector_id=connector_id,
            schedule_start=now_iso(),
            charging_schedule={
                "duration": duration,
                "charging_rate_unit": charging_rate_unit or schedule["charging_rate_unit"],
                "charging_schedule_period": schedule["charging_schedule_period"],
            },
        )

    # --- Remote Trigger profile

    TRIGGERABLE = {
        MessageTrigger.boot_notification,
        MessageTrigger.diagnostics_status_notification,
        MessageTrigger.firmware_status_notification,
        MessageTrigger.heartbeat,
        MessageTrigger.meter_values,
        MessageTrigger.status_notification,
    }

    @on(Action.trigger_message)
    def on_trigger_message(self, requested_message, connector_id=None, **kwargs):
        if requested_message not in self.TRIGGERABLE:
            return call_result.TriggerMessage(status=TriggerMessageStatus.not_implemented)
        if connector_id is not None and connector_id not in (0, *self.CONNECTORS):
            return call_result.TriggerMessage(status=TriggerMessageStatus.rejected)
        return call_result.TriggerMessage(status=TriggerMessageStatus.accepted)

    @after(Action.trigger_message)
    def after_trigger_message(self, requested_message, connector_id=None, **kwargs):
        if requested_message not in self.TRIGGERABLE:
            return None
        connectors = (0, *self.CONNECTORS) if connector_id is None else (connector_id,)
        messages = {
            MessageTrigger.boot_notification: lambda: [
                call.BootNotification(
                    charge_point_vendor="Acme", charge_point_model="Sim-2", firmware_version=self.firmware_version
                )
            ],
            # §5.17: Idle when no upload / update is in progress.
            MessageTrigger.diagnostics_status_notification: lambda: [call.DiagnosticsStatusNotification(status="Idle")],
            MessageTrigger.firmware_status_notification: lambda: [call.FirmwareStatusNotification(status="Idle")],
            MessageTrigger.heartbeat: lambda: [call.Heartbeat()],
            MessageTrigger.meter_values: lambda: [self._meter_values(c) for c in connectors if c in self.CONNECTORS],
            MessageTrigger.status_notification: lambda: [self.status(c) for c in connectors],
        }[MessageTrigger(requested_message)]()
        return self.follow_up(*messages)


class CoreOnlyChargePoint(ChargePoint):
    """A charge point with the Core profile only, and firmware that refuses DataTransfer.

    Actions of other profiles have no handler, so the `ocpp` library answers
    them with the CALLERROR NotImplemented; DataTransfer raises NotSupported.
    """

    def __init__(self, id: str, connection):
        super().__init__(id, connection, response_timeout=10)
        self.received: list[tuple[str, dict]] = []
        self.sent: list[tuple[str, object, object]] = []
        self.errors: list[BaseException] = []

    async def route_message(self, raw_msg):
        frame = json.loads(raw_msg)
        if frame[0] == 2:
            self.received.append((frame[2], frame[3]))
        await super().route_message(raw_msg)

    async def send(self, payload):
        result = await self.call(payload)
        self.sent.append((type(payload).__name__, payload, result))
        return result

    async def boot(self):
        return await self.send(call.BootNotification(charge_point_vendor="Acme", charge_point_model="Core-1"))

    @on(Action.reset)
    def on_reset(self, type, **kwargs):
        return call_result.Reset(status=ResetStatus.accepted)

    @on(Action.clear_cache)
    def on_clear_cache(self, **kwargs):
        return call_result.ClearCache(status=ClearCacheStatus.rejected)

    @on(Action.data_transfer)
    def on_data_transfer(self, vendor_id, **kwargs):
        raise NotSupportedError(description="DataTransfer is disabled on this unit", details={"vendorId": vendor_id})


class ChargePointRunner:
    """One charge point connection served from an event loop in a thread of its own.

        runner = ChargePointRunner(server.ws("/ocpp/CP-1"), "CP-1").start()
        runner.run(runner.cp.boot())
        ...
        runner.close()
    """

    def __init__(self, url: str, charge_point_id: str, cls=SimulatedChargePoint):
        self.url, self.charge_point_id, self.cls = url, charge_point_id, cls
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name=f"cp-{charge_point_id}", daemon=True)
        self.cp = None
        self.ws = None
        self._listener = None

    def start(self) -> "ChargePointRunner":
        self.thread.start()
        self.run(self._connect())
        return self

    async def _connect(self):
        self.ws = await websockets.connect(self.url, subprotocols=["ocpp1.6"], open_timeout=10)
        assert self.ws.subprotocol == "ocpp1.6"
        self.cp = self.cls(self.charge_point_id, self.ws)
        self._listener = asyncio.ensure_future(self.cp.start())

    def run(self, coroutine, timeout: float = 20):
        """Run `coroutine` on the charge point's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def send(self, payload, timeout: float = 20):
        """Send one CALL from the charge point (e.g. `call.Heartbeat()`) and return the answer."""
        return self.run(self.cp.send(payload), timeout)

    @property
    def listening(self) -> bool:
        return self._listener is not None and not self._listener.done()

    def close(self) -> None:
        async def shutdown():
            if self._listener is not None:
                self._listener.cancel()
            if self.ws is not None:
                await self.ws.close()

        try:
            if self.thread.is_alive():
                self.run(shutdown(), timeout=10)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=10)


def expiry(minutes: int = 30) -> str:
    return (datetime.now(timezone.utc) + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")
