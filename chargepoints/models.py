"""Who the charge points are and what they reported.

A `ChargePoint` is keyed by its OCPP identity (the last path segment of its
WebSocket URL, OCPP 1.6 "chargeBoxIdentity"), so every related row carries the
identity in its `charge_point_id` column and can be filtered without a join.
"""

import hashlib
import re
from datetime import timedelta

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone

# OCPP 2.0.1 Part 2 §1.2 identifierString: a-z A-Z 0-9 * - _ = : + | @ .
# Charge point identities are limited to 48 characters (OCPP 2.0.1 Part 4
# §3.1.1; the same bound is common practice for 1.6 chargeBoxIdentity).
IDENTITY_RE = re.compile(r"^[A-Za-z0-9*\-_=:+|@.]{1,48}$")
identity_validator = RegexValidator(
    IDENTITY_RE,
    "1 to 48 characters of a-z, A-Z, 0-9 and * - _ = : + | @ . (OCPP identifierString).",
)


class OcppVersion(models.TextChoices):
    V16 = "1.6", "OCPP 1.6"
    V201 = "2.0.1", "OCPP 2.0.1"


class RegistrationStatus(models.TextChoices):
    """What a BootNotification is answered (OCPP 1.6 §7.41, 2.0.1 RegistrationStatusEnumType)."""

    ACCEPTED = "Accepted"
    PENDING = "Pending"
    REJECTED = "Rejected"


class SecurityProfile(models.IntegerChoices):
    """How a charge point proves who it is (OCPP 1.6 Security Whitepaper §2; 2.0.1 Part 2 A00).

    NONE is no security profile: any connection naming a registered identity
    is served. Kept for labs; never for a charge point on a network.
    """

    NONE = 0, "None (unauthenticated, labs only)"
    BASIC = 1, "1: HTTP Basic auth"
    BASIC_TLS = 2, "2: HTTP Basic auth over TLS"
    CLIENT_CERTIFICATE = 3, "3: TLS client certificate"


class ServerProcess(models.Model):
    """A running server process's lease on the charge point connections it holds (docs/reliability.md, "Presence").

    Each process renews `renewed_at` every OCPP_PRESENCE_TTL / 3 seconds
    (`chargepoints.presence`). A lease not renewed for OCPP_PRESENCE_TTL
    seconds is a dead process: its charge points read offline at once
    (`ChargePoint.online`), and the next sweep of any process clears their
    `connected` flags and deletes the lease.
    """

    id = models.CharField(primary_key=True, max_length=32)
    hostname = models.CharField(max_length=255, blank=True)
    pid = models.PositiveIntegerField(null=True, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    renewed_at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self) -> str:
        return f"{self.hostname}:{self.pid} ({self.id[:8]})"

    @property
    def alive(self) -> bool:
        """Renewed within the last OCPP_PRESENCE_TTL seconds."""
        return timezone.now() - self.renewed_at <= timedelta(seconds=settings.OCPP_PRESENCE_TTL)


