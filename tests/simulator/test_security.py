"""The simulator's side of the security profiles: Basic auth on the upgrade, write-only passwords, rotation, TLS.

A tiny `websockets` server stands in for the central system: it records the
headers of every upgrade, refuses the ones it is told to (HTTP 403, as
daphne does), answers BootNotification / StatusNotification / Heartbeat and
can send one CALL of its own after the boot.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import json
import ssl
from http import HTTPStatus

import pytest
from websockets.asyncio.server import serve

from simulator.connection import Link, basic_authorization, ssl_context
from simulator.keystore import PASSWORD_KEY_16, PASSWORD_KEY_201
from simulator.runner import SimulationOptions, read_passwords
from simulator.station import Station, StationSettings

OLD = "0123456789abcdef0123456789abcdef01234567"
NEW = "fedcba9876543210fedcba9876543210fedcba98"
NOW = datetime.datetime.now(datetime.UTC).isoformat().replace("+00:00", "Z")
ANSWERS = {
    "BootNotification": {"status": "Accepted", "currentTime": NOW, "interval": 300},
    "Heartbeat": {"currentTime": NOW},
}


class CentralSystem:
    """Records each upgrade's Authorization header; `refuse(header)` says which to answer 403; `call` is sent after boot."""

    def __init__(self, *, refuse=lambda header: False, call: tuple[str, dict] | None = None):
        self.refuse = refuse
        self.call = call
        self.headers: list[str | None] = []
        self.refused = 0
        self.answers: list = []
        self.booted = asyncio.Event()
        self.server = None

    @property
    def url(self) -> str:
        port = self.server.sockets[0].getsockname()[1]
        return f"ws://127.0.0.1:{port}/ocpp/"

    def _process_request(self, connection, request):
        header = request.headers.get("Authorization")
        self.headers.append(header)
        if self.refuse(header):
            self.refused += 1
            return connection.respond(HTTPStatus.FORBIDDEN, "Forbidden\n")
        return None

    async def _handler(self, ws):
        async for raw in ws:
            message = json.loads(raw)
            if message[0] == 2:
                await ws.send(json.dumps([3, message[1], ANSWERS.get(message[2], {})]))
                if message[2] == "BootNotification":
                    self.booted.set()
                    if self.call is not None:
                        action, payload = self.call
                        self.call = None
                        await ws.send(json.dumps([2, "csms-1", action, payload]))
            elif message[0] == 3 and message[1] == "csms-1":
                self.answers.append(message[2])

    async def __aenter__(self) -> CentralSystem:
        self.server = await serve(
            self._handler, "127.0.0.1", 0, subprotocols=["ocpp1.6", "ocpp2.0.1"], process_request=self._process_request
        )
        return self

    async def __aexit__(self, *exc) -> None:
        self.server.close()
        await self.server.wait_closed()


def basic(password: str, identity: str = "CP-1") -> str:
    return "Basic " + base64.b64encode(f"{identity}:{password}".encode()).decode()


def station_for(csms: CentralSystem, version: str = "1.6", **settings) -> Station:
    settings = {
        "station_id": "CP-1",
        "version": version,
        "sessions": False,
        "backoff_base_s": 0.05,
        "backoff_cap_s": 0.2,
        "rotation_reconnect_s": 0.1,
        "step_s": 0.05,
        **settings,
    }
    return Station(StationSettings(**settings), url=lambda: csms.url)


