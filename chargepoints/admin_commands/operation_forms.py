"""The admin's command forms: one per version-neutral operation, and the raw "Send any message" form.

An `OperationForm` collects an operation's neutral arguments (its fields are
named after them: evse_id, id_tag, expiry …) with pickers of the charge
point's rows, labelled in its version's words, and runs the operation
(`chargepoints.operations`), which validates them with its input serializer
and builds the message of the charge point's version. Arguments it refuses
come back as `commands.InvalidArguments`; `add_argument_errors` shows them on
the fields that collected them.

`RawMessageForm` sends any central-system message of the charge point's
version with a JSON payload typed by the operator, so messages of one version
only (ClearCache, DataTransfer, GetLocalListVersion, GetReport …) stay
reachable from the admin.
"""

from __future__ import annotations

import json
from typing import ClassVar

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Max
from django.utils.timezone import localtime

from transactions.models import Reservation, ReservationStatus, Transaction

from .. import commands, ocpp, operations
from ..models import (
    ChargePoint,
    ChargingProfile,
    ChargingProfileInstallation,
    CommandSource,
    ConfigurationKey,
    OcppVersion,
    Variable,
)
from ..operations import inputs
from .fields import (
    MAX_SUGGESTIONS,
    DatalistInput,
    OptionalJSONField,
    choice_or_integer,
    compact,
    connector_in_evse_field,
    datetime_field,
    enum_choices,
    evse_field,
    id_tag_field,
    location_field,
    purpose_choices,
    retries_fields,
)

V16, V201 = OcppVersion.V16, OcppVersion.V201


class CommandForm(forms.Form):
    """Base of the command forms: the charge point (and its version) the form sends to."""

    description: ClassVar[str] = ""
    fieldsets: ClassVar[tuple | None] = None

    def __init__(self, *args, charge_point: ChargePoint, **kwargs):
        super().__init__(*args, **kwargs)
        self.charge_point = charge_point
        self.version = charge_point.version

    def get_fieldsets(self) -> list:
        """Admin fieldsets for the page: the declared ones, or every field in one box."""
        return self.fieldsets or [(None, {"fields": list(self.fields)})]


class OperationForm(CommandForm):
    """A neutral operation for a charge point of either version; its fields are named after the arguments."""

    operation: ClassVar[str] = ""

    def __init__(self, *args, charge_point: ChargePoint, **kwargs):
        super().__init__(*args, charge_point=charge_point, **kwargs)
        self.add_fields()

    def add_fields(self) -> None:
        """Add the fields that depend on the charge point or its version."""

    @property
    def definition(self) -> operations.Operation:
        return operations.OPERATIONS[self.operation]

    @property
    def action(self) -> str:  # the OCPP message this form sends to this charge point
        return self.definition.message(self.version)

    @property
    def title(self) -> str:
        return self.definition.label

    @property
    def reference(self) -> str:
        return f"sends {self.action}, OCPP {self.version}"

    @property
    def submit_label(self) -> str:
        return f"{self.title}: send {self.action} to {self.charge_point}"

    def arguments(self) -> dict:
        """The operation's neutral arguments: the fields filled in. Call after is_valid()."""
        return compact(**self.cleaned_data)

    def send(self, *, user) -> commands.CommandResult:
        return operations.operation_run(
            charge_point_id=self.charge_point.pk,
            name=self.operation,
            arguments=self.arguments(),
            source=CommandSource.ADMIN,
            user=user,
        )

    def add_argument_errors(self, error: commands.InvalidArguments) -> None:
        """Show the arguments `operation_run` refused on the fields that collected them, the others above the form.

        `error.details["errors"]` holds the input serializer's errors by argument;
        a builder's refusal names one argument path in `details["field"]`
        ("charging_profile/periods/0/limit", "charging_profile.purpose").
        """
        errors = error.details.get("errors")
        if not isinstance(errors, dict):
            field = error.details.get("field") or ""
            errors = {field: error.message.removeprefix(f"{field}: ")}
        for argument, value in errors.items():
            path, message = operations.first_error(value)
            field, _, rest = argument.replace(".", "/").partition("/")
            if field not in self.fields:
                field, rest = None, "" if argument == "non_field_errors" else argument
            where = "/".join(filter(None, [rest, path]))
            self.add_error(field, f"{where}: {message}" if where else message)


