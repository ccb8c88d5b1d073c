"""Real-browser tests: a throwaway deployment (tests/e2e/deployment.py) and a headless Debian Chromium via selenium.

    pytest -m browser                    # these tests only
    pytest tests/browser -x              # the same, stop at the first failure

`deployment` (one per module) is a migrated database, an admin user
("admin" / ADMIN_PASSWORD), collected static files and one daphne on a free
port; `driver` (one per module) is Chromium in a fresh profile; `login`
signs a user in through the admin's form. A failed browser test leaves a
screenshot and the page's HTML under var/browser-failures/ (the path is
printed with the failure).

Chromium and chromedriver are Debian's (`apt-get install chromium
chromium-driver`, which .ci/run does): nothing is downloaded. With CI set,
a missing browser, driver or selenium fails the tests; elsewhere they are
skipped with the reason.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import threading
from contextlib import ExitStack
from pathlib import Path

import pytest

from bench import chromium
from tests.e2e.deployment import REPO, basic_auth_headers, deploy

ADMIN_PASSWORD = "browser-admin-pw"
FAILURES_DIR = REPO / "var" / "browser-failures"
# How long an explicit wait waits for what the page should show (generous: CI shares 2 cores).
WAIT_S = 10


# Without selenium the test modules cannot even be imported: with CI set that is a
# collection error (the run fails, as it must); elsewhere they are left out, and said so.
try:
    import selenium  # noqa: F401
except ImportError:
    if not os.environ.get("CI"):
        collect_ignore_glob = ["test_*.py"]


def pytest_report_header(config):
    if "collect_ignore_glob" in globals():
        return "browser tests left out: selenium is not installed (pip install -r requirements-dev.txt)"
    return None


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: drives a real headless Chromium against a real daphne server")


def _unavailable(reason: str):
    """Fail with CI set (CI must never pass by testing less), skip otherwise."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set: browser tests must run)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def deployment(request, tmp_path_factory):
    """A migrated deployment with admin/ADMIN_PASSWORD, static files collected and one daphne running."""
    name = "browser-" + request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_").replace("_", "-")
    env = {"OCPP_COMMAND_TIMEOUT": "10"}
    with deploy(tmp_path_factory.mktemp(name), name=name, env=env, admin_password=ADMIN_PASSWORD) as dep:
        # WhiteNoise serves what is collected when the server starts (as `make run` does it).
        dep.manage("collectstatic", "--noinput", "-v0")
        dep.start_servers(1)
        yield dep


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    """Headless Chromium (Debian's) driven by Debian's chromedriver (bench/chromium.py), in a fresh profile; quit after the module."""
    reason = chromium.missing()
    if reason:
        _unavailable(reason)
    chrome = chromium.launch(width=1400, height=1000, profile=tmp_path_factory.mktemp("chromium-profile"))
    yield chrome
    chrome.quit()


def read(driver, selector: str, attribute: str | None = None) -> str | None:
    """The visible text (or ``attribute``) of the first element matching ``selector`` now; None when none matches.

    Live views replace their elements as updates arrive, so an element found
    one moment may be stale the next (StaleElementReferenceException): the
    lookup and the read are one script run inside the page.
    """
    return driver.execute_script(
        "const e = document.querySelector(arguments[0]);"
        "if (!e) return null;"
        "return arguments[1] ? e.getAttribute(arguments[1]) : e.innerText.trim();",
        selector,
        attribute,
    )


def login(driver, base_url: str, user: str = "admin", password: str = ADMIN_PASSWORD) -> None:
    """Sign `user` in through the admin's login form at `base_url` and wait for the admin's index."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(f"{base_url}/admin/login/?next=/admin/")
    driver.find_element(By.ID, "id_username").send_keys(user)
    driver.find_element(By.ID, "id_password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "#login-form [type=submit]").click()
    WebDriverWait(driver, WAIT_S).until(ec.presence_of_element_located((By.ID, "user-tools")))


class TestChargePoint:
    """An OCPP 1.6 charge point on a real WebSocket (websockets' sync client), answering CALLs from a thread.

    `answers` maps an action to the CALLRESULT payload it gets (what the test
    decides the charge point says); a CALL of another action gets a
    NotImplemented CALLERROR. `calls` keeps every CALL received, `call()`
    sends one and returns the central system's reply.
    """

    __test__ = False  # not a test class, whatever pytest thinks of its name

    def __init__(self, url: str, charge_point_id: str, answers: dict[str, dict] | None = None):
        from websockets.sync.client import connect

        self.answers = dict(answers or {})
        self.calls: list[list] = []
        self._replies: queue.Queue = queue.Queue()
        self._counter = 0
        self._exit = ExitStack()
        headers = basic_auth_headers(charge_point_id)
        self.ws = self._exit.enter_context(connect(url, subprotocols=["ocpp1.6"], additional_headers=headers, open_timeout=10))
        self._reader = threading.Thread(target=self._read, name=f"charge point {charge_point_id}", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            for text in self.ws:
                frame = json.loads(text)
                if frame[0] != 2:
                    self._replies.put(frame)
                    continue
                self.calls.append(frame)
                if frame[2] in self.answers:
                    self.ws.send(json.dumps([3, frame[1], self.answers[frame[2]]]))
                else:
                    self.ws.send(json.dumps([4, frame[1], "NotImplemented", f"test charge point: no answer to {frame[2]}", {}]))
        except ConnectionClosed:
            pass

    def call(self, action: str, payload: dict, timeout: float = WAIT_S) -> list:
        """Send a CALL and return the reply frame (CALLRESULT or CALLERROR); queue.Empty after `timeout` s."""
        self._counter += 1
        unique_id = f"b{self._counter}"
        self.ws.send(json.dumps([2, unique_id, action, payload]))
        reply = self._replies.get(timeout=timeout)
        assert reply[1] == unique_id, reply
        return reply

    def close(self) -> None:
        self._exit.close()
        self._reader.join(timeout=5)


@pytest.fixture
def charge_point_connect():
    """`charge_point_connect(url, id, answers)` opens a TestChargePoint; all are closed after the test."""
    opened: list[TestChargePoint] = []

    def connect(url: str, charge_point_id: str, answers: dict[str, dict] | None = None) -> TestChargePoint:
        charge_point = TestChargePoint(url, charge_point_id, answers)
        opened.append(charge_point)
        return charge_point

    yield connect
    for charge_point in opened:
        charge_point.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """On a failed browser test: save the page's screenshot and HTML, and say where in the failure report."""
    outcome = yield
    report = outcome.get_result()
    chrome = item.funcargs.get("driver") if hasattr(item, "funcargs") else None
    if report.when != "call" or not report.failed or chrome is None:
        return
    FAILURES_DIR.mkdir(parents=True, exist_ok=True)
    stem = FAILURES_DIR / re.sub(r"[^A-Za-z0-9._-]+", "_", item.nodeid)
    saved = []
    try:
        if chrome.save_screenshot(f"{stem}.png"):
            saved.append(f"{stem}.png")
        Path(f"{stem}.html").write_text(f"<!-- {chrome.current_url} -->\n{chrome.page_source}")
        saved.append(f"{stem}.html")
    except Exception as error:  # noqa: BLE001 - the test's own failure matters more
        saved.append(f"(could not save the page: {error})")
    report.sections.append(("browser", "page at the failure: " + ", ".join(saved)))


@pytest.fixture(scope="session", autouse=True)
def _no_old_failures():
    """Screenshots of an earlier run would be taken for this one's."""
    shutil.rmtree(FAILURES_DIR, ignore_errors=True)
