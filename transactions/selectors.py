"""Reads about id tags and transactions."""

from __future__ import annotations

from django.db.models import QuerySet

from .models import AuthorizationStatus, IdTag, Transaction


def id_tag_info_for(id_tag: str) -> dict:
    """OCPP 1.6 IdTagInfo (§7.34) for `id_tag` as a camelCase dict; unknown tags are Invalid.

    Id tags are matched exactly as the charge point sends them.
    """
    tag = IdTag.objects.select_related("parent").filter(id_tag=id_tag).first()
    if tag is None:
        return {"status": AuthorizationStatus.INVALID.value}
    return tag.id_tag_info()


def transaction_list(*, charge_point_id: str | None = None, status: str | None = None) -> QuerySet[Transaction]:
    """Transactions, newest first; `status` is "active" (not stopped) or "completed" (stopped)."""
    qs = Transaction.objects.select_related("charge_point")
    if charge_point_id:
        qs = qs.filter(charge_point_id=charge_point_id)
    if status == "active":
        qs = qs.filter(stop_timestamp__isnull=True, is_orphan=False)
    elif status == "completed":
        qs = qs.filter(stop_timestamp__isnull=False)
    return qs
