"""One form per OCPP 1.6 central system operation (§5), as operators fill them in the admin.

Each form knows its charge point (pickers offer its connectors, transactions
and reservations), turns its cleaned data into the spec's camelCase payload
with optional fields left out (never sent as null), and sends it through
`commands.call` (or `operations`, where the payload comes from our tables)
with source "admin" and the operator as the command's user. Schema checks stay
in `commands`: a payload it refuses comes back as `commands.InvalidPayload`.
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import ClassVar

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Max
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.timezone import localtime
from ocpp.v16.enums import (
    AvailabilityType,
    ChargingProfileKindType,
    ChargingProfilePurposeType,
    ChargingRateUnitType,
    MessageTrigger,
    RecurrencyKind,
    ResetType,
    UpdateType,
)

from transactions.models import IdTag, Reservation, ReservationStatus, Transaction

from .. import commands, operations
from ..models import ChargePoint, ChargingProfile, ChargingProfileInstallation, CommandSource, ConfigurationKey
from ..ocpp.datetimes import format_datetime

# Datalists are suggestions: past this many rows typing the value is faster
# than scrolling, and the page stays light for large fleets of id tags.
MAX_SUGGESTIONS = 500

# LogStatusNotification and SignChargePointCertificate belong to the Security
# extension's ExtendedTriggerMessage; the 1.6 TriggerMessage schema refuses them.
TRIGGERABLE = [
    m.value
    for m in MessageTrigger
    if m not in (MessageTrigger.log_status_notification, MessageTrigger.sign_charge_point_certificate)
]


def enum_choices(values, *, blank: bool = False) -> list[tuple[str, str]]:
    """Form choices from an `ocpp.v16.enums` enum (or any iterable of str values); `blank` adds "—" first."""
    choices = [(str(getattr(v, "value", v)), str(getattr(v, "value", v))) for v in values]
    return [("", "—")] + choices if blank else choices


def compact(**fields) -> dict:
    """`fields` without the unset ones (None, "" or []); 0 and False are values and stay."""
    return {k: v for k, v in fields.items() if v is not None and v != "" and v != []}


def ocpp_datetime(value) -> str | None:
    return None if value is None else format_datetime(value)


class DatalistInput(forms.TextInput):
    """A text input suggesting `options` ((value, label) pairs) through a <datalist>; any text is accepted."""

    def __init__(self, options=(), attrs=None):
        super().__init__(attrs)
        self.options = list(options)

    def render(self, name, value, attrs=None, renderer=None):
        attrs = dict(attrs or {})
        list_id = f"{attrs.get('id') or 'id_' + name}_options"
        attrs["list"] = list_id
        attrs.setdefault("autocomplete", "off")
        field = super().render(name, value, attrs, renderer)
        options = format_html_join("", '<option value="{}">{}</option>', self.options)
        return format_html('{}<datalist id="{}">{}</datalist>', field, list_id, options)


class DateTimeLocalInput(forms.DateTimeInput):
    """The browser's own date and time picker; Django reads its "YYYY-MM-DDTHH:MM" as ISO 8601."""

    input_type = "datetime-local"

    def __init__(self, attrs=None):
        super().__init__(attrs, format="%Y-%m-%dT%H:%M")


def datetime_field(label: str, *, required: bool = False, help_text: str = "") -> forms.DateTimeField:
    zone = timezone.get_current_timezone_name()
    return forms.DateTimeField(
        label=label,
        required=required,
        widget=DateTimeLocalInput(),
        help_text=" ".join(filter(None, [help_text, f"In {zone}; sent as UTC."])),
    )