class ChargePoint(models.Model):
    """A charge point (OCPP 2.0.1: charging station) and its last known state.

    `connected` is written on WebSocket connect and disconnect; `session_id`
    identifies the connection that wrote it, so a socket that was taken over
    cannot mark the new one offline when it closes late.
    """

    id = models.CharField("identity", primary_key=True, max_length=48, validators=[identity_validator])
    description = models.CharField(max_length=200, blank=True)
    ocpp_version = models.CharField(max_length=8, choices=OcppVersion.choices, blank=True)
    registration_status = models.CharField(
        max_length=10,
        choices=RegistrationStatus.choices,
        default=RegistrationStatus.ACCEPTED,
        help_text="Answered to its BootNotification. A 2.0.1 station that is not Accepted may send nothing else.",
    )
    last_boot_status = models.CharField(max_length=10, blank=True, editable=False)

    # Security (profiles 1 and 2): only hashes of the Basic-auth password are
    # kept (`chargepoints.security`). During a rotation the new one is pending
    # until the charge point has accepted it and reconnected with it; until
    # then the current one stays valid.
    security_profile = models.PositiveSmallIntegerField(
        choices=SecurityProfile.choices,
        null=True,
        blank=True,
        help_text="Empty: the deployment's OCPP_SECURITY_PROFILE. A charge point is refused on a lower profile.",
    )
    # db_default: rows written by code that predates these columns (a rolling deploy) stay valid.
    password_hash = models.CharField(max_length=128, blank=True, editable=False, db_default="")
    password_set_at = models.DateTimeField(null=True, blank=True, editable=False)
    pending_password_hash = models.CharField(max_length=128, blank=True, editable=False, db_default="")

    vendor = models.CharField(max_length=50, blank=True)  # 2.0.1 vendorName: up to 50
    model = models.CharField(max_length=20, blank=True)
    serial_number = models.CharField("charge point serial number", max_length=25, blank=True)
    charge_box_serial_number = models.CharField(max_length=25, blank=True)
    firmware_version = models.CharField(max_length=50, blank=True)
    iccid = models.CharField("ICCID", max_length=20, blank=True)
    imsi = models.CharField("IMSI", max_length=20, blank=True)
    meter_type = models.CharField(max_length=25, blank=True)
    meter_serial_number = models.CharField(max_length=25, blank=True)

    connected = models.BooleanField(default=False, db_index=True)
    session_id = models.CharField(max_length=32, blank=True, editable=False)
    # The process whose lease vouches for `connected` (None: written before leases, or never connected).
    server_process = models.ForeignKey(
        ServerProcess, null=True, blank=True, editable=False, on_delete=models.SET_NULL, related_name="charge_points"
    )
    connected_at = models.DateTimeField(null=True, blank=True)
    disconnected_at = models.DateTimeField(null=True, blank=True)
    last_seen = models.DateTimeField(null=True, blank=True)
    last_heartbeat = models.DateTimeField(null=True, blank=True)
    last_boot_at = models.DateTimeField(null=True, blank=True)

    firmware_status = models.CharField(max_length=30, blank=True)
    firmware_status_at = models.DateTimeField(null=True, blank=True)
    diagnostics_status = models.CharField(max_length=30, blank=True)
    diagnostics_status_at = models.DateTimeField(null=True, blank=True)

    # Local authorization list (OCPP 1.6 §5.15/§5.5): the version the charge
    # point last accepted or reported, and when we last sent it the list.
    local_list_version = models.IntegerField(null=True, blank=True)
    local_list_synced_at = models.DateTimeField(null=True, blank=True)

    # When the CSMS last asked it for a new CSR because its certificate ends soon
    # (TriggerMessage / ExtendedTriggerMessage, answered): not asked again before
    # OCPP_CERTIFICATE_RENEWAL_RETRY_HOURS, whatever it boots.
    certificate_renewal_requested_at = models.DateTimeField(null=True, blank=True, editable=False)

    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["id"]
        # Commanding a charge point (reset, start charging, change its password …) reaches the
        # hardware: a permission of its own, not implied by changing the row (chargepoints.permissions).
        permissions = [("send_command", "Can send commands to charge points")]

    def __str__(self):
        return self.id

    @property
    def effective_security_profile(self) -> int:
        """Its own security profile, else the deployment's OCPP_SECURITY_PROFILE (a SecurityProfile value)."""
        from django.conf import settings

        return self.security_profile if self.security_profile is not None else settings.OCPP_SECURITY_PROFILE

    @property
    def version(self) -> str:
        """The OCPP version it speaks: the last one it connected with, 1.6 before it ever connected."""
        return self.ocpp_version or OcppVersion.V16

    @staticmethod
    def group_name_for(charge_point_id: str) -> str:
        """Channels group of the connection holding `charge_point_id`'s socket.

        Group names allow only [A-Za-z0-9._-] under 100 characters while OCPP
        identities may hold *=:+|@ (DESIGN.md trap 3), so the name is derived
        from a hash of the identity rather than the identity itself.
        """
        digest = hashlib.sha256(charge_point_id.encode()).hexdigest()[:40]
        return f"ocpp.cp.{digest}"

    @property
    def group_name(self) -> str:
        return self.group_name_for(self.id)

    @property
    def online(self) -> bool:
        """True while a socket is open and the charge point was heard from recently.

        A process that dies cannot clear `connected`: the connection must
        belong to a process whose lease is alive (renewed within
        OCPP_PRESENCE_TTL seconds), and a frame must have come within two
        heartbeat intervals plus a minute (a socket silently gone). Reads
        `server_process`: select it with the charge point (selectors do).
        """
        if not self.connected or self.last_seen is None:
            return False
        if self.server_process_id is not None and (self.server_process is None or not self.server_process.alive):
            return False
        horizon = timedelta(seconds=2 * settings.OCPP_HEARTBEAT_INTERVAL + 60)
        return timezone.now() - self.last_seen <= horizon


