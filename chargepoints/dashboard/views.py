"""The dashboard page: counts, filters, the fleet table, paged; the browser then keeps it live over `ws/dashboard/`."""

from __future__ import annotations

from django import forms
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_safe

from chargepoints import selectors
from chargepoints.models import OcppVersion

from .rows import counts_for_display, fleet_row

PAGE_SIZE = 50
# Who may see the fleet: staff (the admin's people) who may view charge points (the Viewers role and up).
PERMISSION = "chargepoints.view_chargepoint"


def may_view_dashboard(user) -> bool:
    """Staff, active, with chargepoints.view_chargepoint: the page and its WebSocket ask the same."""
    return bool(user and user.is_authenticated and user.is_active and user.is_staff and user.has_perm(PERMISSION))


class FleetFilterForm(forms.Form):
    """The filter bar (GET parameters); a value it does not know is ignored, as if not given."""

    state = forms.ChoiceField(
        required=False,
        choices=[
            ("", "All charge points"),
            ("online", "Online"),
            ("offline", "Offline"),
            ("charging", "Charging"),
            ("faulted", "Faulted"),
            ("unavailable", "Unavailable"),
        ],
    )
    version = forms.ChoiceField(required=False, choices=[("", "Any OCPP version"), *OcppVersion.choices])
    q = forms.CharField(
        required=False, max_length=100, label="Search", widget=forms.TextInput(attrs={"placeholder": "id, vendor, model, serial"})
    )
    sort = forms.ChoiceField(
        required=False,
        choices=[
            ("id", "Identity A→Z"),
            ("-id", "Identity Z→A"),
            ("-last_seen", "Last seen, newest first"),
            ("last_seen", "Last seen, oldest first"),
            ("status", "Status: faulted, offline … first"),
            ("-status", "Status: available first"),
        ],
    )

    def values(self) -> dict[str, str]:
        """{"state", "version", "q", "sort"}: the valid values given, "" (sort: "id") for the rest."""
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        values = {name: data.get(name) or "" for name in ("state", "version", "q", "sort")}
        values["sort"] = values["sort"] or "id"
        return values


@require_safe
def dashboard(request):
    """`/`: the fleet at a glance. Anonymous: to the admin login and back; signed in without `may_view_dashboard`: 403.

    GET parameters: state (online, offline, charging, faulted, unavailable),
    version (1.6, 2.0.1), q (text in identity, vendor, model, serial numbers),
    sort (`selectors.DASHBOARD_SORTS`), page (50 a page). A constant number of
    queries whatever the fleet's size (tests/dashboard/test_page.py).
    """
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path(), reverse("admin:login"))
    if not may_view_dashboard(request.user):
        raise PermissionDenied
    form = FleetFilterForm(request.GET)
    values = form.values()
    charge_points = selectors.dashboard_charge_points_filter(
        selectors.dashboard_charge_points(), state=values["state"], version=values["version"], search=values["q"]
    )
    charge_points = selectors.dashboard_charge_points_sort(charge_points, sort=values["sort"])
    page = Paginator(charge_points, PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [fleet_row(cp) for cp in page.object_list]
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "dashboard/index.html",
        {
            "form": form,
            "filters": values,
            "counts": counts_for_display(selectors.dashboard_counts()),
            "page": page,
            "rows": rows,
            "query": query.urlencode(),
            "title": "Fleet dashboard",
        },
    )
