"""Input serializers of the version-neutral operations: one per operation, shared by the API and the admin.

Each validates an operation's neutral arguments (snake_case, units in the
names, ISO 8601 datetimes with an offset) and names what is wrong. Given the
charge point as `context["charge_point"]`, fields that name its rows
(`transaction`) resolve to them, or fail naming the field. Enumerations come
from the `ocpp` library's 2.0.1 enums, whose names are the neutral ones.
"""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.plumbing import build_basic_type
from drf_spectacular.types import OpenApiTypes
from ocpp.v201.enums import (
    ChargingProfileKindEnumType,
    ChargingRateUnitEnumType,
    IdTokenEnumType,
    RecurrencyKindEnumType,
    UpdateEnumType,
)
from rest_framework import serializers

from chargepoints import ocpp
from transactions import selectors as tx_selectors


def values(enum) -> list[str]:
    return [member.value for member in enum]


STATION_MAX_PROFILE = "ChargingStationMaxProfile"
# ChargePointMaxProfile is 1.6's name of ChargingStationMaxProfile; either is accepted.
PURPOSES = [STATION_MAX_PROFILE, "ChargePointMaxProfile", "TxDefaultProfile", "TxProfile"]
# DiagnosticsStatusNotification is 1.6's name of LogStatusNotification; either is accepted.
TRIGGER_MESSAGES = [
    "BootNotification",
    "Heartbeat",
    "StatusNotification",
    "MeterValues",
    "FirmwareStatusNotification",
    "DiagnosticsStatusNotification",
    "LogStatusNotification",
]


class EnumField(serializers.ChoiceField):
    """A ChoiceField documented as the named enum component `enum_name` (drf-spectacular names
    enums after the field otherwise, and warns when two fields of one name differ: "type", "purpose")."""

    def __init__(self, *, enum_name: str, **kwargs):
        self.enum_name = enum_name
        super().__init__(**kwargs)


class EnumFieldExtension(OpenApiSerializerFieldExtension):
    target_class = EnumField
    match_subclasses = True

    def get_name(self):
        return self.target.enum_name

    def map_serializer_field(self, auto_schema, direction):
        return {**build_basic_type(OpenApiTypes.STR), "enum": list(self.target.choices)}


class AwareDateTimeField(serializers.DateTimeField):
    """A datetime with its offset (ISO 8601 "…Z" or "…+01:00", or an aware datetime); a naive one is refused.

    A time without an offset would be read in the server's time zone, which
    an integrator cannot see: a firmware update or a reservation would then
    be off by hours.
    """

    def enforce_timezone(self, value):
        if timezone.is_naive(value):
            raise serializers.ValidationError("Give the time with its offset, e.g. 2030-01-01T08:00:00Z.")
        return super().enforce_timezone(value)


def validate_uri(value: str) -> str:
    """`value` if it has the shape scheme://rest, else ValidationError."""
    # The schemas say format "uri"; stations use ftp://, ftps://, http(s):// and vendor
    # schemes alike, so only the shape scheme://rest is checked.
    scheme, sep, rest = value.partition("://")
    if not sep or not scheme or not rest or not scheme.replace("+", "").replace("-", "").replace(".", "").isalnum():
        raise serializers.ValidationError("An absolute URI is needed, e.g. ftp://user:password@host/path/.")
    return value


def evse_field(*, required: bool, whole: bool, help_text: str = "", **kwargs) -> serializers.IntegerField:
    text = "EVSE id (OCPP 1.6: connector id)" + (", 0 for the whole charge point" if whole else "")
    return serializers.IntegerField(min_value=0 if whole else 1, required=required, help_text=f"{text}. {help_text}".strip(), **kwargs)


class TransactionField(serializers.IntegerField):
    """A transaction of the charge point in `context["charge_point"]`, by its id in /api/v1/transactions/.

    Validates to the `Transaction` row; an id of another charge point's
    transaction, or of none, fails naming the field.
    """

    def to_internal_value(self, data):
        pk = super().to_internal_value(data)
        charge_point = self.context.get("charge_point")
        transaction = tx_selectors.transaction_of(charge_point_id=charge_point and charge_point.pk, transaction_pk=pk)
        if transaction is None:
            raise serializers.ValidationError(f"no transaction {pk} of {charge_point and charge_point.pk} is known")
        return transaction


