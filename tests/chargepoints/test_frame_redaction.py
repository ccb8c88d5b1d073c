"""`redaction.redact_frame`: what the debug log and the console show of a frame a station sent, secrets hidden."""

from __future__ import annotations

import json

from chargepoints.redaction import redact_frame

SECRET = "s3cret-password-0123456789"


def test_a_frame_naming_no_secret_is_shown_exactly_as_received():
    text = '[2, "1",  "Heartbeat", {}]'

    assert redact_frame(text) is text


def test_a_notify_report_with_the_basic_auth_password_hides_every_attribute_value():
    report = {
        "component": {"name": "SecurityCtrlr"},
        "variable": {"name": "BasicAuthPassword"},
        "variableAttribute": [{"type": "Actual", "value": SECRET, "mutability": "WriteOnly"}],
    }
    other = {"component": {"name": "SecurityCtrlr"}, "variable": {"name": "SecurityProfile"}, "variableAttribute": [{"value": "1"}]}
    text = json.dumps(
        [2, "7", "NotifyReport", {"requestId": 1, "generatedAt": "2026-01-01T00:00:00Z", "seqNo": 0, "reportData": [report, other]}]
    )

    shown = json.loads(redact_frame(text))

    assert shown[3]["reportData"] == [{**report, "variableAttribute": [{**report["variableAttribute"][0], "value": "***"}]}, other]
    assert SECRET not in redact_frame(text)


def test_a_password_of_another_component_of_the_same_name_is_left_alone():
    entry = {"component": {"name": "VendorCtrlr"}, "variable": {"name": "BasicAuthPassword"}, "attributeValue": "not ours"}

    assert json.loads(redact_frame(json.dumps([3, "1", {"getVariableResult": [entry]}])))[2]["getVariableResult"] == [entry]


def test_a_frame_that_names_a_secret_and_is_not_json_is_not_shown():
    shown = redact_frame('[3, "1", {"configurationKey": [{"key": "AuthorizationKey", "value": "' + SECRET)

    assert SECRET not in shown
    assert "not JSON" in shown
