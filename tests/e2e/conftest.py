"""Fixtures for end-to-end tests against real daphne processes (the deployment itself: deployment.py).

`deployment` gives each test a database of its own, migrated, with an admin
(password 'e2e-admin-pw', API token) and no server yet; `server` starts one
daphne process on it. Modules that share one deployment among their tests
make a module-scoped fixture with `deploy()`.
"""

from __future__ import annotations

import pytest

# Re-exported: tests/simulator imports them from here.
from tests.e2e.deployment import Deployment, Server, deploy, free_port  # noqa: F401


@pytest.fixture
def deployment(tmp_path):
    """A migrated database with an admin (password 'e2e-admin-pw', API token) and no server yet."""
    with deploy(tmp_path, name="e2e", admin_password="e2e-admin-pw") as dep:
        yield dep


@pytest.fixture
def server(deployment) -> Server:
    """One daphne process on the test's deployment; stopped with the deployment."""
    return deployment.start_server()