class IdTagField(serializers.CharField):
    """An id tag / idToken, no longer than the version of `context["charge_point"]` carries (1.6: 20, 2.0.1: 36)."""

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        charge_point = self.context.get("charge_point")
        if charge_point is not None:
            version = charge_point.version
            limit = ocpp.dialect(version).operations.ID_TAG_MAX_LENGTH
            if len(value) > limit:
                raise serializers.ValidationError(f"OCPP {version} carries id tags of at most {limit} characters")
        return value


def id_tag_field(**kwargs) -> serializers.CharField:
    return IdTagField(
        max_length=36,
        trim_whitespace=False,
        help_text="Id tag / idToken; at most 20 characters for an OCPP 1.6 charge point, 36 for 2.0.1.",
        **kwargs,
    )


# --- input serializers: one per operation ------------------------------------------------------


class StopCharging(serializers.Serializer):
    """The transaction to stop, named one of three ways (exactly one): this system's id, the id the charge
    point knows it by (1.6 transactionId, 2.0.1 station transactionId), or the EVSE it runs on.

    Validates to {"transaction": Transaction}; an unknown or ambiguous one fails naming the field.
    """

    transaction = TransactionField(required=False, help_text="The transaction's id in /api/v1/transactions/.")
    ocpp_transaction_id = serializers.CharField(
        required=False,
        max_length=36,
        help_text="The transactionId the charge point knows it by (`ocpp_transaction_id` in /api/v1/transactions/).",
    )
    evse_id = evse_field(required=False, whole=False, help_text="Stop the active transaction on this EVSE (1.6: connector).")

    def validate(self, data):
        given = [name for name in ("transaction", "ocpp_transaction_id", "evse_id") if data.get(name) is not None]
        if len(given) != 1:
            raise serializers.ValidationError({"transaction": "name the transaction one way: transaction, ocpp_transaction_id or evse_id"})
        charge_point = self.context.get("charge_point")
        charge_point_id = charge_point and charge_point.pk
        if "transaction" in given:
            return {"transaction": data["transaction"]}
        if "evse_id" in given:
            transaction = tx_selectors.transaction_active_on(charge_point_id=charge_point_id, evse_id=data["evse_id"])
            if transaction is None:
                raise serializers.ValidationError({"evse_id": f"no active transaction of {charge_point_id} on EVSE {data['evse_id']}"})
            return {"transaction": transaction}
        ocpp_id = data["ocpp_transaction_id"]
        if charge_point is not None and charge_point.version == "1.6":
            # A 1.6 transactionId is the integer this system issued: its primary key.
            pk = int(ocpp_id) if ocpp_id.isdigit() else None
            transaction = tx_selectors.transaction_of(charge_point_id=charge_point_id, transaction_pk=pk) if pk is not None else None
        else:
            transaction = tx_selectors.transaction_of(charge_point_id=charge_point_id, station_transaction_id=ocpp_id)
        if transaction is None:
            raise serializers.ValidationError({"ocpp_transaction_id": f"no transaction {ocpp_id!r} of {charge_point_id} is known"})
        return {"transaction": transaction}


class Reset(serializers.Serializer):
    type = EnumField(
        enum_name="ResetKindEnum",
        choices=["soft", "hard"],
        default="soft",
        help_text="soft: once idle (1.6 Soft, 2.0.1 OnIdle); hard: at once (1.6 Hard, 2.0.1 Immediate).",
    )
    evse_id = evse_field(required=False, whole=False, help_text="Reset one EVSE only (OCPP 2.0.1 only).")


class Unlock(serializers.Serializer):
    evse_id = evse_field(required=True, whole=False)
    connector_id = serializers.IntegerField(min_value=1, required=False, help_text="Connector of the EVSE (OCPP 2.0.1; default 1).")


class ConnectorOfEvse(serializers.Serializer):
    """A connector_id names a connector within an EVSE: it needs the EVSE."""

    def validate(self, data):
        if data.get("connector_id") and not data.get("evse_id"):
            raise serializers.ValidationError({"connector_id": "give the EVSE of the connector"})
        return data


class ChangeAvailability(ConnectorOfEvse):
    operative = serializers.BooleanField(help_text="true: Operative; false: Inoperative.")
    evse_id = evse_field(required=False, whole=True, default=0)
    connector_id = serializers.IntegerField(min_value=1, required=False, help_text="One connector of the EVSE (OCPP 2.0.1).")


