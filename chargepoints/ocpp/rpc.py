"""OCPP-J framing: parse frames, validate payloads, build CALLRESULT and CALLERROR frames.

Follows OCPP-J 1.6 §4 (RPC framework). Unlike the `ocpp` library's
`ChargePoint.route_message`, which drops frames it cannot parse (DESIGN.md
trap 8), every problem here becomes an `RpcError` that the consumer turns into
a CALLERROR, so a charge point always gets an answer it can act on.

Payloads are checked against the official JSON schemas shipped in the `ocpp`
package, with a date-time format check the library leaves out.

The hot path is cheap (issue 14): frames are parsed and built with orjson, and
payloads checked by validators fastjsonschema compiles from the same schemas,
once per (version, schema) on first use. Only a payload the compiled validator
rejects goes through jsonschema's Draft4Validator, which picks the error to
report (errors are rare; the CALLERROR each earns is the one it always was).
tests/chargepoints/ocpp/test_fast_validation.py checks that both validators
agree on every message of both versions.
"""

from __future__ import annotations

import enum
import json
import logging
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import fastjsonschema
import ocpp
import orjson
from django.utils.dateparse import parse_datetime
from jsonschema import Draft4Validator, FormatChecker
from jsonschema.exceptions import ValidationError as SchemaError

logger = logging.getLogger("csms.ocpp")

MAX_UNIQUE_ID_LENGTH = 36  # OCPP-J 1.6 §4.1.3: "maximum of 36 characters"
UNREADABLE_UNIQUE_ID = "-1"  # used when a frame is too broken to read its unique id

SCHEMA_DIRS = {
    "1.6": Path(ocpp.__file__).parent / "v16" / "schemas",
    "2.0.1": Path(ocpp.__file__).parent / "v201" / "schemas",
}
# 1.6 names a request schema after its action; 2.0.1 adds "Request".
REQUEST_SUFFIX = {"1.6": "", "2.0.1": "Request"}


class MessageType(enum.IntEnum):
    """OCPP-J MessageTypeId (§4.1.3)."""

    CALL = 2
    CALLRESULT = 3
    CALLERROR = 4


class ErrorKind(enum.Enum):
    """What went wrong, independent of how a protocol version spells the code."""

    RPC_FRAMEWORK = "RpcFrameworkError"  # not a frame at all, or its message id unreadable
    MESSAGE_TYPE_NOT_SUPPORTED = "MessageTypeNotSupported"
    NOT_IMPLEMENTED = "NotImplemented"
    NOT_SUPPORTED = "NotSupported"
    INTERNAL = "InternalError"
    PROTOCOL = "ProtocolError"
    SECURITY = "SecurityError"
    FORMAT = "FormationViolation"
    PROPERTY_CONSTRAINT = "PropertyConstraintViolation"
    OCCURRENCE_CONSTRAINT = "OccurenceConstraintViolation"
    TYPE_CONSTRAINT = "TypeConstraintViolation"
    GENERIC = "GenericError"


# OCPP-J 1.6 §4.2.3 spells two codes with the errata's typos (FormationViolation,
# OccurenceConstraintViolation) and has no RpcFrameworkError or
# MessageTypeNotSupported; OCPP 2.0.1 Part 4 §4.3 spells them right and has both.
ERROR_CODES = {
    "1.6": {
        **{kind: kind.value for kind in ErrorKind},
        ErrorKind.RPC_FRAMEWORK: "FormationViolation",
        ErrorKind.MESSAGE_TYPE_NOT_SUPPORTED: "FormationViolation",
    },
    "2.0.1": {
        **{kind: kind.value for kind in ErrorKind},
        ErrorKind.FORMAT: "FormatViolation",
        ErrorKind.OCCURRENCE_CONSTRAINT: "OccurrenceConstraintViolation",
    },
}


class RpcError(Exception):
    """A problem to answer with a CALLERROR (OCPP-J 1.6 §4.2.3).

    `unique_id` is the frame's unique id when it could be read, else None.
    `details` becomes the CALLERROR's errorDetails object.
    """

    def __init__(self, kind: ErrorKind, description: str, *, unique_id: str | None = None, details=None):
        super().__init__(description)
        self.kind = kind
        self.description = description
        self.unique_id = unique_id
        self.details = details or {}

    def code(self, version: str) -> str:
        return ERROR_CODES[version][self.kind]

    def frame(self, version: str) -> str:
        return call_error_frame(self.unique_id or UNREADABLE_UNIQUE_ID, self.code(version), self.description, self.details)


