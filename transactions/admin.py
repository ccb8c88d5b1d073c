"""Operators' admin for id tags, transactions, meter values and reservations.

Id tags are the operators' to manage. Transactions and meter values are what
charge points reported, so they are read-only. Meter values grow by the
hundred thousand: their pages read one page of rows through indexes and never
a row per displayed row. An OCPP 2.0.1 transaction also shows the station's
own transaction id and its TransactionEvents (E01–E15).
"""

from django import forms
from django.contrib import admin, messages
from django.forms.models import BaseInlineFormSet
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from ocpp.v16.enums import Measurand, Phase, ReadingContext
from ocpp.v201.enums import IdTokenEnumType

from chargepoints.admin import (
    FixedChoicesFilter,
    ReadOnlyAdmin,
    ReadOnlyInline,
    ReadOnlyInlineFormSet,
    changelist_url,
    to_the_second,
)

from .models import (
    AuthorizationStatus,
    IdTag,
    MeterValue,
    Reservation,
    Transaction,
    TransactionEvent,
    TransactionStatus,
)

# The transaction page shows only the latest meter values: a long session
# sampled every few seconds has tens of thousands.
INLINE_METER_VALUES = 200
# Likewise its latest TransactionEvents: a 2.0.1 station sends an Updated one
# per meter sample period.
INLINE_TRANSACTION_EVENTS = 200


class IdTagForm(forms.ModelForm):
    """An id tag; `type` offers OCPP 2.0.1 IdTokenEnumType, blank for 1.6 id tags."""

    type = forms.ChoiceField(
        choices=[("", "— (OCPP 1.6 id tag)")] + [(t.value, t.value) for t in IdTokenEnumType],
        required=False,
        help_text=IdTag._meta.get_field("type").help_text,
    )

    class Meta:
        model = IdTag
        fields = "__all__"


@admin.register(IdTag)
class IdTagAdmin(admin.ModelAdmin):
    """Id tags drivers present; blocking or expiring one takes effect at its next Authorize."""

    form = IdTagForm
    list_display = ("id_tag", "type", "status", "effective_status", "expiry_date", "parent", "note")
    list_filter = ("status", FixedChoicesFilter.of("type", IdTokenEnumType, "type"))
    list_select_related = ("parent",)
    search_fields = ("id_tag", "note")
    autocomplete_fields = ("parent",)
    fields = (
        "id_tag",
        "type",
        "status",
        "expiry_date",
        "effective_status",
        "parent",
        "note",
        "created_at",
        "updated_at",
    )
    readonly_fields = ("effective_status", "created_at", "updated_at")
    actions = ("block", "expire_now", "accept")

    @admin.display(description="effective status")
    def effective_status(self, obj):
        return obj.effective_status()

    def _update(self, request, queryset, message, **fields):
        # update() skips auto_now, so updated_at is set by hand.
        count = queryset.update(updated_at=timezone.now(), **fields)
        self.message_user(request, message.format(count=count), messages.SUCCESS)

    @admin.action(description="Block selected id tags", permissions=["change"])
    def block(self, request, queryset):
        self._update(request, queryset, "Blocked {count} id tag(s).", status=AuthorizationStatus.BLOCKED)

    @admin.action(description="Expire selected id tags now", permissions=["change"])
    def expire_now(self, request, queryset):
        self._update(request, queryset, "Expired {count} id tag(s).", expiry_date=timezone.now())

    @admin.action(description="Unblock (accept) selected id tags", permissions=["change"])
    def accept(self, request, queryset):
        self._update(request, queryset, "Accepted {count} id tag(s).", status=AuthorizationStatus.ACCEPTED)


class TransactionStatusFilter(admin.SimpleListFilter):
    """Active (not stopped) or completed (stopped) sessions, as the REST API's `status` means them."""

    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [(s.value, s.label) for s in (TransactionStatus.ACTIVE, TransactionStatus.COMPLETED)]

    def queryset(self, request, queryset):
        if self.value() == TransactionStatus.ACTIVE:
            return queryset.active()
        if self.value() == TransactionStatus.COMPLETED:
            return queryset.completed()
        return queryset


