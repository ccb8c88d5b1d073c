"""The README's screenshots, taken of a throwaway deployment with a small live fleet: `python -m bench.screenshots`.

    make screenshots            # writes docs/screenshots/{dashboard,charge-point,transaction}.png

Starts a deployment (bench/deployment.py: its own SQLite database, one
daphne), registers a dozen charge points, connects them over real
WebSockets (tests/browser/conftest.py's TestChargePoint), has them report
statuses (some Faulted, one Unavailable), charges on one with a minute of
meter values a minute for 40 minutes, then opens the dashboard, that charge
point's admin page (while it sends frames, so its console shows them) and its
transaction in headless Chromium (Debian's, as the browser tests use it) and
saves each page at 1400 px wide.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench import chromium
from bench.deployment import REPO, Deployment

OUT = REPO / "docs" / "screenshots"
PASSWORD = "screenshots-admin-pw"
FLEET = [f"CP-{site}-{n:02d}" for site in ("BERLIN", "MUNICH") for n in range(1, 7)]
STATUSES = {
    "CP-BERLIN-03": ("Faulted", "GroundFailure"),
    "CP-MUNICH-02": ("Faulted", "HighTemperature"),
    "CP-MUNICH-05": ("Unavailable", "NoError"),
}
CHARGING = "CP-BERLIN-01"


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def fleet(deployment: Deployment) -> tuple[list, int]:
    """Connect and boot the fleet, report statuses, run a 40-minute session on CHARGING; (charge points, its transaction id)."""
    from tests.browser.conftest import TestChargePoint

    server = deployment.servers[0]
    for charge_point_id in FLEET:
        assert deployment.api("POST", "/api/v1/chargepoints/", {"id": charge_point_id})[0] == 201
    assert deployment.api("POST", "/api/v1/id-tags/", {"id_tag": "04A2B3C4D5", "status": "Accepted"})[0] == 201
    charge_points = []
    for n, charge_point_id in enumerate(FLEET):
        if charge_point_id.endswith("06"):
            continue  # offline: never connected
        cp = TestChargePoint(
            server.ws(f"/ocpp/{charge_point_id}"), charge_point_id, answers={"RemoteStopTransaction": {"status": "Accepted"}}
        )
        charge_points.append(cp)
        vendor = ("Alfen", "Eve Single") if n % 2 else ("ABB", "Terra AC")
        cp.call("BootNotification", {"chargePointVendor": vendor[0], "chargePointModel": vendor[1], "firmwareVersion": "1.4.2"})
        for connector in (1, 2):
            status, error = STATUSES.get(charge_point_id, ("Available", "NoError")) if connector == 1 else ("Available", "NoError")
            cp.call("StatusNotification", {"connectorId": connector, "errorCode": error, "status": status})
    cp = charge_points[FLEET.index(CHARGING)]
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=40)
    started = cp.call("StartTransaction", {"connectorId": 1, "idTag": "04A2B3C4D5", "meterStart": 120_000, "timestamp": iso(start)})
    transaction_id = started[2]["transactionId"]
    cp.call("StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Charging"})
    energy = 120_000.0
    for minute in range(1, 41):
        power_w = 10_800 if minute < 30 else 10_800 - (minute - 29) * 700  # constant current, then tapering
        energy += power_w / 60
        soc = min(28 + minute * 1.6, 92)
        cp.call(
            "MeterValues",
            {
                "connectorId": 1,
                "transactionId": transaction_id,
                "meterValue": [
                    {
                        "timestamp": iso(start + timedelta(minutes=minute)),
                        "sampledValue": [
                            {"value": f"{energy:.0f}", "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
                            {"value": str(power_w), "measurand": "Power.Active.Import", "unit": "W"},
                            {"value": f"{soc:.0f}", "measurand": "SoC", "unit": "Percent"},
                        ],
                    }
                ],
            },
        )
    return charge_points, transaction_id


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help=f"directory of the PNGs (default {OUT.relative_to(REPO)})")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    with Deployment(name="screenshots") as deployment:
        # SQLite and the in-memory layer whatever the shell has: one process is all a screenshot needs.
        deployment.env.pop("REDIS_URL", None)
        deployment.env.pop("DATABASE_URL", None)
        deployment.setup(admin_password=PASSWORD)
        deployment.manage("collectstatic", "--noinput", "-v0")
        deployment.start_servers(1)
        charge_points, transaction_id = fleet(deployment)
        base = deployment.servers[0].http
        driver = chromium.launch(width=1400, height=1000)
        try:
            driver.get(f"{base}/admin/login/?next=/admin/")
            driver.find_element(By.ID, "id_username").send_keys("admin")
            driver.find_element(By.ID, "id_password").send_keys(PASSWORD)
            driver.find_element(By.CSS_SELECTOR, "#login-form [type=submit]").click()
            WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.ID, "user-tools"))

            driver.get(f"{base}/")
            WebDriverWait(driver, 10).until(lambda d: d.find_element(By.ID, "live-state").get_attribute("data-state") == "live")
            time.sleep(2)  # the rows' "just changed" highlight fades
            driver.save_screenshot(str(args.out / "dashboard.png"))

            cp = charge_points[FLEET.index(CHARGING)]
            driver.get(f"{base}/admin/chargepoints/chargepoint/{CHARGING}/change/")
            WebDriverWait(driver, 10).until(lambda d: "online" in d.find_element(By.CSS_SELECTOR, "#console .console-status").text)
            cp.call("Heartbeat", {})
            cp.call("StatusNotification", {"connectorId": 2, "errorCode": "NoError", "status": "Available"})
            WebDriverWait(driver, 10).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#console tr.console-frame")) >= 4)
            time.sleep(0.5)  # let the last rows paint
            driver.set_window_size(1400, 1600)
            driver.save_screenshot(str(args.out / "charge-point.png"))

            driver.set_window_size(1400, 1000)
            status, body = deployment.api("GET", f"/api/v1/transactions/?charge_point={CHARGING}")
            pk = body["results"][0]["id"]
            driver.get(f"{base}/admin/transactions/transaction/{pk}/change/")
            WebDriverWait(driver, 10).until(
                lambda d: d.execute_script(
                    "const c = window.Chart && Chart.getChart('meter-chart-canvas'); return c && c.data.datasets[1].data.length"
                )
            )
            time.sleep(0.5)
            driver.save_screenshot(str(args.out / "transaction.png"))
        finally:
            driver.quit()
            for cp in charge_points:
                cp.close()
    print(json.dumps({"written": sorted(str(p) for p in args.out.glob("*.png"))}))


if __name__ == "__main__":
    main()
