"""API token authentication: knox's hashed expiring tokens, failures counted per address.

`Authorization: Token <token>`. A token is stored as its SHA-512 digest
(django-rest-knox), expires (API_TOKEN_TTL_HOURS) and is revoked per token.
Each failed attempt counts against the client's address in Django's cache;
past API_AUTH_FAILURES_PER_ADDRESS within API_AUTH_FAILURE_WINDOW seconds
every token from that address is refused with 429 unchecked until the window
ends, so guessing tokens costs as much as guessing passwords.
With API_LEGACY_TOKENS, plain-text `rest_framework.authtoken` keys of older
versions are still accepted (one release; `manage.py tokens_migrate`).
"""

from __future__ import annotations

from django.conf import settings
from knox.auth import TokenAuthentication
from rest_framework import exceptions

from csms.cache import shared as shared_cache

from .clients import client_address

_KEY = "api-auth-failures:{}"


class ApiTokenAuthentication(TokenAuthentication):
    """knox TokenAuthentication plus a per-address failure limit and optional legacy keys.

    Returns (user, AuthToken) for a knox token, (user, legacy Token) for an
    accepted legacy key, None without a `Token` Authorization header. Raises
    AuthenticationFailed (401) for a wrong, expired or revoked token and
    Throttled (429, Retry-After) while the address is over its limit.
    """

    def authenticate(self, request):
        limit = settings.API_AUTH_FAILURES_PER_ADDRESS
        key = _KEY.format(client_address(request))
        if limit and _failures(key) >= limit:
            raise exceptions.Throttled(wait=settings.API_AUTH_FAILURE_WINDOW, detail="Too many failed authentications from this address.")
        try:
            return super().authenticate(request)
        except exceptions.AuthenticationFailed:
            legacy = _legacy(request)
            if legacy is not None:
                return legacy
            if limit:
                _count_failure(key)
            raise


def _failures(key: str) -> int:
    try:
        return int(shared_cache().get(key, 0))
    except Exception:  # noqa: BLE001 - a cache outage must not lock everyone out
        return 0


def _count_failure(key: str) -> None:
    try:
        # add() starts the window; incr() keeps its expiry (Redis INCR, locmem likewise).
        cache = shared_cache()
        if not cache.add(key, 1, timeout=settings.API_AUTH_FAILURE_WINDOW):
            cache.incr(key)
    except Exception:  # noqa: BLE001,S110 - counting is best effort
        pass


def _legacy(request):
    """(user, Token) when API_LEGACY_TOKENS is on and the header holds a valid rest_framework.authtoken key."""
    if not settings.API_LEGACY_TOKENS:
        return None
    from rest_framework.authentication import TokenAuthentication as LegacyTokenAuthentication

    try:
        return LegacyTokenAuthentication().authenticate(request)
    except exceptions.AuthenticationFailed:
        return None
