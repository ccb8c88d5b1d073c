"""Where an HTTP request came from, believing X-Forwarded-For only from TRUSTED_PROXIES."""

from __future__ import annotations

from django.conf import settings


def client_address(request) -> str:
    """The client's IP address of `request` (Django HttpRequest or DRF Request), as a string.

    REMOTE_ADDR, unless that is one of settings.TRUSTED_PROXIES: then the last
    address of X-Forwarded-For (the one the proxy appended; earlier entries are
    the client's own claims). Used for the login lockout (django-axes'
    AXES_CLIENT_IP_CALLABLE) and the API throttles. "" when unknown.
    """
    meta = request.META
    address = meta.get("REMOTE_ADDR", "") or ""
    if address in settings.TRUSTED_PROXIES:
        forwarded = meta.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            address = forwarded.split(",")[-1].strip()
    return address
