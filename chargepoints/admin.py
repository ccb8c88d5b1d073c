"""Operators' admin for charge points and what they reported.

Everything a charge point reported is read-only here: it is the charge
point's word, and the next frame would overwrite an edit anyway. Operators
register charge points (identity and description), decide how their boots
are answered (registration status) and read their history. Those with the
change permission also send them OCPP commands: a page per operation
(`admin_commands`), bulk list actions, and for OCPP 2.0.1 stations a device
model variable's page, which sends SetVariables (B05) rather than editing the
row; the command log shows every command, from whichever door it came.
"""

from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import quote, unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef
from django.forms.models import BaseInlineFormSet
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.cache import add_never_cache_headers
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator
from django.utils.timezone import localtime
from ocpp.v201.enums import MutabilityEnumType

from transactions.models import MeterValue, Reservation, Transaction

from . import commands, operations, security, services
from .admin_commands.outcomes import Outcome, attempt, attempt_each, command_answer, pretty_json, summarise
from .admin_commands.views import command_links, command_view
from .models import (
    BootNotification,
    Certificate,
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
    InstalledCertificate,
    OcppVersion,
    SecurityEvent,
    StationMessage,
    StatusNotification,
    Variable,
)
from .ocpp import v201
from .permissions import can_send_commands, can_set_password
from .selectors import charge_point_list, security_event_list

# The charge point page lists this many of its latest commands; the command log has the rest.
RECENT_COMMANDS = 10
# … and this many of its latest security events; the security event list has the rest.
RECENT_SECURITY_EVENTS = 5

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


class FixedChoicesFilter(admin.SimpleListFilter):
    """Filter on a field by a fixed list of values (an OCPP enum, or any values).

    Unlike Django's AllValuesFieldListFilter it runs no SELECT DISTINCT, which
    would read a whole large table (meter values, station messages) on every
    page view.
    """

    values: tuple = ()

    @classmethod
    def of(cls, field_name: str, values, title: str):
        """A filter class for `field_name` offering `values`: an Enum class or an iterable of strings."""
        attrs = {
            "parameter_name": field_name,
            "title": title,
            "values": tuple(getattr(v, "value", v) for v in values),
        }
        name = getattr(values, "__name__", field_name.title().replace("_", ""))
        return type(f"{name}Filter", (cls,), attrs)

    def lookups(self, request, model_admin):
        return [(value, value) for value in self.values]

    def queryset(self, request, queryset):
        return queryset.filter(**{self.parameter_name: self.value()}) if self.value() else queryset