class StartChargingForm(OperationForm):
    operation = "start-charging"
    description = "Ask the charge point to start a transaction for an id tag."

    charging_profile = OptionalJSONField(
        label="charging profile",
        required=False,
        widget=forms.Textarea(attrs={"rows": 6, "cols": 60}),
        help_text="Optional TxProfile for the transaction, as JSON in the operation's words, e.g. "
        '{"charging_profile_id": 1, "stack_level": 0, "purpose": "TxProfile", "kind": "Relative", '
        '"charging_rate_unit": "A", "periods": [{"start_period_s": 0, "limit": 16}]}',
    )

    force = forms.BooleanField(
        label="send anyway",
        required=False,
        help_text="Send it even when the id tag is not registered here or not Accepted.",
    )

    def add_fields(self):
        self.fields["id_tag"] = id_tag_field("id tag", version=self.version)
        self.fields["evse_id"] = evse_field(self.charge_point, required=False, whole=False, help_text="Empty lets the charge point choose.")
        self.order_fields(["id_tag", "evse_id", "charging_profile", "force"])


class StopChargingForm(OperationForm):
    operation = "stop-charging"
    description = "Ask the charge point to stop a transaction; its stop message closes it here."

    def add_fields(self):
        active = Transaction.objects.active().filter(charge_point=self.charge_point).order_by("-id")
        choices = [
            (
                str(tx.pk),
                f"{tx.pk}"
                + (f" ({tx.station_transaction_id})" if tx.station_transaction_id else "")
                + f" — {'EVSE ' + str(tx.evse_id) if tx.evse_id else 'connector ' + str(tx.connector_id)}"
                + f", {tx.id_tag or 'no id tag'}"
                + (f", since {localtime(tx.start_timestamp):%Y-%m-%d %H:%M}" if tx.start_timestamp else ""),
            )
            for tx in active[:MAX_SUGGESTIONS]
        ]
        self.fields["transaction"] = choice_or_integer(
            "transaction", choices, help_text="" if choices else "No active transaction is known: type its id here."
        )


class ResetForm(OperationForm):
    operation = "reset"
    description = "Soft: once idle (transactions end first). Hard: at once."

    type = forms.ChoiceField(choices=[("soft", "Soft (OnIdle)"), ("hard", "Hard (Immediate)")], initial="soft")

    def add_fields(self):
        if self.version == V201:
            self.fields["evse_id"] = evse_field(
                self.charge_point, required=False, whole=False, help_text="Reset this EVSE only; empty: the station."
            )


class UnlockForm(OperationForm):
    operation = "unlock"
    description = "Unlock a connector's cable retention lock (a stuck cable)."

    def add_fields(self):
        self.fields["evse_id"] = evse_field(self.charge_point, whole=False)
        if self.version == V201:
            self.fields["connector_id"] = connector_in_evse_field("Connector of the EVSE; empty: 1.")


class ChangeAvailabilityForm(OperationForm):
    operation = "change-availability"
    description = "Make the charge point (0), an EVSE or a connector operative or inoperative."

    operative = forms.TypedChoiceField(
        label="availability",
        choices=[("Operative", "Operative"), ("Inoperative", "Inoperative")],
        coerce=lambda value: value == "Operative",
    )

    def add_fields(self):
        self.fields["evse_id"] = evse_field(self.charge_point)
        if self.version == V201:
            self.fields["connector_id"] = connector_in_evse_field()
        self.order_fields(["evse_id", "connector_id", "operative"])


