"""Writes about API tokens: issue, revoke, migrate the plain-text tokens of older versions."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from knox.models import AuthToken


def _default_ttl() -> timedelta | None:
    hours = settings.API_TOKEN_TTL_HOURS
    return timedelta(hours=hours) if hours else None


def api_token_create(*, user, ttl: timedelta | None | str = "default") -> tuple[AuthToken, str]:
    """Issue a new API token for `user`; returns (the row, the token).

    The token itself is returned only here: the row keeps its SHA-512 digest
    and its first 15 characters (`token_key`, to tell tokens apart). `ttl`:
    lifetime, None for a token that never expires, "default" for
    API_TOKEN_TTL_HOURS.
    """
    return AuthToken.objects.create(user=user, expiry=_default_ttl() if ttl == "default" else ttl)


def api_token_revoke(*, user, token_key: str) -> int:
    """Revoke `user`'s tokens starting with `token_key` (15 characters, as listed); returns how many (0 or 1)."""
    deleted, _ = AuthToken.objects.filter(user=user, token_key=token_key).delete()
    return deleted


def api_token_delete(*, token: AuthToken) -> None:
    """Revoke `token` (the one a request authenticated with: logout)."""
    token.delete()


def api_tokens_revoke_all(*, user) -> int:
    """Revoke every API token of `user`; returns how many."""
    deleted, _ = AuthToken.objects.filter(user=user).delete()
    return deleted


def legacy_tokens_migrate(*, ttl: timedelta | None | str = "default") -> list[tuple[str, str]]:
    """Replace each plain-text rest_framework.authtoken token by a new hashed one; atomic.

    Returns [(username, new token)] to hand to their owners; the old tokens
    are deleted (they stop working even with API_LEGACY_TOKENS).
    """
    from rest_framework.authtoken.models import Token

    issued = []
    with transaction.atomic():
        for legacy in Token.objects.select_related("user").order_by("created"):
            _, token = api_token_create(user=legacy.user, ttl=ttl)
            issued.append((legacy.user.get_username(), token))
            legacy.delete()
    return issued
