"""Fixtures for end-to-end tests against real daphne processes (the deployment itself: deployment.py).

`deployment` gives each test a database of its own, migrated, with an admin
(password 'e2e-admin-pw', API token) and no server yet; `server` starts one
daphne process on it. `csms` (and `database` on it) is one deployment with a
running server shared by all tests of a module, for modules that drive one
long-lived charge point through many commands.
"""

from __future__ import annotations

import pytest

# Re-exported: tests/simulator imports them from here.
from tests.e2e.deployment import Database, Deployment, Server, deploy, free_port  # noqa: F401


@pytest.fixture
def deployment(tmp_path):
    """A migrated database with an admin (password 'e2e-admin-pw', API token) and no server yet."""
    with deploy(tmp_path, name="e2e", admin_password="e2e-admin-pw") as dep:
        yield dep


@pytest.fixture
def server(deployment) -> Server:
    """One daphne process on the test's deployment; stopped with the deployment."""
    return deployment.start_server()


@pytest.fixture(scope="module")
def csms(request, tmp_path_factory):
    """A migrated database, an admin API token and one running daphne process, one per test module.

    Named after the module (test_operations.py: "e2e-operations") for its
    database and Redis prefix; commands wait up to 10 s for their answer.
    """
    name = "e2e-" + request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_").replace("_", "-")
    with deploy(tmp_path_factory.mktemp(name), name=name, env={"OCPP_COMMAND_TIMEOUT": "10"}, servers=1) as dep:
        yield dep


@pytest.fixture(scope="module")
def database(csms) -> Database:
    """Direct reads of the module deployment's database."""
    return Database(csms.env["DATABASE_URL"])
