"""A running transaction's page in a real browser: its chart has points and grows without a reload, Stop reaches the charge point."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.conftest import WAIT_S, login

pytestmark = pytest.mark.browser

CP = "CP-BROWSER-TX"
START = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def meter_values(charge_point, transaction_id: int, minute: int, energy_wh: int, power_w: int) -> None:
    reply = charge_point.call(
        "MeterValues",
        {
            "connectorId": 1,
            "transactionId": transaction_id,
            "meterValue": [
                {
                    "timestamp": iso(START + timedelta(minutes=minute)),
                    "sampledValue": [
                        {"value": str(energy_wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
                        {"value": str(power_w), "measurand": "Power.Active.Import", "unit": "W"},
                    ],
                }
            ],
        },
    )
    assert reply[0] == 3, reply


def chart_points(driver) -> int:
    """How many energy points the page's chart holds (Chart.js's own data, not the DOM)."""
    return driver.execute_script(
        "const c = window.Chart && Chart.getChart('meter-chart-canvas'); return c ? c.data.datasets[1].data.length : -1;"
    )


@pytest.fixture(scope="module")
def session(driver, deployment, charge_point_connect_module):
    """A 1.6 charge point with a running transaction and two meter values; (charge point, our transaction id)."""
    assert deployment.api("POST", "/api/v1/chargepoints/", {"id": CP})[0] == 201
    assert deployment.api("POST", "/api/v1/id-tags/", {"id_tag": "TAG-BROWSER", "status": "Accepted"})[0] == 201
    charge_point = charge_point_connect_module(
        deployment.servers[0].ws(f"/ocpp/{CP}"), CP, answers={"RemoteStopTransaction": {"status": "Accepted"}}
    )
    assert charge_point.call("BootNotification", {"chargePointVendor": "Browser", "chargePointModel": "Test"})[2]["status"] == "Accepted"
    started = charge_point.call("StartTransaction", {"connectorId": 1, "idTag": "TAG-BROWSER", "meterStart": 1000, "timestamp": iso(START)})
    transaction_id = started[2]["transactionId"]
    meter_values(charge_point, transaction_id, 1, 1500, 7200)
    meter_values(charge_point, transaction_id, 2, 2000, 7400)
    login(driver, deployment.servers[0].http)
    return charge_point, transaction_id


@pytest.fixture(scope="module")
def charge_point_connect_module():
    """Like conftest's charge_point_connect, for the module: the session outlives each test."""
    from tests.browser.conftest import TestChargePoint

    opened = []

    def connect(url, charge_point_id, answers=None):
        opened.append(TestChargePoint(url, charge_point_id, answers))
        return opened[-1]

    yield connect
    for charge_point in opened:
        charge_point.close()


def open_page(driver, deployment, session) -> int:
    status, body = deployment.api("GET", f"/api/v1/transactions/?charge_point={CP}")
    assert status == 200, body
    pk = body["results"][0]["id"]
    driver.get(f"{deployment.servers[0].http}/admin/transactions/transaction/{pk}/change/")
    return pk


def test_the_chart_has_the_points_and_grows_as_meter_values_arrive(driver, deployment, session):
    charge_point, transaction_id = session
    open_page(driver, deployment, session)

    WebDriverWait(driver, WAIT_S).until(lambda d: chart_points(d) == 2)
    meter_values(charge_point, transaction_id, 3, 2600, 7600)

    # The page polls every few seconds while the transaction runs: no reload.
    WebDriverWait(driver, WAIT_S).until(lambda d: chart_points(d) == 3)
    WebDriverWait(driver, WAIT_S).until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, '[data-figure="power_kw"]'), "7.6"))
    assert driver.find_element(By.ID, "meter-chart").get_attribute("data-state") == "running"


def test_stop_charging_on_the_page_reaches_the_charge_point_and_its_answer_is_shown(driver, deployment, session):
    charge_point, transaction_id = session
    open_page(driver, deployment, session)

    WebDriverWait(driver, WAIT_S).until(ec.element_to_be_clickable((By.ID, "stop-transaction"))).click()

    message = WebDriverWait(driver, WAIT_S).until(ec.presence_of_element_located((By.CSS_SELECTOR, "ul.messagelist li")))
    assert "Accepted" in message.text, message.text
    stops = [call for call in charge_point.calls if call[2] == "RemoteStopTransaction"]
    assert [call[3] for call in stops] == [{"transactionId": transaction_id}]
