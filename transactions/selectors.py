"""Reads about id tags and transactions."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from chargepoints.ocpp.datetimes import format_datetime

from .models import AuthorizationStatus, IdTag, MeterValue, Transaction, TransactionStatus


def id_tag_info_for(id_tag: str) -> dict:
    """OCPP 1.6 IdTagInfo (§7.34) for `id_tag` as a camelCase dict; unknown tags are Invalid.

    Id tags are matched exactly as the charge point sends them.
    """
    tag = IdTag.objects.select_related("parent").filter(id_tag=id_tag).first()
    if tag is None:
        return {"status": AuthorizationStatus.INVALID.value}
    return tag.id_tag_info()


def id_token_info_for(id_token: str) -> dict:
    """OCPP 2.0.1 IdTokenInfoType (C01) for `id_token` as a camelCase dict; unknown tokens are Unknown.

    status, plus cacheExpiryDateTime (the expiry date) and groupIdToken (the
    parent) when set.
    """
    tag = IdTag.objects.select_related("parent").filter(id_tag=id_token).first()
    if tag is None:
        return {"status": "Unknown"}
    info = {"status": tag.effective_status()}
    if tag.expiry_date:
        info["cacheExpiryDateTime"] = format_datetime(tag.expiry_date)
    if tag.parent_id:
        info["groupIdToken"] = {"idToken": tag.parent.id_tag, "type": tag.parent.type or "Central"}
    return info


def transaction_list(*, charge_point_id: str | None = None, status: str | None = None) -> QuerySet[Transaction]:
    """Transactions, newest first; `status` is "active" (not stopped) or "completed" (stopped)."""
    qs = Transaction.objects.select_related("charge_point")
    if charge_point_id:
        qs = qs.filter(charge_point_id=charge_point_id)
    if status == TransactionStatus.ACTIVE:
        qs = qs.active()
    elif status == TransactionStatus.COMPLETED:
        qs = qs.completed()
    return qs


def transaction_get(*, transaction_id: int) -> Transaction | None:
    """One transaction with its meter values prefetched oldest first, or None when unknown."""
    return (
        Transaction.objects.filter(pk=transaction_id)
        .prefetch_related(Prefetch("meter_values", queryset=MeterValue.objects.order_by("timestamp", "id")))
        .first()
    )


def id_tag_list() -> QuerySet[IdTag]:
    """Id tags ordered by id tag, with their parent joined (for parent_id_tag)."""
    return IdTag.objects.select_related("parent").order_by("id_tag")


def local_authorization_list(*, since=None) -> list[dict]:
    """OCPP 1.6 localAuthorizationList entries (§7.1 AuthorizationData) built from the id tags table.

    All id tags, or with `since` (a datetime) only those changed after it, for
    a Differential update. Each entry: {"idTag": str, "idTagInfo": IdTagInfo}.
    """
    tags = IdTag.objects.select_related("parent").order_by("id_tag")
    if since is not None:
        tags = tags.filter(updated_at__gt=since)
    return [{"idTag": tag.id_tag, "idTagInfo": tag.id_tag_info()} for tag in tags]
