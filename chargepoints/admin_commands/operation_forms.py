"""Version-neutral operation forms, and the raw "Send any message" form.

An `OperationForm` asks for an operation's neutral arguments (EVSE, id tag,
soft or hard …) and sends them through the `chargepoints.operations` function
of the same name, which builds the message of the charge point's version. The
fields adapt to the version: a 2.0.1 station is asked for connectors within an
EVSE and for EVSE-level resets, a 1.6 charge point is not.

`RawMessageForm` sends any central-system message of the charge point's
version with a JSON payload typed by the operator, so messages of one version
only (ClearCache, DataTransfer, GetReport …) stay reachable from the admin.
"""

from __future__ import annotations

import json
from typing import ClassVar

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Max
from django.utils import timezone
from django.utils.timezone import localtime

from transactions.models import Reservation, ReservationStatus, Transaction

from .. import commands, ocpp, operations
from ..ocpp.v201.operations import parse_variable_key
from ..operations import inputs
from ..models import (
    ChargePoint,
    ChargingProfile,
    ChargingProfileInstallation,
    CommandSource,
    ConfigurationKey,
    Variable,
)
from .forms import (
    MAX_SUGGESTIONS,
    CommandForm,
    DatalistInput,
    choice_or_integer,
    compact,
    datetime_field,
    enum_choices,
    id_tag_field,
    location_field,
    parse_periods,
    retries_fields,
)

V16, V201 = ocpp.VERSIONS[1], ocpp.VERSIONS[0]


def version_of(charge_point: ChargePoint) -> str:
    return charge_point.ocpp_version or V16


def evse_field(
    charge_point: ChargePoint, *, required: bool = True, whole: bool = True, help_text: str = ""
) -> forms.Field:
    """Pick one of the charge point's known EVSEs (1.6: connectors); free entry while it has reported none.

    `whole` offers 0, the charge point as a whole. The cleaned value is an
    int, or None when left empty.
    """
    version = version_of(charge_point)
    label = "EVSE" if version == V201 else "connector"
    evses: dict[int, list] = {}
    for connector in charge_point.connectors.all():
        evses.setdefault(connector.evse_id, []).append(connector)
    if not any(evse_id > 0 for evse_id in evses):
        return forms.IntegerField(
            label=label,
            required=required,
            min_value=0 if whole else 1,
            help_text=" ".join(filter(None, [help_text, "0 is the whole charge point." if whole else ""])),
        )

    def state(evse_id: int) -> str:
        rows = evses.get(evse_id, [])
        if version == V16 or evse_id == 0:
            return rows[0].status if rows and rows[0].status else "status unknown"
        return ", ".join(f"connector {c.connector_id}: {c.status or '?'}" for c in rows) or "status unknown"

    choices = [("", "—")] if not required else []
    if whole:
        choices.append(("0", "0 — whole charge point" + (f" ({state(0)})" if 0 in evses else "")))
    choices += [(str(evse_id), f"{evse_id} — {state(evse_id)}") for evse_id in sorted(evses) if evse_id > 0]
    return forms.TypedChoiceField(
        label=label, choices=choices, coerce=int, empty_value=None, required=required, help_text=help_text
    )


def connector_in_evse_field(help_text: str = "") -> forms.IntegerField:
    """A connector within the EVSE (OCPP 2.0.1 only)."""
    return forms.IntegerField(
        label="connector", required=False, min_value=1, help_text=help_text or "A connector of the EVSE; empty: all of it."
    )


def purpose_choices(version: str, *, blank: bool = False) -> list[tuple[str, str]]:
    """Neutral purposes, each labelled with the version's word (ChargePointMaxProfile in 1.6)."""
    names = [inputs.STATION_MAX_PROFILE, "TxDefaultProfile", "TxProfile"]
    words = ocpp.dialect(version).operations.PURPOSES
    choices = [(name, words.get(name, name)) for name in names]
    return [("", "—")] + choices if blank else choices


