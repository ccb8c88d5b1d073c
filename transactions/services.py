"""Writes about transactions and meter values (OCPP 1.6 §4.8, §4.10, §4.7).

Keyword-only arguments, one database transaction each, one call per OCPP
frame. Energies are integers in Wh; timestamps timezone-aware UTC.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import BigIntegerField, Case, DateTimeField, F, Q, QuerySet, Value, When
from django.utils import timezone
from ocpp.v16 import enums as v16_enums
from ocpp.v201 import enums as v201_enums

from chargepoints import live
from chargepoints.models import ChargePoint
from webhooks import services as webhooks

from .models import (
    AuthorizationStatus,
    IdTag,
    MeterValue,
    Reservation,
    ReservationStatus,
    StopSource,
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
            _emit_transaction("transaction.started", tx)  # webhook
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
            stop_source=StopSource.CHARGE_POINT,
        )
    elif tx.stop_timestamp is not None and tx.stop_source != StopSource.CHARGE_POINT:
        # Closed by the CSMS's policy or an operator while the charge point was
        # away; its own stop (delivered late, from its offline queue) is the truth.
        logger.info(
            "%s: StopTransaction for transaction %s, closed earlier by %s; taking the charge point's values",
            charge_point_id,
            transaction_pk,
            tx.get_stop_source_display(),
        )
        _stopped_by_charge_point(tx, timestamp=timestamp, meter_stop_wh=meter_stop_wh, reason=reason, id_tag=id_tag)
    elif tx.stop_timestamp is not None:
        if (tx.stop_timestamp, tx.meter_stop_wh) != (timestamp, meter_stop_wh):
            logger.warning(
                "%s: second StopTransaction for transaction %s differs from the first; keeping the first",
                charge_point_id,
                transaction_pk,
            )
        return tx, info
    else:
        _stopped_by_charge_point(tx, timestamp=timestamp, meter_stop_wh=meter_stop_wh, reason=reason, id_tag=id_tag)
    if transaction_data:
        _store_samples(
            charge_point_id=charge_point_id,
            evse_id=tx.connector_id or 0,  # a 1.6 connector N is EVSE N
            tx=tx,
            samples=transaction_data,
        )
    _emit_transaction("transaction.ended", tx)  # webhook
    return tx, info


def _emit_transaction(type: str, tx: Transaction) -> None:
    """webhook: transaction.started / transaction.ended, in the caller's transaction (webhooks/)."""
    webhooks.event_emit(
        type=type,
        data={
            "transaction_id": tx.pk,
            "station_transaction_id": tx.station_transaction_id or None,
            "charge_point_id": tx.charge_point_id,
            "evse_id": tx.evse_id,
            "connector_id": tx.connector_id,
            "id_tag": tx.id_tag,
            "start_timestamp": tx.start_timestamp.isoformat() if tx.start_timestamp else None,
            "stop_timestamp": tx.stop_timestamp.isoformat() if tx.stop_timestamp else None,
            "meter_start_wh": tx.meter_start_wh,
            "meter_stop_wh": tx.meter_stop_wh,
            "stop_reason": tx.stop_reason,
        },
    )
    live.publish(tx.charge_point_id, "transaction_started" if type == "transaction.started" else "transaction_ended")  # dashboards


def _emit_meter_values(charge_point_id: str, evse_id: int, tx: Transaction | None, rows: list[MeterValue]) -> None:
    """webhook: meter_values, in the caller's transaction (webhooks/)."""
    _emit_meter_values_many([(charge_point_id, evse_id, tx, rows)])


def _emit_meter_values_many(requests: list[tuple[str, int, Transaction | None, list[MeterValue]]]) -> None:
    """webhook: one meter_values event per (charge point id, evse id, transaction, rows) with rows, in the caller's transaction."""
    requests = [request for request in requests if request[3]]
    if not requests:
        return
    webhooks.events_emit(
        type="meter_values",
        data=[
            {
                "charge_point_id": charge_point_id,
                "evse_id": evse_id,
                "transaction_id": tx.pk if tx is not None else None,
                "sampled_values": [
                    {"timestamp": r.timestamp.isoformat(), "measurand": r.measurand, "value": r.value, "unit": r.unit, "phase": r.phase}
                    for r in rows
                ],
            }
            for charge_point_id, evse_id, tx, rows in requests
        ],
    )
    for charge_point_id in dict.fromkeys(request[0] for request in requests):
        live.publish(charge_point_id, "meter_values")  # dashboards, after commit


