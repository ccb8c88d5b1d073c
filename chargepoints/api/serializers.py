"""Input and output shapes of the charge point API (/api/v1/chargepoints/).

Timestamps are ISO 8601 in UTC; empty strings mean "not reported".
"""

from rest_framework import serializers

from chargepoints.models import RegistrationStatus, SecurityProfile, identity_validator


class ConnectorOutputSerializer(serializers.Serializer):
    """Current status of one connector as last reported by StatusNotification (OCPP 1.6 §4.9, 2.0.1 G01).

    A 2.0.1 station numbers connectors within each EVSE; a 1.6 connector N is
    EVSE N with one connector N. EVSE and connector 0 is the charge point as a whole.
    """

    evse_id = serializers.IntegerField(help_text="OCPP 2.0.1 evseId; for OCPP 1.6 equal to connector_id.")
    connector_id = serializers.IntegerField()
    status = serializers.CharField(
        help_text="1.6 ChargePointStatus (Available, Charging, Faulted …) or 2.0.1 ConnectorStatusEnumType "
        "(Available, Occupied, Reserved, Unavailable, Faulted)."
    )
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
    online = serializers.BooleanField(help_text="Socket open and a frame received within two heartbeat intervals plus a minute.")
    connected = serializers.BooleanField(help_text="A socket is open, as last recorded.")
    last_seen = serializers.DateTimeField(allow_null=True, help_text="Last frame received.")
    ocpp_version = serializers.CharField(help_text='OCPP version of the last connection: "1.6" or "2.0.1".')
    registration_status = serializers.ChoiceField(
        choices=RegistrationStatus.choices,
        help_text="What its next BootNotification is answered (1.6 §4.2, 2.0.1 B01–B03); a 2.0.1 station "
        "not Accepted may send nothing but BootNotification.",
    )
    security_profile = serializers.ChoiceField(
        choices=SecurityProfile.choices,
        allow_null=True,
        help_text="How it must prove who it is (OCPP 1.6 Security Whitepaper §2, 2.0.1 A00): 0 none, 1 Basic auth, "
        "2 Basic auth over TLS, 3 TLS client certificate; null: the deployment's OCPP_SECURITY_PROFILE.",
    )
    effective_security_profile = serializers.IntegerField(help_text="The profile in force: security_profile, or the default.")
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
    password_set = serializers.SerializerMethodField(help_text="Whether a Basic-auth password is set (never the password).")
    password_set_at = serializers.DateTimeField(allow_null=True, help_text="When the password in force was set or rotated.")
    password_rotation_pending = serializers.SerializerMethodField(
        help_text="A change-password command was accepted and the charge point has not reconnected with the new one yet."
    )

    def get_password_set(self, cp) -> bool:
        return bool(cp.password_hash)

    def get_password_rotation_pending(self, cp) -> bool:
        return bool(cp.pending_password_hash)


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
    """What an operator may change on a charge point: description, registration status, security profile; all optional."""

    description = serializers.CharField(max_length=200, allow_blank=True, required=False)
    registration_status = serializers.ChoiceField(
        choices=RegistrationStatus.choices,
        required=False,
        help_text="Answered to its next BootNotification; takes effect when it boots again.",
    )
    security_profile = serializers.ChoiceField(
        choices=SecurityProfile.choices,
        required=False,
        allow_null=True,
        help_text="0 none, 1, 2 or 3; null: the deployment default. Checked at its next connection: a charge point "
        "connecting below its profile is refused (downgrade protection, 2.0.1 A05).",
    )


class VariableFilterInputSerializer(serializers.Serializer):
    """Query parameters of a station's device model listing; each an exact name."""

    component = serializers.CharField(required=False, max_length=50, help_text="Component name, e.g. EVSE.")
    variable = serializers.CharField(required=False, max_length=50, help_text="Variable name, e.g. Power.")


class VariableOutputSerializer(serializers.Serializer):
    """One attribute of one variable of a station's OCPP 2.0.1 device model (Part 1 §4).

    Identified by component (name, instance, EVSE, connector), variable (name,
    instance) and attribute type; 0 and "" mean "none". As last reported by
    NotifyReport (B07) or GetVariables (B06), or accepted with SetVariables (B05).
    """

    component = serializers.CharField(help_text="Component name, e.g. OCPPCommCtrlr, EVSE, Connector.")
    component_instance = serializers.CharField()
    evse_id = serializers.IntegerField(help_text="EVSE of the component; 0: none (the station).")
    connector_id = serializers.IntegerField(help_text="Connector of that EVSE; 0: none.")
    variable = serializers.CharField(help_text="Variable name, e.g. HeartbeatInterval.")
    variable_instance = serializers.CharField()
    attribute_type = serializers.CharField(help_text="AttributeEnumType: Actual, Target, MinSet or MaxSet.")
    value = serializers.CharField(
        allow_null=True, help_text="As the station reported it (at most 2500 characters); null when never reported."
    )
    mutability = serializers.CharField(help_text='ReadOnly, WriteOnly or ReadWrite; "" when not reported.')
    unit = serializers.CharField(help_text="Unit of the value, e.g. W, A, s.")
    data_type = serializers.CharField(
        help_text="DataEnumType: string, decimal, integer, dateTime, boolean, OptionList, SequenceList, MemberList."
    )
    updated_at = serializers.DateTimeField(help_text="When this system last stored it.")


class PasswordInputSerializer(serializers.Serializer):
    password = serializers.CharField(
        required=False,
        min_length=16,
        max_length=40,
        trim_whitespace=False,
        help_text="16 to 40 printable ASCII characters; left out, one is generated.",
    )


class PasswordOutputSerializer(serializers.Serializer):
    password = serializers.CharField(help_text="The charge point's Basic-auth password, shown this once.")
