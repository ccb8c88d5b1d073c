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

from .models import AuthorizationStatus, IdTag, MeterValue, Reservation, ReservationStatus, Transaction, energy_register_wh
from .selectors import id_tag_info_for

logger = logging.getLogger("csms.transactions")


@dataclass(frozen=True)
class SampledValue:
    """One OCPP 1.6 SampledValue (§7.43) with the OCPP defaults already applied."""

    value: str
    measurand: str = "Energy.Active.Import.Register"
    phase: str = ""
    unit: str = "Wh"
    context: str = "Sample.Periodic"
    location: str = "Outlet"
    format: str = "Raw"


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
                reservation_id=reservation_id,
                id_tag_status=info["status"],
            )
            if reservation_id is not None:
                # §5.13: a transaction started on a reservation consumes it.
                Reservation.objects.filter(
                    pk=reservation_id, charge_point_id=charge_point_id, status=ReservationStatus.ACCEPTED
                ).update(
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
    transaction_id: int,
    meter_stop_wh: int,
    timestamp: datetime,
    reason: str = "",
    id_tag: str = "",
    transaction_data: list[MeterSample] = (),
) -> tuple[Transaction, dict | None]:
    """Close a transaction for a StopTransaction (OCPP 1.6 §4.10); returns it and the IdTagInfo to answer.

    The IdTagInfo is None when no id tag was sent. A transaction id this
    system never issued to this charge point is stored as an orphan row, with
    its meter data, rather than dropped. A StopTransaction repeated for an
    already stopped transaction stores nothing twice.
    """
    info = id_tag_info_for(id_tag) if id_tag else None
    tx = Transaction.objects.select_for_update().filter(pk=transaction_id, charge_point_id=charge_point_id).first()
    if tx is None:
        logger.warning("%s: StopTransaction for unknown transaction %s; stored as orphan", charge_point_id, transaction_id)
        tx = Transaction.objects.create(
            charge_point_id=charge_point_id,
            is_orphan=True,
            orphan_transaction_id=transaction_id,
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
                transaction_id,
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
            connector_id=tx.connector_id or 0,
            tx=tx,
            samples=transaction_data,
        )
    return tx, info


@transaction.atomic
def meter_values_create(
    *, charge_point_id: str, connector_id: int, transaction_id: int | None, samples: list[MeterSample]
) -> list[MeterValue]:
    """Store every sampled value of a MeterValues request (OCPP 1.6 §4.7).

    Values are linked to the transaction when `transaction_id` names one of
    this charge point's transactions; values naming an unknown transaction are
    still stored, unlinked, and logged. Rows are written with one bulk insert.
    """
    tx = None
    if transaction_id is not None:
        tx = Transaction.objects.filter(pk=transaction_id, charge_point_id=charge_point_id).first()
        if tx is None:
            logger.warning("%s: MeterValues for unknown transaction %s; stored unlinked", charge_point_id, transaction_id)
    return _store_samples(charge_point_id=charge_point_id, connector_id=connector_id, tx=tx, samples=samples)


def _store_samples(*, charge_point_id, connector_id, tx, samples) -> list[MeterValue]:
    rows = [
        MeterValue(
            charge_point_id=charge_point_id,
            transaction=tx,
            connector_id=connector_id,
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
    MeterValue.objects.bulk_create(rows, batch_size=500)
    if tx is not None:
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


_ID_TAG_FIELDS = ("id_tag", "status", "expiry_date", "parent", "note")


def id_tag_create(
    *,
    id_tag: str,
    status: str = AuthorizationStatus.ACCEPTED,
    expiry_date: datetime | None = None,
    parent: IdTag | None = None,
    note: str = "",
) -> IdTag:
    """Create an id tag (OCPP 1.6 IdToken, CiString20) that Authorize and StartTransaction will match exactly.

    `status` is an AuthorizationStatus; `expiry_date` a timezone-aware
    datetime after which the tag answers Expired; `parent` the group tag sent
    as parentIdTag. Raises django's ValidationError for invalid fields and
    IdTagAlreadyExists when `id_tag` is taken.
    """
    tag = IdTag(id_tag=id_tag, status=status, expiry_date=expiry_date, parent=parent, note=note)
    tag.full_clean(validate_unique=False)
    return _id_tag_save(tag, force_insert=True)


def id_tag_update(*, tag: IdTag, data: dict) -> IdTag:
    """Change the fields of `tag` named in `data` (keys among id_tag, status, expiry_date, parent, note).

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
    tag.full_clean(validate_unique=False)
    return _id_tag_save(tag, update_fields=[*data, "updated_at"])


def id_tag_delete(*, tag: IdTag) -> None:
    """Delete an id tag; tags it was the parent of are left without a parent."""
    tag.delete()


def _id_tag_save(tag: IdTag, **save_kwargs) -> IdTag:
    # The unique constraint decides, so two requests racing for one id_tag
    # cannot both succeed.
    try:
        with transaction.atomic():
            tag.save(**save_kwargs)
    except IntegrityError:
        raise IdTagAlreadyExists(tag.id_tag) from None
    return tag
