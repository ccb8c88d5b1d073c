"""Fixtures for the simulator's tests against real daphne processes (see tests/e2e/deployment.py).

`deployment` and `server` are the end-to-end fixtures (a database of the
test's own, then a daphne process); `csms` is the same once per module, so
the tests sharing it pay for one migration. `run_simulation` hosts a
simulation in a thread while the test calls the REST API.
"""

from __future__ import annotations

from contextlib import contextmanager

import pytest

from simulator import BackgroundSimulation, SimulationOptions
from tests import waiting
from tests.e2e.conftest import deployment, server  # noqa: F401  (the fixtures, for this directory's tests)
from tests.e2e.deployment import Database as _Database
from tests.e2e.deployment import Deployment, deploy, passwords_for

TAG = "SIMT-TAG"


@pytest.fixture(scope="module")
def csms(tmp_path_factory):
    """A migrated database, an admin API token and one running daphne process, shared by a module's tests."""
    with deploy(
        tmp_path_factory.mktemp("simulator"),
        name="sim",
        env={"OCPP_COMMAND_TIMEOUT": "10"},
        admin_password="sim-admin-pw",
        servers=1,
    ) as dep:
        assert dep.api("POST", "/api/v1/id-tags/", {"id_tag": TAG})[0] == 201
        yield dep


class Database(_Database):
    """Read-only SQL on a deployment's database, for what the REST API does not show (arrival order, events)."""

    def __init__(self, dep: Deployment):
        super().__init__(dep.env["DATABASE_URL"])


def register(dep: Deployment, *charge_point_ids: str) -> None:
    for charge_point_id in charge_point_ids:
        status, body = dep.api("POST", "/api/v1/chargepoints/", {"id": charge_point_id})
        assert status == 201, body


def eventually(check, timeout: float = 15.0, interval: float = 0.1):
    """`tests.waiting.eventually` with longer defaults: a simulation sends at its own pace, not on request."""
    return waiting.eventually(check, timeout, interval)


@contextmanager
def run_simulation(url: str, ids: list[str], versions: str, **options):
    """A simulation of `ids` against `url` (…/ocpp/) in a background thread; stopped gracefully on exit."""
    defaults = dict(
        seed=7,
        connectors=2,
        id_tags=(TAG,),
        sample_interval_s=0.3,
        session_s=(1.5, 2.5),
        pause_s=(0.2, 0.5),
        step_s=0.1,
        response_timeout_s=5.0,
        backoff_base_s=0.2,
        backoff_cap_s=1.0,
        grace_s=5.0,
        passwords=passwords_for(ids),  # what the deployment gave them when registered (security profile 1)
    )
    defaults.update(options)
    sim = BackgroundSimulation(SimulationOptions.build(ids=ids, ocpp=versions, url=url, **defaults))
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()
