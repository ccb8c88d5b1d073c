"""Shared fixtures.

The suite runs on whatever DATABASE_URL and REDIS_URL say (SQLite and the
in-memory layer when unset). When they name PostgreSQL or Redis, those must be
reachable: the run fails rather than skip, so CI can never pass by testing
less than it claims.
"""

from __future__ import annotations

import json
import os

import pytest
from asgiref.sync import async_to_sync
from channels.layers import channel_layers, get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings


def pytest_report_header(config):
    db = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    layer = settings.CHANNEL_LAYERS["default"]["BACKEND"].rsplit(".", 1)[-1]
    return f"csms: database={db} channel_layer={layer} CI={os.environ.get('CI', '')}"


@pytest.fixture(scope="session", autouse=True)
def _services_reachable():
    """Fail the whole run when the configured Redis is unreachable (never skip)."""
    if settings.REDIS_URL:
        import redis

        try:
            redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=3).ping()
        except redis.RedisError as exc:
            pytest.fail(f"REDIS_URL={settings.REDIS_URL} is set but Redis is unreachable: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    """Close connections after each use in tests.

    The ORM thread of `database_sync_to_async` otherwise keeps a persistent
    PostgreSQL connection (CONN_MAX_AGE) open, which blocks dropping the test
    database at the end of the run.
    """
    from django.db import connections

    for connection in connections.all():
        connection.settings_dict["CONN_MAX_AGE"] = 0


@pytest.fixture(scope="session", autouse=True)
def _close_async_orm_connections(django_db_setup, django_db_blocker):
    """Close the connection Django's async ORM keeps in asgiref's shared thread.

    `aget()`, `acount()` … run in that thread and never close their
    connection, which would otherwise block dropping the PostgreSQL test
    database at the end of the run.
    """
    yield
    from asgiref.sync import SyncToAsync
    from django.db import connections

    with django_db_blocker.unblock():
        SyncToAsync.single_thread_executor.submit(connections.close_all).result(timeout=10)


@pytest.fixture(autouse=True)
def _fresh_channel_layer():
    """Each test starts with an empty channel layer (no groups or messages left by another)."""
    layer = get_channel_layer()
    if hasattr(layer, "flush"):
        async_to_sync(layer.flush)()
    # A fresh layer object too: each async test runs on an event loop of its
    # own, and channels-redis keeps locks bound to the loop that first used them.
    channel_layers.backends.clear()
    yield


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings):
    # Users made by admin_client and friends get a password; the default hasher spends 0.3 s on each.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _no_charge_point_authentication(settings):
    """In-process tests connect as registered identities without credentials (security profile none).

    Authentication has tests of its own (tests/chargepoints/test_security.py), which set
    OCPP_SECURITY_PROFILE or a charge point's profile; the end-to-end tests run at the default, 1.
    """
    settings.OCPP_SECURITY_PROFILE = 0


@pytest.fixture(autouse=True)
def _validate_our_answers(settings):
    """Every CALLRESULT the CSMS sends is checked against its response schema, so a handler's bad answer fails its test.

    Production leaves the check off (OCPP_VALIDATE_ANSWERS, default DEBUG); tests of that set it back.
    """
    settings.OCPP_VALIDATE_ANSWERS = True


@pytest.fixture(autouse=True)
def _no_throttles_or_lockout(settings):
    """The suite sends many requests and wrong passwords from 127.0.0.1 in a few seconds.

    Throttles and the login lockout have tests of their own (tests/accounts/),
    which turn them back on with limits of their own.
    """
    settings.API_THROTTLE_RATES = {"user": None, "anon": None, "login": None}
    settings.API_AUTH_FAILURES_PER_ADDRESS = 0
    settings.AXES_ENABLED = False


@pytest.fixture
def charge_point(db):
    from chargepoints.models import ChargePoint

    return ChargePoint.objects.create(id="CP-1")


class OcppClient:
    """A thin OCPP-J test client over Channels' WebsocketCommunicator."""

    def __init__(self, communicator: WebsocketCommunicator):
        self.communicator = communicator
        self._counter = 0

    async def send_raw(self, text: str) -> None:
        await self.communicator.send_to(text_data=text)

    async def receive(self, timeout: float = 5) -> list:
        return json.loads(await self.communicator.receive_from(timeout=timeout))

    async def call(self, action: str, payload: dict, unique_id: str | None = None) -> list:
        """Send a CALL and return the decoded reply frame (CALLRESULT or CALLERROR)."""
        self._counter += 1
        unique_id = unique_id or str(self._counter)
        await self.send_raw(json.dumps([2, unique_id, action, payload]))
        reply = await self.receive()
        assert reply[1] == unique_id, reply
        return reply

    async def close(self) -> None:
        await self.communicator.disconnect()


@pytest.fixture
async def ocpp_connect():
    """Open OCPP connections through the full ASGI application; closes them after the test.

    Usage: `client, accepted, subprotocol = await ocpp_connect("/ocpp/CP-1")`; `headers` are
    (name, value) byte pairs, e.g. an Authorization header.
    """
    from csms.asgi import application

    opened: list[WebsocketCommunicator] = []

    async def connect(path: str = "/ocpp/CP-1", subprotocols=("ocpp1.6",), headers=()):
        communicator = WebsocketCommunicator(application, path, headers=list(headers), subprotocols=list(subprotocols))
        communicator.scope["client"] = ["127.0.0.1", 50000]  # as daphne gives it
        accepted, subprotocol = await communicator.connect(timeout=5)
        if accepted:
            opened.append(communicator)
        return OcppClient(communicator), accepted, subprotocol

    yield connect
    for communicator in opened:
        try:
            await communicator.disconnect()
        except Exception:
            pass


@pytest.fixture(autouse=True)
def _no_developer_ca(settings, tmp_path_factory):
    """Tests never see a CA a developer made under var/ca: no CA unless a test asks for `charge_point_ca`."""
    empty = tmp_path_factory.mktemp("no-ca")
    settings.OCPP_CA_DIR = empty
    settings.OCPP_CHARGE_POINT_CA_CERT = empty / "charge_point_ca.crt"
    settings.OCPP_CHARGE_POINT_CA_KEY = empty / "charge_point_ca.key"


@pytest.fixture
def charge_point_ca(settings, tmp_path):
    """A fresh charge point CA (root + intermediate) in a temporary OCPP_CA_DIR; yields the `pki.CertificateAuthority`."""
    from chargepoints import pki

    settings.OCPP_CA_DIR = tmp_path / "ca"
    settings.OCPP_CHARGE_POINT_CA_CERT = settings.OCPP_CA_DIR / "charge_point_ca.crt"
    settings.OCPP_CHARGE_POINT_CA_KEY = settings.OCPP_CA_DIR / "charge_point_ca.key"
    pki.ca_create(organization="Test CPO")
    return pki.ca_load_configured()


@pytest.fixture
def no_charge_point_ca(settings, tmp_path):
    """OCPP_CA_DIR points at an empty directory: no CA is configured."""
    settings.OCPP_CA_DIR = tmp_path / "no-ca"
    settings.OCPP_CHARGE_POINT_CA_CERT = settings.OCPP_CA_DIR / "charge_point_ca.crt"
    settings.OCPP_CHARGE_POINT_CA_KEY = settings.OCPP_CA_DIR / "charge_point_ca.key"


def make_csr(common_name: str, key=None, organization: str = "") -> tuple[str, object]:
    """(PEM CSR for `common_name`, its private key): EC P-256 unless `key` is given."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = key or ec.generate_private_key(ec.SECP256R1())
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    csr = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attributes)).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM).decode(), key
