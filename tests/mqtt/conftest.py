"""Fixtures for the MQTT tests: the local Mosquitto (MQTT_TEST_URL, mqtt://127.0.0.1:1883 by default).

With CI set, an unreachable broker fails the tests (the workflow installs
Mosquitto); elsewhere they are skipped with the reason. Each test gets topic
templates under a prefix of its own, so tests never read each other's messages.
"""

from __future__ import annotations

import contextlib
import os
import socket
import urllib.parse
import uuid

import pytest

from chargepoints.mqtt.envelope import Topics

BROKER_URL = os.environ.get("MQTT_TEST_URL", "mqtt://127.0.0.1:1883")


def _reachable(url: str) -> str | None:
    parts = urllib.parse.urlsplit(url)
    try:
        with socket.create_connection((parts.hostname, parts.port or 1883), timeout=3):
            return None
    except OSError as error:
        return str(error)


@pytest.fixture(scope="session")
def broker_url() -> str:
    """The broker's URL; fails (CI) or skips the test when nothing listens there."""
    problem = _reachable(BROKER_URL)
    if problem:
        message = f"no MQTT broker at {BROKER_URL} ({problem}); install and start Mosquitto, or set MQTT_TEST_URL"
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return BROKER_URL


@pytest.fixture
def topic_prefix() -> str:
    return f"test-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def topics(topic_prefix) -> Topics:
    """EMQX's default templates under the test's own prefix."""
    base = Topics()
    return Topics(
        upstream=f"{topic_prefix}/{base.upstream}",
        reply=f"{topic_prefix}/{base.reply}",
        error=f"{topic_prefix}/{base.error}",
        downstream=f"{topic_prefix}/{base.downstream}",
    )


def topics_env(topics: Topics) -> dict[str, str]:
    """The MQTT_TOPIC_* variables of `topics`, for server processes."""
    return {
        "MQTT_TOPIC_UPSTREAM": topics.upstream,
        "MQTT_TOPIC_REPLY": topics.reply,
        "MQTT_TOPIC_ERROR": topics.error,
        "MQTT_TOPIC_DOWNSTREAM": topics.downstream,
    }


@pytest.fixture
def redis_url(tmp_path):
    """The test run's REDIS_URL, or a redis-server of the test's own: commands cross processes through the channel layer."""
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    from tests.faults.redis_server import RedisServer

    with RedisServer(tmp_path) as redis:
        yield redis.url


@contextlib.contextmanager
def mqtt_deploy(tmp_path, broker_url: str, topics: Topics, redis_url: str, **env: str):
    """A deployment (database, admin token, one daphne for the API) configured for MQTT with `topics`; `env` added.

    Gateways and workers started with tests/mqtt/processes.py are stopped with it.
    """
    from tests.e2e.deployment import deploy
    from tests.mqtt.processes import stop_all

    env = {"MQTT_URL": broker_url, "REDIS_URL": redis_url, "OCPP_COMMAND_TIMEOUT": "10", **topics_env(topics), **env}
    with deploy(tmp_path, name="e2e-mqtt", env=env, servers=1) as dep:
        try:
            yield dep
        finally:
            stop_all(dep)


@pytest.fixture
def mqtt_deployment(tmp_path, broker_url, topics, redis_url):
    """`mqtt_deploy` with the defaults."""
    with mqtt_deploy(tmp_path, broker_url, topics, redis_url) as dep:
        yield dep