def connector_field(
    charge_point: ChargePoint, *, required: bool = True, whole: bool = True, label: str = "connector", help_text=""
) -> forms.Field:
    """Pick one of the charge point's known connectors; free entry while it has reported none.

    `whole` offers connector 0, the charge point itself (OCPP 1.6 §4.9). The
    cleaned value is an int, or None when left empty.
    """
    known = {c.connector_id: c for c in charge_point.connectors.all()}
    if not any(cid > 0 for cid in known):
        return forms.IntegerField(
            label=label,
            required=required,
            min_value=0 if whole else 1,
            help_text=help_text or ("0 is the whole charge point." if whole else ""),
        )
    choices = [("", "—")] if not required else []
    if whole:
        state = f" ({known[0].status})" if 0 in known and known[0].status else ""
        choices.append(("0", f"0 — whole charge point{state}"))
    choices += [(str(cid), f"{cid} — {c.status or 'status unknown'}") for cid, c in sorted(known.items()) if cid > 0]
    return forms.TypedChoiceField(
        label=label, choices=choices, coerce=int, empty_value=None, required=required, help_text=help_text
    )


def id_tag_field(
    label: str = "id tag", *, required: bool = True, help_text: str = "", max_length: int = 20
) -> forms.CharField:
    """An id tag (1.6 CiString20; 2.0.1 idToken: `max_length` 36), suggesting the id tags table's rows with their status."""
    tags = IdTag.objects.order_by("id_tag").values_list("id_tag", "status")[:MAX_SUGGESTIONS]
    return forms.CharField(
        label=label,
        max_length=max_length,
        required=required,
        widget=DatalistInput(options=tags),
        help_text=help_text or f"Pick a known id tag or type any (at most {max_length} characters).",
    )


def choice_or_integer(label: str, choices: list[tuple[str, str]], *, required: bool = True, help_text: str = ""):
    """Pick from `choices` (int values) when there are any, else type the number."""
    if not choices:
        return forms.IntegerField(label=label, required=required, min_value=0, help_text=help_text)
    if not required:
        choices = [("", "—")] + choices
    return forms.TypedChoiceField(
        label=label, choices=choices, coerce=int, empty_value=None, required=required, help_text=help_text
    )


def parse_periods(text: str) -> list[dict]:
    """ChargingSchedulePeriods (OCPP 1.6 §7.14) from "startPeriod:limit[:numberPhases]" lines or a JSON list.

    startPeriod in seconds from the schedule start, strictly increasing;
    limit in the schedule's unit (A or W) with at most one decimal (the
    schema's multipleOf 0.1); numberPhases 1 to 3. Raises ValidationError.
    """
    text = text.strip()
    if text.startswith("["):
        try:
            raw = json.loads(text, parse_float=Decimal)
        except ValueError as error:
            raise ValidationError(f"Not valid JSON: {error}") from None
        if not all(isinstance(p, dict) for p in raw):
            raise ValidationError("The JSON must be a list of objects with startPeriod, limit and numberPhases.")
        rows = [(p.get("startPeriod"), p.get("limit"), p.get("numberPhases")) for p in raw]
    else:
        rows = []
        for number, line in enumerate(filter(None, map(str.strip, text.splitlines())), start=1):
            parts = [part.strip() for part in line.split(":")]
            if len(parts) not in (2, 3):
                raise ValidationError(
                    f"Line {number} ({line!r}): write startPeriod:limit or startPeriod:limit:numberPhases."
                )
            rows.append((parts[0], parts[1], parts[2] if len(parts) == 3 else None))
    if not rows:
        raise ValidationError("Give at least one period.")

    periods, previous = [], None
    for number, (start, limit, phases) in enumerate(rows, start=1):
        try:
            start = int(str(start))
            limit = Decimal(str(limit))
            phases = None if phases in (None, "") else int(str(phases))
            # quantize raises InvalidOperation for numbers too large to be a limit at all.
            tenths = limit.is_finite() and limit == limit.quantize(Decimal("0.1"))
        except (ValueError, InvalidOperation):
            raise ValidationError(
                f"Period {number}: startPeriod and numberPhases are whole numbers, limit a number."
            ) from None
        if start < 0 or (previous is not None and start <= previous):
            raise ValidationError(f"Period {number}: startPeriod must be 0 or more and later than the period before.")
        if not tenths or limit < 0:
            raise ValidationError(f"Period {number}: limit must be 0 or more with at most one decimal.")
        if phases is not None and not 1 <= phases <= 3:
            raise ValidationError(f"Period {number}: numberPhases is 1, 2 or 3.")
        periods.append(compact(startPeriod=start, limit=float(limit), numberPhases=phases))
        previous = start
    return periods


