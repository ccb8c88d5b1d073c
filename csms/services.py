"""Writes about the deployment's own users: the demo's operator account (its API token: accounts.services), the operator and viewer roles."""

from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model
from django.db import transaction


def admin_user_ensure(*, username: str, password: str | None = None):
    """The superuser `username`, created if missing, made active staff and superuser otherwise.

    `password` sets its password (a random one for a new user when None).
    Returns (user, the password to show: None when it was left unchanged).
    """
    User = get_user_model()
    user = User.objects.filter(**{User.USERNAME_FIELD: username}).first()
    if user is None:
        password = password or secrets.token_urlsafe(12)
        user = User.objects.create_superuser(**{User.USERNAME_FIELD: username}, email="", password=password)
        return user, password
    changed = []
    if not (user.is_staff and user.is_superuser and user.is_active):
        user.is_staff = user.is_superuser = user.is_active = True
        changed += ["is_staff", "is_superuser", "is_active"]
    if password:
        user.set_password(password)
        changed.append("password")
    if changed:
        user.save(update_fields=changed)
    return user, password


# The two roles README "Permissions" describes, as Django groups. Model names are
# resolved when the groups are written, so a model added later joins "view" at once.
ROLE_APPS = ("chargepoints", "transactions")
OPERATOR_PERMISSIONS = (
    "chargepoints.add_chargepoint",
    "chargepoints.change_chargepoint",
    "chargepoints.delete_chargepoint",
    "chargepoints.send_command",
    "chargepoints.change_variable",
    "transactions.add_idtag",
    "transactions.change_idtag",
    "transactions.delete_idtag",
    "transactions.change_transaction",
)
ROLES = {"Viewers": "viewer", "Operators": "operator"}


def role_permissions(role: str) -> list:
    """The Permission rows of `role` ("viewer" or "operator"); KeyError for another name.

    viewer: every view_<model> of the chargepoints and transactions apps.
    operator: the viewer's, plus registering/changing/deleting charge points and
    id tags, closing transactions, setting device model variables and
    `chargepoints.send_command`. Permissions Django has not created yet
    (before `migrate`) are left out.
    """
    from django.contrib.auth.models import Permission
    from django.db.models import Q

    if role not in ROLES.values():
        raise KeyError(role)
    query = Q(content_type__app_label__in=ROLE_APPS, codename__startswith="view_")
    if role == "operator":
        for name in OPERATOR_PERMISSIONS:
            app_label, codename = name.split(".")
            query |= Q(content_type__app_label=app_label, codename=codename)
    return list(Permission.objects.filter(query).select_related("content_type").order_by("content_type__app_label", "codename"))


@transaction.atomic
def role_groups_ensure() -> dict:
    """Create or reset the groups "Viewers" and "Operators" to exactly their role's permissions.

    Returns {group name: number of permissions}. Idempotent: run it again
    after a migration adds models. Users are put in a group with
    `role_grant` or the admin's user page.
    """
    from django.contrib.auth.models import Group

    counts = {}
    for name, role in ROLES.items():
        group, _ = Group.objects.get_or_create(name=name)
        permissions = role_permissions(role)
        group.permissions.set(permissions)
        counts[name] = len(permissions)
    return counts


@transaction.atomic
def role_grant(*, username: str, role: str, staff: bool = True):
    """Put user `username` in the group of `role` ("viewer" or "operator"); with `staff`, also let them into the admin.

    Without `staff` the user keeps its staff status (an integrator's API
    account needs none). The groups are (re)created first. Raises
    User.DoesNotExist for an unknown user, KeyError for an unknown role.
    Returns the user.
    """
    from django.contrib.auth.models import Group

    User = get_user_model()
    if role not in ROLES.values():
        raise KeyError(role)
    user = User.objects.get(**{User.USERNAME_FIELD: username})
    role_groups_ensure()
    group_name = next(name for name, r in ROLES.items() if r == role)
    user.groups.add(Group.objects.get(name=group_name))
    if staff and not user.is_staff:
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    return user
