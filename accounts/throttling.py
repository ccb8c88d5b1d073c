"""API throttles (DRF) whose rates are read from settings at each request and whose addresses follow TRUSTED_PROXIES.

DRF's own throttles freeze their rates at import; these read
settings.API_THROTTLE_RATES each time so a deployment (and a test) can change
them. A rate of None turns the scope off. Counters live in Django's cache:
Redis, shared by every process, when REDIS_URL is set, through the process's
one instance (`csms.cache`).
"""

from __future__ import annotations

from django.conf import settings
from rest_framework import throttling

from csms.cache import shared as shared_cache

from .clients import client_address


class _RatesFromSettings:
    @property
    def cache(self):
        # The process's one cache instance: DRF's default is Django's per-request one (a Redis connect per request).
        return shared_cache()

    def get_rate(self):
        return settings.API_THROTTLE_RATES.get(self.scope)

    def get_ident(self, request):
        return client_address(request)


class UserRateThrottle(_RatesFromSettings, throttling.UserRateThrottle):
    """Requests per authenticated user (scope "user"), per address for anonymous ones; 429 past API_THROTTLE_USER."""


class AnonRateThrottle(_RatesFromSettings, throttling.AnonRateThrottle):
    """Requests per address of anonymous clients (scope "anon"); 429 past API_THROTTLE_ANON."""


class LoginRateThrottle(_RatesFromSettings, throttling.SimpleRateThrottle):
    """Token logins per address (scope "login", POST /api/v1/auth/login/); 429 past API_THROTTLE_LOGIN."""

    scope = "login"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
