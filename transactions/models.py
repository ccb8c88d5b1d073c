"""Id tags, transactions and meter values (OCPP 1.6 §4.1, §4.7, §4.8, §4.10)."""

from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.db import models
from django.db.models import F, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from ocpp.v201.enums import IdTokenEnumType

from chargepoints.ocpp.datetimes import format_datetime


class AuthorizationStatus(models.TextChoices):
    """OCPP 1.6 AuthorizationStatus (§7.2)."""

    ACCEPTED = "Accepted"
    BLOCKED = "Blocked"
    EXPIRED = "Expired"
    INVALID = "Invalid"
    CONCURRENT_TX = "ConcurrentTx"


class IdTag(models.Model):
    """An identifier a driver presents (RFID card, app token): OCPP 1.6 IdToken / idTag.

    `status` is what the operator set; `effective_status()` also expires the
    tag once `expiry_date` has passed.
    """

    id_tag = models.CharField(
        max_length=36,
        unique=True,
        help_text="As the charge point sends it: OCPP 1.6 idTag (up to 20 characters) or 2.0.1 idToken (up to 36).",
    )
    type = models.CharField(
        max_length=20,
        blank=True,
        choices=[(t.value, t.value) for t in IdTokenEnumType],
        help_text="OCPP 2.0.1 IdTokenEnumType (ISO14443, eMAID, Central …); blank for 1.6 id tags.",
    )
    status = models.CharField(max_length=16, choices=AuthorizationStatus.choices, default=AuthorizationStatus.ACCEPTED)
    expiry_date = models.DateTimeField(null=True, blank=True)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children", verbose_name="parent id tag"
    )
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id_tag"]
        verbose_name = "id tag"

    def __str__(self):
        return self.id_tag

    def effective_status(self, now=None) -> str:
        """The AuthorizationStatus to answer now: Expired once expiry_date has passed."""
        now = now or timezone.now()
        if self.status == AuthorizationStatus.ACCEPTED and self.expiry_date and self.expiry_date <= now:
            return AuthorizationStatus.EXPIRED
        return self.status

    def id_tag_info(self, now=None) -> dict:
        """OCPP 1.6 IdTagInfo (§7.34) as a camelCase dict: status, expiryDate, parentIdTag."""
        info = {"status": self.effective_status(now)}
        if self.expiry_date:
            info["expiryDate"] = format_datetime(self.expiry_date)
        if self.parent_id:
            info["parentIdTag"] = self.parent.id_tag
        return info

    def id_token_info(self, now=None) -> dict:
        """OCPP 2.0.1 IdTokenInfoType (C01) as a camelCase dict: status, cacheExpiryDateTime, groupIdToken.

        The parent should be joined; a type-less tag (a 1.6 id tag) counts as Central.
        """
        info = {"status": self.effective_status(now)}
        if self.expiry_date:
            info["cacheExpiryDateTime"] = format_datetime(self.expiry_date)
        if self.parent_id:
            info["groupIdToken"] = {"idToken": self.parent.id_tag, "type": self.parent.type or "Central"}
        return info


class TransactionQuerySet(models.QuerySet):
    def active(self):
        """Transactions not stopped yet."""
        return self.filter(stop_timestamp__isnull=True, is_orphan=False)

    def completed(self):
        """Stopped transactions, orphans (stops for ids we never issued) included."""
        return self.filter(stop_timestamp__isnull=False)


class TransactionStatus(models.TextChoices):
    """Where a transaction is; an orphan is a StopTransaction for an id this system never issued."""

    ACTIVE = "active", "Active"
    COMPLETED = "completed", "Completed"
    ORPHAN = "orphan", "Orphan"


class StopSource(models.TextChoices):
    """Who ended a transaction: the charge point's own stop, the CSMS's policy, or an operator by hand."""

    CHARGE_POINT = "charge_point", "Charge point"
    POLICY = "policy", "CSMS policy"
    OPERATOR = "operator", "Operator"


