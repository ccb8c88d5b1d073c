"""What the official schemas allow but the database cannot hold: out-of-range integers, NUL and lone surrogates.

A schema-valid request may still carry a value no column can store: a
connectorId of -5 or 2^31 (an integer column), a meterStart of 2^63 (a
bigint), an idTag with a NUL character or a lone UTF-16 surrogate (JSON's
"\\u0000", "\\ud800"), which PostgreSQL text and jsonb refuse (DESIGN.md
trap 14). Before this step the database refused them mid-handler and the
charge point got InternalError, for ever, on each retry.

- Integers: each version package lists, per action, where every integer of a
  request is stored (`INTEGER_FIELDS`: a JSON path → the model field, whose
  range is Django's portable one for that column type, the same on SQLite
  and PostgreSQL; or explicit bounds). A value outside is answered
  PropertyConstraintViolation naming the field, like a schema's minimum or
  maximum (OCPP-J 1.6 §4.2.3, 2.0.1 Part 4 §4.3). The socket stays up.
- Characters: every string (and key) of the request has NUL and lone
  surrogates replaced by U+FFFD REPLACEMENT CHARACTER, which keeps lengths
  (so column limits still hold) and marks the spot. The frame's payload as
  sent is kept beside, the characters escaped as text (`escaped`), by the
  consumer as a StationMessage. An id tag holding U+FFFD never matches a
  registered tag: such a tag is answered Invalid (`transactions.selectors`).
"""

from __future__ import annotations

import re
from typing import Any

from django.db import models
from django.db.backends.base.operations import BaseDatabaseOperations

from .rpc import ErrorKind, RpcError

UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
REPLACEMENT = "\ufffd"

# A JSON path: keys joined by "/", "*" for every item of a list.
IntegerFields = dict[str, dict[str, "tuple[type[models.Model], str] | tuple[int, int]"]]


def column_range(model: type[models.Model], field_name: str) -> tuple[int, int]:
    """(lowest, highest) integer the column of `model.field_name` holds on every supported database."""
    field = model._meta.get_field(field_name)
    return BaseDatabaseOperations.integer_field_ranges[field.get_internal_type()]


def check_integers(fields: dict, payload: dict, *, unique_id: str | None = None) -> None:
    """Check each integer of `payload` at a path of `fields` (path → (Model, field) or (low, high)) against its range.

    Raises RpcError(PROPERTY_CONSTRAINT) for the first value outside, with
    details {"field": its path with list indices, "rule": "minimum" or "maximum"}.
    """
    for path, where in fields.items():
        low, high = column_range(*where) if isinstance(where[0], type) else where
        for concrete, value in _at(payload, path.split("/"), ""):
            if type(value) is not int:  # the schema's "integer" also admits 5.0; those are stored as int too
                if not (isinstance(value, float) and value.is_integer()):
                    continue
                value = int(value)
            if value < low or value > high:
                rule, bound = ("minimum", low) if value < low else ("maximum", high)
                raise RpcError(
                    ErrorKind.PROPERTY_CONSTRAINT,
                    f"{concrete}: {value} is {'less' if rule == 'minimum' else 'greater'} than the {rule} of {bound} this system can store",
                    unique_id=unique_id,
                    details={"field": concrete, "rule": rule},
                )


def _at(node: Any, keys: list[str], prefix: str):
    """(concrete path, value) for each value at `keys` under `node`."""
    if not keys:
        yield prefix, node
        return
    key, rest = keys[0], keys[1:]
    if key == "*":
        if isinstance(node, list):
            for i, item in enumerate(node):
                yield from _at(item, rest, f"{prefix}/{i}" if prefix else str(i))
    elif isinstance(node, dict) and key in node:
        yield from _at(node[key], rest, f"{prefix}/{key}" if prefix else key)


def storable(value: Any) -> Any:
    """`value` (decoded JSON) with NUL and lone surrogates in every string and key replaced by U+FFFD.

    Returns `value` itself when there is nothing to replace.
    """
    return _map_strings(value, lambda text: UNSTORABLE.sub(REPLACEMENT, text))


def escaped(value: Any) -> Any:
    """`value` with NUL and lone surrogates written as the text of their JSON escape ("\\u0000"): storable, and readable."""
    return _map_strings(value, lambda text: UNSTORABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", text))


def has_unstorable(value: Any) -> bool:
    """Whether any string or key of `value` holds a NUL or a lone surrogate."""
    if isinstance(value, str):
        return UNSTORABLE.search(value) is not None
    if isinstance(value, dict):
        return any(has_unstorable(k) or has_unstorable(v) for k, v in value.items())
    if isinstance(value, list):
        return any(has_unstorable(v) for v in value)
    return False


def _map_strings(value: Any, fix) -> Any:
    if not has_unstorable(value):
        return value
    if isinstance(value, str):
        return fix(value)
    if isinstance(value, dict):
        return {fix(k): _map_strings(v, fix) for k, v in value.items()}
    return [_map_strings(v, fix) for v in value]
