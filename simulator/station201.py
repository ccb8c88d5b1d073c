"""OCPP 2.0.1 for a simulated charging station: what it sends (`Protocol201`) and how it answers (`ChargePoint201`).

Each connector of the `Station` is an EVSE with one connector (EVSE n,
connector 1). Transactions are TransactionEvents (E01–E15) numbered by the
station, with `offline: true` when they were generated without a connection.
Configuration is the device model of `keystore.device_model_201`, read and
written with Get/SetVariables and reported with NotifyReport.

`ChargePoint201` is the `ocpp` library's 2.0.1 ChargePoint with an @on
handler for every CSMS-initiated message; follow-ups run from @after hooks
once the answer is sent. Use-case ids (B07, F06 …) refer to OCPP 2.0.1 Part 2.
"""

from __future__ import annotations

import asyncio

from ocpp.routing import after, on
from ocpp.v201 import ChargePoint, call, call_result

from .connection import AdapterMixin, frame_logger
from .keystore import Variable, device_model_201
from .model import Reservation, Status, iso, parse_iso, status_201, utc_now
from .profiles import ChargingProfile

CHARGING_STATE = {
    Status.CHARGING: "Charging",
    Status.SUSPENDED_EV: "SuspendedEV",
    Status.SUSPENDED_EVSE: "SuspendedEVSE",
}
# Internal stop reason (1.6 words) → (2.0.1 stoppedReason, triggerReason of the Ended event).
STOP_REASONS = {
    "Local": ("Local", "StopAuthorized"),
    "EVDisconnected": ("EVDisconnected", "EVCommunicationLost"),
    "Remote": ("Remote", "RemoteStop"),
    "SoftReset": ("ImmediateReset", "ResetCommand"),
    "HardReset": ("ImmediateReset", "ResetCommand"),
    "Reboot": ("Reboot", "AbnormalCondition"),
    "PowerLoss": ("PowerLoss", "AbnormalCondition"),
    "DeAuthorized": ("DeAuthorized", "Deauthorized"),
    "UnlockCommand": ("Other", "UnlockCommand"),
    "EmergencyStop": ("EmergencyStop", "AbnormalCondition"),
    "Other": ("Other", "AbnormalCondition"),
}
TRIGGERABLE = {
    "BootNotification",
    "SignChargingStationCertificate",
    "LogStatusNotification",
    "FirmwareStatusNotification",
    "Heartbeat",
    "MeterValues",
    "StatusNotification",
    "TransactionEvent",
}
VALUES_LISTS = {
    "OptionList": "Available,Occupied,Reserved,Unavailable,Faulted",
    "SequenceList": "Heartbeat,NTP,GPS,RealTimeClock,MobileNetwork",
}


def meter_value(reading, measurands) -> dict:
    """A 2.0.1 MeterValueType of `reading` with the sampled values of `measurands`; values are numbers."""
    context, electrical = reading.context, reading.electrical
    values = []
    if "Energy.Active.Import.Register" in measurands or not measurands:
        values.append(
            {
                "value": reading.energy_wh,
                "context": context,
                "measurand": "Energy.Active.Import.Register",
                "location": "Outlet",
                "unitOfMeasure": {"unit": "Wh"},
            }
        )
    if "Power.Active.Import" in measurands:
        values.append(
            {
                "value": round(electrical.power_w, 1),
                "context": context,
                "measurand": "Power.Active.Import",
                "location": "Outlet",
                "unitOfMeasure": {"unit": "W"},
            }
        )
    if "Current.Import" in measurands:
        for phase, amps in electrical.current_a.items():
            values.append(
                {
                    "value": round(amps, 2),
                    "context": context,
                    "measurand": "Current.Import",
                    "phase": phase,
                    "location": "Outlet",
                    "unitOfMeasure": {"unit": "A"},
                }
            )
    if "Voltage" in measurands:
        for phase, volts in electrical.voltage_v.items():
            values.append(
                {
                    "value": round(volts, 1),
                    "context": context,
                    "measurand": "Voltage",
                    "phase": f"{phase}-N",
                    "location": "Outlet",
                    "unitOfMeasure": {"unit": "V"},
                }
            )
    if "SoC" in measurands and reading.soc_pct is not None:
        values.append(
            {"value": reading.soc_pct, "context": context, "measurand": "SoC", "location": "EV", "unitOfMeasure": {"unit": "Percent"}}
        )
    return {"timestamp": iso(reading.timestamp), "sampledValue": values}


def id_token(value: str, kind: str = "ISO14443") -> dict:
    return {"idToken": value, "type": kind}