def _stopped_by_charge_point(tx: Transaction, *, timestamp, meter_stop_wh, reason, id_tag) -> None:
    tx.stop_timestamp = timestamp
    tx.meter_stop_wh = meter_stop_wh
    tx.stop_reason = reason
    tx.stop_id_tag = id_tag
    tx.stop_source = StopSource.CHARGE_POINT
    tx.stopped_by = None
    tx.save(update_fields=["stop_timestamp", "meter_stop_wh", "stop_reason", "stop_id_tag", "stop_source", "stopped_by"])


# --- Transactions the charge point will not end ------------------------------

# OCPP stop reasons (1.6 §7.40 Reason, 2.0.1 ReasonEnumType, which adds a few): what
# an operator may give when closing a transaction by hand.
STOP_REASONS = tuple(sorted({r.value for r in v16_enums.Reason} | {r.value for r in v201_enums.ReasonEnumType}))


class TransactionAlreadyEnded(Exception):
    """The transaction was stopped already (or is an orphan stop): there is nothing to close."""


def _close(tx: Transaction, *, timestamp: datetime, reason: str, source: str, user=None) -> None:
    # The CSMS knows no meter stop: the last register reading it stored is the
    # best it has (the energy it can vouch for), else the meter start (no energy).
    tx.stop_timestamp = timestamp
    tx.meter_stop_wh = tx.last_meter_wh if tx.last_meter_wh is not None else tx.meter_start_wh
    tx.stop_reason = reason
    tx.stop_source = source
    tx.stopped_by = user
    tx.save(update_fields=["stop_timestamp", "meter_stop_wh", "stop_reason", "stop_source", "stopped_by"])
    _emit_transaction("transaction.ended", tx)  # webhook


@transaction.atomic
def transaction_close(*, transaction_pk: int, reason: str = "Other", user=None, timestamp: datetime | None = None) -> Transaction:
    """An operator ends a transaction by hand (the charge point will not: it rebooted, was replaced, lost its queue).

    `reason` is an OCPP stop reason (`STOP_REASONS`; default Other), `user`
    the operator recorded as `stopped_by`, `timestamp` the stop time (now by
    default). The meter stop is the last energy register reading stored for
    the transaction, else its meter start. Nothing is sent to the charge
    point. If its own StopTransaction / TransactionEvent Ended arrives later,
    its values replace these. Raises Transaction.DoesNotExist for an unknown
    pk, TransactionAlreadyEnded when it is not active, ValueError for a reason
    outside `STOP_REASONS`.
    """
    if reason not in STOP_REASONS:
        raise ValueError(f"{reason!r} is not an OCPP stop reason")
    tx = Transaction.objects.select_for_update().get(pk=transaction_pk)
    if not tx.is_active:
        raise TransactionAlreadyEnded(transaction_pk)
    _close(tx, timestamp=timestamp or timezone.now(), reason=reason, source=StopSource.OPERATOR, user=user)
    logger.info("%s: transaction %s closed by %s (%s)", tx.charge_point_id, tx.pk, user or "an operator", reason)
    return tx