async def until(check, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


async def running(station: Station, check, timeout: float = 5.0) -> None:
    task = asyncio.create_task(station.run())
    try:
        await until(check, timeout)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_a_station_with_a_password_sends_basic_auth_with_its_identity_on_every_connect(version):
    async with CentralSystem() as csms:
        station = station_for(csms, version, password=OLD)
        await running(station, csms.booted.is_set)
    assert csms.headers == [basic(OLD)]
    assert basic_authorization("CP-1", OLD) == basic(OLD)


async def test_a_station_without_a_password_sends_no_authorization_header():
    async with CentralSystem() as csms:
        await running(station_for(csms), csms.booted.is_set)
    assert csms.headers == [None]


async def test_a_refused_upgrade_is_reported_as_authentication_refused_and_retried_with_backoff():
    events = []
    async with CentralSystem(refuse=lambda header: header != basic(NEW)) as csms:
        station = station_for(csms, password=OLD)
        station.events = events.append
        task = asyncio.create_task(station.run())
        try:
            await until(lambda: csms.refused >= 3)
            station.config.keys[PASSWORD_KEY_16].value = NEW  # the operator fixes the station's password
            await until(csms.booted.is_set)
            await until(lambda: station.boots == 1)  # the station counts its boot once it has the answer
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    refused = [e for e in events if e.kind == "security" and e.text.startswith("authentication refused (HTTP 403)")]
    assert len(refused) >= 3
    assert station.stats["auth_refused"] == csms.refused
    assert station.boots == 1


@pytest.mark.parametrize(
    ("version", "key", "call"),
    [
        ("1.6", PASSWORD_KEY_16, ("GetConfiguration", {"key": [PASSWORD_KEY_16]})),
        ("1.6", PASSWORD_KEY_16, ("GetConfiguration", {})),
        (
            "2.0.1",
            PASSWORD_KEY_201,
            ("GetVariables", {"getVariableData": [{"component": {"name": "SecurityCtrlr"}, "variable": {"name": "BasicAuthPassword"}}]}),
        ),
    ],
)
async def test_the_password_cannot_be_read_back(version, key, call):
    async with CentralSystem(call=call) as csms:
        station = station_for(csms, version, password=OLD)
        await running(station, lambda: csms.answers)
    answer = csms.answers[0]
    assert OLD not in json.dumps(answer)
    if version == "1.6":
        (entry,) = [k for k in answer["configurationKey"] if k["key"] == key]
        assert "value" not in entry
    else:
        assert answer["getVariableResult"][0]["attributeStatus"] == "Rejected"
    assert station.config.get(key) == OLD  # still there, for the station's own use


def test_a_base_report_shows_the_password_variable_as_write_only_without_its_value():
    station = Station(StationSettings(station_id="CP-1", version="2.0.1", password=OLD), url=lambda: "ws://unused/")
    (item,) = [i for i in station.protocol.report("FullInventory") if i["variable"]["name"] == "BasicAuthPassword"]
    assert item["variableAttribute"] == [{"type": "Actual", "mutability": "WriteOnly"}]


@pytest.mark.parametrize(
    ("version", "call", "password"),
    [
        ("1.6", ("ChangeConfiguration", {"key": PASSWORD_KEY_16, "value": NEW}), NEW),
        (
            "2.0.1",
            (
                "SetVariables",
                {
                    "setVariableData": [
                        {
                            "component": {"name": "SecurityCtrlr"},
                            "variable": {"name": "BasicAuthPassword"},
                            "attributeValue": "a-new-password-of-2.0.1",
                        }
                    ]
                },
            ),
            "a-new-password-of-2.0.1",
        ),
    ],
)
async def test_an_accepted_new_password_is_used_from_the_next_connection_on_and_the_station_reconnects_for_it(version, call, password):
    events = []
    async with CentralSystem(call=call) as csms:
        station = station_for(csms, version, password=OLD)
        station.events = events.append
        await running(station, lambda: len(csms.headers) >= 2 and station.state == "online")
    answer = csms.answers[0]
    status = answer["status"] if version == "1.6" else answer["setVariableResult"][0]["attributeStatus"]
    assert status == "Accepted"
    assert csms.headers[:2] == [basic(OLD), basic(password)]
    assert station.boots == 1  # a reconnection, not a reboot
    assert not any(password in e.text for e in events)


@pytest.mark.parametrize(
    ("version", "value"),
    [
        ("1.6", "not-hex-not-hex-not-hex-not-hex-not-hex!"),
        ("1.6", NEW[:-2]),
        ("2.0.1", "short"),
        ("2.0.1", "x" * 41),
        ("2.0.1", "has a space in it, sadly"),
    ],
)
async def test_a_malformed_new_password_is_rejected_and_the_old_one_kept(version, value):
    if version == "1.6":
        call = ("ChangeConfiguration", {"key": PASSWORD_KEY_16, "value": value})
    else:
        item = {"component": {"name": "SecurityCtrlr"}, "variable": {"name": "BasicAuthPassword"}, "attributeValue": value}
        call = ("SetVariables", {"setVariableData": [item]})
    async with CentralSystem(call=call) as csms:
        station = station_for(csms, version, password=OLD)
        await running(station, lambda: csms.answers)
        await asyncio.sleep(0.3)  # longer than rotation_reconnect_s: no reconnection follows
    answer = csms.answers[0]
    status = answer["status"] if version == "1.6" else answer["setVariableResult"][0]["attributeStatus"]
    assert status == "Rejected"
    assert station.config.get(station.password_key) == OLD
    assert csms.headers == [basic(OLD)]


def test_simulation_options_give_each_station_its_password_from_the_file_or_the_common_one():
    passwords = read_passwords(["# id password", "", "CP-1 " + OLD, "  CP-2\t" + NEW + "  "])
    options = SimulationOptions.build(ids=["CP-1", "CP-2", "CP-3"], password="common-password-16", passwords=passwords, seed=1)
    assert [options.settings_for(i).password for i in range(3)] == [OLD, NEW, "common-password-16"]
    with pytest.raises(ValueError, match="line 2"):
        read_passwords(["CP-1 " + OLD, "CP-2"])


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    """A throwaway CA, a server certificate for 127.0.0.1 it signed, and a client certificate: PEM file paths."""
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    directory = tmp_path_factory.mktemp("pki")
    now = datetime.datetime.now(datetime.UTC)

    def name(common_name):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])

    def issue(subject, key, issuer, issuer_key, *, ca=False, san=None):
        builder = (
            x509.CertificateBuilder()
            .subject_name(name(subject))
            .issuer_name(name(issuer))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if ca:
            builder = builder.add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
            ).add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        else:
            builder = builder.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
        if san:
            import ipaddress

            builder = builder.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(san))]), critical=False)
        return builder.sign(issuer_key, hashes.SHA256())

    def write(stem, cert, key):
        (directory / f"{stem}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        (directory / f"{stem}.key").write_bytes(
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        )
        return str(directory / f"{stem}.pem"), str(directory / f"{stem}.key")

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = issue("Test CA", ca_key, "Test CA", ca_key, ca=True)
    server_key = ec.generate_private_key(ec.SECP256R1())
    client_key = ec.generate_private_key(ec.SECP256R1())
    return {
        "ca": write("ca", ca, ca_key),
        "server": write("server", issue("127.0.0.1", server_key, "Test CA", ca_key, san="127.0.0.1"), server_key),
        "client": write("client", issue("CP-1", client_key, "Test CA", ca_key), client_key),
    }


