"""The live frame console and a command page, in a real browser against a real server and a real charge point socket."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.browser.conftest import WAIT_S, login

pytestmark = pytest.mark.browser

# What the page must show within this long of the frame (the promise).
LIVE_S = 2


@pytest.fixture(scope="module")
def base_url(driver, deployment):
    """The server's address, with the admin logged in once for the module."""
    url = deployment.servers[0].http
    login(driver, url)
    return url


def register(deployment, charge_point_id: str) -> None:
    status, body = deployment.api("POST", "/api/v1/chargepoints/", {"id": charge_point_id})
    assert status == 201, body


def status_says(driver, text: str):
    return ec.text_to_be_present_in_element((By.CSS_SELECTOR, "#console .console-status"), text)


def frame_rows(driver, action: str):
    return driver.find_elements(By.CSS_SELECTOR, f'#console tr.console-frame[data-action="{action}"]')


def test_a_heartbeat_and_its_answer_appear_on_the_console_without_a_reload(driver, deployment, base_url, charge_point_connect):
    register(deployment, "CP-BROWSER-1")
    driver.get(f"{base_url}/console/CP-BROWSER-1/")
    WebDriverWait(driver, WAIT_S).until(status_says(driver, "offline"))

    charge_point = charge_point_connect(deployment.servers[0].ws("/ocpp/CP-BROWSER-1"), "CP-BROWSER-1")
    WebDriverWait(driver, WAIT_S).until(status_says(driver, "online (OCPP 1.6)"))
    reply = charge_point.call("Heartbeat", {})
    assert reply[0] == 3

    rows = WebDriverWait(driver, LIVE_S).until(lambda d: len(frame_rows(d, "Heartbeat")) == 2 and frame_rows(d, "Heartbeat"))
    assert [row.get_attribute("data-direction") for row in rows] == ["in", "out"]
    assert rows[0].find_element(By.CSS_SELECTOR, "td.type").text == "CALL"
    assert rows[1].find_element(By.CSS_SELECTOR, "td.type").text == "CALLRESULT"
    assert reply[2]["currentTime"] in rows[1].find_element(By.CSS_SELECTOR, "td.frame pre").text

    # Paused: frames are counted, not drawn, until resumed.
    driver.find_element(By.CSS_SELECTOR, "#console .console-pause").click()
    charge_point.call("Heartbeat", {})
    WebDriverWait(driver, LIVE_S).until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, "#console .console-count"), "paused: 2 new"))
    assert len(frame_rows(driver, "Heartbeat")) == 2
    driver.find_element(By.CSS_SELECTOR, "#console .console-pause").click()
    assert len(frame_rows(driver, "Heartbeat")) == 4

    # The filter hides the frames of other actions.
    driver.find_element(By.CSS_SELECTOR, "#console .console-filter").send_keys("Boot")
    WebDriverWait(driver, WAIT_S).until(lambda d: not any(row.is_displayed() for row in frame_rows(d, "Heartbeat")))


def test_a_command_sent_from_the_reset_page_is_answered_by_the_charge_point_and_the_page_shows_it(
    driver, deployment, base_url, charge_point_connect
):
    register(deployment, "CP-BROWSER-2")
    charge_point = charge_point_connect(
        deployment.servers[0].ws("/ocpp/CP-BROWSER-2"), "CP-BROWSER-2", answers={"Reset": {"status": "Accepted"}}
    )
    charge_point.call("BootNotification", {"chargePointVendor": "Test", "chargePointModel": "Browser"})
    driver.get(f"{base_url}/admin/chargepoints/chargepoint/CP-BROWSER-2/command/reset/")
    Select(driver.find_element(By.ID, "id_type")).select_by_value("hard")

    driver.find_element(By.CSS_SELECTOR, "#command_form [name=_send]").click()

    answer = WebDriverWait(driver, WAIT_S).until(ec.visibility_of_element_located((By.ID, "command-answer")))
    assert "Accepted" in answer.find_element(By.CSS_SELECTOR, ".command-response").text
    assert [call[2:] for call in charge_point.calls] == [["Reset", {"type": "Hard"}]]


def test_a_password_sent_from_its_command_page_is_hidden_on_the_console_open_in_another_tab(
    driver, deployment, base_url, charge_point_connect
):
    password = "a1b2c3d4e5f60718293a4b5c6d7e8f9001122334"  # 1.6: 40 hex characters
    register(deployment, "CP-BROWSER-3")
    charge_point_connect(
        deployment.servers[0].ws("/ocpp/CP-BROWSER-3"), "CP-BROWSER-3", answers={"ChangeConfiguration": {"status": "Accepted"}}
    )
    driver.get(f"{base_url}/console/CP-BROWSER-3/")
    WebDriverWait(driver, WAIT_S).until(status_says(driver, "online"))
    console_tab = driver.current_window_handle

    driver.switch_to.new_window("tab")
    driver.get(f"{base_url}/admin/chargepoints/chargepoint/CP-BROWSER-3/command/change-password/")
    driver.find_element(By.ID, "id_password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "#command_form [name=_send]").click()
    shown = WebDriverWait(driver, WAIT_S).until(ec.visibility_of_element_located((By.ID, "new-password")))
    assert shown.text == password  # the operator sees it, this once
    driver.close()
    driver.switch_to.window(console_tab)

    rows = WebDriverWait(driver, LIVE_S).until(
        lambda d: len(frame_rows(d, "ChangeConfiguration")) == 2 and frame_rows(d, "ChangeConfiguration")
    )
    assert [row.get_attribute("data-direction") for row in rows] == ["out", "in"]
    assert '"value": "***"' in rows[0].find_element(By.CSS_SELECTOR, "td.frame pre").text
    assert password not in driver.page_source
