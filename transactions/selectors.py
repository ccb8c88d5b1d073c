"""Reads about id tags and transactions."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from .models import AuthorizationStatus, IdTag, MeterValue, Reservation, Transaction, TransactionStatus

# What `chargepoints.ocpp.limits` puts where a charge point sent a character no
# column holds: such an id tag is not the one any card carries.
UNREADABLE = "\ufffd"


def id_tag_info_for(id_tag: str) -> dict:
    """OCPP 1.6 IdTagInfo (§7.34) for `id_tag` as a camelCase dict; unknown tags are Invalid.

    Id tags are matched exactly as the charge point sends them. One holding
    U+FFFD (where the charge point sent a NUL or a lone surrogate, which no
    database column holds: `chargepoints.ocpp.limits`) is Invalid.
    """
    if UNREADABLE in id_tag:
        return {"status": AuthorizationStatus.INVALID.value}
    tag = IdTag.objects.select_related("parent").filter(id_tag=id_tag).first()
    if tag is None:
        return {"status": AuthorizationStatus.INVALID.value}
    return tag.id_tag_info()


def id_token_info_for(id_token: str) -> dict:
    """OCPP 2.0.1 IdTokenInfoType (C01) for `id_token` as a camelCase dict; unknown tokens are Unknown.

    status, plus cacheExpiryDateTime (the expiry date) and groupIdToken (the
    parent) when set. A token holding U+FFFD (a NUL or lone surrogate
    replaced on arrival) is Invalid.
    """
    if UNREADABLE in id_token:
        return {"status": AuthorizationStatus.INVALID.value}
    tag = IdTag.objects.select_related("parent").filter(id_tag=id_token).first()
    if tag is None:
        return {"status": "Unknown"}
    return tag.id_token_info()


def id_tag_type(id_tag: str) -> str:
    """The 2.0.1 IdTokenEnumType stored for `id_tag`; "" when unknown or typeless (a 1.6 id tag)."""
    return IdTag.objects.filter(id_tag=id_tag).values_list("type", flat=True).first() or ""


def id_tags_changed(*, since=None) -> QuerySet[IdTag]:
    """Id tags ordered by id tag, their parent joined; with `since` only those changed after it (a Differential list)."""
    tags = IdTag.objects.select_related("parent").order_by("id_tag")
    if since is not None:
        tags = tags.filter(updated_at__gt=since)
    return tags


def transaction_of(*, charge_point_id: str, transaction_pk: int | None = None, station_transaction_id: str | None = None):
    """The charge point's Transaction with primary key `transaction_pk` (a 1.6 transactionId), or with the
    station's own 2.0.1 transactionId `station_transaction_id`; None if none."""
    transactions = Transaction.objects.filter(charge_point_id=charge_point_id)
    if transaction_pk is not None:
        return transactions.filter(pk=transaction_pk).first()
    return transactions.filter(station_transaction_id=station_transaction_id).first()


def transaction_active_on(*, charge_point_id: str, evse_id: int) -> Transaction | None:
    """The charge point's active (not stopped) transaction on EVSE `evse_id` (a 1.6 connector N is EVSE N), newest; None if none."""
    on_evse = Q(evse_id=evse_id) | Q(evse_id__isnull=True, connector_id=evse_id)
    return Transaction.objects.active().filter(on_evse, charge_point_id=charge_point_id).order_by("-start_timestamp", "-pk").first()


def transaction_list(*, charge_point_id: str | None = None, status: str | None = None) -> QuerySet[Transaction]:
    """Transactions, newest first; `status` is "active" (not stopped), "completed" (stopped) or "orphan".

    Annotated with `energy_wh_sort`: meter stop (or the latest register
    reading) minus meter start in Wh, NULL when unknown, for filters and
    ordering by energy (`Transaction.energy_wh` reads 0 for an active one
    without readings; the annotation is NULL there).
    """
    qs = Transaction.objects.select_related("charge_point", "stopped_by").annotate(
        energy_wh_sort=Coalesce(F("meter_stop_wh"), F("last_meter_wh")) - F("meter_start_wh")
    )
    if charge_point_id:
        qs = qs.filter(charge_point_id=charge_point_id)
    qs = qs.order_by("-id")
    return transactions_filter_status(qs, status=status) if status else qs