class TriggerMessageForm(OperationForm):
    operation = "trigger-message"
    description = "Ask the charge point to send one of its messages now."

    def add_fields(self):
        words = ocpp.dialect(self.version).operations.TRIGGERS
        self.fields["message"] = forms.ChoiceField(
            choices=[(name, words.get(name, name)) for name in inputs.TRIGGER_MESSAGES if name != "LogStatusNotification"]
        )
        self.fields["evse_id"] = evse_field(self.charge_point, required=False, help_text="Only for messages about one EVSE or connector.")


class ReserveForm(OperationForm):
    operation = "reserve"
    description = "Reserve an EVSE (empty or 0: any, if the charge point supports it) for an id tag."

    reservation: Reservation | None = None

    def add_fields(self):
        self.fields["evse_id"] = evse_field(self.charge_point, required=False, help_text="Empty or 0: any.")
        self.fields["id_tag"] = id_tag_field("id tag", version=self.version)
        self.fields["expiry"] = datetime_field("expiry", required=True, help_text="The reservation ends then.")
        self.fields["parent_id_tag"] = id_tag_field(
            "parent id tag" if self.version == V16 else "group id token",
            version=self.version,
            required=False,
            help_text="Optional.",
        )

    def send(self, *, user):
        result = super().send(user=user)
        self.reservation = Reservation.objects.filter(pk=result.extra.get("reservation_id")).first()
        return result


class CancelReservationForm(OperationForm):
    operation = "cancel-reservation"
    description = "Cancel a reservation the charge point accepted."

    def add_fields(self):
        accepted = Reservation.objects.filter(charge_point=self.charge_point, status=ReservationStatus.ACCEPTED)
        choices = [
            (str(r.pk), f"{r.pk} — EVSE {r.evse_id or 'any'}, {r.id_tag}, until {localtime(r.expiry_date):%Y-%m-%d %H:%M}")
            for r in accepted.order_by("-id")
        ]
        self.fields["reservation_id"] = choice_or_integer(
            "reservation", choices, help_text="" if choices else "No accepted reservation is known: type its id."
        )


def parse_periods(text: str) -> list[dict]:
    """Periods typed as "start:limit[:phases]" lines, or a JSON list of period objects → neutral period dicts.

    Only the shape is read here; the operation's input checks the values.
    """
    text = text.strip()
    if text.startswith("["):
        try:
            return json.loads(text)
        except ValueError as error:
            raise ValidationError(f"Not valid JSON: {error}") from None
    periods = []
    for number, line in enumerate(filter(None, map(str.strip, text.splitlines())), start=1):
        parts = [part.strip() for part in line.split(":")]
        if len(parts) not in (2, 3):
            raise ValidationError(f"Line {number} ({line!r}): write start:limit or start:limit:phases.")
        phases = parts[2] if len(parts) == 3 else None
        periods.append(compact(start_period_s=parts[0], limit=parts[1], number_phases=phases))
    return periods