class CommandForm(forms.Form):
    """Base of the command forms: the charge point, the payload and how to send it.

    Subclasses set `action`, `section` (where the spec defines the operation)
    and `description`, declare their fields and build `payload()`.
    """

    action: ClassVar[str] = ""
    section: ClassVar[str] = ""
    description: ClassVar[str] = ""
    fieldsets: ClassVar[list | None] = None

    def __init__(self, *args, charge_point: ChargePoint, **kwargs):
        super().__init__(*args, **kwargs)
        self.charge_point = charge_point

    def get_fieldsets(self) -> list:
        """Admin fieldsets for the page: the declared ones, or every field in one box."""
        return self.fieldsets or [(None, {"fields": list(self.fields)})]

    @property
    def title(self) -> str:
        """What the page is called: the OCPP action here, the operation's name on neutral forms."""
        return self.action

    @property
    def reference(self) -> str:
        """Where the spec defines what the form sends."""
        return f"OCPP 1.6 {self.section}"

    @property
    def submit_label(self) -> str:
        return f"Send {self.action} to {self.charge_point}"

    def payload(self) -> dict:
        """The CALL payload in the spec's camelCase, optional fields left out. Call after is_valid()."""
        return {}

    def send(self, *, user) -> commands.CommandResult:
        """Send the CALL as `user` from the admin; raises what `commands.call` raises."""
        return commands.call(self.charge_point.pk, self.action, self.payload(), source=CommandSource.ADMIN, user=user)


class ChangeAvailabilityForm(CommandForm):
    action = "ChangeAvailability"
    section = "§5.2"
    description = "Make a connector, or the whole charge point (connector 0), operative or inoperative."

    type = forms.ChoiceField(choices=enum_choices(AvailabilityType), initial=AvailabilityType.operative.value)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["connector"] = connector_field(self.charge_point)
        self.order_fields(["connector", "type"])

    def payload(self):
        return {"connectorId": self.cleaned_data["connector"], "type": self.cleaned_data["type"]}