class TriggerMessage(ConnectorOfEvse):
    message = EnumField(
        enum_name="TriggeredMessageEnum",
        choices=TRIGGER_MESSAGES,
        help_text="DiagnosticsStatusNotification is sent to 2.0.1 stations as LogStatusNotification "
        "(and LogStatusNotification to 1.6 ones as DiagnosticsStatusNotification).",
    )
    evse_id = evse_field(required=False, whole=True, help_text="For messages about one EVSE.")
    connector_id = serializers.IntegerField(min_value=1, required=False, help_text="OCPP 2.0.1: a connector of the EVSE.")


class Reserve(serializers.Serializer):
    id_tag = id_tag_field()
    expiry = AwareDateTimeField(help_text="When the reservation ends; in the future.")
    evse_id = evse_field(required=False, whole=True, help_text="Empty or 0: any EVSE.")
    parent_id_tag = id_tag_field(required=False, allow_blank=True)

    def validate_expiry(self, value):
        if value <= timezone.now():
            raise serializers.ValidationError("The expiry must be in the future.")
        return value


class CancelReservation(serializers.Serializer):
    reservation_id = serializers.IntegerField(help_text="The reservation's id (reserve's details.reservation_id).")


class Period(serializers.Serializer):
    start_period_s = serializers.IntegerField(min_value=0, help_text="Seconds from the start of the schedule.")
    limit = serializers.DecimalField(
        max_digits=12, decimal_places=1, min_value=0, help_text="In the schedule's unit (A or W), at most one decimal."
    )
    number_phases = serializers.IntegerField(min_value=1, max_value=3, required=False)


class ChargingProfile(serializers.Serializer):
    """A charging profile in neutral words: OCPP 1.6 ChargingProfile / 2.0.1 ChargingProfileType."""

    charging_profile_id = serializers.IntegerField(min_value=0)
    stack_level = serializers.IntegerField(min_value=0)
    purpose = EnumField(
        enum_name="ChargingProfilePurposeEnum",
        choices=PURPOSES,
        help_text="ChargePointMaxProfile is the OCPP 1.6 name of ChargingStationMaxProfile.",
    )
    kind = EnumField(enum_name="ChargingProfileKindEnum", choices=values(ChargingProfileKindEnumType))
    recurrency = EnumField(
        enum_name="RecurrencyKindEnum", choices=values(RecurrencyKindEnumType), required=False, help_text="Only for Recurring profiles."
    )
    valid_from = AwareDateTimeField(required=False)
    valid_to = AwareDateTimeField(required=False)
    transaction = TransactionField(required=False, help_text="Only for a TxProfile: the transaction's id in /api/v1/transactions/.")
    charging_rate_unit = EnumField(enum_name="ChargingRateUnitEnum", choices=values(ChargingRateUnitEnumType))
    periods = Period(many=True, allow_empty=False)
    duration_s = serializers.IntegerField(min_value=0, required=False)
    start_schedule = AwareDateTimeField(required=False, help_text="Needed by Absolute and Recurring profiles.")
    min_charging_rate = serializers.DecimalField(max_digits=12, decimal_places=1, min_value=0, required=False)

    def validate(self, data):
        errors = {}
        if data["kind"] == "Recurring" and not data.get("recurrency"):
            errors["recurrency"] = "A Recurring profile needs Daily or Weekly."
        if data["kind"] != "Recurring" and data.get("recurrency"):
            errors["recurrency"] = "Only Recurring profiles have a recurrency."
        if data.get("transaction") is not None and data["purpose"] != "TxProfile":
            errors["transaction"] = "Only a TxProfile names a transaction."
        if data.get("valid_from") and data.get("valid_to") and data["valid_to"] <= data["valid_from"]:
            errors["valid_to"] = "Must be after valid_from."
        starts = [p["start_period_s"] for p in data["periods"]]
        if starts != sorted(set(starts)):
            errors["periods"] = "start_period_s must increase from one period to the next."
        if errors:
            raise serializers.ValidationError(errors)
        return data