class SetChargingProfileForm(OperationForm):
    operation = "set-charging-profile"
    description = "Install a charging profile on an EVSE (0: the whole charge point)."
    fieldsets = (
        (
            "Profile",
            {
                "fields": [
                    "evse_id",
                    "charging_profile_id",
                    "stack_level",
                    "purpose",
                    "kind",
                    "recurrency",
                    "valid_from",
                    "valid_to",
                    "transaction",
                ]
            },
        ),
        ("Schedule", {"fields": ["charging_rate_unit", "periods", "duration_s", "start_schedule", "min_charging_rate"]}),
    )

    charging_profile_id = forms.IntegerField(label="charging profile id", min_value=0)
    stack_level = forms.IntegerField(label="stack level", min_value=0, initial=0)
    kind = forms.ChoiceField(choices=enum_choices(inputs.values(inputs.ChargingProfileKindEnumType)))
    recurrency = forms.ChoiceField(
        choices=enum_choices(inputs.values(inputs.RecurrencyKindEnumType), blank=True),
        required=False,
        help_text="Only for Recurring profiles.",
    )
    charging_rate_unit = forms.ChoiceField(label="charging rate unit", choices=enum_choices(inputs.values(inputs.ChargingRateUnitEnumType)))
    periods = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 5, "cols": 40}),
        help_text='One period a line, "start:limit[:phases]" (seconds from the schedule start, limit in A or W), '
        'e.g. "0:16" then "3600:8:1"; or a JSON list of {"start_period_s", "limit", "number_phases"} objects.',
    )
    duration_s = forms.IntegerField(label="duration", required=False, min_value=0, help_text="Seconds; empty: until the last period ends.")
    min_charging_rate = forms.DecimalField(
        label="min charging rate", required=False, min_value=0, help_text="In the charging rate unit, at most one decimal."
    )

    def add_fields(self):
        self.fields["evse_id"] = evse_field(self.charge_point)
        self.fields["purpose"] = forms.ChoiceField(choices=purpose_choices(self.version))
        self.fields["valid_from"] = datetime_field("valid from")
        self.fields["valid_to"] = datetime_field("valid to")
        self.fields["start_schedule"] = datetime_field("start schedule", help_text="Needed by Absolute and Recurring profiles.")
        active = Transaction.objects.active().filter(charge_point=self.charge_point).order_by("-id")
        choices = [(str(tx.pk), f"{tx.pk}" + (f" ({tx.station_transaction_id})" if tx.station_transaction_id else "")) for tx in active]
        self.fields["transaction"] = choice_or_integer(
            "transaction", choices, required=False, help_text="Only for TxProfile: the transaction it limits."
        )
        last = ChargingProfile.objects.filter(charge_point=self.charge_point).aggregate(last=Max("charging_profile_id"))
        self.fields["charging_profile_id"].initial = (last["last"] or 0) + 1

    def clean_periods(self):
        return parse_periods(self.cleaned_data["periods"])


class ClearChargingProfileForm(OperationForm):
    operation = "clear-charging-profile"
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
        self.fields["charging_profile_id"] = forms.IntegerField(
            label="charging profile id",
            required=False,
            min_value=0,
            widget=DatalistInput(options=[(i.profile.charging_profile_id, f"EVSE {i.evse_id}, {i.profile}") for i in installed]),
            help_text="Clears this profile only; leave the criteria below empty.",
        )
        self.fields["evse_id"] = evse_field(self.charge_point, required=False)
        self.fields["purpose"] = forms.ChoiceField(choices=purpose_choices(self.version, blank=True), required=False)
        self.order_fields(["charging_profile_id", "evse_id", "purpose", "stack_level"])


class CompositeScheduleForm(OperationForm):
    operation = "composite-schedule"
    description = "Read the schedule an EVSE (0: the charge point's total) will follow, all profiles combined."

    duration_s = forms.IntegerField(label="duration", min_value=1, initial=86400, help_text="Seconds from now.")
    charging_rate_unit = forms.ChoiceField(
        label="charging rate unit",
        choices=enum_choices(inputs.values(inputs.ChargingRateUnitEnumType), blank=True),
        required=False,
    )

    def add_fields(self):
        self.fields["evse_id"] = evse_field(self.charge_point)
        self.order_fields(["evse_id", "duration_s", "charging_rate_unit"])


class SendLocalListForm(OperationForm):
    operation = "send-local-list"
    description = (
        "Send the id tags table as the Local Authorization List. Full replaces the whole list; Differential "
        "sends only the id tags changed since the last list the charge point accepted."
    )

    update_type = forms.ChoiceField(label="update type", choices=enum_choices(inputs.values(inputs.UpdateEnumType)), initial="Full")


class UpdateFirmwareForm(OperationForm):
    operation = "update-firmware"
    description = "Have the charge point download and install firmware; progress arrives as FirmwareStatusNotification."

    def add_fields(self):
        self.fields["location"] = location_field("Where to download the firmware from (a URI).")
        self.fields["retrieve_date"] = datetime_field("retrieve date", required=True, help_text="Download from then on.")
        self.fields["retrieve_date"].initial = lambda: localtime().replace(second=0, microsecond=0)
        self.fields.update(retries_fields())


