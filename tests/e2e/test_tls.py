"""Charge points over real TLS: ended in `python -m csms.serve` itself, and at an nginx in front of it.

One deployment (default security profile 2, the test CA as the charge point
CA) with two daphne processes: A serves TLS itself and trusts no proxy; B
trusts 127.0.0.1, where nginx ends TLS for it. A second nginx in front of
A's plain port shows that A does not believe a proxy it was not told to
trust. Clients are `websockets` with an ssl context, as a charge point's
TLS stack would be, and the product simulator.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
from pathlib import Path

import pytest
import websockets
from websockets.exceptions import InvalidStatus

from simulator import BackgroundSimulation, SimulationOptions
from tests.certificates import TestCA
from tests.e2e.deployment import Database, auth_headers, deploy, passwords_for
from tests.e2e.nginx import nginx_proxy
from tests.e2e.stations import OPTIONS
from tests.waiting import eventually

pytestmark = pytest.mark.e2e

PROFILE_2 = "TLS-CP-2"
PROFILE_3 = "TLS-CP-3"
SIMULATED_2, SIMULATED_3 = "TLS-SIM-2", "TLS-SIM-3"


class Pki:
    """The test's certificates on disk: the server's, the charge point CA, and client certificates good and bad."""

    def __init__(self, directory: Path):
        self.directory = directory
        server_ca = TestCA("Test server CA")
        self.server_ca_file = server_ca.write(directory / "server-ca.crt")
        self.server_cert, self.server_key = server_ca.issue("localhost", server=True).write(directory / "server")
        self.charge_point_ca = TestCA("Test charge point CA")
        self.charge_point_ca_file = self.charge_point_ca.write(directory / "charge-point-ca.crt")
        stranger = TestCA("Someone else's CA")
        now = dt.datetime.now(dt.UTC)
        self.client = {
            "good": self.charge_point_ca.issue(PROFILE_3).write(directory / "good"),
            "simulated": self.charge_point_ca.issue(SIMULATED_3).write(directory / "simulated"),
            "other CA": stranger.issue(PROFILE_3).write(directory / "other-ca"),
            "expired": self.charge_point_ca.issue(
                PROFILE_3, not_before=now - dt.timedelta(days=30), not_after=now - dt.timedelta(days=1)
            ).write(directory / "expired"),
            "other identity": self.charge_point_ca.issue("TLS-CP-OTHER").write(directory / "other-identity"),
        }

    def context(self, client: str | None = None) -> ssl.SSLContext:
        """A charge point's TLS context: trusts the server CA, presents `client`'s certificate when named."""
        context = ssl.create_default_context(cafile=str(self.server_ca_file))
        if client:
            context.load_cert_chain(*self.client[client])
        return context


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def tls_deployment(tmp_path_factory, pki):
    env = {
        "OCPP_SECURITY_PROFILE": "2",
        "OCPP_CHARGE_POINT_CA_CERT": str(pki.charge_point_ca_file),
        "TLS_CERT_FILE": str(pki.server_cert),
        "TLS_KEY_FILE": str(pki.server_key),
        # Every refused attempt counts towards the identity's lock-out; these tests make many.
        "OCPP_AUTH_FAILURES_PER_IDENTITY": "1000",
        "OCPP_TRUSTED_PROXIES": "",
    }
    with deploy(tmp_path_factory.mktemp("e2e-tls"), name="e2e-tls", env=env) as dep:
        dep.start_server()  # A: TLS here, no trusted proxy
        dep.env["OCPP_TRUSTED_PROXIES"] = "127.0.0.1"
        dep.start_server()  # B: behind nginx on 127.0.0.1
        for charge_point_id in (PROFILE_2, PROFILE_3, SIMULATED_2, SIMULATED_3):
            status, body = dep.api("POST", "/api/v1/chargepoints/", {"id": charge_point_id})
            assert status == 201, body
        dep.manage(
            "shell",
            "-c",
            "from chargepoints import services\n"
            "from chargepoints.models import ChargePoint\n"
            f"for cp_id in ({PROFILE_3!r}, {SIMULATED_3!r}):\n"
            "    services.charge_point_update(charge_point=ChargePoint.objects.get(pk=cp_id), security_profile=3)\n",
        )
        yield dep


@pytest.fixture(scope="module")
def database(tls_deployment) -> Database:
    return Database(tls_deployment.env["DATABASE_URL"])


@pytest.fixture(scope="module")
def trusted_nginx(tmp_path_factory, tls_deployment, pki):
    """nginx ending TLS for server B, which trusts it: yields its port."""
    with nginx_proxy(
        tmp_path_factory.mktemp("nginx"), upstream_port=tls_deployment.servers[1].port, cert_file=pki.server_cert, key_file=pki.server_key
    ) as port:
        yield port


@pytest.fixture(scope="module")
def untrusted_nginx(tmp_path_factory, tls_deployment, pki):
    """nginx ending TLS in front of server A's plain port; A does not trust it: yields its port."""
    with nginx_proxy(
        tmp_path_factory.mktemp("nginx"), upstream_port=tls_deployment.servers[0].port, cert_file=pki.server_cert, key_file=pki.server_key
    ) as port:
        yield port


