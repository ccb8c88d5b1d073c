"""Reads about API tokens."""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.utils import timezone
from knox.models import AuthToken


def api_tokens_of(*, user) -> QuerySet[AuthToken]:
    """`user`'s API tokens that have not expired, newest first (digests only: a token is never stored)."""
    return AuthToken.objects.filter(Q(expiry__isnull=True) | Q(expiry__gt=timezone.now()), user=user).order_by("-created")