def charging_rate_unit(schedule) -> str | None:
    """The chargingRateUnit of a stored schedule: a 1.6 ChargingSchedule (a dict) or 2.0.1's list of them.

    A 2.0.1 profile holds up to three schedules (K01), normally in one unit;
    differing units are listed joined by "/".
    """
    if isinstance(schedule, dict):
        return schedule.get("chargingRateUnit")
    if isinstance(schedule, list):
        units = list(dict.fromkeys(s.get("chargingRateUnit") for s in schedule if isinstance(s, dict)))
        return "/".join(u for u in units if u) or None
    return None


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
    """Current status of each connector, as last reported by StatusNotification.

    EVSE and connector ids are the station's (2.0.1); a 1.6 connector N shows as EVSE N, connector N.
    """

    model = Connector
    fields = readonly_fields = (
        "evse_id",
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
    """The charging profiles installed now, by EVSE (cleared ones are on the profile's page)."""

    model = ChargingProfileInstallation
    verbose_name = "installed charging profile"
    verbose_name_plural = "installed charging profiles"
    fields = readonly_fields = (
        "evse_id",
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
        return charging_rate_unit(obj.profile.schedule)


class PasswordForm(forms.Form):
    """The admin's "set password" form: a password of the operator's, or none to have one generated."""

    password = forms.CharField(
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="16 to 40 printable ASCII characters. Leave empty to generate one (40 hex characters, valid as a "
        "1.6 AuthorizationKey and a 2.0.1 BasicAuthPassword).",
    )

    def clean_password(self) -> str:
        password = self.cleaned_data["password"]
        if password:
            try:
                security.password_check_shape(password)
            except ValueError as exc:
                raise forms.ValidationError(str(exc)) from None
        return password


def renewal_due_text(certificate: Certificate) -> str:
    if certificate.status not in (Certificate.Status.ISSUED, Certificate.Status.INSTALLED):
        return ""
    if certificate.not_after <= localtime():
        return "expired"
    return "renewal due" if certificate.renewal_due else ""


class CertificateInline(ReadOnlyInline):
    """Certificates the CSMS's CA issued to the charge point (SignCertificate), newest first, with renewal status."""

    model = Certificate
    verbose_name = "certificate issued by this CSMS"
    verbose_name_plural = "certificates issued by this CSMS (SignCertificate; renewed by manage.py certificates_renew)"
    fields = readonly_fields = (
        "subject",
        "serial_number",
        "kind",
        "status",
        to_the_second("not_after"),
        "renewal",
        to_the_second("issued_at"),
    )

    def get_queryset(self, request):
        return super().get_queryset(request).order_by("-issued_at", "-id")

    @admin.display(description="renewal")
    def renewal(self, obj):
        return renewal_due_text(obj)


class InstalledCertificateInline(ReadOnlyInline):
    """Certificates the charge point reported installed (GetInstalledCertificateIds) or installed on our request."""

    model = InstalledCertificate
    verbose_name_plural = "installed certificates (as last listed; refresh with List installed certificates)"
    fields = readonly_fields = (
        "certificate_type",
        "subject",
        "serial_number",
        "hash_algorithm",
        "issuer_name_hash",
        to_the_second("reported_at"),
    )


# A connector status's badge colour (class cp-status-<kind>); any other status is amber ("other").
STATUS_KINDS = {
    "Available": "available",
    "Charging": "busy",
    "Occupied": "busy",  # 2.0.1 ConnectorStatusEnumType
    "Faulted": "faulted",
    "Unavailable": "unavailable",
}


def connector_label(connector: Connector, *, v201: bool) -> str:
    """How a connector is named: "EVSE 1 · connector 2" on a 2.0.1 station; "2" for 1.6 (connector N is EVSE N)."""
    if v201:
        return f"EVSE {connector.evse_id} · connector {connector.connector_id}"
    if connector.evse_id == connector.connector_id:
        return str(connector.connector_id)
    return f"{connector.evse_id}/{connector.connector_id}"


def connector_badge(connector: Connector, *, v201: bool):
    """A connector's status now as a coloured badge: "<label>: <status>" in a span of class cp-status-<kind>."""
    status = connector.status or "unknown"
    kind = STATUS_KINDS.get(connector.status, "other")
    title = f"{connector.error_code}" if connector.error_code and connector.error_code != "NoError" else ""
    return format_html(
        '<span class="cp-status cp-status-{}"{}>{}: {}</span>',
        kind,
        format_html(' title="{}"', title) if title else "",
        connector_label(connector, v201=v201),
        status,
    )


class ConnectorStatusNowFilter(admin.SimpleListFilter):
    """Charge points with a connector in a status *now* (its current Connector row), not at some time in the status history."""

    title = "connector status now"
    parameter_name = "connector_status_now"
    STATUSES = {
        "Faulted": ("has a Faulted connector", ("Faulted",)),
        "Unavailable": ("has an Unavailable connector", ("Unavailable",)),
        "Charging": ("has a Charging (2.0.1: Occupied) connector", ("Charging", "Occupied")),
    }

    def lookups(self, request, model_admin):
        return [(value, label) for value, (label, _) in self.STATUSES.items()]

    def queryset(self, request, queryset):
        if self.value() not in self.STATUSES:
            return queryset
        statuses = self.STATUSES[self.value()][1]
        return queryset.filter(Exists(Connector.objects.filter(charge_point=OuterRef("pk"), status__in=statuses)))


@admin.register(ChargePoint)
class ChargePointAdmin(admin.ModelAdmin):
    """Charge points: registering them, their state, connectors and links to their history.

    Operators with the send_command permission (chargepoints.permissions) also command them: a page per
    neutral operation (`command/<operation>/`, linked from the charge point page), "Send any message" and
    bulk list actions, which send each selected charge point its own
    version's message (1.6 or 2.0.1) and all at once; every command is logged
    with the operator as its user.
    They also set the registration status its next BootNotification is
    answered (1.6 §4.2, 2.0.1 B01–B03).
    """

    # Connectors right after the online flag: an operator scans for faults first,
    # and the last columns are off-screen on a 1400 px wide window.
    list_display = (
        "id",
        "online",
        "connector_statuses",
        to_the_second("last_seen"),
        to_the_second("last_heartbeat"),
        "vendor",
        "model",
        "firmware_version",
        "ocpp_version",
        "registration_status",
    )
    list_filter = (ConnectorStatusNowFilter, "connected", "vendor", "ocpp_version", "registration_status")
    # connectors__status: the status each connector is in now ("Faulted" finds the faulted ones).
    search_fields = ("id", "vendor", "model", "serial_number", "charge_box_serial_number", "connectors__status")
    search_help_text = "Identity, vendor, model, serial number, or a connector's status now (e.g. Faulted)"
    inlines = (
        ConnectorInline,
        ConfigurationKeyInline,
        ActiveChargingProfileInline,
        CertificateInline,
        InstalledCertificateInline,
    )
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
    # What operators may change on an existing charge point; every other column is the consumer's.
    editable_fields = ("description", "registration_status", "security_profile")
    fieldsets = (
        (None, {"fields": ("id", "description", "online", "history")}),
        (
            "Registration",
            {
                "fields": ("registration_status", "last_boot_status", "security_profile", "password"),
                "description": "The registration status is answered to the next BootNotification; "
                "the last boot shows what was answered then. A password is set here (or with manage.py "
                "charge_point_password or the API) when the charge point is installed, and rotated on a "
                "connected charge point with the Change password command.",
            },
        ),
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
        ("Security events", {"fields": ("latest_security_events",)}),
        (None, {"fields": ("created_at",)}),
    )

    def get_queryset(self, request):
        return charge_point_list()

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return self.add_fieldsets
        if can_set_password(request.user):
            return self.fieldsets
        # Who may not set a password sees its state without the link to a page that would answer 403.
        return tuple(
            (name, {**options, "fields": tuple("password_state" if f == "password" else f for f in options["fields"])})
            for name, options in self.fieldsets
        )

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        # The identity is the primary key: "editing" it would save a second
        # charge point rather than rename this one.
        fields = [f for fieldset in self.get_fieldsets(request, obj) for f in fieldset[1]["fields"]]
        return [f for f in fields if f not in self.editable_fields]

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        if "registration_status" in form.base_fields:
            # A POST without it (a page rendered before the field was added, a
            # script saving the description) keeps the status rather than failing:
            # the ModelForm leaves an omitted field with a default as it is.
            form.base_fields["registration_status"].required = False
        return form

    def get_inlines(self, request, obj):
        if obj is None:
            return ()
        if obj.ocpp_version == OcppVersion.V201:
            # A 2.0.1 station has no configuration keys: its device model (Variable) replaces them.
            return tuple(inline for inline in self.inlines if inline is not ConfigurationKeyInline)
        return self.inlines

    def get_urls(self):
        # Before the admin's own patterns: its "<path:object_id>/" catch-all would take these.
        command = path(
            "<path:object_id>/command/<str:action>/",
            self.admin_site.admin_view(self.command_view),
            name=f"{self.opts.app_label}_{self.opts.model_name}_command",
        )
        password = path(
            "<path:object_id>/password/",
            self.admin_site.admin_view(self.password_view),
            name=f"{self.opts.app_label}_{self.opts.model_name}_password",
        )
        return [command, password, *super().get_urls()]

    @admin.display(description="Basic-auth password")
    def password(self, obj):
        """Whether a password is set, since when, a rotation in progress, and the link to set one (never the password)."""
        url = reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_password", args=[quote(obj.pk)])
        return format_html('{} · <a href="{}" id="set-password">Set a new password</a>', self.password_state(obj), url)

    @admin.display(description="Basic-auth password")
    def password_state(self, obj):
        """Whether a password is set, since when, and a rotation in progress (never the password)."""
        if obj.password_hash:
            state = format_html("set {}", localtime(obj.password_set_at).strftime("%Y-%m-%d %H:%M:%S") if obj.password_set_at else "")
        else:
            state = "none set: at security profile 1 or 2 this charge point cannot connect"
        if obj.pending_password_hash:
            state = format_html("{}; a rotation waits for the charge point to reconnect with the new one", state)
        return state

    def password_view(self, request, object_id):
        """GET: the form to set the charge point's Basic-auth password. POST: set it and show it, this once.

        Needs the change and send_command permissions (403 otherwise): the
        password decides whether the charge point can connect. It is chosen by the operator or generated (40 hex characters);
        only its hash is kept (`services.charge_point_password_set`). The page
        showing it is not cached and not redirected to, so it is not in the
        browser's history with the password.
        """
        charge_point = self.get_object(request, unquote(object_id))
        if charge_point is None:
            raise Http404(f"No charge point {unquote(object_id)!r}")
        if not can_set_password(request.user):
            raise PermissionDenied
        new_password = None
        if request.method == "POST":
            form = PasswordForm(request.POST)
            if form.is_valid():
                new_password = services.charge_point_password_set(
                    charge_point_id=charge_point.pk, password=form.cleaned_data["password"] or None
                )
                form = PasswordForm()
        else:
            form = PasswordForm()
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Set the password of {charge_point}",
            "charge_point": charge_point,
            "change_url": reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_change", args=[quote(charge_point.pk)]),
            "form": form,
            "new_password": new_password,
            "has_view_permission": self.has_view_permission(request, charge_point),
        }
        response = TemplateResponse(request, "admin/chargepoints/chargepoint/password_form.html", context)
        add_never_cache_headers(response)
        return response

    def command_view(self, request, object_id, action):
        """The command page `action`: a neutral operation or the raw message form (`admin_commands.views`)."""
        return command_view(self, request, object_id, action)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context.update(self.commands_context(request, obj))
            context.update(self.now_context(obj))
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    def commands_context(self, request, obj) -> dict:
        """The charge point page's Commands box: links to each command page and the latest commands."""
        recent = list(obj.commands.select_related("user")[:RECENT_COMMANDS])
        for command in recent:
            command.answer = command_answer(command)
        can_send = self.has_send_command_permission(request, obj)
        return {
            "can_send_commands": can_send,
            "command_links": command_links(obj.pk) if can_send else [],
            "recent_commands": recent,
            "command_log_url": changelist_url(Command, charge_point__id__exact=obj.pk),
        }

    def now_context(self, obj) -> dict:
        """The charge point page's "Now" panel (`chargepoints.now`), rendered as its WebSocket will push it."""
        from .now.panel import now_panel_html  # here, not at the top: it imports connector_badge from this module

        return {"now_panel": now_panel_html(charge_point_id=obj.pk)}

    def has_send_command_permission(self, request, obj=None) -> bool:
        """Whether the user may command charge points: the command pages, bulk actions and the Commands box."""
        return can_send_commands(request.user)

    def send_to_each(self, request, queryset, label: str, action: str, send) -> None:
        """Send to every selected charge point at once and report all outcomes in one message.

        `send(charge_point_id)` returns a CommandResult or raises a
        CommandError. The sends run concurrently (`attempt_each`), so one
        charge point that never answers holds the request for one
        OCPP_COMMAND_TIMEOUT, not one per charge point; an offline one fails
        at once. `action` names the message when a send fails before naming it.
        """
        charge_point_ids = queryset.prefetch_related(None).order_by("pk").values_list("pk", flat=True)
        outcomes = attempt_each(charge_point_ids, action, send)
        text, level = summarise(label, outcomes)
        self.message_user(request, text, level)

    def _operate_on_each(self, request, queryset, label: str, name: str, **arguments) -> None:
        """Run the version-neutral operation `name` (`chargepoints.operations`) with `arguments` on each selected one.

        The operation builds each station's own message: a selection may mix
        OCPP 1.6 and 2.0.1 charge points.
        """
        self.send_to_each(
            request,
            queryset,
            label,
            operations.OPERATIONS[name].label,
            lambda cp_id: operations.operation_run(
                charge_point_id=cp_id, name=name, arguments=arguments, source=CommandSource.ADMIN, user=request.user
            ),
        )

    @admin.action(description="Reset (soft)", permissions=["send_command"])
    def reset_soft(self, request, queryset):
        """Reset gracefully: 1.6 Reset Soft, 2.0.1 Reset OnIdle (1.6 §5.14; 2.0.1 B11/B12)."""
        self._operate_on_each(request, queryset, "Reset (soft)", "reset", type="soft")

    @admin.action(description="Reset (hard)", permissions=["send_command"])
    def reset_hard(self, request, queryset):
        """Reset at once: 1.6 Reset Hard, 2.0.1 Reset Immediate (1.6 §5.14; 2.0.1 B11/B12)."""
        self._operate_on_each(request, queryset, "Reset (hard)", "reset", type="hard")

    @admin.action(description="Change availability: Operative", permissions=["send_command"])
    def make_operative(self, request, queryset):
        """The whole charge point Operative: 1.6 connectorId 0, 2.0.1 without an EVSE (1.6 §5.2; 2.0.1 G04)."""
        self._operate_on_each(request, queryset, "Change availability: Operative", "change-availability", operative=True)

    @admin.action(description="Change availability: Inoperative", permissions=["send_command"])
    def make_inoperative(self, request, queryset):
        """The whole charge point Inoperative: 1.6 connectorId 0, 2.0.1 without an EVSE (1.6 §5.2; 2.0.1 G04)."""
        self._operate_on_each(request, queryset, "Change availability: Inoperative", "change-availability", operative=False)

    @admin.action(description="Get configuration", permissions=["send_command"])
    def get_configuration(self, request, queryset):
        """Read every key: 1.6 GetConfiguration (§5.8); 2.0.1 GetBaseReport FullInventory (B07).

        A 2.0.1 station answers only whether it will report: the values follow as NotifyReport.
        """
        self._operate_on_each(request, queryset, "Get configuration", "get-configuration")

    @admin.action(description="Clear cache", permissions=["send_command"])
    def clear_cache(self, request, queryset):
        """ClearCache (1.6 §5.4; 2.0.1 C11): the same empty payload in both versions, so no neutral operation."""
        self.send_to_each(
            request,
            queryset,
            "Clear cache",
            "ClearCache",
            lambda cp_id: commands.call(cp_id, "ClearCache", {}, source=CommandSource.ADMIN, user=request.user),
        )

    @admin.action(description="Send local list (full)", permissions=["send_command"])
    def send_full_local_list(self, request, queryset):
        """The id tags table as a Full SendLocalList (1.6 §5.15; 2.0.1 D01)."""
        self._operate_on_each(request, queryset, "Send local list (full)", "send-local-list", update_type="Full")

    def save_model(self, request, obj, form, change):
        # The services write only the operator's columns (the consumer may be
        # writing the others right now) and never overwrite a charge point
        # registered meanwhile.
        fields = {name: getattr(obj, name) for name in self.editable_fields}
        if change:
            services.charge_point_update(charge_point=obj, **fields)
        else:
            services.charge_point_create(charge_point_id=obj.pk, **fields)

    @admin.display(boolean=True)
    def online(self, obj):
        return obj.online

    @admin.display(description="connectors")
    def connector_statuses(self, obj):
        """Each connector's status as a coloured badge (`connector_badge`); greyed and marked "stale" when the charge point is offline.

        A 1.6 connector reads "1: Charging", a 2.0.1 one "EVSE 1 · connector 1: Occupied".
        """
        # Reads the prefetched connectors (one query for the whole page), sorted
        # here because the prefetch orders by connector id alone.
        connectors = sorted(obj.connectors.all(), key=lambda c: (c.evse_id, c.connector_id))
        if not connectors:
            return None
        v201 = obj.ocpp_version == OcppVersion.V201
        badges = format_html_join(" ", "{}", ((connector_badge(c, v201=v201),) for c in connectors))
        if obj.online:
            return format_html('<span class="cp-connectors">{}</span>', badges)
        return format_html(
            '<span class="cp-connectors cp-stale" title="Last reported before the charge point went offline">{} '
            '<span class="cp-stale-label">stale</span></span>',
            badges,
        )

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
            (StationMessage, "station messages"),  # 2.0.1's unmodelled messages
            (Certificate, "certificates"),
        ]
        if obj.ocpp_version == OcppVersion.V201:
            links += [(Variable, "device model")]
        urls = [(changelist_url(model, charge_point__id__exact=obj.pk), text) for model, text in links]
        # SecurityEvent has no foreign key (it also names identities that are not registered).
        urls.append((changelist_url(SecurityEvent, charge_point_id__exact=obj.pk), "security events"))
        return format_html_join(" · ", '<a href="{}">{}</a>', urls)

    @admin.display(description="latest")
    def latest_security_events(self, obj):
        """The charge point's newest security events, one a line: when received, type, who reported it, techInfo."""
        events = security_event_list(charge_point_id=obj.pk)[:RECENT_SECURITY_EVENTS]
        lines = format_html_join(
            "",
            "<li>{} <strong>{}</strong> ({}){}</li>",
            (
                (
                    localtime(e.received_at).strftime("%Y-%m-%d %H:%M:%S"),
                    e.type,
                    e.get_source_display(),
                    f": {Truncator(e.tech_info).chars(80)}" if e.tech_info else "",
                )
                for e in events
            ),
        )
        if not lines:
            return "none"
        url = changelist_url(SecurityEvent, charge_point_id__exact=obj.pk)
        return format_html('<ul style="margin-left: 0">{}</ul><a href="{}">all security events</a>', lines, url)


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
        "evse_id",
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
    fields = ("charge_point", "status", "received_at", "command")
    list_filter = ("status",)


