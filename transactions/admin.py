"""Operators' admin for id tags, transactions, meter values and reservations.

Id tags are the operators' to manage. Transactions and meter values are what
charge points reported, so they are read-only. Meter values grow by the
hundred thousand: their pages read one page of rows through indexes and never
a row per displayed row. An OCPP 2.0.1 transaction also shows the station's
own transaction id and its TransactionEvents (E01–E15).

The transaction page starts with its figures and a chart of power, energy and
state of charge (Chart.js from our static files), fed by the admin view
`<id>/meter-series/` (JSON, the transaction's view permission), which the
page polls for new points while the transaction runs; operators who may send
commands get a Stop button (`<id>/stop/`, the neutral stop-charging
operation). `report/` sums energy and sessions per day, charge point or id
tag (`transactions.reports`).
"""

from datetime import UTC, date, timedelta
from decimal import Decimal
from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import (
    Http404,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
    JsonResponse,
    StreamingHttpResponse,
)
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html
from django.utils.timezone import localtime
from ocpp.v16.enums import Measurand, Phase, ReadingContext
from ocpp.v201.enums import IdTokenEnumType

from chargepoints import operations
from chargepoints.admin import (
    FixedChoicesFilter,
    ReadOnlyAdmin,
    ReadOnlyInline,
    ReadOnlyInlineFormSet,
    changelist_url,
    to_the_second,
)
from chargepoints.admin_commands.outcomes import attempt
from chargepoints.models import CommandSource
from chargepoints.permissions import can_send_commands

from . import reports, series, services
from .export import transactions_csv
from .models import (
    AuthorizationStatus,
    IdTag,
    MeterValue,
    Reservation,
    Transaction,
    TransactionEvent,
    TransactionStatus,
)

# The transaction page pages its meter values, newest first: a long session
# sampled every few seconds has tens of thousands.
METER_VALUES_PER_PAGE = 50
# It shows only the latest TransactionEvents: a 2.0.1 station sends an
# Updated one per meter sample period.
INLINE_TRANSACTION_EVENTS = 200
# How often the page of a running transaction asks for new chart points (ms).
CHART_POLL_MS = 3000


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
        count = services.id_tags_update(tags=queryset, **fields)
        self.message_user(request, message.format(count=count), messages.SUCCESS)

    # Writes go through the services, as everywhere (docs/architecture.md); the form has validated the fields.
    def save_model(self, request, obj, form, change):
        if change:
            services.id_tag_update(tag=obj, data={name: getattr(obj, name) for name in form.changed_data if name in services.ID_TAG_FIELDS})
        else:
            obj.pk = services.id_tag_create(**{name: getattr(obj, name) for name in services.ID_TAG_FIELDS}).pk

    def delete_model(self, request, obj):
        services.id_tag_delete(tag=obj)

    def delete_queryset(self, request, queryset):
        services.id_tags_delete(tags=queryset)

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


class LatestTransactionEventsFormSet(ReadOnlyInlineFormSet):
    """The latest INLINE_TRANSACTION_EVENTS events of the transaction, newest first (the inline formset filters by the transaction after get_queryset, so the slice is taken here)."""

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


class CloseForm(forms.Form):
    """Why an operator closes transactions: an OCPP stop reason."""

    reason = forms.ChoiceField(
        choices=[(r, r) for r in services.STOP_REASONS],
        initial="Other",
        help_text="Recorded as the stop reason. Nothing is sent to the charge point; a stop it sends later replaces what is recorded here.",
    )


def _float(value) -> float | None:
    return None if value is None else float(value)


def _kw(value) -> float | None:
    """W (or Wh) as kW (kWh), three decimals."""
    return None if value is None else round(float(value) / 1000, 3)


def evse_label(tx: Transaction) -> str:
    """Where the session runs: "EVSE 1 · connector 2" for 2.0.1, "connector 2" for 1.6 (whose connector N is EVSE N).

    A 2.0.1 transaction is one with the station's own transaction id; a 1.6 one also stores evse_id (= its connector).
    """
    if tx.evse_id is not None and (tx.station_transaction_id or tx.connector_id is None):
        connector = f" · connector {tx.connector_id}" if tx.connector_id is not None else ""
        return f"EVSE {tx.evse_id}{connector}"
    return f"connector {tx.connector_id}" if tx.connector_id is not None else "—"