class Connector(models.Model):
    """Current status of one connector of an EVSE; EVSE 0 is the charge point itself.

    One model for both versions (OCPP 2.0.1 Part 1 §3.3): a 2.0.1 station
    reports (evseId, connectorId); an OCPP 1.6 connector N is EVSE N with a
    single connector, stored as evse_id = connector_id = N (0 for the charge
    point as a whole, 1.6 §4.9).
    """

    charge_point = models.ForeignKey(ChargePoint, on_delete=models.CASCADE, related_name="connectors")
    evse_id = models.PositiveIntegerField("EVSE id", default=0)
    connector_id = models.PositiveIntegerField()
    status = models.CharField(max_length=20, blank=True)
    error_code = models.CharField(max_length=30, blank=True)
    info = models.CharField(max_length=50, blank=True)
    vendor_id = models.CharField(max_length=255, blank=True)
    vendor_error_code = models.CharField(max_length=50, blank=True)
    status_timestamp = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["charge_point_id", "evse_id", "connector_id"]
        constraints = [
            models.UniqueConstraint(fields=["charge_point", "evse_id", "connector_id"], name="connector_unique_per_charge_point")
        ]

    def __str__(self):
        if self.evse_id == self.connector_id:
            return f"{self.charge_point_id} #{self.connector_id}"
        return f"{self.charge_point_id} EVSE {self.evse_id} #{self.connector_id}"


class BootNotification(models.Model):
    """One BootNotification as received (OCPP 1.6 §4.2), kept for every boot."""

    charge_point = models.ForeignKey(ChargePoint, on_delete=models.CASCADE, related_name="boots")
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    vendor = models.CharField(max_length=50)  # 2.0.1 vendorName: up to 50
    model = models.CharField(max_length=20)
    serial_number = models.CharField("charge point serial number", max_length=25, blank=True)
    charge_box_serial_number = models.CharField(max_length=25, blank=True)
    firmware_version = models.CharField(max_length=50, blank=True)
    iccid = models.CharField("ICCID", max_length=20, blank=True)
    imsi = models.CharField("IMSI", max_length=20, blank=True)
    meter_type = models.CharField(max_length=25, blank=True)
    meter_serial_number = models.CharField(max_length=25, blank=True)
    status = models.CharField("answered status", max_length=10)
    reason = models.CharField("boot reason (2.0.1)", max_length=30, blank=True)

    class Meta:
        ordering = ["-received_at"]
        indexes = [models.Index(fields=["charge_point", "-received_at"])]

    def __str__(self):
        return f"{self.charge_point_id} boot at {self.received_at:%Y-%m-%d %H:%M:%S}"