@transaction.atomic
def transactions_close_orphaned(
    *,
    charge_point_id: str,
    reason: str,
    timestamp: datetime,
    connector_id: int | None = None,
    evse_id: int | None = None,
    booted_before: bool = False,
) -> list[Transaction]:
    """End the active transactions of a charge point that reported it is in none (the CSMS's policy); returns them.

    Called when a report means no session can be running: a 1.6
    BootNotification (every transaction; `reason` Reboot), a 1.6
    StatusNotification Available on `connector_id`, a 2.0.1 StatusNotification
    Available on `evse_id` (with `booted_before`: only transactions the
    station has not mentioned since its last boot). Only transactions started
    at or before `timestamp` (the report's time, used as the stop time) are
    closed: a report queued before a session began must not end it. The
    meter stop is the last register reading stored (else the meter start);
    `stop_source` is CSMS policy. A later stop from the charge point replaces
    these values (`transaction_stop`, `transaction_event_record`).
    Does nothing when settings.OCPP_CLOSE_ORPHANED_TRANSACTIONS is off.
    """
    if not settings.OCPP_CLOSE_ORPHANED_TRANSACTIONS:
        return []
    candidates = Transaction.objects.active().select_for_update().filter(charge_point_id=charge_point_id)
    candidates = candidates.filter(Q(start_timestamp__isnull=True) | Q(start_timestamp__lte=timestamp))
    if connector_id is not None:
        candidates = candidates.filter(connector_id=connector_id)
    if evse_id is not None:
        candidates = candidates.filter(evse_id=evse_id)
    if booted_before:
        booted_at = ChargePoint.objects.filter(pk=charge_point_id).values_list("last_boot_at", flat=True).first()
        if booted_at is None:
            return []
        # Still running for all the station said since it booted: no event of it since then.
        candidates = candidates.filter(created_at__lt=booted_at).exclude(events__received_at__gte=booted_at)
    closed = list(candidates)
    for tx in closed:
        _close(tx, timestamp=timestamp, reason=reason, source=StopSource.POLICY)
        logger.warning("%s: transaction %s ended by the CSMS (%s): the charge point reports no session", charge_point_id, tx.pk, reason)
    return closed


@dataclass(frozen=True)
class MeterValuesRequest:
    """One MeterValues request to store: `evse_id` is the 2.0.1 evseId or the 1.6 connectorId (connector N is EVSE N).

    `transaction_pk` is the 1.6 wire transactionId (our primary key), None for
    2.0.1, whose MeterValues name no transaction.
    """

    charge_point_id: str
    evse_id: int
    transaction_pk: int | None
    samples: list[MeterSample]


def meter_values_create(*, charge_point_id: str, evse_id: int, transaction_pk: int | None, samples: list[MeterSample]) -> list[MeterValue]:
    """Store the sampled values of one MeterValues request (OCPP 1.6 §4.7, 2.0.1 J01); returns them as rows.

    `meter_values_create_many` of one request: see there.
    """
    request = MeterValuesRequest(charge_point_id=charge_point_id, evse_id=evse_id, transaction_pk=transaction_pk, samples=samples)
    return meter_values_create_many(requests=[request])[0]


@transaction.atomic
def meter_values_create_many(*, requests: list[MeterValuesRequest]) -> list[list[MeterValue]]:
    """Store the sampled values of many MeterValues requests (OCPP 1.6 §4.7, 2.0.1 J01) in one database transaction.

    Returns each request's values as rows (no pk), in the order of `requests`.
    One SELECT for the transactions named, one bulk insert for every value,
    one UPDATE per transaction whose energy moved, one subscription lookup
    for the webhooks, one commit: the write of a batch of many charge points'
    requests (`transactions.batching`).

    Values are linked to the transaction when `transaction_pk` names one of
    the request's charge point's transactions; values naming an unknown
    transaction are still stored, unlinked, and logged. Idempotent: a
    request resent after a lost CALLRESULT stores nothing again, as a reading
    already stored is skipped (one row per reading: MeterValue's
    `meter_value_reading_unique`), also when two requests of one batch hold
    the same reading.
    """
    wanted = {r.transaction_pk for r in requests if r.transaction_pk is not None}
    found = {tx.pk: tx for tx in Transaction.objects.filter(pk__in=wanted)} if wanted else {}
    per_request: list[tuple[MeterValuesRequest, Transaction | None, list[MeterValue]]] = []
    for request in requests:
        tx = found.get(request.transaction_pk)
        if tx is not None and tx.charge_point_id != request.charge_point_id:
            tx = None
        if request.transaction_pk is not None and tx is None:
            logger.warning("%s: MeterValues for unknown transaction %s; stored unlinked", request.charge_point_id, request.transaction_pk)
        per_request.append(
            (request, tx, _sample_rows(charge_point_id=request.charge_point_id, evse_id=request.evse_id, tx=tx, samples=request.samples))
        )
    MeterValue.objects.bulk_create([row for _, _, rows in per_request for row in rows], batch_size=500, ignore_conflicts=True)
    # Already-stored readings included: moving last_meter to a reading it already holds changes nothing.
    _advance_last_meters([(tx, rows) for _, tx, rows in per_request if tx is not None])
    _emit_meter_values_many([(request.charge_point_id, request.evse_id, tx, rows) for request, tx, rows in per_request])
    return [rows for _, _, rows in per_request]