class FetchLogsForm(OperationForm):
    operation = "fetch-logs"
    description = "Have the charge point upload its diagnostics log; progress arrives as a status notification."

    def add_fields(self):
        self.fields["location"] = location_field("Where to upload the log (a directory URI).")
        self.fields.update(retries_fields())
        self.fields["oldest"] = datetime_field("oldest", help_text="Oldest log entry to include.")
        self.fields["latest"] = datetime_field("latest", help_text="Newest log entry to include.")


def known_keys(charge_point: ChargePoint) -> list[tuple[str, str]]:
    """(key, current value) of what may be written: 1.6 configuration keys, 2.0.1 device model variables (Actual)."""
    if charge_point.version == V16:
        keys = ConfigurationKey.objects.filter(charge_point=charge_point, readonly=False).order_by("key")
        return [(k.key, k.value or "") for k in keys[:MAX_SUGGESTIONS]]
    variables = Variable.objects.filter(charge_point=charge_point, attribute_type="Actual")
    return [(str(v), v.value or "") for v in variables if v.writable][:MAX_SUGGESTIONS]


class GetConfigurationForm(OperationForm):
    operation = "get-configuration"

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
        return list(dict.fromkeys(k.strip() for k in self.cleaned_data["keys"].split(",") if k.strip()))