class StatusNotification(models.Model):
    """One StatusNotification as received (OCPP 1.6 §4.9): the full status history."""

    charge_point = models.ForeignKey(ChargePoint, on_delete=models.CASCADE, related_name="status_notifications")
    evse_id = models.PositiveIntegerField("EVSE id", default=0)
    connector_id = models.PositiveIntegerField()
    status = models.CharField(max_length=20)
    error_code = models.CharField(max_length=30)
    info = models.CharField(max_length=50, blank=True)
    vendor_id = models.CharField(max_length=255, blank=True)
    vendor_error_code = models.CharField(max_length=50, blank=True)
    timestamp = models.DateTimeField("charge point timestamp", null=True, blank=True)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [models.Index(fields=["charge_point", "-received_at"])]

    def __str__(self):
        return f"{self.charge_point_id} #{self.connector_id} {self.status}"


class DataTransfer(models.Model):
    """A DataTransfer received from a charge point (OCPP 1.6 §4.3) and what we answered."""

    charge_point = models.ForeignKey(ChargePoint, on_delete=models.CASCADE, related_name="data_transfers")
    vendor_id = models.CharField(max_length=255)
    message_id = models.CharField(max_length=50, blank=True)
    data = models.TextField(blank=True)
    status = models.CharField("answered status", max_length=20)
    response_data = models.TextField(blank=True)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-received_at"]

    def __str__(self):
        return f"{self.charge_point_id} {self.vendor_id}/{self.message_id}"


class FirmwareManagementStatusNotification(models.Model):
    """A status a charge point reported on a firmware update or diagnostics upload (OCPP 1.6 Firmware Management).

    Both histories keep the same columns; each subclass names its own
    `charge_point` relation and the word `kind` its rows are shown with.
    """

    kind = ""  # "firmware" or "diagnostics", for __str__

    status = models.CharField(max_length=30)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    command = models.ForeignKey(
        "Command",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The request this notification reports on.",
    )

    class Meta:
        abstract = True
        ordering = ["-received_at", "-id"]

    def __str__(self):
        return f"{self.charge_point_id} {self.kind} {self.status}"


class FirmwareStatusNotification(FirmwareManagementStatusNotification):
    """History of FirmwareStatusNotification (OCPP 1.6 §4.5); the latest is on the charge point."""

    kind = "firmware"

    # Declared here, not on the base: the reverse names differ.
    charge_point = models.ForeignKey(ChargePoint, on_delete=models.CASCADE, related_name="firmware_statuses")

    class Meta(FirmwareManagementStatusNotification.Meta):
        pass


class DiagnosticsStatusNotification(FirmwareManagementStatusNotification):
    """History of DiagnosticsStatusNotification (OCPP 1.6 §4.4); the latest is on the charge point."""

    kind = "diagnostics"

    charge_point = models.ForeignKey(ChargePoint, on_delete=models.CASCADE, related_name="diagnostics_statuses")

    class Meta(FirmwareManagementStatusNotification.Meta):
        verbose_name_plural = "diagnostics status notifications"


class CommandSource(models.TextChoices):
    """Which door a command came through."""

    ADMIN = "admin", "Admin"
    API = "api", "REST API"
    CLI = "cli", "Command line"
    SYSTEM = "system", "System"


class CommandStatus(models.TextChoices):
    """Where a command is. Final states: every one but PENDING and SENT."""

    PENDING = "pending", "Pending"  # stored, not yet sent to the charge point
    SENT = "sent", "Sent"  # CALL sent, waiting for the answer
    ANSWERED = "answered", "Answered"  # CALLRESULT received (its payload says Accepted, Rejected …)
    CALL_ERROR = "call_error", "CALLERROR"  # the charge point answered with a CALLERROR
    TIMEOUT = "timeout", "Timed out"
    OFFLINE = "offline", "Charge point offline"
    FAILED = "failed", "Failed"  # queue full, disconnected mid-call, invalid answer


