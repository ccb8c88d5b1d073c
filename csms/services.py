"""Writes about the deployment's own users: the demo's operator account and its API token."""

from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model


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


def api_token_get_or_create(*, user) -> str:
    """The key of `user`'s REST API token, created if missing; "" when tokens are not installed."""
    try:
        from rest_framework.authtoken.models import Token
    except ImportError:  # pragma: no cover - the project installs it
        return ""
    return Token.objects.get_or_create(user=user)[0].key