class OperationForm(CommandForm):
    """A neutral operation for a charge point of either version; `arguments()` are the operation's keywords."""

    operation: ClassVar[str] = ""
    label: ClassVar[str] = ""

    def __init__(self, *args, charge_point: ChargePoint, **kwargs):
        super().__init__(*args, charge_point=charge_point, **kwargs)
        self.version = version_of(charge_point)
        self.add_fields()

    def add_fields(self) -> None:
        """Add the fields that depend on the charge point or its version."""

    @property
    def action(self) -> str:  # the OCPP message this form sends to this charge point
        return operations.OPERATIONS[self.operation].message(self.version)

    @property
    def title(self) -> str:
        return self.label

    @property
    def reference(self) -> str:
        return f"sends {self.action}, OCPP {self.version}"

    @property
    def submit_label(self) -> str:
        return f"{self.label}: send {self.action} to {self.charge_point}"

    def arguments(self) -> dict:
        """The operation's neutral keyword arguments; call after is_valid()."""
        return {}

    def send(self, *, user) -> commands.CommandResult:
        return operations.operation_run(
            charge_point_id=self.charge_point.pk,
            name=self.operation,
            arguments=self.arguments(),
            source=CommandSource.ADMIN,
            user=user,
        )


class StartChargingForm(OperationForm):
    operation = "start-charging"
    label = "Start charging"
    description = "Ask the charge point to start a transaction for an id tag."

    def add_fields(self):
        self.fields["id_tag"] = id_tag_field(max_length=ocpp.dialect(self.version).operations.ID_TAG_MAX_LENGTH)
        self.fields["evse"] = evse_field(
            self.charge_point, required=False, whole=False, help_text="Empty lets the charge point choose."
        )

    def arguments(self):
        d = self.cleaned_data
        return compact(id_tag=d["id_tag"], evse_id=d["evse"])


class StopChargingForm(OperationForm):
    operation = "stop-charging"
    label = "Stop charging"
    description = "Ask the charge point to stop a transaction; its stop message closes it here."

    def add_fields(self):
        active = Transaction.objects.active().filter(charge_point=self.charge_point).order_by("-id")
        choices = [
            (
                str(tx.pk),
                f"{tx.pk}"
                + (f" ({tx.transaction_id})" if tx.transaction_id else "")
                + f" — {'EVSE ' + str(tx.evse_id) if tx.evse_id else 'connector ' + str(tx.connector_id)}"
                + f", {tx.id_tag or 'no id tag'}"
                + (f", since {localtime(tx.start_timestamp):%Y-%m-%d %H:%M}" if tx.start_timestamp else ""),
            )
            for tx in active[:MAX_SUGGESTIONS]
        ]
        self.fields["transaction"] = choice_or_integer(
            "transaction", choices, help_text="" if choices else "No active transaction is known: type its id here."
        )

    def arguments(self):
        return {"transaction": self.cleaned_data["transaction"]}


class ResetForm(OperationForm):
    operation = "reset"
    label = "Reset"
    description = "Soft: once idle (transactions end first). Hard: at once."

    type = forms.ChoiceField(choices=[("soft", "Soft (OnIdle)"), ("hard", "Hard (Immediate)")], initial="soft")

    def add_fields(self):
        if self.version == V201:
            self.fields["evse"] = evse_field(
                self.charge_point, required=False, whole=False, help_text="Reset this EVSE only; empty: the station."
            )

    def arguments(self):
        return compact(type=self.cleaned_data["type"], evse_id=self.cleaned_data.get("evse"))


class UnlockForm(OperationForm):
    operation = "unlock"
    label = "Unlock connector"
    description = "Unlock a connector's cable retention lock (a stuck cable)."

    def add_fields(self):
        self.fields["evse"] = evse_field(self.charge_point, whole=False)
        if self.version == V201:
            self.fields["connector"] = connector_in_evse_field("Connector of the EVSE; empty: 1.")

    def arguments(self):
        return compact(evse_id=self.cleaned_data["evse"], connector_id=self.cleaned_data.get("connector"))