class Command(models.Model):
    """One central-system-initiated OCPP CALL and its outcome: the command log.

    `payload` is the CALL payload as sent (camelCase); `response` the
    CALLRESULT payload; a CALLERROR fills the error_* fields.
    """

    charge_point = models.ForeignKey(ChargePoint, on_delete=models.CASCADE, related_name="commands")
    action = models.CharField(max_length=40, db_index=True)
    ocpp_version = models.CharField(max_length=8, choices=OcppVersion.choices, default=OcppVersion.V16)
    payload = models.JSONField(default=dict, blank=True)
    unique_id = models.CharField("OCPP unique id", max_length=36, blank=True)
    source = models.CharField(max_length=8, choices=CommandSource.choices, default=CommandSource.SYSTEM)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="ocpp_commands")
    status = models.CharField(max_length=12, choices=CommandStatus.choices, default=CommandStatus.PENDING, db_index=True)
    response = models.JSONField(null=True, blank=True)
    error_code = models.CharField(max_length=40, blank=True)
    error_description = models.TextField(blank=True)
    error_details = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    round_trip_ms = models.PositiveIntegerField(null=True, blank=True, help_text="From CALL sent to answer received.")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["charge_point", "-created_at"])]

    def __str__(self):
        return f"{self.action} → {self.charge_point_id} ({self.status})"

    @property
    def response_status(self) -> str:
        """The `status` field of the answer (Accepted, Rejected …), or "" when there is none."""
        return (self.response or {}).get("status", "") if isinstance(self.response, dict) else ""


