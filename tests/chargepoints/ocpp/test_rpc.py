"""The OCPP-J framing layer: which frames parse, and which CALLERROR each broken one earns."""

import json

import pytest

from chargepoints.ocpp import rpc
from chargepoints.ocpp.rpc import RpcError


def error_of(text: str) -> RpcError:
    with pytest.raises(RpcError) as info:
        rpc.parse_frame(text)
    return info.value


def test_it_parses_a_call():
    call = rpc.parse_frame('[2,"abc","Heartbeat",{}]')
    assert call == rpc.Call("abc", "Heartbeat", {})


def test_it_parses_a_call_result_and_a_call_error():
    assert rpc.parse_frame('[3,"a",{"status":"Accepted"}]') == rpc.CallResult("a", {"status": "Accepted"})
    error = rpc.parse_frame('[4,"a","NotSupported","nope",{}]')
    assert (error.unique_id, error.error_code, error.error_description) == ("a", "NotSupported", "nope")


@pytest.mark.parametrize("text", ["not json", "{", "", '{"a": 1}', "[]", "42", '"x"'])
def test_it_rejects_text_that_is_not_a_frame_without_a_unique_id(text):
    error = error_of(text)
    assert error.code("1.6") == "FormationViolation"
    assert error.code("2.0.1") == "RpcFrameworkError"
    assert error.unique_id is None
    frame = json.loads(error.frame("1.6"))
    assert frame[:3] == [4, "-1", "FormationViolation"]


@pytest.mark.parametrize(
    "text",
    [
        '[2,"u1","Heartbeat"]',  # CALL without payload
        '[2,"u1","Heartbeat",{},{}]',  # too many elements
        '[2,"u1",7,{}]',  # action not a string
        '[2,"u1","Heartbeat",[]]',  # payload not an object
        '[3,"u1"]',
        '[3,"u1","x"]',
        '[4,"u1","Code"]',
        '[9,"u1",{}]',  # unknown MessageTypeId
        '["2","u1","Heartbeat",{}]',  # MessageTypeId as a string
    ],
)
def test_it_answers_malformed_frames_with_formation_violation_and_their_unique_id(text):
    error = error_of(text)
    assert error.code("1.6") == "FormationViolation"
    assert error.unique_id == "u1"
    assert json.loads(error.frame("1.6"))[:3] == [4, "u1", "FormationViolation"]


def test_it_rejects_unique_ids_over_36_characters():
    error = error_of(json.dumps([2, "x" * 37, "Heartbeat", {}]))
    assert error.code("1.6") == "FormationViolation"
    assert error.code("2.0.1") == "RpcFrameworkError"
    assert error.unique_id == "x" * 37
    assert "36" in error.description
    assert rpc.parse_frame(json.dumps([2, "x" * 36, "Heartbeat", {}])).unique_id == "x" * 36


def validation_error(action, payload, response=False) -> RpcError:
    with pytest.raises(RpcError) as info:
        rpc.validate_payload("1.6", action, payload, response=response, unique_id="u")
    return info.value


def test_it_accepts_a_schema_valid_payload():
    rpc.validate_payload("1.6", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})


def test_a_missing_required_field_is_an_occurence_constraint_violation_naming_it():
    error = validation_error("BootNotification", {"chargePointVendor": "V"})
    assert error.code("1.6") == "OccurenceConstraintViolation"  # the spec's own spelling
    assert error.details["field"] == "chargePointModel"
    assert error.unique_id == "u"


def test_a_wrong_type_is_a_type_constraint_violation():
    error = validation_error("StartTransaction", {"connectorId": "1", "idTag": "A", "meterStart": 0, "timestamp": "2026-01-01T00:00:00Z"})
    assert error.code("1.6") == "TypeConstraintViolation"
    assert error.details["field"] == "connectorId"


def test_a_too_long_string_is_a_type_constraint_violation():
    error = validation_error("Authorize", {"idTag": "x" * 21})
    assert error.code("1.6") == "TypeConstraintViolation"
    assert error.details["field"] == "idTag"


def test_a_value_outside_its_enum_is_a_property_constraint_violation():
    error = validation_error("StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Sleeping"})
    assert error.code("1.6") == "PropertyConstraintViolation"
    assert error.details["field"] == "status"


def test_an_unknown_field_is_a_formation_violation_naming_it():
    error = validation_error("Heartbeat", {"surprise": 1})
    assert error.code("1.6") == "FormationViolation"
    assert error.details["field"] == "surprise"


def test_a_timestamp_that_is_not_a_date_time_is_a_type_constraint_violation():
    error = validation_error("StartTransaction", {"connectorId": 1, "idTag": "A", "meterStart": 0, "timestamp": "noon"})
    assert error.code("1.6") == "TypeConstraintViolation"
    assert error.details["field"] == "timestamp"


def test_nested_fields_are_named_by_their_path():
    payload = {"connectorId": 1, "meterValue": [{"timestamp": "2026-01-01T00:00:00Z", "sampledValue": [{"value": "1", "unit": "parsec"}]}]}
    error = validation_error("MeterValues", payload)
    assert error.code("1.6") == "PropertyConstraintViolation"
    assert error.details["field"] == "meterValue/0/sampledValue/0/unit"


def test_decimal_schemas_accept_one_decimal_floats():
    # SetChargingProfile's limit is multipleOf 0.1; 21.4 is not an exact binary float.
    profile = {
        "chargingProfileId": 1,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 21.4}]},
    }
    rpc.validate_payload("1.6", "SetChargingProfile", {"connectorId": 1, "csChargingProfiles": profile})


def test_responses_are_checked_against_the_response_schema():
    error = validation_error("BootNotification", {"status": "Accepted"}, response=True)
    assert error.code("1.6") == "OccurenceConstraintViolation"


def test_it_knows_actions_of_both_directions():
    assert {"BootNotification", "RemoteStartTransaction", "Heartbeat"} <= rpc.known_actions("1.6")
    assert "Foo" not in rpc.known_actions("1.6")


def test_frames_are_compact_json():
    assert rpc.call_result_frame("a", {"x": 1}) == '[3,"a",{"x":1}]'
    assert rpc.call_error_frame("a", "InternalError", "boom") == '[4,"a","InternalError","boom",{}]'


# --- OCPP 2.0.1 (Part 4 §4.3) ----------------------------------------------


def test_an_unknown_message_type_is_message_type_not_supported_in_201():
    error = error_of('[7,"u1",{}]')
    assert error.code("2.0.1") == "MessageTypeNotSupported"
    assert error.code("1.6") == "FormationViolation"


def test_201_uses_the_corrected_spellings_of_the_error_codes():
    with pytest.raises(RpcError) as info:
        rpc.validate_payload("2.0.1", "Heartbeat", {"surprise": 1})
    assert info.value.code("2.0.1") == "FormatViolation"
    with pytest.raises(RpcError) as info:
        rpc.validate_payload("2.0.1", "BootNotification", {"reason": "PowerUp"})
    assert info.value.code("2.0.1") == "OccurrenceConstraintViolation"
    assert info.value.details["field"] == "chargingStation"


def test_201_payloads_are_checked_against_the_201_schemas():
    rpc.validate_payload("2.0.1", "BootNotification", {"reason": "PowerUp", "chargingStation": {"model": "M", "vendorName": "V"}})
    rpc.validate_payload("2.0.1", "Heartbeat", {"currentTime": "2026-11-22T10:00:00Z"}, response=True)
    assert {"TransactionEvent", "RequestStartTransaction", "NotifyReport"} <= rpc.known_actions("2.0.1")