async def test_a_wss_connection_trusts_the_given_ca_and_presents_the_client_certificate(certificates):
    ca_file, _ = certificates["ca"]
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=ca_file)
    server_tls.load_cert_chain(*certificates["server"])
    server_tls.verify_mode = ssl.CERT_REQUIRED
    peers = []

    async def handler(ws):
        peers.append(ws.transport.get_extra_info("ssl_object").getpeercert()["subject"])
        await ws.wait_closed()

    async with serve(handler, "127.0.0.1", 0, ssl=server_tls, subprotocols=["ocpp1.6"]) as server:
        url = f"wss://127.0.0.1:{server.sockets[0].getsockname()[1]}/ocpp/CP-1"
        tls = ssl_context(ca_file=ca_file, client_cert=certificates["client"][0], client_key=certificates["client"][1])
        link = await Link.open(url, subprotocol="ocpp1.6", adapter_factory=lambda ws: _Idle(ws), tls=tls)
        await link.close()
        with pytest.raises(ssl.SSLCertVerificationError):  # the system's CAs do not know the throwaway one
            await Link.open(url, subprotocol="ocpp1.6", adapter_factory=lambda ws: _Idle(ws), tls=ssl_context())
    assert peers == [((("commonName", "CP-1"),),)]


def test_a_client_key_without_its_certificate_is_an_error():
    with pytest.raises(ValueError):
        ssl_context(client_key="key.pem")


class _Idle:
    """An adapter that only waits: the TLS test needs a socket, not OCPP."""

    id = "CP-1"

    def __init__(self, ws):
        self.ws = ws

    async def start(self):
        await self.ws.wait_closed()