class ConfigurationKey(models.Model):
    """One configuration key as the charge point last reported or accepted it (OCPP 1.6 §9.1)."""

    charge_point = models.ForeignKey(ChargePoint, on_delete=models.CASCADE, related_name="configuration")
    key = models.CharField(max_length=50)
    value = models.CharField(max_length=500, null=True, blank=True)
    readonly = models.BooleanField(default=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["charge_point_id", "key"]
        constraints = [models.UniqueConstraint(fields=["charge_point", "key"], name="configuration_key_unique")]

    def __str__(self):
        return f"{self.key}={self.value}"


class ChargingProfile(models.Model):
    """An OCPP 1.6 ChargingProfile (§7.8) as sent with SetChargingProfile to one charge point.

    `charging_profile_id` is the chargingProfileId, unique per charge point
    (another charge point may hold a different profile with the same id).
    `schedule` is the ChargingSchedule (§7.13) as sent, camelCase:
    chargingRateUnit, chargingSchedulePeriod [{startPeriod s, limit A or W,
    numberPhases}], optional duration, startSchedule, minChargingRate.
    """

    charge_point = models.ForeignKey(ChargePoint, on_delete=models.CASCADE, related_name="+")
    charging_profile_id = models.PositiveIntegerField("charging profile id")
    purpose = models.CharField(max_length=40)  # 2.0.1 ChargingStationExternalConstraints: 34
    stack_level = models.PositiveIntegerField()
    kind = models.CharField(max_length=10)
    recurrency_kind = models.CharField(max_length=8, blank=True)
    valid_from = models.DateTimeField(null=True, blank=True)
    valid_to = models.DateTimeField(null=True, blank=True)
    # A TxProfile's transaction; NULL for other purposes, or once the transaction is deleted.
    transaction = models.ForeignKey("transactions.Transaction", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    schedule = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["charge_point_id", "charging_profile_id"]
        constraints = [models.UniqueConstraint(fields=["charge_point", "charging_profile_id"], name="charging_profile_id_unique")]

    def __str__(self):
        return f"Profile {self.charging_profile_id} ({self.purpose}, level {self.stack_level})"


class ChargingProfileInstallation(models.Model):
    """Where a charging profile is installed: an EVSE of a charge point (0 = the whole charge point).

    `evse_id` is the 2.0.1 evseId; a 1.6 connectorId N is EVSE N (one connector per EVSE in 1.6).
    """

    charge_point = models.ForeignKey(ChargePoint, on_delete=models.CASCADE, related_name="charging_profiles")
    evse_id = models.PositiveIntegerField("EVSE id")
    profile = models.ForeignKey(ChargingProfile, on_delete=models.CASCADE, related_name="installations")
    installed_at = models.DateTimeField(default=timezone.now)
    cleared_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["charge_point_id", "evse_id", "-installed_at"]
        indexes = [models.Index(fields=["charge_point", "cleared_at"])]

    def __str__(self):
        return f"{self.profile_id} on {self.charge_point_id} EVSE {self.evse_id}"

    @property
    def active(self) -> bool:
        return self.cleared_at is None


class StationMessage(models.Model):
    """A station-initiated message kept as sent, for messages without a table of their own.

    OCPP 2.0.1 NotifyEvent, NotifyChargingLimit, NotifyEVChargingNeeds,
    SignCertificate …, and 1.6's SignCertificate (Security Whitepaper):
    `payload` is the request, camelCase, exactly as received.
    """

    charge_point = models.ForeignKey(ChargePoint, on_delete=models.CASCADE, related_name="messages")
    action = models.CharField(max_length=50, db_index=True)
    payload = models.JSONField()
    received_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [models.Index(fields=["charge_point", "action", "-received_at"])]

    def __str__(self):
        return f"{self.action} from {self.charge_point_id}"


class Variable(models.Model):
    """One attribute of one variable of the OCPP 2.0.1 device model (Part 1 §4), per station.

    Identified by component (name, instance, EVSE, connector), variable (name,
    instance) and attribute type (Actual, Target, MinSet, MaxSet); 0 and ""
    stand for "none". Filled by NotifyReport and GetVariables, changed by
    SetVariables.
    """

    charge_point = models.ForeignKey(ChargePoint, on_delete=models.CASCADE, related_name="variables")
    component = models.CharField(max_length=50)
    component_instance = models.CharField(max_length=50, blank=True)
    evse_id = models.PositiveIntegerField("EVSE id", default=0)
    connector_id = models.PositiveIntegerField(default=0)
    variable = models.CharField(max_length=50)
    variable_instance = models.CharField(max_length=50, blank=True)
    attribute_type = models.CharField(max_length=8, default="Actual")
    value = models.CharField(max_length=2500, null=True, blank=True)
    mutability = models.CharField(max_length=10, blank=True)
    persistent = models.BooleanField(null=True, blank=True)
    constant = models.BooleanField(null=True, blank=True)
    unit = models.CharField(max_length=16, blank=True)
    data_type = models.CharField(max_length=20, blank=True)
    min_limit = models.FloatField(null=True, blank=True)
    max_limit = models.FloatField(null=True, blank=True)
    values_list = models.CharField(max_length=1000, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["charge_point_id", "component", "component_instance", "evse_id", "connector_id", "variable"]
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "charge_point",
                    "component",
                    "component_instance",
                    "evse_id",
                    "connector_id",
                    "variable",
                    "variable_instance",
                    "attribute_type",
                ],
                name="variable_unique_per_station",
            )
        ]

    def __str__(self):
        return f"{self.component_path}.{self.variable_path}"

    # What identifies a variable of a station, without the attribute type.
    IDENTITY_FIELDS = ("component", "component_instance", "evse_id", "connector_id", "variable", "variable_instance")

    @staticmethod
    def identity(component: dict, variable: dict) -> tuple:
        """(component, instance, EVSE id, connector id, variable, instance) of a 2.0.1 (ComponentType,
        VariableType), with 0 and "" for absent parts: the values of IDENTITY_FIELDS."""
        evse = component.get("evse") or {}
        return (
            component.get("name", ""),
            component.get("instance", ""),
            evse.get("id", 0),
            evse.get("connectorId", 0),
            variable.get("name", ""),
            variable.get("instance", ""),
        )

    @classmethod
    def lookup(cls, component: dict, variable: dict, attribute_type: str = "Actual") -> dict:
        """The identity fields of a 2.0.1 (ComponentType, VariableType, attribute type), for filter() or create()."""
        return {
            **dict(zip(cls.IDENTITY_FIELDS, cls.identity(component, variable), strict=True)),
            "attribute_type": attribute_type or "Actual",
        }

    @property
    def component_path(self) -> str:
        path = self.component + (f"[{self.component_instance}]" if self.component_instance else "")
        if self.evse_id:
            path += f"@EVSE{self.evse_id}" + (f"/{self.connector_id}" if self.connector_id else "")
        return path

    @property
    def variable_path(self) -> str:
        return self.variable + (f"[{self.variable_instance}]" if self.variable_instance else "")

    @property
    def writable(self) -> bool:
        return self.mutability in ("ReadWrite", "WriteOnly", "")

    def component_json(self) -> dict:
        """ComponentType as OCPP 2.0.1 sends it: name, optional instance and evse {id, connectorId}."""
        component = {"name": self.component}
        if self.component_instance:
            component["instance"] = self.component_instance
        if self.evse_id:
            component["evse"] = {"id": self.evse_id, **({"connectorId": self.connector_id} if self.connector_id else {})}
        return component

    def variable_json(self) -> dict:
        variable = {"name": self.variable}
        if self.variable_instance:
            variable["instance"] = self.variable_instance
        return variable