class Transaction(models.Model):
    """A charging session. In OCPP 1.6 its primary key is the transactionId we allocate.

    A StopTransaction for a transaction id we never issued is kept too, as a
    row with `is_orphan` set and the charge point's id in `orphan_transaction_id`,
    so the meter data it carried is not lost.
    """

    charge_point = models.ForeignKey("chargepoints.ChargePoint", on_delete=models.PROTECT, related_name="transactions")
    # The station's own transaction id: OCPP 2.0.1 transactionId (a string it
    # chooses). Blank for 1.6, whose transactionId is our primary key.
    station_transaction_id = models.CharField("station transaction id", max_length=36, blank=True)
    evse_id = models.PositiveIntegerField("EVSE id", null=True, blank=True)
    connector_id = models.PositiveIntegerField(null=True, blank=True)
    id_tag = models.CharField(max_length=36, blank=True, db_index=True)
    id_tag_type = models.CharField(max_length=20, blank=True)
    id_tag_status = models.CharField("id tag status at start", max_length=16, blank=True)
    reservation_id = models.IntegerField(null=True, blank=True)
    start_timestamp = models.DateTimeField(null=True, blank=True, db_index=True)
    meter_start_wh = models.BigIntegerField(null=True, blank=True)

    stop_timestamp = models.DateTimeField(null=True, blank=True, db_index=True)
    meter_stop_wh = models.BigIntegerField(null=True, blank=True)
    stop_reason = models.CharField(max_length=20, blank=True)
    stop_id_tag = models.CharField(max_length=36, blank=True)
    # Who ended it. Blank while active. A transaction the CSMS or an operator
    # closed keeps taking the charge point's own stop when that arrives late
    # (queued offline): the source then becomes the charge point.
    stop_source = models.CharField(max_length=12, choices=StopSource.choices, blank=True)
    stopped_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The operator who closed it by hand.",
    )
    # OCPP 2.0.1 TransactionEvent state.
    charging_state = models.CharField(max_length=16, blank=True)
    remote_start_id = models.IntegerField(null=True, blank=True)
    last_seq_no = models.PositiveIntegerField(null=True, blank=True)

    # Latest Energy.Active.Import.Register reading seen during the session, so
    # list pages show live energy without reading meter values.
    last_meter_wh = models.BigIntegerField(null=True, blank=True)
    last_meter_at = models.DateTimeField(null=True, blank=True)

    remote_stop_requested_at = models.DateTimeField(
        null=True, blank=True, help_text="When the charge point accepted a RemoteStopTransaction for it."
    )

    is_orphan = models.BooleanField(default=False, help_text="Stopped with a transaction id this system never issued.")
    orphan_transaction_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = TransactionQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["charge_point", "-start_timestamp"]),
            models.Index(fields=["charge_point", "connector_id", "stop_timestamp"]),
        ]
        constraints = [
            # A StartTransaction retried after a lost reply must not open a second session.
            models.UniqueConstraint(
                fields=["charge_point", "connector_id", "id_tag", "start_timestamp", "meter_start_wh"],
                condition=models.Q(is_orphan=False, station_transaction_id=""),
                name="transaction_start_unique",
            ),
            models.UniqueConstraint(
                fields=["charge_point", "station_transaction_id"],
                condition=~models.Q(station_transaction_id=""),
                name="station_transaction_id_unique",
            ),
        ]

    def __str__(self):
        return f"Transaction {self.pk}"

    @property
    def ocpp_transaction_id(self) -> str:
        """The transactionId the charge point knows: its own (2.0.1) or ours (1.6)."""
        return self.station_transaction_id or str(self.pk)

    @property
    def is_active(self) -> bool:
        return self.stop_timestamp is None and not self.is_orphan

    @property
    def status(self) -> TransactionStatus:
        if self.is_orphan:
            return TransactionStatus.ORPHAN
        return TransactionStatus.ACTIVE if self.stop_timestamp is None else TransactionStatus.COMPLETED

    @property
    def energy_wh(self) -> int | None:
        """Energy delivered so far in Wh: meter stop (or latest register reading) minus meter start."""
        if self.meter_start_wh is None:
            return None
        end = self.meter_stop_wh if self.meter_stop_wh is not None else self.last_meter_wh
        if end is None:
            return 0 if self.stop_timestamp is None else None
        return end - self.meter_start_wh

    @property
    def energy_kwh(self) -> Decimal | None:
        wh = self.energy_wh
        return None if wh is None else (Decimal(wh) / 1000).quantize(Decimal("0.001"))

    @property
    def duration(self):
        if self.start_timestamp is None:
            return None
        end = self.stop_timestamp or timezone.now()
        return end - self.start_timestamp