class Protocol201:
    """Builds the OCPP 2.0.1 messages a `Station` sends; `adapter(ws)` makes the ChargePoint that answers."""

    version = "2.0.1"
    subprotocol = "ocpp2.0.1"

    def __init__(self, station):
        self.station = station
        self.variables: list[Variable] = device_model_201(station.settings.connectors)

    def adapter(self, ws) -> ChargePoint201:
        return ChargePoint201(self.station, ws)

    def boot_notification(self, reason: str) -> call.BootNotification:
        """B01: the station's identity and why it booted (BootReasonEnumType)."""
        station, settings = self.station, self.station.settings
        return call.BootNotification(
            charging_station={
                "model": settings.model[:20],
                "vendorName": settings.vendor[:50],
                "firmwareVersion": station.firmware_version[:50],
                "serialNumber": f"SN-{station.id}"[:25],
            },
            reason=reason,
        )

    @staticmethod
    def boot_result(result) -> tuple[str, int]:
        return result.status, int(result.interval)

    @staticmethod
    def heartbeat() -> call.Heartbeat:
        return call.Heartbeat()

    def status_notification(self, connector):
        """G01 for the EVSE's connector; None for the station itself (2.0.1 has no connector 0)."""
        if connector is None:
            return None
        return call.StatusNotification(
            timestamp=iso(utc_now()),
            connector_status=status_201(connector.status),
            evse_id=connector.connector_id,
            connector_id=1,
        )

    def status_notifications(self) -> list:
        return [self.status_notification(c) for c in self.station.connectors.values()]

    @staticmethod
    def authorize(value: str) -> call.Authorize:
        return call.Authorize(id_token=id_token(value))

    @staticmethod
    def id_tag_info(result) -> dict:
        return result.id_token_info or {}

    @staticmethod
    def profile_transaction_id(session) -> str | None:
        return session.transaction_id or None

    @staticmethod
    def matches_transaction(session, transaction_id) -> bool:
        return session.transaction_id == transaction_id

    def _event(self, session, event_type: str, trigger_reason: str, *, meter=None, state=None, **extra):
        """A queued TransactionEvent: seqNo and the offline flag are fixed now, in the order events happen."""
        station = self.station
        info = {"transactionId": session.transaction_id}
        if state:
            info["chargingState"] = state
        if session.remote_start_id is not None and event_type == "Started":
            info["remoteStartId"] = session.remote_start_id
        for key in ("stoppedReason",):
            if key in extra:
                info[key] = extra.pop(key)
        offline = not station.registered.is_set()
        payload = call.TransactionEvent(
            event_type=event_type,
            timestamp=iso(utc_now() if meter is None else parse_iso(meter["timestamp"])),
            trigger_reason=trigger_reason,
            seq_no=session.next_seq_no(),
            transaction_info=info,
            meter_value=[meter] if meter else None,
            offline=True if offline else None,
            evse={"id": session.connector_id, "connectorId": 1} if event_type == "Started" else None,
            number_of_phases_used=session.phases if event_type == "Started" else None,
            **extra,
        )

        def on_result(result):
            info = result.id_token_info or {}
            if info:
                station.auth_cache.remember(session.id_tag, info)
                if info.get("status") != "Accepted" and not session.ended:
                    station.deauthorize(session)

        return station.transaction_message(f"TransactionEvent {event_type}", lambda: payload, session, on_result)

    def transaction_started(self, session):
        """E01/E02/F01: TransactionEvent Started with the register reading (Transaction.Begin) and the idToken."""
        begin = {
            "timestamp": iso(session.started_at),
            "sampledValue": [
                {
                    "value": session.meter_start_wh,
                    "context": "Transaction.Begin",
                    "measurand": "Energy.Active.Import.Register",
                    "location": "Outlet",
                    "unitOfMeasure": {"unit": "Wh"},
                }
            ],
        }
        return self._event(
            session,
            "Started",
            "RemoteStart" if session.remote else "Authorized",
            meter=begin,
            state=CHARGING_STATE.get(session.charging_state, "Charging"),
            id_token=id_token(session.id_tag, session.id_tag_type),
            reservation_id=session.reservation_id,
        )

    def meter_values(self, session, reading):
        """J02: TransactionEvent Updated (MeterValuePeriodic) with the sampled values of TxUpdatedMeasurands."""
        measurands = self.station.config.get_list("MeterValuesSampledData")
        return self._event(session, "Updated", "MeterValuePeriodic", meter=meter_value(reading, measurands))

    def charging_state_changed(self, session):
        """E (charging state): TransactionEvent Updated, ChargingStateChanged."""
        return self._event(session, "Updated", "ChargingStateChanged", state=CHARGING_STATE.get(session.charging_state, "SuspendedEV"))

    def transaction_ended(self, session, reason: str, reading):
        """E06: TransactionEvent Ended with stoppedReason and the final reading (Transaction.End)."""
        stopped_reason, trigger = STOP_REASONS.get(reason, ("Other", "AbnormalCondition"))
        measurands = self.station.config.get_list("StopTxnSampledData")
        extra = {"stoppedReason": stopped_reason}
        if reason == "Local":
            extra["id_token"] = id_token(session.id_tag, session.id_tag_type)
        return self._event(
            session,
            "Ended",
            trigger,
            meter=meter_value(reading, measurands),
            state="EVConnected" if reason == "Local" else "Idle",
            **extra,
        )

    @staticmethod
    def firmware_status(status: str, request_id=None) -> call.FirmwareStatusNotification:
        return call.FirmwareStatusNotification(status=status, request_id=request_id if status != "Idle" else None)

    @staticmethod
    def log_status(status: str, request_id=None) -> call.LogStatusNotification:
        return call.LogStatusNotification(status=status, request_id=request_id if status != "Idle" else None)

    def sign_certificate(self) -> call.SignCertificate:
        """A02/A03: a real CSR (EC P-256, CN = the identity) for the station's own certificate; the key stays pending."""
        return call.SignCertificate(csr=self.station.identity.csr(), certificate_type="ChargingStationCertificate")

    @staticmethod
    def security_event(type: str, tech_info: str | None = None) -> call.SecurityEventNotification:
        """A04: a security event the station noticed (FirmwareUpdated, SettingSystemTime …)."""
        return call.SecurityEventNotification(type=type, timestamp=iso(utc_now()), tech_info=tech_info[:255] if tech_info else None)

    @staticmethod
    def reservation_expired(reservation) -> call.ReservationStatusUpdate:
        return call.ReservationStatusUpdate(reservation_id=reservation.reservation_id, reservation_update_status="Expired")

    # --- device model -----------------------------------------------------------

    def find_variable(self, component: dict, variable: dict) -> tuple[Variable | None, str]:
        """The variable a request names, or (None, "UnknownComponent" / "UnknownVariable")."""
        for candidate in self.variables:
            if candidate.matches(component, variable):
                return candidate, "Accepted"
        known = any(v.component == component.get("name") for v in self.variables)
        return None, "UnknownVariable" if known else "UnknownComponent"

    def report_item(self, variable: Variable) -> dict:
        """One NotifyReport reportData entry (B07) for `variable`."""
        key = self.station.config.keys[variable.key]
        characteristics = {"dataType": variable.data_type, "supportsMonitoring": False}
        if key.unit:
            characteristics["unit"] = key.unit
        if variable.data_type == "MemberList" and key.members:
            characteristics["valuesList"] = ",".join(sorted(key.members))[:1000]
        elif variable.data_type in VALUES_LISTS:
            characteristics["valuesList"] = VALUES_LISTS[variable.data_type]
        if key.writeonly:  # B07: the value of a WriteOnly variable is not reported
            attribute = {"type": "Actual", "mutability": "WriteOnly"}
        else:
            attribute = {"type": "Actual", "value": key.current()[:2500], "mutability": "ReadOnly" if key.readonly else "ReadWrite"}
        return {
            "component": variable.component_dict(),
            "variable": variable.variable_dict(),
            "variableAttribute": [attribute],
            "variableCharacteristics": characteristics,
        }

    def report(self, report_base: str) -> list[dict]:
        """reportData for GetBaseReport: ConfigurationInventory (writable), FullInventory, SummaryInventory."""
        config = self.station.config
        variables = self.variables
        if report_base == "ConfigurationInventory":
            variables = [v for v in variables if not config.keys[v.key].readonly]
        elif report_base == "SummaryInventory":
            variables = [v for v in variables if v.variable == "AvailabilityState"]
        return [self.report_item(v) for v in variables]