@admin.register(DiagnosticsStatusNotification)
class DiagnosticsStatusNotificationAdmin(ChargePointHistoryAdmin):
    """History of diagnostics upload progress, each with the GetDiagnostics it reports on."""

    list_display = ("received_at", "charge_point", "status", command_link)
    fields = ("charge_point", "status", "received_at", "command")
    list_filter = ("status",)


class CommandActionFilter(admin.SimpleListFilter):
    """Filter the command log by action, from the fixed list of operations (no SELECT DISTINCT)."""

    title = "action"
    parameter_name = "action"

    def lookups(self, request, model_admin):
        return [(action, action) for action in commands.all_actions()]

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
        (None, {"fields": ("charge_point", "action", "ocpp_version", "source", "user", "status", "unique_id")}),
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
        "evse_id",
        to_the_second("installed_at"),
        to_the_second("cleared_at"),
    )


@admin.register(ChargingProfile)
class ChargingProfileAdmin(ReadOnlyAdmin):
    """Charging profiles as sent with SetChargingProfile (OCPP 1.6 §7.8, 2.0.1 K01), with where they are installed.

    An installation's EVSE is a 2.0.1 EVSE id or a 1.6 connector id (connector
    N is EVSE N); a 2.0.1 schedule is the profile's list of ChargingScheduleType.
    """

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
        "transaction_link",
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
        "transaction_link",
        "schedule_json",
        "created_at",
    )
    readonly_fields = ("schedule_json", "transaction_link")

    @admin.display(description="transaction", ordering="transaction_id")
    def transaction_link(self, obj):
        if obj.transaction_id is None:
            return None
        url = reverse("admin:transactions_transaction_change", args=[obj.transaction_id])
        return format_html('<a href="{}">{}</a>', url, obj.transaction_id)

    @admin.display(description="rate unit")
    def charging_rate_unit(self, obj):
        return charging_rate_unit(obj.schedule)

    @admin.display(description="charging schedule")
    def schedule_json(self, obj):
        return pretty_json_block(obj.schedule)