class MeterValue(models.Model):
    """One sampled value (OCPP 1.6 §7.43 SampledValue) with the timestamp of its MeterValue.

    `value` is kept as sent (it may be signed data); `value_wh` is the reading
    normalised to Wh for Energy.*.Register measurands given in Wh or kWh.
    `evse_id` is where it was measured: the 2.0.1 evseId, or the 1.6
    connectorId (a 1.6 connector N is EVSE N); 0 is the charge point's main
    meter. One row per reading: see the unique constraint.
    """

    charge_point = models.ForeignKey("chargepoints.ChargePoint", on_delete=models.CASCADE, related_name="meter_values")
    transaction = models.ForeignKey(Transaction, null=True, blank=True, on_delete=models.CASCADE, related_name="meter_values")
    # The 2.0.1 evseId, or the 1.6 connectorId (a 1.6 connector N is EVSE N);
    # 0: the main meter of the whole charge point. 2.0.1 MeterValues name no
    # connector, so none is kept.
    evse_id = models.PositiveIntegerField("EVSE id")
    timestamp = models.DateTimeField()
    value = models.CharField(max_length=2500)
    measurand = models.CharField(max_length=40, default="Energy.Active.Import.Register")
    phase = models.CharField(max_length=8, blank=True)
    unit = models.CharField(max_length=12, default="Wh")
    context = models.CharField(max_length=24, default="Sample.Periodic")
    location = models.CharField(max_length=8, default="Outlet")
    format = models.CharField(max_length=12, default="Raw")
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-timestamp", "-id"]
        indexes = [
            models.Index(fields=["transaction", "timestamp"]),
            models.Index(fields=["-timestamp", "-id"]),
        ]
        constraints = [
            # A MeterValues resent after a lost CALLRESULT must not store its
            # sampled values twice: one row per reading, and the services insert
            # with ignore_conflicts. What tells readings apart (OCPP 1.6
            # §7.42-§7.43): the EVSE (connector), its MeterValue's timestamp, and the
            # sampled value's measurand, phase, location, context (a periodic and
            # a clock-aligned sample of one instant are two readings), unit and
            # format (signed data may sit beside the Raw value); and the
            # transaction the request named, so the copy of a reading in a
            # StopTransaction's transactionData matches the MeterValues one while
            # readings of different transactions never merge. Not `value`: a
            # differing value under an equal key is a contradictory resend and the
            # first stands (as for StopTransaction); it could not be indexed anyway
            # (up to 2500 characters). `transaction` is NULL for unlinked and 2.0.1
            # MeterValues values, and NULLs never collide in a unique index on
            # SQLite and PostgreSQL < 15: hence Coalesce. Led by (charge_point,
            # timestamp), the index also serves the charge point's latest values
            # and replaced the index on just those, so a MeterValues costs what it
            # did; looking stored readings up before each insert instead cost
            # 30-40 % more per request (DESIGN trap 4: one ORM thread per process).
            models.UniqueConstraint(
                F("charge_point"),
                F("timestamp").desc(),
                F("evse_id"),
                F("measurand"),
                F("phase"),
                F("location"),
                F("context"),
                F("unit"),
                F("format"),
                Coalesce(F("transaction"), Value(0), output_field=models.BigIntegerField()),
                name="meter_value_reading_unique",
            ),
        ]

    def __str__(self):
        return f"{self.measurand} {self.value} {self.unit}"

    @property
    def value_wh(self) -> int | None:
        """The reading in Wh for Raw energy measurands in Wh or kWh, else None."""
        return energy_register_wh(self.measurand, self.value, self.unit, self.format)