class ChangeAvailabilityForm(OperationForm):
    operation = "change-availability"
    label = "Change availability"
    description = "Make the charge point (0), an EVSE or a connector operative or inoperative."

    availability = forms.ChoiceField(choices=[("Operative", "Operative"), ("Inoperative", "Inoperative")])

    def add_fields(self):
        self.fields["evse"] = evse_field(self.charge_point)
        if self.version == V201:
            self.fields["connector"] = connector_in_evse_field()
        self.order_fields(["evse", "connector", "availability"])

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("connector") and not cleaned.get("evse"):
            self.add_error("connector", "Pick the EVSE of the connector.")
        return cleaned

    def arguments(self):
        d = self.cleaned_data
        return compact(operative=d["availability"] == "Operative", evse_id=d["evse"], connector_id=d.get("connector"))


class TriggerMessageForm(OperationForm):
    operation = "trigger-message"
    label = "Trigger message"
    description = "Ask the charge point to send one of its messages now."

    def add_fields(self):
        self.fields["message"] = forms.ChoiceField(
            choices=[
                (name, ocpp.dialect(self.version).operations.TRIGGERS.get(name, name))
                for name in inputs.TRIGGER_MESSAGES
                if name != "LogStatusNotification"
            ]
        )
        self.fields["evse"] = evse_field(
            self.charge_point, required=False, help_text="Only for messages about one EVSE or connector."
        )

    def arguments(self):
        return compact(message=self.cleaned_data["message"], evse_id=self.cleaned_data["evse"])


class ReserveForm(OperationForm):
    operation = "reserve"
    label = "Reserve"
    description = "Reserve an EVSE (empty or 0: any, if the charge point supports it) for an id tag."

    reservation: Reservation | None = None

    def add_fields(self):
        length = ocpp.dialect(self.version).operations.ID_TAG_MAX_LENGTH
        self.fields["evse"] = evse_field(self.charge_point, required=False, help_text="Empty or 0: any.")
        self.fields["id_tag"] = id_tag_field(max_length=length)
        self.fields["expiry"] = datetime_field("expiry", required=True, help_text="The reservation ends then.")
        self.fields["parent_id_tag"] = id_tag_field(
            "parent id tag" if self.version == V16 else "group id token", required=False, help_text="Optional.",
            max_length=length,
        )

    def clean_expiry(self):
        expiry = self.cleaned_data["expiry"]
        if expiry <= timezone.now():
            raise ValidationError("The expiry must be in the future.")
        return expiry

    def arguments(self):
        d = self.cleaned_data
        return compact(id_tag=d["id_tag"], expiry=d["expiry"], evse_id=d["evse"], parent_id_tag=d["parent_id_tag"])

    def send(self, *, user):
        result = super().send(user=user)
        self.reservation = Reservation.objects.filter(pk=result.extra.get("reservation_id")).first()
        return result


class CancelReservationForm(OperationForm):
    operation = "cancel-reservation"
    label = "Cancel reservation"
    description = "Cancel a reservation the charge point accepted."

    def add_fields(self):
        accepted = Reservation.objects.filter(charge_point=self.charge_point, status=ReservationStatus.ACCEPTED)
        choices = [
            (str(r.pk), f"{r.pk} — EVSE {r.connector_id or 'any'}, {r.id_tag}, until {localtime(r.expiry_date):%Y-%m-%d %H:%M}")
            for r in accepted.order_by("-id")
        ]
        self.fields["reservation"] = choice_or_integer(
            "reservation", choices, help_text="" if choices else "No accepted reservation is known: type its id."
        )

    def arguments(self):
        return {"reservation_id": self.cleaned_data["reservation"]}


def neutral_periods(text: str) -> list[dict]:
    """Periods typed as "startPeriod:limit[:numberPhases]" lines (or JSON) → neutral period dicts."""
    return [
        compact(start_period_s=p["startPeriod"], limit=p["limit"], number_phases=p.get("numberPhases"))
        for p in parse_periods(text)
    ]


