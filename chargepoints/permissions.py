"""Who may command a charge point: one rule for the admin, the API, bulk actions and manage.py.

Sending a command reaches the hardware (a hard reset cuts a charging
session, a remote start delivers energy, a new password can lock the charge
point out), so it needs its own permission, `chargepoints.send_command`
(a Meta permission of ChargePoint), rather than following from the right
to change the charge point's row. Superusers hold every permission.
"""

from __future__ import annotations

SEND_COMMAND = "chargepoints.send_command"
# Setting a Basic-auth password decides whether the charge point can connect and hands out a
# credential that lets its holder speak as the charge point: a change of the row *and* a command.
SET_PASSWORD = ("chargepoints.change_chargepoint", SEND_COMMAND)


def can_send_commands(user) -> bool:
    """Whether `user` (a Django user, possibly anonymous) may send commands and operations to charge points.

    True for an active user holding `chargepoints.send_command` (directly,
    through a group, or as a superuser); False otherwise. Raises nothing.
    """
    return bool(user is not None and user.is_active and user.has_perm(SEND_COMMAND))


def can_set_password(user) -> bool:
    """Whether `user` may set a charge point's Basic-auth password: change permission and send_command."""
    return bool(user is not None and user.is_active and user.has_perms(SET_PASSWORD))
