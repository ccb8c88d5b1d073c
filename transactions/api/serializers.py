"""Input and output shapes of the transaction and id tag APIs.

Energies are integers in Wh; timestamps ISO 8601 in UTC.
"""

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.plumbing import build_basic_type
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from transactions import services
from transactions.models import AuthorizationStatus, IdTag, StopSource, Transaction, TransactionStatus
from transactions.selectors import TRANSACTION_DETAIL_METER_VALUES

# OCPP 2.0.1 IdTokenEnumType (C01): what kind of identifier an id token is. Its
# schema component, IdTagTypeEnum, also allows "" (a 1.6 id tag), which is why it
# is not named after the spec's type.
ID_TOKEN_TYPES = [value for value, _ in IdTag._meta.get_field("type").choices]


class NamedChoiceField(serializers.ChoiceField):
    """A ChoiceField whose choices appear in the OpenAPI schema as one named enum component.

    drf-spectacular names enums after the field ("StatusEnum") and warns when
    one field name carries different choice sets, as `status` does here (id
    tag vs transaction status). Naming the enum after what it is avoids the
    collision and lets `status` and `effective_status` share AuthorizationStatus.
    """

    def __init__(self, *, enum_name: str, **kwargs):
        self.enum_name = enum_name
        super().__init__(**kwargs)


class NamedChoiceFieldExtension(OpenApiSerializerFieldExtension):
    """Schema of a NamedChoiceField: a $ref to a string enum component named `enum_name`."""

    target_class = NamedChoiceField
    match_subclasses = True

    def get_name(self):
        return self.target.enum_name

    def map_serializer_field(self, auto_schema, direction):
        # A blank-allowing field says so in its enum: the one component then
        # fits every field sharing the name.
        blank = [""] if self.target.allow_blank else []
        return {**build_basic_type(OpenApiTypes.STR), "enum": list(self.target.choices) + blank}


class MeterValueOutputSerializer(serializers.Serializer):
    """One sampled value (OCPP 1.6 §7.43) at its MeterValue's timestamp; `value` exactly as sent."""

    timestamp = serializers.DateTimeField()
    evse_id = serializers.IntegerField(
        help_text="Where it was measured: OCPP 2.0.1 evseId, or the 1.6 connectorId (connector N is EVSE N); "
        "0: the charge point's main meter."
    )
    measurand = serializers.CharField()
    phase = serializers.CharField()
    unit = serializers.CharField()
    context = serializers.CharField()
    location = serializers.CharField()
    format = serializers.CharField(help_text="Raw or SignedData.")
    value = serializers.CharField()


class TransactionOutputSerializer(serializers.Serializer):
    """A transaction as listed, of an OCPP 1.6 charge point or a 2.0.1 station."""

    id = serializers.IntegerField(
        help_text="This system's id of the transaction (the URL's); for OCPP 1.6 also the transactionId it issued."
    )
    ocpp_transaction_id = serializers.CharField(
        help_text="The transactionId the charge point knows it by: OCPP 1.6 `id` (as text), the station's own for 2.0.1.",
    )
    station_transaction_id = serializers.CharField(
        help_text='OCPP 2.0.1: the transactionId the station chose; "" for 1.6, whose transactionId is `id`.',
    )
    charge_point = serializers.CharField(source="charge_point_id", help_text="Identity of the charge point.")
    evse_id = serializers.IntegerField(allow_null=True, help_text="OCPP 2.0.1 EVSE; null for 1.6.")
    connector_id = serializers.IntegerField(
        allow_null=True, help_text="1.6 connectorId, or the connector of the 2.0.1 EVSE (null if not reported)."
    )
    id_tag = serializers.CharField(help_text="Id tag (2.0.1: idToken) that started the transaction.")
    id_tag_type = serializers.CharField(help_text='OCPP 2.0.1 IdTokenEnumType of the id token; "" for 1.6.')
    id_tag_status = serializers.CharField(help_text="AuthorizationStatus answered at start.")
    charging_state = serializers.CharField(
        help_text='OCPP 2.0.1 ChargingStateEnumType last reported (Charging, EVConnected, SuspendedEV, SuspendedEVSE, Idle); "" for 1.6.'
    )
    reservation_id = serializers.IntegerField(allow_null=True)
    start_timestamp = serializers.DateTimeField(allow_null=True)
    stop_timestamp = serializers.DateTimeField(allow_null=True)
    meter_start_wh = serializers.IntegerField(allow_null=True)
    meter_stop_wh = serializers.IntegerField(allow_null=True)
    energy_wh = serializers.IntegerField(
        allow_null=True,
        help_text="Energy delivered in Wh: meter stop (or, while active, the latest register reading) minus meter start.",
    )
    stop_reason = serializers.CharField(help_text="OCPP stop reason (1.6 Reason, 2.0.1 ReasonEnumType).")
    stop_id_tag = serializers.CharField()
    stop_source = serializers.ChoiceField(
        choices=StopSource.choices,
        allow_blank=True,
        help_text="Who ended it: charge_point (its own stop), policy (the CSMS: the charge point reported no session), "
        'operator (closed by hand); "" while active.',
    )
    stopped_by = serializers.CharField(
        source="stopped_by.get_username", allow_null=True, default=None, help_text="The operator who closed it by hand."
    )
    status = serializers.SerializerMethodField()
    is_orphan = serializers.BooleanField()
    orphan_transaction_id = serializers.IntegerField(allow_null=True, help_text="For an orphan: the transactionId the charge point sent.")

    @extend_schema_field(NamedChoiceField(choices=TransactionStatus.values, enum_name="TransactionStatusEnum"))
    def get_status(self, tx: Transaction) -> str:
        return tx.status.value