class SetChargingProfileForm(OperationForm):
    operation = "set-charging-profile"
    label = "Set charging profile"
    description = "Install a charging profile on an EVSE (0: the whole charge point)."
    fieldsets = [
        (
            "Profile",
            {
                "fields": [
                    "evse", "charging_profile_id", "stack_level", "purpose", "kind", "recurrency",
                    "valid_from", "valid_to", "transaction",
                ]
            },
        ),
        ("Schedule", {"fields": ["charging_rate_unit", "periods", "duration", "start_schedule", "min_charging_rate"]}),
    ]

    charging_profile_id = forms.IntegerField(label="charging profile id", min_value=0)
    stack_level = forms.IntegerField(label="stack level", min_value=0, initial=0)
    kind = forms.ChoiceField(choices=enum_choices(inputs.values(inputs.ChargingProfileKindEnumType)))
    recurrency = forms.ChoiceField(
        choices=enum_choices(inputs.values(inputs.RecurrencyKindEnumType), blank=True), required=False,
        help_text="Only for Recurring profiles.",
    )
    charging_rate_unit = forms.ChoiceField(label="charging rate unit", choices=enum_choices(inputs.values(inputs.ChargingRateUnitEnumType)))
    periods = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 5, "cols": 40}),
        help_text='One period a line, "start:limit[:phases]" (seconds from the schedule start, limit in A or W), '
        'e.g. "0:16" then "3600:8:1".',
    )
    duration = forms.IntegerField(required=False, min_value=0, help_text="Seconds; empty: until the last period ends.")
    min_charging_rate = forms.DecimalField(
        label="min charging rate", required=False, min_value=0, decimal_places=1,
        help_text="In the charging rate unit, at most one decimal.",
    )

    def add_fields(self):
        self.fields["evse"] = evse_field(self.charge_point)
        self.fields["purpose"] = forms.ChoiceField(choices=purpose_choices(self.version))
        self.fields["valid_from"] = datetime_field("valid from")
        self.fields["valid_to"] = datetime_field("valid to")
        self.fields["start_schedule"] = datetime_field(
            "start schedule", help_text="Needed by Absolute and Recurring profiles."
        )
        active = Transaction.objects.active().filter(charge_point=self.charge_point).order_by("-id")
        choices = [(str(tx.pk), f"{tx.pk}" + (f" ({tx.transaction_id})" if tx.transaction_id else "")) for tx in active]
        self.fields["transaction"] = choice_or_integer(
            "transaction", choices, required=False, help_text="Only for TxProfile: the transaction it limits."
        )
        last = ChargingProfile.objects.filter(charge_point=self.charge_point).aggregate(last=Max("charging_profile_id"))
        self.fields["charging_profile_id"].initial = (last["last"] or 0) + 1

    def clean_periods(self):
        return neutral_periods(self.cleaned_data["periods"])

    def clean(self):
        cleaned = super().clean()
        evse, purpose, kind = cleaned.get("evse"), cleaned.get("purpose"), cleaned.get("kind")
        # Where each purpose may be installed and what only some kinds carry: 1.6 §3.13.1 / 2.0.1 K01.
        if purpose == inputs.STATION_MAX_PROFILE and evse not in (None, 0):
            self.add_error("evse", "A station-wide maximum profile can only be set on 0.")
        if purpose == "TxProfile" and evse == 0:
            self.add_error("evse", "A TxProfile applies to a transaction: pick an EVSE above 0.")
        if cleaned.get("transaction") is not None and purpose != "TxProfile":
            self.add_error("transaction", "Only a TxProfile names a transaction.")
        if kind == "Recurring" and not cleaned.get("recurrency"):
            self.add_error("recurrency", "A Recurring profile needs Daily or Weekly.")
        if kind != "Recurring" and cleaned.get("recurrency"):
            self.add_error("recurrency", "Only Recurring profiles have a recurrency.")
        valid_from, valid_to = cleaned.get("valid_from"), cleaned.get("valid_to")
        if valid_from and valid_to and valid_to <= valid_from:
            self.add_error("valid_to", "Valid to must be after valid from.")
        return cleaned

    def arguments(self):
        d = self.cleaned_data
        return compact(
            evse_id=d["evse"],
            charging_profile_id=d["charging_profile_id"],
            stack_level=d["stack_level"],
            purpose=d["purpose"],
            kind=d["kind"],
            recurrency=d["recurrency"],
            valid_from=d["valid_from"],
            valid_to=d["valid_to"],
            transaction=d["transaction"],
            charging_rate_unit=d["charging_rate_unit"],
            periods=d["periods"],
            duration_s=d["duration"],
            start_schedule=d["start_schedule"],
            min_charging_rate=d["min_charging_rate"],
        )


