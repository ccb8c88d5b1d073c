"""Writes about charge points: connections, boots, statuses, data transfers.

Every function takes keyword-only arguments and runs in one database
transaction (HackSoft style). Timestamps are timezone-aware UTC datetimes.
They are synchronous: consumers call them through `database_sync_to_async`,
one call per OCPP frame (DESIGN.md trap 4).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, NotSupportedError, connection, transaction
from django.db.models import ProtectedError
from django.utils import timezone

from webhooks import services as webhooks

from . import live, ocpp, pki, redaction, security, selectors
from .exceptions import CommandOutcome, UnknownChargePoint
from .models import (
    BootNotification,
    Certificate,
    ChargePoint,
    ChargingProfile,
    ChargingProfileInstallation,
    Command,
    CommandStatus,
    ConfigurationKey,
    Connector,
    DataTransfer,
    DiagnosticsStatusNotification,
    FirmwareStatusNotification,
    InstalledCertificate,
    RegistrationStatus,
    SecurityEvent,
    SecurityProfile,
    ServerProcess,
    StationMessage,
    StatusNotification,
    Variable,
)
from .ocpp.datetimes import parse_timestamp
from .ocpp.v16 import redaction as v16_redaction
from .ocpp.v201 import redaction as v201_redaction


class ConnectionRefused(Exception):
    """A charge point may not connect: `reason` (for the log and the security event, never for the client)."""

    def __init__(self, reason: str, event_type: str = SecurityEvent.AUTHENTICATION_FAILED):
        super().__init__(reason)
        self.reason = reason
        self.event_type = event_type


def _refusal(
    cp: ChargePoint | None, credentials: tuple[str, str] | None, tls: bool, client_cert_chain: list[str] | None = None
) -> tuple[str, str] | None:
    """(event type, reason) why `cp` may not connect with `credentials` over a connection with(out) TLS; None if it may.

    Security profiles (1.6 Security Whitepaper §2, 2.0.1 A00): 0 serves any
    registered identity; 1 needs the Basic-auth password; 2 needs it over TLS;
    3 needs TLS and a client certificate (`client_cert_chain`, PEM, leaf
    first) that chains to OCPP_CHARGE_POINT_CA_CERT and names the identity or
    a serial number of the charge point's last boot as its CN
    (`selectors.certificate_names`), and that our CA, if it issued it,
    issued to this charge point. Profile 3
    uses no Basic auth: a password sent along is ignored, and one without a
    certificate is refused (downgrade protection, 2.0.1 A05). Profiles 1 and 2
    ignore a client certificate and check the password.
    """
    if cp is None:
        return SecurityEvent.AUTHENTICATION_FAILED, "unknown identity"
    profile = cp.effective_security_profile
    if profile == SecurityProfile.NONE:
        return None
    if profile >= SecurityProfile.BASIC_TLS and not tls:
        return SecurityEvent.SECURITY_PROFILE_DOWNGRADE, f"security profile {profile} needs TLS (wss://)"
    if profile >= SecurityProfile.CLIENT_CERTIFICATE:
        if not client_cert_chain:
            return SecurityEvent.SECURITY_PROFILE_DOWNGRADE, f"security profile {profile} needs a TLS client certificate"
        try:
            common_name = security.client_certificate_verify(
                client_cert_chain, ca_file=settings.OCPP_CHARGE_POINT_CA_CERT, identities=selectors.certificate_names(cp)
            )
        except security.CertificateRefused as refused:
            return SecurityEvent.INVALID_CLIENT_CERTIFICATE, refused.reason
        if common_name != cp.pk and _issued_to_another(client_cert_chain[0], cp.pk):
            # A serial number in the CN: a certificate our CA issued names the one charge point it was issued to.
            return (
                SecurityEvent.INVALID_CLIENT_CERTIFICATE,
                f"the client certificate (CN {common_name[:64]!r}) was issued to another charge point",
            )
        return None
    if credentials is None:
        return SecurityEvent.AUTHENTICATION_FAILED, "no Basic-auth credentials"
    username, password = credentials
    if username != cp.pk:
        return SecurityEvent.AUTHENTICATION_FAILED, "the username is not the identity in the URL"
    if not cp.password_hash and not cp.pending_password_hash:
        return SecurityEvent.AUTHENTICATION_FAILED, "no password is set for this charge point"
    if security.password_matches(password, cp.password_hash) or security.password_matches(password, cp.pending_password_hash):
        return None
    return SecurityEvent.AUTHENTICATION_FAILED, "wrong password"


def _issued_to_another(leaf_pem: str, charge_point_id: str) -> bool:
    """Whether our CA issued the certificate `leaf_pem` (PEM) to a charge point other than `charge_point_id`."""
    try:
        leaf = pki.load_certificates(leaf_pem)[0]
    except pki.PkiError:
        return False
    issued = Certificate.objects.filter(fingerprint_sha256=pki.fingerprint(leaf)).values_list("charge_point_id", flat=True).first()
    return issued is not None and issued != charge_point_id


def charge_point_connect(
    *,
    charge_point_id: str,
    session_id: str,
    ocpp_version: str,
    allow_unknown: bool,
    credentials: tuple[str, str] | None = None,
    tls: bool = False,
    client_cert_chain: list[str] | None = None,
    source_address: str | None = None,
    server_process_id: str | None = None,
    via_gateway: bool = False,
) -> ChargePoint:
    """Authenticate a connecting charge point and mark it connected by the session `session_id`.

    `credentials`: (username, password) of its Basic-auth header, or None;
    `tls`: whether the connection is encrypted (wss://, here or at a trusted
    proxy); `client_cert_chain`: the TLS client certificate it presented (PEM
    strings, its own first), [] or None for none. What its security profile demands is checked first (`_refusal`);
    a refusal records a security event and raises ConnectionRefused, with the
    same outcome for an unknown identity, a wrong password and missing
    credentials. An unknown identity is registered first only when
    `allow_unknown` and the deployment's profile is none. A connection with
    the pending password of a rotation makes it the password (the old one
    stops working). `server_process_id`: the process holding the connection
    (`chargepoints.presence`), whose lease is renewed here too. `via_gateway`:
    the charge point is served through an MQTT gateway (EMQX's OCPP gateway,
    `chargepoints.mqtt`) that authenticated it; only its registration is
    checked here. One database transaction, one row lock.
    """
    now = timezone.now()
    with transaction.atomic():
        renewed = server_process_id is None or ServerProcess.objects.filter(pk=server_process_id).update(renewed_at=now)
        if not renewed:
            ServerProcess.objects.get_or_create(pk=server_process_id, defaults={"renewed_at": now})
        cp = ChargePoint.objects.select_for_update().filter(pk=charge_point_id).first()
        if cp is None and allow_unknown and settings.OCPP_SECURITY_PROFILE == SecurityProfile.NONE:
            cp, _ = ChargePoint.objects.get_or_create(
                pk=charge_point_id, defaults={"registration_status": settings.OCPP_UNKNOWN_CHARGE_POINTS_STATUS}
            )
        if via_gateway and cp is not None:
            refusal = None  # the gateway checked its credentials (EMQX's authn)
        else:
            refusal = _refusal(cp, credentials, tls, client_cert_chain)
        if refusal is None:
            fields = ["connected", "session_id", "ocpp_version", "connected_at", "last_seen"]
            if cp.connected and cp.effective_security_profile != SecurityProfile.NONE:
                security_event_record(
                    charge_point_id=charge_point_id,
                    type=SecurityEvent.SESSION_TAKEOVER,
                    tech_info="an authenticated connection replaced the open one",
                    source_address=source_address,
                )
            # Profile 3 ignores Basic auth: what it sends proves nothing and rotates nothing.
            basic_auth = cp.effective_security_profile < SecurityProfile.CLIENT_CERTIFICATE
            if (
                basic_auth
                and credentials
                and cp.pending_password_hash
                and security.password_matches(credentials[1], cp.pending_password_hash)
            ):
                cp.password_hash, cp.pending_password_hash = cp.pending_password_hash, ""
                cp.password_set_at = now
                fields += ["password_hash", "pending_password_hash", "password_set_at"]
                security_event_record(
                    charge_point_id=charge_point_id,
                    type=SecurityEvent.PASSWORD_CHANGED,
                    tech_info="reconnected with the rotated password; the old one no longer works",
                    source_address=source_address,
                )
            cp.connected = True
            cp.session_id = session_id
            cp.server_process_id = server_process_id
            fields.append("server_process")
            cp.ocpp_version = ocpp_version
            cp.connected_at = now
            cp.last_seen = now
            cp.save(update_fields=fields)
            # webhook: emitted with the change it describes (webhooks/).
            webhooks.event_emit(
                type="chargepoint.connected",
                data={"charge_point_id": charge_point_id, "ocpp_version": ocpp_version, "connected_at": now.isoformat()},
            )
            live.publish(charge_point_id, "connected")  # dashboards, after commit
            return cp
    event_type, reason = refusal
    security_event_record(charge_point_id=charge_point_id, type=event_type, tech_info=reason, source_address=source_address)
    raise ConnectionRefused(reason, event_type)


def server_process_renew(*, process_id: str, hostname: str = "", pid: int | None = None, sessions: dict[str, str] | None = None) -> bool:
    """Renew the lease of server process `process_id` (now); returns False when it had to be made again.

    A lease that is gone was swept as dead while the process lived: its
    open connections, `sessions` ({charge point id: session id}), are
    marked connected by it again where the session still owns the charge point.
    """
    now = timezone.now()
    if ServerProcess.objects.filter(pk=process_id).update(renewed_at=now):
        return True
    with transaction.atomic():
        ServerProcess.objects.update_or_create(pk=process_id, defaults={"hostname": hostname, "pid": pid, "renewed_at": now})
        for charge_point_id, session_id in (sessions or {}).items():
            ChargePoint.objects.filter(pk=charge_point_id, session_id=session_id).update(connected=True, server_process_id=process_id)
    return False


def server_processes_sweep(*, ttl_s: float, keep: str | None = None) -> int:
    """Clear what dead server processes held: leases not renewed for `ttl_s` seconds (but `keep`'s).

    Their charge points still marked connected are marked disconnected (now),
    and the leases deleted. Returns how many charge points were marked. One
    transaction; safe to run from every process at once.
    """
    now = timezone.now()
    with transaction.atomic():
        dead = list(
            ServerProcess.objects.filter(renewed_at__lt=now - timedelta(seconds=ttl_s)).exclude(pk=keep).values_list("pk", flat=True)
        )
        if not dead:
            return 0
        marked = ChargePoint.objects.filter(connected=True, server_process_id__in=dead).update(connected=False, disconnected_at=now)
        ChargePoint.objects.filter(server_process_id__in=dead).update(server_process=None)
        ServerProcess.objects.filter(pk__in=dead).delete()
    return marked


def charge_point_disconnect(*, charge_point_id: str, session_id: str) -> bool:
    """Mark the charge point offline if `session_id` still owns it; returns whether it did.

    A socket that was taken over by a newer connection closes after the new
    one has connected; matching on the session keeps it from marking the
    charge point offline.
    """
    now = timezone.now()
    with transaction.atomic():
        updated = ChargePoint.objects.filter(pk=charge_point_id, session_id=session_id).update(connected=False, disconnected_at=now)
        if updated:
            # webhook: emitted with the change it describes (webhooks/).
            webhooks.event_emit(
                type="chargepoint.disconnected", data={"charge_point_id": charge_point_id, "disconnected_at": now.isoformat()}
            )
            live.publish(charge_point_id, "disconnected")  # dashboards, after commit
    return bool(updated)


def charge_point_touch(*, charge_point_id: str, heartbeat: bool = False) -> datetime:
    """Record that the charge point was heard from now; with `heartbeat`, also last_heartbeat. Returns now."""
    return charge_points_touch(touches=[(charge_point_id, heartbeat)])[0]


@transaction.atomic
def charge_points_touch(*, touches: list[tuple[str, bool]]) -> list[datetime]:
    """`charge_point_touch` of many charge points at once: (charge point id, heartbeat) pairs, one time for all; returns it per pair.

    At most two UPDATEs (charge points with a heartbeat, those without) in one
    transaction: the Heartbeats and `last_seen` writes of many connections,
    batched by `chargepoints.touching`.
    """
    now = timezone.now()
    beating = {charge_point_id for charge_point_id, heartbeat in touches if heartbeat}
    seen = {charge_point_id for charge_point_id, _ in touches} - beating
    if beating:
        ChargePoint.objects.filter(pk__in=beating).update(last_seen=now, last_heartbeat=now)
    if seen:
        ChargePoint.objects.filter(pk__in=seen).update(last_seen=now)
    return [now] * len(touches)


@transaction.atomic
def boot_notification_create(
    *,
    charge_point_id: str,
    vendor: str,
    model: str,
    serial_number: str = "",
    charge_box_serial_number: str = "",
    firmware_version: str = "",
    iccid: str = "",
    imsi: str = "",
    meter_type: str = "",
    meter_serial_number: str = "",
    reason: str = "",
) -> BootNotification:
    """Store a boot (OCPP 1.6 §4.2, 2.0.1 B01) and copy its identity fields onto the charge point.

    The boot's `status` is the RegistrationStatus to answer: the charge
    point's `registration_status` (Accepted, Pending or Rejected) as the
    operator set it. Fields the charge point left out are stored as "", and
    clear what an earlier boot said. `reason` is 2.0.1's BootReasonEnumType.
    """
    now = timezone.now()
    status = ChargePoint.objects.filter(pk=charge_point_id).values_list("registration_status", flat=True).first()
    status = status or RegistrationStatus.ACCEPTED
    fields = dict(
        vendor=vendor,
        model=model,
        serial_number=serial_number,
        charge_box_serial_number=charge_box_serial_number,
        firmware_version=firmware_version,
        iccid=iccid,
        imsi=imsi,
        meter_type=meter_type,
        meter_serial_number=meter_serial_number,
    )
    boot = BootNotification.objects.create(charge_point_id=charge_point_id, received_at=now, status=status, reason=reason, **fields)
    ChargePoint.objects.filter(pk=charge_point_id).update(last_boot_at=now, last_seen=now, last_boot_status=status, **fields)
    return boot


@transaction.atomic
def status_notification_create(
    *,
    charge_point_id: str,
    connector_id: int,
    status: str,
    error_code: str = "",
    evse_id: int | None = None,
    info: str = "",
    vendor_id: str = "",
    vendor_error_code: str = "",
    timestamp: datetime | None = None,
) -> StatusNotification:
    """Append to the status history and set the connector's current status (OCPP 1.6 §4.9, 2.0.1 G01).

    `evse_id` is 2.0.1's; for a 1.6 connector N it is N too (`Connector`).

    Connectors are created as they first report. A notification older than
    the connector's current status (a queued one delivered late) is kept in the
    history but does not overwrite the newer current status.
    """
    now = timezone.now()
    if evse_id is None:
        evse_id = connector_id
    fields = dict(
        status=status,
        error_code=error_code,
        info=info,
        vendor_id=vendor_id,
        vendor_error_code=vendor_error_code,
    )
    notification = StatusNotification.objects.create(
        charge_point_id=charge_point_id,
        evse_id=evse_id,
        connector_id=connector_id,
        timestamp=timestamp,
        received_at=now,
        **fields,
    )
    connector, created = Connector.objects.select_for_update().get_or_create(
        charge_point_id=charge_point_id,
        evse_id=evse_id,
        connector_id=connector_id,
        defaults=dict(status_timestamp=timestamp, updated_at=now, **fields),
    )
    if not created:
        stale = timestamp is not None and connector.status_timestamp is not None and timestamp < connector.status_timestamp
        if not stale:
            for name, value in fields.items():
                setattr(connector, name, value)
            connector.status_timestamp = timestamp
            connector.updated_at = now
            connector.save()
    # webhook: emitted with the change it describes (webhooks/).
    webhooks.event_emit(
        type="chargepoint.status_changed",
        data={
            "charge_point_id": charge_point_id,
            "evse_id": evse_id,
            "connector_id": connector_id,
            "timestamp": (timestamp or now).isoformat(),
            **fields,
        },
    )
    live.publish(charge_point_id, "status_changed")  # dashboards, after commit
    return notification


def data_transfer_create(
    *, charge_point_id: str, vendor_id: str, message_id: str, data: str, status: str, response_data: str = ""
) -> DataTransfer:
    """Store an incoming DataTransfer (OCPP 1.6 §4.3) with the status we answered."""
    return DataTransfer.objects.create(
        charge_point_id=charge_point_id,
        vendor_id=vendor_id,
        message_id=message_id,
        data=data,
        status=status,
        response_data=response_data,
    )


def _latest_answered(charge_point_id: str, action: str) -> Command | None:
    """The newest `action` command the charge point answered: what a status notification reports on."""
    return (
        Command.objects.filter(charge_point_id=charge_point_id, action=action, status=CommandStatus.ANSWERED)
        .order_by("-created_at", "-id")
        .only("pk")
        .first()
    )


@transaction.atomic
def firmware_status_create(*, charge_point_id: str, status: str, request_action: str = "UpdateFirmware") -> FirmwareStatusNotification:
    """Store a FirmwareStatusNotification (OCPP 1.6 §4.5, 2.0.1 L01) and set it as the current firmware status.

    It is linked to the latest answered `request_action` command.
    """
    now = timezone.now()
    row = FirmwareStatusNotification.objects.create(
        charge_point_id=charge_point_id, status=status, received_at=now, command=_latest_answered(charge_point_id, request_action)
    )
    ChargePoint.objects.filter(pk=charge_point_id).update(firmware_status=status, firmware_status_at=now)
    return row


@transaction.atomic
def diagnostics_status_create(
    *, charge_point_id: str, status: str, request_action: str = "GetDiagnostics"
) -> DiagnosticsStatusNotification:
    """Store a DiagnosticsStatusNotification (OCPP 1.6 §4.4) or 2.0.1 LogStatusNotification (N01).

    Sets it as the current diagnostics status, linked to the latest answered
    `request_action` command (GetDiagnostics, or GetLog for 2.0.1).
    """
    now = timezone.now()
    row = DiagnosticsStatusNotification.objects.create(
        charge_point_id=charge_point_id, status=status, received_at=now, command=_latest_answered(charge_point_id, request_action)
    )
    ChargePoint.objects.filter(pk=charge_point_id).update(diagnostics_status=status, diagnostics_status_at=now)
    return row


# --- Registration through the REST API (and any other operator tool).


class ChargePointAlreadyExists(Exception):
    """A charge point with this identity is already registered."""


class ChargePointInUse(Exception):
    """The charge point has transactions, which must be kept (Transaction.charge_point is PROTECT).

    Arguments: the charge point id and how many transactions it has (None when not counted).
    """


def charge_point_create(
    *,
    charge_point_id: str,
    description: str = "",
    registration_status: str = RegistrationStatus.ACCEPTED,
    ocpp_version: str = "",
    security_profile: int | None = None,
) -> ChargePoint:
    """Register a charge point so it may connect when unknown ones are not allowed.

    `charge_point_id` is its OCPP identity (1 to 48 characters of
    identifierString, `identity_validator`); `ocpp_version` the version it is
    expected to speak ("" until its first connection records the one it
    does). Raises django's ValidationError for an invalid identity,
    description or status, and ChargePointAlreadyExists when the identity is
    taken, including by a registration racing this one.
    """
    cp = ChargePoint(
        id=charge_point_id,
        description=description,
        registration_status=registration_status,
        ocpp_version=ocpp_version,
        security_profile=security_profile,
    )
    cp.full_clean(validate_unique=False)
    if ChargePoint.objects.filter(pk=charge_point_id).exists():
        raise ChargePointAlreadyExists(charge_point_id)
    try:
        with transaction.atomic():
            # force_insert: saving a model with a set primary key would otherwise
            # UPDATE a row created meanwhile (by the consumer, say) instead of failing.
            cp.save(force_insert=True)
    except IntegrityError:
        raise ChargePointAlreadyExists(charge_point_id) from None
    return cp


_UNSET = object()


def charge_point_update(
    *,
    charge_point: ChargePoint,
    description: str | None = None,
    registration_status: str | None = None,
    security_profile: int | None | object = _UNSET,
) -> ChargePoint:
    """Set what the operator decides about a charge point: its description (at most 200 characters),
    its registration status (what its next BootNotification is answered, `RegistrationStatus`) and its
    security profile (`SecurityProfile`; None: the deployment's OCPP_SECURITY_PROFILE).

    Only the fields given are written (description and status: not None;
    the profile: given at all): the other columns belong to the consumer,
    which may be updating them at the same moment. Raises django's
    ValidationError for invalid values. A changed profile is a security event.
    """
    fields = {
        name: value for name, value in (("description", description), ("registration_status", registration_status)) if value is not None
    }
    stored_profile = ChargePoint.objects.filter(pk=charge_point.pk).values_list("security_profile", flat=True).first()
    if security_profile is not _UNSET and security_profile != stored_profile:
        fields["security_profile"] = security_profile
        security_event_record(
            charge_point_id=charge_point.pk,
            type=SecurityEvent.SECURITY_PROFILE_CHANGED,
            tech_info=f"security profile set to {'the default' if security_profile is None else security_profile}",
        )
    for name, value in fields.items():
        setattr(charge_point, name, value)
    charge_point.clean_fields(exclude=[f.name for f in ChargePoint._meta.fields if f.name not in fields])
    if fields:
        charge_point.save(update_fields=list(fields))
    return charge_point


@transaction.atomic
def charge_point_delete(*, charge_point: ChargePoint) -> None:
    """Delete a charge point with its connectors, boots, status history and meter values.

    Raises ChargePointInUse when it has transactions: they are billing
    records, so the database refuses to delete them along with it.
    """
    # Counting first spares loading every protected transaction, which is what
    # the ProtectedError raised by delete() would do to list them.
    count = charge_point.transactions.count()
    if count:
        raise ChargePointInUse(charge_point.pk, count)
    try:
        charge_point.delete()
    except ProtectedError:
        # A transaction started between the count and the delete.
        raise ChargePointInUse(charge_point.pk, None) from None


# --- Commands to charge points (chargepoints.commands) ---------------------


def command_create(*, charge_point_id: str, ocpp_version: str, action: str, payload: dict, source: str, user=None) -> Command:
    """Log a command about to be sent: a PENDING `Command` whose payload hides the secrets.

    `payload` is the CALL payload (camelCase, schema-valid) the charge point
    will be sent unchanged; the row keeps a copy with each secret value
    (1.6 AuthorizationKey, 2.0.1 BasicAuthPassword and WriteOnly variables,
    SetNetworkProfile APN/VPN credentials) replaced by `redaction.REDACTED`,
    since the log is shown in the admin and the API. The one place a command
    is logged; at most one extra query (the station's WriteOnly variables,
    for 2.0.1 SetVariables). `user` is kept only when authenticated.
    """
    logged = redaction.redact_for_log(charge_point_id=charge_point_id, version=ocpp_version, action=action, payload=payload)
    return Command.objects.create(
        charge_point_id=charge_point_id,
        ocpp_version=ocpp_version,
        action=action,
        payload=logged,
        source=source,
        user=user if getattr(user, "is_authenticated", False) else None,
    )


def command_mark_sent(*, command_id: int, unique_id: str) -> None:
    """Record that the CALL of `command_id` went out with OCPP unique id `unique_id`."""
    Command.objects.filter(pk=command_id).update(status=CommandStatus.SENT, unique_id=unique_id, sent_at=timezone.now())


@transaction.atomic
def command_finish(*, command_id: int, outcome: CommandOutcome, if_unfinished: bool = False) -> Command | None:
    """Record how a command ended and, for a CALLRESULT, apply what follows from it.

    `outcome.status` is a final CommandStatus. For ANSWERED, the answers of
    the version the command was sent in (`chargepoints.ocpp.<version>.answers`)
    update the state the answer implies (configuration snapshot, reservation
    status, installed charging profiles …), in this transaction. With
    `if_unfinished` (the caller giving up: offline, timeout) nothing is
    written once the consumer recorded an outcome. Returns the command, or
    None when it no longer exists or was already finished.
    """
    commands = Command.objects.select_for_update().filter(pk=command_id)
    if if_unfinished:
        commands = commands.filter(status__in=[CommandStatus.PENDING, CommandStatus.SENT])
    command = commands.first()
    if command is None:
        return None
    command.status = outcome.status
    command.response = outcome.response
    command.error_code = outcome.error_code
    command.error_description = outcome.error_description
    command.error_details = outcome.error_details
    command.round_trip_ms = outcome.round_trip_ms
    command.completed_at = timezone.now()
    command.save()
    # webhook: emitted with the change it describes (webhooks/).
    webhooks.event_emit(
        type="command.answered",
        data={
            "command_id": command.pk,
            "charge_point_id": command.charge_point_id,
            "action": command.action,
            "status": command.status,
            "response": command.response,
            "error_code": command.error_code,
        },
    )
    if outcome.status == CommandStatus.ANSWERED and outcome.response is not None:
        apply = ocpp.dialect(command.ocpp_version).ANSWERS.get(command.action)
        if apply is not None:
            apply(command.charge_point_id, command.payload or {}, command.response)
    return command


# --- OCPP 2.0.1 ------------------------------------------------------------


def station_message_create(*, charge_point_id: str, action: str, payload: dict) -> StationMessage:
    """Keep a station-initiated request as sent (`StationMessage`)."""
    return StationMessage.objects.create(charge_point_id=charge_point_id, action=action, payload=payload)


@transaction.atomic
def device_model_report(*, charge_point_id: str, report_data: list[dict]) -> int:
    """Store the ReportDataType entries of a NotifyReport (OCPP 2.0.1 B07/B08); returns the attributes stored.

    Each entry: component {name, instance?, evse?}, variable {name, instance?},
    variableAttribute [{type?, value?, mutability?, persistent?, constant?}],
    variableCharacteristics? {unit?, dataType, minLimit?, maxLimit?, valuesList?}.
    """
    now = timezone.now()
    count = 0
    for entry in report_data:
        characteristics = entry.get("variableCharacteristics", {})
        secret = v201_redaction.is_secret_variable(entry["component"], entry["variable"])
        for attribute in entry.get("variableAttribute", []):
            mutability = attribute.get("mutability", "ReadWrite")
            Variable.objects.update_or_create(
                charge_point_id=charge_point_id,
                **Variable.lookup(entry["component"], entry["variable"], attribute.get("type", "Actual")),
                defaults=dict(
                    # A WriteOnly value is never reported by a conforming station;
                    # one that does anyway must not make a secret readable here.
                    value=None if secret or mutability == "WriteOnly" else attribute.get("value"),
                    mutability=mutability,
                    persistent=attribute.get("persistent"),
                    constant=attribute.get("constant"),
                    unit=characteristics.get("unit", ""),
                    data_type=characteristics.get("dataType", ""),
                    min_limit=characteristics.get("minLimit"),
                    max_limit=characteristics.get("maxLimit"),
                    values_list=characteristics.get("valuesList", ""),
                    updated_at=now,
                ),
            )
            count += 1
    return count


def variable_value_set(*, charge_point_id: str, component: dict, variable: dict, attribute_type: str, value) -> None:
    """Record a variable value the station reported (GetVariables) or accepted (SetVariables).

    A secret (`ocpp.v201.redaction.is_secret_variable`) is stored without its value,
    even when a station reports one it should have refused to read (B06).
    """
    if v201_redaction.is_secret_variable(component, variable):
        value = None
    Variable.objects.update_or_create(
        charge_point_id=charge_point_id,
        **Variable.lookup(component, variable, attribute_type),
        defaults=dict(value=value, updated_at=timezone.now()),
    )


def variable_touch(*, charge_point_id: str, component: dict, variable: dict, attribute_type: str) -> None:
    """Record that the attribute was set now, its value left unknown (a secret, a WriteOnly variable)."""
    Variable.objects.filter(charge_point_id=charge_point_id, **Variable.lookup(component, variable, attribute_type)).update(
        updated_at=timezone.now()
    )


# --- What answers to commands imply (chargepoints.ocpp.<version>.answers) ----


def configuration_keys_store(*, charge_point_id: str, reported: list[dict], unknown: list[str], complete: bool) -> None:
    """Store reported configuration keys (1.6 GetConfiguration, §5.8): [{key, value, readonly}].

    `complete`: the report answers a request for all keys and replaces the
    whole snapshot; otherwise the `unknown` keys are dropped from it. A
    secret key (AuthorizationKey) is stored without its value even if a
    station reports one, which the Security Whitepaper forbids it to do.
    """
    now = timezone.now()
    keys = ConfigurationKey.objects.filter(charge_point_id=charge_point_id)
    if complete:
        keys.exclude(key__in=[item["key"] for item in reported]).delete()
    else:
        keys.filter(key__in=unknown).delete()
    for item in reported:
        ConfigurationKey.objects.update_or_create(
            charge_point_id=charge_point_id,
            key=item["key"],
            defaults={
                "value": None if v16_redaction.is_secret_configuration_key(item["key"]) else item["value"],
                "readonly": item["readonly"],
                "updated_at": now,
            },
        )


def configuration_key_set(*, charge_point_id: str, key: str, value: str) -> None:
    """Record a configuration key's new value (1.6 ChangeConfiguration Accepted or RebootRequired, §5.3).

    A secret key is recorded as changed now with no value.
    """
    ConfigurationKey.objects.update_or_create(
        charge_point_id=charge_point_id,
        key=key,
        defaults={
            "value": None if v16_redaction.is_secret_configuration_key(key) else value,
            "updated_at": timezone.now(),
        },
    )


def charging_profile_install(
    *, charge_point_id: str, evse_id: int, charging_profile_id: int, profile: dict, transaction_pk: int | None
) -> ChargingProfile:
    """Store an accepted charging profile and install it on `evse_id` (1.6 §5.16 / §3.13.2; 2.0.1 K01).

        `profile` is the ChargingProfile as sent, camelCase, either version (the
        fields both share have the same names; `chargingSchedule` is kept as
        sent). `transaction_pk` is the primary key of an existing Transaction
    (the answers look it up; a transaction unknown here is None). An installed
        profile is replaced by one with the same id, or with the same purpose and
        stack level on the same EVSE.
    """
    profile_row, _ = ChargingProfile.objects.update_or_create(
        charge_point_id=charge_point_id,
        charging_profile_id=charging_profile_id,
        defaults={
            "purpose": profile["chargingProfilePurpose"],
            "stack_level": profile["stackLevel"],
            "kind": profile["chargingProfileKind"],
            "recurrency_kind": profile.get("recurrencyKind", ""),
            "valid_from": parse_timestamp(profile["validFrom"]) if profile.get("validFrom") else None,
            "valid_to": parse_timestamp(profile["validTo"]) if profile.get("validTo") else None,
            "transaction_id": transaction_pk,
            "schedule": profile["chargingSchedule"],
        },
    )
    now = timezone.now()
    active = ChargingProfileInstallation.objects.filter(charge_point_id=charge_point_id, cleared_at__isnull=True)
    active.filter(profile_id=profile_row.pk).update(cleared_at=now)
    active.filter(evse_id=evse_id, profile__purpose=profile_row.purpose, profile__stack_level=profile_row.stack_level).update(
        cleared_at=now
    )
    ChargingProfileInstallation.objects.create(charge_point_id=charge_point_id, evse_id=evse_id, profile=profile_row, installed_at=now)
    return profile_row


def charging_profiles_clear(
    *, charge_point_id: str, charging_profile_id: int | None, evse_id: int | None, purpose: str | None, stack_level: int | None
) -> int:
    """Clear the charge point's installed profiles that match (1.6 §5.5; 2.0.1 K10); None matches anything.

    A profile id, when given, is the whole criterion: both versions say the
    CSMS sends either the id or the other criteria (1.6 §5.5, 2.0.1 K10.FR.02).
    Returns the installations cleared.
    """
    installed = ChargingProfileInstallation.objects.filter(charge_point_id=charge_point_id, cleared_at__isnull=True)
    if charging_profile_id is not None:
        installed = installed.filter(profile__charging_profile_id=charging_profile_id)
    else:
        if evse_id is not None:
            installed = installed.filter(evse_id=evse_id)
        if purpose is not None:
            installed = installed.filter(profile__purpose=purpose)
        if stack_level is not None:
            installed = installed.filter(profile__stack_level=stack_level)
    return installed.update(cleared_at=timezone.now())


def local_list_accepted(*, charge_point_id: str, list_version: int) -> None:
    """An Accepted SendLocalList (1.6 §5.15 listVersion, 2.0.1 D01 versionNumber) is the station's list from now on."""
    ChargePoint.objects.filter(pk=charge_point_id).update(local_list_version=list_version)


def local_list_synced(*, charge_point_id: str, synced_at: datetime) -> None:
    """The list the station accepted holds the id tags as they were at `synced_at` (the next Differential's base).

    Set by the send-local-list operation, which knows when it built the
    list; a list sent raw gives no such moment.
    """
    ChargePoint.objects.filter(pk=charge_point_id).update(local_list_synced_at=synced_at)


def local_list_reported(*, charge_point_id: str, list_version: int) -> None:
    """Store the list version the station reports (1.6 §5.10 listVersion, 2.0.1 D02 versionNumber).

    A version other than the one we last sent means the station lost or
    replaced our list: the next Differential update must be a Full one.
    """
    ChargePoint.objects.filter(pk=charge_point_id).exclude(local_list_version=list_version).update(
        local_list_version=list_version, local_list_synced_at=None
    )


def request_id_allocate() -> int:
    """A new id for a request 2.0.1 asks the CSMS to number (remoteStartId, requestId); never handed out twice.

    Drawn from the Command table's own id series and consumed, on both
    databases, even under concurrent callers (threads, or processes on one
    SQLite file): the station's later messages carry it back to name the
    request (TransactionEvent remoteStartId, FirmwareStatusNotification /
    NotifyReport requestId …). Sharing the series with command ids keeps ids
    issued earlier unique (they were command ids), and the Command row
    carrying the request gets a later id, normally the next. PostgreSQL:
    nextval() of the id sequence. SQLite: the table's counter in
    sqlite_sequence, which AUTOINCREMENT hands out ids above. Raises
    django.db.NotSupportedError on other databases.
    """
    table = Command._meta.db_table
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id'))", [table])
            return int(cursor.fetchone()[0])
    if connection.vendor == "sqlite":
        # Raising the counter consumes an id as nextval() does (SQLite gives the
        # next row max(counter, largest id) + 1). The UPDATE takes the database's
        # write lock (settings even take it at BEGIN), held until the commit, so
        # no other connection can raise the counter between it and the SELECT.
        with transaction.atomic(), connection.cursor() as cursor:
            # The row appears with the table's first insert: seed it if no Command was ever stored.
            cursor.execute(
                "INSERT INTO sqlite_sequence (name, seq) "
                f"SELECT %s, (SELECT COALESCE(MAX(id), 0) FROM {connection.ops.quote_name(table)}) "
                "WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = %s)",
                [table, table],
            )
            cursor.execute("UPDATE sqlite_sequence SET seq = seq + 1 WHERE name = %s", [table])
            cursor.execute("SELECT seq FROM sqlite_sequence WHERE name = %s", [table])
            return int(cursor.fetchone()[0])
    raise NotSupportedError(f"request ids need PostgreSQL or SQLite, not {connection.vendor}")


# --- Charge point credentials (chargepoints.security) --------------------------


@transaction.atomic
def charge_point_password_set(*, charge_point_id: str, password: str | None = None) -> str:
    """Give a charge point a Basic-auth password (security profiles 1 and 2) and return it, the one time it is seen.

    `password`: 16 to 40 printable ASCII characters (`security.password_check_shape`,
    ValueError otherwise); None generates one (40 hex characters, valid as a 1.6
    AuthorizationKey and a 2.0.1 BasicAuthPassword). Only its hash is stored;
    a rotation in progress is abandoned. This sets what the central system
    accepts: the charge point must be given the same password (by its
    installer, or by the change-password operation, which rotates safely).
    Raises UnknownChargePoint. Records a PasswordChanged security event.
    """
    if password is None:
        password = security.password_generate()
    security.password_check_shape(password)
    updated = ChargePoint.objects.filter(pk=charge_point_id).update(
        password_hash=security.password_hash(password),
        password_set_at=timezone.now(),
        pending_password_hash="",
    )
    if not updated:
        raise UnknownChargePoint(f"No charge point {charge_point_id!r} is registered")
    security_event_record(charge_point_id=charge_point_id, type=SecurityEvent.PASSWORD_CHANGED, tech_info="set by the operator")
    return password


def charge_point_password_pending(*, charge_point_id: str, password: str | None) -> None:
    """Keep `password` as the charge point's pending one during a rotation (the current one stays valid);
    None abandons the rotation. The charge point's next connection with it makes it the password.
    """
    ChargePoint.objects.filter(pk=charge_point_id).update(pending_password_hash=security.password_hash(password) if password else "")


# --- Security events ---------------------------------------------------------


def security_event_record(
    *,
    charge_point_id: str,
    type: str,
    source: str = SecurityEvent.Source.CSMS,
    tech_info: str = "",
    timestamp: datetime | None = None,
    source_address: str | None = None,
) -> SecurityEvent:
    """Store a security event of `charge_point_id` (registered or not: failed attempts name any identity).

    `type`: the spec's event name for station-reported events (2.0.1 A04,
    1.6 security extension), or one of SecurityEvent's CSMS types;
    `tech_info` is cut to 255 characters and must hold no secret;
    `timestamp` the event's time (now when None), `source_address` the
    client's IP address where the CSMS noticed it.
    """
    with transaction.atomic():
        event = SecurityEvent.objects.create(
            charge_point_id=charge_point_id[:48],
            type=type[:50],
            source=source,
            tech_info=tech_info[:255],
            timestamp=timestamp or timezone.now(),
            source_address=source_address or None,
        )
        # webhook: emitted with the change it describes (webhooks/).
        webhooks.event_emit(
            type="security_event",
            data={
                "charge_point_id": event.charge_point_id,
                "type": event.type,
                "source": event.source,
                "tech_info": event.tech_info,
                "timestamp": event.timestamp.isoformat(),
            },
        )
    return event


# --- Certificates (1.6 Security Whitepaper A02/A03, M03–M05; 2.0.1 A02/A03, M03–M05) -----------


def certificate_sign(*, charge_point_id: str, csr: str, kind: str = Certificate.Kind.CHARGE_POINT) -> Certificate:
    """Sign a charge point's CSR (`pki.sign_csr`) and keep the certificate as issued; returns the Certificate row.

    `csr`: PEM PKCS#10 text as SignCertificate carries it; `kind` a
    Certificate.Kind. The subject CN must be the charge point's identity or
    a serial number of its last boot that no other charge point claims
    (`selectors.certificate_names`). Raises UnknownChargePoint, or pki.NoCertificateAuthority /
    pki.CsrRejected after recording a CertificateSigningRejected security event
    that says why (nothing is signed then). V2G certificates are not ours to
    sign (the ISO 15118 PKI signs them): CsrRejected.
    """
    cp = ChargePoint.objects.filter(pk=charge_point_id).only("pk", "serial_number", "charge_box_serial_number").first()
    if cp is None:
        raise UnknownChargePoint(f"No charge point {charge_point_id!r} is registered")
    try:
        if kind != Certificate.Kind.CHARGE_POINT:
            raise pki.CsrRejected(f"{kind} requests are for the ISO 15118 PKI; this CA signs charge point certificates only")
        issued = pki.sign_csr(csr, allowed_names=selectors.certificate_names(cp))
    except pki.PkiError as error:
        security_event_record(charge_point_id=charge_point_id, type=SecurityEvent.CERTIFICATE_SIGNING_REJECTED, tech_info=str(error))
        raise
    leaf = issued.certificate
    return Certificate.objects.create(
        charge_point_id=charge_point_id,
        kind=kind,
        serial_number=pki.serial_hex(leaf),
        subject=pki.subject_text(leaf)[:255],
        issuer=leaf.issuer.rfc4514_string()[:255],
        not_before=leaf.not_valid_before_utc,
        not_after=leaf.not_valid_after_utc,
        fingerprint_sha256=pki.fingerprint(leaf),
        pem=issued.pem,
        chain_pem=issued.chain_pem,
    )


@transaction.atomic
def certificate_answered(*, charge_point_id: str, chain_pem: str, accepted: bool) -> Certificate | None:
    """Apply a CertificateSigned answer: the issued certificate (the chain's leaf) becomes installed or rejected.

    An installed one supersedes the charge point's earlier installed
    certificates of its kind. Returns the row; None when the chain's leaf is
    not one we issued to this charge point (a raw CertificateSigned of
    someone else's certificate).
    """
    try:
        leaf = pki.load_certificates(chain_pem)[0]
    except pki.PkiError:
        return None
    certificate = Certificate.objects.filter(charge_point_id=charge_point_id, fingerprint_sha256=pki.fingerprint(leaf)).first()
    if certificate is None:
        return None
    now = timezone.now()
    if accepted:
        Certificate.objects.filter(charge_point_id=charge_point_id, kind=certificate.kind, status=Certificate.Status.INSTALLED).exclude(
            pk=certificate.pk
        ).update(status=Certificate.Status.SUPERSEDED, status_at=now)
    certificate.status = Certificate.Status.INSTALLED if accepted else Certificate.Status.REJECTED
    certificate.status_at = now
    certificate.save(update_fields=["status", "status_at"])
    return certificate


def certificate_revoke(*, certificate_id: int) -> None:
    """Mark an issued certificate revoked (an operator withdrew it; the CA publishes no CRL: profile 3 checks are the TLS side's)."""
    Certificate.objects.filter(pk=certificate_id).update(status=Certificate.Status.REVOKED, status_at=timezone.now())


def certificate_renewal_requested(*, charge_point_id: str) -> None:
    """Remember that the charge point was just asked for a new CSR (its answer arrived), so it is not asked at every boot."""
    ChargePoint.objects.filter(pk=charge_point_id).update(certificate_renewal_requested_at=timezone.now())


def _hash_fields(hash_data: dict) -> dict:
    return {
        "hash_algorithm": hash_data["hashAlgorithm"],
        "issuer_name_hash": hash_data["issuerNameHash"].lower(),
        "issuer_key_hash": hash_data["issuerKeyHash"].lower(),
        "serial_number": hash_data["serialNumber"].lower().lstrip("0") or "0",
    }


@transaction.atomic
def installed_certificates_report(*, charge_point_id: str, certificate_types: list[str] | None, reported: list[dict]) -> int:
    """Store what GetInstalledCertificateIds answered: the installed certificates of the types asked about are exactly `reported`.

    `certificate_types`: the types the request named (None or empty: all
    types, so every stored row is replaced). `reported`: [{certificate_type,
    hash_data {hashAlgorithm, issuerNameHash, issuerKeyHash, serialNumber},
    children [hash_data …]}]. Returns how many are stored for those types.
    """
    stale = InstalledCertificate.objects.filter(charge_point_id=charge_point_id)
    if certificate_types:
        stale = stale.filter(certificate_type__in=certificate_types)
    subjects = {row.serial_number: row.subject for row in stale if row.subject}
    stale.delete()
    now = timezone.now()
    for entry in reported:
        fields = _hash_fields(entry["hash_data"])
        InstalledCertificate.objects.update_or_create(
            charge_point_id=charge_point_id,
            **fields,
            defaults={
                "certificate_type": entry["certificate_type"],
                "child_certificates": entry.get("children") or [],
                "subject": subjects.get(fields["serial_number"], ""),
                "reported_at": now,
            },
        )
    return len(reported)


def installed_certificate_add(*, charge_point_id: str, certificate_type: str, certificate_pem: str) -> InstalledCertificate | None:
    """An InstallCertificate the charge point Accepted: record the (root) certificate as installed. None when the PEM is unreadable."""
    try:
        certificate = pki.load_certificates(certificate_pem)[0]
    except pki.PkiError:
        return None
    row, _ = InstalledCertificate.objects.update_or_create(
        charge_point_id=charge_point_id,
        **_hash_fields(pki.hash_data(certificate)),
        defaults={"certificate_type": certificate_type, "subject": pki.subject_text(certificate)[:255], "reported_at": timezone.now()},
    )
    return row


def installed_certificate_delete(*, charge_point_id: str, hash_data: dict) -> int:
    """A DeleteCertificate the charge point Accepted: forget the certificate `hash_data` names. Returns rows deleted."""
    deleted, _ = InstalledCertificate.objects.filter(charge_point_id=charge_point_id, **_hash_fields(hash_data)).delete()
    return deleted
