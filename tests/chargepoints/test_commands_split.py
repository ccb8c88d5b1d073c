"""Requests split as the station asks: DeviceDataCtrlr ItemsPerMessage / BytesPerMessage (OCPP 2.0.1 B05, B06, B08).

The limits come from the stored device model (selectors.message_limits);
commands.acall sends a request past them as several CALLs through the
consumer, one after the other, and returns one merged answer.
"""

import pytest

from chargepoints import selectors
from chargepoints.models import ChargePoint, Variable


# --- The limits as stored: selectors.message_limits ------------------------------------------


def limit(charge_point_id: str, variable: str, value, instance: str = "", attribute_type: str = "Actual", **fields):
    return Variable.objects.create(
        charge_point_id=charge_point_id,
        component=fields.pop("component", "DeviceDataCtrlr"),
        variable=variable,
        variable_instance=instance,
        attribute_type=attribute_type,
        value=value,
        **fields,
    )


@pytest.fixture
def station(db):
    return ChargePoint.objects.create(id="CS-1", ocpp_version="2.0.1")


def test_the_limits_are_read_from_the_variables_with_the_action_as_instance(station):
    limit("CS-1", "ItemsPerMessage", "2", "GetVariables")
    limit("CS-1", "BytesPerMessage", "4096", "GetVariables")
    limit("CS-1", "ItemsPerMessage", "9", "SetVariables")

    assert selectors.message_limits(charge_point_id="CS-1", action="GetVariables") == (2, 4096)
    assert selectors.message_limits(charge_point_id="CS-1", action="SetVariables") == (9, None)
    assert selectors.message_limits(charge_point_id="CS-1", action="GetReport") == (None, None)


def test_the_limits_are_read_from_variables_named_after_the_action_too(station):
    limit("CS-1", "ItemsPerMessageGetReport", "3")
    limit("CS-1", "BytesPerMessageGetReport", "2000")
    limit("CS-1", "itemspermessagesetvariables", "5")  # names are case-insensitive in OCPP

    assert selectors.message_limits(charge_point_id="CS-1", action="GetReport") == (3, 2000)
    assert selectors.message_limits(charge_point_id="CS-1", action="SetVariables") == (5, None)


def test_when_both_spellings_are_reported_the_smaller_limit_holds(station):
    limit("CS-1", "ItemsPerMessage", "10", "GetVariables")
    limit("CS-1", "ItemsPerMessageGetVariables", "4")

    assert selectors.message_limits(charge_point_id="CS-1", action="GetVariables") == (4, None)


@pytest.mark.parametrize("value", ["0", "-3", "2.5", "many", "", None])
def test_a_limit_that_is_no_whole_number_above_zero_is_ignored(station, value):
    limit("CS-1", "ItemsPerMessage", value, "GetVariables")
    limit("CS-1", "BytesPerMessageGetVariables", " 512 ")

    assert selectors.message_limits(charge_point_id="CS-1", action="GetVariables") == (None, 512)


def test_only_the_actual_value_of_the_stations_own_device_data_controller_counts(station):
    ChargePoint.objects.create(id="CS-2", ocpp_version="2.0.1")
    limit("CS-1", "ItemsPerMessage", "1", "GetVariables", attribute_type="MaxSet")
    limit("CS-1", "ItemsPerMessage", "1", "GetVariables", component="AcmeCtrlr")
    limit("CS-2", "ItemsPerMessage", "1", "GetVariables")

    assert selectors.message_limits(charge_point_id="CS-1", action="GetVariables") == (None, None)
    assert selectors.message_limits(charge_point_id="NOPE", action="GetVariables") == (None, None)
