"""The console in a page of its own: /console/<charge point id>/ (the admin's look, outside the admin's URLs)."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.utils import quote
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.template.response import TemplateResponse
from django.urls import reverse

from ..models import ChargePoint
from . import access

TEMPLATE = "admin/chargepoints/chargepoint/console_page.html"


@staff_member_required
def console_page(request, charge_point_id: str):
    """GET: the live frame console of `charge_point_id` (the browser then opens ws/console/<id>/).

    Staff only (others go to the admin's login); 403 without view permission
    on charge points, 404 for an unknown charge point.
    """
    if not access.can_watch(request.user):
        raise PermissionDenied
    charge_point = ChargePoint.objects.filter(pk=charge_point_id).first()
    if charge_point is None:
        raise Http404(f"No charge point {charge_point_id!r}")
    opts = ChargePoint._meta
    context = {
        **admin.site.each_context(request),
        "title": f"Live frames of {charge_point}",
        "subtitle": None,
        "opts": opts,
        "charge_point": charge_point,
        "change_url": reverse("admin:chargepoints_chargepoint_change", args=[quote(charge_point.pk)]),
        "has_view_permission": True,
    }
    return TemplateResponse(request, TEMPLATE, context)
