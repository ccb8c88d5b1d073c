"""Who may watch a charge point's frames: active staff who may view charge points (the admin's own rule)."""

from __future__ import annotations

from ..models import ChargePoint

# The admin lets the change permission view as well (ModelAdmin.has_view_permission).
VIEW_PERMISSIONS = ("chargepoints.view_chargepoint", "chargepoints.change_chargepoint")


def can_watch(user) -> bool:
    """Whether `user` (a Django user, possibly anonymous or None) may see charge points' live frames.

    Active staff holding view or change permission on charge points (or a
    superuser). Frames carry what charge points say (id tags, meter values);
    their secrets are hidden, but nobody outside the admin sees them. Reads
    permissions from the database (once per user object).
    """
    if user is None or not user.is_authenticated or not user.is_active or not user.is_staff:
        return False
    return any(user.has_perm(permission) for permission in VIEW_PERMISSIONS)


def charge_point_for_console(*, user, charge_point_id: str) -> ChargePoint | None:
    """The charge point `charge_point_id` when `user` may watch it (`can_watch`); None otherwise, or when it does not exist."""
    if not can_watch(user):
        return None
    return ChargePoint.objects.filter(pk=charge_point_id).first()
