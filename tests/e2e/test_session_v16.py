"""A whole OCPP 1.6 charging session against a real daphne process, driven by the `ocpp` library's client.

The client is the mobilityhouse `ocpp` ChargePoint over a `websockets`
connection: an independent implementation of OCPP-J, so these tests check
what a real charge point would see, not what our own code expects.
"""

import asyncio
import http.cookiejar
import json
import re
import urllib.parse
import urllib.request
from datetime import UTC, datetime

import pytest
import websockets
from ocpp.v16 import ChargePoint as OcppClient
from ocpp.v16 import call
from ocpp.v16.enums import AuthorizationStatus, ChargePointErrorCode, ChargePointStatus, RegistrationStatus

from chargepoints import security
from tests.e2e.deployment import Database, auth_headers, charge_point_password

pytestmark = pytest.mark.e2e


def iso(minute: int) -> str:
    return datetime(2026, 11, 22, 10, minute, tzinfo=UTC).isoformat()


async def drive_session(url: str) -> int:
    """Boot, report status, authorize, start, send meter values, stop; returns the transaction id."""
    async with websockets.connect(url, subprotocols=["ocpp1.6"], additional_headers=auth_headers(url)) as ws:
        assert ws.subprotocol == "ocpp1.6"
        cp = OcppClient("E2E*CP:1", ws)
        listener = asyncio.create_task(cp.start())
        try:
            boot = await cp.call(call.BootNotification(charge_point_vendor="Acme", charge_point_model="E2E", firmware_version="9.9"))
            assert boot.status == RegistrationStatus.accepted
            assert boot.interval > 0
            await cp.call(call.Heartbeat())
            for connector in (0, 1):
                await cp.call(
                    call.StatusNotification(
                        connector_id=connector, error_code=ChargePointErrorCode.no_error, status=ChargePointStatus.available
                    )
                )
            auth = await cp.call(call.Authorize(id_tag="E2E-CARD"))
            assert auth.id_tag_info["status"] == AuthorizationStatus.accepted
            await cp.call(
                call.StatusNotification(connector_id=1, error_code=ChargePointErrorCode.no_error, status=ChargePointStatus.preparing)
            )
            start = await cp.call(call.StartTransaction(connector_id=1, id_tag="E2E-CARD", meter_start=10_000, timestamp=iso(0)))
            assert start.id_tag_info["status"] == AuthorizationStatus.accepted
            tx_id = start.transaction_id
            await cp.call(
                call.StatusNotification(connector_id=1, error_code=ChargePointErrorCode.no_error, status=ChargePointStatus.charging)
            )
            for minute, wh in ((1, 10_150), (2, 10_300), (3, 10_450)):
                await cp.call(
                    call.MeterValues(
                        connector_id=1,
                        transaction_id=tx_id,
                        meter_value=[
                            {
                                "timestamp": iso(minute),
                                "sampledValue": [
                                    {"value": str(wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
                                    {"value": "9000", "measurand": "Power.Active.Import", "unit": "W"},
                                ],
                            }
                        ],
                    )
                )
            stop = await cp.call(
                call.StopTransaction(meter_stop=10_500, timestamp=iso(4), transaction_id=tx_id, reason="EVDisconnected", id_tag="E2E-CARD")
            )
            assert stop.id_tag_info["status"] == AuthorizationStatus.accepted
            await cp.call(
                call.StatusNotification(connector_id=1, error_code=ChargePointErrorCode.no_error, status=ChargePointStatus.available)
            )
        finally:
            listener.cancel()
    return tx_id


def test_a_charge_point_completes_a_session_visible_in_api_and_admin(deployment, server):
    status, _ = deployment.api("POST", "/api/v1/chargepoints/", {"id": "E2E*CP:1", "description": "bay 1"})
    assert status == 201
    # The deployment gave it the password its client sends (security profile 1).
    hashed = Database(deployment.env["DATABASE_URL"]).value("SELECT password_hash FROM chargepoints_chargepoint WHERE id = %s", "E2E*CP:1")
    assert security.password_matches(charge_point_password("E2E*CP:1"), hashed)
    status, _ = deployment.api("POST", "/api/v1/id-tags/", {"id_tag": "E2E-CARD", "status": "Accepted"})
    assert status == 201

    tx_id = asyncio.run(drive_session(server.ws("/ocpp/E2E%2ACP%3A1")))

    status, page = deployment.api("GET", "/api/v1/transactions/?charge_point=E2E*CP:1")
    assert status == 200
    [tx] = page["results"]
    assert tx["id"] == tx_id
    assert tx["energy_wh"] == 500
    assert tx["status"] == "completed"
    assert tx["stop_reason"] == "EVDisconnected"

    status, detail = deployment.api("GET", f"/api/v1/transactions/{tx_id}/")
    assert status == 200
    energies = [mv["value"] for mv in detail["meter_values"] if mv["measurand"] == "Energy.Active.Import.Register"]
    assert energies == ["10150", "10300", "10450"]
    assert len(detail["meter_values"]) == 6

    status, cp = deployment.api("GET", "/api/v1/chargepoints/" + urllib.parse.quote("E2E*CP:1") + "/")
    assert status == 200
    assert cp["vendor"] == "Acme" and cp["firmware_version"] == "9.9"
    assert {c["connector_id"]: c["status"] for c in cp["connectors"]} == {0: "Available", 1: "Available"}

    # The operator sees the same transaction, with its energy in kWh, in the admin.
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    login_page = opener.open(server.http + "/admin/login/").read().decode()
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login_page).group(1)
    form = urllib.parse.urlencode(
        {"username": "admin", "password": "e2e-admin-pw", "csrfmiddlewaretoken": csrf, "next": "/admin/"}
    ).encode()
    opener.open(urllib.request.Request(server.http + "/admin/login/", data=form, headers={"Referer": server.http + "/admin/login/"}))
    changelist = opener.open(server.http + "/admin/transactions/transaction/").read().decode()
    assert "E2E*CP:1" in changelist
    assert "0.500" in changelist
    detail_page = opener.open(server.http + f"/admin/transactions/transaction/{tx_id}/change/").read().decode()
    assert "10450" in detail_page


async def bad_frames(url: str) -> list:
    replies = []
    async with websockets.connect(url, subprotocols=["ocpp1.6"], additional_headers=auth_headers(url)) as ws:
        for frame in [
            "definitely not json",
            json.dumps([2, "a" * 37, "Heartbeat", {}]),
            json.dumps([2, "m1", "Teleport", {}]),
            json.dumps([2, "m2", "BootNotification", {"chargePointVendor": "X"}]),
            json.dumps([2, "m3", "StartTransaction", {"connectorId": "one", "idTag": "A", "meterStart": 0, "timestamp": iso(0)}]),
            json.dumps([2, "m4", "Heartbeat", {}]),
        ]:
            await ws.send(frame)
            replies.append(json.loads(await asyncio.wait_for(ws.recv(), 10)))
    return replies


def test_bad_frames_get_callerrors_and_the_socket_stays_up(deployment, server):
    assert deployment.api("POST", "/api/v1/chargepoints/", {"id": "BAD-1"})[0] == 201
    replies = asyncio.run(bad_frames(server.ws("/ocpp/BAD-1")))
    assert [r[0] for r in replies] == [4, 4, 4, 4, 4, 3]
    assert [r[2] for r in replies[:5]] == [
        "FormationViolation",
        "FormationViolation",
        "NotImplemented",
        "OccurenceConstraintViolation",
        "TypeConstraintViolation",
    ]
    assert replies[1][1] == "a" * 37
    assert "currentTime" in replies[5][2]


async def rejected(url: str, subprotocols) -> int:
    try:
        async with websockets.connect(url, subprotocols=subprotocols, additional_headers=auth_headers(url)):
            return 101
    except websockets.InvalidStatus as error:
        return error.response.status_code


def test_unknown_charge_points_and_bad_identities_are_refused_before_the_upgrade(deployment, server):
    assert asyncio.run(rejected(server.ws("/ocpp/NOT-REGISTERED"), ["ocpp1.6"])) == 403
    assert asyncio.run(rejected(server.ws("/ocpp/" + "x" * 49), ["ocpp1.6"])) == 403
    assert deployment.api("POST", "/api/v1/chargepoints/", {"id": "SUB-1"})[0] == 201
    assert asyncio.run(rejected(server.ws("/ocpp/SUB-1"), ["ocpp0.9"])) == 403