def transactions_filter_status(transactions: QuerySet[Transaction], *, status: str) -> QuerySet[Transaction]:
    """`transactions` of one TransactionStatus: active (not stopped), completed (stopped, orphans included) or orphan."""
    if status == TransactionStatus.ACTIVE:
        return transactions.active()
    if status == TransactionStatus.COMPLETED:
        return transactions.completed()
    if status == TransactionStatus.ORPHAN:
        return transactions.filter(is_orphan=True)
    raise ValueError(f"unknown transaction status {status!r}")


# How many meter values a transaction's detail embeds: the latest ones, as in
# the admin. All of them are paged by meter_value_list.
TRANSACTION_DETAIL_METER_VALUES = 200


def transaction_get(*, transaction_pk: int, meter_values_limit: int = TRANSACTION_DETAIL_METER_VALUES) -> Transaction | None:
    """One transaction, or None when unknown, with a bounded view of its meter values.

    Sets on the transaction `meter_values_count` (int, all its sampled values)
    and `latest_meter_values` (list of at most `meter_values_limit`
    MeterValues: the latest ones, oldest first). Two queries whatever the
    number of meter values; a long session has tens of thousands.
    """
    count = MeterValue.objects.filter(transaction=OuterRef("pk")).order_by().values("transaction").annotate(n=Count("pk")).values("n")
    tx = (
        Transaction.objects.select_related("stopped_by")
        .filter(pk=transaction_pk)
        .annotate(meter_values_count=Coalesce(Subquery(count), 0))
        .first()
    )
    if tx is None:
        return None
    latest = MeterValue.objects.filter(transaction=tx).order_by("-timestamp", "-id")[:meter_values_limit]
    tx.latest_meter_values = list(latest)[::-1]
    return tx


def transaction_exists(*, transaction_pk: int) -> bool:
    """Whether this system knows a transaction of that primary key."""
    return Transaction.objects.filter(pk=transaction_pk).exists()


def meter_value_list(
    *,
    transaction_pk: int,
    measurand: str | None = None,
    phase: str | None = None,
    context: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[MeterValue]:
    """The sampled values (OCPP 1.6 §7.43) of one transaction, oldest first (timestamp, then id).

    Filters: `measurand`, `phase` and `context` match exactly (phase "" means
    none given); `since` (inclusive) and `until` (exclusive) bound the
    MeterValue timestamp, timezone-aware datetimes. Served by the
    (transaction, timestamp) index.
    """
    qs = MeterValue.objects.filter(transaction_id=transaction_pk)
    if measurand is not None:
        qs = qs.filter(measurand=measurand)
    if phase is not None:
        qs = qs.filter(phase=phase)
    if context is not None:
        qs = qs.filter(context=context)
    if since is not None:
        qs = qs.filter(timestamp__gte=since)
    if until is not None:
        qs = qs.filter(timestamp__lt=until)
    return qs.order_by("timestamp", "id")


def meter_values_of_charge_point(*, charge_point_id: str) -> QuerySet[MeterValue]:
    """Every sampled value a charge point sent, in or out of a transaction, oldest first (timestamp, then id)."""
    return MeterValue.objects.filter(charge_point_id=charge_point_id).order_by("timestamp", "id")


def id_tags_by_string(id_tags) -> dict[str, IdTag]:
    """The stored id tags among the strings `id_tags`, by id_tag."""
    return {tag.id_tag: tag for tag in IdTag.objects.filter(id_tag__in=list(id_tags))}


def id_tag_list() -> QuerySet[IdTag]:
    """Id tags ordered by id tag, with their parent joined (for parent_id_tag)."""
    return IdTag.objects.select_related("parent").order_by("id_tag")


def reservation_list() -> QuerySet[Reservation]:
    """Reservations (ReserveNow, 1.6 §5.13, 2.0.1 H01), newest first."""
    return Reservation.objects.order_by("-id")
