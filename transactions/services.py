"""Writes about transactions and meter values (OCPP 1.6 §4.8, §4.10, §4.7).

Keyword-only arguments, one database transaction each, one call per OCPP
frame. Energies are integers in Wh; timestamps timezone-aware UTC.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from .models import (
    AuthorizationStatus,
    IdTag,
    MeterValue,
    Reservation,
    ReservationStatus,
    Transaction,
    TransactionEvent,
)
from .selectors import id_tag_info_for, id_token_info_for

logger = logging.getLogger("csms.transactions")


def _default(field: str) -> str:
    """The OCPP default of a SampledValue field, as `MeterValue` stores it when the charge point leaves it out."""
    return MeterValue._meta.get_field(field).default


@dataclass(frozen=True)
class SampledValue:
    """One SampledValue (1.6 §7.43, 2.0.1 SampledValueType) with the OCPP defaults already applied."""

    value: str
    measurand: str = _default("measurand")
    phase: str = ""
    unit: str = _default("unit")
    context: str = _default("context")
    location: str = _default("location")
    format: str = _default("format")


@dataclass(frozen=True)
class MeterSample:
    """One OCPP 1.6 MeterValue (§7.42): a timestamp and its sampled values."""

    timestamp: datetime
    sampled_values: list[SampledValue]


def transaction_start(
    *,
    charge_point_id: str,
    connector_id: int,
    id_tag: str,
    meter_start_wh: int,
    timestamp: datetime,
    reservation_id: int | None = None,
) -> tuple[Transaction, dict]:
    """Open a transaction for a StartTransaction (OCPP 1.6 §4.8); returns it and the IdTagInfo to answer.

    The transaction's primary key is the system-wide transactionId. The
    transaction is stored whatever the id tag's status: the charge point may
    already be charging, and it stops by itself when told the tag is not
    Accepted. A StartTransaction identical to one already stored (a retry after
    a lost reply) returns the stored transaction and creates nothing.
    """
    info = id_tag_info_for(id_tag)
    key = dict(
        charge_point_id=charge_point_id,
        connector_id=connector_id,
        id_tag=id_tag,
        start_timestamp=timestamp,
        meter_start_wh=meter_start_wh,
        is_orphan=False,
    )
    existing = Transaction.objects.filter(**key).first()
    if existing is not None:
        return existing, info
    try:
        with transaction.atomic():
            tx = Transaction.objects.create(
                **key,
                evse_id=connector_id,  # a 1.6 connector N is EVSE N
                reservation_id=reservation_id,
                id_tag_status=info["status"],
            )
            if reservation_id is not None:
                # §5.13: a transaction started on a reservation consumes it.
                Reservation.objects.filter(pk=reservation_id, charge_point_id=charge_point_id, status=ReservationStatus.ACCEPTED).update(
                    status=ReservationStatus.USED, transaction=tx
                )
    except IntegrityError:
        # The same StartTransaction raced in from a second connection.
        tx = Transaction.objects.get(**key)
    return tx, info


@transaction.atomic
def transaction_stop(
    *,
    charge_point_id: str,
    transaction_pk: int,
    meter_stop_wh: int,
    timestamp: datetime,
    reason: str = "",
    id_tag: str = "",
    transaction_data: list[MeterSample] = (),
) -> tuple[Transaction, dict | None]:
    """Close a transaction for a StopTransaction (OCPP 1.6 §4.10); returns it and the IdTagInfo to answer.

    `transaction_pk` is the 1.6 wire transactionId, which in 1.6 is our
    Transaction's primary key. The IdTagInfo is None when no id tag was sent. A transaction id this
    system never issued to this charge point is stored as an orphan row, with
    its meter data, rather than dropped. A StopTransaction repeated for an
    already stopped transaction (or a repeated orphan stop, same id and
    timestamp) stores nothing twice. Sampled values of `transaction_data`
    already stored by a MeterValues of the same transaction (StopTxnSampledData
    often repeats the periodic samples) are not stored again: see
    `_store_samples`.
    """
    info = id_tag_info_for(id_tag) if id_tag else None
    tx = Transaction.objects.select_for_update().filter(pk=transaction_pk, charge_point_id=charge_point_id).first()
    if tx is None:
        orphan = Transaction.objects.filter(
            charge_point_id=charge_point_id, is_orphan=True, orphan_transaction_id=transaction_pk, stop_timestamp=timestamp
        ).first()
        if orphan is not None:
            # The same stop retried after a lost reply: its orphan row and meter data are already stored.
            return orphan, info
        logger.warning("%s: StopTransaction for unknown transaction %s; stored as orphan", charge_point_id, transaction_pk)
        tx = Transaction.objects.create(
            charge_point_id=charge_point_id,
            is_orphan=True,
            orphan_transaction_id=transaction_pk,
            stop_timestamp=timestamp,
            meter_stop_wh=meter_stop_wh,
            stop_reason=reason,
            stop_id_tag=id_tag,
        )
    elif tx.stop_timestamp is not None:
        if (tx.stop_timestamp, tx.meter_stop_wh) != (timestamp, meter_stop_wh):
            logger.warning(
                "%s: second StopTransaction for transaction %s differs from the first; keeping the first",
                charge_point_id,
                transaction_pk,
            )
        return tx, info
    else:
        tx.stop_timestamp = timestamp
        tx.meter_stop_wh = meter_stop_wh
        tx.stop_reason = reason
        tx.stop_id_tag = id_tag
        tx.save(update_fields=["stop_timestamp", "meter_stop_wh", "stop_reason", "stop_id_tag"])
    if transaction_data:
        _store_samples(
            charge_point_id=charge_point_id,
            evse_id=tx.connector_id or 0,  # a 1.6 connector N is EVSE N
            tx=tx,
            samples=transaction_data,
        )
    return tx, info


@transaction.atomic
def meter_values_create(*, charge_point_id: str, evse_id: int, transaction_pk: int | None, samples: list[MeterSample]) -> list[MeterValue]:
    """Store the sampled values of a MeterValues request (OCPP 1.6 §4.7, 2.0.1 J01); returns them as rows.

    `evse_id` is the 2.0.1 evseId or the 1.6 connectorId (connector N is EVSE N).

    Values are linked to the transaction when `transaction_pk` (the 1.6 wire
    transactionId, our primary key; None for 2.0.1, whose MeterValues name
    no transaction) names one of this charge point's transactions; values naming an unknown transaction are
    still stored, unlinked, and logged. Idempotent: a request resent after a
    lost CALLRESULT stores nothing again, as a reading already stored is
    skipped (one row per reading: MeterValue's `meter_value_reading_unique`).
    Rows are written with one bulk insert; the returned rows have no pk.
    """
    tx = None
    if transaction_pk is not None:
        tx = Transaction.objects.filter(pk=transaction_pk, charge_point_id=charge_point_id).first()
        if tx is None:
            logger.warning("%s: MeterValues for unknown transaction %s; stored unlinked", charge_point_id, transaction_pk)
    return _store_samples(charge_point_id=charge_point_id, evse_id=evse_id, tx=tx, samples=samples)


def _store_samples(*, charge_point_id, evse_id, tx, samples) -> list[MeterValue]:
    """Insert the sampled values of `samples` (MeterSample list); returns them all as unsaved-pk rows.

    A reading already stored (the key of MeterValue's `meter_value_reading_unique`)
    is skipped by the database itself (INSERT OR IGNORE / ON CONFLICT DO
    NOTHING): no lookup before the insert, and no race between two
    connections. The returned rows are all the request's values, stored now
    or before; their pk is not set.
    """
    rows = [
        MeterValue(
            charge_point_id=charge_point_id,
            transaction=tx,
            evse_id=evse_id,
            timestamp=sample.timestamp,
            value=sv.value,
            measurand=sv.measurand,
            phase=sv.phase,
            unit=sv.unit,
            context=sv.context,
            location=sv.location,
            format=sv.format,
        )
        for sample in samples
        for sv in sample.sampled_values
    ]
    MeterValue.objects.bulk_create(rows, batch_size=500, ignore_conflicts=True)
    if tx is not None:
        # Already-stored readings included: moving last_meter to a reading it
        # already holds changes nothing.
        _advance_last_meter(tx, rows)
    return rows


def _advance_last_meter(tx: Transaction, rows: list[MeterValue]) -> None:
    """Keep the newest energy register reading on the transaction for live energy figures."""
    readings = [(row.timestamp, wh) for row in rows if (wh := row.value_wh) is not None and not row.phase]
    if not readings:
        return
    at, wh = max(readings, key=lambda r: r[0])
    # Conditional in SQL: a late, queued MeterValues must not move energy backwards.
    newer = Q(last_meter_at__isnull=True) | Q(last_meter_at__lte=at)
    if Transaction.objects.filter(newer, pk=tx.pk).update(last_meter_wh=wh, last_meter_at=at):
        tx.last_meter_wh, tx.last_meter_at = wh, at


# --- Id tags, as operators manage them (REST API and any other tool).


class IdTagAlreadyExists(Exception):
    """Another id tag already has this id_tag string."""


_ID_TAG_FIELDS = ("id_tag", "type", "status", "expiry_date", "parent", "note")


def id_tag_create(
    *,
    id_tag: str,
    type: str = "",  # the model field's and the spec's name, though it shadows the builtin
    status: str = AuthorizationStatus.ACCEPTED,
    expiry_date: datetime | None = None,
    parent: IdTag | None = None,
    note: str = "",
) -> IdTag:
    """Create an id tag (OCPP 1.6 idTag, 2.0.1 idToken) that Authorize and StartTransaction will match exactly.

    `type` is the OCPP 2.0.1 IdTokenEnumType (C01), "" for a 1.6 id tag;
    `status` an AuthorizationStatus; `expiry_date` a timezone-aware datetime
    after which the tag answers Expired; `parent` the group tag sent as
    parentIdTag (2.0.1 groupIdToken). Raises django's ValidationError for
    invalid fields and IdTagAlreadyExists when `id_tag` is taken.
    """
    tag = IdTag(id_tag=id_tag, type=type, status=status, expiry_date=expiry_date, parent=parent, note=note)
    _id_tag_clean(tag)
    return _id_tag_save(tag, force_insert=True)


def id_tag_update(*, tag: IdTag, data: dict) -> IdTag:
    """Change the fields of `tag` named in `data` (keys among id_tag, type, status, expiry_date, parent, note).

    Renaming (`id_tag`) does not touch transactions, which keep the string
    they were started with. Raises ValueError for other keys, django's
    ValidationError for invalid values and IdTagAlreadyExists on a rename to
    a taken id_tag.
    """
    unknown = set(data) - set(_ID_TAG_FIELDS)
    if unknown:
        raise ValueError(f"cannot update {', '.join(sorted(unknown))} of an id tag")
    for name, value in data.items():
        setattr(tag, name, value)
    _id_tag_clean(tag)
    return _id_tag_save(tag, update_fields=[*data, "updated_at"])


def id_tag_delete(*, tag: IdTag) -> None:
    """Delete an id tag; tags it was the parent of are left without a parent."""
    tag.delete()


def _id_tag_clean(tag: IdTag) -> None:
    # The type's choices (IdTokenEnumType, or blank) are the model field's.
    tag.full_clean(validate_unique=False)


def _id_tag_save(tag: IdTag, **save_kwargs) -> IdTag:
    # The unique constraint decides, so two requests racing for one id_tag
    # cannot both succeed.
    try:
        with transaction.atomic():
            tag.save(**save_kwargs)
    except IntegrityError:
        raise IdTagAlreadyExists(tag.id_tag) from None
    return tag


# --- OCPP 2.0.1 ------------------------------------------------------------


@dataclass(frozen=True)
class TransactionEventResult:
    """What a TransactionEvent led to: the transaction, whether the event was a retry, the IdTokenInfo to answer."""

    transaction: Transaction
    duplicate: bool
    id_token_info: dict | None


@transaction.atomic
def transaction_event_record(
    *,
    charge_point_id: str,
    event_type: str,
    timestamp: datetime,
    trigger_reason: str,
    seq_no: int,
    station_transaction_id: str,
    offline: bool = False,
    charging_state: str = "",
    stopped_reason: str = "",
    remote_start_id: int | None = None,
    evse_id: int | None = None,
    connector_id: int | None = None,
    id_token: str = "",
    id_token_type: str = "",
    reservation_id: int | None = None,
    samples: list[MeterSample] = (),
) -> TransactionEventResult:
    """Record an OCPP 2.0.1 TransactionEvent (E01–E15) and its meter values.

    The transaction is found by the station's own transactionId, `station_transaction_id`, and created by
    whichever event arrives first (a Started may be lost or arrive after an
    Updated sent offline). An event whose `seq_no` was already stored for the
    transaction is a retry: nothing is stored again. Energy: the first
    Energy.Active.Import.Register reading of the earliest event (the Started
    one, even when it arrives late) is the meter start, the reading of
    the Ended event the meter stop (both in Wh). Raises nothing for odd
    orders; the transaction ends when an Ended event arrives.
    """
    tx = (
        Transaction.objects.select_for_update()
        .filter(charge_point_id=charge_point_id, station_transaction_id=station_transaction_id)
        .first()
    )
    if tx is None:
        try:
            with transaction.atomic():
                tx = Transaction.objects.create(
                    charge_point_id=charge_point_id, station_transaction_id=station_transaction_id, start_timestamp=timestamp
                )
        except IntegrityError:  # the same first event raced in on another connection
            tx = Transaction.objects.select_for_update().get(charge_point_id=charge_point_id, station_transaction_id=station_transaction_id)
    info = id_token_info_for(id_token) if id_token else None

    try:
        with transaction.atomic():
            TransactionEvent.objects.create(
                transaction=tx,
                seq_no=seq_no,
                event_type=event_type,
                trigger_reason=trigger_reason,
                timestamp=timestamp,
                offline=offline,
                charging_state=charging_state,
                stopped_reason=stopped_reason,
                id_token=id_token,
            )
    except IntegrityError:
        return TransactionEventResult(tx, True, info)

    # A Started queued offline may arrive after Updated events: the earliest event starts the transaction.
    starts = event_type == "Started" or (tx.start_timestamp is not None and timestamp < tx.start_timestamp)
    if starts:
        tx.start_timestamp = timestamp
    if evse_id is not None:
        tx.evse_id = evse_id
    if connector_id is not None:
        tx.connector_id = connector_id
    if id_token and not tx.id_tag:
        tx.id_tag, tx.id_tag_type = id_token, id_token_type
        tx.id_tag_status = info["status"]
    if charging_state:
        tx.charging_state = charging_state
    if remote_start_id is not None:
        tx.remote_start_id = remote_start_id
    if reservation_id is not None and tx.reservation_id is None:
        tx.reservation_id = reservation_id
        Reservation.objects.filter(pk=reservation_id, charge_point_id=charge_point_id, status=ReservationStatus.ACCEPTED).update(
            status=ReservationStatus.USED, transaction=tx
        )
    if tx.last_seq_no is None or seq_no > tx.last_seq_no:
        tx.last_seq_no = seq_no

    rows = _store_samples(charge_point_id=charge_point_id, evse_id=tx.evse_id or 0, tx=tx, samples=samples)
    readings = sorted((r.timestamp, wh) for r in rows if (wh := r.value_wh) is not None and not r.phase)
    if readings and (tx.meter_start_wh is None or starts):
        tx.meter_start_wh = readings[0][1]

    if event_type == "Ended":
        tx.stop_timestamp = timestamp
        tx.stop_reason = stopped_reason or "Local"
        if id_token:
            tx.stop_id_tag = id_token
        if readings:
            tx.meter_stop_wh = readings[-1][1]
        elif tx.last_meter_wh is not None:
            tx.meter_stop_wh = tx.last_meter_wh
        if tx.meter_start_wh is None and tx.meter_stop_wh is not None:
            tx.meter_start_wh = tx.meter_stop_wh
    tx.save()
    return TransactionEventResult(tx, False, info)


def reservation_status_update(*, charge_point_id: str, reservation_id: int, status: str) -> int:
    """OCPP 2.0.1 ReservationStatusUpdate (H05): "Expired" or "Removed" ends the reservation; returns rows changed."""
    new_status = ReservationStatus.EXPIRED if status == "Expired" else ReservationStatus.CANCELLED
    return Reservation.objects.filter(pk=reservation_id, charge_point_id=charge_point_id).update(status=new_status)


def transaction_stop_requested(
    *, charge_point_id: str, transaction_pk: int | None = None, station_transaction_id: str | None = None
) -> int:
    """Mark a transaction whose remote stop the station accepted (1.6 §5.12 by our `transaction_pk`; 2.0.1 F03 by its own id).

    Its StopTransaction / Ended TransactionEvent closes it. Returns the rows marked.
    """
    transactions = Transaction.objects.filter(charge_point_id=charge_point_id)
    if transaction_pk is not None:
        transactions = transactions.filter(pk=transaction_pk)
    else:
        transactions = transactions.filter(station_transaction_id=station_transaction_id)
    return transactions.update(remote_stop_requested_at=timezone.now())


def reservation_create(*, charge_point_id: str, evse_id: int, id_tag: str, parent_id_tag: str, expiry_date) -> Reservation:
    """A Requested reservation with a fresh id, the reservationId the ReserveNow will carry.

    A ReserveNow sent through the raw API may have used an id the sequence has
    not reached yet (PostgreSQL does not advance it for explicit ids); the
    next values are tried until one is free (20 tries, then IntegrityError).
    """
    for attempt in range(20):
        try:
            with transaction.atomic():
                return Reservation.objects.create(
                    charge_point_id=charge_point_id,
                    evse_id=evse_id,
                    id_tag=id_tag,
                    parent_id_tag=parent_id_tag,
                    expiry_date=expiry_date,
                    status=ReservationStatus.REQUESTED,
                )
        except IntegrityError:
            if attempt == 19:
                raise
    raise AssertionError("unreachable")


def reservation_delete(*, reservation_id: int) -> None:
    """Forget a reservation the station certainly did not make (offline, CALLERROR …); the command log keeps the attempt."""
    Reservation.objects.filter(pk=reservation_id).delete()


@transaction.atomic
def reservation_answered(
    *, charge_point_id: str, reservation_id: int, evse_id: int, id_tag: str, parent_id_tag: str, expiry_date, status: str
) -> Reservation | None:
    """Record a ReserveNow and its answered status (1.6 §5.13, 2.0.1 H01), creating the row for raw sends.

    Reservation ids are system-wide here; one sent through the raw API may
    collide with another charge point's: that one is kept intact and None
    returned.
    """
    owner = Reservation.objects.filter(pk=reservation_id).values_list("charge_point_id", flat=True).first()
    if owner is not None and owner != charge_point_id:
        logger.warning("%s: ReserveNow used reservation id %s, which belongs to %s; not recorded", charge_point_id, reservation_id, owner)
        return None
    reservation, _ = Reservation.objects.update_or_create(
        pk=reservation_id,
        defaults={
            "charge_point_id": charge_point_id,
            "evse_id": evse_id,
            "id_tag": id_tag,
            "parent_id_tag": parent_id_tag,
            "expiry_date": expiry_date,
            "status": status,
        },
    )
    return reservation


def reservation_cancel(*, charge_point_id: str, reservation_id: int) -> int:
    """An Accepted CancelReservation (1.6 §5.1, 2.0.1 H02) ends the reservation; returns rows changed."""
    return Reservation.objects.filter(pk=reservation_id, charge_point_id=charge_point_id).update(status=ReservationStatus.CANCELLED)
