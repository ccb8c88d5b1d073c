"""OCPP 1.6J for a simulated charge point: what it sends (`Protocol16`) and how it answers (`ChargePoint16`).

`ChargePoint16` is the `ocpp` library's 1.6 ChargePoint with one @on handler
per central-system operation (§5, all six feature profiles, and the Security
Whitepaper's extension: certificates, signed firmware, logs, extended trigger). Handlers answer
at once from the station's state; what follows an answer (a reboot, status
notifications, firmware progress, the message TriggerMessage asked for)
runs from the matching @after hook, which the library calls once the
CALLRESULT is sent. Section numbers refer to OCPP 1.6 edition 2.
"""

from __future__ import annotations

import hashlib

from ocpp.routing import after, on
from ocpp.v16 import ChargePoint, call, call_result

from .connection import AdapterMixin, frame_logger
from .model import Reservation, Status, iso, parse_iso, utc_now
from .offline import SkipMessage
from .profiles import ChargingProfile

TRIGGERABLE = {
    "BootNotification",
    "DiagnosticsStatusNotification",
    "FirmwareStatusNotification",
    "Heartbeat",
    "MeterValues",
    "StatusNotification",
}
# ExtendedTriggerMessage (Security Whitepaper F06): the messages it may ask for.
EXTENDED_TRIGGERABLE = {
    "BootNotification",
    "FirmwareStatusNotification",
    "Heartbeat",
    "LogStatusNotification",
    "MeterValues",
    "SignChargePointCertificate",
    "StatusNotification",
}
# What ExtendedTriggerMessage asks for → the plain trigger that sends the same message.
EXTENDED_AS_PLAIN = {"BootNotification", "Heartbeat", "MeterValues", "StatusNotification"}
PEM_CERTIFICATE = "-----BEGIN CERTIFICATE-----"
# CertificateHashDataType's keys (camelCase, as `certificate_hash` gives them) → the snake_case the `ocpp` library hands handlers.
HASH_FIELDS = {
    "hashAlgorithm": "hash_algorithm",
    "issuerNameHash": "issuer_name_hash",
    "issuerKeyHash": "issuer_key_hash",
    "serialNumber": "serial_number",
}


def meter_value(reading, measurands) -> dict:
    """A 1.6 MeterValue (§7.42) of `reading` with the sampled values of `measurands`; values are text."""
    context, electrical = reading.context, reading.electrical
    values = []
    if "Energy.Active.Import.Register" in measurands or not measurands:
        values.append(
            {
                "value": str(reading.energy_wh),
                "context": context,
                "measurand": "Energy.Active.Import.Register",
                "location": "Outlet",
                "unit": "Wh",
            }
        )
    if "Power.Active.Import" in measurands:
        values.append(
            {
                "value": f"{electrical.power_w:.1f}",
                "context": context,
                "measurand": "Power.Active.Import",
                "location": "Outlet",
                "unit": "W",
            }
        )
    if "Current.Import" in measurands:
        for phase, amps in electrical.current_a.items():
            values.append(
                {
                    "value": f"{amps:.2f}",
                    "context": context,
                    "measurand": "Current.Import",
                    "phase": phase,
                    "location": "Outlet",
                    "unit": "A",
                }
            )
    if "Voltage" in measurands:
        for phase, volts in electrical.voltage_v.items():
            values.append(
                {
                    "value": f"{volts:.1f}",
                    "context": context,
                    "measurand": "Voltage",
                    "phase": f"{phase}-N",
                    "location": "Outlet",
                    "unit": "V",
                }
            )
    if "SoC" in measurands and reading.soc_pct is not None:
        values.append({"value": f"{reading.soc_pct:.1f}", "context": context, "measurand": "SoC", "location": "EV", "unit": "Percent"})
    return {"timestamp": iso(reading.timestamp), "sampledValue": values}