def energy_register_wh(measurand: str, value: str, unit: str, fmt: str = "Raw") -> int | None:
    """Normalise an Energy.Active.Import.Register reading to whole Wh.

    Returns None for other measurands, signed data, units other than Wh/kWh,
    and values that are not numbers.
    """
    if measurand != "Energy.Active.Import.Register" or fmt != "Raw":
        return None
    try:
        number = Decimal(value)
    except (InvalidOperation, ValueError):
        return None
    if not number.is_finite():
        return None
    if unit == "kWh":
        number *= 1000
    elif unit != "Wh":
        return None
    # Kept in bigint columns (last_meter_wh, meter_stop_wh): a reading beyond them is
    # no reading. Compared as a Decimal: int("1E999999999") would take minutes.
    if not -(2**63) < number < 2**63 - 1:
        return None
    return int(number.to_integral_value())


class ReservationStatus(models.TextChoices):
    """Where a reservation is: requested, the ReserveNow answer (§7.36), then how it ended."""

    REQUESTED = "Requested"
    ACCEPTED = "Accepted"
    FAULTED = "Faulted"
    OCCUPIED = "Occupied"
    REJECTED = "Rejected"
    UNAVAILABLE = "Unavailable"
    USED = "Used"
    CANCELLED = "Cancelled"
    EXPIRED = "Expired"


class Reservation(models.Model):
    """A ReserveNow (OCPP 1.6 §5.13); its primary key is the reservationId sent to the charge point.

    A StartTransaction carrying the reservation id consumes it (status Used).
    """

    charge_point = models.ForeignKey("chargepoints.ChargePoint", on_delete=models.CASCADE, related_name="reservations")
    # 2.0.1 evseId, or the 1.6 connectorId (connector N is EVSE N); 0: any EVSE of the charge point.
    evse_id = models.PositiveIntegerField("EVSE id")
    id_tag = models.CharField(max_length=36)
    parent_id_tag = models.CharField(max_length=36, blank=True)
    expiry_date = models.DateTimeField()
    status = models.CharField(max_length=12, choices=ReservationStatus.choices, default=ReservationStatus.REQUESTED)
    transaction = models.ForeignKey(Transaction, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self):
        return f"Reservation {self.pk} ({self.status})"

    @property
    def current_status(self) -> str:
        """The status, with an Accepted reservation past its expiry shown as Expired."""
        if self.status == ReservationStatus.ACCEPTED and self.expiry_date <= timezone.now():
            return ReservationStatus.EXPIRED
        return self.status


class TransactionEvent(models.Model):
    """One OCPP 2.0.1 TransactionEvent (E01–E15), kept once per (transaction, seqNo).

    A retry carries a new message id but the same seqNo: it is answered again
    and stored once.
    """

    transaction = models.ForeignKey(Transaction, on_delete=models.CASCADE, related_name="events")
    seq_no = models.PositiveIntegerField()
    event_type = models.CharField(max_length=8)
    trigger_reason = models.CharField(max_length=30)
    timestamp = models.DateTimeField()
    offline = models.BooleanField(default=False)
    charging_state = models.CharField(max_length=16, blank=True)
    stopped_reason = models.CharField(max_length=30, blank=True)
    id_token = models.CharField(max_length=36, blank=True)
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["transaction_id", "seq_no"]
        constraints = [models.UniqueConstraint(fields=["transaction", "seq_no"], name="transaction_event_seq_no_unique")]

    def __str__(self):
        return f"{self.event_type} #{self.seq_no} of transaction {self.transaction_id}"
