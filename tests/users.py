"""Users of each kind for tests: a role's member, made through `csms.services.role_grant` like an operator would."""

from __future__ import annotations

from django.contrib.auth import get_user_model

from csms import services

# What checking a user's model permissions costs once per request: its own permissions and its groups'.
PERMISSION_QUERIES = 2


def user_with_role(username: str, role: str = "operator", *, staff: bool = True, password: str | None = None):
    """A new user in the group of `role` ("viewer" or "operator"); staff unless `staff` is False. No password by default (fast)."""
    get_user_model().objects.create_user(username, password=password)
    return services.role_grant(username=username, role=role, staff=staff)