class SecurityEvent(models.Model):
    """A security event of a charge point: reported by it, or noticed by the CSMS.

    Station-reported: OCPP 2.0.1 SecurityEventNotification (A04) and the 1.6
    security extension's; `type` is the spec's event name (e.g.
    "FirmwareUpdated", "InvalidCentralSystemCertificate"). CSMS-noticed
    (`source` CSMS): failed authentication, a connection on a lower security
    profile than configured (downgrade), a session takeover, certificate
    problems. `tech_info` is free text, never a secret.
    """

    class Source(models.TextChoices):
        STATION = "station", "charge point"
        CSMS = "csms", "central system"

    # CSMS-noticed event types (the station-reported ones use the spec's names).
    AUTHENTICATION_FAILED = "AuthenticationFailed"
    SECURITY_PROFILE_DOWNGRADE = "SecurityProfileDowngrade"
    SESSION_TAKEOVER = "SessionTakeover"
    AUTHENTICATION_THROTTLED = "AuthenticationThrottled"
    SECURITY_PROFILE_CHANGED = "SecurityProfileChanged"
    PASSWORD_CHANGED = "PasswordChanged"
    # Security profile 3: a client certificate that does not chain to the charge point CA,
    # is out of its validity period, or names another charge point.
    INVALID_CLIENT_CERTIFICATE = "InvalidClientCertificate"
    CERTIFICATE_SIGNING_REJECTED = "CertificateSigningRejected"

    # No foreign key: failed attempts name identities that may not be registered.
    charge_point_id = models.CharField("charge point", max_length=48, db_index=True)
    type = models.CharField(max_length=50, db_index=True)
    source = models.CharField(max_length=8, choices=Source.choices)
    tech_info = models.CharField("technical info", max_length=255, blank=True)
    source_address = models.GenericIPAddressField(null=True, blank=True)
    timestamp = models.DateTimeField("event time", default=timezone.now)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [models.Index(fields=["charge_point_id", "-received_at"])]

    def __str__(self):
        return f"{self.charge_point_id}: {self.type}"


