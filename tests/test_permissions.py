"""Who may do what, through every door: each path of the OpenAPI schema, the admin's command pages and bulk actions, manage.py.

The API walk generates the schema with drf-spectacular, fills each path's
parameters with rows that exist and sends every method as each kind of user.
What each endpoint needs is written here, independently of the views'
declarations, so a view that forgets one fails; a path this file does not
know fails too, so every new endpoint gets mapped on purpose.

`commands.call` is replaced by a fake charge point that records what reached
it and answers "not connected", so "could not send" is checked where it
matters: nothing reached the charge point.
"""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from accounts.services import api_token_create
from chargepoints import commands
from chargepoints.models import ChargePoint, Command, CommandSource, SecurityEvent, Variable
from csms import services as csms_services
from tests.users import user_with_role
from transactions.models import IdTag, Transaction

pytestmark = pytest.mark.django_db

SEND = "chargepoints.send_command"
# The model each top-level collection of /api/v1/ serves.
COLLECTIONS = {
    "chargepoints": "chargepoints.chargepoint",
    "commands": "chargepoints.command",
    "security-events": "chargepoints.securityevent",
    "certificates": "chargepoints.certificate",
    "status-notifications": "chargepoints.statusnotification",
    "boot-notifications": "chargepoints.bootnotification",
    "firmware-status-notifications": "chargepoints.firmwarestatusnotification",
    "diagnostics-status-notifications": "chargepoints.diagnosticsstatusnotification",
    "data-transfers": "chargepoints.datatransfer",
    "charging-profiles": "chargepoints.chargingprofileinstallation",
    "reservations": "transactions.reservation",
    "webhooks": "webhooks.subscription",
    "auth": "knox.authtoken",
    "transactions": "transactions.transaction",
    "id-tags": "transactions.idtag",
}
VERBS = {"get": "view", "post": "add", "put": "change", "patch": "change", "delete": "delete"}


def required(path: str, method: str) -> set[str]:
    """The permissions README "Permissions" says `method` on `path` needs; AssertionError for an unmapped path."""
    if path.startswith("/api/v1/auth/"):
        # One's own tokens: any signed-in user (login: anyone, checked in the walk).
        return set()
    path = path.replace("/api/v1/webhooks/subscriptions/", "/api/v1/webhooks/")
    match = re.fullmatch(r"/api/v1/([a-z-]+)/(?:\{[a-z_]+\}/)?(.*)", path)
    assert match and match[1] in COLLECTIONS, f"{path}: an endpoint this test does not know; map it in COLLECTIONS"
    collection, rest = match[1], match[2]
    app_label, model = COLLECTIONS[collection].split(".")
    if collection == "chargepoints" and re.fullmatch(r"(commands|operations)/[^/]+/", rest):
        return {SEND}
    if collection == "chargepoints" and rest == "password/":
        return {"chargepoints.change_chargepoint", SEND}
    if collection == "chargepoints" and rest == "variables/":
        return {"chargepoints.view_chargepoint", "chargepoints.view_variable"}
    if collection == "chargepoints" and rest == "meter-values/":
        return {"chargepoints.view_chargepoint", "transactions.view_metervalue"}
    if collection == "id-tags" and rest == "import/":
        return {"transactions.add_idtag"}
    if collection == "transactions" and rest == "meter-values/":
        return {"transactions.view_transaction", "transactions.view_metervalue"}
    if collection == "transactions" and rest == "close/":
        return {"transactions.change_transaction"}
    assert rest == "", f"{path}: a custom action this test does not know"
    return {f"{app_label}.{VERBS[method]}_{model}"}


def every_permission_but_send_command() -> list[Permission]:
    return list(Permission.objects.filter(content_type__app_label__in=("chargepoints", "transactions")).exclude(codename="send_command"))


