"""Input and output shapes of the charge point API (/api/v1/chargepoints/).

Timestamps are ISO 8601 in UTC; empty strings mean "not reported".
"""

from rest_framework import serializers

from chargepoints.models import identity_validator


class ConnectorOutputSerializer(serializers.Serializer):
    """Current status of one connector as last reported by StatusNotification (OCPP 1.6 §4.9).

    Connector 0 is the charge point as a whole.
    """

    connector_id = serializers.IntegerField()
    status = serializers.CharField(help_text="ChargePointStatus, e.g. Available, Charging, Faulted.")
    error_code = serializers.CharField(help_text="ChargePointErrorCode, e.g. NoError.")
    info = serializers.CharField()
    vendor_id = serializers.CharField()
    vendor_error_code = serializers.CharField()
    status_timestamp = serializers.DateTimeField(allow_null=True, help_text="When the charge point says it changed.")
    updated_at = serializers.DateTimeField(help_text="When this system stored the status.")


class ChargePointListOutputSerializer(serializers.Serializer):
    """A charge point as listed: identity, liveness, what it is, and its connectors."""

    id = serializers.CharField(help_text="OCPP identity (chargeBoxIdentity).")
    description = serializers.CharField()
    online = serializers.BooleanField(
        help_text="Socket open and a frame received within two heartbeat intervals plus a minute."
    )
    connected = serializers.BooleanField(help_text="A socket is open, as last recorded.")
    last_seen = serializers.DateTimeField(allow_null=True, help_text="Last frame received.")
    ocpp_version = serializers.CharField(help_text='OCPP version of the last connection, e.g. "1.6".')
    vendor = serializers.CharField()
    model = serializers.CharField()
    firmware_version = serializers.CharField()
    connectors = ConnectorOutputSerializer(many=True)


class ChargePointDetailOutputSerializer(ChargePointListOutputSerializer):
    """A charge point with everything its last BootNotification and status notifications reported."""

    serial_number = serializers.CharField()
    charge_box_serial_number = serializers.CharField()
    iccid = serializers.CharField()
    imsi = serializers.CharField()
    meter_type = serializers.CharField()
    meter_serial_number = serializers.CharField()
    connected_at = serializers.DateTimeField(allow_null=True)
    disconnected_at = serializers.DateTimeField(allow_null=True)
    last_heartbeat = serializers.DateTimeField(allow_null=True)
    last_boot_at = serializers.DateTimeField(allow_null=True)
    firmware_status = serializers.CharField(help_text="Last FirmwareStatusNotification status (OCPP 1.6 §4.5).")
    firmware_status_at = serializers.DateTimeField(allow_null=True)
    diagnostics_status = serializers.CharField(help_text="Last DiagnosticsStatusNotification status (OCPP 1.6 §4.4).")
    diagnostics_status_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()


class ChargePointCreateInputSerializer(serializers.Serializer):
    """Registering a charge point: its identity and an optional description."""

    # No whitespace trimming: " CP-1" is not the identity "CP-1" and must be refused.
    id = serializers.CharField(
        max_length=48,
        trim_whitespace=False,
        validators=[identity_validator],
        help_text="OCPP identity: 1 to 48 characters of a-z A-Z 0-9 * - _ = : + | @ .",
    )
    description = serializers.CharField(max_length=200, allow_blank=True, default="")


class ChargePointUpdateInputSerializer(serializers.Serializer):
    """What an operator may change on a charge point: its description."""

    description = serializers.CharField(max_length=200, allow_blank=True)