class ClearChargingProfileForm(OperationForm):
    operation = "clear-charging-profile"
    label = "Clear charging profile"
    description = (
        "Clear one charging profile by its id, or every profile matching the criteria given. "
        "With nothing filled in, every profile on the charge point is cleared."
    )

    stack_level = forms.IntegerField(label="stack level", required=False, min_value=0)

    def add_fields(self):
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
                options=[(i.profile.charging_profile_id, f"EVSE {i.connector_id}, {i.profile}") for i in installed]
            ),
            help_text="Clears this profile only; leave the criteria below empty.",
        )
        self.fields["evse"] = evse_field(self.charge_point, required=False)
        self.fields["purpose"] = forms.ChoiceField(choices=purpose_choices(self.version, blank=True), required=False)
        self.order_fields(["profile_id", "evse", "purpose", "stack_level"])

    def clean(self):
        cleaned = super().clean()
        criteria = [cleaned.get("evse"), cleaned.get("purpose") or None, cleaned.get("stack_level")]
        if cleaned.get("profile_id") is not None and any(c is not None for c in criteria):
            raise ValidationError("Clear either by charging profile id or by EVSE, purpose and stack level, not both.")
        return cleaned

    def arguments(self):
        d = self.cleaned_data
        return compact(
            charging_profile_id=d["profile_id"], evse_id=d["evse"], purpose=d["purpose"], stack_level=d["stack_level"]
        )


class CompositeScheduleForm(OperationForm):
    operation = "composite-schedule"
    label = "Composite schedule"
    description = "Read the schedule an EVSE (0: the charge point's total) will follow, all profiles combined."

    duration = forms.IntegerField(min_value=1, initial=86400, help_text="Seconds from now.")
    charging_rate_unit = forms.ChoiceField(
        label="charging rate unit", choices=enum_choices(inputs.values(inputs.ChargingRateUnitEnumType), blank=True), required=False
    )

    def add_fields(self):
        self.fields["evse"] = evse_field(self.charge_point)
        self.order_fields(["evse", "duration", "charging_rate_unit"])

    def arguments(self):
        d = self.cleaned_data
        return compact(evse_id=d["evse"], duration_s=d["duration"], charging_rate_unit=d["charging_rate_unit"])


class SendLocalListForm(OperationForm):
    operation = "send-local-list"
    label = "Send local list"
    description = (
        "Send the id tags table as the Local Authorization List. Full replaces the whole list; Differential "
        "sends only the id tags changed since the last list the charge point accepted."
    )

    update_type = forms.ChoiceField(label="update type", choices=enum_choices(inputs.values(inputs.UpdateEnumType)), initial="Full")

    def arguments(self):
        return {"update_type": self.cleaned_data["update_type"]}


class UpdateFirmwareForm(OperationForm):
    operation = "update-firmware"
    label = "Update firmware"
    description = "Have the charge point download and install firmware; progress arrives as FirmwareStatusNotification."

    def add_fields(self):
        self.fields["location"] = location_field("Where to download the firmware from (a URI).")
        self.fields["retrieve_date"] = datetime_field("retrieve date", required=True, help_text="Download from then on.")
        self.fields["retrieve_date"].initial = lambda: localtime().replace(second=0, microsecond=0)
        self.fields.update(retries_fields())

    def arguments(self):
        d = self.cleaned_data
        return compact(
            location=d["location"], retrieve_date=d["retrieve_date"], retries=d["retries"], retry_interval_s=d["retry_interval"]
        )