# --- Security events ------------------------------------------------------------


@admin.register(SecurityEvent)
class SecurityEventAdmin(ReadOnlyAdmin):
    """Security events of every identity, newest first: reported by charge points (2.0.1 A04, 1.6 Security
    Whitepaper) or noticed by the CSMS (failed authentication, downgrades, takeovers)."""

    list_display = (
        to_the_second("received_at"),
        "charge_point_id",
        "type",
        "source",
        to_the_second("timestamp"),
        "tech_info",
        "source_address",
    )
    list_filter = ("source", "type")
    search_fields = ("charge_point_id",)
    search_help_text = "Charge point identity"
    date_hierarchy = "received_at"
    ordering = ("-received_at", "-id")
    fields = ("charge_point_id", "type", "source", "tech_info", "source_address", "timestamp", "received_at")

    def get_queryset(self, request):
        return security_event_list()


@admin.register(Certificate)
class CertificateAdmin(ReadOnlyAdmin):
    """Every certificate the CSMS's CA issued, soonest end first: which charge point, its status, whether renewal is due."""

    list_display = (
        "charge_point",
        "subject",
        "serial_number",
        "kind",
        "status",
        to_the_second("not_after"),
        "renewal",
        to_the_second("issued_at"),
    )
    list_filter = ("status", "kind")
    search_fields = ("charge_point__id", "subject", "serial_number", "fingerprint_sha256")
    search_help_text = "Charge point identity, subject, serial number or SHA-256 fingerprint"
    ordering = ("not_after", "id")
    fields = (
        "charge_point",
        "kind",
        "status",
        "status_at",
        "subject",
        "issuer",
        "serial_number",
        "fingerprint_sha256",
        "not_before",
        "not_after",
        "renewal",
        "issued_at",
        "pem",
        "chain_pem",
    )
    readonly_fields = ("renewal",)

    @admin.display(description="renewal")
    def renewal(self, obj):
        return renewal_due_text(obj)


