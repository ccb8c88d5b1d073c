"""The command pages of a charge point: /admin/chargepoints/chargepoint/<id>/command/<name>/.

<name> is a version-neutral operation (kebab-case: "start-charging", "reset" …)
or "send-message", any message of the charge point's version with a JSON
payload. Every charge point, 1.6 or 2.0.1, is offered the same pages: its
Commands box lists the operations by group, then "Send any message".
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import quote, unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.template.response import TemplateResponse
from django.urls import reverse

from .. import commands, operations
from ..models import ChargePoint
from .operation_forms import OPERATION_FORMS, RAW_MESSAGE, CommandForm, RawMessageForm
from .outcomes import Outcome, attempt

TEMPLATE = "admin/chargepoints/chargepoint/command_form.html"


def command_url(charge_point_id: str, name: str) -> str:
    """URL of the command page `name` for `charge_point_id` (the identity quoted the admin's way)."""
    return reverse("admin:chargepoints_chargepoint_command", args=[quote(charge_point_id), name])


def command_links(charge_point_id: str) -> list[tuple[str, list[tuple[str, str, str]]]]:
    """[(group, [(name, label, command page URL) …]) …] for the Commands box: the operations, then any message."""
    groups = [(group, [(op.name, op.label) for op in members]) for group, members in operations.groups()]
    return [
        (group, [(name, label, command_url(charge_point_id, name)) for name, label in links])
        for group, links in [*groups, ("Any message", [(RAW_MESSAGE, RawMessageForm.title)])]
    ]


def form_class_for(name: str) -> type[CommandForm] | None:
    """The form of command page `name`, or None when there is no such page."""
    return RawMessageForm if name == RAW_MESSAGE else OPERATION_FORMS.get(name)


def command_view(model_admin, request, object_id: str, action: str):
    """GET: the form of command page `action`. POST: send it as the operator and show the answer or the error.

    Needs the send_command permission (`chargepoints.permissions`, 403
    otherwise); the admin site already turned away anyone who is not active staff. The page
    is rendered, not redirected, after a POST so the answer and the filled-in
    form stay side by side for a corrected second try. A GET's query string
    fills the form in (e.g. ?message=ClearCache on "send-message").
    """
    name = action
    form_class = form_class_for(name)
    if form_class is None:
        raise Http404(f"{name!r} is not an operation (nor {RAW_MESSAGE!r})")
    charge_point = model_admin.get_object(request, unquote(object_id))
    if charge_point is None:
        raise Http404(f"No charge point {unquote(object_id)!r}")
    if not model_admin.has_send_command_permission(request, charge_point):
        raise PermissionDenied

    outcome: Outcome | None = None
    if request.method == "POST":
        form = form_class(request.POST, charge_point=charge_point)
        if form.is_valid():
            # Named by what the operator asked for: the operation, or the message sent raw.
            label = form.action if isinstance(form, RawMessageForm) else form.title
            outcome = attempt(charge_point.pk, label, lambda: form.send(user=request.user))
            if isinstance(outcome.error, commands.InvalidArguments):
                # Nothing was sent: the operation refused what the form collected.
                form.add_argument_errors(outcome.error)
                outcome = None
            else:
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
        "ocpp_version": charge_point.version,
        "command_form": form,
        "adminform": helpers.AdminForm(form, form.get_fieldsets(), {}, model_admin=model_admin),
        "errors": helpers.AdminErrorList(form, []),
        "media": model_admin.media + form.media,
        "outcome": outcome,
        "reservation": getattr(form, "reservation", None),
        # Shown on this page only, this once: it is stored as a hash.
        "new_password": getattr(form, "new_password", None),
        "change_url": reverse("admin:chargepoints_chargepoint_change", args=[quote(charge_point.pk)]),
        "command_links": command_links(charge_point.pk),
        "has_view_permission": model_admin.has_view_permission(request, charge_point),
    }
    request.current_app = model_admin.admin_site.name
    return TemplateResponse(request, TEMPLATE, context)