class FetchLogsForm(OperationForm):
    operation = "fetch-logs"
    label = "Fetch logs"
    description = "Have the charge point upload its diagnostics log; progress arrives as a status notification."

    def add_fields(self):
        self.fields["location"] = location_field("Where to upload the log (a directory URI).")
        self.fields.update(retries_fields())
        self.fields["oldest"] = datetime_field("oldest", help_text="Oldest log entry to include.")
        self.fields["latest"] = datetime_field("latest", help_text="Newest log entry to include.")

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("oldest") and cleaned.get("latest") and cleaned["latest"] <= cleaned["oldest"]:
            self.add_error("latest", "Must be after the oldest entry.")
        return cleaned

    def arguments(self):
        d = self.cleaned_data
        return compact(
            location=d["location"], retries=d["retries"], retry_interval_s=d["retry_interval"],
            oldest=d["oldest"], latest=d["latest"],
        )


def known_keys(charge_point: ChargePoint, *, writable: bool = False) -> list[tuple[str, str]]:
    """(key, current value) suggestions: 1.6 configuration keys, 2.0.1 device model variables (Actual)."""
    if version_of(charge_point) == V16:
        keys = ConfigurationKey.objects.filter(charge_point=charge_point).order_by("key")
        return [(k.key, k.value or "") for k in keys if not (writable and k.readonly)][:MAX_SUGGESTIONS]
    variables = Variable.objects.filter(charge_point=charge_point, attribute_type="Actual")
    return [(str(v), v.value or "") for v in variables if not writable or v.writable][:MAX_SUGGESTIONS]


class GetConfigurationForm(OperationForm):
    operation = "get-configuration"
    label = "Get configuration"

    keys = forms.CharField(required=False, widget=forms.TextInput(attrs={"size": 80}))

    @property
    def description(self):
        if self.version == V16:
            return "Read configuration keys; asking for all keys refreshes the whole snapshot stored here."
        return (
            "Read device model variables with GetVariables; with no key, GetBaseReport asks for the full "
            "inventory, which arrives as NotifyReport."
        )

    @property
    def action(self):
        if self.version == V201 and self.is_bound and self.is_valid():
            return "GetVariables" if self.cleaned_data["keys"] else "GetBaseReport"
        return super().action

    def add_fields(self):
        self.fields["keys"].help_text = (
            "Comma separated, e.g. HeartbeatInterval, MeterValueSampleInterval. Empty asks for all keys."
            if self.version == V16
            else "Comma separated Component.Variable, e.g. OCPPCommCtrlr.HeartbeatInterval. Empty: the full inventory."
        )

    def clean_keys(self):
        keys = list(dict.fromkeys(k.strip() for k in self.cleaned_data["keys"].split(",") if k.strip()))
        if self.version == V16:
            too_long = [k for k in keys if len(k) > 50]
            if too_long:
                raise ValidationError(f"Keys are at most 50 characters: {', '.join(too_long)}")
        else:
            for key in keys:
                try:
                    parse_variable_key(key)
                except commands.InvalidArguments as error:
                    raise ValidationError(error.message.split(": ", 1)[-1]) from None
        return keys

    def arguments(self):
        return compact(keys=self.cleaned_data["keys"])