def make_user(kind: str):
    """A user of `kind`; None for anonymous."""
    User = get_user_model()
    if kind == "anonymous":
        return None
    if kind == "no permissions":
        return User.objects.create_user("driver")
    if kind == "staff viewer":
        return user_with_role("viewer", role="viewer")
    if kind == "staff who may change but not send":
        user = User.objects.create_user("editor", is_staff=True)
        user.user_permissions.set(every_permission_but_send_command())
        return user
    if kind == "staff operator":
        return user_with_role("operator")
    if kind == "integrator (operator, not staff)":
        return user_with_role("integrator", staff=False)
    if kind == "superuser":
        return User.objects.create_superuser("root", email="", password=None)
    raise ValueError(kind)


USER_KINDS = [
    "anonymous",
    "no permissions",
    "staff viewer",
    "staff who may change but not send",
    "staff operator",
    "integrator (operator, not staff)",
    "superuser",
]


@pytest.fixture
def reached(monkeypatch):
    """What reached the (fake) charge point: [(charge point, action, user) …]; every call answers "not connected"."""
    calls = []

    def call(charge_point_id, action, payload, **kwargs):
        calls.append((charge_point_id, action, kwargs.get("user")))
        raise commands.ChargePointOffline(f"Charge point {charge_point_id!r} is not connected")

    monkeypatch.setattr(commands, "call", call)
    return calls


@pytest.fixture
def rows(db):
    """One row of each thing a path parameter names."""
    cp = ChargePoint.objects.create(id="CP-1", ocpp_version="2.0.1")
    Variable.objects.create(charge_point=cp, component="OCPPCommCtrlr", variable="HeartbeatInterval", value="300")
    tag = IdTag.objects.create(id_tag="TAG-1")
    tx = Transaction.objects.create(
        charge_point=cp, connector_id=1, id_tag=tag.id_tag, id_tag_status="Accepted", start_timestamp=timezone.now(), meter_start_wh=0
    )
    command = Command.objects.create(charge_point=cp, action="Reset", payload={}, source=CommandSource.API)
    event = SecurityEvent.objects.create(charge_point_id="CP-1", type="AuthenticationFailed", source="csms", timestamp=timezone.now())
    return {"chargepoints": cp.pk, "transactions": tx.pk, "id-tags": tag.id_tag, "commands": command.pk, "security-events": event.pk}