class ChargePoint201(AdapterMixin, ChargePoint):
    """The `ocpp` 2.0.1 ChargePoint of one connection of `station`: answers every CSMS-initiated message."""

    def __init__(self, station, connection):
        super().__init__(station.id, connection, response_timeout=station.settings.response_timeout_s, logger=frame_logger)
        self.station = station
        self.protocol: Protocol201 = station.protocol
        self._follow_up = None

    def _then(self, make_coroutine) -> None:
        self._follow_up = make_coroutine

    def _after(self, **kwargs) -> None:
        make, self._follow_up = self._follow_up, None
        if make is not None:
            self.station.spawn(make())

    # --- B: provisioning -------------------------------------------------------

    @on("GetVariables")
    def on_get_variables(self, get_variable_data, **kwargs):
        results = []
        for item in get_variable_data:
            component, variable = item["component"], item["variable"]
            found, status = self.protocol.find_variable(component, variable)
            result = {"attribute_status": status, "component": component, "variable": variable}
            attribute_type = item.get("attribute_type", "Actual")
            if item.get("attribute_type"):
                result["attribute_type"] = attribute_type
            if found is not None:
                if attribute_type != "Actual":
                    result["attribute_status"] = "NotSupportedAttributeType"
                elif self.station.config.keys[found.key].writeonly:
                    result["attribute_status"] = "Rejected"  # B06.FR.03: a WriteOnly value is not given
                else:
                    result["attribute_value"] = self.station.config.get(found.key)[:2500]
            results.append(result)
        return call_result.GetVariables(get_variable_result=results)

    @on("SetVariables")
    def on_set_variables(self, set_variable_data, **kwargs):
        results = []
        # KeyStore.set answers in 1.6 ConfigurationStatus words; SetVariableStatusEnumType spells them so.
        statuses = {
            "Accepted": "Accepted",
            "RebootRequired": "RebootRequired",
            "Rejected": "Rejected",
            "NotSupported": "UnknownVariable",
        }
        for item in set_variable_data:
            component, variable = item["component"], item["variable"]
            found, status = self.protocol.find_variable(component, variable)
            result = {"component": component, "variable": variable}
            if item.get("attribute_type"):
                result["attribute_type"] = item["attribute_type"]
            if found is not None:
                if item.get("attribute_type", "Actual") != "Actual":
                    status = "NotSupportedAttributeType"
                else:
                    status = statuses[self.station.config.set(found.key, str(item["attribute_value"]))]
                shown = self.station.config.shown(found.key, str(item["attribute_value"]))
                self.station.note("command", f"SetVariables {found.component}.{found.variable}={shown}: {status}")
            result["attribute_status"] = status
            results.append(result)
        return call_result.SetVariables(set_variable_result=results)

    @on("GetBaseReport")
    def on_get_base_report(self, request_id, report_base, **kwargs):
        data = self.protocol.report(report_base)
        self._then(lambda: self._notify_report(request_id, data))
        return call_result.GetBaseReport(status="Accepted" if data else "EmptyResultSet")

    @after("GetBaseReport")
    def after_get_base_report(self, **kwargs):
        self._after()

    @on("GetReport")
    def on_get_report(self, request_id, component_variable=None, component_criteria=None, **kwargs):
        variables = self.protocol.variables
        if component_variable:
            wanted = []
            for item in component_variable:
                name = item["component"]["name"]
                variable = (item.get("variable") or {}).get("name")
                wanted += [v for v in variables if v.component == name and variable in (None, v.variable)]
            variables = wanted
        data = [self.protocol.report_item(v) for v in variables]
        if not data:
            return call_result.GetReport(status="EmptyResultSet")
        self._then(lambda: self._notify_report(request_id, data))
        return call_result.GetReport(status="Accepted")

    @after("GetReport")
    def after_get_report(self, **kwargs):
        self._after()

    async def _notify_report(self, request_id: int, data: list[dict]) -> None:
        per_message = max(1, self.station.config.get_int("DeviceDataCtrlr.ItemsPerMessage", 20))
        chunks = [data[i : i + per_message] for i in range(0, len(data), per_message)] or [[]]
        generated_at = iso(utc_now())
        for seq_no, chunk in enumerate(chunks):
            await self.station.send(
                call.NotifyReport(
                    request_id=request_id,
                    generated_at=generated_at,
                    seq_no=seq_no,
                    report_data=chunk or None,
                    tbc=seq_no < len(chunks) - 1,
                ),
                registered=False,
            )

    @on("Reset")
    def on_reset(self, type, evse_id=None, **kwargs):
        station = self.station
        if evse_id is not None:
            return call_result.Reset(status="Rejected", status_info={"reasonCode": "UnsupportedRequest"})
        busy = any(c.session is not None for c in station.connectors.values())
        station.note("command", f"{type} reset")
        if type == "OnIdle" and busy:
            self._then(lambda: self._reset_when_idle())
            return call_result.Reset(status="Scheduled")
        self._then(lambda: station.reboot(boot_reason="RemoteReset", stop_reason="SoftReset"))
        return call_result.Reset(status="Accepted")

    @after("Reset")
    def after_reset(self, **kwargs):
        self._after()

    async def _reset_when_idle(self) -> None:
        while any(c.session is not None for c in self.station.connectors.values()):
            await asyncio.sleep(0.5)
        await self.station.reboot(boot_reason="RemoteReset", stop_reason="SoftReset")

    @on("SetNetworkProfile")
    def on_set_network_profile(self, **kwargs):
        return call_result.SetNetworkProfile(status="Rejected", status_info={"reasonCode": "UnsupportedRequest"})

    # --- C / D: authorization ---------------------------------------------------

    @on("ClearCache")
    def on_clear_cache(self, **kwargs):
        self.station.auth_cache.clear()
        return call_result.ClearCache(status="Accepted")

    @on("GetLocalListVersion")
    def on_get_local_list_version(self, **kwargs):
        return call_result.GetLocalListVersion(version_number=self.station.local_list.version)

    @on("SendLocalList")
    def on_send_local_list(self, version_number, update_type, local_authorization_list=None, **kwargs):
        station = self.station
        if not station.config.get_bool("LocalAuthListEnabled", True):
            return call_result.SendLocalList(status="Failed", status_info={"reasonCode": "NotEnabled"})
        entries = {
            entry["id_token"]["id_token"]: (entry.get("id_token_info") or {}).get("status") for entry in local_authorization_list or []
        }
        status = station.local_list.update(version=version_number, full=update_type == "Full", entries=entries)
        station.config.set("LocalAuthListEntries", str(len(station.local_list.entries)), force=True)
        station.note("command", f"SendLocalList v{version_number} ({update_type}, {len(entries)} entries): {status}")
        return call_result.SendLocalList(status=status)

    # --- E / F: transactions and remote control -----------------------------------

    @on("RequestStartTransaction")
    def on_request_start_transaction(self, id_token, remote_start_id, evse_id=None, charging_profile=None, **kwargs):
        if charging_profile is not None and charging_profile.get("charging_profile_purpose") != "TxProfile":
            return call_result.RequestStartTransaction(status="Rejected")
        accepted = self.station.remote_start(
            id_token["id_token"],
            evse_id,
            remote_start_id=remote_start_id,
            charging_profile=charging_profile,
            id_tag_type=id_token.get("type", "Central"),
        )
        return call_result.RequestStartTransaction(status="Accepted" if accepted else "Rejected")

    @on("RequestStopTransaction")
    def on_request_stop_transaction(self, transaction_id, **kwargs):
        accepted = self.station.remote_stop(transaction_id)
        return call_result.RequestStopTransaction(status="Accepted" if accepted else "Rejected")

    @on("GetTransactionStatus")
    def on_get_transaction_status(self, transaction_id=None, **kwargs):
        station = self.station
        if transaction_id is None:
            return call_result.GetTransactionStatus(messages_in_queue=len(station.tx_queue) > 0)
        queued = any(getattr(m.session, "transaction_id", None) == transaction_id for m in station.tx_queue)
        return call_result.GetTransactionStatus(
            messages_in_queue=queued, ongoing_indicator=station.find_session(transaction_id) is not None
        )

    @on("UnlockConnector")
    def on_unlock_connector(self, evse_id, connector_id, **kwargs):
        if connector_id != 1:
            return call_result.UnlockConnector(status="UnknownConnector")
        # F05.FR.02: an authorized transaction on the connector is not interrupted by an unlock.
        status = self.station.unlock(evse_id, stop_session=False)
        return call_result.UnlockConnector(status="OngoingAuthorizedTransaction" if status == "Busy" else status)

    @on("TriggerMessage")
    def on_trigger_message(self, requested_message, evse=None, **kwargs):
        station = self.station
        if requested_message not in TRIGGERABLE:
            return call_result.TriggerMessage(status="NotImplemented")
        evse_id = (evse or {}).get("id")
        if evse_id is not None and evse_id not in station.connectors:
            return call_result.TriggerMessage(status="Rejected")
        # F06.FR.17: a station already Accepted does not boot again on request.
        if requested_message == "BootNotification" and station.registered.is_set():
            return call_result.TriggerMessage(status="Rejected")
        station.note("command", f"TriggerMessage {requested_message}")
        self._then(lambda: self._send_triggered(requested_message, evse_id))
        return call_result.TriggerMessage(status="Accepted")

    @after("TriggerMessage")
    def after_trigger_message(self, **kwargs):
        self._after()

    async def _send_triggered(self, requested: str, evse_id) -> None:
        station, protocol = self.station, self.protocol
        connectors = [c for cid, c in station.connectors.items() if evse_id in (None, cid)]
        if requested == "BootNotification":
            await station.send(protocol.boot_notification("Triggered"), registered=False)
        elif requested == "LogStatusNotification":
            await station.send(protocol.log_status(station.log_status), registered=False)
        elif requested == "FirmwareStatusNotification":
            await station.send(protocol.firmware_status(station.firmware_status), registered=False)
        elif requested == "Heartbeat":
            await station.send(protocol.heartbeat(), registered=False)
        elif requested == "SignChargingStationCertificate":
            result = await station.send(protocol.sign_certificate(), registered=False)
            if result is None or result.status != "Accepted":
                station.identity.cancel()
            station.note("command", f"SignCertificate answered {result.status if result else 'nothing'}")
        elif requested == "StatusNotification":
            for connector in connectors:
                await station.send(protocol.status_notification(connector), registered=False)
        elif requested == "MeterValues":
            measurands = station.config.get_list("MeterValuesSampledData")
            for connector in connectors:
                reading = station.reading(connector, "Trigger")
                await station.send(
                    call.MeterValues(evse_id=connector.connector_id, meter_value=[meter_value(reading, measurands)]),
                    registered=False,
                )
        elif requested == "TransactionEvent":
            measurands = station.config.get_list("MeterValuesSampledData")
            for connector in connectors:
                if connector.session is not None:
                    reading = station.reading(connector, "Trigger")
                    station.tx_queue.put(protocol._event(connector.session, "Updated", "Trigger", meter=meter_value(reading, measurands)))

    # --- G: availability ------------------------------------------------------------

    @on("ChangeAvailability")
    def on_change_availability(self, operational_status, evse=None, **kwargs):
        evse_id = (evse or {}).get("id", 0)
        if (evse or {}).get("connector_id", 1) != 1:
            return call_result.ChangeAvailability(status="Rejected")
        status = self.station.change_availability(evse_id, operational_status == "Operative")
        if status != "Rejected":
            self._then(lambda: self.station.report_idle_statuses(None if evse_id == 0 else {evse_id}))
        return call_result.ChangeAvailability(status=status)

    @after("ChangeAvailability")
    def after_change_availability(self, **kwargs):
        self._after()

    # --- H: reservations ------------------------------------------------------------

    @on("ReserveNow")
    def on_reserve_now(self, id, expiry_date_time, id_token, evse_id=None, group_id_token=None, **kwargs):
        station = self.station
        if not station.config.get_bool("ReservationCtrlr.Enabled", True):
            return call_result.ReserveNow(status="Rejected")
        candidates = [evse_id] if evse_id else list(station.connectors)
        status = "Occupied"
        for cid in candidates:
            reservation = Reservation(id, cid, id_token["id_token"], parse_iso(expiry_date_time), (group_id_token or {}).get("id_token"))
            status = station.reserve(reservation)
            if status == "Accepted":
                self._then(lambda cid=cid: station.report_idle_statuses({cid}))
                break
        return call_result.ReserveNow(status=status)

    @after("ReserveNow")
    def after_reserve_now(self, **kwargs):
        self._after()

    @on("CancelReservation")
    def on_cancel_reservation(self, reservation_id, **kwargs):
        connector_id = self.station.cancel_reservation(reservation_id)
        if connector_id is None:
            return call_result.CancelReservation(status="Rejected")
        self._then(lambda: self.station.report_idle_statuses({connector_id}))
        return call_result.CancelReservation(status="Accepted")

    @after("CancelReservation")
    def after_cancel_reservation(self, **kwargs):
        self._after()

    # --- K: smart charging --------------------------------------------------------------

    @on("SetChargingProfile")
    def on_set_charging_profile(self, evse_id, charging_profile, **kwargs):
        station, p = self.station, charging_profile
        purpose = p["charging_profile_purpose"]
        if evse_id != 0 and evse_id not in station.connectors:
            return call_result.SetChargingProfile(status="Rejected", status_info={"reasonCode": "UnknownEvse"})
        if purpose in ("ChargingStationMaxProfile", "ChargingStationExternalConstraints") and evse_id != 0:
            return call_result.SetChargingProfile(status="Rejected")
        if purpose == "TxProfile":
            # K01.FR.16: a TxProfile names a transaction running on the EVSE.
            session = station.connectors[evse_id].session if evse_id else None
            if session is None or p.get("transaction_id") not in (None, session.transaction_id):
                return call_result.SetChargingProfile(status="Rejected", status_info={"reasonCode": "TxNotFound"})
        profile = ChargingProfile.from_ocpp(evse_id, p, installed_at=utc_now())
        if purpose == "TxProfile" and profile.transaction_id is None:
            profile.transaction_id = station.connectors[evse_id].session.transaction_id
        station.install_profile(profile)
        return call_result.SetChargingProfile(status="Accepted")

    @on("ClearChargingProfile")
    def on_clear_charging_profile(self, charging_profile_id=None, charging_profile_criteria=None, **kwargs):
        criteria = charging_profile_criteria or {}
        cleared = self.station.clear_profiles(
            profile_id=charging_profile_id,
            connector_id=criteria.get("evse_id"),
            purpose=criteria.get("charging_profile_purpose"),
            stack_level=criteria.get("stack_level"),
        )
        return call_result.ClearChargingProfile(status="Accepted" if cleared else "Unknown")

    @on("GetChargingProfiles")
    def on_get_charging_profiles(self, request_id, charging_profile, evse_id=None, **kwargs):
        criteria = charging_profile or {}
        ids = criteria.get("charging_profile_id")
        matching = [
            p
            for p in self.station.profiles.profiles.values()
            if (evse_id is None or p.connector_id == evse_id)
            and (criteria.get("charging_profile_purpose") in (None, p.purpose))
            and (criteria.get("stack_level") in (None, p.stack_level))
            and (not ids or p.profile_id in ids)
        ]
        if not matching:
            return call_result.GetChargingProfiles(status="NoProfiles")
        self._then(lambda: self._report_profiles(request_id, matching))
        return call_result.GetChargingProfiles(status="Accepted")

    @after("GetChargingProfiles")
    def after_get_charging_profiles(self, **kwargs):
        self._after()

    async def _report_profiles(self, request_id: int, profiles) -> None:
        by_evse: dict[int, list] = {}
        for profile in profiles:
            by_evse.setdefault(profile.connector_id, []).append(profile.raw)
        evses = sorted(by_evse)
        for index, evse in enumerate(evses):
            await self.station.send(
                call.ReportChargingProfiles(
                    request_id=request_id,
                    charging_limit_source="CSO",
                    charging_profile=by_evse[evse],
                    evse_id=evse,
                    tbc=index < len(evses) - 1,
                )
            )

    @on("GetCompositeSchedule")
    def on_get_composite_schedule(self, duration, evse_id, charging_rate_unit=None, **kwargs):
        station = self.station
        if evse_id != 0 and evse_id not in station.connectors:
            return call_result.GetCompositeSchedule(status="Rejected", status_info={"reasonCode": "UnknownEvse"})
        session = station.connectors[evse_id].session if evse_id else None
        unit = charging_rate_unit or "A"
        now = utc_now()
        rating = station.settings.max_current_a * (len(station.connectors) if evse_id == 0 else 1)
        periods = station.profiles.composite(
            evse_id,
            now=now,
            duration_s=duration,
            unit=unit,
            rating_a=rating,
            session_start=session.started_at if session else None,
            transaction_id=session.transaction_id if session else None,
        )
        return call_result.GetCompositeSchedule(
            status="Accepted",
            schedule={
                "evseId": evse_id,
                "duration": duration,
                "scheduleStart": iso(now),
                "chargingRateUnit": unit,
                "chargingSchedulePeriod": [{"startPeriod": p.start_s, "limit": p.limit, "numberPhases": p.phases} for p in periods],
            },
        )

    # --- L: firmware ------------------------------------------------------------------

    @on("UpdateFirmware")
    def on_update_firmware(self, request_id, firmware, **kwargs):
        location = firmware["location"]
        at = parse_iso(firmware["retrieve_date_time"])
        self.station.note("command", f"UpdateFirmware from {location}")
        self._then(lambda: self.station.update_firmware(location=location, retrieve_at=at, request_id=request_id))
        return call_result.UpdateFirmware(status="Accepted")

    @after("UpdateFirmware")
    def after_update_firmware(self, **kwargs):
        self._after()

    @on("PublishFirmware")
    def on_publish_firmware(self, **kwargs):
        # Only a Local Controller publishes firmware (L03); a station is none.
        return call_result.PublishFirmware(status="Rejected", status_info={"reasonCode": "UnsupportedRequest"})

    @on("UnpublishFirmware")
    def on_unpublish_firmware(self, **kwargs):
        return call_result.UnpublishFirmware(status="NoFirmware")

    # --- M: certificates (no ISO 15118 here) --------------------------------------------

    @on("CertificateSigned")
    def on_certificate_signed(self, certificate_chain, certificate_type=None, **kwargs):
        """A02/A03: install the chain when it is for the key of our CSR (A02.FR.xx: else Rejected, and a security event)."""
        station, protocol = self.station, self.station.protocol
        if certificate_type not in (None, "ChargingStationCertificate"):
            return call_result.CertificateSigned(status="Rejected", status_info={"reasonCode": "UnsupportedType"})
        problem = station.identity.install(certificate_chain)
        if problem is not None:
            station.note("command", f"CertificateSigned rejected: {problem}")
            if problem == "no CSR is pending":
                return call_result.CertificateSigned(status="Rejected", status_info={"reasonCode": "NoCSR"})
            self._then(lambda: station.send(protocol.security_event("InvalidChargingStationCertificate", problem)))
            return call_result.CertificateSigned(status="Rejected", status_info={"reasonCode": "InvalidCertificate"})
        station.certificate_installed()
        return call_result.CertificateSigned(status="Accepted")

    @after("CertificateSigned")
    def after_certificate_signed(self, **kwargs):
        self._after()

    @on("InstallCertificate")
    def on_install_certificate(self, **kwargs):
        return call_result.InstallCertificate(status="Rejected", status_info={"reasonCode": "UnsupportedRequest"})

    @on("DeleteCertificate")
    def on_delete_certificate(self, **kwargs):
        return call_result.DeleteCertificate(status="NotFound")

    @on("GetInstalledCertificateIds")
    def on_get_installed_certificate_ids(self, **kwargs):
        return call_result.GetInstalledCertificateIds(status="NotFound")

    # --- N: diagnostics and monitoring ----------------------------------------------------

    @on("GetLog")
    def on_get_log(self, log, log_type, request_id, **kwargs):
        name = f"{log_type.lower()}-{self.station.id}-{utc_now():%Y%m%dT%H%M%S}.log"
        self.station.note("command", f"GetLog ({log_type}) to {log.get('remote_location')}")
        self._then(lambda: self.station.upload_log(request_id=request_id))
        return call_result.GetLog(status="Accepted", filename=name[:255])

    @after("GetLog")
    def after_get_log(self, **kwargs):
        self._after()

    @on("CustomerInformation")
    def on_customer_information(self, request_id, report, clear, **kwargs):
        if report:
            self._then(
                lambda: self.station.send(
                    call.NotifyCustomerInformation(
                        data="No data about this customer is kept.",
                        seq_no=0,
                        generated_at=iso(utc_now()),
                        request_id=request_id,
                        tbc=False,
                    )
                )
            )
        return call_result.CustomerInformation(status="Accepted")

    @after("CustomerInformation")
    def after_customer_information(self, **kwargs):
        self._after()

    @on("GetMonitoringReport")
    def on_get_monitoring_report(self, **kwargs):
        return call_result.GetMonitoringReport(status="EmptyResultSet")

    @on("SetMonitoringBase")
    def on_set_monitoring_base(self, **kwargs):
        return call_result.SetMonitoringBase(status="NotSupported")

    @on("SetMonitoringLevel")
    def on_set_monitoring_level(self, severity, **kwargs):
        return call_result.SetMonitoringLevel(status="Accepted")

    @on("SetVariableMonitoring")
    def on_set_variable_monitoring(self, set_monitoring_data, **kwargs):
        return call_result.SetVariableMonitoring(
            set_monitoring_result=[
                {
                    "status": "UnsupportedMonitorType",
                    "type": item["type"],
                    "severity": item["severity"],
                    "component": item["component"],
                    "variable": item["variable"],
                    **({"id": item["id"]} if item.get("id") is not None else {}),
                }
                for item in set_monitoring_data
            ]
        )

    @on("ClearVariableMonitoring")
    def on_clear_variable_monitoring(self, id, **kwargs):
        return call_result.ClearVariableMonitoring(clear_monitoring_result=[{"status": "NotFound", "id": monitor_id} for monitor_id in id])

    # --- O: display messages, and the rest --------------------------------------------

    @on("SetDisplayMessage")
    def on_set_display_message(self, **kwargs):
        return call_result.SetDisplayMessage(status="Rejected")

    @on("GetDisplayMessages")
    def on_get_display_messages(self, **kwargs):
        return call_result.GetDisplayMessages(status="Unknown")

    @on("ClearDisplayMessage")
    def on_clear_display_message(self, **kwargs):
        return call_result.ClearDisplayMessage(status="Unknown")

    @on("CostUpdated")
    def on_cost_updated(self, total_cost, transaction_id, **kwargs):
        self.station.note("command", f"cost of {transaction_id}: {total_cost}")
        return call_result.CostUpdated()

    @on("DataTransfer")
    def on_data_transfer(self, vendor_id, message_id=None, data=None, **kwargs):
        status, answer = self.station.data_transfer(vendor_id, message_id, data)
        return call_result.DataTransfer(status=status, data=answer)
