"""EMQX's topics and envelope (chargepoints/mqtt/envelope.py), without a broker."""

from __future__ import annotations

import json

import pytest

from chargepoints.mqtt import envelope
from chargepoints.mqtt.envelope import EnvelopeError, TopicError, Topics
from chargepoints.ocpp import rpc


def test_a_call_frame_becomes_emqx_s_envelope_and_back():
    frame = rpc.call_frame("42", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})

    env = envelope.frame_to_envelope(frame)

    assert env == {
        "MessageTypeId": 2,
        "UniqueId": "42",
        "Action": "BootNotification",
        "Payload": {"chargePointVendor": "V", "chargePointModel": "M"},
    }
    assert json.loads(envelope.envelope_to_frame(envelope.dumps(env))) == json.loads(frame)


def test_an_answer_carries_the_action_it_answers_when_known():
    env = envelope.frame_to_envelope(rpc.call_result_frame("7", {"status": "Accepted"}), action="Reset")

    assert env == {"MessageTypeId": 3, "UniqueId": "7", "Action": "Reset", "Payload": {"status": "Accepted"}}
    assert envelope.envelope_to_frame(envelope.dumps(env)) == '[3,"7",{"status":"Accepted"}]'


def test_a_call_error_keeps_code_description_and_details():
    frame = rpc.call_error_frame("9", "NotSupported", "no", {"a": 1})

    env = envelope.frame_to_envelope(frame)

    assert env == {"MessageTypeId": 4, "UniqueId": "9", "ErrorCode": "NotSupported", "ErrorDescription": "no", "ErrorDetails": {"a": 1}}
    assert rpc.parse_frame(envelope.envelope_to_frame(envelope.dumps(env))) == rpc.CallError("9", "NotSupported", "no", {"a": 1})


def test_an_envelope_with_a_wrong_field_becomes_a_frame_that_rpc_answers_formation_violation():
    frame = envelope.envelope_to_frame(b'{"MessageTypeId": 2, "UniqueId": "5", "Action": "Heartbeat", "Payload": [1]}')

    with pytest.raises(rpc.RpcError) as error:
        rpc.parse_frame(frame)

    assert error.value.kind == rpc.ErrorKind.FORMAT
    assert error.value.unique_id == "5"


@pytest.mark.parametrize(
    ("data", "unique_id"),
    [
        (b"not json", None),
        (b'[2, "1", "Heartbeat", {}]', None),
        (b'{"MessageTypeId": 9, "UniqueId": "abc"}', "abc"),
        (b'{"UniqueId": 17}', None),
    ],
)
def test_what_is_no_envelope_is_refused_with_its_unique_id_when_readable(data, unique_id):
    with pytest.raises(EnvelopeError) as error:
        envelope.envelope_to_frame(data)

    assert error.value.unique_id == unique_id


def test_an_oversized_envelope_is_refused_unparsed_with_its_unique_id():
    data = b'{"MessageTypeId": 2, "UniqueId": "big-1", "Action": "DataTransfer", "Payload": {"data": "' + b"x" * 5000 + b'"}}'

    with pytest.raises(EnvelopeError) as error:
        envelope.envelope_to_frame(data, max_bytes=1024)

    assert error.value.unique_id == "big-1"
    assert "exceeds 1024" in error.value.reason


def test_upstream_topics_are_emqx_s_defaults():
    topics = Topics()

    assert topics.upstream_topic("CP-1", {"MessageTypeId": 2, "Action": "Heartbeat"}) == "ocpp/cp/CP-1/Heartbeat"
    assert topics.upstream_topic("CP-1", {"MessageTypeId": 3}) == "ocpp/cp/Reply/CP-1"
    assert topics.upstream_topic("CP-1", {"MessageTypeId": 4}) == "ocpp/cp/Error/CP-1"


def test_a_per_action_override_moves_that_action_only():
    topics = Topics(upstream_overrides={"BootNotification": "ocpp/cp/${cid}/Notify/${action}"})

    assert topics.upstream_topic("CP-1", {"MessageTypeId": 2, "Action": "BootNotification"}) == "ocpp/cp/CP-1/Notify/BootNotification"
    assert topics.upstream_topic("CP-1", {"MessageTypeId": 2, "Action": "Heartbeat"}) == "ocpp/cp/CP-1/Heartbeat"
    assert topics.upstream_charge_point("ocpp/cp/CP-1/Notify/BootNotification", 2) == "CP-1"
    assert topics.call_filters() == ["ocpp/cp/+/+", "ocpp/cp/+/Notify/+"]


def test_downstream_topics_name_the_message_type_and_action():
    topics = Topics()

    assert topics.downstream_topic("CP-1", {"MessageTypeId": 2, "Action": "Reset"}) == "ocpp/CP-1/Request/Reset"
    assert topics.downstream_topic("CP-1", {"MessageTypeId": 3, "Action": "BootNotification"}) == "ocpp/CP-1/Reply/BootNotification"
    assert topics.downstream_topic("CP-1", {"MessageTypeId": 4}) == "ocpp/CP-1/Error/Unknown"
    assert topics.downstream_filter("CP-1") == "ocpp/CP-1/+/+"
    assert topics.downstream_charge_point("ocpp/CP-1/Request/Reset") == "CP-1"


def test_the_envelope_type_tells_a_reply_from_a_call_of_a_charge_point_named_reply():
    topics = Topics()

    assert topics.upstream_charge_point("ocpp/cp/Reply/CP-1", 3) == "CP-1"
    assert topics.upstream_charge_point("ocpp/cp/Reply/CP-1", 2) == "Reply"
    assert topics.upstream_charge_point("elsewhere/CP-1", 2) is None


def test_identities_holding_a_wildcard_cannot_be_a_topic_level():
    with pytest.raises(TopicError):
        Topics().upstream_topic("CP+1", {"MessageTypeId": 2, "Action": "Heartbeat"})


def test_the_version_rides_as_a_user_property_and_defaults_to_1_6():
    assert envelope.version_of(envelope.properties_for("2.0.1")) == "2.0.1"
    assert envelope.version_of(None) == "1.6"