@dataclass
class Call:
    unique_id: str
    action: str
    payload: dict
    message_type = MessageType.CALL


@dataclass
class CallResult:
    unique_id: str
    payload: dict
    message_type = MessageType.CALLRESULT


@dataclass
class CallError:
    unique_id: str
    error_code: str
    error_description: str
    error_details: dict = field(default_factory=dict)
    message_type = MessageType.CALLERROR


def _dumps(frame: list) -> str:
    try:
        # Datetimes and dataclasses go through _json_default as json.dumps sends them (isoformat, TypeError).
        text = orjson.dumps(frame, default=_json_default, option=_ORJSON_PASSTHROUGH)
    except orjson.JSONEncodeError:
        # What orjson refuses and json writes: integers beyond 64 bits, non-string keys, lone surrogates.
        return _json_dumps(frame)
    if b"null" in text:
        # orjson writes NaN and Infinity as null, json as NaN and Infinity. Answers hold no None
        # (remove_nones), so this is rare: json writes the frame, as it always did.
        return _json_dumps(frame)
    return text.decode()


_ORJSON_PASSTHROUGH = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def _json_dumps(frame: list) -> str:
    """The frame as json.dumps writes it: the path before orjson, and its fallback."""
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False, default=_json_default)


def _json_default(obj):
    if isinstance(obj, Decimal):
        return float(obj)
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def call_frame(unique_id: str, action: str, payload: dict) -> str:
    """The CALL frame `[2, unique_id, action, payload]` as compact JSON text (OCPP-J 1.6 §4.2.1).

    Decimals are written as numbers, dates and datetimes in ISO 8601. Raises
    TypeError for a value JSON cannot hold.
    """
    return _dumps([MessageType.CALL, unique_id, action, payload])


def call_result_frame(unique_id: str, payload: dict) -> str:
    """The CALLRESULT frame `[3, unique_id, payload]` as compact JSON text (OCPP-J 1.6 §4.2.2).

    Values as in `call_frame`; raises TypeError for a value JSON cannot hold.
    """
    return _dumps([MessageType.CALLRESULT, unique_id, payload])


def call_error_frame(unique_id: str, code: str, description: str, details: dict | None = None) -> str:
    """The CALLERROR frame `[4, unique_id, code, description, details or {}]` as compact JSON text (OCPP-J 1.6 §4.2.3)."""
    return _dumps([MessageType.CALLERROR, unique_id, code, description, details or {}])


# orjson reads integers beyond 64 bits as floats (json keeps them exact) and
# refuses NaN, Infinity, 1e400 and lone surrogates (json takes them). Such
# frames, or any with a run of 19 digits (which a big integer needs), are read
# by json, so every frame parses to what json.loads made of it. The digits are
# found by a bytes translation (every digit to "0", all else to " ") and a
# substring search: a fifth of what a regular expression costs.
_DIGITS_ONLY = bytes(ord("0") if chr(c).isdigit() and c < 128 else ord(" ") for c in range(256))
_DIGIT_RUN = b"0" * 19


def _loads(text: str):
    try:
        data = text.encode()
    except UnicodeEncodeError:  # a lone surrogate
        return json.loads(text)
    if _DIGIT_RUN not in data.translate(_DIGITS_ONLY):
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text)