def _sample_rows(*, charge_point_id, evse_id, tx, samples) -> list[MeterValue]:
    """The unsaved MeterValue rows of `samples` (MeterSample list), one per sampled value."""
    return [
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


def _store_samples(*, charge_point_id, evse_id, tx, samples) -> list[MeterValue]:
    """Insert the sampled values of `samples` (MeterSample list); returns them all as unsaved-pk rows.

    A reading already stored (the key of MeterValue's `meter_value_reading_unique`)
    is skipped by the database itself (INSERT OR IGNORE / ON CONFLICT DO
    NOTHING): no lookup before the insert, and no race between two
    connections. The returned rows are all the request's values, stored now
    or before; their pk is not set.
    """
    rows = _sample_rows(charge_point_id=charge_point_id, evse_id=evse_id, tx=tx, samples=samples)
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


def _advance_last_meters(rows_of: list[tuple[Transaction, list[MeterValue]]]) -> None:
    """`_advance_last_meter` for many transactions in one UPDATE: each moves to its newest energy reading in `rows_of`, never backwards.

    The transactions' in-memory last_meter fields are not refreshed.
    """
    newest: dict[int, tuple] = {}
    for tx, rows in rows_of:
        for row in rows:
            wh = row.value_wh
            if wh is not None and not row.phase and (tx.pk not in newest or row.timestamp > newest[tx.pk][0]):
                newest[tx.pk] = (row.timestamp, wh)
    if not newest:
        return
    if len(newest) == 1:
        ((pk, (at, wh)),) = newest.items()
        newer = Q(last_meter_at__isnull=True) | Q(last_meter_at__lte=at)
        Transaction.objects.filter(newer, pk=pk).update(last_meter_wh=wh, last_meter_at=at)
        return
    # One statement: each row takes its reading only where that is not older than the one it holds.
    moves = [(Q(pk=pk) & (Q(last_meter_at__isnull=True) | Q(last_meter_at__lte=at)), at, wh) for pk, (at, wh) in newest.items()]
    Transaction.objects.filter(pk__in=newest).update(
        last_meter_wh=Case(
            *(When(condition, then=Value(wh, output_field=BigIntegerField())) for condition, _, wh in moves), default=F("last_meter_wh")
        ),
        last_meter_at=Case(
            *(When(condition, then=Value(at, output_field=DateTimeField())) for condition, at, _ in moves), default=F("last_meter_at")
        ),
    )


# --- Id tags, as operators manage them (REST API and any other tool).


class IdTagAlreadyExists(Exception):
    """Another id tag already has this id_tag string."""


ID_TAG_FIELDS = ("id_tag", "type", "status", "expiry_date", "parent", "note")


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
    unknown = set(data) - set(ID_TAG_FIELDS)
    if unknown:
        raise ValueError(f"cannot update {', '.join(sorted(unknown))} of an id tag")
    for name, value in data.items():
        setattr(tag, name, value)
    _id_tag_clean(tag)
    return _id_tag_save(tag, update_fields=[*data, "updated_at"])


def id_tag_delete(*, tag: IdTag) -> None:
    """Delete an id tag; tags it was the parent of are left without a parent."""
    tag.delete()


def id_tags_update(*, tags: QuerySet[IdTag], status: str | None = None, expiry_date: datetime | None = None) -> int:
    """Set the `status` (an AuthorizationStatus) and/or `expiry_date` of many id tags at once; returns how many.

    The admin's block / accept / expire-now actions. Raises ValueError for a
    status that is not an AuthorizationStatus.
    """
    fields: dict = {"updated_at": timezone.now()}  # update() skips auto_now
    if status is not None:
        if status not in AuthorizationStatus.values:
            raise ValueError(f"{status!r} is not an AuthorizationStatus")
        fields["status"] = status
    if expiry_date is not None:
        fields["expiry_date"] = expiry_date
    return tags.update(**fields)


def id_tags_delete(*, tags: QuerySet[IdTag]) -> int:
    """Delete many id tags (the admin's bulk delete); tags they were the parent of are left without a parent."""
    deleted, _ = tags.delete()
    return deleted


class IdTagImportError(Exception):
    """Rows of an import that cannot be stored; `errors` is {row number: {field: [messages]}}."""

    def __init__(self, errors: dict[int, dict[str, list[str]]]):
        super().__init__(errors)
        self.errors = errors


def id_tag_import(*, rows: list[dict]) -> tuple[int, int]:
    """Create or replace many id tags in one database transaction; returns (created, updated).

    Each row: id_tag, type, status, expiry_date, note and parent_id_tag (the
    parent's id_tag string or None), already validated for shape. An existing
    id_tag gets every field of its row. A parent may be stored already or be
    another row. All or nothing: raises IdTagImportError (nothing stored)
    naming the rows with a duplicate id_tag, an unknown parent or a field
    the model refuses.
    """
    errors: dict[int, dict[str, list[str]]] = {}
    seen: dict[str, int] = {}
    for number, row in enumerate(rows):
        if row["id_tag"] in seen:
            errors[number] = {"id_tag": [f"Also in row {seen[row['id_tag']]}."]}
        seen.setdefault(row["id_tag"], number)
    with transaction.atomic():
        existing = {tag.id_tag: tag for tag in IdTag.objects.select_for_update().filter(id_tag__in=list(seen))}
        created = updated = 0
        tags: dict[str, IdTag] = {}
        for number, row in enumerate(rows):
            if number in errors:
                continue
            fields = {name: row[name] for name in ("type", "status", "expiry_date", "note")}
            tag = existing.get(row["id_tag"]) or IdTag(id_tag=row["id_tag"])
            for name, value in fields.items():
                setattr(tag, name, value)
            tag.parent = None
            try:
                _id_tag_clean(tag)
            except ValidationError as exc:
                errors[number] = exc.message_dict
                continue
            is_new = tag.pk is None
            tag.save()
            created, updated = created + is_new, updated + (not is_new)
            tags[tag.id_tag] = tag
        parents = {name for row in rows if (name := row.get("parent_id_tag"))}
        known = {**{t.id_tag: t for t in IdTag.objects.filter(id_tag__in=list(parents - set(tags)))}, **tags}
        for number, row in enumerate(rows):
            parent = row.get("parent_id_tag")
            if not parent or number in errors:
                continue
            if parent not in known:
                errors[number] = {"parent_id_tag": [f"Unknown parent id tag {parent!r}."]}
                continue
            tag = tags[row["id_tag"]]
            tag.parent = known[parent]
            tag.save(update_fields=["parent", "updated_at"])
        if errors:  # raised inside the atomic block: everything stored above is rolled back
            raise IdTagImportError(dict(sorted(errors.items())))
    return created, updated


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
        # Also when the CSMS or an operator closed it first: the station's own end is the truth.
        tx.stop_source, tx.stopped_by = StopSource.CHARGE_POINT, None
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
    # webhooks, in this transaction (webhooks/).
    if event_type == "Started":
        _emit_transaction("transaction.started", tx)
    _emit_meter_values(charge_point_id, tx.evse_id or 0, tx, rows)
    if event_type == "Ended":
        _emit_transaction("transaction.ended", tx)
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
