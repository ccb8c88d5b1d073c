"""A charge point's admin page in a real browser: its "Now" panel follows the charge point live, without a reload."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.conftest import WAIT_S, login, read

pytestmark = pytest.mark.browser

# What the panel must show within this long of the charge point's frame (the promise).
LIVE_S = 2
CP = "CP-BROWSER-NOW"


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def status_notification(charge_point, status: str, error_code: str = "NoError") -> None:
    reply = charge_point.call("StatusNotification", {"connectorId": 1, "status": status, "errorCode": error_code})
    assert reply[0] == 3, reply


def test_the_now_panel_shows_a_fault_and_a_running_transaction_without_a_reload(driver, deployment, charge_point_connect):
    assert deployment.api("POST", "/api/v1/chargepoints/", {"id": CP})[0] == 201
    assert deployment.api("POST", "/api/v1/id-tags/", {"id_tag": "TAG-NOW", "status": "Accepted"})[0] == 201
    charge_point = charge_point_connect(deployment.servers[0].ws(f"/ocpp/{CP}"), CP)
    boot = charge_point.call("BootNotification", {"chargePointVendor": "Browser", "chargePointModel": "Now", "firmwareVersion": "9.9"})
    assert boot[2]["status"] == "Accepted"
    status_notification(charge_point, "Available")

    base_url = deployment.servers[0].http
    login(driver, base_url)
    driver.get(f"{base_url}/admin/chargepoints/chargepoint/{CP}/change/")
    panel = WebDriverWait(driver, WAIT_S).until(ec.presence_of_element_located((By.CSS_SELECTOR, '#now[data-live="on"]')))
    assert "1: Available" in panel.text
    assert "9.9" in driver.find_element(By.CSS_SELECTOR, "#now .cp-now-boots").text
    # Gone after a reload: proves the page below was updated in place.
    driver.execute_script("window.notReloaded = true;")

    status_notification(charge_point, "Faulted", "GroundFailure")
    WebDriverWait(driver, LIVE_S).until(lambda d: read(d, "#now .cp-status-faulted") is not None)
    assert read(driver, "#now .cp-status-faulted") == "1: Faulted"
    assert "GroundFailure" in read(driver, "#now .cp-now-error")

    started = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    start = charge_point.call("StartTransaction", {"connectorId": 1, "idTag": "TAG-NOW", "meterStart": 1000, "timestamp": iso(started)})
    transaction_id = start[2]["transactionId"]
    reply = charge_point.call(
        "MeterValues",
        {
            "connectorId": 1,
            "transactionId": transaction_id,
            "meterValue": [
                {
                    "timestamp": iso(started + timedelta(minutes=4)),
                    "sampledValue": [
                        {"value": "2500", "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
                        {"value": "7.4", "measurand": "Power.Active.Import", "unit": "kW"},
                    ],
                }
            ],
        },
    )
    assert reply[0] == 3, reply

    row = f'#now tr.cp-now-transaction[data-transaction-id="{transaction_id}"]'
    WebDriverWait(driver, LIVE_S).until(lambda d: "7.400 kW" in (read(d, f'{row} [data-figure="power_kw"]') or ""))
    assert read(driver, f'{row} [data-figure="energy_kwh"]') == "1.500 kWh"
    assert "TAG-NOW" in read(driver, row)
    link = read(driver, f"{row} a", "href")
    assert link.endswith(f"/admin/transactions/transaction/{transaction_id}/change/")
    assert driver.execute_script("return window.notReloaded === true;")