def schema_operations():
    """[(path template, method) …] of every operation the OpenAPI schema documents."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return [(path, method) for path, item in schema["paths"].items() for method in item if method in VERBS]


def filled(path: str, rows: dict) -> str:
    collection = path.split("/")[3]
    if "{" not in path:
        return path
    # A history row that does not exist answers 404 once the permission let the request through: enough here.
    return re.sub(r"\{[a-z_]+\}", str(rows.get(collection, 1)), path)


def test_the_schema_documents_every_kind_of_endpoint():
    paths = {path for path, _ in schema_operations()}

    assert {p.split("/")[3] for p in paths} == set(COLLECTIONS)
    assert "/api/v1/chargepoints/{charge_point_id}/commands/Reset/" in paths
    assert "/api/v1/chargepoints/{charge_point_id}/operations/start-charging/" in paths
    assert "/api/v1/chargepoints/{id}/password/" in paths


@pytest.mark.parametrize("kind", USER_KINDS)
def test_every_api_path_and_method_answers_by_the_users_permissions(kind, rows, reached):
    user = make_user(kind)
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    commands_before = Command.objects.count()
    wrong = []

    for path, method in schema_operations():
        response = getattr(client, method)(filled(path, rows), {}, format="json")
        needed = required(path, method)
        allowed = (user is not None and user.has_perms(needed)) or path == "/api/v1/auth/login/"
        refused = response.status_code in (401, 403)
        expected = "allowed" if allowed else ("401" if user is None else "403")
        got = "allowed" if not refused else str(response.status_code)
        if expected != got:
            wrong.append(f"{method.upper()} {path} needs {sorted(needed)}: expected {expected}, got {response.status_code}")
        # Reload: a cached user keeps the permissions it had; a deleted row does not matter here.
        if user is not None:
            user = get_user_model().objects.get(pk=user.pk)
            client.force_authenticate(user)

    assert wrong == []
    if user is None or not user.has_perm(SEND):
        assert reached == []
        assert Command.objects.count() == commands_before
    else:
        assert reached and {u for _, _, u in reached} == {user}


def test_a_staff_viewer_reads_but_cannot_reset_start_charging_register_or_delete(rows, reached):
    client = APIClient()
    client.force_authenticate(user_with_role("viewer", role="viewer"))

    assert client.get("/api/v1/chargepoints/").status_code == 200
    assert client.get("/api/v1/id-tags/TAG-1/").status_code == 200
    assert client.post("/api/v1/chargepoints/CP-1/commands/Reset/", {"type": "Immediate"}, format="json").status_code == 403
    assert client.post("/api/v1/chargepoints/CP-1/operations/reset/", {"type": "hard"}, format="json").status_code == 403
    start = client.post("/api/v1/chargepoints/CP-1/operations/start-charging/", {"id_tag": "TAG-1"}, format="json")
    assert start.status_code == 403
    assert client.post("/api/v1/chargepoints/", {"id": "CP-NEW"}, format="json").status_code == 403
    assert client.delete("/api/v1/id-tags/TAG-1/").status_code == 403
    assert client.post("/api/v1/chargepoints/CP-1/password/", {}, format="json").status_code == 403

    assert reached == []
    assert not ChargePoint.objects.filter(pk="CP-NEW").exists()
    assert IdTag.objects.filter(id_tag="TAG-1").exists()
    assert ChargePoint.objects.get(pk="CP-1").password_hash in ("", None)


def test_an_integrator_account_without_staff_status_uses_the_api_but_not_the_admin(rows, reached, client):
    integrator = user_with_role("integrator", staff=False, password="pw")
    _, token = api_token_create(user=integrator)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")

    answer = api.post("/api/v1/chargepoints/CP-1/operations/reset/", {"type": "hard"}, format="json")
    client.force_login(integrator)
    admin = client.get(reverse("admin:index"))

    assert answer.status_code == 409  # it reached the charge point, which is not connected
    assert reached == [("CP-1", "Reset", integrator)]
    assert admin.status_code == 302 and admin["Location"].startswith(reverse("admin:login"))


# --- The admin ------------------------------------------------------------------------------------------------


def command_page(name: str, cp: str = "CP-1") -> str:
    return reverse("admin:chargepoints_chargepoint_command", args=[cp, name])


@pytest.fixture
def viewer(client, db):
    user = user_with_role("viewer", role="viewer", password="pw")
    client.force_login(user)
    return user


def test_a_staff_viewer_sees_a_charge_point_in_the_admin_but_cannot_command_it(client, viewer, rows, reached):
    page = client.get(reverse("admin:chargepoints_chargepoint_change", args=["CP-1"]))
    get = client.get(command_page("reset"))
    post = client.post(command_page("reset"), {"type": "hard"})
    raw = client.post(command_page("send-message"), {"message": "Reset", "payload": '{"type": "Immediate"}'})
    password = client.post(reverse("admin:chargepoints_chargepoint_password", args=["CP-1"]), {"password": ""})

    assert page.status_code == 200
    assert command_page("reset") not in page.content.decode()
    assert "Basic-auth password" in page.content.decode()
    assert reverse("admin:chargepoints_chargepoint_password", args=["CP-1"]) not in page.content.decode(), "no link to a 403"
    assert [get.status_code, post.status_code, raw.status_code, password.status_code] == [403, 403, 403, 403]
    assert reached == []
    assert ChargePoint.objects.get(pk="CP-1").password_hash in ("", None)


def every_command_page(cp: str = "CP-1") -> list[str]:
    """The URL of every command page the admin has (the operations and "send any message")."""
    from chargepoints.admin_commands.views import command_links

    return [url for _, links in command_links(cp) for _, _, url in links]


@pytest.mark.parametrize("kind", ["viewer", "editor"])
def test_every_command_page_refuses_who_may_not_send_commands_and_serves_an_operator(client, rows, reached, kind):
    pages = every_command_page()
    assert len(pages) > 20
    if kind == "viewer":
        user = user_with_role("viewer", role="viewer", password="pw")
    else:
        user = get_user_model().objects.create_user("editor", password="pw", is_staff=True)
        user.user_permissions.set(every_permission_but_send_command())
    client.force_login(user)

    refused = {url: (client.get(url).status_code, client.post(url, {}).status_code) for url in pages}
    client.force_login(user_with_role("operator", password="pw"))
    served = {url: client.get(url).status_code for url in pages}

    assert {url: codes for url, codes in refused.items() if codes != (403, 403)} == {}
    assert {url: code for url, code in served.items() if code != 200} == {}
    assert reached == []


@pytest.mark.parametrize("action", ["reset_hard", "reset_soft", "make_inoperative", "clear_cache", "send_full_local_list"])
def test_a_staff_viewer_cannot_run_a_bulk_action(client, viewer, rows, reached, action):
    changelist = client.get(reverse("admin:chargepoints_chargepoint_changelist"))
    response = client.post(reverse("admin:chargepoints_chargepoint_changelist"), {"action": action, "_selected_action": ["CP-1"]})

    assert action not in changelist.content.decode()
    assert response.status_code in (200, 302)
    assert reached == []


def test_staff_who_may_change_charge_points_but_not_send_commands_cannot_run_a_bulk_action(client, rows, reached):
    editor = get_user_model().objects.create_user("editor", password="pw", is_staff=True)
    editor.user_permissions.set(every_permission_but_send_command())
    client.force_login(editor)

    client.post(reverse("admin:chargepoints_chargepoint_changelist"), {"action": "reset_hard", "_selected_action": ["CP-1"]})
    variable = Variable.objects.get()
    setting = client.post(reverse("admin:chargepoints_variable_change", args=[variable.pk]), {"new_value": "60"})

    assert reached == []
    assert setting.status_code == 403


def test_an_operator_runs_a_bulk_action_under_their_name(client, rows, reached):
    operator = user_with_role("operator", password="pw")
    client.force_login(operator)

    client.post(reverse("admin:chargepoints_chargepoint_changelist"), {"action": "reset_hard", "_selected_action": ["CP-1"]})

    assert reached == [("CP-1", "Reset", operator)]


def test_an_operator_sees_the_links_a_viewer_does_not(client, rows):
    client.force_login(user_with_role("operator", password="pw"))

    page = client.get(reverse("admin:chargepoints_chargepoint_change", args=["CP-1"])).content.decode()

    assert command_page("reset") in page
    assert reverse("admin:chargepoints_chargepoint_password", args=["CP-1"]) in page


def test_no_one_reads_an_api_token_in_the_admin(client, viewer, admin_client, admin_user):
    _, token = api_token_create(user=admin_user)
    client.force_login(viewer)

    index = client.get(reverse("admin:index")).content.decode()
    knox_listing = admin_client.get(reverse("admin:knox_authtoken_changelist")).content.decode()

    # The plain-text admin of rest_framework.authtoken is gone; knox keeps only digests.
    assert "authtoken_tokenproxy" not in admin_client.get(reverse("admin:index")).content.decode()
    assert "knox" not in index
    assert token not in knox_listing


def test_manage_py_roles_makes_viewers_and_operators_and_grants_them(django_user_model, capsys):
    from django.core.management import call_command

    django_user_model.objects.create_user("alice")
    call_command("roles", "--grant", "alice", "operator")
    call_command("roles")  # again: idempotent
    alice = django_user_model.objects.get(username="alice")

    assert "Viewers:" in capsys.readouterr().out
    assert alice.is_staff
    assert alice.has_perm(SEND) and alice.has_perm("transactions.change_idtag")
    viewer_permissions = set(csms_services.role_permissions("viewer"))
    assert viewer_permissions and all(p.codename.startswith("view_") for p in viewer_permissions)
    assert not any(p.codename == "send_command" for p in viewer_permissions)