class Protocol16:
    """Builds the OCPP 1.6 messages a `Station` sends; `adapter(ws)` makes the ChargePoint that answers.

    The interface `Station` uses (`station201.Protocol201` has the same):
    `boot_notification(reason)`, `boot_result(answer)` → (status, heartbeat
    interval s), `heartbeat()`, `status_notification(connector or None)`,
    `status_notifications()`, `authorize(id_tag)`, `id_tag_info(answer)`;
    transaction messages as `offline.QueuedMessage`s: `transaction_started`,
    `meter_values`, `charging_state_changed` (None in 1.6),
    `transaction_ended`; `firmware_status`, `log_status`,
    `security_event`, `reservation_expired` (None in 1.6); `profile_transaction_id(session)`
    and `matches_transaction(session, id)` for the version's transaction ids.
    """

    version = "1.6"
    subprotocol = "ocpp1.6"

    def __init__(self, station):
        self.station = station
        # Security extension: installed root certificates (certificateType → PEMs); the charge point's own key and
        # certificate are `station.identity`'s.
        self.certificates: dict[str, list[str]] = {}

    def adapter(self, ws) -> ChargePoint16:
        return ChargePoint16(self.station, ws)

    def boot_notification(self, reason: str) -> call.BootNotification:
        """§4.2; 1.6 has no boot reason, `reason` is ignored."""
        station, settings = self.station, self.station.settings
        return call.BootNotification(
            charge_point_vendor=settings.vendor[:20],
            charge_point_model=settings.model[:20],
            charge_point_serial_number=f"SN-{station.id}"[:25],
            firmware_version=station.firmware_version[:50],
            meter_type="SimMeter 3P",
            meter_serial_number=f"M-{station.id}"[:25],
        )

    @staticmethod
    def boot_result(result) -> tuple[str, int]:
        return result.status, int(result.interval)

    @staticmethod
    def heartbeat() -> call.Heartbeat:
        return call.Heartbeat()

    def status_notification(self, connector) -> call.StatusNotification:
        """§4.9 for `connector`, or for the charge point itself (connector 0) when None."""
        if connector is None:
            cid, status = 0, (Status.AVAILABLE if self.station.operative else Status.UNAVAILABLE)
        else:
            cid, status = connector.connector_id, connector.status
        return call.StatusNotification(connector_id=cid, error_code="NoError", status=status, timestamp=iso(utc_now()))

    def status_notifications(self) -> list:
        return [self.status_notification(None)] + [self.status_notification(c) for c in self.station.connectors.values()]

    @staticmethod
    def authorize(id_tag: str) -> call.Authorize:
        return call.Authorize(id_tag=id_tag)

    @staticmethod
    def id_tag_info(result) -> dict:
        return result.id_tag_info or {}

    @staticmethod
    def profile_transaction_id(session) -> str | None:
        return str(session.server_transaction_id) if session.server_transaction_id is not None else None

    @staticmethod
    def matches_transaction(session, transaction_id) -> bool:
        return session.server_transaction_id is not None and session.server_transaction_id == transaction_id

    def _measurands(self, key: str) -> list[str]:
        return self.station.config.get_list(key)

    def transaction_started(self, session):
        """StartTransaction (§4.8), queued; its answer gives the session its transaction id."""
        payload = call.StartTransaction(
            connector_id=session.connector_id,
            id_tag=session.id_tag,
            meter_start=session.meter_start_wh,
            timestamp=iso(session.started_at),
            reservation_id=session.reservation_id,
        )
        station = self.station

        def on_result(result):
            session.server_transaction_id = result.transaction_id
            info = result.id_tag_info or {}
            station.auth_cache.remember(session.id_tag, info)
            station.note("session", f"connector {session.connector_id}: transaction {result.transaction_id}")
            if info.get("status") != "Accepted" and not session.ended:
                station.deauthorize(session)

        return station.transaction_message("StartTransaction", lambda: payload, session, on_result)

    def meter_values(self, session, reading):
        """MeterValues (§4.7) of a transaction, queued; built when sent, with the transaction id known by then."""
        measurands = self._measurands("MeterValuesSampledData")

        def build():
            if session.server_transaction_id is None:
                raise SkipMessage()
            return call.MeterValues(
                connector_id=session.connector_id,
                transaction_id=session.server_transaction_id,
                meter_value=[meter_value(reading, measurands)],
            )

        return self.station.transaction_message("MeterValues", build, session)

    def charging_state_changed(self, session):
        return None  # 1.6 reports it with StatusNotification only

    def transaction_ended(self, session, reason: str, reading):
        """StopTransaction (§4.10) with the final register reading as transactionData, queued."""
        measurands = self._measurands("StopTxnSampledData")
        station = self.station

        def build():
            if session.server_transaction_id is None:
                raise SkipMessage()
            return call.StopTransaction(
                meter_stop=reading.energy_wh,
                timestamp=iso(reading.timestamp),
                transaction_id=session.server_transaction_id,
                reason=reason,
                id_tag=session.id_tag if reason == "Local" else None,
                transaction_data=[meter_value(reading, measurands)],
            )

        def on_result(result):
            if result.id_tag_info:
                station.auth_cache.remember(session.id_tag, result.id_tag_info)

        return station.transaction_message("StopTransaction", build, session, on_result)

    @staticmethod
    def firmware_status(status: str, request_id=None):
        """FirmwareStatusNotification (§4.5); SignedFirmwareStatusNotification for a signed update (one with a request id)."""
        if request_id is None:
            return call.FirmwareStatusNotification(status=status)
        return call.SignedFirmwareStatusNotification(status=status, request_id=request_id if status != "Idle" else None)

    @staticmethod
    def log_status(status: str, request_id=None):
        """DiagnosticsStatusNotification (§4.4); LogStatusNotification for a GetLog upload (one with a request id)."""
        if request_id is None:
            return call.DiagnosticsStatusNotification(status=status)
        return call.LogStatusNotification(status=status, request_id=request_id if status != "Idle" else None)

    @staticmethod
    def security_event(type: str, tech_info: str | None = None) -> call.SecurityEventNotification:
        """Security Whitepaper A04: a security event the charge point noticed (FirmwareUpdated …)."""
        return call.SecurityEventNotification(type=type, timestamp=iso(utc_now()), tech_info=tech_info[:255] if tech_info else None)

    def sign_certificate(self) -> call.SignCertificate:
        """Whitepaper A02/A03: a real CSR (EC P-256, CN = the identity) for the charge point's own certificate.

        The key stays pending in `station.identity` until a CertificateSigned for it is installed.
        """
        return call.SignCertificate(csr=self.station.identity.csr())

    @staticmethod
    def certificate_hash(pem: str) -> dict:
        """Whitepaper CertificateHashDataType of `pem`: fake but stable hashes (the simulator parses no certificates)."""
        digest = hashlib.sha256(pem.encode()).hexdigest()
        return {
            "hashAlgorithm": "SHA256",
            "issuerNameHash": hashlib.sha256(f"issuer-name:{pem}".encode()).hexdigest(),
            "issuerKeyHash": hashlib.sha256(f"issuer-key:{pem}".encode()).hexdigest(),
            "serialNumber": digest[:16],
        }

    @staticmethod
    def reservation_expired(reservation):
        return None  # 1.6 reports it with StatusNotification only


