"""Operators' admin for charge points and what they reported.

Everything a charge point reported is read-only here: it is the charge
point's word, and the next frame would overwrite an edit anyway. Operators
register charge points (identity and description) and read their history.
Those with the change permission also send them OCPP commands: a page per
operation (`admin_commands`) and bulk list actions; the command log shows
every command, from whichever door it came.
"""

from urllib.parse import urlencode

from django.contrib import admin
from django.forms.models import BaseInlineFormSet
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.timezone import localtime

from transactions.models import MeterValue, Reservation, Transaction

from . import commands, operations
from .admin_commands.outcomes import attempt, command_answer, pretty_json, summarise
from .admin_commands.views import command_links, command_view
from .models import (
    BootNotification,
    ChargePoint,
    ChargingProfile,
    ChargingProfileInstallation,
    Command,
    CommandSource,
    ConfigurationKey,
    Connector,
    DataTransfer,
    DiagnosticsStatusNotification,
    FirmwareStatusNotification,
    StatusNotification,
)
from .selectors import charge_point_list

# The charge point page lists this many of its latest commands; the command log has the rest.
RECENT_COMMANDS = 10

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


def pretty_json_block(value):
    """`value` as indented JSON in a <pre>, for read-only JSON fields."""
    if value is None:
        return None
    return format_html('<pre style="white-space: pre-wrap; margin: 0">{}</pre>', pretty_json(value))


class ReadOnlyInlineFormSet(BaseInlineFormSet):
    """An inline formset that never reads POSTed data: its rows cannot change from the page.

    The parent's change form POSTs its own fields; an unbound formset needs no
    management form in that POST and has nothing to validate or save.
    """

    def __init__(self, data=None, files=None, *args, **kwargs):
        super().__init__(None, None, *args, **kwargs)

    def is_valid(self):
        return True

    def save(self, commit=True):
        # The admin's change message reads these after saving.
        self.new_objects, self.changed_objects, self.deleted_objects = [], [], []
        return []


class ReadOnlyInline(admin.TabularInline):
    """A view-only tabular inline of rows the system writes."""

    formset = ReadOnlyInlineFormSet
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


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


class ConfigurationKeyInline(ReadOnlyInline):
    """Configuration keys as last reported (GetConfiguration) or accepted (ChangeConfiguration)."""

    model = ConfigurationKey
    verbose_name_plural = "configuration (as last reported; refresh with GetConfiguration)"
    fields = readonly_fields = ("key", "value", "readonly", to_the_second("updated_at"))


class ActiveChargingProfileInline(ReadOnlyInline):
    """The charging profiles installed now, by connector (cleared ones are on the profile's page)."""

    model = ChargingProfileInstallation
    verbose_name = "installed charging profile"
    verbose_name_plural = "installed charging profiles"
    fields = readonly_fields = (
        "connector_id",
        "profile",
        "purpose",
        "stack_level",
        "kind",
        "charging_rate_unit",
        to_the_second("installed_at"),
    )

    def get_queryset(self, request):
        return super().get_queryset(request).filter(cleared_at__isnull=True).select_related("profile")

    @admin.display(description="purpose")
    def purpose(self, obj):
        return obj.profile.purpose

    @admin.display(description="stack level")
    def stack_level(self, obj):
        return obj.profile.stack_level

    @admin.display(description="kind")
    def kind(self, obj):
        return obj.profile.kind

    @admin.display(description="rate unit")
    def charging_rate_unit(self, obj):
        return (obj.profile.schedule or {}).get("chargingRateUnit")