class ChangeConfigurationForm(OperationForm):
    operation = "change-configuration"
    label = "Change configuration"
    description = "Set one configuration key (2.0.1: a device model variable). An accepted value is stored here."

    def add_fields(self):
        self.readonly_keys = set()
        if self.version == V16:
            self.readonly_keys = set(
                ConfigurationKey.objects.filter(charge_point=self.charge_point, readonly=True).values_list("key", flat=True)
            )
        self.fields["key"] = forms.CharField(
            max_length=50 if self.version == V16 else 200,
            widget=DatalistInput(options=known_keys(self.charge_point, writable=True)),
            help_text="Pick a key the charge point reported or type any"
            + ("." if self.version == V16 else " as Component.Variable (e.g. OCPPCommCtrlr.HeartbeatInterval)."),
        )
        # ChangeConfiguration values are CiString500, SetVariables attributeValue strings of up to 1000.
        self.fields["value"] = forms.CharField(
            max_length=500 if self.version == V16 else 1000,
            required=False,
            strip=False,
            widget=forms.TextInput(attrs={"size": 60}),
            help_text="Sent exactly as typed; may be empty.",
        )

    def clean_key(self):
        key = self.cleaned_data["key"].strip()
        if key in self.readonly_keys:
            raise ValidationError(f"{key} is read-only on this charge point.")
        if self.version == V201:
            try:
                parse_variable_key(key)
            except commands.InvalidArguments as error:
                raise ValidationError(error.message.split(": ", 1)[-1]) from None
        return key

    def arguments(self):
        return {"key": self.cleaned_data["key"], "value": self.cleaned_data["value"]}


OPERATION_FORMS: dict[str, type[OperationForm]] = {
    form.operation: form
    for form in (
        StartChargingForm,
        StopChargingForm,
        ResetForm,
        UnlockForm,
        ChangeAvailabilityForm,
        TriggerMessageForm,
        ReserveForm,
        CancelReservationForm,
        SetChargingProfileForm,
        ClearChargingProfileForm,
        CompositeScheduleForm,
        SendLocalListForm,
        UpdateFirmwareForm,
        FetchLogsForm,
        GetConfigurationForm,
        ChangeConfigurationForm,
    )
}


RAW_MESSAGE = "send-message"


class RawMessageForm(CommandForm):
    """Any central-system message of the charge point's OCPP version, its payload typed as JSON."""

    description = (
        "Send any central system message of this charge point's OCPP version. The payload is checked against "
        "the official schema before it is sent; messages of one version only (ClearCache, DataTransfer, GetReport "
        "…) are sent from here."
    )

    payload_json = forms.CharField(
        label="payload",
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 12, "cols": 80, "spellcheck": "false"}),
        help_text='A JSON object in the spec\'s camelCase, e.g. {"reservationId": 7}; empty: {}.',
    )

    def __init__(self, *args, charge_point: ChargePoint, **kwargs):
        super().__init__(*args, charge_point=charge_point, **kwargs)
        self.version = version_of(charge_point)
        self.fields["message"] = forms.ChoiceField(
            label="message", choices=enum_choices(commands.actions_for(self.version))
        )
        self.order_fields(["message", "payload_json"])

    @property
    def action(self) -> str:
        if self.is_bound and self.is_valid():
            return self.cleaned_data["message"]
        return "any message"

    @property
    def title(self) -> str:
        return "Send any message"

    @property
    def reference(self) -> str:
        return f"OCPP {self.version}"

    @property
    def submit_label(self) -> str:
        return f"Send to {self.charge_point}"

    def clean_payload_json(self):
        text = self.cleaned_data["payload_json"].strip()
        if not text:
            return {}
        try:
            value = json.loads(text)
        except ValueError as error:
            raise ValidationError(f"Not valid JSON: {error}") from None
        if not isinstance(value, dict):
            raise ValidationError("The payload is a JSON object: {…}.")
        return value

    def payload(self):
        return self.cleaned_data["payload_json"]

    def send(self, *, user):
        return commands.call(
            self.charge_point.pk, self.cleaned_data["message"], self.payload(), source=CommandSource.ADMIN, user=user
        )


# The Commands box of a 2.0.1 station: its neutral operations, by what they are about.
OPERATION_GROUPS: list[tuple[str, list[str]]] = [
    (group, [operation.name for operation in members]) for group, members in operations.groups()
]
