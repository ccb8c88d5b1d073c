"""Read-only histories of what charge points reported, as the admin shows them.

    GET /api/v1/status-notifications/      GET /api/v1/boot-notifications/
    GET /api/v1/firmware-status-notifications/   GET /api/v1/diagnostics-status-notifications/
    GET /api/v1/data-transfers/            GET /api/v1/charging-profiles/

Each is a paginated list (and /<id>/), newest first, filterable by
`charge_point` and `since`/`until` on the time it was received
(`csms.readonly.read_only_viewset`).
"""

import django_filters
from rest_framework import serializers

from chargepoints import selectors
from chargepoints.models import (
    BootNotification,
    ChargingProfile,
    ChargingProfileInstallation,
    DataTransfer,
    DiagnosticsStatusNotification,
    FirmwareStatusNotification,
    StatusNotification,
)
from csms.readonly import read_only_viewset

TAG = "charge point history"

StatusNotificationViewSet = read_only_viewset(
    name="StatusNotification",
    model=StatusNotification,
    selector=selectors.status_notification_list,
    fields=[
        "id",
        "charge_point",
        "evse_id",
        "connector_id",
        "status",
        "error_code",
        "info",
        "vendor_id",
        "vendor_error_code",
        "timestamp",
        "received_at",
    ],
    filters={
        "evse_id": django_filters.NumberFilter(min_value=0, help_text="OCPP 2.0.1 evseId (1.6: the connector)."),
        "connector_id": django_filters.NumberFilter(min_value=0),
        "status": django_filters.CharFilter(help_text="Exact status, e.g. Faulted."),
        "error_code": django_filters.CharFilter(help_text="Exact ChargePointErrorCode, e.g. GroundFailure."),
    },
    ordering_fields=["id", "received_at", "timestamp"],
    tag=TAG,
    description="Status history: every StatusNotification received (OCPP 1.6 §4.9, 2.0.1 G01), newest received first.",
)

BootNotificationViewSet = read_only_viewset(
    name="BootNotification",
    model=BootNotification,
    selector=selectors.boot_notification_list,
    fields=[
        "id",
        "charge_point",
        "received_at",
        "vendor",
        "model",
        "serial_number",
        "charge_box_serial_number",
        "firmware_version",
        "iccid",
        "imsi",
        "meter_type",
        "meter_serial_number",
        "status",
        "reason",
    ],
    filters={"status": django_filters.CharFilter(help_text="Status answered: Accepted, Pending or Rejected.")},
    tag=TAG,
    description="Every BootNotification received (OCPP 1.6 §4.2, 2.0.1 B01) with the status answered, newest first.",
)

FirmwareStatusNotificationViewSet = read_only_viewset(
    name="FirmwareStatusNotification",
    model=FirmwareStatusNotification,
    selector=selectors.firmware_status_list,
    fields=["id", "charge_point", "status", "received_at", "command"],
    filters={"status": django_filters.CharFilter(help_text="Exact status, e.g. Installed, InstallationFailed.")},
    tag=TAG,
    description="Firmware update progress: every FirmwareStatusNotification received (OCPP 1.6 §4.5), newest first; "
    "`command` is the request it reports on (/api/v1/commands/<id>/).",
)

DiagnosticsStatusNotificationViewSet = read_only_viewset(
    name="DiagnosticsStatusNotification",
    model=DiagnosticsStatusNotification,
    selector=selectors.diagnostics_status_list,
    fields=["id", "charge_point", "status", "received_at", "command"],
    filters={"status": django_filters.CharFilter(help_text="Exact status, e.g. Uploaded, UploadFailed.")},
    tag=TAG,
    description="Diagnostics upload progress: every DiagnosticsStatusNotification received (OCPP 1.6 §4.4), newest first.",
)

DataTransferViewSet = read_only_viewset(
    name="DataTransfer",
    model=DataTransfer,
    selector=selectors.data_transfer_list,
    fields=["id", "charge_point", "vendor_id", "message_id", "data", "status", "response_data", "received_at"],
    filters={
        "vendor_id": django_filters.CharFilter(help_text="Exact vendorId."),
        "message_id": django_filters.CharFilter(help_text="Exact messageId."),
    },
    tag=TAG,
    description="Every DataTransfer a charge point sent (OCPP 1.6 §4.3, 2.0.1 P02) and the status answered, newest first.",
)


class _ChargingProfileSerializer(serializers.ModelSerializer):
    """The profile as sent with SetChargingProfile (1.6 §7.8); `schedule` camelCase as sent."""

    transaction = serializers.IntegerField(source="transaction_id", allow_null=True, help_text="A TxProfile's transaction.")

    class Meta:
        model = ChargingProfile
        fields = [
            "charging_profile_id",
            "purpose",
            "stack_level",
            "kind",
            "recurrency_kind",
            "valid_from",
            "valid_to",
            "transaction",
            "schedule",
        ]


ChargingProfileViewSet = read_only_viewset(
    name="ChargingProfileInstallation",
    model=ChargingProfileInstallation,
    selector=selectors.charging_profile_installation_list,
    fields=["id", "charge_point", "evse_id", "installed_at", "cleared_at", "profile"],
    serializer_fields={"profile": _ChargingProfileSerializer(read_only=True)},
    time_field="installed_at",
    filters={
        "evse_id": django_filters.NumberFilter(min_value=0, help_text="EVSE (1.6: connector); 0 the whole charge point."),
        "active": django_filters.BooleanFilter(field_name="cleared_at", lookup_expr="isnull", help_text="true: not cleared."),
        "purpose": django_filters.CharFilter(field_name="profile__purpose", help_text="e.g. TxDefaultProfile."),
    },
    ordering_fields=["id", "installed_at", "cleared_at", "evse_id"],
    tag=TAG,
    description="Charging profiles and where they are installed (an EVSE of a charge point), newest installed first; "
    "cleared_at is set once ClearChargingProfile or a replacement removed it.",
)
