"""Who may do what through the REST API: Django's model permissions, the same ones the admin checks.

Every endpoint needs an authenticated, active user, then:

- a model-backed endpoint (`ModelPermissions`, the project default): GET,
  HEAD and OPTIONS need `view_<model>`, POST `add_<model>`, PUT and PATCH
  `change_<model>`, DELETE `delete_<model>`; a view's `action_permissions`
  ({action name: [permission, …]}) replaces that for custom actions whose
  method says nothing about the right (POST …/password/ is no "add").
- a command or an operation (`SendCommandPermission`): `chargepoints.send_command`.

Staff status is *not* required: it means "may log into the admin", and an
integrator's service account should hold exactly the model permissions it
needs without an admin login. A superuser holds every permission. Anonymous
requests are answered 401, authenticated ones without the permission 403.
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured
from rest_framework.permissions import BasePermission, DjangoModelPermissions

from chargepoints.permissions import can_send_commands


class ModelPermissions(DjangoModelPermissions):
    """DRF's DjangoModelPermissions, with `view_<model>` for reads and per-action overrides.

    The model is the view's `queryset` model (its `get_queryset()` when it
    has no `queryset` attribute). `view.action_permissions`, when it names
    the request's action, gives the full list of permissions instead.
    A view with neither a model nor a declaration raises ImproperlyConfigured
    (HTTP 500): an endpoint nobody mapped is a bug, never an open door.
    """

    perms_map = {
        **DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "OPTIONS": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
    }

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated and user.is_active):
            return False
        declared = getattr(view, "action_permissions", {})
        action = getattr(view, "action", None)
        if action in declared:
            return user.has_perms(declared[action])
        return user.has_perms(self.get_required_permissions(request.method, self._model(view)))

    @staticmethod
    def _model(view):
        # The class attribute first: a get_queryset() that validates query
        # parameters would answer 400 before the permission is even checked.
        queryset = getattr(view, "queryset", None)
        if queryset is None and hasattr(view, "get_queryset"):
            queryset = view.get_queryset()
        if queryset is None:
            raise ImproperlyConfigured(f"{type(view).__name__} declares no model: set queryset or permission_classes")
        return queryset.model


class SendCommandPermission(BasePermission):
    """Commands and operations sent to a charge point: `chargepoints.send_command` (see chargepoints.permissions)."""

    message = "Sending commands to charge points needs the permission chargepoints.send_command."

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated and can_send_commands(request.user))