class TransactionCloseInputSerializer(serializers.Serializer):
    """Body of POST /api/v1/transactions/<id>/close/."""

    reason = serializers.ChoiceField(
        choices=services.STOP_REASONS, default="Other", help_text="OCPP stop reason recorded on the transaction (default Other)."
    )


class TransactionDetailOutputSerializer(TransactionOutputSerializer):
    """A transaction with a bounded view of its meter values; all of them are paged at `meter_values_url`."""

    last_meter_wh = serializers.IntegerField(allow_null=True, help_text="Latest energy register reading in Wh (null before the first one).")
    last_meter_at = serializers.DateTimeField(allow_null=True, help_text="Timestamp of that reading.")
    meter_values_count = serializers.IntegerField(help_text="Number of sampled values stored for the transaction.")
    meter_values_url = serializers.HyperlinkedIdentityField(
        view_name="transaction-meter-values",
        lookup_field="pk",
        lookup_url_kwarg="id",
        help_text="All its sampled values, oldest first, paginated and filterable.",
    )
    meter_values = MeterValueOutputSerializer(
        many=True,
        source="latest_meter_values",
        help_text=f"The latest {TRANSACTION_DETAIL_METER_VALUES} sampled values at most, oldest first; "
        "complete when meter_values_count is not larger.",
    )


class MeterValueFilterInputSerializer(serializers.Serializer):
    """Query parameters of a transaction's meter value list; every filter is an exact match."""

    measurand = serializers.CharField(required=False, max_length=40, help_text="e.g. Energy.Active.Import.Register.")
    phase = serializers.CharField(
        required=False, allow_blank=True, max_length=8, help_text="e.g. L1, L1-N; empty for values without a phase."
    )
    context = serializers.CharField(required=False, max_length=24, help_text="e.g. Sample.Periodic, Transaction.End.")
    since = serializers.DateTimeField(required=False, help_text="Only values at or after this timestamp.")
    until = serializers.DateTimeField(required=False, help_text="Only values before this timestamp.")


class IdTagOutputSerializer(serializers.Serializer):
    """An id tag as operators see it."""

    id_tag = serializers.CharField()
    type = NamedChoiceField(
        choices=ID_TOKEN_TYPES,
        allow_blank=True,
        enum_name="IdTagTypeEnum",
        help_text='OCPP 2.0.1 IdTokenEnumType; "" for an OCPP 1.6 id tag.',
    )
    status = NamedChoiceField(choices=AuthorizationStatus.choices, enum_name="AuthorizationStatusEnum")
    effective_status = NamedChoiceField(
        choices=AuthorizationStatus.choices,
        enum_name="AuthorizationStatusEnum",
        help_text="What Authorize answers now: Expired once expiry_date has passed.",
    )
    expiry_date = serializers.DateTimeField(allow_null=True)
    parent_id_tag = serializers.CharField(source="parent.id_tag", allow_null=True, help_text="The group id tag.")
    note = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


def validate_id_tag_chars(value: str) -> str:
    """Refuse "/" and non-printable characters in an id tag; raises serializers.ValidationError."""
    # "/" would make the tag unreachable at /api/v1/id-tags/<id_tag>/; control
    # characters are never what a card reader sends.
    if "/" in value or any(not ch.isprintable() for ch in value):
        raise serializers.ValidationError("An id tag may not contain '/' or control characters.")
    return value


class IdTagInputSerializer(serializers.Serializer):
    """Creating (POST), replacing (PUT) or changing (PATCH) an id tag."""

    # Kept exactly as given: the charge point's tag is matched character for character.
    id_tag = serializers.CharField(
        max_length=36,
        trim_whitespace=False,
        validators=[validate_id_tag_chars],
        help_text="As the charge point sends it, matched exactly: an OCPP 1.6 idTag (CiString20) or a 2.0.1 idToken (up to 36 characters).",
    )
    type = NamedChoiceField(
        choices=ID_TOKEN_TYPES,
        allow_blank=True,
        default="",
        enum_name="IdTagTypeEnum",
        help_text='OCPP 2.0.1 IdTokenEnumType (ISO14443, eMAID, Central …); "" (the default) for an OCPP 1.6 id tag.',
    )
    status = NamedChoiceField(
        choices=AuthorizationStatus.choices, enum_name="AuthorizationStatusEnum", default=AuthorizationStatus.ACCEPTED
    )
    expiry_date = serializers.DateTimeField(allow_null=True, default=None)
    parent_id_tag = serializers.SlugRelatedField(
        source="parent",
        slug_field="id_tag",
        queryset=IdTag.objects.all(),
        allow_null=True,
        default=None,
        error_messages={"does_not_exist": "Unknown parent id tag {value!r}."},
        help_text="id_tag of an existing id tag, or null.",
    )
    note = serializers.CharField(max_length=200, allow_blank=True, default="")


# The most rows one import takes; larger lists are sent in parts.
MAX_IMPORT_ROWS = 10000


class IdTagImportRowSerializer(IdTagInputSerializer):
    """One row of an id tag import; the parent is named by its id_tag and may be another row of the import."""

    parent_id_tag = serializers.CharField(max_length=36, allow_null=True, allow_blank=True, default=None, help_text="id_tag of the parent.")
    # CSV cells are strings: an empty expiry date is none.
    expiry_date = serializers.DateTimeField(allow_null=True, default=None)

    def to_internal_value(self, data):
        # A CSV cell is a string: an empty expiry date is none.
        if isinstance(data, dict) and data.get("expiry_date") == "":
            data = {**data, "expiry_date": None}
        return super().to_internal_value(data)


class IdTagImportOutputSerializer(serializers.Serializer):
    created = serializers.IntegerField(help_text="Id tags that did not exist.")
    updated = serializers.IntegerField(help_text="Existing id tags whose fields were replaced.")
