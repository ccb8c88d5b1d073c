"""The back end (manage.py ocpp_mqtt) end to end: charge point → gateway → Mosquitto → worker → Mosquitto → gateway → charge point."""

from __future__ import annotations

import asyncio
import urllib.parse

import pytest

from tests.e2e.stations import ready, simulated
from tests.e2e.test_session_v16 import drive_session
from tests.e2e.test_session_v201 import STATION, drive_session_v201, unbooted_then_booted
from tests.mqtt.processes import start_gateway, start_worker
from tests.waiting import eventually

pytestmark = pytest.mark.e2e


def test_a_1_6_session_through_the_gateway_is_stored_as_over_websocket(mqtt_deployment):
    dep = mqtt_deployment
    assert dep.api("POST", "/api/v1/chargepoints/", {"id": "E2E*CP:1"})[0] == 201
    assert dep.api("POST", "/api/v1/id-tags/", {"id_tag": "E2E-CARD", "status": "Accepted"})[0] == 201
    gateway = start_gateway(dep)
    start_worker(dep, "W1")

    tx_id = asyncio.run(drive_session(gateway.ws("/ocpp/E2E%2ACP%3A1")))

    status, page = dep.api("GET", "/api/v1/transactions/?charge_point=E2E*CP:1")
    assert status == 200
    [tx] = page["results"]
    assert tx["id"] == tx_id
    assert tx["energy_wh"] == 500
    assert tx["status"] == "completed"
    status, detail = dep.api("GET", f"/api/v1/transactions/{tx_id}/")
    energies = [mv["value"] for mv in detail["meter_values"] if mv["measurand"] == "Energy.Active.Import.Register"]
    assert energies == ["10150", "10300", "10450"]
    status, cp = dep.api("GET", "/api/v1/chargepoints/" + urllib.parse.quote("E2E*CP:1") + "/")
    assert cp["vendor"] == "Acme" and cp["firmware_version"] == "9.9"
    assert cp["ocpp_version"] == "1.6"
    assert eventually(lambda: dep.api("GET", "/api/v1/chargepoints/" + urllib.parse.quote("E2E*CP:1") + "/")[1]["online"])


def test_a_command_from_the_api_reaches_an_mqtt_charge_point_and_its_answer_returns(mqtt_deployment):
    dep = mqtt_deployment
    assert dep.api("POST", "/api/v1/chargepoints/", {"id": "MQ-CMD-1"})[0] == 201
    gateway = start_gateway(dep)
    start_worker(dep, "W1")

    with simulated(gateway.ws("/ocpp/"), {"MQ-CMD-1": "1.6"}) as sim:
        ready(sim, "MQ-CMD-1")
        status, body = dep.api("POST", "/api/v1/chargepoints/MQ-CMD-1/commands/GetConfiguration/", {"key": ["HeartbeatInterval"]})
        assert status == 200, body
        [key] = body["response"]["configurationKey"]
        assert key["key"] == "HeartbeatInterval"

        status, body = dep.api(
            "POST", "/api/v1/chargepoints/MQ-CMD-1/commands/ChangeAvailability/", {"connectorId": 1, "type": "Inoperative"}
        )
        assert status == 200, body
        assert body["response"] == {"status": "Accepted"}
        status, entry = dep.api("GET", f"/api/v1/commands/{body['command_id']}/")
        assert entry["status"] == "answered"
        dep.api("POST", "/api/v1/chargepoints/MQ-CMD-1/commands/ChangeAvailability/", {"connectorId": 1, "type": "Operative"})


def test_a_2_0_1_session_through_the_gateway_is_stored_as_over_websocket_and_gated_by_its_boot(mqtt_deployment):
    dep = mqtt_deployment
    for identity in (STATION, "E2E-201-B"):
        assert dep.api("POST", "/api/v1/chargepoints/", {"id": identity})[0] == 201
    assert dep.api("POST", "/api/v1/id-tags/", {"id_tag": "E2E-TOKEN-201", "status": "Accepted"})[0] == 201
    gateway = start_gateway(dep)
    start_worker(dep, "W1")

    asyncio.run(asyncio.wait_for(drive_session_v201(gateway.ws("/ocpp/" + urllib.parse.quote(STATION, safe=""))), 60))
    refused, boot_status = asyncio.run(unbooted_then_booted(gateway.ws("/ocpp/E2E-201-B")))

    status, page = dep.api("GET", "/api/v1/transactions/")
    [tx] = page["results"]
    assert tx["charge_point"] == STATION
    assert (tx["meter_start_wh"], tx["meter_stop_wh"], tx["energy_wh"], tx["status"]) == (20_000, 20_600, 600, "completed")
    status, detail = dep.api("GET", f"/api/v1/transactions/{tx['id']}/")
    energies = [mv["value"] for mv in detail["meter_values"] if mv["measurand"] == "Energy.Active.Import.Register"]
    assert energies == ["20000", "20100", "20250", "20400", "20.6"], "the retried event's readings are stored once"
    status, station = dep.api("GET", "/api/v1/chargepoints/" + urllib.parse.quote(STATION, safe="") + "/")
    assert (station["ocpp_version"], station["serial_number"]) == ("2.0.1", "SN-201")
    assert refused == "SecurityError"
    assert boot_status == "Accepted"