class ChargePoint16(AdapterMixin, ChargePoint):
    """The `ocpp` 1.6 ChargePoint of one connection of `station`: answers every §5 operation."""

    def __init__(self, station, connection):
        super().__init__(station.id, connection, response_timeout=station.settings.response_timeout_s, logger=frame_logger)
        self.station = station
        self._follow_up = None

    def _then(self, make_coroutine) -> None:
        """Run `make_coroutine()` once the answer is sent (from the action's @after hook)."""
        self._follow_up = make_coroutine

    def _after(self, **kwargs) -> None:
        make, self._follow_up = self._follow_up, None
        if make is not None:
            self.station.spawn(make())

    def _connector(self, connector_id):
        return self.station.connectors.get(connector_id)

    # --- Core -----------------------------------------------------------------

    @on("ChangeAvailability")
    def on_change_availability(self, connector_id, type, **kwargs):
        status = self.station.change_availability(connector_id, type == "Operative")
        if status != "Rejected":
            self._then(lambda: self.station.report_idle_statuses(None if connector_id == 0 else {connector_id}))
        return call_result.ChangeAvailability(status=status)

    @after("ChangeAvailability")
    def after_change_availability(self, **kwargs):
        self._after()

    @on("ChangeConfiguration")
    def on_change_configuration(self, key, value, **kwargs):
        status = self.station.config.set(key, value)
        self.station.note("command", f"ChangeConfiguration {key}={self.station.config.shown(key, value)}: {status}")
        return call_result.ChangeConfiguration(status=status)

    @on("GetConfiguration")
    def on_get_configuration(self, key=None, **kwargs):
        config = self.station.config
        names = key if key else list(config.keys)
        known = [name for name in names if name in config]
        unknown = [name for name in names if name not in config]
        return call_result.GetConfiguration(
            configuration_key=[config.key_value_16(name) for name in known],
            unknown_key=unknown or None,
        )

    @on("ClearCache")
    def on_clear_cache(self, **kwargs):
        self.station.auth_cache.clear()
        return call_result.ClearCache(status="Accepted")

    @on("DataTransfer")
    def on_data_transfer(self, vendor_id, message_id=None, data=None, **kwargs):
        status, answer = self.station.data_transfer(vendor_id, message_id, data)
        return call_result.DataTransfer(status=status, data=answer)

    @on("RemoteStartTransaction")
    def on_remote_start_transaction(self, id_tag, connector_id=None, charging_profile=None, **kwargs):
        # §5.11: a profile sent along must be a TxProfile.
        if charging_profile is not None and charging_profile.get("charging_profile_purpose") != "TxProfile":
            return call_result.RemoteStartTransaction(status="Rejected")
        accepted = self.station.remote_start(id_tag, connector_id, charging_profile=charging_profile, id_tag_type="ISO14443")
        return call_result.RemoteStartTransaction(status="Accepted" if accepted else "Rejected")

    @on("RemoteStopTransaction")
    def on_remote_stop_transaction(self, transaction_id, **kwargs):
        accepted = self.station.remote_stop(transaction_id)
        return call_result.RemoteStopTransaction(status="Accepted" if accepted else "Rejected")

    @on("Reset")
    def on_reset(self, type, **kwargs):
        self.station.note("command", f"{type} reset")
        stop_reason = "HardReset" if type == "Hard" else "SoftReset"
        self._then(lambda: self.station.reboot(boot_reason="RemoteReset", stop_reason=stop_reason))
        return call_result.Reset(status="Accepted")

    @after("Reset")
    def after_reset(self, **kwargs):
        self._after()

    @on("UnlockConnector")
    def on_unlock_connector(self, connector_id, **kwargs):
        status = self.station.unlock(connector_id, stop_session=True)
        # §7.48 (errata): NotSupported also answers a connectorId the charge point does not have.
        return call_result.UnlockConnector(status={"Unlocked": "Unlocked", "UnknownConnector": "NotSupported"}.get(status, "UnlockFailed"))

    # --- Firmware Management ------------------------------------------------

    @on("GetDiagnostics")
    def on_get_diagnostics(self, location, **kwargs):
        name = f"diagnostics-{self.station.id}-{utc_now():%Y%m%dT%H%M%S}.log"
        self.station.note("command", f"GetDiagnostics to {location}")
        self._then(lambda: self.station.upload_log())
        return call_result.GetDiagnostics(file_name=name[:255])

    @after("GetDiagnostics")
    def after_get_diagnostics(self, **kwargs):
        self._after()

    @on("UpdateFirmware")
    def on_update_firmware(self, location, retrieve_date, **kwargs):
        self.station.note("command", f"UpdateFirmware from {location}")
        at = parse_iso(retrieve_date)
        self._then(lambda: self.station.update_firmware(location=location, retrieve_at=at))
        return call_result.UpdateFirmware()

    @after("UpdateFirmware")
    def after_update_firmware(self, **kwargs):
        self._after()

    # --- Local Auth List Management -----------------------------------------

    @on("GetLocalListVersion")
    def on_get_local_list_version(self, **kwargs):
        enabled = self.station.config.get_bool("LocalAuthListEnabled", True)
        return call_result.GetLocalListVersion(list_version=self.station.local_list.version if enabled else -1)

    @on("SendLocalList")
    def on_send_local_list(self, list_version, update_type, local_authorization_list=None, **kwargs):
        if not self.station.config.get_bool("LocalAuthListEnabled", True):
            return call_result.SendLocalList(status="NotSupported")
        entries = {entry["id_tag"]: (entry.get("id_tag_info") or {}).get("status") for entry in local_authorization_list or []}
        status = self.station.local_list.update(version=list_version, full=update_type == "Full", entries=entries)
        self.station.note("command", f"SendLocalList v{list_version} ({update_type}, {len(entries)} entries): {status}")
        return call_result.SendLocalList(status=status)

    # --- Reservation ---------------------------------------------------------

    @on("ReserveNow")
    def on_reserve_now(self, connector_id, expiry_date, id_tag, reservation_id, parent_id_tag=None, **kwargs):
        if connector_id == 0 and not self.station.config.get_bool("ReserveConnectorZeroSupported"):
            return call_result.ReserveNow(status="Rejected")
        reservation = Reservation(reservation_id, connector_id, id_tag, parse_iso(expiry_date), parent_id_tag)
        status = self.station.reserve(reservation)
        if status == "Accepted":
            self._then(lambda: self.station.report_idle_statuses({connector_id}))
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

    # --- Smart Charging ------------------------------------------------------

    @on("SetChargingProfile")
    def on_set_charging_profile(self, connector_id, cs_charging_profiles, **kwargs):
        station, p = self.station, cs_charging_profiles
        purpose = p["charging_profile_purpose"]
        if connector_id != 0 and connector_id not in station.connectors:
            return call_result.SetChargingProfile(status="Rejected")
        if purpose == "ChargePointMaxProfile" and connector_id != 0:
            return call_result.SetChargingProfile(status="Rejected")
        if p["stack_level"] > station.config.get_int("ChargeProfileMaxStackLevel", 10):
            return call_result.SetChargingProfile(status="Rejected")
        session = None
        if purpose == "TxProfile":
            # §5.16: a TxProfile needs a transaction on the connector (and names it, if it names one).
            session = station.connectors[connector_id].session if connector_id else None
            if session is None or (p.get("transaction_id") is not None and p["transaction_id"] != session.server_transaction_id):
                return call_result.SetChargingProfile(status="Rejected")
        profile = ChargingProfile.from_ocpp(connector_id, p, installed_at=utc_now())
        if session is not None and profile.transaction_id is None and session.server_transaction_id is not None:
            profile.transaction_id = str(session.server_transaction_id)
        station.install_profile(profile)
        return call_result.SetChargingProfile(status="Accepted")

    @on("ClearChargingProfile")
    def on_clear_charging_profile(self, id=None, connector_id=None, charging_profile_purpose=None, stack_level=None, **kwargs):
        cleared = self.station.clear_profiles(
            profile_id=id, connector_id=connector_id, purpose=charging_profile_purpose, stack_level=stack_level
        )
        return call_result.ClearChargingProfile(status="Accepted" if cleared else "Unknown")

    @on("GetCompositeSchedule")
    def on_get_composite_schedule(self, connector_id, duration, charging_rate_unit=None, **kwargs):
        station = self.station
        if connector_id != 0 and connector_id not in station.connectors:
            return call_result.GetCompositeSchedule(status="Rejected")
        session = station.connectors[connector_id].session if connector_id else None
        unit = charging_rate_unit or "A"
        now = utc_now()
        rating = station.settings.max_current_a * (len(station.connectors) if connector_id == 0 else 1)
        periods = station.profiles.composite(
            connector_id,
            now=now,
            duration_s=duration,
            unit=unit,
            rating_a=rating,
            session_start=session.started_at if session else None,
            transaction_id=self.station.protocol.profile_transaction_id(session) if session else None,
        )
        return call_result.GetCompositeSchedule(
            status="Accepted",
            connector_id=connector_id,
            schedule_start=iso(now),
            charging_schedule={
                "duration": duration,
                "chargingRateUnit": unit,
                "chargingSchedulePeriod": [{"startPeriod": p.start_s, "limit": p.limit, "numberPhases": p.phases} for p in periods],
            },
        )

    # --- Remote Trigger --------------------------------------------------------

    @on("TriggerMessage")
    def on_trigger_message(self, requested_message, connector_id=None, **kwargs):
        station = self.station
        if requested_message not in TRIGGERABLE:
            return call_result.TriggerMessage(status="NotImplemented")
        if connector_id is not None and connector_id != 0 and connector_id not in station.connectors:
            return call_result.TriggerMessage(status="Rejected")
        station.note("command", f"TriggerMessage {requested_message}")
        self._then(lambda: self._send_triggered(requested_message, connector_id))
        return call_result.TriggerMessage(status="Accepted")

    @after("TriggerMessage")
    def after_trigger_message(self, **kwargs):
        self._after()

    async def _send_triggered(self, requested: str, connector_id) -> None:
        station, protocol = self.station, self.station.protocol
        connectors = [c for cid, c in station.connectors.items() if connector_id in (None, 0, cid)]
        if requested == "BootNotification":
            result = await station.send(protocol.boot_notification("Triggered"), registered=False)
            if result is not None:
                _, interval = protocol.boot_result(result)
                if interval > 0:
                    station.config.set("HeartbeatInterval", str(interval), force=True)
        elif requested == "DiagnosticsStatusNotification":
            await station.send(protocol.log_status(station.log_status))
        elif requested == "FirmwareStatusNotification":
            await station.send(protocol.firmware_status(station.firmware_status))
        elif requested == "Heartbeat":
            await station.send(protocol.heartbeat())
        elif requested == "MeterValues":
            for connector in connectors:
                session = connector.session
                await station.send(
                    call.MeterValues(
                        connector_id=connector.connector_id,
                        transaction_id=session.server_transaction_id if session else None,
                        meter_value=[meter_value(station.reading(connector, "Trigger"), protocol._measurands("MeterValuesSampledData"))],
                    )
                )
        elif requested == "StatusNotification":
            if connector_id in (None, 0):
                await station.send(protocol.status_notification(None))
            if connector_id != 0:
                for connector in connectors:
                    await station.send(protocol.status_notification(connector))

    # --- Security extension (OCPP 1.6 Security Whitepaper, edition 3) ------------

    @on("ExtendedTriggerMessage")
    def on_extended_trigger_message(self, requested_message, connector_id=None, **kwargs):
        station = self.station
        if requested_message not in EXTENDED_TRIGGERABLE:
            return call_result.ExtendedTriggerMessage(status="NotImplemented")
        if connector_id is not None and connector_id != 0 and connector_id not in station.connectors:
            return call_result.ExtendedTriggerMessage(status="Rejected")
        station.note("command", f"ExtendedTriggerMessage {requested_message}")
        self._then(lambda: self._send_extended_triggered(requested_message, connector_id))
        return call_result.ExtendedTriggerMessage(status="Accepted")

    @after("ExtendedTriggerMessage")
    def after_extended_trigger_message(self, **kwargs):
        self._after()

    async def _send_extended_triggered(self, requested: str, connector_id) -> None:
        station, protocol = self.station, self.station.protocol
        if requested in EXTENDED_AS_PLAIN:
            await self._send_triggered(requested, connector_id)
        elif requested == "FirmwareStatusNotification":
            # request_id=None: optional in the schema, but the `ocpp` dataclass has no default.
            await station.send(call.SignedFirmwareStatusNotification(status=station.firmware_status, request_id=None))
        elif requested == "LogStatusNotification":
            await station.send(call.LogStatusNotification(status=station.log_status, request_id=None))
        elif requested == "SignChargePointCertificate":
            result = await station.send(protocol.sign_certificate())
            if result is None or result.status != "Accepted":
                station.identity.cancel()
            station.note("command", f"SignCertificate answered {result.status if result else 'nothing'}")

    @on("CertificateSigned")
    def on_certificate_signed(self, certificate_chain, **kwargs):
        station, protocol = self.station, self.station.protocol
        problem = station.identity.install(certificate_chain)
        if problem is not None:
            station.note("command", f"CertificateSigned rejected: {problem}")
            if problem != "no CSR is pending":
                # Whitepaper A02: an invalid certificate is Rejected and reported as a security event.
                self._then(lambda: station.send(protocol.security_event("InvalidChargePointCertificate", problem)))
            return call_result.CertificateSigned(status="Rejected")
        station.certificate_installed()
        return call_result.CertificateSigned(status="Accepted")

    @after("CertificateSigned")
    def after_certificate_signed(self, **kwargs):
        self._after()

    @on("InstallCertificate")
    def on_install_certificate(self, certificate_type, certificate, **kwargs):
        if not certificate.lstrip().startswith(PEM_CERTIFICATE):
            return call_result.InstallCertificate(status="Rejected")
        installed = self.station.protocol.certificates.setdefault(certificate_type, [])
        if certificate not in installed:
            installed.append(certificate)
        self.station.note("command", f"InstallCertificate {certificate_type}")
        return call_result.InstallCertificate(status="Accepted")

    @on("DeleteCertificate")
    def on_delete_certificate(self, certificate_hash_data, **kwargs):
        protocol = self.station.protocol
        wanted = {key: certificate_hash_data[name] for key, name in HASH_FIELDS.items()}
        for certificates in protocol.certificates.values():
            for pem in certificates:
                if protocol.certificate_hash(pem) == wanted:
                    certificates.remove(pem)
                    self.station.note("command", f"DeleteCertificate {wanted['serialNumber']}")
                    return call_result.DeleteCertificate(status="Accepted")
        return call_result.DeleteCertificate(status="NotFound")

    @on("GetInstalledCertificateIds")
    def on_get_installed_certificate_ids(self, certificate_type, **kwargs):
        protocol = self.station.protocol
        hashes = [protocol.certificate_hash(pem) for pem in protocol.certificates.get(certificate_type, [])]
        if not hashes:
            return call_result.GetInstalledCertificateIds(status="NotFound")
        return call_result.GetInstalledCertificateIds(status="Accepted", certificate_hash_data=hashes)

    @on("GetLog")
    def on_get_log(self, log, log_type, request_id, **kwargs):
        name = f"{log_type.lower()}-{self.station.id}-{utc_now():%Y%m%dT%H%M%S}.log"
        self.station.note("command", f"GetLog ({log_type}) to {log.get('remote_location')}")
        self._then(lambda: self.station.upload_log(request_id=request_id))
        return call_result.GetLog(status="Accepted", filename=name[:255])

    @after("GetLog")
    def after_get_log(self, **kwargs):
        self._after()

    @on("SignedUpdateFirmware")
    def on_signed_update_firmware(self, request_id, firmware, **kwargs):
        if not firmware["signing_certificate"].lstrip().startswith(PEM_CERTIFICATE):
            return call_result.SignedUpdateFirmware(status="InvalidCertificate")
        location = firmware["location"]
        at = parse_iso(firmware["retrieve_date_time"])
        self.station.note("command", f"SignedUpdateFirmware from {location}")
        self._then(lambda: self.station.update_firmware(location=location, retrieve_at=at, request_id=request_id))
        return call_result.SignedUpdateFirmware(status="Accepted")

    @after("SignedUpdateFirmware")
    def after_signed_update_firmware(self, **kwargs):
        self._after()