async def _attempt(url: str, *, context: ssl.SSLContext | None, headers: dict | None) -> int:
    try:
        async with websockets.connect(url, ssl=context, subprotocols=["ocpp1.6"], additional_headers=headers, open_timeout=10) as ws:
            await ws.send('[2,"1","Heartbeat",{}]')
            reply = await asyncio.wait_for(ws.recv(), 10)
            assert reply.startswith('[3,"1"'), reply
            return 101
    except InvalidStatus as refused:
        return refused.response.status_code


def attempt(url: str, *, context: ssl.SSLContext | None = None, headers: dict | None = None) -> int:
    """Open an OCPP 1.6 connection to `url` and send a Heartbeat: 101 when served, else the HTTP status of the refusal."""
    return asyncio.run(_attempt(url, context=context, headers=headers))


def last_event(database: Database, charge_point_id: str) -> tuple[str, str] | None:
    rows = database.rows(
        "SELECT type, tech_info FROM chargepoints_securityevent WHERE charge_point_id = %s ORDER BY id DESC", charge_point_id
    )
    return rows[0] if rows else None


# --- TLS ended by csms.serve -------------------------------------------------------------


def test_a_profile_2_charge_point_is_served_over_wss_with_its_password(tls_deployment, pki):
    server = tls_deployment.servers[0]
    url = server.wss(f"/ocpp/{PROFILE_2}")

    assert attempt(url, context=pki.context(), headers=auth_headers(url)) == 101


def test_a_profile_2_charge_point_is_refused_over_plain_ws(tls_deployment, database):
    url = tls_deployment.servers[0].ws(f"/ocpp/{PROFILE_2}")

    assert attempt(url, headers=auth_headers(url)) == 403
    assert last_event(database, PROFILE_2) == ("SecurityProfileDowngrade", "security profile 2 needs TLS (wss://)")


def test_a_profile_2_charge_point_with_a_client_certificate_still_needs_its_password(tls_deployment, pki):
    url = tls_deployment.servers[0].wss(f"/ocpp/{PROFILE_2}")

    assert attempt(url, context=pki.context("good")) == 403
    assert attempt(url, context=pki.context("good"), headers=auth_headers(url)) == 101


def test_a_profile_3_charge_point_with_its_certificate_is_served(tls_deployment, pki):
    url = tls_deployment.servers[0].wss(f"/ocpp/{PROFILE_3}")

    assert attempt(url, context=pki.context("good")) == 101


@pytest.mark.parametrize(
    "client, headers, event",
    [
        (None, False, ("SecurityProfileDowngrade", "security profile 3 needs a TLS client certificate")),
        (None, True, ("SecurityProfileDowngrade", "security profile 3 needs a TLS client certificate")),
        ("other CA", False, ("InvalidClientCertificate", "the client certificate does not chain to the charge point CA")),
        ("expired", False, ("InvalidClientCertificate", "the client certificate expired on")),
        ("other identity", False, ("InvalidClientCertificate", "the client certificate's CN 'TLS-CP-OTHER' is neither")),
    ],
)
def test_a_profile_3_charge_point_without_a_good_certificate_is_refused_and_recorded(tls_deployment, database, pki, client, headers, event):
    url = tls_deployment.servers[0].wss(f"/ocpp/{PROFILE_3}")

    assert attempt(url, context=pki.context(client), headers=auth_headers(url) if headers else None) == 403
    kind, info = last_event(database, PROFILE_3)
    assert (kind, info[: len(event[1])]) == event