def transaction_summary(tx: Transaction, figures) -> list[tuple[str, str, str]]:
    """The figures at the top of the transaction page: [(key, label, text) …]; the keys name the live ones."""
    power = "—"
    if figures.power_w is not None:
        power = f"{_kw(figures.power_w):.3f} kW" + (" (from energy readings)" if figures.power_derived else "")
    started = localtime(tx.start_timestamp).strftime("%Y-%m-%d %H:%M:%S") if tx.start_timestamp else "—"
    stopped = localtime(tx.stop_timestamp).strftime("%Y-%m-%d %H:%M:%S") if tx.stop_timestamp else ("running" if tx.is_active else "—")
    return [
        ("charge_point", "charge point", tx.charge_point_id),
        ("evse", "EVSE / connector", evse_label(tx)),
        ("id_tag", "id tag", tx.id_tag or "—"),
        ("start", "start", started),
        ("stop", "stop", stopped),
        ("duration", "duration", _duration(tx.duration) or "—"),
        ("energy_kwh", "energy", f"{tx.energy_kwh} kWh" if tx.energy_kwh is not None else "—"),
        ("power_kw", "power now" if tx.is_active else "last power", power),
        ("soc_pct", "state of charge", f"{figures.soc_pct.normalize():f} %" if figures.soc_pct is not None else "—"),
    ]