class Certificate(models.Model):
    """A certificate this CSMS's CA issued to a charge point (SignCertificate → CertificateSigned).

    1.6 Security Whitepaper A02/A03 and 2.0.1 A02/A03. `status`: issued (signed,
    CertificateSigned not answered yet), installed (answered Accepted),
    rejected (answered Rejected), superseded (a newer certificate of the same
    kind was installed), revoked (withdrawn by an operator). `serial_number`
    is hex as OCPP writes it; `fingerprint_sha256` 64 hex characters of the DER.
    """

    class Kind(models.TextChoices):
        CHARGE_POINT = "ChargePointCertificate", "charge point certificate"
        V2G = "V2GCertificate", "V2G certificate"

    class Status(models.TextChoices):
        ISSUED = "issued"
        INSTALLED = "installed"
        REJECTED = "rejected"
        SUPERSEDED = "superseded"
        REVOKED = "revoked"

    charge_point = models.ForeignKey(ChargePoint, on_delete=models.CASCADE, related_name="certificates")
    kind = models.CharField(max_length=24, choices=Kind.choices, default=Kind.CHARGE_POINT)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ISSUED, db_index=True)
    serial_number = models.CharField(max_length=40)
    subject = models.CharField(max_length=255)
    issuer = models.CharField(max_length=255)
    not_before = models.DateTimeField()
    not_after = models.DateTimeField(db_index=True)
    fingerprint_sha256 = models.CharField("SHA-256 fingerprint", max_length=64, unique=True)
    pem = models.TextField("certificate (PEM)")
    chain_pem = models.TextField("chain sent (PEM)", help_text="The leaf and the intermediates, as sent in CertificateSigned.")
    issued_at = models.DateTimeField(default=timezone.now)
    status_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["charge_point_id", "-issued_at", "-id"]
        indexes = [models.Index(fields=["charge_point", "kind", "-not_after"])]

    def __str__(self):
        return f"{self.subject} ({self.serial_number})"

    @property
    def renewal_due(self) -> bool:
        """Whether it ends within OCPP_CERTIFICATE_RENEWAL_DAYS (or has ended)."""
        return self.not_after <= timezone.now() + timedelta(days=settings.OCPP_CERTIFICATE_RENEWAL_DAYS)


class InstalledCertificate(models.Model):
    """A certificate a charge point reports installed (GetInstalledCertificateIds), or installed on our request.

    Identified as OCPP does, by CertificateHashDataType (hash algorithm,
    issuer name hash, issuer key hash, serial number; hex). `certificate_type`
    is the version's word (1.6 CentralSystemRootCertificate, 2.0.1
    CSMSRootCertificate, V2GCertificateChain …); `child_certificates` the 2.0.1
    childCertificateHashData as reported. Kept current by the answers to
    GetInstalledCertificateIds, InstallCertificate and DeleteCertificate.
    """

    charge_point = models.ForeignKey(ChargePoint, on_delete=models.CASCADE, related_name="installed_certificates")
    certificate_type = models.CharField(max_length=40)
    hash_algorithm = models.CharField(max_length=8)
    issuer_name_hash = models.CharField(max_length=128)
    issuer_key_hash = models.CharField(max_length=128)
    serial_number = models.CharField(max_length=40)
    child_certificates = models.JSONField(default=list, blank=True)
    subject = models.CharField(max_length=255, blank=True, help_text="Known when it was installed through this CSMS.")
    reported_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["charge_point_id", "certificate_type", "serial_number"]
        constraints = [
            models.UniqueConstraint(
                fields=["charge_point", "hash_algorithm", "issuer_name_hash", "issuer_key_hash", "serial_number"],
                name="installed_certificate_unique_per_station",
            )
        ]

    def __str__(self):
        return f"{self.certificate_type} {self.serial_number} on {self.charge_point_id}"

    def hash_data(self) -> dict:
        """CertificateHashDataType as OCPP sends it (camelCase)."""
        return {
            "hashAlgorithm": self.hash_algorithm,
            "issuerNameHash": self.issuer_name_hash,
            "issuerKeyHash": self.issuer_key_hash,
            "serialNumber": self.serial_number,
        }