def test_a_refused_attempt_leaves_the_live_session_of_a_profile_3_charge_point_alone(tls_deployment, database, pki):
    url = tls_deployment.servers[0].wss(f"/ocpp/{PROFILE_3}")

    async def scenario():
        async with websockets.connect(url, ssl=pki.context("good"), subprotocols=["ocpp1.6"]) as live:
            session = database.value("SELECT session_id FROM chargepoints_chargepoint WHERE id = %s", PROFILE_3)
            for client in (None, "other CA", "expired"):
                assert await _attempt(url, context=pki.context(client), headers=None) == 403
            await live.send('[2,"live","Heartbeat",{}]')
            reply = await asyncio.wait_for(live.recv(), 10)
            return session, reply

    session, reply = asyncio.run(scenario())

    assert reply.startswith('[3,"live"')
    assert database.value("SELECT session_id FROM chargepoints_chargepoint WHERE id = %s", PROFILE_3) == session


def test_the_simulator_boots_over_wss_with_a_ca_file_and_with_a_client_certificate(tls_deployment, database, pki):
    server = tls_deployment.servers[0]
    cert, key = pki.client["simulated"]
    common = dict(OPTIONS, url=server.wss("/ocpp/"), ca_file=str(pki.server_ca_file))
    runs = [
        SimulationOptions.build(ids=[SIMULATED_2], ocpp="1.6", passwords=passwords_for([SIMULATED_2]), **common),
        SimulationOptions.build(ids=[SIMULATED_3], ocpp="2.0.1", client_cert=str(cert), client_key=str(key), **common),
    ]
    sims = [BackgroundSimulation(options) for options in runs]
    for sim in sims:
        sim.start()
    try:
        for charge_point_id in (SIMULATED_2, SIMULATED_3):
            eventually(
                lambda cp=charge_point_id: (
                    database.value("SELECT last_boot_status FROM chargepoints_chargepoint WHERE id = %s AND connected", cp) == "Accepted"
                ),
                timeout=20,
            )
    finally:
        for sim in sims:
            sim.stop()


# --- TLS ended at nginx ------------------------------------------------------------------


def test_behind_a_trusted_nginx_a_profile_2_charge_point_is_served_with_its_password(trusted_nginx, pki):
    url = f"wss://localhost:{trusted_nginx}/ocpp/{PROFILE_2}"

    assert attempt(url, context=pki.context(), headers=auth_headers(url)) == 101


def test_behind_a_trusted_nginx_a_profile_3_charge_point_is_served_with_its_certificate(trusted_nginx, pki):
    url = f"wss://localhost:{trusted_nginx}/ocpp/{PROFILE_3}"

    assert attempt(url, context=pki.context("good")) == 101


@pytest.mark.parametrize(
    "client, event",
    [
        (None, ("SecurityProfileDowngrade", "security profile 3 needs a TLS client certificate")),
        ("other CA", ("InvalidClientCertificate", "the client certificate does not chain to the charge point CA")),
        ("other identity", ("InvalidClientCertificate", "the client certificate's CN 'TLS-CP-OTHER' is neither")),
    ],
)
def test_behind_a_trusted_nginx_a_bad_certificate_is_refused_and_recorded(trusted_nginx, database, pki, client, event):
    url = f"wss://localhost:{trusted_nginx}/ocpp/{PROFILE_3}"

    assert attempt(url, context=pki.context(client)) == 403
    kind, info = last_event(database, PROFILE_3)
    assert (kind, info[: len(event[1])]) == event


def test_behind_nginx_an_expired_certificate_is_refused_by_nginx_itself(trusted_nginx, database, pki):
    url = f"wss://localhost:{trusted_nginx}/ocpp/{PROFILE_3}"
    count = "SELECT count(*) FROM chargepoints_securityevent WHERE charge_point_id = %s"
    before = database.value(count, PROFILE_3)

    # optional_no_ca forgives only a missing CA; an expired certificate is nginx's 400
    # ("The SSL certificate error") and never reaches the CSMS, so nothing is recorded.
    assert attempt(url, context=pki.context("expired")) == 400
    assert database.value(count, PROFILE_3) == before


def test_the_client_certificate_of_a_proxy_the_deployment_does_not_trust_is_not_believed(untrusted_nginx, database, pki):
    url = f"wss://localhost:{untrusted_nginx}/ocpp/{PROFILE_3}"

    # nginx forwards a good certificate, but server A does not trust 127.0.0.1: to it this is plain ws.
    assert attempt(url, context=pki.context("good")) == 403
    assert last_event(database, PROFILE_3) == ("SecurityProfileDowngrade", "security profile 3 needs TLS (wss://)")
