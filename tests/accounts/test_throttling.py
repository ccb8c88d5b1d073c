"""Throttles and lockouts: wrong passwords and wrong tokens stop working long before they could be guessed."""

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from rest_framework.test import APIClient

from accounts.services import api_token_create

URL = "/api/v1/chargepoints/"


@pytest.fixture
def operator(db):
    return get_user_model().objects.create_superuser("operator", password="right-password")


@pytest.fixture
def limits(settings):
    """The production defaults, on a cache no other test has counted in."""
    cache.clear() if settings.CACHES["default"]["BACKEND"].endswith("LocMemCache") else None
    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = 5
    settings.API_AUTH_FAILURES_PER_ADDRESS = 20
    settings.API_THROTTLE_RATES = {"user": "30/minute", "anon": "60/minute", "login": "20/minute"}
    return settings


def _unique_address(request) -> str:
    # A documentation address per test (RFC 5737): counters in a shared Redis never collide.
    import zlib

    n = zlib.crc32(request.node.nodeid.encode())
    return f"192.0.2.{n % 250 + 1}" if n % 2 else f"198.51.100.{n % 250 + 1}"


@pytest.fixture
def address(request):
    return _unique_address(request)


def test_the_admin_login_locks_an_address_out_after_5_wrong_passwords_even_for_the_right_one(client, operator, limits, address):
    for _ in range(5):
        client.post("/admin/login/", {"username": "operator", "password": "wrong"}, REMOTE_ADDR=address)

    response = client.post("/admin/login/?next=/admin/", {"username": "operator", "password": "right-password"}, REMOTE_ADDR=address)

    assert response.status_code == 429
    assert client.get("/admin/").status_code == 302, "not logged in"
    other = client.post("/admin/login/?next=/admin/", {"username": "operator", "password": "right-password"}, REMOTE_ADDR="203.0.113.9")
    assert other.status_code == 302, "another address is not locked out"


def test_the_api_login_shares_the_lockout(operator, limits, address):
    api = APIClient(REMOTE_ADDR=address)
    statuses = [api.post("/api/v1/auth/login/", {"username": "operator", "password": "wrong"}, format="json").status_code for _ in range(5)]
    assert statuses == [401] * 4 + [429], "the fifth failure locks the address out"

    response = api.post("/api/v1/auth/login/", {"username": "operator", "password": "right-password"}, format="json")

    assert response.status_code == 429
    assert "token" not in response.content.decode()


def test_wrong_tokens_from_one_address_are_throttled_then_even_a_right_one_waits(operator, limits, address):
    _, token = api_token_create(user=operator)
    api = APIClient(REMOTE_ADDR=address)
    statuses = []
    for n in range(25):
        api.credentials(HTTP_AUTHORIZATION=f"Token {n:064x}")
        statuses.append(api.get(URL).status_code)
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    blocked = api.get(URL)

    assert statuses[:20] == [401] * 20 and set(statuses[20:]) == {429}
    assert blocked.status_code == 429 and int(blocked["Retry-After"]) > 0
    other = APIClient(REMOTE_ADDR="203.0.113.10")
    other.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert other.get(URL).status_code == 200


def test_a_user_is_throttled_past_their_request_rate(operator, limits, address):
    limits.API_THROTTLE_RATES = {**limits.API_THROTTLE_RATES, "user": "3/minute"}
    # A user of its own: the user counter is per user id, which a shared Redis keeps between runs.
    user = get_user_model().objects.create_superuser(f"busy-{address}", password="x")
    _, token = api_token_create(user=user)
    api = APIClient(REMOTE_ADDR=address)
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")

    statuses = [api.get(URL).status_code for _ in range(4)]

    assert statuses == [200, 200, 200, 429]


def test_behind_a_trusted_proxy_the_forwarded_address_is_counted(operator, limits, address, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.1"]
    for n in range(21):
        api = APIClient(REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=f"1.2.3.4, {address}")
        api.credentials(HTTP_AUTHORIZATION=f"Token {n:064x}")
        api.get(URL)
    _, token = api_token_create(user=operator)
    neighbour = APIClient(REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.11")
    neighbour.credentials(HTTP_AUTHORIZATION=f"Token {token}")

    assert neighbour.get(URL).status_code == 200, "another client behind the same proxy is not blocked"