# --- OCPP 2.0.1 --------------------------------------------------------------


@admin.register(StationMessage)
class StationMessageAdmin(ChargePointHistoryAdmin):
    """Station-initiated messages kept as sent (2.0.1 NotifyEvent …), newest first."""

    list_display = (to_the_second("received_at"), "charge_point", "action")
    # The actions the 2.0.1 handlers store as StationMessage, so the filter
    # needs no SELECT DISTINCT over a table NotifyEvent keeps growing.
    list_filter = (FixedChoicesFilter.of("action", sorted(v201.handlers.STORED_MESSAGES), "action"),)
    search_fields = ("charge_point__id", "action")
    search_help_text = "Charge point identity or action"
    show_full_result_count = False
    fields = ("charge_point", "action", "received_at", "payload_json")
    readonly_fields = ("payload_json",)

    @admin.display(description="payload")
    def payload_json(self, obj):
        return pretty_json_block(obj.payload)


class VariableValueForm(forms.ModelForm):
    """A device model variable's change page: the value to ask the station to set (2.0.1 B05).

    No model field is edited: saving sends SetVariables, and the stored value
    follows the station's answer (`chargepoints.ocpp.v201.answers`). The value is
    checked against the variable's reported characteristics (Part 2 §2.53
    VariableCharacteristicsType) where they are plain to check, so an
    operator sees a typo at once rather than as the station's Rejected.
    """

    new_value = forms.CharField(
        label="new value",
        max_length=1000,  # SetVariableDataType.attributeValue
        help_text="Sent with SetVariables. The value shown above changes only when the station accepts it.",
    )

    class Meta:
        model = Variable
        fields = ()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.mutability == MutabilityEnumType.write_only:
            # WriteOnly variables are secrets the station never reports (passwords, keys).
            self.fields["new_value"].widget = forms.PasswordInput(render_value=False)
        if self.instance.values_list:
            self.fields["new_value"].help_text += f" Allowed: {self.instance.values_list}."

    def clean_new_value(self) -> str:
        value = self.cleaned_data["new_value"]
        v = self.instance
        allowed = [item.strip() for item in v.values_list.split(",")] if v.values_list else []
        if v.data_type in ("integer", "decimal"):
            try:
                number = int(value) if v.data_type == "integer" else float(value)
            except ValueError:
                raise forms.ValidationError(f"Enter a{'n' if v.data_type == 'integer' else ''} {v.data_type}.") from None
            if v.min_limit is not None and number < v.min_limit:
                raise forms.ValidationError(f"At least {v.min_limit:g}.")
            if v.max_limit is not None and number > v.max_limit:
                raise forms.ValidationError(f"At most {v.max_limit:g}.")
        elif v.data_type == "boolean" and value not in ("true", "false"):
            raise forms.ValidationError('Enter "true" or "false".')
        elif v.data_type == "OptionList" and allowed and value not in allowed:
            raise forms.ValidationError(f"Enter one of: {', '.join(allowed)}.")
        elif v.data_type in ("MemberList", "SequenceList") and allowed:
            unknown = [item for item in value.split(",") if item.strip() not in allowed]
            if unknown:
                raise forms.ValidationError(f"Not allowed: {', '.join(unknown)}. Allowed: {', '.join(allowed)}.")
        # For these types maxLimit is the longest string the station takes.
        text_types = ("string", "OptionList", "MemberList", "SequenceList")
        if v.data_type in text_types and v.max_limit is not None and len(value) > v.max_limit:
            raise forms.ValidationError(f"At most {v.max_limit:g} characters.")
        return value


