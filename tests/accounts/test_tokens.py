"""API tokens: hashed, expiring, revocable per device, shown once; the plain-text tokens of older versions."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.services import api_token_create
from tests.users import user_with_role

URL = "/api/v1/chargepoints/"


@pytest.fixture
def operator(db):
    return user_with_role("operator", "operator", password="s3cret-pass")


def with_token(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def test_login_returns_a_token_once_and_the_database_holds_only_its_hash(operator):
    response = APIClient().post("/api/v1/auth/login/", {"username": "operator", "password": "s3cret-pass"}, format="json")

    assert response.status_code == 201
    token = response.json()["token"]
    assert with_token(token).get(URL).status_code == 200
    row = AuthToken.objects.get(user=operator)
    assert token not in (row.digest, row.token_key) and token.startswith(row.token_key)
    assert row.expiry > timezone.now() + timedelta(days=80), "expires after API_TOKEN_TTL_HOURS (90 days)"
    listed = with_token(token).get("/api/v1/auth/tokens/").json()
    assert [t["token_key"] for t in listed] == [row.token_key]
    assert token not in str(listed)


def test_login_with_a_wrong_password_gets_no_token(operator):
    response = APIClient().post("/api/v1/auth/login/", {"username": "operator", "password": "nope"}, format="json")

    assert response.status_code == 401
    assert not AuthToken.objects.exists()


def test_logout_revokes_only_the_token_of_that_device(operator):
    _, laptop = api_token_create(user=operator)
    _, phone = api_token_create(user=operator)

    assert with_token(laptop).post("/api/v1/auth/logout/").status_code == 204

    assert with_token(laptop).get(URL).status_code == 401
    assert with_token(phone).get(URL).status_code == 200


def test_a_user_revokes_another_of_their_tokens_but_not_someone_elses(operator):
    _, mine = api_token_create(user=operator)
    lost, _ = api_token_create(user=operator)
    other = user_with_role("other", "operator")
    theirs_row, theirs = api_token_create(user=other)

    assert with_token(mine).delete(f"/api/v1/auth/tokens/{lost.token_key}/").status_code == 204
    assert with_token(mine).delete(f"/api/v1/auth/tokens/{theirs_row.token_key}/").status_code == 404

    assert not AuthToken.objects.filter(pk=lost.pk).exists()
    assert with_token(theirs).get(URL).status_code == 200


def test_an_expired_token_is_refused(operator):
    row, token = api_token_create(user=operator, ttl=timedelta(hours=1))
    AuthToken.objects.filter(pk=row.pk).update(expiry=timezone.now() - timedelta(seconds=1))

    assert with_token(token).get(URL).status_code == 401


def test_token_create_prints_a_working_token_and_zero_ttl_never_expires(operator, capsys):
    call_command("token_create", "operator", "--ttl-hours", "0")
    token = capsys.readouterr().out.strip()

    assert with_token(token).get(URL).status_code == 200
    assert AuthToken.objects.get(user=operator).expiry is None


def test_old_plain_text_tokens_work_only_with_api_legacy_tokens_and_tokens_migrate_replaces_them(operator, settings, capsys):
    legacy = Token.objects.create(user=operator)
    assert with_token(legacy.key).get(URL).status_code == 401
    settings.API_LEGACY_TOKENS = True
    assert with_token(legacy.key).get(URL).status_code == 200

    call_command("tokens_migrate")

    username, token = capsys.readouterr().out.split()
    assert username == "operator"
    assert with_token(token).get(URL).status_code == 200
    assert with_token(legacy.key).get(URL).status_code == 401
    assert not Token.objects.exists()


def test_the_admin_lists_no_plain_text_tokens_and_shows_a_new_token_once(admin_client, operator):
    legacy = Token.objects.create(user=operator)

    assert admin_client.get("/admin/authtoken/tokenproxy/").status_code == 404
    response = admin_client.post("/admin/knox/authtoken/add/", {"user": operator.pk, "expiry_0": "", "expiry_1": ""}, follow=True)
    assert response.status_code == 200
    shown = [str(m) for m in response.context["messages"]]
    token = next(m.split()[1] for m in shown if m.startswith("TOKEN "))
    assert with_token(token).get(URL).status_code == 200
    listing = admin_client.get("/admin/knox/authtoken/").content.decode()
    assert token not in listing and legacy.key not in listing
