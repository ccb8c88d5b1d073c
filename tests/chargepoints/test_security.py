"""Charge points prove who they are: security profiles 1 and 2, over the consumer (chargepoints.security).

Each test connects through the full ASGI application, as daphne serves it,
with or without an Authorization header, and reads the database back.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.core.cache import cache

from chargepoints import operations, security, services
from chargepoints.models import ChargePoint, SecurityEvent

pytestmark = pytest.mark.django_db(transaction=True)

VERSIONS = [("CP-1", "ocpp1.6"), ("CS-1", "ocpp2.0.1")]
PASSWORD = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(autouse=True)
def profile_1(settings):
    settings.OCPP_SECURITY_PROFILE = 1
    settings.OCPP_AUTH_FAILURES_PER_IDENTITY = 5
    settings.OCPP_AUTH_FAILURES_PER_ADDRESS = 20
    cache.clear()
    yield
    cache.clear()


def auth(username: str, password: str) -> list[tuple[bytes, bytes]]:
    return [(b"authorization", security.basic_authorization(username, password).encode())]


async def registered(cp_id: str, password: str = PASSWORD, **fields) -> ChargePoint:
    cp = await ChargePoint.objects.acreate(id=cp_id, **fields)
    await sync_to_async(services.charge_point_password_set)(charge_point_id=cp_id, password=password)
    return cp


async def run_operation(**kwargs):
    """`operations.operation_run` from a worker thread, as a Django view runs it under an ASGI server."""
    async with ThreadSensitiveContext():
        return await sync_to_async(operations.operation_run)(**kwargs)


async def events(cp_id: str) -> list[tuple[str, str]]:
    return [(e.type, e.tech_info) async for e in SecurityEvent.objects.filter(charge_point_id=cp_id).order_by("id")]


@pytest.mark.parametrize("cp_id, subprotocol", VERSIONS)
async def test_a_charge_point_with_its_password_is_served(ocpp_connect, cp_id, subprotocol):
    await registered(cp_id)

    client, accepted, _ = await ocpp_connect(f"/ocpp/{cp_id}", subprotocols=[subprotocol], headers=auth(cp_id, PASSWORD))

    assert accepted
    assert (await ChargePoint.objects.aget(pk=cp_id)).connected


@pytest.mark.parametrize("cp_id, subprotocol", VERSIONS)
@pytest.mark.parametrize(
    "headers, reason",
    [
        ([], "no Basic-auth credentials"),
        (auth("CP-X", PASSWORD), "the username is not the identity in the URL"),
        ("wrong", "wrong password"),
        ([(b"authorization", b"Basic not-base64!")], "no Basic-auth credentials"),
        ([(b"authorization", b"Bearer abc")], "no Basic-auth credentials"),
    ],
)
async def test_a_connection_without_the_right_credentials_is_refused_and_recorded(ocpp_connect, cp_id, subprotocol, headers, reason):
    await registered(cp_id)
    if headers == "wrong":
        headers = auth(cp_id, "f" * 40)

    _, accepted, _ = await ocpp_connect(f"/ocpp/{cp_id}", subprotocols=[subprotocol], headers=headers)

    assert not accepted
    assert not (await ChargePoint.objects.aget(pk=cp_id)).connected
    assert await events(cp_id) == [(SecurityEvent.PASSWORD_CHANGED, "set by the operator"), (SecurityEvent.AUTHENTICATION_FAILED, reason)]


async def test_an_identity_with_colons_authenticates_though_basic_auth_splits_at_the_first_colon(ocpp_connect):
    await registered("E2E*CP:1")

    _, accepted, _ = await ocpp_connect("/ocpp/E2E%2ACP%3A1", headers=auth("E2E*CP:1", PASSWORD))

    assert accepted


async def test_another_stations_password_does_not_open_this_one(ocpp_connect):
    await registered("CP-1")
    await registered("CP-2", password="f" * 40)

    _, accepted, _ = await ocpp_connect("/ocpp/CP-1", headers=auth("CP-1", "f" * 40))

    assert not accepted


async def test_an_unknown_identity_is_refused_as_a_wrong_password_is(ocpp_connect, settings):
    settings.OCPP_ALLOW_UNKNOWN_CHARGE_POINTS = True  # only honoured at security profile none
    await registered("CP-1")

    _, unknown, _ = await ocpp_connect("/ocpp/CP-NOPE", headers=auth("CP-NOPE", PASSWORD))
    _, wrong, _ = await ocpp_connect("/ocpp/CP-1", headers=auth("CP-1", "f" * 40))

    assert unknown is wrong is False
    assert not await ChargePoint.objects.filter(pk="CP-NOPE").aexists()
    assert await events("CP-NOPE") == [(SecurityEvent.AUTHENTICATION_FAILED, "unknown identity")]


@pytest.mark.parametrize("cp_id, subprotocol", VERSIONS)
async def test_a_refused_connection_leaves_the_live_session_untouched(ocpp_connect, cp_id, subprotocol):
    await registered(cp_id, last_boot_status="Accepted")  # a 2.0.1 station is served once a boot was Accepted
    live, accepted, _ = await ocpp_connect(f"/ocpp/{cp_id}", subprotocols=[subprotocol], headers=auth(cp_id, PASSWORD))
    assert accepted
    session = (await ChargePoint.objects.aget(pk=cp_id)).session_id

    _, intruder, _ = await ocpp_connect(f"/ocpp/{cp_id}", subprotocols=[subprotocol], headers=auth(cp_id, "f" * 40))

    assert not intruder
    reply = await live.call("Heartbeat", {})
    assert reply[0] == 3  # the live connection still answers
    cp = await ChargePoint.objects.aget(pk=cp_id)
    assert cp.connected and cp.session_id == session


async def test_a_profile_2_charge_point_is_refused_without_tls_and_served_with_it(ocpp_connect, settings):
    from channels.testing import WebsocketCommunicator

    from csms.asgi import application

    await registered("CP-1", security_profile=2)

    _, plain, _ = await ocpp_connect("/ocpp/CP-1", headers=auth("CP-1", PASSWORD))
    assert not plain
    assert (await events("CP-1"))[-1] == (SecurityEvent.SECURITY_PROFILE_DOWNGRADE, "security profile 2 needs TLS (wss://)")

    # TLS ended at a trusted proxy, which says so and forwards the client's address.
    settings.OCPP_TRUSTED_PROXIES = ["127.0.0.1"]
    headers = [*auth("CP-1", PASSWORD), (b"x-forwarded-proto", b"https"), (b"x-forwarded-for", b"203.0.113.9")]
    communicator = WebsocketCommunicator(application, "/ocpp/CP-1", headers=headers, subprotocols=["ocpp1.6"])
    communicator.scope["client"] = ("127.0.0.1", 50000)
    accepted, _ = await communicator.connect(timeout=5)
    assert accepted
    await communicator.disconnect()


async def test_forwarded_headers_of_an_untrusted_client_are_ignored(settings):
    from channels.testing import WebsocketCommunicator

    from csms.asgi import application

    await registered("CP-1", security_profile=2)
    settings.OCPP_TRUSTED_PROXIES = []
    headers = [*auth("CP-1", PASSWORD), (b"x-forwarded-proto", b"https")]
    communicator = WebsocketCommunicator(application, "/ocpp/CP-1", headers=headers, subprotocols=["ocpp1.6"])
    communicator.scope["client"] = ("198.51.100.7", 50000)

    accepted, _ = await communicator.connect(timeout=5)

    assert not accepted


async def test_repeated_failures_are_throttled_per_identity_even_with_the_right_password(ocpp_connect):
    await registered("CP-1")
    for _ in range(5):
        _, accepted, _ = await ocpp_connect("/ocpp/CP-1", headers=auth("CP-1", "f" * 40))
        assert not accepted

    _, right_password, _ = await ocpp_connect("/ocpp/CP-1", headers=auth("CP-1", PASSWORD))

    assert not right_password
    recorded = await events("CP-1")
    assert [t for t, _ in recorded].count(SecurityEvent.AUTHENTICATION_FAILED) == 5  # throttled ones are not checked
    assert recorded[-1][0] == SecurityEvent.AUTHENTICATION_THROTTLED


async def test_many_failures_from_one_address_are_throttled_whatever_identity_they_name(ocpp_connect):
    await registered("CP-1")
    for i in range(20):
        _, accepted, _ = await ocpp_connect(f"/ocpp/GUESS-{i}", headers=auth(f"GUESS-{i}", PASSWORD))
        assert not accepted

    _, right_password, _ = await ocpp_connect("/ocpp/CP-1", headers=auth("CP-1", PASSWORD))

    assert not right_password  # the address is blocked for the rest of the window


async def test_at_profile_none_no_credentials_are_needed(ocpp_connect, settings):
    settings.OCPP_SECURITY_PROFILE = 0
    await ChargePoint.objects.acreate(id="CP-1")

    _, accepted, _ = await ocpp_connect("/ocpp/CP-1")

    assert accepted


async def test_a_charge_point_of_its_own_profile_1_needs_its_password_in_a_profile_none_deployment(ocpp_connect, settings):
    settings.OCPP_SECURITY_PROFILE = 0
    await registered("CP-1", security_profile=1)

    _, without, _ = await ocpp_connect("/ocpp/CP-1")
    _, with_password, _ = await ocpp_connect("/ocpp/CP-1", headers=auth("CP-1", PASSWORD))

    assert (without, with_password) == (False, True)


async def test_a_1_6_charge_point_sending_its_key_as_20_raw_bytes_is_served(ocpp_connect):
    import base64

    await registered("CP-1")
    raw = bytes.fromhex(PASSWORD)
    header = b"Basic " + base64.b64encode(b"CP-1:" + raw)

    _, accepted, _ = await ocpp_connect("/ocpp/CP-1", headers=[(b"authorization", header)])

    assert accepted


@pytest.mark.parametrize(
    "cp_id, subprotocol, expected_call",
    [
        ("CP-1", "ocpp1.6", lambda new: ["ChangeConfiguration", {"key": "AuthorizationKey", "value": new}]),
        (
            "CS-1",
            "ocpp2.0.1",
            lambda new: [
                "SetVariables",
                {
                    "setVariableData": [
                        {"attributeValue": new, "component": {"name": "SecurityCtrlr"}, "variable": {"name": "BasicAuthPassword"}}
                    ]
                },
            ],
        ),
    ],
)
async def test_a_rotated_password_takes_over_once_the_charge_point_reconnects_with_it(ocpp_connect, cp_id, subprotocol, expected_call):
    await registered(cp_id, ocpp_version="1.6" if subprotocol == "ocpp1.6" else "2.0.1")
    client, accepted, _ = await ocpp_connect(f"/ocpp/{cp_id}", subprotocols=[subprotocol], headers=auth(cp_id, PASSWORD))
    assert accepted

    task = asyncio.create_task(run_operation(charge_point_id=cp_id, name="change-password", arguments={}, timeout=5))
    call = await client.receive()
    new = call[3]["value"] if subprotocol == "ocpp1.6" else call[3]["setVariableData"][0]["attributeValue"]
    assert call[2:] == expected_call(new)
    answer = (
        {"status": "Accepted"}
        if subprotocol == "ocpp1.6"
        else {
            "setVariableResult": [
                {"attributeStatus": "Accepted", "component": {"name": "SecurityCtrlr"}, "variable": {"name": "BasicAuthPassword"}}
            ]
        }
    )
    await client.send_raw(json.dumps([3, call[1], answer]))
    result = await task
    assert result.extra["password"] == new and new != PASSWORD
    await client.close()

    # Until the charge point comes back with the new password, the old one still works.
    old_again, accepted, _ = await ocpp_connect(f"/ocpp/{cp_id}", subprotocols=[subprotocol], headers=auth(cp_id, PASSWORD))
    assert accepted
    await old_again.close()
    _, accepted, _ = await ocpp_connect(f"/ocpp/{cp_id}", subprotocols=[subprotocol], headers=auth(cp_id, new))
    assert accepted
    # From then on the old one is refused.
    _, old_after, _ = await ocpp_connect(f"/ocpp/{cp_id}", subprotocols=[subprotocol], headers=auth(cp_id, PASSWORD))
    assert not old_after
    cp = await ChargePoint.objects.aget(pk=cp_id)
    assert cp.pending_password_hash == "" and security.password_matches(new, cp.password_hash)
    assert new not in json.dumps([c.payload async for c in cp.commands.all()])


async def test_a_refused_rotation_leaves_the_current_password_alone(ocpp_connect):
    await registered("CP-1", ocpp_version="1.6")
    client, _, _ = await ocpp_connect("/ocpp/CP-1", headers=auth("CP-1", PASSWORD))

    task = asyncio.create_task(run_operation(charge_point_id="CP-1", name="change-password", arguments={}, timeout=5))
    call = await client.receive()
    await client.send_raw(json.dumps([3, call[1], {"status": "Rejected"}]))
    result = await task

    assert "password" not in result.extra
    cp = await ChargePoint.objects.aget(pk="CP-1")
    assert cp.pending_password_hash == "" and security.password_matches(PASSWORD, cp.password_hash)


async def test_a_rotation_left_unanswered_keeps_the_new_password_so_a_charge_point_that_applied_it_is_not_locked_out(ocpp_connect):
    from chargepoints.exceptions import CommandTimeout

    await registered("CP-1", ocpp_version="1.6")
    client, _, _ = await ocpp_connect("/ocpp/CP-1", headers=auth("CP-1", PASSWORD))

    task = asyncio.create_task(run_operation(charge_point_id="CP-1", name="change-password", arguments={}, timeout=1))
    call = await client.receive()
    new = call[3]["value"]
    with pytest.raises(CommandTimeout):
        await task  # the charge point applied it, and its answer was lost
    await client.close()

    _, accepted, _ = await ocpp_connect("/ocpp/CP-1", headers=auth("CP-1", new))
    assert accepted
    cp = await ChargePoint.objects.aget(pk="CP-1")
    assert cp.pending_password_hash == "" and security.password_matches(new, cp.password_hash)


def test_passwords_are_stored_as_salted_hashes_only():
    ChargePoint.objects.create(id="CP-1")

    password = services.charge_point_password_set(charge_point_id="CP-1")

    cp = ChargePoint.objects.get(pk="CP-1")
    assert len(password) == 40 and password not in cp.password_hash
    assert security.password_matches(password, cp.password_hash)
    assert not security.password_matches(password[:-1] + "0" if password[-1] != "0" else password[:-1] + "1", cp.password_hash)
    assert cp.password_hash != security.password_hash(password)  # salted


@pytest.mark.parametrize("password", ["short", "x" * 41, "with space in it!!", "tab\there-and-more-chars"])
def test_a_password_of_the_wrong_shape_is_refused(password):
    ChargePoint.objects.create(id="CP-1")

    with pytest.raises(ValueError):
        services.charge_point_password_set(charge_point_id="CP-1", password=password)


def test_the_api_sets_a_password_and_shows_it_once(admin_user):
    from rest_framework.test import APIClient

    ChargePoint.objects.create(id="CP-1")
    api = APIClient()
    api.force_authenticate(admin_user)

    generated = api.post("/api/v1/chargepoints/CP-1/password/", {}, format="json")
    chosen = api.post("/api/v1/chargepoints/CP-1/password/", {"password": "a-chosen-password-1"}, format="json")
    bad = api.post("/api/v1/chargepoints/CP-1/password/", {"password": "short"}, format="json")
    unknown = api.post("/api/v1/chargepoints/CP-NOPE/password/", {}, format="json")

    assert generated.status_code == 200 and len(generated.json()["password"]) == 40
    assert chosen.json() == {"password": "a-chosen-password-1"}
    assert (bad.status_code, unknown.status_code) == (400, 404)
    cp = ChargePoint.objects.get(pk="CP-1")
    assert security.password_matches("a-chosen-password-1", cp.password_hash)
    detail = api.get("/api/v1/chargepoints/CP-1/").json()
    assert "a-chosen-password-1" not in json.dumps(detail) and cp.password_hash not in json.dumps(detail)


def test_an_operator_sets_a_charge_points_security_profile_in_the_admin_and_it_is_recorded(admin_client):
    from django.urls import reverse

    ChargePoint.objects.create(id="CP-1", description="bay 1")
    url = reverse("admin:chargepoints_chargepoint_change", args=["CP-1"])

    response = admin_client.post(
        url,
        {
            "description": "bay 1",
            "registration_status": "Accepted",
            "security_profile": "2",
            "connectors-TOTAL_FORMS": "0",
            "connectors-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 302
    assert ChargePoint.objects.get(pk="CP-1").security_profile == 2
    assert list(SecurityEvent.objects.values_list("type", "tech_info")) == [
        (SecurityEvent.SECURITY_PROFILE_CHANGED, "security profile set to 2")
    ]


def test_the_api_shows_and_changes_the_security_profile(admin_user, settings):
    from rest_framework.test import APIClient

    ChargePoint.objects.create(id="CP-1")
    api = APIClient()
    api.force_authenticate(admin_user)

    before = api.get("/api/v1/chargepoints/CP-1/").json()
    changed = api.patch("/api/v1/chargepoints/CP-1/", {"security_profile": 2}, format="json")
    bad = api.patch("/api/v1/chargepoints/CP-1/", {"security_profile": 7}, format="json")
    listed = api.get("/api/v1/chargepoints/").json()["results"][0]
    reset = api.patch("/api/v1/chargepoints/CP-1/", {"security_profile": None}, format="json")

    assert (before["security_profile"], before["effective_security_profile"], before["password_set"]) == (None, 1, False)
    assert (changed.status_code, changed.json()["security_profile"], changed.json()["effective_security_profile"]) == (200, 2, 2)
    assert bad.status_code == 400 and "security_profile" in bad.json()
    assert (listed["security_profile"], listed["effective_security_profile"]) == (2, 2)
    assert (reset.json()["security_profile"], reset.json()["effective_security_profile"]) == (None, 1)
    assert SecurityEvent.objects.filter(type=SecurityEvent.SECURITY_PROFILE_CHANGED).count() == 2


def test_an_operator_sets_a_password_in_the_admin_and_sees_it_once(admin_client):
    from django.urls import reverse

    ChargePoint.objects.create(id="CP:1")
    change_page = admin_client.get(reverse("admin:chargepoints_chargepoint_change", args=["CP_3A1"]))
    url = reverse("admin:chargepoints_chargepoint_password", args=["CP_3A1"])

    generated = admin_client.post(url, {"password": ""})
    password = generated.context["new_password"]
    chosen = admin_client.post(url, {"password": "an-operator-choice-1"})
    too_short = admin_client.post(url, {"password": "short"})
    later = admin_client.get(reverse("admin:chargepoints_chargepoint_change", args=["CP_3A1"]))

    assert url in change_page.content.decode()
    assert len(password) == 40 and password in generated.content.decode()
    assert "no-store" in generated["Cache-Control"]
    assert "an-operator-choice-1" in chosen.content.decode()
    assert too_short.context["new_password"] is None and too_short.context["form"].errors
    cp = ChargePoint.objects.get(pk="CP:1")
    assert security.password_matches("an-operator-choice-1", cp.password_hash)
    assert "an-operator-choice-1" not in later.content.decode() and cp.password_hash not in later.content.decode()


def test_setting_a_password_in_the_admin_needs_the_change_permission(client, django_user_model):
    from django.contrib.auth.models import Permission
    from django.urls import reverse

    ChargePoint.objects.create(id="CP-1")
    viewer = django_user_model.objects.create_user("viewer", password="x", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_chargepoint"))
    client.force_login(viewer)

    response = client.post(reverse("admin:chargepoints_chargepoint_password", args=["CP-1"]), {"password": ""})

    assert response.status_code == 403
    assert ChargePoint.objects.get(pk="CP-1").password_hash == ""


# --- Security profile 3: client certificates -------------------------------------------


@pytest.fixture
def charge_point_ca(settings, tmp_path):
    from tests.certificates import TestCA

    ca = TestCA("Test charge point CA")
    settings.OCPP_CHARGE_POINT_CA_CERT = ca.write(tmp_path / "charge-point-ca.crt")
    return ca


def over_tls(chain: list[str]):
    """What csms/tls.py puts in the scope of a TLS connection presenting `chain`."""
    return {"scheme": "wss", "extensions": {"tls": {"client_cert_chain": chain}}}


async def connect_with(scope: dict, path: str = "/ocpp/CP-1", headers=(), client=("198.51.100.7", 50000)) -> bool:
    from channels.testing import WebsocketCommunicator

    from csms.asgi import application

    communicator = WebsocketCommunicator(application, path, headers=list(headers), subprotocols=["ocpp1.6"])
    communicator.scope.update(scope, client=list(client))
    accepted, _ = await communicator.connect(timeout=5)
    if accepted:
        await communicator.disconnect()
    return accepted


async def test_a_profile_3_charge_point_may_name_its_boot_serial_number_as_the_certificate_cn(charge_point_ca):
    await ChargePoint.objects.acreate(id="CP-1", security_profile=3, serial_number="SN-0042")

    by_serial = await connect_with(over_tls([charge_point_ca.issue("SN-0042").cert_pem]))
    by_other_serial = await connect_with(over_tls([charge_point_ca.issue("SN-0043").cert_pem]))

    assert (by_serial, by_other_serial) == (True, False)


async def test_a_serial_number_another_charge_point_also_claims_is_no_certificate_cn(charge_point_ca):
    await ChargePoint.objects.acreate(id="CP-1", security_profile=3, serial_number="SN-0042")
    await ChargePoint.objects.acreate(id="CP-2", serial_number="SN-0042")  # reported the same serial number

    by_shared_serial = await connect_with(over_tls([charge_point_ca.issue("SN-0042").cert_pem]))
    by_identity = await connect_with(over_tls([charge_point_ca.issue("CP-1").cert_pem]))

    assert (by_shared_serial, by_identity) == (False, True)
    assert "neither the identity nor the serial number" in (await events("CP-1"))[0][1]


async def test_a_certificate_our_ca_issued_to_another_charge_point_does_not_open_this_one(charge_point_ca):
    from chargepoints import pki
    from chargepoints.models import Certificate

    await ChargePoint.objects.acreate(id="CP-1", security_profile=3, serial_number="SN-0042")
    other = await ChargePoint.objects.acreate(id="CP-2")
    # Issued to CP-2 while it reported SN-0042 as its serial number; it has reported another since.
    leaf = charge_point_ca.issue("SN-0042")
    cert = pki.load_certificates(leaf.cert_pem)[0]
    await Certificate.objects.acreate(
        charge_point=other,
        serial_number=pki.serial_hex(cert),
        subject="CN=SN-0042",
        issuer="CN=Test charge point CA",
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        fingerprint_sha256=pki.fingerprint(cert),
        pem=leaf.cert_pem,
        chain_pem=leaf.cert_pem,
    )

    assert not await connect_with(over_tls([leaf.cert_pem]))
    assert "was issued to another charge point" in (await events("CP-1"))[-1][1]


async def test_a_profile_3_charge_point_is_not_asked_for_a_password_and_one_sent_changes_nothing(charge_point_ca):
    await registered("CP-1", security_profile=3)

    accepted = await connect_with(over_tls([charge_point_ca.issue("CP-1").cert_pem]), headers=auth("CP-1", "f" * 40))

    assert accepted
    assert [t for t, _ in await events("CP-1")] == [SecurityEvent.PASSWORD_CHANGED]  # no failure recorded


async def test_a_profile_3_charge_point_with_only_its_password_is_a_downgrade(charge_point_ca):
    await registered("CP-1", security_profile=3)

    accepted = await connect_with(over_tls([]), headers=auth("CP-1", PASSWORD))

    assert not accepted
    assert (await events("CP-1"))[-1] == (SecurityEvent.SECURITY_PROFILE_DOWNGRADE, "security profile 3 needs a TLS client certificate")


async def test_without_a_charge_point_ca_no_certificate_is_accepted(settings, tmp_path):
    from tests.certificates import TestCA

    settings.OCPP_CHARGE_POINT_CA_CERT = tmp_path / "missing.crt"
    await ChargePoint.objects.acreate(id="CP-1", security_profile=3)

    accepted = await connect_with(over_tls([TestCA("any").issue("CP-1").cert_pem]))

    assert not accepted
    assert (await events("CP-1"))[-1][0] == SecurityEvent.INVALID_CLIENT_CERTIFICATE


async def test_a_trusted_proxy_forwards_the_client_certificate_url_encoded_as_nginx_does(settings, charge_point_ca):
    import urllib.parse

    settings.OCPP_TRUSTED_PROXIES = ["127.0.0.1"]
    await ChargePoint.objects.acreate(id="CP-1", security_profile=3)
    good = urllib.parse.quote(charge_point_ca.issue("CP-1").cert_pem).encode()
    proxied = [(b"x-forwarded-proto", b"https"), (b"x-forwarded-for", b"203.0.113.9")]

    accepted = await connect_with({}, headers=[*proxied, (b"x-ssl-client-cert", good)], client=("127.0.0.1", 50000))
    garbage = await connect_with({}, headers=[*proxied, (b"x-ssl-client-cert", b"not-a-certificate")], client=("127.0.0.1", 50000))

    assert (accepted, garbage) == (True, False)
    event = await SecurityEvent.objects.filter(charge_point_id="CP-1").alatest("id")
    assert (event.type, event.tech_info, event.source_address) == (
        SecurityEvent.INVALID_CLIENT_CERTIFICATE,
        "the client certificate cannot be read",
        "203.0.113.9",
    )


async def test_the_certificate_header_of_an_untrusted_client_is_ignored(settings, charge_point_ca):
    import urllib.parse

    settings.OCPP_TRUSTED_PROXIES = []
    await ChargePoint.objects.acreate(id="CP-1", security_profile=3)
    good = urllib.parse.quote(charge_point_ca.issue("CP-1").cert_pem).encode()

    # Even over our own TLS: the header is not the certificate this client presented.
    accepted = await connect_with(over_tls([]), headers=[(b"x-ssl-client-cert", good)])

    assert not accepted