class ChangeConfigurationForm(CommandForm):
    action = "ChangeConfiguration"
    section = "§5.3"
    description = "Set one configuration key. An accepted value is stored as the key's value here."

    value = forms.CharField(
        max_length=500,
        required=False,
        strip=False,
        widget=forms.TextInput(attrs={"size": 60}),
        help_text="Sent exactly as typed; may be empty.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        keys = ConfigurationKey.objects.filter(charge_point=self.charge_point).order_by("key")
        self.readonly_keys = {k.key for k in keys if k.readonly}
        self.fields["key"] = forms.CharField(
            max_length=50,
            widget=DatalistInput(options=[(k.key, k.value or "") for k in keys if not k.readonly]),
            help_text="Pick a key the charge point reported (GetConfiguration) or type any.",
        )
        self.order_fields(["key", "value"])

    def clean_key(self):
        key = self.cleaned_data["key"].strip()
        if key in self.readonly_keys:
            raise ValidationError(f"{key} is read-only on this charge point.")
        return key

    def payload(self):
        return {"key": self.cleaned_data["key"], "value": self.cleaned_data["value"]}


class ClearCacheForm(CommandForm):
    action = "ClearCache"
    section = "§5.4"
    description = "Clear the charge point's Authorization Cache."


class DataTransferForm(CommandForm):
    action = "DataTransfer"
    section = "§5.6"
    description = "Send a vendor-specific message; its meaning is agreed with the vendor."

    vendor_id = forms.CharField(label="vendor id", max_length=255)
    message_id = forms.CharField(label="message id", max_length=50, required=False)
    data = forms.CharField(required=False, strip=False, widget=forms.Textarea(attrs={"rows": 4, "cols": 60}),
                           help_text="Sent as a string, exactly as typed.")

    def payload(self):
        d = self.cleaned_data
        return compact(vendorId=d["vendor_id"], messageId=d["message_id"], data=d["data"])


class GetConfigurationForm(CommandForm):
    action = "GetConfiguration"
    section = "§5.8"
    description = "Read configuration keys; asking for all keys refreshes the whole snapshot stored here."

    keys = forms.CharField(
        required=False,
        widget=forms.TextInput(attrs={"size": 60}),
        help_text="Comma separated, e.g. HeartbeatInterval, MeterValueSampleInterval. Empty asks for all keys.",
    )

    def clean_keys(self):
        keys = [k.strip() for k in self.cleaned_data["keys"].split(",") if k.strip()]
        too_long = [k for k in keys if len(k) > 50]
        if too_long:
            raise ValidationError(f"Keys are at most 50 characters: {', '.join(too_long)}")
        return list(dict.fromkeys(keys))

    def payload(self):
        return compact(key=self.cleaned_data["keys"])


class RemoteStartTransactionForm(CommandForm):
    action = "RemoteStartTransaction"
    section = "§5.11"
    description = "Ask the charge point to start a transaction for an id tag."

    charging_profile = forms.JSONField(
        label="charging profile",
        required=False,
        widget=forms.Textarea(attrs={"rows": 8, "cols": 60}),
        help_text='Optional ChargingProfile (§7.8) as JSON, camelCase; its purpose must be TxProfile, e.g. '
        '{"chargingProfileId": 1, "stackLevel": 0, "chargingProfilePurpose": "TxProfile", '
        '"chargingProfileKind": "Relative", "chargingSchedule": {"chargingRateUnit": "A", '
        '"chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16}]}}',
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["id_tag"] = id_tag_field()
        self.fields["connector"] = connector_field(
            self.charge_point, required=False, whole=False, help_text="Empty lets the charge point choose."
        )
        self.order_fields(["id_tag", "connector", "charging_profile"])

    def clean_charging_profile(self):
        profile = self.cleaned_data["charging_profile"]
        if profile in (None, "", {}):
            return None
        if not isinstance(profile, dict):
            raise ValidationError("A charging profile is a JSON object.")
        if profile.get("chargingProfilePurpose") != ChargingProfilePurposeType.tx_profile.value:
            raise ValidationError(
                "The purpose of a RemoteStartTransaction charging profile must be TxProfile (§5.11)."
            )
        return profile

    def payload(self):
        d = self.cleaned_data
        return compact(connectorId=d["connector"], idTag=d["id_tag"], chargingProfile=d["charging_profile"])


class RemoteStopTransactionForm(CommandForm):
    action = "RemoteStopTransaction"
    section = "§5.12"
    description = "Ask the charge point to stop a transaction; its StopTransaction (reason Remote) closes it."

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        active = Transaction.objects.active().filter(charge_point=self.charge_point).order_by("-id")
        choices = [
            (
                str(tx.pk),
                f"{tx.pk} — connector {tx.connector_id}, {tx.id_tag or 'no id tag'}"
                + (f", since {localtime(tx.start_timestamp):%Y-%m-%d %H:%M}" if tx.start_timestamp else ""),
            )
            for tx in active
        ]
        self.fields["transaction"] = choice_or_integer(
            "transaction", choices, help_text="" if choices else "No active transaction is known: type its id."
        )

    def payload(self):
        return {"transactionId": self.cleaned_data["transaction"]}


class ResetForm(CommandForm):
    action = "Reset"
    section = "§5.14"
    description = "Soft: stop transactions and restart the application. Hard: stop transactions and reboot."

    type = forms.ChoiceField(choices=enum_choices(ResetType), initial=ResetType.soft.value)

    def payload(self):
        return {"type": self.cleaned_data["type"]}


class UnlockConnectorForm(CommandForm):
    action = "UnlockConnector"
    section = "§5.18"
    description = "Unlock a connector's cable retention lock (a stuck cable); a transaction on it is stopped."

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["connector"] = connector_field(self.charge_point, whole=False)

    def payload(self):
        return {"connectorId": self.cleaned_data["connector"]}


def location_field(help_text: str) -> forms.CharField:
    return forms.CharField(
        max_length=512,
        widget=forms.TextInput(attrs={"size": 80}),
        validators=[_validate_uri],
        help_text=help_text,
    )


def _validate_uri(value: str) -> None:
    # The schema says format "uri"; charge points use ftp://, ftps://, http(s)://
    # and vendor schemes alike, so only the shape scheme://rest is checked.
    scheme, sep, rest = value.partition("://")
    if not sep or not scheme or not rest or not scheme.replace("+", "").replace("-", "").replace(".", "").isalnum():
        raise ValidationError("Give an absolute URI, e.g. ftp://user:password@host/path/.")


def retries_fields() -> dict:
    return {
        "retries": forms.IntegerField(
            required=False, min_value=0, help_text="How often to retry; empty: the charge point decides."
        ),
        "retry_interval": forms.IntegerField(
            label="retry interval", required=False, min_value=0, help_text="Seconds between retries."
        ),
    }


class GetDiagnosticsForm(CommandForm):
    action = "GetDiagnostics"
    section = "§5.9"
    description = (
        "Ask the charge point to upload a diagnostics file; progress arrives as DiagnosticsStatusNotification."
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["location"] = location_field("Where to upload the file (a directory URI).")
        self.fields.update(retries_fields())
        self.fields["start_time"] = datetime_field("start time", help_text="Oldest log entry to include.")
        self.fields["stop_time"] = datetime_field("stop time", help_text="Newest log entry to include.")

    def clean(self):
        cleaned = super().clean()
        start, stop = cleaned.get("start_time"), cleaned.get("stop_time")
        if start and stop and stop <= start:
            self.add_error("stop_time", "The stop time must be after the start time.")
        return cleaned

    def payload(self):
        d = self.cleaned_data
        return compact(
            location=d["location"],
            retries=d["retries"],
            retryInterval=d["retry_interval"],
            startTime=ocpp_datetime(d["start_time"]),
            stopTime=ocpp_datetime(d["stop_time"]),
        )


class UpdateFirmwareForm(CommandForm):
    action = "UpdateFirmware"
    section = "§5.19"
    description = (
        "Ask the charge point to download and install firmware; progress arrives as FirmwareStatusNotification."
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["location"] = location_field("Where to download the firmware from (a URI).")
        self.fields["retrieve_date"] = datetime_field(
            "retrieve date", required=True, help_text="Download from this time on."
        )
        self.fields["retrieve_date"].initial = lambda: localtime().replace(second=0, microsecond=0)
        self.fields.update(retries_fields())

    def payload(self):
        d = self.cleaned_data
        return compact(
            location=d["location"],
            retrieveDate=ocpp_datetime(d["retrieve_date"]),
            retries=d["retries"],
            retryInterval=d["retry_interval"],
        )


class GetLocalListVersionForm(CommandForm):
    action = "GetLocalListVersion"
    section = "§5.10"
    description = "Read the version of the charge point's Local Authorization List (-1: not supported, 0: empty)."


class SendLocalListForm(CommandForm):
    action = "SendLocalList"
    section = "§5.15"
    description = (
        "Send the id tags table as the Local Authorization List. Full replaces the whole list; Differential "
        "sends only the id tags changed since the last list the charge point accepted."
    )

    update_type = forms.ChoiceField(
        label="update type", choices=enum_choices(reversed(UpdateType)), initial=UpdateType.full.value
    )

    def send(self, *, user):
        return operations.operation_run(
            charge_point_id=self.charge_point.pk,
            name="send-local-list",
            arguments={"update_type": self.cleaned_data["update_type"]},
            source=CommandSource.ADMIN,
            user=user,
        )


class ReserveNowForm(CommandForm):
    action = "ReserveNow"
    section = "§5.13"
    description = "Reserve a connector (0: any connector, if the charge point supports it) for an id tag."

    reservation: Reservation | None = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["connector"] = connector_field(
            self.charge_point, help_text="0 reserves any connector (ReserveConnectorZeroSupported)."
        )
        self.fields["id_tag"] = id_tag_field()
        self.fields["expiry_date"] = datetime_field(
            "expiry date", required=True, help_text="The reservation ends then."
        )
        self.fields["parent_id_tag"] = id_tag_field("parent id tag", required=False, help_text="Optional.")

    def clean_expiry_date(self):
        expiry = self.cleaned_data["expiry_date"]
        if expiry <= timezone.now():
            raise ValidationError("The expiry date must be in the future.")
        return expiry

    def send(self, *, user):
        d = self.cleaned_data
        result = operations.operation_run(
            charge_point_id=self.charge_point.pk,
            name="reserve",
            arguments={
                "evse_id": d["connector"],
                "id_tag": d["id_tag"],
                "expiry": d["expiry_date"],
                "parent_id_tag": d["parent_id_tag"],
            },
            source=CommandSource.ADMIN,
            user=user,
        )
        self.reservation = Reservation.objects.filter(pk=result.extra.get("reservation_id")).first()
        return result


class CancelReservationForm(CommandForm):
    action = "CancelReservation"
    section = "§5.1"
    description = "Cancel a reservation the charge point accepted."

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        accepted = Reservation.objects.filter(charge_point=self.charge_point, status=ReservationStatus.ACCEPTED)
        choices = [
            (
                str(r.pk),
                f"{r.pk} — connector {r.connector_id}, {r.id_tag}, until {localtime(r.expiry_date):%Y-%m-%d %H:%M}",
            )
            for r in accepted.order_by("-id")
        ]
        self.fields["reservation"] = choice_or_integer(
            "reservation", choices, help_text="" if choices else "No accepted reservation is known: type its id."
        )

    def payload(self):
        return {"reservationId": self.cleaned_data["reservation"]}


class SetChargingProfileForm(CommandForm):
    action = "SetChargingProfile"
    section = "§5.16"
    description = "Install a charging profile on a connector (0: the whole charge point)."
    fieldsets = [
        (
            "Profile",
            {
                "fields": [
                    "connector",
                    "charging_profile_id",
                    "stack_level",
                    "purpose",
                    "kind",
                    "recurrency",
                    "valid_from",
                    "valid_to",
                    "transaction_id",
                ]
            },
        ),
        (
            "Schedule",
            {"fields": ["charging_rate_unit", "periods", "duration", "start_schedule", "min_charging_rate"]},
        ),
    ]

    charging_profile_id = forms.IntegerField(label="charging profile id", min_value=0)
    stack_level = forms.IntegerField(label="stack level", min_value=0, initial=0)
    purpose = forms.ChoiceField(choices=enum_choices(ChargingProfilePurposeType))
    kind = forms.ChoiceField(choices=enum_choices(ChargingProfileKindType))
    recurrency = forms.ChoiceField(
        choices=enum_choices(RecurrencyKind, blank=True), required=False, help_text="Only for Recurring profiles."
    )
    transaction_id = forms.IntegerField(
        label="transaction id",
        required=False,
        min_value=0,
        help_text="Only for TxProfile: the transaction it limits.",
    )
    charging_rate_unit = forms.ChoiceField(label="charging rate unit", choices=enum_choices(ChargingRateUnitType))
    periods = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 5, "cols": 40}),
        help_text='One period a line, "startPeriod:limit[:numberPhases]" (seconds from the schedule start, '
        'A or W), e.g. "0:16" then "3600:8:1"; or a JSON list of chargingSchedulePeriod objects.',
    )
    duration = forms.IntegerField(
        required=False, min_value=0, help_text="Seconds; empty: until the last period ends."
    )
    min_charging_rate = forms.DecimalField(
        label="min charging rate",
        required=False,
        min_value=0,
        decimal_places=1,
        help_text="In the charging rate unit, at most one decimal.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["connector"] = connector_field(self.charge_point)
        self.fields["valid_from"] = datetime_field("valid from")
        self.fields["valid_to"] = datetime_field("valid to")
        self.fields["start_schedule"] = datetime_field(
            "start schedule", help_text="Needed by Absolute and Recurring profiles."
        )
        last = ChargingProfile.objects.filter(charge_point=self.charge_point).aggregate(
            last=Max("charging_profile_id")
        )["last"]
        self.fields["charging_profile_id"].initial = (last or 0) + 1

    def clean_periods(self):
        return parse_periods(self.cleaned_data["periods"])

    def clean(self):
        cleaned = super().clean()
        connector, purpose, kind = cleaned.get("connector"), cleaned.get("purpose"), cleaned.get("kind")
        # Where each purpose may be installed and what only some kinds carry: OCPP 1.6 §3.13.1, §7.8.
        if purpose == ChargingProfilePurposeType.charge_point_max_profile and connector not in (None, 0):
            self.add_error("connector", "A ChargePointMaxProfile can only be set on connector 0.")
        if purpose == ChargingProfilePurposeType.tx_profile and connector == 0:
            self.add_error("connector", "A TxProfile applies to a connector's transaction: pick a connector above 0.")
        if cleaned.get("transaction_id") is not None and purpose != ChargingProfilePurposeType.tx_profile:
            self.add_error("transaction_id", "Only a TxProfile names a transaction.")
        if kind == ChargingProfileKindType.recurring and not cleaned.get("recurrency"):
            self.add_error("recurrency", "A Recurring profile needs Daily or Weekly.")
        if kind != ChargingProfileKindType.recurring and cleaned.get("recurrency"):
            self.add_error("recurrency", "Only Recurring profiles have a recurrency.")
        valid_from, valid_to = cleaned.get("valid_from"), cleaned.get("valid_to")
        if valid_from and valid_to and valid_to <= valid_from:
            self.add_error("valid_to", "Valid to must be after valid from.")
        return cleaned

    def payload(self):
        d = self.cleaned_data
        rate = d["min_charging_rate"]
        schedule = compact(
            duration=d["duration"],
            startSchedule=ocpp_datetime(d["start_schedule"]),
            chargingRateUnit=d["charging_rate_unit"],
            chargingSchedulePeriod=d["periods"],
            minChargingRate=None if rate is None else float(rate),
        )
        profile = compact(
            chargingProfileId=d["charging_profile_id"],
            transactionId=d["transaction_id"],
            stackLevel=d["stack_level"],
            chargingProfilePurpose=d["purpose"],
            chargingProfileKind=d["kind"],
            recurrencyKind=d["recurrency"],
            validFrom=ocpp_datetime(d["valid_from"]),
            validTo=ocpp_datetime(d["valid_to"]),
            chargingSchedule=schedule,
        )
        return {"connectorId": d["connector"], "csChargingProfiles": profile}


class ClearChargingProfileForm(CommandForm):
    action = "ClearChargingProfile"
    section = "§5.5"
    description = (
        "Clear one charging profile by its id, or every profile matching the criteria given. "
        "With nothing filled in, every profile on the charge point is cleared."
    )

    purpose = forms.ChoiceField(choices=enum_choices(ChargingProfilePurposeType, blank=True), required=False)
    stack_level = forms.IntegerField(label="stack level", required=False, min_value=0)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        installed = (
            ChargingProfileInstallation.objects.filter(charge_point=self.charge_point, cleared_at__isnull=True)
            .select_related("profile")
            .order_by("profile__charging_profile_id")
        )
        self.fields["profile_id"] = forms.IntegerField(
            label="charging profile id",
            required=False,
            min_value=0,
            widget=DatalistInput(
                options=[(i.profile.charging_profile_id, f"connector {i.connector_id}, {i.profile}") for i in installed]
            ),
            help_text="Clears this profile only; leave the criteria below empty.",
        )
        self.fields["connector"] = connector_field(self.charge_point, required=False)
        self.order_fields(["profile_id", "connector", "purpose", "stack_level"])

    def clean(self):
        cleaned = super().clean()
        criteria = [cleaned.get("connector"), cleaned.get("purpose") or None, cleaned.get("stack_level")]
        if cleaned.get("profile_id") is not None and any(c is not None for c in criteria):
            raise ValidationError(
                "Clear either by charging profile id or by connector, purpose and stack level, not both."
            )
        return cleaned

    def payload(self):
        d = self.cleaned_data
        return compact(
            id=d["profile_id"],
            connectorId=d["connector"],
            chargingProfilePurpose=d["purpose"],
            stackLevel=d["stack_level"],
        )


class GetCompositeScheduleForm(CommandForm):
    action = "GetCompositeSchedule"
    section = "§5.7"
    description = "Read the schedule a connector (0: the charge point's total) will follow, all profiles combined."

    duration = forms.IntegerField(min_value=1, initial=86400, help_text="Seconds from now.")
    charging_rate_unit = forms.ChoiceField(
        label="charging rate unit", choices=enum_choices(ChargingRateUnitType, blank=True), required=False
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["connector"] = connector_field(self.charge_point)
        self.order_fields(["connector", "duration", "charging_rate_unit"])

    def payload(self):
        d = self.cleaned_data
        return compact(connectorId=d["connector"], duration=d["duration"], chargingRateUnit=d["charging_rate_unit"])


class TriggerMessageForm(CommandForm):
    action = "TriggerMessage"
    section = "§5.17"
    description = "Ask the charge point to send one of its messages now."

    requested_message = forms.ChoiceField(label="requested message", choices=enum_choices(TRIGGERABLE))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["connector"] = connector_field(
            self.charge_point, required=False, help_text="Only for messages about one connector."
        )

    def payload(self):
        d = self.cleaned_data
        return compact(requestedMessage=d["requested_message"], connectorId=d["connector"])


FORMS: dict[str, type[CommandForm]] = {
    form.action: form
    for form in (
        ChangeAvailabilityForm,
        ChangeConfigurationForm,
        ClearCacheForm,
        DataTransferForm,
        GetConfigurationForm,
        RemoteStartTransactionForm,
        RemoteStopTransactionForm,
        ResetForm,
        UnlockConnectorForm,
        GetDiagnosticsForm,
        UpdateFirmwareForm,
        GetLocalListVersionForm,
        SendLocalListForm,
        ReserveNowForm,
        CancelReservationForm,
        SetChargingProfileForm,
        ClearChargingProfileForm,
        GetCompositeScheduleForm,
        TriggerMessageForm,
    )
}

# The charge point page's buttons, by OCPP 1.6 feature profile (§3).
PROFILES: list[tuple[str, list[str]]] = [
    (
        "Core",
        [
            "ChangeAvailability",
            "ChangeConfiguration",
            "ClearCache",
            "DataTransfer",
            "GetConfiguration",
            "RemoteStartTransaction",
            "RemoteStopTransaction",
            "Reset",
            "UnlockConnector",
        ],
    ),
    ("Firmware Management", ["GetDiagnostics", "UpdateFirmware"]),
    ("Local Auth List Management", ["GetLocalListVersion", "SendLocalList"]),
    ("Reservation", ["ReserveNow", "CancelReservation"]),
    ("Smart Charging", ["SetChargingProfile", "ClearChargingProfile", "GetCompositeSchedule"]),
    ("Remote Trigger", ["TriggerMessage"]),
]
