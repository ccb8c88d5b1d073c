"""The command page of a charge point: /admin/chargepoints/chargepoint/<id>/command/<Action>/."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import quote, unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.template.response import TemplateResponse
from django.urls import reverse

from .. import commands
from ..models import ChargePoint
from .forms import FORMS, PROFILES
from .outcomes import Outcome, attempt

TEMPLATE = "admin/chargepoints/chargepoint/command_form.html"


def command_url(charge_point_id: str, action: str) -> str:
    """URL of `action`'s command page for `charge_point_id` (the identity quoted the admin's way)."""
    return reverse("admin:chargepoints_chargepoint_command", args=[quote(charge_point_id), action])


def command_links(charge_point_id: str) -> list[tuple[str, list[tuple[str, str]]]]:
    """[(feature profile, [(action, command page URL) …]) …] for the charge point page's Commands box."""
    return [(profile, [(a, command_url(charge_point_id, a)) for a in actions]) for profile, actions in PROFILES]


def command_view(model_admin, request, object_id: str, action: str):
    """GET: `action`'s form. POST: send it as the operator and show the charge point's answer or the error.

    Needs the change permission on the charge point (403 otherwise); the
    admin site already turned away anyone who is not active staff. The page
    is rendered, not redirected, after a POST so the answer and the filled-in
    form stay side by side for a corrected second try.
    """
    form_class = FORMS.get(action)
    if form_class is None:
        raise Http404(f"{action!r} is not an OCPP 1.6 central system operation")
    charge_point = model_admin.get_object(request, unquote(object_id))
    if charge_point is None:
        raise Http404(f"No charge point {unquote(object_id)!r}")
    if not model_admin.has_change_permission(request, charge_point):
        raise PermissionDenied

    outcome: Outcome | None = None
    if request.method == "POST":
        form = form_class(request.POST, charge_point=charge_point)
        if form.is_valid():
            outcome = attempt(charge_point.pk, action, lambda: form.send(user=request.user))
            if isinstance(outcome.error, commands.InvalidPayload):
                form.add_error(None, outcome.error.message)
            messages.add_message(request, outcome.level, outcome.message)
    else:
        form = form_class(charge_point=charge_point)

    opts = ChargePoint._meta
    context = {
        **model_admin.admin_site.each_context(request),
        "title": f"{action} → {charge_point}",
        "subtitle": None,
        "opts": opts,
        "original": charge_point,
        "charge_point": charge_point,
        "action": action,
        "command_form": form,
        "adminform": helpers.AdminForm(form, form.get_fieldsets(), {}, model_admin=model_admin),
        "errors": helpers.AdminErrorList(form, []),
        "media": model_admin.media + form.media,
        "outcome": outcome,
        "reservation": getattr(form, "reservation", None),
        "change_url": reverse("admin:chargepoints_chargepoint_change", args=[quote(charge_point.pk)]),
        "command_links": command_links(charge_point.pk),
        "has_view_permission": model_admin.has_view_permission(request, charge_point),
    }
    request.current_app = model_admin.admin_site.name
    return TemplateResponse(request, TEMPLATE, context)
