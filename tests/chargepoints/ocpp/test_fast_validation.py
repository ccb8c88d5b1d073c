"""The cheap hot path of the RPC layer gives the answers the jsonschema/json path gave.

Payloads are checked by validators fastjsonschema compiles from the official
schemas; jsonschema's Draft4Validator only judges the payloads those reject.
That is sound only if a compiled validator never accepts what jsonschema
rejects, so every message of both versions (request and response) is run
through both on generated valid payloads and on many broken copies of them.
Frames are parsed and built with orjson, which differs from json at the edges
(big integers, NaN, lone surrogates): those frames must come out as json made them.
"""

import copy
import datetime
import json
import math
from decimal import Decimal

import pytest

from chargepoints.ocpp import rpc

VERSIONS = ("1.6", "2.0.1")


def schema_names(version):
    return sorted(p.stem for p in rpc.SCHEMA_DIRS[version].glob("*.json"))


def resolve(schema, root):
    while "$ref" in schema:
        schema = root["definitions"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def valid_sample(schema, root, *, full):
    """A payload that the schema accepts: only required properties, or (`full`) all of them."""
    schema = resolve(schema, root)
    if "enum" in schema:
        return schema["enum"][-1]
    kind = schema.get("type")
    if kind == "object":
        names = list(schema.get("properties", {})) if full else schema.get("required", [])
        return {name: valid_sample(schema["properties"][name], root, full=full) for name in names}
    if kind == "array":
        count = max(schema.get("minItems", 1), 1 if full else 0)
        return [valid_sample(schema["items"], root, full=full) for _ in range(count)]
    if kind == "string":
        if schema.get("format") == "date-time":
            return "2026-11-22T10:00:00.123Z"
        return "x" * min(max(schema.get("minLength", 0), 3), schema.get("maxLength", 3))
    if kind == "integer":
        return max(schema.get("minimum", 1), 1)
    if kind == "number":
        if "multipleOf" in schema:
            return 21.4  # one decimal: not an exact binary float
        return max(schema.get("minimum", 1.5), 1.5)
    if kind == "boolean":
        return True
    if kind is None:
        return {"any": ["thing"]}  # DataTransfer's data: no type at all
    raise AssertionError(f"no sample for {schema}")


REPLACEMENTS = [
    None,
    True,
    0,
    -1,
    1.0,
    21.4,
    21.45,
    10**20,
    1e308,
    math.nan,
    math.inf,
    "",
    "x" * 2501,
    "noon",
    "2026-13-01T00:00:00Z",
    "2026-11-22T10:00:00+01:00",
    [],
    {},
]
CONTAINER_REPLACEMENTS = [None, "x", [], {}]


def paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from paths(item, (*prefix, index))


def replaced(payload, path, new):
    if not path:
        return new
    payload = copy.deepcopy(payload)
    node = payload
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = new
    return payload


def variants(payload):
    """The payload itself and broken (or merely unusual) copies of it: every value swapped, removed, added to."""
    yield payload
    for path in paths(payload):
        node = payload
        for step in path:
            node = node[step]
        for new in REPLACEMENTS if not isinstance(node, dict | list) else CONTAINER_REPLACEMENTS:
            yield replaced(payload, path, new)
        if isinstance(node, dict):
            yield replaced(payload, path, {**node, "surprise": 1})
            for key in node:
                yield replaced(payload, path, {k: v for k, v in node.items() if k != key})
        if isinstance(node, list) and node:
            yield replaced(payload, path, node * 4)


def fast_verdict(version, name, payload) -> bool:
    try:
        rpc._fast_validator(version, name)(payload)
    except Exception:
        return False
    return True


def slow_verdict(version, name, payload) -> bool | str:
    try:
        rpc._validate_slowly(version, name, payload, None)
    except rpc.RpcError:
        return False
    except Exception as exc:  # the old path crashes on a NaN against multipleOf
        return type(exc).__name__
    return True


@pytest.mark.parametrize("version", VERSIONS)
def test_the_compiled_validators_agree_with_jsonschema_on_every_message(version):
    disagreements, checked, rejected = [], 0, 0
    for name in schema_names(version):
        root = rpc.schema_json(version, name)
        for full in (False, True):
            for payload in variants(valid_sample(root, root, full=full)):
                checked += 1
                if not fast_verdict(version, name, payload):
                    rejected += 1  # jsonschema judges it again in validate_payload: whatever it says is the answer
                    continue
                # An accepting fast path is the answer: it must be jsonschema's.
                slow = slow_verdict(version, name, payload)
                if slow is not True:
                    disagreements.append((name, payload, slow))
    assert disagreements[:5] == []
    assert checked > 5_000 and rejected > checked / 2


@pytest.mark.parametrize("version", VERSIONS)
def test_the_generated_samples_are_valid_so_the_agreement_test_tests_something(version):
    for name in schema_names(version):
        root = rpc.schema_json(version, name)
        for full in (False, True):
            payload = valid_sample(root, root, full=full)
            assert slow_verdict(version, name, payload) is True, (name, payload)
            assert fast_verdict(version, name, payload), (name, payload)


def test_validating_fills_no_defaults_into_the_payload():
    # GetVariables' attributeType has "default": "Actual" in the 2.0.1 schema.
    payload = {"getVariableData": [{"component": {"name": "C"}, "variable": {"name": "V"}}]}
    before = copy.deepcopy(payload)
    rpc.validate_payload("2.0.1", "GetVariables", payload)
    assert payload == before


def test_a_float_against_multiple_of_is_still_compared_as_a_decimal():
    period = {"startPeriod": 0, "limit": 21.4}
    schedule = {"chargingRateUnit": "A", "chargingSchedulePeriod": [period]}
    profile = {
        "chargingProfileId": 1,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": schedule,
    }
    rpc.validate_payload("1.6", "SetChargingProfile", {"connectorId": 1, "csChargingProfiles": profile})
    period["limit"] = 21.45
    with pytest.raises(rpc.RpcError) as info:
        rpc.validate_payload("1.6", "SetChargingProfile", {"connectorId": 1, "csChargingProfiles": profile})
    assert info.value.code("1.6") == "PropertyConstraintViolation"
    assert info.value.details["field"] == "csChargingProfiles/chargingSchedule/chargingSchedulePeriod/0/limit"


def test_an_error_found_by_the_fast_path_is_described_as_before():
    with pytest.raises(rpc.RpcError) as info:
        rpc.validate_payload("1.6", "StartTransaction", {"connectorId": 1, "idTag": "A", "meterStart": 0, "timestamp": "noon"})
    assert info.value.code("1.6") == "TypeConstraintViolation"
    assert info.value.description == "timestamp: 'noon' is not a 'date-time'"
    assert info.value.details == {"field": "timestamp", "rule": "format"}


# --- Parsing -----------------------------------------------------------------

TRICKY_FRAMES = [
    '[2,"u1","StartTransaction",{"connectorId":18446744073709551616,"idTag":"A","meterStart":0,"timestamp":"2026-01-01T00:00:00Z"}]',
    '[2,"u1","DataTransfer",{"vendorId":"V","data":"-9223372036854775809"}]',
    '[2,"u1","MeterValues",{"connectorId":1,"meterValue":[{"timestamp":"2026-01-01T00:00:00Z","sampledValue":[{"value":"1"}]}]}]',
    '[2,"u1","DataTransfer",{"vendorId":"V","messageId":"\\ud800"}]',
    '[3,"u1",{"value":NaN}]',
    '[3,"u1",{"value":1e400,"other":-Infinity}]',
    '[3,"u1",{"a":1,"a":2}]',
    '[3,"u1",{"n":12345678901234567890123}]',
    '[3,"u1",{"f":0.1234567890123456789}]',
    '[4,"u1","NotSupported","é ✓ \\u0000",{}]',
    '[3,"u1",{"idTag":"12345678901234567890","é":[1.5,-2,"٣٤"]}]',  # 20 digits in a string: json reads it, the same
    '[3,"u1",{"n":-9223372036854775808,"m":18446744073709551615}]',
]


@pytest.mark.parametrize("text", TRICKY_FRAMES)
def test_frames_parse_to_what_json_made_of_them(text):
    message = rpc.parse_frame(text)
    expected = json.loads(text)
    got = [int(message.message_type), message.unique_id]
    if isinstance(message, rpc.Call):
        got += [message.action, message.payload]
    elif isinstance(message, rpc.CallResult):
        got += [message.payload]
    else:
        got += [message.error_code, message.error_description, message.error_details]
    assert repr(got) == repr(expected)  # repr: nan != nan, and 1 == 1.0 would hide a float


def test_a_frame_with_an_integer_beyond_64_bits_is_answered_as_before():
    text = TRICKY_FRAMES[0]
    call = rpc.parse_frame(text)
    assert call.payload["connectorId"] == 2**64 and type(call.payload["connectorId"]) is int
    rpc.validate_payload("1.6", "StartTransaction", call.payload)  # an integer, as json read it: no maximum in 1.6
    with pytest.raises(rpc.RpcError) as info:
        rpc.validate_payload("1.6", "StartTransaction", {**call.payload, "meterStart": 1e400})
    assert info.value.code("1.6") == "TypeConstraintViolation"


@pytest.mark.parametrize("text", ['[2,"u1","Heartbeat",{}', '\ufeff[2,"u1","Heartbeat",{}]', "[NaN", "[1e400,"])
def test_text_neither_parser_reads_is_still_no_frame(text):
    with pytest.raises(rpc.RpcError) as info:
        rpc.parse_frame(text)
    assert info.value.kind is rpc.ErrorKind.RPC_FRAMEWORK


# --- Building ------------------------------------------------------------------


def test_built_frames_are_the_json_the_old_path_wrote():
    payload = {
        "status": "Accepted",
        "currentTime": datetime.datetime(2026, 11, 22, 10, 0, 0, 123000, tzinfo=datetime.UTC),
        "day": datetime.date(2026, 11, 22),
        "limit": Decimal("21.4"),
        "text": 'é ✓ "quoted" \\ \n \x01 \u2028',
        "nested": [{"a": 1, "b": [True, False, None]}],
        "type": rpc.MessageType.CALL,
    }
    assert rpc.call_result_frame("u1", payload) == rpc._json_dumps([3, "u1", payload])
    assert rpc.call_frame("u1", "Reset", {"type": "Hard"}) == '[2,"u1","Reset",{"type":"Hard"}]'
    assert rpc.call_error_frame("u1", "InternalError", "boom", {"x": 1}) == '[4,"u1","InternalError","boom",{"x":1}]'


def test_what_orjson_refuses_to_write_is_written_by_json():
    payload = {"big": 2**70, 1: "int key"}
    assert rpc.call_result_frame("u1", payload) == '[3,"u1",{"big":1180591620717411303424,"1":"int key"}]'


def test_nan_and_none_are_written_as_json_wrote_them():
    payload = {"value": math.nan, "limit": -math.inf, "nothing": None}
    assert rpc.call_result_frame("u1", payload) == '[3,"u1",{"value":NaN,"limit":-Infinity,"nothing":null}]'


def test_a_value_json_cannot_hold_is_a_type_error():
    with pytest.raises(TypeError):
        rpc.call_result_frame("u1", {"x": object()})