@admin.register(ChargePoint)
class ChargePointAdmin(admin.ModelAdmin):
    """Charge points: registering them, their state, connectors and links to their history.

    Operators with the change permission also command them: a page per OCPP
    1.6 operation (`command/<Action>/`, linked from the charge point page) and
    bulk list actions; every command is logged with the operator as its user.
    """

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
    inlines = (ConnectorInline, ConfigurationKeyInline, ActiveChargingProfileInline)
    actions = (
        "reset_soft",
        "reset_hard",
        "make_operative",
        "make_inoperative",
        "get_configuration",
        "clear_cache",
        "send_full_local_list",
    )
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
        ("Local authorization list", {"fields": ("local_list_version", "local_list_synced_at")}),
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

    def get_urls(self):
        # Before the admin's own patterns: its "<path:object_id>/" catch-all would take these.
        command = path(
            "<path:object_id>/command/<str:action>/",
            self.admin_site.admin_view(self.command_view),
            name=f"{self.opts.app_label}_{self.opts.model_name}_command",
        )
        return [command, *super().get_urls()]

    def command_view(self, request, object_id, action):
        """The page that sends OCPP 1.6 `action` to the charge point (see `admin_commands.views`)."""
        return command_view(self, request, object_id, action)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context.update(self.commands_context(request, obj))
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    def commands_context(self, request, obj) -> dict:
        """The charge point page's Commands box: links to each command page and the latest commands."""
        recent = list(obj.commands.select_related("user")[:RECENT_COMMANDS])
        for command in recent:
            command.answer = command_answer(command)
        can_send = self.has_change_permission(request, obj)
        return {
            "can_send_commands": can_send,
            "command_links": command_links(obj.pk) if can_send else [],
            "recent_commands": recent,
            "command_log_url": changelist_url(Command, charge_point__id__exact=obj.pk),
        }

    def send_to_each(self, request, queryset, label: str, action: str, send) -> None:
        """Send to every selected charge point, one after the other, and report all outcomes in one message.

        `send(charge_point_id)` returns a CommandResult or raises a
        CommandError; an offline charge point fails at once, so it costs the
        others no time.
        """
        charge_point_ids = queryset.prefetch_related(None).order_by("pk").values_list("pk", flat=True)
        outcomes = [attempt(cp_id, action, lambda cp_id=cp_id: send(cp_id)) for cp_id in charge_point_ids]
        text, level = summarise(label, outcomes)
        self.message_user(request, text, level)

    def _call_each(self, request, queryset, label, action, payload):
        self.send_to_each(
            request,
            queryset,
            label,
            action,
            lambda cp_id: commands.call(cp_id, action, payload, source=CommandSource.ADMIN, user=request.user),
        )

    @admin.action(description="Reset (soft)", permissions=["change"])
    def reset_soft(self, request, queryset):
        self._call_each(request, queryset, "Reset (soft)", "Reset", {"type": "Soft"})

    @admin.action(description="Reset (hard)", permissions=["change"])
    def reset_hard(self, request, queryset):
        self._call_each(request, queryset, "Reset (hard)", "Reset", {"type": "Hard"})

    @admin.action(description="Change availability: Operative", permissions=["change"])
    def make_operative(self, request, queryset):
        payload = {"connectorId": 0, "type": "Operative"}
        self._call_each(request, queryset, "Change availability: Operative", "ChangeAvailability", payload)

    @admin.action(description="Change availability: Inoperative", permissions=["change"])
    def make_inoperative(self, request, queryset):
        payload = {"connectorId": 0, "type": "Inoperative"}
        self._call_each(request, queryset, "Change availability: Inoperative", "ChangeAvailability", payload)

    @admin.action(description="Get configuration", permissions=["change"])
    def get_configuration(self, request, queryset):
        self._call_each(request, queryset, "Get configuration", "GetConfiguration", {})

    @admin.action(description="Clear cache", permissions=["change"])
    def clear_cache(self, request, queryset):
        self._call_each(request, queryset, "Clear cache", "ClearCache", {})

    @admin.action(description="Send local list (full)", permissions=["change"])
    def send_full_local_list(self, request, queryset):
        self.send_to_each(
            request,
            queryset,
            "Send local list (full)",
            "SendLocalList",
            lambda cp_id: operations.send_local_list(
                charge_point_id=cp_id, update_type="Full", source=CommandSource.ADMIN, user=request.user
            ),
        )

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
            (Command, "commands"),
            (Reservation, "reservations"),
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


@admin.display(description="command", ordering="command_id")
def command_link(obj):
    """A link to the command a notification reports on, by its id (no join)."""
    if obj.command_id is None:
        return None
    url = reverse("admin:chargepoints_command_change", args=[obj.command_id])
    return format_html('<a href="{}">#{}</a>', url, obj.command_id)