class ChangeConfigurationForm(OperationForm):
    operation = "change-configuration"
    description = "Set one configuration key (2.0.1: a device model variable). An accepted value is stored here."

    def add_fields(self):
        self.fields["key"] = forms.CharField(
            max_length=50 if self.version == V16 else 200,
            widget=DatalistInput(options=known_keys(self.charge_point)),
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
        # The charge point reported the key read-only: asking would only earn a Rejected.
        key = self.cleaned_data["key"].strip()
        readonly = ConfigurationKey.objects.filter(charge_point=self.charge_point, key=key, readonly=True)
        if self.version == V16 and readonly.exists():
            raise ValidationError(f"{key} is read-only on this charge point.")
        return key

    def arguments(self):
        return {"key": self.cleaned_data["key"], "value": self.cleaned_data["value"]}  # an empty value is one


class ChangePasswordForm(OperationForm):
    operation = "change-password"
    description = (
        "Rotate the charge point's Basic-auth password (security profiles 1 and 2): the new one is sent, the current "
        "one stays valid until the charge point reconnects with the new one. The new password is shown once."
    )

    new_password: str | None = None

    def add_fields(self):
        self.fields["password"] = forms.CharField(
            required=False,
            min_length=16,
            max_length=40,
            strip=False,
            widget=forms.PasswordInput(render_value=False),
            help_text="Empty: a random one (40 hex characters). "
            + ("OCPP 1.6: 40 hex characters (the AuthorizationKey)." if self.version == V16 else "16 to 40 characters."),
        )

    def arguments(self):
        return compact(password=self.cleaned_data["password"] or None)

    def send(self, *, user):
        result = super().send(user=user)
        self.new_password = result.extra.get("password")
        return result


class InstallCertificateForm(OperationForm):
    operation = "install-certificate"
    description = (
        "Install a root certificate on the charge point: CSMSRootCertificate is what it checks this central system's "
        "TLS certificate against (OCPP 1.6: CentralSystemRootCertificate)."
    )

    certificate = forms.CharField(widget=forms.Textarea(attrs={"rows": 10, "cols": 66}), help_text="One certificate, PEM.")

    def add_fields(self):
        types = inputs.INSTALL_CERTIFICATE_TYPES if self.version == V201 else ["CSMSRootCertificate", "ManufacturerRootCertificate"]
        words = getattr(ocpp.dialect(self.version).operations, "CERTIFICATE_TYPES", {})
        self.fields["certificate_type"] = forms.ChoiceField(label="certificate type", choices=[(t, words.get(t, t)) for t in types])
        self.order_fields(["certificate_type", "certificate"])


class GetInstalledCertificateIdsForm(OperationForm):
    operation = "get-installed-certificate-ids"
    description = "Ask the charge point which certificates it has installed; the list is kept on its page."

    def add_fields(self):
        if self.version == V201:
            self.fields["certificate_types"] = forms.MultipleChoiceField(
                label="certificate types",
                required=False,
                choices=enum_choices(inputs.CERTIFICATE_ID_TYPES),
                widget=forms.CheckboxSelectMultiple,
                help_text="None ticked: all.",
            )
        else:
            words = ocpp.dialect(self.version).operations.CERTIFICATE_TYPES
            # 1.6 lists one type per request.
            self.fields["certificate_type"] = forms.ChoiceField(label="certificate type", choices=[(t, words[t]) for t in words])

    def arguments(self):
        data = self.cleaned_data
        return compact(
            certificate_types=data.get("certificate_types") or ([data["certificate_type"]] if data.get("certificate_type") else None)
        )


class DeleteCertificateForm(OperationForm):
    operation = "delete-certificate"
    description = "Delete an installed certificate, named by its hash data (as listed by List installed certificates)."

    def add_fields(self):
        installed = list(self.charge_point.installed_certificates.all()[:MAX_SUGGESTIONS])
        self.fields["installed"] = forms.TypedChoiceField(
            label="installed certificate",
            required=False,
            coerce=int,
            empty_value=None,
            choices=[("", "— type the hash data below —")]
            + [(row.pk, f"{row.certificate_type} {row.subject or ''} serial {row.serial_number}") for row in installed],
        )
        self.fields["hash_algorithm"] = forms.ChoiceField(choices=enum_choices(["SHA256", "SHA384", "SHA512"]), initial="SHA256")
        for name in ("issuer_name_hash", "issuer_key_hash", "serial_number"):
            self.fields[name] = forms.CharField(required=False, label=name.replace("_", " "))

    def arguments(self):
        data = self.cleaned_data
        row = self.charge_point.installed_certificates.filter(pk=data.get("installed")).first() if data.get("installed") else None
        if row is not None:
            return {
                "hash_algorithm": row.hash_algorithm,
                "issuer_name_hash": row.issuer_name_hash,
                "issuer_key_hash": row.issuer_key_hash,
                "serial_number": row.serial_number,
            }
        return compact(
            **{name: data.get(name) or None for name in ("hash_algorithm", "issuer_name_hash", "issuer_key_hash", "serial_number")}
        )


class RenewCertificateForm(OperationForm):
    operation = "renew-certificate"
    description = (
        "Ask the charge point for a new certificate signing request now; the CSMS's CA signs it and sends the "
        "certificate (CertificateSigned). Renewals before expiry run by themselves (manage.py certificates_renew, and at boot)."
    )


# The form of each operation, found by its `operation` (a test checks every operation has one).
OPERATION_FORMS: dict[str, type[OperationForm]] = {form.operation: form for form in OperationForm.__subclasses__()}

RAW_MESSAGE = "send-message"


class RawMessageForm(CommandForm):
    """Any central-system message of the charge point's OCPP version, its payload typed as JSON."""

    title = "Send any message"
    description = (
        "Send any central system message of this charge point's OCPP version. The payload is checked against "
        "the official schema before it is sent; messages of one version only (ClearCache, DataTransfer, "
        "GetLocalListVersion, GetReport …) are sent from here."
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
        self.fields["message"] = forms.ChoiceField(choices=enum_choices(commands.actions_for(self.version)))
        self.order_fields(["message", "payload_json"])

    @property
    def action(self) -> str:
        if self.is_bound and self.is_valid():
            return self.cleaned_data["message"]
        return "any message"

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

    def send(self, *, user):
        return commands.call(
            self.charge_point.pk,
            self.cleaned_data["message"],
            self.cleaned_data["payload_json"],
            source=CommandSource.ADMIN,
            user=user,
        )