def parse_frame(text: str) -> Call | CallResult | CallError:
    """Parse one OCPP-J text frame (OCPP-J 1.6 §4.1; 2.0.1 Part 4 §4.1).

    Returns a Call, CallResult or CallError; payloads are dicts of what
    json.loads makes of the text (big integers exact, NaN as a float). Raises
    RpcError(RPC_FRAMEWORK) for text that is not JSON or not a well-formed
    frame and for unique ids that are not strings of at most 36 characters,
    RpcError(MESSAGE_TYPE_NOT_SUPPORTED) for a MessageTypeId other than 2, 3
    or 4, and RpcError(FORMAT) for a CALL payload that is not an object;
    `unique_id` is set on the error when it could be read.
    """
    try:
        message = _loads(text)
    except (ValueError, RecursionError):
        raise RpcError(ErrorKind.RPC_FRAMEWORK, "Frame is not valid JSON") from None
    if not isinstance(message, list) or not message:
        raise RpcError(ErrorKind.RPC_FRAMEWORK, "Frame is not a JSON array [MessageTypeId, UniqueId, ...]")

    unique_id = message[1] if len(message) > 1 and isinstance(message[1], str) else None
    message_type = message[0]
    if unique_id is None:
        raise RpcError(ErrorKind.RPC_FRAMEWORK, "UniqueId is missing or not a string")
    if len(unique_id) > MAX_UNIQUE_ID_LENGTH:
        raise RpcError(
            ErrorKind.RPC_FRAMEWORK,
            f"UniqueId is longer than {MAX_UNIQUE_ID_LENGTH} characters",
            unique_id=unique_id,
        )
    if type(message_type) is not int or message_type not in (2, 3, 4):
        raise RpcError(ErrorKind.MESSAGE_TYPE_NOT_SUPPORTED, f"MessageTypeId {message_type!r} is not 2, 3 or 4", unique_id=unique_id)

    if message_type == MessageType.CALL:
        if len(message) != 4:
            raise RpcError(ErrorKind.RPC_FRAMEWORK, "CALL must have 4 elements", unique_id=unique_id)
        _, _, action, payload = message
        if not isinstance(action, str) or not action:
            raise RpcError(ErrorKind.RPC_FRAMEWORK, "Action must be a non-empty string", unique_id=unique_id)
        if not isinstance(payload, dict):
            raise RpcError(ErrorKind.FORMAT, "Payload must be a JSON object", unique_id=unique_id)
        return Call(unique_id, action, payload)

    if message_type == MessageType.CALLRESULT:
        if len(message) != 3 or not isinstance(message[2], dict):
            raise RpcError(ErrorKind.RPC_FRAMEWORK, "CALLRESULT must be [3, UniqueId, {payload}]", unique_id=unique_id)
        return CallResult(unique_id, message[2])

    if len(message) != 5 or not isinstance(message[2], str) or not isinstance(message[3], str):
        raise RpcError(
            ErrorKind.RPC_FRAMEWORK,
            "CALLERROR must be [4, UniqueId, errorCode, errorDescription, {errorDetails}]",
            unique_id=unique_id,
        )
    details = message[4] if isinstance(message[4], dict) else {"value": message[4]}
    return CallError(unique_id, message[2], message[3], details)


# --- Schema validation -----------------------------------------------------

format_checker = FormatChecker(formats=())


@format_checker.checks("date-time", raises=ValueError)
def _jsonschema_date_time(value) -> bool:
    if not isinstance(value, str):
        return True  # the "type" keyword reports non-strings
    return parse_datetime(value) is not None


# Which CALLERROR a JSON-schema keyword failure maps to (OCPP-J 1.6 §4.2.3).
_KEYWORD_KINDS = {
    "required": ErrorKind.OCCURRENCE_CONSTRAINT,
    "minItems": ErrorKind.OCCURRENCE_CONSTRAINT,
    "maxItems": ErrorKind.OCCURRENCE_CONSTRAINT,
    "additionalProperties": ErrorKind.FORMAT,
    "type": ErrorKind.TYPE_CONSTRAINT,
    "maxLength": ErrorKind.TYPE_CONSTRAINT,
    "minLength": ErrorKind.TYPE_CONSTRAINT,
    "format": ErrorKind.TYPE_CONSTRAINT,
}
# When a payload breaks several rules, report the most structural one first.
_KIND_PRIORITY = [
    ErrorKind.FORMAT,
    ErrorKind.OCCURRENCE_CONSTRAINT,
    ErrorKind.TYPE_CONSTRAINT,
    ErrorKind.PROPERTY_CONSTRAINT,
]


@dataclass(frozen=True)
class _Schema:
    validator: Draft4Validator
    decimal_floats: bool  # the schema uses multipleOf: compare floats as Decimal


@cache
def _schema(version: str, name: str) -> _Schema | None:
    path = SCHEMA_DIRS[version] / f"{name}.json"
    if not path.exists():
        return None
    text = path.read_text(encoding="utf-8-sig")
    schema = json.loads(text, parse_float=Decimal)
    return _Schema(Draft4Validator(schema, format_checker=format_checker), "multipleOf" in text)


def schema_json(version: str, name: str) -> dict:
    """The official JSON schema `name` (an action, or action + "Response") of `version`, as a dict.

    Raises KeyError when there is none.
    """
    path = SCHEMA_DIRS[version] / f"{name}.json"
    if not path.exists():
        raise KeyError(name)
    return json.loads(path.read_text(encoding="utf-8-sig"))