class SetChargingProfile(ChargingProfile):
    evse_id = evse_field(required=True, whole=True)

    def validate(self, data):
        data = super().validate(data)
        if data["purpose"] in (STATION_MAX_PROFILE, "ChargePointMaxProfile") and data["evse_id"] != 0:
            raise serializers.ValidationError({"evse_id": "A ChargingStationMaxProfile can only be set on EVSE 0."})
        if data["purpose"] == "TxProfile" and data["evse_id"] == 0:
            raise serializers.ValidationError({"evse_id": "A TxProfile applies to an EVSE's transaction: pick one above 0."})
        return data


class StartCharging(serializers.Serializer):
    id_tag = id_tag_field()
    evse_id = evse_field(required=False, whole=False, help_text="Empty lets the charge point choose.")
    id_token_type = EnumField(
        enum_name="IdTokenTypeEnum",
        choices=values(IdTokenEnumType),
        required=False,
        help_text="OCPP 2.0.1 idToken type; default: the id tag's type in /api/v1/id-tags/, else Central.",
    )
    charging_profile = ChargingProfile(required=False, help_text="A TxProfile for the transaction.")
    force = serializers.BooleanField(
        default=False,
        write_only=True,
        help_text="Send it even when the id tag is unknown here or not Accepted (its status in /api/v1/id-tags/).",
    )

    def validate_charging_profile(self, value):
        if value["purpose"] != "TxProfile":
            raise serializers.ValidationError({"purpose": "The profile sent with a start must be a TxProfile."})
        return value

    def validate(self, data):
        """Unless `force`, the id tag must be registered and Accepted: a start the charge point would only refuse
        (or, authorizing remote starts itself, let through for an id tag this system would not bill) is not sent."""
        if not data.pop("force", False):
            id_tag = data["id_tag"]
            if not tx_selectors.id_tags_by_string([id_tag]):
                raise serializers.ValidationError({"id_tag": f"id tag {id_tag!r} is not registered here (force: true sends it anyway)"})
            status = tx_selectors.id_tag_info_for(id_tag)["status"]
            if status != "Accepted":
                raise serializers.ValidationError({"id_tag": f"id tag {id_tag!r} is {status} here (force: true sends it anyway)"})
        return data


class ClearChargingProfile(serializers.Serializer):
    charging_profile_id = serializers.IntegerField(min_value=0, required=False, help_text="Clear this profile only.")
    evse_id = evse_field(required=False, whole=True)
    purpose = EnumField(enum_name="ChargingProfilePurposeEnum", choices=PURPOSES, required=False)
    stack_level = serializers.IntegerField(min_value=0, required=False)

    def validate(self, data):
        if "charging_profile_id" in data and any(k in data for k in ("evse_id", "purpose", "stack_level")):
            raise serializers.ValidationError(
                {"charging_profile_id": "Clear either by id or by evse_id, purpose and stack_level, not both."}
            )
        return data


class CompositeSchedule(serializers.Serializer):
    evse_id = evse_field(required=True, whole=True, help_text="0: the charge point's total.")
    duration_s = serializers.IntegerField(min_value=1, help_text="Seconds from now.")
    charging_rate_unit = EnumField(enum_name="ChargingRateUnitEnum", choices=values(ChargingRateUnitEnumType), required=False)


class SendLocalList(serializers.Serializer):
    update_type = EnumField(
        enum_name="LocalListUpdateTypeEnum",
        choices=values(UpdateEnumType),
        default="Full",
        help_text="Full: every id tag; Differential: those changed since the last list the charge point accepted.",
    )


class UpdateFirmware(serializers.Serializer):
    location = serializers.CharField(max_length=512, validators=[validate_uri], help_text="URI to download from.")
    retrieve_date = AwareDateTimeField(help_text="Download from this time on.")
    retries = serializers.IntegerField(min_value=0, required=False)
    retry_interval_s = serializers.IntegerField(min_value=0, required=False)


class FetchLogs(serializers.Serializer):
    location = serializers.CharField(max_length=512, validators=[validate_uri], help_text="Directory URI to upload to.")
    retries = serializers.IntegerField(min_value=0, required=False)
    retry_interval_s = serializers.IntegerField(min_value=0, required=False)
    oldest = AwareDateTimeField(required=False, help_text="Oldest log entry to include.")
    latest = AwareDateTimeField(required=False, help_text="Newest log entry to include.")

    def validate(self, data):
        if data.get("oldest") and data.get("latest") and data["latest"] <= data["oldest"]:
            raise serializers.ValidationError({"latest": "Must be after oldest."})
        return data