class LatestMeterValuesFormSet(BaseInlineFormSet):
    """The latest INLINE_METER_VALUES meter values of the transaction.

    The inline formset filters its queryset by the transaction itself, after
    the admin's get_queryset, so the slice can only be taken here.
    """

    def get_queryset(self):
        # Cached: the formset indexes this queryset once per form.
        if not hasattr(self, "_latest"):
            self._latest = super().get_queryset().order_by("-timestamp", "-id")[:INLINE_METER_VALUES]
        return self._latest


class MeterValueInline(admin.TabularInline):
    """Read-only latest meter values on the transaction page."""

    model = MeterValue
    formset = LatestMeterValuesFormSet
    verbose_name_plural = f"latest meter values (at most {INLINE_METER_VALUES})"
    fields = readonly_fields = (
        to_the_second("timestamp"),
        "measurand",
        "phase",
        "value",
        "unit",
        "context",
        "location",
        "format",
    )
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class LatestTransactionEventsFormSet(ReadOnlyInlineFormSet):
    """The latest INLINE_TRANSACTION_EVENTS events of the transaction, newest first (as LatestMeterValuesFormSet)."""

    def get_queryset(self):
        if not hasattr(self, "_latest"):
            self._latest = super().get_queryset().order_by("-seq_no")[:INLINE_TRANSACTION_EVENTS]
        return self._latest


class TransactionEventInline(ReadOnlyInline):
    """An OCPP 2.0.1 transaction's TransactionEvents (E01–E15) as received, once per seqNo."""

    model = TransactionEvent
    formset = LatestTransactionEventsFormSet
    verbose_name_plural = f"latest transaction events (at most {INLINE_TRANSACTION_EVENTS})"
    fields = readonly_fields = (
        "seq_no",
        "event_type",
        "trigger_reason",
        to_the_second("timestamp"),
        "offline",
        "charging_state",
        "stopped_reason",
    )


def _duration(td) -> str | None:
    """A timedelta as H:MM:SS, hours unbounded (26:03:04 rather than 1 day, 2:03:04)."""
    if td is None:
        return None
    seconds = max(int(td.total_seconds()), 0)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02}:{seconds % 60:02}"


@admin.register(Transaction)
class TransactionAdmin(ReadOnlyAdmin):
    """Charging sessions, read-only; energy comes from the denormalised meter fields."""

    list_display = (
        "id",
        "station_transaction_id",
        "charge_point",
        "evse_id",
        "connector_id",
        "id_tag",
        "start_timestamp",
        "stop_timestamp",
        "duration",
        "energy_kwh",
        "status",
        "stop_reason",
    )
    list_filter = (TransactionStatusFilter, "charge_point", "is_orphan")
    list_select_related = ("charge_point",)
    # Sessions pile up for years: one COUNT per page view is enough.
    show_full_result_count = False
    search_fields = ("id_tag", "charge_point__id", "=station_transaction_id")
    search_help_text = "Id tag, charge point identity or exact station transaction id"
    inlines = (MeterValueInline, TransactionEventInline)
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "id",
                    "station_transaction_id",
                    "status",
                    "charge_point",
                    "evse_id",
                    "connector_id",
                    "id_tag",
                    "id_tag_type",
                    "id_tag_status",
                    "reservation_id",
                )
            },
        ),
        (
            "OCPP 2.0.1",
            {"fields": ("charging_state", "remote_start_id", "last_seq_no")},
        ),
        ("Start", {"fields": ("start_timestamp", "meter_start_wh")}),
        (
            "Stop",
            {"fields": ("stop_timestamp", "meter_stop_wh", "stop_reason", "stop_id_tag", "remote_stop_requested_at")},
        ),
        ("Energy", {"fields": ("duration", "energy_kwh", "last_meter_wh", "last_meter_at", "meter_values")}),
        ("Orphan", {"fields": ("is_orphan", "orphan_transaction_id")}),
        (None, {"fields": ("created_at",)}),
    )
    readonly_fields = ("id", "status", "duration", "energy_kwh", "meter_values", "created_at")

    def get_inlines(self, request, obj):
        # Only a 2.0.1 transaction (which carries the station's id) has TransactionEvents.
        if obj is not None and not obj.station_transaction_id:
            return tuple(inline for inline in self.inlines if inline is not TransactionEventInline)
        return self.inlines

    def get_fieldsets(self, request, obj=None):
        if obj is not None and not obj.station_transaction_id:
            return tuple(fieldset for fieldset in self.fieldsets if fieldset[0] != "OCPP 2.0.1")
        return self.fieldsets

    @admin.display(description="duration")
    def duration(self, obj):
        return _duration(obj.duration)

    @admin.display(description="energy (kWh)")
    def energy_kwh(self, obj):
        return obj.energy_kwh

    @admin.display(description="status")
    def status(self, obj):
        return obj.status.label

    @admin.display(description="meter values")
    def meter_values(self, obj):
        count = obj.meter_values.count()
        return format_html(
            '<a href="{}">all {} meter values</a>',
            changelist_url(MeterValue, transaction__id__exact=obj.pk),
            count,
        )


