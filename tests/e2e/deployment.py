"""Throwaway CSMS deployments for end-to-end tests (the mechanics: bench/deployment.py).

    with deploy(tmp_path, name="e2e-commands", env={"OCPP_COMMAND_TIMEOUT": "10"}, servers=1) as dep:
        status, body = dep.api("POST", "/api/v1/chargepoints/", {"id": "CP-1"})
        url = dep.servers[0].ws("/ocpp/CP-1")

A deployment is a database of its own (a SQLite file under `tmp`, or a fresh
PostgreSQL database when the test run's DATABASE_URL names PostgreSQL),
migrated by `manage.py migrate` as a user would, an admin user with an API
token, and daphne processes on free loopback ports, sharing Redis under a key
prefix of the deployment's own when REDIS_URL is set (inherited from the
test run, or set in `dep.env` before a server starts).

A plain module, so conftests and test modules share it without fixture
magic: tests/e2e/conftest.py and tests/simulator/conftest.py wrap it in
fixtures of the scope they need. Set-up failures call pytest.fail with the
command's output or daphne's log tail: a deployment that cannot start is a
failed test, never a skipped one.
"""

from __future__ import annotations

import functools
import os
import sqlite3
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.conf import settings

from bench import deployment as core
from bench.deployment import REPO, DeploymentError, Server, basic_auth_headers, charge_point_password, free_port  # noqa: F401

# What the servers get unless `deploy(env=…)` says otherwise.
ENV_DEFAULTS = {
    "OCPP_ALLOW_UNKNOWN_CHARGE_POINTS": "false",
    # Every frame writes last_seen: tests read it without waiting out the server's 30 s.
    "OCPP_LAST_SEEN_WRITE_INTERVAL": "0",
    "OCPP_LOG_LEVEL": "INFO",
    # The servers check their own answers against the response schemas, as the in-process tests do.
    "OCPP_VALIDATE_ANSWERS": "true",
}


def _failing(method):
    """`method` with DeploymentError turned into pytest.fail (its message carries the output or log tail)."""

    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        try:
            return method(*args, **kwargs)
        except DeploymentError as exc:
            message = str(exc)
        # Outside the except block: the failure shows the message, not a chained traceback.
        pytest.fail(message)

    return wrapper


class Deployment(core.Deployment):
    """bench/deployment.py's Deployment, failing the test (pytest.fail) where that raises DeploymentError."""

    setup = _failing(core.Deployment.setup)
    manage = _failing(core.Deployment.manage)
    start_servers = _failing(core.Deployment.start_servers)


def auth_headers(url: str) -> dict[str, str]:
    """Basic-auth headers (security profile 1) of the charge point whose identity ends `url` (…/ocpp/<id>).

    The deployment gave it `charge_point_password(id)` when it was registered
    through `Deployment.api`; pass these as websockets' `additional_headers`.
    """
    return basic_auth_headers(urllib.parse.unquote(url.rstrip("/").rsplit("/", 1)[-1]))


def passwords_for(ids) -> dict[str, str]:
    """{id: password} of charge points registered through `Deployment.api`, for `SimulationOptions(passwords=…)`."""
    return {charge_point_id: charge_point_password(charge_point_id) for charge_point_id in ids}


class Database:
    """Read-only SQL on a deployment's database (`url` is its DATABASE_URL), for what the REST API does not show.

    Write `%s` placeholders; they become `?` on SQLite.
    """

    def __init__(self, url: str):
        self.url = url

    def rows(self, sql: str, *params) -> list[tuple]:
        if self.url.startswith("sqlite:"):
            conn = sqlite3.connect(self.url.removeprefix("sqlite:///"), timeout=10)
            try:
                return conn.execute(sql.replace("%s", "?"), params).fetchall()
            finally:
                conn.close()
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            return conn.execute(sql, params).fetchall()

    def value(self, sql: str, *params):
        """The first column of the first row, None when there is no row."""
        rows = self.rows(sql, *params)
        return rows[0][0] if rows else None


def throwaway_database(tmp: Path) -> tuple[str, Callable[[], None]]:
    """A fresh database on the test run's database server, as (DATABASE_URL, drop it); fails the test when refused.

    See bench/deployment.py's throwaway_database (SQLite: a file under `tmp`).
    """
    # The test run's DATABASE_URL: django-environ put a .env file's value into os.environ too.
    database = _failing(core.throwaway_database)(os.environ.get("DATABASE_URL", ""), tmp, "e2e")
    return database.url, database.drop


def _check_redis_prefix(prefix: str) -> None:
    # The test process flushes its own channel layer before every test
    # (tests/conftest.py), and channels-redis flushes by the pattern
    # "<its prefix>*": a deployment prefix starting with it ("csms…" by
    # default) would have its servers' groups emptied under them.
    if settings.REDIS_URL:
        own = settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"]
        if prefix.startswith(own):
            raise ValueError(f"REDIS_PREFIX {prefix!r} starts with the test process's own prefix {own!r}")


@contextmanager
def deploy(
    tmp: Path,
    *,
    name: str = "e2e",
    env: dict[str, str] | None = None,
    admin_password: str | None = None,
    servers: int = 0,
) -> Iterator[Deployment]:
    """A migrated deployment with `servers` daphne processes running; torn down on leaving the block.

    `tmp`: a directory of the deployment's own (SQLite file, daphne logs).
    `name`: prefix of its SECRET_KEY, database and REDIS_PREFIX ("<name>-<8
    hex>", unique per deployment; it must not start with the test process's
    own prefix: ValueError). `env`: added to, or overriding, ENV_DEFAULTS
    (say OCPP_COMMAND_TIMEOUT, OCPP_ALLOW_UNKNOWN_CHARGE_POINTS, REDIS_URL).
    `admin_password`: the password of the superuser "admin" (None: none, it
    can only use its API token, `Deployment.token`).

    Fails the test (pytest.fail) when creating the database, migrating,
    creating the admin or starting a server fails. Clean-up problems are
    warnings.
    """
    dep = Deployment(name=name, env={**ENV_DEFAULTS, **(env or {})}, tmp=tmp)
    _check_redis_prefix(dep.redis_prefix)
    with dep:
        dep.setup(admin="admin", admin_password=admin_password)
        if servers:
            dep.start_servers(servers)
        yield dep
