"""The dashboard across processes: a page served by one daphne process sees what a charge point does on another.

Two real servers share the deployment's database and Redis (the channel
layer), as behind a load balancer. An operator signs in through the admin's
login form on A and opens A's `ws/dashboard/` as a browser does (session
cookie, Origin); the charge point's socket is on B. Needs Redis: REDIS_URL of
this run, else the local default; fails under CI and skips elsewhere without it.
"""

from __future__ import annotations

import asyncio
import http.cookiejar
import json
import os
import re
import time
import urllib.parse
import urllib.request

import pytest
import websockets

from tests.e2e.deployment import auth_headers, deploy

pytestmark = pytest.mark.e2e

ADMIN_PASSWORD = "e2e-admin-pw"


def shared_redis_url() -> str:
    import redis

    url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3).ping()
    except redis.RedisError as exc:
        message = f"the dashboard's multi-process test needs Redis at {url} (set REDIS_URL): {exc}"
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return url


def sign_in(server) -> str:
    """Sign in as the admin through the admin's login form on `server`, as a browser does; returns the Cookie header."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    form = opener.open(server.http + "/admin/login/?next=/", timeout=10).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form)[1]
    body = urllib.parse.urlencode({"csrfmiddlewaretoken": token, "username": "admin", "password": ADMIN_PASSWORD, "next": "/"})
    page = opener.open(urllib.request.Request(server.http + "/admin/login/?next=/", data=body.encode()), timeout=10)
    assert page.url.rstrip("/") == server.http and "Fleet dashboard" in page.read().decode()
    return "; ".join(f"{c.name}={c.value}" for c in jar)


@pytest.fixture
def two_servers(tmp_path):
    with deploy(tmp_path, name="e2e-dashboard", admin_password=ADMIN_PASSWORD, env={"REDIS_URL": shared_redis_url()}) as dep:
        a, b = dep.start_servers(2)
        yield dep, a, b


async def next_update(dashboard, until, timeout_s: float = 1.0) -> dict:
    """The first update within `timeout_s` for which `until(update)` holds; fails otherwise."""
    deadline = time.monotonic() + timeout_s
    while True:
        remaining = deadline - time.monotonic()
        assert remaining > 0, "no such update within the time"
        update = json.loads(await asyncio.wait_for(dashboard.recv(), remaining))
        if until(update):
            return update


async def test_a_page_on_one_process_sees_a_charge_point_on_another_within_a_second(two_servers):
    deployment, a, b = two_servers
    status, body = deployment.api("POST", "/api/v1/chargepoints/", {"id": "CP-E2E"})
    assert status == 201, body
    cookie = await asyncio.to_thread(sign_in, a)

    async with websockets.connect(
        a.ws("/ws/dashboard/"), origin=a.http, additional_headers={"Cookie": cookie}, open_timeout=10
    ) as dashboard:
        await dashboard.send(json.dumps({"watch": ["CP-E2E"]}))
        first = await next_update(dashboard, lambda u: True, timeout_s=5)
        assert first["counts"]["online"] == 0

        url = b.ws("/ocpp/CP-E2E")
        async with websockets.connect(url, subprotocols=["ocpp1.6"], additional_headers=auth_headers(url), open_timeout=10) as station:
            update = await next_update(dashboard, lambda u: u["counts"]["online"] == 1)
            assert "pill-online" in dict(update["rows"])["CP-E2E"]

            await station.send(
                json.dumps([2, "1", "StatusNotification", {"connectorId": 1, "status": "Faulted", "errorCode": "GroundFailure"}])
            )
            assert json.loads(await asyncio.wait_for(station.recv(), 5))[0] == 3
            update = await next_update(dashboard, lambda u: u["counts"]["faulted"] == 1)
            assert "badge-faulted" in dict(update["rows"])["CP-E2E"]

        update = await next_update(dashboard, lambda u: u["counts"]["offline"] == 1, timeout_s=3)
        assert "Faulted (stale)" in dict(update["rows"])["CP-E2E"]


async def test_a_page_of_a_foreign_origin_is_refused_by_a_real_server(two_servers):
    deployment, a, _ = two_servers
    cookie = await asyncio.to_thread(sign_in, a)
    with pytest.raises(websockets.InvalidStatus) as refused:
        await websockets.connect(
            a.ws("/ws/dashboard/"), origin="http://evil.example", additional_headers={"Cookie": cookie}, open_timeout=10
        )
    assert refused.value.response.status_code == 403