def set_variable_answer(variable: Variable, value: str, outcome: Outcome) -> tuple[str, int]:
    """The message and messages level for a SetVariables of `variable` to `value`, from its `outcome`.

    One variable is sent, so the answer holds one setVariableResult; its
    attributeStatus is the answer (Accepted, RebootRequired, Rejected,
    UnknownComponent, UnknownVariable, NotSupportedAttributeType), with the
    station's reasonCode and additionalInfo when it gave them.
    """
    shown = "••••" if variable.mutability == MutabilityEnumType.write_only else repr(value)
    if not outcome.answered:
        return f"SetVariables {variable} = {shown} was not set: {outcome.message}", messages.ERROR
    results = (outcome.response or {}).get("setVariableResult") or [{}]
    result = results[0]
    status = result.get("attributeStatus", "no status")
    info = result.get("attributeStatusInfo") or {}
    reason = ": ".join(str(part) for part in (info.get("reasonCode"), info.get("additionalInfo")) if part)
    text = f"{variable.charge_point_id} answered SetVariables {variable} = {shown}: {status}"
    text += f" ({reason})." if reason else "."
    if status == "Accepted":
        return text, messages.SUCCESS
    if status == "RebootRequired":
        return f"{text} The value takes effect when the station reboots.", messages.WARNING
    return text, messages.WARNING


