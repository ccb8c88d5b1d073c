"""Charge point authentication over real sockets (security profile 1, the default): both versions, a live session each.

A connection with no, a wrong or another station's credentials, or for an
unknown identity, is refused at the handshake with one and the same answer,
and the live session of the identity it names goes on untouched. A password
rotation through the REST API reaches the product simulator, which
reconnects with the new password; from then on the old one is refused.
"""

from __future__ import annotations

import asyncio
import base64
import json

import pytest
import websockets
from websockets.exceptions import InvalidStatus

from tests.e2e.deployment import auth_headers
from tests.e2e.stations import ready, simulated
from tests.waiting import eventually

pytestmark = pytest.mark.e2e

LIVE = {"AUTH-CP-16": "ocpp1.6", "AUTH-CP-201": "ocpp2.0.1"}
BOOT = {
    "ocpp1.6": {"chargePointVendor": "Acme", "chargePointModel": "Fast-1"},
    "ocpp2.0.1": {"reason": "PowerUp", "chargingStation": {"vendorName": "Acme", "model": "Fast-2"}},
}
OTHER = "AUTH-CP-OTHER"
ROTATED = {"AUTH-SIM-16": "1.6", "AUTH-SIM-201": "2.0.1"}


@pytest.fixture(scope="module", autouse=True)
def registered(csms):
    for charge_point_id in [*LIVE, OTHER, *ROTATED]:
        status, body = csms.api("POST", "/api/v1/chargepoints/", {"id": charge_point_id})
        assert status == 201, body


def basic(username: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()}


async def attempt(url: str, subprotocol: str, headers: dict | None) -> tuple[int, bytes]:
    """(101, b"") when the handshake succeeds and a Heartbeat is answered; else the refusal's (HTTP status, body)."""
    try:
        async with websockets.connect(url, subprotocols=[subprotocol], additional_headers=headers, open_timeout=10) as ws:
            await ws.send('[2,"hb","Heartbeat",{}]')
            reply = await asyncio.wait_for(ws.recv(), 10)
            assert reply.startswith('[3,"hb"'), reply
            return 101, b""
    except InvalidStatus as refused:
        return refused.response.status_code, bytes(refused.response.body)


@pytest.mark.parametrize("charge_point_id, subprotocol", LIVE.items())
def test_no_wrong_or_another_stations_credentials_never_reach_the_ocpp_layer_of_an_online_identity(
    csms, database, charge_point_id, subprotocol
):
    url = csms.servers[0].ws(f"/ocpp/{charge_point_id}")
    password = auth_headers(url)
    other_password = auth_headers(csms.servers[0].ws(f"/ocpp/{OTHER}"))["Authorization"]
    _, other_secret = base64.b64decode(other_password.removeprefix("Basic ")).decode().split(":", 1)
    tries = {
        "no header": None,
        "wrong password": basic(charge_point_id, "0" * 40),
        "another station's password": basic(charge_point_id, other_secret),
        "another station's credentials": basic(OTHER, other_secret),
        "not Basic": {"Authorization": "Bearer " + "0" * 40},
    }

    async def scenario():
        async with websockets.connect(url, subprotocols=[subprotocol], additional_headers=password) as live:
            await live.send(json.dumps([2, "boot", "BootNotification", BOOT[subprotocol]]))
            assert json.loads(await asyncio.wait_for(live.recv(), 10))[2]["status"] == "Accepted"
            session = database.value("SELECT session_id FROM chargepoints_chargepoint WHERE id = %s", charge_point_id)
            answers = {name: await attempt(url, subprotocol, headers) for name, headers in tries.items()}
            answers["unknown identity"] = await attempt(
                csms.servers[0].ws("/ocpp/AUTH-NOBODY"), subprotocol, basic("AUTH-NOBODY", other_secret)
            )
            await live.send('[2,"live","Heartbeat",{}]')
            reply = await asyncio.wait_for(live.recv(), 10)
            connected = database.value("SELECT connected FROM chargepoints_chargepoint WHERE id = %s", charge_point_id)
            return session, answers, reply, connected

    session, answers, reply, connected = asyncio.run(scenario())

    # One answer for all: nothing tells a registered identity from an unknown one, or a wrong password from none.
    assert len(set(answers.values())) == 1, answers
    assert next(iter(answers.values()))[0] == 403
    assert reply.startswith('[3,"live"')
    assert database.value("SELECT session_id FROM chargepoints_chargepoint WHERE id = %s", charge_point_id) == session
    assert connected in (True, 1)


def test_a_password_rotated_through_the_api_is_taken_by_the_simulator_and_the_old_one_is_refused(csms, database):
    with simulated(csms.servers[0].ws("/ocpp/"), ROTATED) as sim:
        for station_id in ROTATED:
            ready(sim, station_id)
        hashes = {s: database.value("SELECT password_hash FROM chargepoints_chargepoint WHERE id = %s", s) for s in ROTATED}
        new_passwords = {}
        for station_id in ROTATED:
            status, body = csms.api("POST", f"/api/v1/chargepoints/{station_id}/operations/change-password/", {})
            assert status == 200 and body["status"] == "Accepted", body
            new_passwords[station_id] = body["details"]["password"]

        def rotated(station_id):
            password_hash, pending, connected = database.rows(
                "SELECT password_hash, pending_password_hash, connected FROM chargepoints_chargepoint WHERE id = %s", station_id
            )[0]
            return password_hash != hashes[station_id] and pending == "" and connected in (True, 1)

        for station_id in ROTATED:
            # The station accepted, closed its connection and came back with the new password, which became its password.
            eventually(lambda s=station_id: rotated(s), timeout=20)
            ready(sim, station_id)

        for station_id, version in ROTATED.items():
            subprotocol = "ocpp1.6" if version == "1.6" else "ocpp2.0.1"
            url = csms.servers[0].ws(f"/ocpp/{station_id}")
            old = asyncio.run(attempt(url, subprotocol, auth_headers(url)))
            assert old[0] == 403, f"{station_id}: the old password still opens it"
            assert new_passwords[station_id] not in str(
                database.rows("SELECT payload, response FROM chargepoints_command WHERE charge_point_id = %s", station_id)
            )
