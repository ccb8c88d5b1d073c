"""A simulated OCPP 2.0.1 charging station for end-to-end tests, built on the mobilityhouse `ocpp` library.

`SimulatedStation` answers the CSMS-initiated messages the version-neutral
operations send (RequestStart/StopTransaction, Reset, UnlockConnector,
ChangeAvailability, TriggerMessage, ReserveNow, CancelReservation,
Set/ClearChargingProfile, GetCompositeSchedule, SendLocalList,
UpdateFirmware, GetLog, GetVariables, SetVariables, GetBaseReport) the way a
station with two EVSEs of one connector each would, keeps the state they
change, and sends what a real station sends afterwards from `@after` hooks
(TransactionEvent Started / Ended, firmware and log progress, NotifyReport,
status notifications …).

`StationRunner` serves one connection from an event loop of its own thread,
like `simulated_cp.ChargePointRunner`, over the "ocpp2.0.1" subprotocol. A
2.0.1 station must boot (BootNotification Accepted) before the CSMS serves
anything else: call `runner.run(runner.cp.boot())` first.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid

import websockets
from ocpp.routing import after, on
from ocpp.v201 import ChargePoint, call, call_result
from ocpp.v201.enums import Action

from tests.e2e.simulated_cp import ChargePointRunner, now_iso

# (component, variable) → {"value", "mutability"}; the device model a test reads and changes.
REBOOT_REQUIRED = {("OCPPCommCtrlr", "WebSocketPingInterval")}


def default_variables() -> dict[tuple[str, str], dict]:
    return {
        ("OCPPCommCtrlr", "HeartbeatInterval"): {"value": "300", "mutability": "ReadWrite", "data_type": "integer"},
        ("OCPPCommCtrlr", "WebSocketPingInterval"): {"value": "0", "mutability": "ReadWrite", "data_type": "integer"},
        ("SampledDataCtrlr", "TxUpdatedInterval"): {"value": "60", "mutability": "ReadWrite", "data_type": "integer"},
        ("AuthCtrlr", "LocalAuthorizeOffline"): {"value": "true", "mutability": "ReadWrite", "data_type": "boolean"},
        ("LocalAuthListCtrlr", "Enabled"): {"value": "true", "mutability": "ReadWrite", "data_type": "boolean"},
        ("SecurityCtrlr", "Identity"): {"value": "SIM-201", "mutability": "ReadOnly", "data_type": "string"},
    }


class SimulatedStation(ChargePoint):
    """A two-EVSE OCPP 2.0.1 station (one connector each).

    State the tests read: `variables`, `local_list` / `local_list_version`,
    `reservations` {id: {...}}, `profiles` {id: (evseId, profile)},
    `transactions` {evseId: transactionId}, `availability` {evseId: status},
    `received` (every CALL from the CSMS: (action, payload)), `sent` (every
    CALL of this station: (action, request, answer)), `errors` (exceptions of
    follow-up messages), `remote_start_ids` {transactionId: remoteStartId}.
    """

    EVSES = (1, 2)

    def __init__(self, id: str, connection, *, firmware_version: str = "1.0.0"):
        super().__init__(id, connection, response_timeout=10)
        self.firmware_version = firmware_version
        self.variables = default_variables()
        self.local_list: dict[str, dict] = {}
        self.local_list_version = 0
        self.reservations: dict[int, dict] = {}
        self.profiles: dict[int, tuple[int, dict]] = {}
        self.transactions: dict[int, str] = {}
        self.remote_start_ids: dict[str, int] = {}
        self.seq_no: dict[str, int] = {}
        self.meter_wh = {evse: 20_000 * evse for evse in self.EVSES}
        self.availability = {evse: "Operative" for evse in (0, *self.EVSES)}
        self.received: list[tuple[str, dict]] = []
        self.sent: list[tuple[str, object, object]] = []
        self.errors: list[BaseException] = []
        self.silent: set[str] = set()
        self.delays: dict[str, float] = {}
        self._starting: dict | None = None
        self._cancelled_evse: int | None = None

    # --- frames in and out

    async def route_message(self, raw_msg):
        try:
            frame = json.loads(raw_msg)
        except ValueError:
            frame = None
        if isinstance(frame, list) and len(frame) == 4 and frame[0] == 2:
            self.received.append((frame[2], frame[3]))
            if frame[2] in self.silent:
                return
            if frame[2] in self.delays:
                await asyncio.sleep(self.delays[frame[2]])
        await super().route_message(raw_msg)

    async def send(self, payload):
        result = await self.call(payload)
        self.sent.append((type(payload).__name__, payload, result))
        return result

    async def follow_up(self, *payloads):
        """Send `payloads` one after another; errors go to `errors` for the test to see."""
        try:
            for payload in payloads:
                await self.send(payload)
        except Exception as error:
            self.errors.append(error)

    async def boot(self, reason: str = "PowerUp"):
        """BootNotification, then every connector's status (B01, G01)."""
        answer = await self.send(
            call.BootNotification(
                charging_station={"model": "Sim-201", "vendor_name": "Acme", "firmware_version": self.firmware_version},
                reason=reason,
            )
        )
        for evse in self.EVSES:
            await self.send(self.status(evse))
        return answer

    def connector_status(self, evse: int) -> str:
        if self.availability[evse] == "Inoperative" or self.availability[0] == "Inoperative":
            return "Unavailable"
        if evse in self.transactions:
            return "Occupied"
        if any(r["evse_id"] == evse for r in self.reservations.values()):
            return "Reserved"
        return "Available"

    def status(self, evse: int, status: str | None = None) -> call.StatusNotification:
        return call.StatusNotification(
            timestamp=now_iso(), connector_status=status or self.connector_status(evse), evse_id=evse, connector_id=1
        )

    def _meter_value(self, evse: int, context: str = "Sample.Periodic") -> list[dict]:
        return [
            {
                "timestamp": now_iso(),
                "sampled_value": [
                    {
                        "value": self.meter_wh[evse],
                        "measurand": "Energy.Active.Import.Register",
                        "context": context,
                        "unit_of_measure": {"unit": "Wh"},
                    }
                ],
            }
        ]

    def _next_seq_no(self, transaction_id: str) -> int:
        self.seq_no[transaction_id] = self.seq_no.get(transaction_id, -1) + 1
        return self.seq_no[transaction_id]

    # --- transactions (F01–F03, E01–E07)

    @on(Action.request_start_transaction)
    def on_request_start_transaction(self, id_token, remote_start_id, evse_id=None, charging_profile=None, **kwargs):
        free = [e for e in self.EVSES if e not in self.transactions and self.connector_status(e) in ("Available", "Reserved")]
        evse = evse_id if evse_id is not None else (free[0] if free else None)
        if evse not in free:
            self._starting = None
            return call_result.RequestStartTransaction(status="Rejected")
        self._starting = {"evse": evse, "id_token": id_token, "remote_start_id": remote_start_id, "profile": charging_profile}
        return call_result.RequestStartTransaction(status="Accepted")

    @after(Action.request_start_transaction)
    async def after_request_start_transaction(self, **kwargs):
        starting, self._starting = self._starting, None
        if starting is None:
            return
        evse, token = starting["evse"], starting["id_token"]
        reservation_id = next(
            (rid for rid, r in self.reservations.items()
             if r["evse_id"] in (evse, None) and r["id_token"] == token["id_token"]),
            None,
        )
        transaction_id = f"TX-{uuid.uuid4().hex[:12]}"
        self.transactions[evse] = transaction_id
        self.remote_start_ids[transaction_id] = starting["remote_start_id"]
        self.reservations.pop(reservation_id, None)
        if starting["profile"]:
            profile = dict(starting["profile"], transaction_id=transaction_id)
            self.profiles[profile["id"]] = (evse, profile)
        await self.follow_up(
            self.status(evse, "Occupied"),
            call.TransactionEvent(
                event_type="Started",
                timestamp=now_iso(),
                trigger_reason="RemoteStart",
                seq_no=self._next_seq_no(transaction_id),
                transaction_info={
                    "transaction_id": transaction_id,
                    "charging_state": "Charging",
                    "remote_start_id": starting["remote_start_id"],
                },
                id_token={"id_token": token["id_token"], "type": token["type"]},
                evse={"id": evse, "connector_id": 1},
                meter_value=self._meter_value(evse, "Transaction.Begin"),
                reservation_id=reservation_id,
            ),
        )

    @on(Action.request_stop_transaction)
    def on_request_stop_transaction(self, transaction_id, **kwargs):
        if transaction_id not in self.transactions.values():
            return call_result.RequestStopTransaction(status="Rejected")
        return call_result.RequestStopTransaction(status="Accepted")

    @after(Action.request_stop_transaction)
    async def after_request_stop_transaction(self, transaction_id, **kwargs):
        evse = next((e for e, tx in self.transactions.items() if tx == transaction_id), None)
        if evse is not None:
            await self.end_transaction(evse, "RemoteStop", "Remote")

    async def end_transaction(self, evse: int, trigger_reason: str, stopped_reason: str) -> None:
        transaction_id = self.transactions.pop(evse)
        self.meter_wh[evse] += 500
        for pid, (_, profile) in list(self.profiles.items()):
            if profile.get("transaction_id") == transaction_id:
                del self.profiles[pid]
        await self.follow_up(
            call.TransactionEvent(
                event_type="Ended",
                timestamp=now_iso(),
                trigger_reason=trigger_reason,
                seq_no=self._next_seq_no(transaction_id),
                transaction_info={"transaction_id": transaction_id, "charging_state": "Idle", "stopped_reason": stopped_reason},
                evse={"id": evse, "connector_id": 1},
                meter_value=self._meter_value(evse, "Transaction.End"),
            ),
            self.status(evse),
        )

    # --- the station (B11, F05, G03, F06)

    @on(Action.reset)
    def on_reset(self, type, evse_id=None, **kwargs):
        if evse_id is not None and evse_id not in self.EVSES:
            return call_result.Reset(status="Rejected")
        return call_result.Reset(status="Accepted")

    @after(Action.reset)
    async def after_reset(self, type, evse_id=None, **kwargs):
        for evse in [e for e in list(self.transactions) if evse_id in (None, e)]:
            await self.end_transaction(evse, "ResetCommand", "ImmediateReset" if type == "Immediate" else "Reboot")
        if evse_id is None:
            try:
                await self.boot("RemoteReset")
            except Exception as error:
                self.errors.append(error)

    @on(Action.unlock_connector)
    def on_unlock_connector(self, evse_id, connector_id, **kwargs):
        if evse_id not in self.EVSES or connector_id != 1:
            return call_result.UnlockConnector(status="UnknownConnector")
        if evse_id in self.transactions:
            return call_result.UnlockConnector(status="OngoingAuthorizedTransaction")
        return call_result.UnlockConnector(status="Unlocked")

    @on(Action.change_availability)
    def on_change_availability(self, operational_status, evse=None, **kwargs):
        evse_id = (evse or {}).get("id", 0)
        if evse_id not in (0, *self.EVSES):
            return call_result.ChangeAvailability(status="Rejected")
        busy = self.transactions if evse_id == 0 else [e for e in self.transactions if e == evse_id]
        if busy and operational_status == "Inoperative":
            return call_result.ChangeAvailability(status="Scheduled")
        self.availability[evse_id] = operational_status
        return call_result.ChangeAvailability(status="Accepted")

    @after(Action.change_availability)
    async def after_change_availability(self, evse=None, **kwargs):
        evse_id = (evse or {}).get("id", 0)
        await self.follow_up(*(self.status(e) for e in (self.EVSES if evse_id == 0 else (evse_id,))))

    TRIGGERABLE = {
        "BootNotification", "Heartbeat", "StatusNotification", "MeterValues",
        "FirmwareStatusNotification", "LogStatusNotification",
    }

    @on(Action.trigger_message)
    def on_trigger_message(self, requested_message, evse=None, **kwargs):
        if requested_message not in self.TRIGGERABLE:
            return call_result.TriggerMessage(status="NotImplemented")
        if evse is not None and evse.get("id") not in self.EVSES:
            return call_result.TriggerMessage(status="Rejected")
        return call_result.TriggerMessage(status="Accepted")

    @after(Action.trigger_message)
    async def after_trigger_message(self, requested_message, evse=None, **kwargs):
        if requested_message not in self.TRIGGERABLE or (evse is not None and evse.get("id") not in self.EVSES):
            return
        evses = self.EVSES if evse is None else (evse["id"],)
        messages = {
            "BootNotification": lambda: [
                call.BootNotification(
                    charging_station={"model": "Sim-201", "vendor_name": "Acme", "firmware_version": self.firmware_version},
                    reason="Triggered",
                )
            ],
            "Heartbeat": lambda: [call.Heartbeat()],
            "StatusNotification": lambda: [self.status(e) for e in evses],
            "MeterValues": lambda: [call.MeterValues(evse_id=e, meter_value=self._meter_value(e, "Trigger")) for e in evses],
            "FirmwareStatusNotification": lambda: [call.FirmwareStatusNotification(status="Idle")],
            "LogStatusNotification": lambda: [call.LogStatusNotification(status="Idle")],
        }[requested_message]()
        await self.follow_up(*messages)

    # --- reservations (H01, H02)

    @on(Action.reserve_now)
    def on_reserve_now(self, id, expiry_date_time, id_token, evse_id=None, group_id_token=None, **kwargs):
        if evse_id is not None:
            if evse_id not in self.EVSES:
                return call_result.ReserveNow(status="Rejected")
            if self.availability[evse_id] != "Operative":
                return call_result.ReserveNow(status="Unavailable")
            if evse_id in self.transactions or any(
                r["evse_id"] == evse_id and rid != id for rid, r in self.reservations.items()
            ):
                return call_result.ReserveNow(status="Occupied")
        self.reservations[id] = {
            "evse_id": evse_id,
            "id_token": id_token["id_token"],
            "group_id_token": (group_id_token or {}).get("id_token"),
            "expiry": expiry_date_time,
        }
        return call_result.ReserveNow(status="Accepted")

    @after(Action.reserve_now)
    async def after_reserve_now(self, id, evse_id=None, **kwargs):
        if id in self.reservations and evse_id is not None:
            await self.follow_up(self.status(evse_id))

    @on(Action.cancel_reservation)
    def on_cancel_reservation(self, reservation_id, **kwargs):
        reservation = self.reservations.pop(reservation_id, None)
        if reservation is None:
            return call_result.CancelReservation(status="Rejected")
        self._cancelled_evse = reservation["evse_id"]
        return call_result.CancelReservation(status="Accepted")

    @after(Action.cancel_reservation)
    async def after_cancel_reservation(self, **kwargs):
        evse, self._cancelled_evse = self._cancelled_evse, None
        if evse:
            await self.follow_up(self.status(evse))

    # --- smart charging (K01, K08, K10)

    @on(Action.set_charging_profile)
    def on_set_charging_profile(self, evse_id, charging_profile, **kwargs):
        profile = charging_profile
        if profile["charging_profile_purpose"] == "TxProfile":
            if evse_id not in self.transactions:
                return call_result.SetChargingProfile(status="Rejected")
            profile = dict(profile, transaction_id=self.transactions[evse_id])
        for pid, (evse, installed) in list(self.profiles.items()):
            if pid == profile["id"] or (
                evse == evse_id
                and installed["charging_profile_purpose"] == profile["charging_profile_purpose"]
                and installed["stack_level"] == profile["stack_level"]
            ):
                del self.profiles[pid]
        self.profiles[profile["id"]] = (evse_id, profile)
        return call_result.SetChargingProfile(status="Accepted")

    @on(Action.clear_charging_profile)
    def on_clear_charging_profile(self, charging_profile_id=None, charging_profile_criteria=None, **kwargs):
        criteria = charging_profile_criteria or {}

        def matches(pid, evse, profile):
            if charging_profile_id is not None:
                return pid == charging_profile_id
            return (
                criteria.get("evse_id") in (None, evse)
                and criteria.get("charging_profile_purpose") in (None, profile["charging_profile_purpose"])
                and criteria.get("stack_level") in (None, profile["stack_level"])
            )

        cleared = [pid for pid, (evse, profile) in self.profiles.items() if matches(pid, evse, profile)]
        for pid in cleared:
            del self.profiles[pid]
        return call_result.ClearChargingProfile(status="Accepted" if cleared else "Unknown")

    @on(Action.get_composite_schedule)
    def on_get_composite_schedule(self, duration, evse_id, charging_rate_unit=None, **kwargs):
        applicable = [p for e, p in self.profiles.values() if e in (0, evse_id)]
        if not applicable:
            return call_result.GetCompositeSchedule(status="Rejected")
        top = max(applicable, key=lambda p: p["stack_level"])
        schedule = top["charging_schedule"][0]
        return call_result.GetCompositeSchedule(
            status="Accepted",
            schedule={
                "evse_id": evse_id,
                "duration": duration,
                "schedule_start": now_iso(),
                "charging_rate_unit": charging_rate_unit or schedule["charging_rate_unit"],
                "charging_schedule_period": schedule["charging_schedule_period"],
            },
        )

    # --- local authorization list (D01)

    @on(Action.send_local_list)
    def on_send_local_list(self, version_number, update_type, local_authorization_list=None, **kwargs):
        entries = local_authorization_list or []
        if update_type == "Differential":
            if version_number <= self.local_list_version:
                return call_result.SendLocalList(status="VersionMismatch")
            for entry in entries:
                if entry.get("id_token_info") is None:
                    self.local_list.pop(entry["id_token"]["id_token"], None)
                else:
                    self.local_list[entry["id_token"]["id_token"]] = entry["id_token_info"]
        else:
            self.local_list = {e["id_token"]["id_token"]: e["id_token_info"] for e in entries if e.get("id_token_info")}
        self.local_list_version = version_number
        return call_result.SendLocalList(status="Accepted")

    # --- firmware and logs (L01, N01)

    @on(Action.update_firmware)
    def on_update_firmware(self, request_id, firmware, **kwargs):
        return call_result.UpdateFirmware(status="Accepted")

    @after(Action.update_firmware)
    async def after_update_firmware(self, request_id, firmware, **kwargs):
        await self.follow_up(
            *(call.FirmwareStatusNotification(status=s, request_id=request_id) for s in ("Downloading", "Downloaded", "Installing"))
        )
        match = re.search(r"\d+(\.\d+)+", firmware["location"].rsplit("/", 1)[-1])
        self.firmware_version = match.group(0) if match else self.firmware_version + "+1"
        await self.follow_up(call.FirmwareStatusNotification(status="Installed", request_id=request_id))
        try:
            await self.boot("FirmwareUpdate")
        except Exception as error:
            self.errors.append(error)

    @on(Action.get_log)
    def on_get_log(self, log_type, request_id, log, **kwargs):
        return call_result.GetLog(status="Accepted", filename=f"log-{self.id}.zip")

    @after(Action.get_log)
    async def after_get_log(self, request_id, **kwargs):
        await self.follow_up(
            call.LogStatusNotification(status="Uploading", request_id=request_id),
            call.LogStatusNotification(status="Uploaded", request_id=request_id),
        )

    # --- device model (B05–B07)

    def _lookup(self, component: dict, variable: dict) -> tuple[str | None, dict | None]:
        """(status, item): the variable's entry, or why there is none."""
        if not any(c == component["name"] for c, _ in self.variables):
            return "UnknownComponent", None
        item = self.variables.get((component["name"], variable["name"]))
        return ("Accepted", item) if item is not None else ("UnknownVariable", None)

    @on(Action.get_variables)
    def on_get_variables(self, get_variable_data, **kwargs):
        results = []
        for data in get_variable_data:
            status, item = self._lookup(data["component"], data["variable"])
            result = {"attribute_status": status, "component": data["component"], "variable": data["variable"]}
            if item is not None:
                result["attribute_value"] = item["value"]
            results.append(result)
        return call_result.GetVariables(get_variable_result=results)

    @on(Action.set_variables)
    def on_set_variables(self, set_variable_data, **kwargs):
        results = []
        for data in set_variable_data:
            status, item = self._lookup(data["component"], data["variable"])
            if item is not None:
                if item["mutability"] == "ReadOnly":
                    status = "Rejected"
                else:
                    item["value"] = data["attribute_value"]
                    if (data["component"]["name"], data["variable"]["name"]) in REBOOT_REQUIRED:
                        status = "RebootRequired"
            results.append({"attribute_status": status, "component": data["component"], "variable": data["variable"]})
        return call_result.SetVariables(set_variable_result=results)

    @on(Action.get_base_report)
    def on_get_base_report(self, request_id, report_base, **kwargs):
        return call_result.GetBaseReport(status="Accepted")

    @after(Action.get_base_report)
    async def after_get_base_report(self, request_id, **kwargs):
        report = [
            {
                "component": {"name": component},
                "variable": {"name": variable},
                "variable_attribute": [{"type": "Actual", "value": item["value"], "mutability": item["mutability"]}],
                "variable_characteristics": {"data_type": item["data_type"], "supports_monitoring": False},
            }
            for (component, variable), item in self.variables.items()
        ]
        await self.follow_up(call.NotifyReport(request_id=request_id, generated_at=now_iso(), seq_no=0, report_data=report))


class StationRunner(ChargePointRunner):
    """`ChargePointRunner` for a 2.0.1 station: same thread and loop, subprotocol "ocpp2.0.1"."""

    def __init__(self, url: str, station_id: str, cls=SimulatedStation):
        super().__init__(url, station_id, cls)

    async def _connect(self):
        self.ws = await websockets.connect(self.url, subprotocols=["ocpp2.0.1"], open_timeout=10)
        assert self.ws.subprotocol == "ocpp2.0.1"
        self.cp = self.cls(self.charge_point_id, self.ws)
        self._listener = asyncio.ensure_future(self.cp.start())