class GetConfiguration(serializers.Serializer):
    keys = serializers.ListField(
        child=serializers.CharField(max_length=200),
        required=False,
        help_text="Keys to read; empty or left out: all. OCPP 1.6: configuration keys (HeartbeatInterval); "
        "2.0.1: Component.Variable (OCPPCommCtrlr.HeartbeatInterval), read with GetVariables; all keys "
        "are asked for with GetBaseReport and arrive as NotifyReport.",
    )


class ChangePassword(serializers.Serializer):
    password = serializers.CharField(
        required=False,
        min_length=16,
        max_length=40,
        trim_whitespace=False,
        help_text="The new Basic-auth password (16 to 40 printable ASCII characters); left out, one is generated. "
        "It is in the answer's details once, and stored only as a hash.",
    )

    def validate_password(self, value):
        from chargepoints import security

        try:
            security.password_check_shape(value)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from None
        return value


class ChangeConfiguration(serializers.Serializer):
    key = serializers.CharField(max_length=200, help_text="OCPP 1.6: the configuration key; 2.0.1: Component.Variable.")
    value = serializers.CharField(max_length=1000, allow_blank=True, trim_whitespace=False, help_text="Sent exactly as given.")


# Certificates (1.6 Security Whitepaper M03–M05, 2.0.1 M03–M05). The neutral names are 2.0.1's;
# 1.6's CentralSystemRootCertificate is accepted for CSMSRootCertificate.
INSTALL_CERTIFICATE_TYPES = ["CSMSRootCertificate", "ManufacturerRootCertificate", "V2GRootCertificate", "MORootCertificate"]
CERTIFICATE_ID_TYPES = [*INSTALL_CERTIFICATE_TYPES, "V2GCertificateChain"]
CERTIFICATE_TYPE_ALIASES = {"CentralSystemRootCertificate": "CSMSRootCertificate"}


class CertificateTypeField(EnumField):
    """A certificate type in 2.0.1's words; 1.6's CentralSystemRootCertificate is read as CSMSRootCertificate."""

    def to_internal_value(self, data):
        return super().to_internal_value(CERTIFICATE_TYPE_ALIASES.get(data, data))


class InstallCertificate(serializers.Serializer):
    certificate_type = CertificateTypeField(
        enum_name="InstallCertificateUseEnum",
        choices=INSTALL_CERTIFICATE_TYPES,
        help_text="What the certificate is to the station; OCPP 1.6 knows CSMSRootCertificate (its CentralSystemRootCertificate) "
        "and ManufacturerRootCertificate only.",
    )
    certificate = serializers.CharField(max_length=5500, help_text="One X.509 certificate, PEM.")

    def validate_certificate(self, value):
        from chargepoints import pki

        try:
            certificates = pki.load_certificates(value)
        except pki.PkiError as error:
            raise serializers.ValidationError(str(error)) from None
        if len(certificates) != 1:
            raise serializers.ValidationError(f"One certificate, not {len(certificates)}.")
        return pki.pem_of(certificates[0])


class GetInstalledCertificateIds(serializers.Serializer):
    certificate_types = serializers.ListField(
        child=CertificateTypeField(enum_name="GetCertificateIdUseEnum", choices=CERTIFICATE_ID_TYPES),
        required=False,
        allow_empty=True,
        help_text="Types to list; empty or left out: all (OCPP 2.0.1). OCPP 1.6 asks for exactly one, "
        "CSMSRootCertificate or ManufacturerRootCertificate.",
    )


class DeleteCertificate(serializers.Serializer):
    hash_algorithm = EnumField(enum_name="HashAlgorithmEnum", choices=["SHA256", "SHA384", "SHA512"], default="SHA256")
    issuer_name_hash = serializers.RegexField(r"^[0-9A-Fa-f]{1,128}$", help_text="Hex hash of the issuer's name, as listed.")
    issuer_key_hash = serializers.RegexField(r"^[0-9A-Fa-f]{1,128}$", help_text="Hex hash of the issuer's public key, as listed.")
    serial_number = serializers.RegexField(r"^[0-9A-Fa-f]{1,40}$", help_text="The certificate's serial number in hex, as listed.")


class RenewCertificate(serializers.Serializer):
    """No arguments: the station is asked to send a SignCertificate with a new CSR."""
