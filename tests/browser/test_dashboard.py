"""The dashboard at / in a real browser: a charge point going Faulted shows within 2 s, without a reload.

With REDIS_URL set (CI's PostgreSQL + Redis run) the deployment has two
daphne processes: the charge point's socket on the first, the browser's page
and its ws/dashboard/ on the second, so the change crosses the channel layer
as it does in production.
"""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.conftest import ADMIN_PASSWORD, WAIT_S, login, read
from tests.e2e.deployment import deploy

pytestmark = pytest.mark.browser

# The promise: a status change is on every open dashboard within this long.
LIVE_S = 2
CP = "CP-BROWSER-DASH"


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    """This module's own: two servers when the run has Redis (processes share nothing else), one otherwise."""
    with deploy(tmp_path_factory.mktemp("dash"), name="browser-dashboard", env={}, admin_password=ADMIN_PASSWORD) as dep:
        dep.manage("collectstatic", "--noinput", "-v0")
        dep.start_servers(2 if dep.env.get("REDIS_URL") else 1)
        yield dep


# The page re-renders rows and counters as updates arrive, so an element found
# one moment may be replaced the next (StaleElementReferenceException): each
# read is one script run inside the page, which sees one consistent DOM.
def badges(driver) -> list[dict]:
    """The badges of CP's row now, each {"text", "class", "title"}."""
    return driver.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0]))"
        ".map(b => ({text: b.innerText.trim(), class: b.className, title: b.title || ''}));",
        f'#fleet-rows tr[data-charge-point="{CP}"] td.cp-connectors .badge',
    )


def badge_text(driver) -> str:
    return " ".join(badge["text"] for badge in badges(driver))


def count(driver, key: str) -> str:
    return read(driver, f'[data-count="{key}"]') or ""


def test_a_charge_point_going_faulted_shows_on_the_dashboard_within_two_seconds(driver, deployment, charge_point_connect):
    assert deployment.api("POST", "/api/v1/chargepoints/", {"id": CP})[0] == 201
    charge_point_server, browser_server = deployment.servers[0], deployment.servers[-1]
    charge_point = charge_point_connect(charge_point_server.ws(f"/ocpp/{CP}"), CP)
    assert charge_point.call("BootNotification", {"chargePointVendor": "Browser", "chargePointModel": "Dash"})[2]["status"] == "Accepted"
    status = {"connectorId": 1, "errorCode": "NoError", "status": "Available"}
    assert charge_point.call("StatusNotification", status)[0] == 3

    login(driver, browser_server.http)
    driver.get(f"{browser_server.http}/")
    WebDriverWait(driver, WAIT_S).until(lambda d: d.find_element(By.ID, "live-state").get_attribute("data-state") == "live")
    assert "Available" in badge_text(driver)
    faulted_before = int(count(driver, "faulted"))

    assert charge_point.call("StatusNotification", {**status, "status": "Faulted", "errorCode": "GroundFailure"})[0] == 3

    WebDriverWait(driver, LIVE_S).until(lambda d: "Faulted" in badge_text(d))
    (badge,) = badges(driver)
    assert "badge-faulted" in badge["class"] and "GroundFailure" in badge["title"]
    WebDriverWait(driver, LIVE_S).until(lambda d: int(count(d, "faulted")) == faulted_before + 1)
    assert driver.execute_script("return performance.getEntriesByType('navigation').length") == 1, "no reload"
