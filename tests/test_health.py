"""GET /health: database and channel layer checks, no authentication."""

from __future__ import annotations

import asyncio

import pytest
from django.db import OperationalError
from django.test import Client

from csms import health

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/health", "/health/"])
def test_it_answers_ok_without_authentication(path):
    response = Client().get(path)

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"] == {"ok": True}
    assert body["channel_layer"]["ok"] is True
    assert body["channel_layer"]["backend"].endswith("ChannelLayer")
    assert "error" not in body["channel_layer"]
    assert "no-cache" in response["Cache-Control"]


def test_it_answers_503_when_the_database_fails(monkeypatch):
    def broken():
        raise OperationalError("could not connect to server")

    monkeypatch.setattr(health, "_select_one", broken)

    response = Client().get("/health")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error"
    assert body["database"] == {"ok": False, "error": "OperationalError: could not connect to server"}
    assert body["channel_layer"]["ok"] is True


class BrokenLayer:
    async def new_channel(self, prefix="specific."):
        return f"{prefix}x"

    async def send(self, channel, message):
        raise ConnectionError("Redis is down")


class SilentLayer:
    """Accepts messages and never delivers them."""

    async def new_channel(self, prefix="specific."):
        return f"{prefix}x"

    async def send(self, channel, message):
        pass

    async def receive(self, channel):
        await asyncio.Event().wait()


def test_it_answers_503_when_the_channel_layer_fails(monkeypatch):
    monkeypatch.setattr(health, "get_channel_layer", lambda: BrokenLayer())

    response = Client().get("/health")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error"
    assert body["database"] == {"ok": True}
    assert body["channel_layer"] == {
        "ok": False,
        "backend": "tests.test_health.BrokenLayer",
        "error": "ConnectionError: Redis is down",
    }


def test_it_answers_503_when_the_channel_layer_does_not_deliver_in_time(monkeypatch):
    monkeypatch.setattr(health, "get_channel_layer", lambda: SilentLayer())
    monkeypatch.setattr(health, "CHANNEL_LAYER_TIMEOUT_S", 0.05)

    response = Client().get("/health")

    assert response.status_code == 503
    assert response.json()["channel_layer"]["error"] == "timed out"


def test_it_answers_503_when_no_channel_layer_is_configured(monkeypatch):
    monkeypatch.setattr(health, "get_channel_layer", lambda: None)

    response = Client().get("/health")

    assert response.status_code == 503
    assert response.json()["channel_layer"]["ok"] is False


def test_it_refuses_post():
    assert Client().post("/health").status_code == 405
