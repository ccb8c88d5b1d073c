"""The command pages of a charge point: /admin/chargepoints/chargepoint/<id>/command/<name>/.

<name> is one of
- a version-neutral operation (kebab-case: "start-charging", "reset" …), for
  charge points of either version (`operation_forms`);
- "send-message": any message of the charge point's version, JSON payload;
- an OCPP 1.6 action ("RemoteStartTransaction" …), the per-action forms of
  `forms`, for 1.6 charge points only.

The Commands box of the charge point page offers what fits its version: the
1.6 per-action forms by feature profile for a 1.6 charge point, the neutral
operations for a 2.0.1 station, and "Send any message" for both.
"""

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
from .forms import FORMS, PROFILES, CommandForm
from .operation_forms import OPERATION_FORMS, OPERATION_GROUPS, RAW_MESSAGE, RawMessageForm, version_of
from .outcomes import Outcome, attempt

TEMPLATE = "admin/chargepoints/chargepoint/command_form.html"
ANY_MESSAGE = ("Any message", [RAW_MESSAGE])


def command_url(charge_point_id: str, name: str) -> str:
    """URL of the command page `name` for `charge_point_id` (the identity quoted the admin's way)."""
    return reverse("admin:chargepoints_chargepoint_command", args=[quote(charge_point_id), name])


def _label(name: str) -> str:
    if name in OPERATION_FORMS:
        return OPERATION_FORMS[name].label
    if name == RAW_MESSAGE:
        return "Send any message"
    return name


def command_links(charge_point_id: str, version: str | None = None) -> list[tuple[str, list[tuple[str, str, str]]]]:
    """[(group, [(name, label, command page URL) …]) …] for the charge point page's Commands box.

    OCPP 1.6: the per-action forms by feature profile; 2.0.1: the neutral
    operations. Both end with "Send any message". `version` defaults to the
    charge point's.
    """
    if version is None:
        version = ChargePoint.objects.filter(pk=charge_point_id).values_list("ocpp_version", flat=True).first() or "1.6"
    groups = PROFILES if version == "1.6" else OPERATION_GROUPS
    return [
        (group, [(name, _label(name), command_url(charge_point_id, name)) for name in names])
        for group, names in [*groups, ANY_MESSAGE]
    ]


def form_class_for(charge_point: ChargePoint, name: str) -> type[CommandForm] | None:
    """The form of command page `name` for this charge point, or None when there is none for its version."""
    if name in OPERATION_FORMS:
        return OPERATION_FORMS[name]
    if name == RAW_MESSAGE:
        return RawMessageForm
    if name in FORMS and version_of(charge_point) == "1.6":
        return FORMS[name]
    return None


def command_view(model_admin, request, object_id: str, action: str):
    """GET: the form of command page `action`. POST: send it as the operator and show the answer or the error.

    Needs the change permission on the charge point (403 otherwise); the
    admin site already turned away anyone who is not active staff. The page
    is rendered, not redirected, after a POST so the answer and the filled-in
    form stay side by side for a corrected second try. A GET's query string
    fills the form in (e.g. ?message=ClearCache on "send-message").
    """
    name = action
    if name not in OPERATION_FORMS and name != RAW_MESSAGE and name not in FORMS:
        raise Http404(f"{name!r} is not an operation or an OCPP 1.6 central system operation")
    charge_point = model_admin.get_object(request, unquote(object_id))
    if charge_point is None:
        raise Http404(f"No charge point {unquote(object_id)!r}")
    form_class = form_class_for(charge_point, name)
    if form_class is None:
        raise Http404(f"{charge_point} speaks OCPP {version_of(charge_point)}: {name} is an OCPP 1.6 form")
    if not model_admin.has_change_permission(request, charge_point):
        raise PermissionDenied

    outcome: Outcome | None = None
    if request.method == "POST":
        form = form_class(request.POST, charge_point=charge_point)
        if form.is_valid():
            # Named by what the operator asked for: the operation, or the message sent raw.
            label = form.action if isinstance(form, RawMessageForm) else form.title
            outcome = attempt(charge_point.pk, label, lambda: form.send(user=request.user))
            if isinstance(outcome.error, commands.InvalidPayload):
                form.add_error(None, outcome.error.message)
            messages.add_message(request, outcome.level, outcome.message)
    else:
        form = form_class(charge_point=charge_point, initial=request.GET.dict())

    opts = ChargePoint._meta
    context = {
        **model_admin.admin_site.each_context(request),
        "title": f"{form.title} → {charge_point}",
        "subtitle": None,
        "opts": opts,
        "original": charge_point,
        "charge_point": charge_point,
        "action": name,
        "ocpp_version": version_of(charge_point),
        "command_form": form,
        "adminform": helpers.AdminForm(form, form.get_fieldsets(), {}, model_admin=model_admin),
        "errors": helpers.AdminErrorList(form, []),
        "media": model_admin.media + form.media,
        "outcome": outcome,
        "reservation": getattr(form, "reservation", None),
        "change_url": reverse("admin:chargepoints_chargepoint_change", args=[quote(charge_point.pk)]),
        "command_links": command_links(charge_point.pk, version_of(charge_point)),
        "has_view_permission": model_admin.has_view_permission(request, charge_point),
    }
    request.current_app = model_admin.admin_site.name
    return TemplateResponse(request, TEMPLATE, context)
