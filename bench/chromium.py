"""Headless Debian Chromium driven by selenium: one launch for the browser tests, the dashboard bench and `make screenshots`.

Debian's packages (`apt-get install chromium chromium-driver`, which .ci/run
does): nothing is downloaded, and selenium's own driver manager never runs
(the driver's path is given). The flags keep Chromium off the network this
machine does not have (background networking, component updates, sync).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def missing() -> str | None:
    """Why Chromium cannot be driven here ("selenium is not installed", "<path> is missing (apt-get install …)"), None when it can."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -r requirements-dev.txt)"
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not os.access(path, os.X_OK):
            return f"{path} is missing (apt-get install {package})"
    return None


def launch(*, width: int = 1400, height: int = 1000, profile: Path | None = None, page_load_timeout: float = 30):
    """A headless Chromium WebDriver in a fresh profile (`profile`, or a new temporary directory) of `width`×`height` pixels.

    The caller quits it. Raises selenium's WebDriverException when Chromium
    or its driver cannot start (see `missing()` first).
    """
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--hide-scrollbars",
        f"--window-size={width},{height}",
        f"--user-data-dir={profile or tempfile.mkdtemp(prefix='csms-chromium-')}",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(page_load_timeout)
    return driver
