"""Transactions as CSV for billing: one line per session, from the API (`?format=csv`) and the admin.

Columns (header line first): transaction id, the charge point's transaction
id, charge point, EVSE, connector, id tag, start and stop (ISO 8601 UTC),
duration in whole seconds, energy in kWh (three decimals), stop reason,
status. Empty cells where a value is unknown or, for an active session, not
final yet. Rendered by djangorestframework-csv's streaming renderer so an
export of a year's sessions is written as it is read.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from rest_framework_csv.renderers import CSVStreamingRenderer

from .models import Transaction

COLUMNS = [
    ("id", "transaction id"),
    ("ocpp_transaction_id", "ocpp transaction id"),
    ("charge_point", "charge point"),
    ("evse_id", "evse id"),
    ("connector_id", "connector id"),
    ("id_tag", "id tag"),
    ("start_timestamp", "start"),
    ("stop_timestamp", "stop"),
    ("duration_s", "duration (s)"),
    ("energy_kwh", "energy (kWh)"),
    ("stop_reason", "stop reason"),
    ("status", "status"),
]


class TransactionCSVRenderer(CSVStreamingRenderer):
    """text/csv, one line per transaction; its header line names the columns of COLUMNS."""

    header = [name for name, _ in COLUMNS]
    labels = dict(COLUMNS)


def _iso(value) -> str:
    return value.isoformat().replace("+00:00", "Z") if value is not None else ""


def transaction_row(tx: Transaction) -> dict:
    """One transaction as a CSV row: {column: value}, values str or int; "" for unknown (and, while active, stop/duration)."""
    active = tx.stop_timestamp is None and not tx.is_orphan
    duration = None if active else tx.duration
    energy = tx.energy_kwh
    return {
        "id": tx.pk,
        "ocpp_transaction_id": tx.ocpp_transaction_id,
        "charge_point": tx.charge_point_id,
        "evse_id": "" if tx.evse_id is None else tx.evse_id,
        "connector_id": "" if tx.connector_id is None else tx.connector_id,
        "id_tag": tx.id_tag,
        "start_timestamp": _iso(tx.start_timestamp),
        "stop_timestamp": _iso(tx.stop_timestamp),
        "duration_s": "" if duration is None else int(duration.total_seconds()),
        "energy_kwh": "" if energy is None else f"{energy:.3f}",
        "stop_reason": tx.stop_reason,
        "status": tx.status.value,
    }


def transaction_rows(transactions: Iterable[Transaction]) -> Iterator[dict]:
    """CSV rows of `transactions`, read in chunks when given a QuerySet (constant memory)."""
    iterable = transactions.iterator(chunk_size=1000) if hasattr(transactions, "iterator") else transactions
    for tx in iterable:
        yield transaction_row(tx)


def transactions_csv(transactions: Iterable[Transaction]) -> Iterator[bytes]:
    """The CSV file of `transactions`, header first, as byte chunks for a StreamingHttpResponse."""
    return TransactionCSVRenderer().render(transaction_rows(transactions), renderer_context={})