def known_actions(version: str) -> frozenset[str]:
    """Every action the version defines, in either direction (from its schema files)."""
    return _known_actions(version)


@cache
def _known_actions(version: str) -> frozenset[str]:
    names = {p.stem for p in SCHEMA_DIRS[version].glob("*.json")}
    suffix = REQUEST_SUFFIX[version]
    return frozenset(n.removesuffix(suffix) for n in names if not n.endswith("Response") and n.endswith(suffix))


def validate_payload(version: str, action: str, payload: dict, *, response: bool = False, unique_id=None) -> None:
    """Check `payload` against the official schema of `action` (request, or response when `response`).

    Raises RpcError with the CALLERROR kind that fits the first broken rule
    (OCPP-J 1.6 §4.2.3; 2.0.1 Part 4 §4.3): missing fields →
    OccurenceConstraintViolation, unknown fields → FormationViolation, wrong
    types and lengths → TypeConstraintViolation, values outside enums and
    ranges → PropertyConstraintViolation. The error's details name the field
    (`field`, a JSON pointer-like path) and the cause. Raises KeyError when
    the version has no schema for `action`.

    A payload the compiled validator accepts is done with; one it rejects
    (or that makes it raise: a NaN against multipleOf) is judged again by
    jsonschema, whose verdict and error are the answer.
    """
    name = action + ("Response" if response else REQUEST_SUFFIX[version])
    fast = _fast_validator(version, name)
    if fast is None:
        raise KeyError(action)
    try:
        fast(payload)
    except Exception:  # JsonSchemaValueException, or what a NaN or 1e308 makes its arithmetic raise
        _validate_slowly(version, name, payload, unique_id)
    # No exception: valid.


def _validate_slowly(version: str, name: str, payload, unique_id) -> None:
    """jsonschema's verdict on `payload`: return when valid, else raise the RpcError of its most structural error."""
    schema = _schema(version, name)
    if schema.decimal_floats:
        payload = json.loads(json.dumps(payload, default=_json_default), parse_float=Decimal)
    errors = list(schema.validator.iter_errors(payload))
    if not errors:
        return
    error = min(errors, key=lambda e: (_KIND_PRIORITY.index(_kind(e)), len(e.path)))
    raise RpcError(_kind(error), _describe(error), unique_id=unique_id, details=_details(error))


def _is_date_time(value: str) -> bool:
    """The date-time check of the compiled validators (called on strings only), as format_checker's."""
    try:
        return parse_datetime(value) is not None
    except ValueError:
        return False


# fastjsonschema checks formats jsonschema's format_checker leaves alone (uri, …): only date-time is checked.
_FAST_FORMATS = {
    **{name: (lambda value: True) for name in fastjsonschema.draft04.CodeGeneratorDraft04.FORMAT_REGEXS},
    "date-time": _is_date_time,
}
# The official 2.0.1 schemas say draft-06, but are checked as draft 4 (as Draft4Validator does).
_DRAFT_4 = "http://json-schema.org/draft-04/schema#"


@cache
def _fast_validator(version: str, name: str):
    """The compiled validator of schema `name`, or None when the version has none; compiled on first use."""
    path = SCHEMA_DIRS[version] / f"{name}.json"
    if not path.exists():
        return None
    schema = json.loads(path.read_text(encoding="utf-8-sig"))
    schema["$schema"] = _DRAFT_4
    # use_default=False: a validator must never fill defaults (2.0.1 has some) into the payload.
    return fastjsonschema.compile(schema, formats=_FAST_FORMATS, use_default=False, detailed_exceptions=False)


def _kind(error: SchemaError) -> ErrorKind:
    return _KEYWORD_KINDS.get(error.validator, ErrorKind.PROPERTY_CONSTRAINT)


def _field(error: SchemaError) -> str:
    path = "/".join(str(p) for p in error.absolute_path)
    name = ""
    if error.validator == "required":
        name = error.message.split("'")[1] if "'" in error.message else ""
    elif error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = set(error.schema.get("properties", {}))
        name = ",".join(sorted(k for k in error.instance if k not in known))
    if name:
        path = f"{path}/{name}" if path else name
    return path


def _describe(error: SchemaError) -> str:
    where = _field(error)
    message = error.message
    if len(message) > 200:
        message = message[:200] + "…"
    return f"{where}: {message}" if where else message


def _details(error: SchemaError) -> dict[str, Any]:
    return {"field": _field(error), "rule": str(error.validator)}