@admin.register(MeterValue)
class MeterValueAdmin(ReadOnlyAdmin):
    """Every sampled value, newest first.

    Built to stay fast as the table grows: ordering matches the (-timestamp,
    -id) index, no filter or date hierarchy scans the table, the total count
    is not repeated, and the transaction is shown by its id, not loaded.
    """

    list_display = (
        to_the_second("timestamp"),
        "charge_point",
        "evse_id",
        "transaction_link",
        "measurand",
        "phase",
        "value",
        "unit",
        "context",
        "location",
    )
    list_filter = (
        FixedChoicesFilter.of("measurand", Measurand, "measurand"),
        FixedChoicesFilter.of("context", ReadingContext, "context"),
        FixedChoicesFilter.of("phase", Phase, "phase"),
    )
    list_select_related = ("charge_point",)
    ordering = ("-timestamp", "-id")
    show_full_result_count = False
    search_fields = ("=charge_point__id",)
    search_help_text = "Exact charge point identity"

    @admin.display(description="transaction", ordering="transaction_id")
    def transaction_link(self, obj):
        if obj.transaction_id is None:
            return None
        url = reverse("admin:transactions_transaction_change", args=[obj.transaction_id])
        return format_html('<a href="{}">{}</a>', url, obj.transaction_id)


@admin.register(Reservation)
class ReservationAdmin(ReadOnlyAdmin):
    """Reservations made with ReserveNow (OCPP 1.6 §5.13), read-only: the charge point's answers set them.

    Operators reserve and cancel from the charge point page's ReserveNow and
    CancelReservation commands.
    """

    list_display = ("id", "charge_point", "evse_id", "id_tag", "expiry_date", "current_status", "transaction_link")
    list_filter = ("status",)
    list_select_related = ("charge_point",)
    search_fields = ("id_tag", "charge_point__id")
    search_help_text = "Id tag or charge point identity"
    fields = (
        "id",
        "charge_point",
        "evse_id",
        "id_tag",
        "parent_id_tag",
        "expiry_date",
        "current_status",
        "status",
        "transaction_link",
        "created_at",
        "updated_at",
    )
    readonly_fields = ("id", "current_status", "transaction_link")

    @admin.display(description="status", ordering="status")
    def current_status(self, obj):
        return obj.current_status

    @admin.display(description="transaction", ordering="transaction_id")
    def transaction_link(self, obj):
        if obj.transaction_id is None:
            return None
        url = reverse("admin:transactions_transaction_change", args=[obj.transaction_id])
        return format_html('<a href="{}">{}</a>', url, obj.transaction_id)