class ReportForm(forms.Form):
    """The report's range (dates, both included; default the last 30 days) and grouping."""

    date_from = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    by = forms.ChoiceField(choices=list(reports.GROUPINGS.items()), required=False)

    @staticmethod
    def default_range() -> tuple[date, date]:
        today = timezone.localdate()
        return today - timedelta(days=29), today

    def clean(self):
        data = super().clean()
        default_from, default_to = self.default_range()
        date_to = data.get("date_to") or default_to
        date_from = data.get("date_from") or min(default_from, date_to - timedelta(days=29))
        if date_to < date_from:
            raise forms.ValidationError("The range ends before it starts.")
        if (date_to - date_from).days + 1 > reports.MAX_DAYS:
            raise forms.ValidationError(f"A report covers at most {reports.MAX_DAYS} days.")
        data["date_from"], data["date_to"] = date_from, date_to
        return data


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
        "stop_source",
    )
    list_filter = (TransactionStatusFilter, "stop_source", "charge_point", "is_orphan")
    list_select_related = ("charge_point",)
    # Sessions pile up for years: one COUNT per page view is enough.
    show_full_result_count = False
    search_fields = ("id_tag", "charge_point__id", "=station_transaction_id")
    search_help_text = "Id tag, charge point identity or exact station transaction id"
    inlines = (TransactionEventInline,)

    @admin.action(description="Export selected transactions as CSV (billing)")
    def export_csv(self, request, queryset):
        """The selected sessions as the API's CSV (transactions/export.py), oldest first, streamed."""
        response = StreamingHttpResponse(transactions_csv(queryset.order_by("id")), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="transactions-{timezone.now():%Y%m%d-%H%M%S}.csv"'
        return response

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
            {
                "fields": (
                    "stop_timestamp",
                    "meter_stop_wh",
                    "stop_reason",
                    "stop_id_tag",
                    "stop_source",
                    "stopped_by",
                    "remote_stop_requested_at",
                )
            },
        ),
        ("Energy", {"fields": ("duration", "energy_kwh", "last_meter_wh", "last_meter_at", "meter_values")}),
        ("Orphan", {"fields": ("is_orphan", "orphan_transaction_id")}),
        (None, {"fields": ("created_at",)}),
    )
    readonly_fields = ("id", "status", "duration", "energy_kwh", "meter_values", "created_at", "stop_source", "stopped_by")
    actions = ("close_transactions", "export_csv")
    change_form_template = "admin/transactions/transaction/change_form.html"

    def has_close_permission(self, request, obj=None) -> bool:
        """Closing by hand is a change: it needs the permission to change transactions (the rest stays read-only)."""
        return request.user.has_perm(f"{self.opts.app_label}.change_{self.opts.model_name}")

    def get_urls(self):
        # Before the admin's own patterns: its "<path:object_id>/" catch-all would take these.
        name = f"{self.opts.app_label}_{self.opts.model_name}"
        own = [
            path("report/", self.admin_site.admin_view(self.report_view), name=f"{name}_report"),
            path("<path:object_id>/close/", self.admin_site.admin_view(self.close_view), name=f"{name}_close"),
            path("<path:object_id>/stop/", self.admin_site.admin_view(self.stop_view), name=f"{name}_stop"),
            path("<path:object_id>/meter-series/", self.admin_site.admin_view(self.meter_series_view), name=f"{name}_meter_series"),
        ]
        return [*own, *super().get_urls()]

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "report_url": reverse("admin:transactions_transaction_report")}
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        tx = self.get_object(request, unquote(object_id))
        can_close = tx is not None and tx.is_active and self.has_close_permission(request, tx)
        extra_context = {
            **(extra_context or {}),
            "close_url": reverse("admin:transactions_transaction_close", args=[tx.pk]) if can_close else None,
        }
        if tx is not None and self.has_view_permission(request, tx):
            extra_context.update(self._page_context(request, tx))
        return super().change_view(request, object_id, form_url, extra_context)

    def _page_context(self, request, tx: Transaction) -> dict:
        """The transaction page's summary, chart, Stop button and page of meter values."""
        figures = series.live_figures(transaction=tx)
        rows = MeterValue.objects.filter(transaction=tx).order_by("-timestamp", "-id")
        meter_page = Paginator(rows, METER_VALUES_PER_PAGE).get_page(request.GET.get("meter_page"))
        can_stop = tx.is_active and can_send_commands(request.user)
        return {
            "summary": transaction_summary(tx, figures),
            "series_url": reverse("admin:transactions_transaction_meter_series", args=[tx.pk]),
            "chart_state": "running" if tx.is_active else "ended",
            "chart_poll_ms": CHART_POLL_MS,
            "stop_url": reverse("admin:transactions_transaction_stop", args=[tx.pk]) if can_stop else None,
            "meter_page": meter_page,
        }

    def meter_series_view(self, request, object_id):
        """GET: the chart's points as JSON, only those after `?since=` (an ISO 8601 timestamp) when given.

        {"transaction": id, "state": "running" | "ended", "power_derived": bool,
         "figures": {"energy_kwh", "power_kw", "soc_pct"} (numbers or null),
         "points": [{"t": ISO 8601 UTC, "ms": epoch ms, "power_kw", "energy_kwh", "soc_pct"} …] oldest first}.
        Needs the permission to view transactions (403); 404 for an unknown one, 400 for a bad `since`.
        """
        tx = self.get_object(request, unquote(object_id))
        if tx is None:
            raise Http404(f"No transaction {unquote(object_id)!r}")
        if not self.has_view_permission(request, tx):
            raise PermissionDenied
        since = None
        if request.GET.get("since"):
            since = parse_datetime(request.GET["since"])
            if since is None or since.tzinfo is None:
                return JsonResponse({"detail": "since: an ISO 8601 timestamp with its offset"}, status=400)
        points = series.meter_series(transaction=tx, since=since)
        figures = series.live_figures(transaction=tx)
        return JsonResponse(
            {
                "transaction": tx.pk,
                "state": "running" if tx.is_active else "ended",
                "power_derived": any(p.power_derived for p in points),
                "figures": {
                    "energy_kwh": _float(tx.energy_kwh),
                    "power_kw": _kw(figures.power_w),
                    "soc_pct": _float(figures.soc_pct),
                },
                "points": [
                    {
                        "t": p.timestamp.astimezone(UTC).isoformat().replace("+00:00", "Z"),
                        "ms": int(p.timestamp.timestamp() * 1000),
                        "power_kw": _kw(p.power_w),
                        "energy_kwh": _kw(p.energy_wh),
                        "soc_pct": _float(p.soc_pct),
                    }
                    for p in points
                ],
            }
        )

    def stop_view(self, request, object_id):
        """POST: send the version-neutral stop-charging operation for this transaction; the answer becomes a message.

        Needs the permission to view transactions and `chargepoints.send_command` (403 otherwise, nothing sent).
        A transaction that has ended is not stopped again.
        """
        tx = self.get_object(request, unquote(object_id))
        if tx is None:
            raise Http404(f"No transaction {unquote(object_id)!r}")
        if not (self.has_view_permission(request, tx) and can_send_commands(request.user)):
            raise PermissionDenied
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not tx.is_active:
            self.message_user(request, f"{tx} has ended already: nothing was sent.", messages.WARNING)
        else:
            outcome = attempt(
                tx.charge_point_id,
                operations.OPERATIONS["stop-charging"].label,
                lambda: operations.operation_run(
                    charge_point_id=tx.charge_point_id,
                    name="stop-charging",
                    arguments={"transaction": tx.pk},
                    source=CommandSource.ADMIN,
                    user=request.user,
                ),
            )
            self.message_user(request, outcome.message, outcome.level)
        return HttpResponseRedirect(reverse("admin:transactions_transaction_change", args=[tx.pk]))

    def report_view(self, request):
        """GET: energy and sessions per day, charge point or id tag over a date range, as a chart and a table;
        `?format=csv` downloads the table. Needs the permission to view transactions (403)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = ReportForm(request.GET or None)
        if form.is_bound and form.is_valid():
            date_from, date_to, by = form.cleaned_data["date_from"], form.cleaned_data["date_to"], form.cleaned_data["by"] or "day"
        else:
            date_from, date_to, by = ReportForm.default_range() + ("day",)
        rows = reports.energy_report(date_from=date_from, date_to=date_to, by=by) if not form.errors else []
        if request.GET.get("format") == "csv" and not form.errors:
            response = HttpResponse(reports.report_csv(rows, by=by), content_type="text/csv; charset=utf-8")
            response["Content-Disposition"] = f'attachment; filename="energy-by-{by.replace("_", "-")}-{date_from}-{date_to}.csv"'
            return response
        query = {"date_from": date_from.isoformat(), "date_to": date_to.isoformat()}
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Energy and sessions",
            # A valid range is shown as resolved (defaults filled in); an invalid one as typed, with its errors.
            "form": form if form.errors else ReportForm(initial={**query, "by": by}),
            "by": by,
            "by_label": reports.GROUPINGS[by],
            "tabs": [(key, label, f"?{urlencode({**query, 'by': key})}") for key, label in reports.GROUPINGS.items()],
            "csv_url": f"?{urlencode({**query, 'by': by, 'format': 'csv'})}",
            "rows": rows,
            "total_sessions": sum(r.sessions for r in rows),
            "total_kwh": sum((r.energy_kwh for r in rows), Decimal("0.000")),
            "chart_data": {
                "labels": [r.key.isoformat() if isinstance(r.key, date) else r.key for r in rows],
                "energy_kwh": [float(r.energy_kwh) for r in rows],
                "sessions": [r.sessions for r in rows],
            },
            "date_from": date_from,
            "date_to": date_to,
        }
        return TemplateResponse(request, "admin/transactions/transaction/report.html", context)

    @admin.action(description="Close the selected active transactions …", permissions=["close"])
    def close_transactions(self, request, queryset):
        """The close page for the selected transactions; its form posts back here with `apply`."""
        return self._close(request, list(queryset.select_related("charge_point")), action=True)

    def close_view(self, request, object_id):
        """GET: the close page of one transaction (reason form). POST: close it. 403 without the permission to change transactions."""
        tx = self.get_object(request, unquote(object_id))
        if tx is None:
            raise Http404(f"No transaction {unquote(object_id)!r}")
        if not self.has_close_permission(request, tx):
            raise PermissionDenied
        return self._close(request, [tx], action=False)

    def _close(self, request, transactions, *, action: bool):
        active = [tx for tx in transactions if tx.is_active]
        form = CloseForm(request.POST if request.method == "POST" and (not action or "apply" in request.POST) else None)
        if form.is_bound and form.is_valid():
            reason = form.cleaned_data["reason"]
            closed = []
            for tx in active:
                try:
                    closed.append(services.transaction_close(transaction_pk=tx.pk, reason=reason, user=request.user).pk)
                except services.TransactionAlreadyEnded:
                    pass  # its stop arrived meanwhile
            if closed:
                self.message_user(
                    request, f"Closed {len(closed)} transaction(s) ({reason}): {', '.join(map(str, closed))}.", messages.SUCCESS
                )
            skipped = len(transactions) - len(closed)
            if skipped:
                self.message_user(request, f"{skipped} transaction(s) had ended already and were left as they are.", messages.WARNING)
            if action:
                return None  # back to the list
            return HttpResponseRedirect(reverse("admin:transactions_transaction_change", args=[transactions[0].pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Close transactions" if action else f"Close transaction {transactions[0].pk}",
            "transactions": transactions,
            "active": active,
            "form": form,
            "action": action,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/transactions/transaction/close.html", context)

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
