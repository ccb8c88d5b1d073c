"""Operators' admin for charge points and what they reported.

Everything a charge point reported is read-only here: it is the charge
point's word, and the next frame would overwrite an edit anyway. Operators
register charge points (identity and description) and read their history.
"""

from urllib.parse import urlencode

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html_join
from django.utils.timezone import localtime

from transactions.models import MeterValue, Transaction

from .models import (
    BootNotification,
    ChargePoint,
    Connector,
    DataTransfer,
    DiagnosticsStatusNotification,
    FirmwareStatusNotification,
    StatusNotification,
)
from .selectors import charge_point_list

admin.site.site_header = "CSMS"
admin.site.site_title = "CSMS"
admin.site.index_title = "Central system administration"


def changelist_url(model, **params) -> str:
    """URL of `model`'s admin changelist, filtered by the lookups in `params`."""
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    return f"{url}?{urlencode(params)}" if params else url


def to_the_second(field_name: str):
    """A list or read-only column showing the datetime `field_name` as YYYY-MM-DD HH:MM:SS.

    The admin's default format stops at minutes, which hides the cadence of
    heartbeats and meter values.
    """

    @admin.display(description=field_name.replace("_", " "), ordering=field_name)
    def column(obj):
        value = getattr(obj, field_name)
        return None if value is None else localtime(value).strftime("%Y-%m-%d %H:%M:%S")

    column.__name__ = field_name
    return column


class ReadOnlyAdmin(admin.ModelAdmin):
    """A view-only admin for rows the system writes from OCPP frames.

    Superusers may still delete, so that deleting a charge point can cascade
    to its history (the admin refuses a cascade into models the user may not
    delete).
    """

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser


class ConnectorInline(admin.TabularInline):
    """Current status of each connector, as last reported by StatusNotification."""

    model = Connector
    fields = readonly_fields = (
        "connector_id",
        "status",
        "error_code",
        "info",
        "vendor_id",
        "vendor_error_code",
        "status_timestamp",
        "updated_at",
    )
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ChargePoint)
class ChargePointAdmin(admin.ModelAdmin):
    """Charge points: registering them, their state, connectors and links to their history."""

    list_display = (
        "id",
        "online",
        to_the_second("last_seen"),
        to_the_second("last_heartbeat"),
        "vendor",
        "model",
        "firmware_version",
        "ocpp_version",
        "connector_statuses",
    )
    list_filter = ("connected", "vendor", "ocpp_version")
    search_fields = ("id", "vendor", "model", "serial_number", "charge_box_serial_number")
    inlines = (ConnectorInline,)
    add_fieldsets = ((None, {"fields": ("id", "description")}),)
    fieldsets = (
        (None, {"fields": ("id", "description", "online", "history")}),
        (
            "Connection",
            {
                "fields": (
                    "ocpp_version",
                    "connected",
                    "connected_at",
                    "disconnected_at",
                    "last_seen",
                    "last_heartbeat",
                    "last_boot_at",
                )
            },
        ),
        (
            "Reported at boot",
            {
                "fields": (
                    "vendor",
                    "model",
                    "serial_number",
                    "charge_box_serial_number",
                    "firmware_version",
                    "iccid",
                    "imsi",
                    "meter_type",
                    "meter_serial_number",
                )
            },
        ),
        (
            "Firmware and diagnostics",
            {"fields": ("firmware_status", "firmware_status_at", "diagnostics_status", "diagnostics_status_at")},
        ),
        (None, {"fields": ("created_at",)}),
    )

    def get_queryset(self, request):
        return charge_point_list()

    def get_fieldsets(self, request, obj=None):
        return self.add_fieldsets if obj is None else self.fieldsets

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        # The identity is the primary key: "editing" it would save a second
        # charge point rather than rename this one.
        fields = [f for fieldset in self.fieldsets for f in fieldset[1]["fields"]]
        return [f for f in fields if f != "description"]

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else ()

    def save_model(self, request, obj, form, change):
        if change:
            # Every other column belongs to the consumer, which may be writing
            # it right now: a full save would undo a disconnect or a boot.
            obj.save(update_fields=["description"])
        else:
            # A plain save() of a set primary key UPDATEs a row that exists, so
            # a charge point the consumer registered meanwhile would be wiped.
            obj.save(force_insert=True)

    @admin.display(boolean=True)
    def online(self, obj):
        return obj.online

    @admin.display(description="connectors")
    def connector_statuses(self, obj):
        # Reads the prefetched connectors: one query for the whole page.
        return ", ".join(f"{c.connector_id}: {c.status}" for c in obj.connectors.all()) or None

    @admin.display(description="history")
    def history(self, obj):
        links = [
            (BootNotification, "boots"),
            (StatusNotification, "status history"),
            (Transaction, "transactions"),
            (MeterValue, "meter values"),
            (DataTransfer, "data transfers"),
            (FirmwareStatusNotification, "firmware statuses"),
            (DiagnosticsStatusNotification, "diagnostics statuses"),
        ]
        return format_html_join(
            " · ",
            '<a href="{}">{}</a>',
            ((changelist_url(model, charge_point__id__exact=obj.pk), text) for model, text in links),
        )


class ChargePointHistoryAdmin(ReadOnlyAdmin):
    """Common shape of the per-charge-point history admins."""

    list_select_related = ("charge_point",)
    search_fields = ("charge_point__id",)
    search_help_text = "Charge point identity"
    date_hierarchy = "received_at"


@admin.register(BootNotification)
class BootNotificationAdmin(ChargePointHistoryAdmin):
    """Every BootNotification received, newest first."""

    list_display = ("received_at", "charge_point", "vendor", "model", "firmware_version", "serial_number", "status")
    list_filter = ("status", "vendor")


@admin.register(StatusNotification)
class StatusNotificationAdmin(ChargePointHistoryAdmin):
    """The full connector status history."""

    list_display = (
        "received_at",
        "charge_point",
        "connector_id",
        "status",
        "error_code",
        "info",
        "vendor_error_code",
        "timestamp",
    )
    list_filter = ("status", "error_code")


@admin.register(DataTransfer)
class DataTransferAdmin(ChargePointHistoryAdmin):
    """Vendor-specific DataTransfer requests and what we answered."""

    list_display = ("received_at", "charge_point", "vendor_id", "message_id", "status")
    list_filter = ("status", "vendor_id")
    search_fields = ("charge_point__id", "vendor_id", "message_id")
    search_help_text = "Charge point identity, vendor id or message id"


@admin.register(FirmwareStatusNotification)
class FirmwareStatusNotificationAdmin(ChargePointHistoryAdmin):
    """History of firmware update progress."""

    list_display = ("received_at", "charge_point", "status")
    list_filter = ("status",)


@admin.register(DiagnosticsStatusNotification)
class DiagnosticsStatusNotificationAdmin(ChargePointHistoryAdmin):
    """History of diagnostics upload progress."""

    list_display = ("received_at", "charge_point", "status")
    list_filter = ("status",)