@admin.register(FirmwareStatusNotification)
class FirmwareStatusNotificationAdmin(ChargePointHistoryAdmin):
    """History of firmware update progress, each with the UpdateFirmware it reports on."""

    list_display = ("received_at", "charge_point", "status", command_link)
    list_filter = ("status",)


@admin.register(DiagnosticsStatusNotification)
class DiagnosticsStatusNotificationAdmin(ChargePointHistoryAdmin):
    """History of diagnostics upload progress, each with the GetDiagnostics it reports on."""

    list_display = ("received_at", "charge_point", "status", command_link)
    list_filter = ("status",)


class CommandActionFilter(admin.SimpleListFilter):
    """Filter the command log by action, from the fixed list of operations (no SELECT DISTINCT)."""

    title = "action"
    parameter_name = "action"

    def lookups(self, request, model_admin):
        return [(action, action) for action in commands.actions_for("1.6")]

    def queryset(self, request, queryset):
        return queryset.filter(action=self.value()) if self.value() else queryset


@admin.register(Command)
class CommandAdmin(ReadOnlyAdmin):
    """The command log: every CALL the central system sent, who sent it and what came back."""

    list_display = (
        to_the_second("created_at"),
        "charge_point",
        "action",
        "source",
        "user",
        "status",
        "response_status",
        "round_trip_ms",
    )
    list_filter = ("status", CommandActionFilter, "source")
    list_select_related = ("charge_point", "user")
    search_fields = ("charge_point__id", "action")
    search_help_text = "Charge point identity or action"
    date_hierarchy = "created_at"
    show_full_result_count = False
    fieldsets = (
        (None, {"fields": ("charge_point", "action", "source", "user", "status", "unique_id")}),
        ("Timing", {"fields": ("created_at", "sent_at", "completed_at", "round_trip_ms")}),
        ("Request", {"fields": ("payload_json",)}),
        ("Answer", {"fields": ("response_status", "response_json")}),
        ("CALLERROR", {"fields": ("error_code", "error_description", "error_details_json")}),
    )
    readonly_fields = ("payload_json", "response_status", "response_json", "error_details_json")

    @admin.display(description="answer status")
    def response_status(self, obj):
        return obj.response_status or None

    @admin.display(description="payload")
    def payload_json(self, obj):
        return pretty_json_block(obj.payload)

    @admin.display(description="response")
    def response_json(self, obj):
        return pretty_json_block(obj.response)

    @admin.display(description="error details")
    def error_details_json(self, obj):
        return pretty_json_block(obj.error_details)


class ChargingProfileInstallationInline(ReadOnlyInline):
    """Where a charging profile is or was installed."""

    model = ChargingProfileInstallation
    verbose_name = "installation"
    fields = readonly_fields = (
        "charge_point",
        "connector_id",
        to_the_second("installed_at"),
        to_the_second("cleared_at"),
    )


@admin.register(ChargingProfile)
class ChargingProfileAdmin(ReadOnlyAdmin):
    """Charging profiles as sent with SetChargingProfile (OCPP 1.6 §7.8), with where they are installed."""

    list_display = (
        "charging_profile_id",
        "charge_point",
        "purpose",
        "stack_level",
        "kind",
        "recurrency_kind",
        "charging_rate_unit",
        "valid_from",
        "valid_to",
        "transaction_id",
        "created_at",
    )
    list_filter = ("purpose", "kind")
    inlines = (ChargingProfileInstallationInline,)
    fields = (
        "charging_profile_id",
        "charge_point",
        "purpose",
        "stack_level",
        "kind",
        "recurrency_kind",
        "valid_from",
        "valid_to",
        "transaction_id",
        "schedule_json",
        "created_at",
    )
    readonly_fields = ("schedule_json",)

    @admin.display(description="rate unit")
    def charging_rate_unit(self, obj):
        return (obj.schedule or {}).get("chargingRateUnit")

    @admin.display(description="charging schedule")
    def schedule_json(self, obj):
        return pretty_json_block(obj.schedule)