@admin.register(Variable)
class VariableAdmin(admin.ModelAdmin):
    """The OCPP 2.0.1 device model (Part 1 §4): each station's variables as reported (B07) or read (B06).

    Rows are never edited here. The page of a ReadWrite or WriteOnly
    variable asks for a new value and sends SetVariables (B05) as the
    operator; the station's answer is shown, and the stored value changes only
    when it is Accepted (or RebootRequired), through `chargepoints.ocpp.v201.answers`.
    ReadOnly variables are view-only.
    """

    form = VariableValueForm
    list_display = (
        "charge_point",
        "component_path",
        "variable_path",
        "attribute_type",
        "short_value",
        "mutability",
        "unit",
        to_the_second("updated_at"),
    )
    list_filter = ("component", FixedChoicesFilter.of("mutability", MutabilityEnumType, "mutability"))
    list_select_related = ("charge_point",)
    search_fields = ("charge_point__id", "component", "variable")
    search_help_text = "Charge point identity, component or variable name"
    show_full_result_count = False
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "charge_point",
                    "component_path",
                    "variable_path",
                    "attribute_type",
                    "value",
                    "mutability",
                    "updated_at",
                )
            },
        ),
        (
            "Characteristics",
            {"fields": ("data_type", "unit", "min_limit", "max_limit", "values_list", "persistent", "constant")},
        ),
    )
    set_fieldset = (
        "Set a new value",
        {
            "fields": ("new_value",),
            "description": "Saving sends SetVariables to the station; nothing is stored until it answers.",
        },
    )
    readonly_fields = [f for fieldset in fieldsets for f in fieldset[1]["fields"]]

    def has_add_permission(self, request):
        # Variables are the station's: they come from its reports.
        return False

    def has_change_permission(self, request, obj=None):
        # Saving a value sends SetVariables to the station: a command, not only a change of the row.
        return super().has_change_permission(request, obj) and can_send_commands(request.user) and (obj is None or obj.writable)

    def has_delete_permission(self, request, obj=None):
        # As for the history: only so that deleting a charge point can cascade.
        return request.user.is_superuser

    def get_fieldsets(self, request, obj=None):
        if obj is not None and self.has_change_permission(request, obj):
            return (*self.fieldsets, self.set_fieldset)
        return self.fieldsets

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context.update(show_save_and_continue=False, show_save_and_add_another=False, show_delete=False)
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    def save_model(self, request, obj, form, change):
        """Send SetVariables with the new value instead of saving; keep the answer for the message."""
        value = form.cleaned_data["new_value"]
        payload = {
            "setVariableData": [
                {
                    "attributeType": obj.attribute_type,
                    "attributeValue": value,
                    "component": obj.component_json(),
                    "variable": obj.variable_json(),
                }
            ]
        }
        outcome = attempt(
            obj.charge_point_id,
            "SetVariables",
            lambda: commands.call(obj.charge_point_id, "SetVariables", payload, source=CommandSource.ADMIN, user=request.user),
        )
        request._set_variable_answer = set_variable_answer(obj, value, outcome)

    def save_related(self, request, form, formsets, change):
        pass  # nothing is saved from this form

    def construct_change_message(self, request, form, formsets, add=False):
        # The admin's history of the variable records what was asked and answered, not a field edit.
        text, _ = request._set_variable_answer
        return text

    def response_change(self, request, obj):
        """Back to the same page with the station's answer: the operator sees it beside the value stored now."""
        text, level = request._set_variable_answer
        self.message_user(request, text, level)
        return HttpResponseRedirect(request.path)

    @admin.display(description="component", ordering="component")
    def component_path(self, obj):
        return obj.component_path

    @admin.display(description="variable", ordering="variable")
    def variable_path(self, obj):
        return obj.variable_path

    @admin.display(description="value", ordering="value")
    def short_value(self, obj):
        return None if obj.value is None else Truncator(obj.value).chars(80)
