"""An OCPP 2.0.1 charging session against a real daphne process, side by side with a 1.6 one.

The 2.0.1 station is the mobilityhouse `ocpp` library's v201 ChargePoint over
a `websockets` connection: it validates every answer against the official
2.0.1 schemas itself, so these tests check what a real station would see.
"""

import asyncio
import urllib.parse
from datetime import UTC, datetime

import pytest
import websockets
from ocpp.v201 import ChargePoint as StationClient
from ocpp.v201 import call
from ocpp.v201.enums import (
    AuthorizationStatusEnumType,
    BootReasonEnumType,
    ChargingStateEnumType,
    ConnectorStatusEnumType,
    IdTokenEnumType,
    ReadingContextEnumType,
    ReasonEnumType,
    RegistrationStatusEnumType,
    TransactionEventEnumType,
    TriggerReasonEnumType,
)

from .deployment import auth_headers
from .test_session_v16 import drive_session

pytestmark = pytest.mark.e2e

STATION = "E2E*CS:201"
TOKEN = {"id_token": "E2E-TOKEN-201", "type": IdTokenEnumType.iso14443}
TX_ID = "2f6c1a8e-3b7d-4c1e-9a55-0e2d4b6f8a10"


def iso(minute: int, second: int = 0) -> str:
    return datetime(2026, 11, 22, 11, minute, second, tzinfo=UTC).isoformat()


def energy(minute: int, value, unit: str = "Wh", context=ReadingContextEnumType.sample_periodic) -> list[dict]:
    return [
        {
            "timestamp": iso(minute),
            "sampled_value": [
                {"value": value, "context": context, "unit_of_measure": {"unit": unit}},
                {
                    "value": 11,
                    "measurand": "Power.Active.Import",
                    "context": context,
                    "unit_of_measure": {"unit": "W", "multiplier": 3},
                },
            ],
        }
    ]


async def drive_session_v201(url: str) -> None:
    """Boot, report status, authorize, a transaction with updates and one retried event, the end."""
    async with websockets.connect(url, subprotocols=["ocpp2.0.1"], additional_headers=auth_headers(url)) as ws:
        assert ws.subprotocol == "ocpp2.0.1"
        cs = StationClient(STATION, ws)
        listener = asyncio.create_task(cs.start())

        async def send(payload, unique_id=None):
            # suppress=False: a CALLERROR fails the test instead of returning None.
            return await cs.call(payload, suppress=False, unique_id=unique_id)

        try:
            boot = await send(
                call.BootNotification(
                    charging_station={
                        "vendor_name": "Acme",
                        "model": "E2E-201",
                        "serial_number": "SN-201",
                        "firmware_version": "3.1.4",
                        "modem": {"iccid": "89310410106543789301", "imsi": "262011234567890"},
                    },
                    reason=BootReasonEnumType.power_up,
                )
            )
            assert boot.status == RegistrationStatusEnumType.accepted
            assert boot.interval > 0
            await send(call.Heartbeat())
            await send(
                call.StatusNotification(timestamp=iso(0), connector_status=ConnectorStatusEnumType.available, evse_id=1, connector_id=1)
            )

            auth = await send(call.Authorize(id_token=TOKEN))
            assert auth.id_token_info["status"] == AuthorizationStatusEnumType.accepted

            await send(
                call.StatusNotification(timestamp=iso(0, 30), connector_status=ConnectorStatusEnumType.occupied, evse_id=1, connector_id=1)
            )
            started = await send(
                call.TransactionEvent(
                    event_type=TransactionEventEnumType.started,
                    timestamp=iso(1),
                    trigger_reason=TriggerReasonEnumType.authorized,
                    seq_no=0,
                    transaction_info={"transaction_id": TX_ID, "charging_state": ChargingStateEnumType.charging},
                    evse={"id": 1, "connector_id": 1},
                    id_token=TOKEN,
                    meter_value=energy(1, 20_000, context=ReadingContextEnumType.transaction_begin),
                )
            )
            assert started.id_token_info["status"] == AuthorizationStatusEnumType.accepted

            for seq_no, (minute, wh) in enumerate([(2, 20_100), (3, 20_250), (4, 20_400)], start=1):
                updated = call.TransactionEvent(
                    event_type=TransactionEventEnumType.updated,
                    timestamp=iso(minute),
                    trigger_reason=TriggerReasonEnumType.meter_value_periodic,
                    seq_no=seq_no,
                    transaction_info={"transaction_id": TX_ID},
                    meter_value=energy(minute, wh),
                )
                answer = await send(updated, unique_id=f"upd-{seq_no}")
                assert answer.id_token_info is None, "no idToken sent, so no idTokenInfo answered"
                if seq_no == 2:
                    # The answer was "lost": the station sends the same event again under a new message id.
                    again = await send(updated, unique_id=f"upd-{seq_no}-retry")
                    assert again.id_token_info is None

            ended = await send(
                call.TransactionEvent(
                    event_type=TransactionEventEnumType.ended,
                    timestamp=iso(5),
                    trigger_reason=TriggerReasonEnumType.stop_authorized,
                    seq_no=4,
                    transaction_info={
                        "transaction_id": TX_ID,
                        "charging_state": ChargingStateEnumType.idle,
                        "stopped_reason": ReasonEnumType.ev_disconnected,
                    },
                    id_token=TOKEN,
                    meter_value=energy(5, 20.6, unit="kWh", context=ReadingContextEnumType.transaction_end),
                )
            )
            assert ended.id_token_info["status"] == AuthorizationStatusEnumType.accepted
            await send(
                call.StatusNotification(timestamp=iso(6), connector_status=ConnectorStatusEnumType.available, evse_id=1, connector_id=1)
            )
        finally:
            listener.cancel()


async def both_sessions(url_16: str, url_201: str) -> int:
    tx_16, _ = await asyncio.gather(drive_session(url_16), drive_session_v201(url_201))
    return tx_16


def test_a_201_station_and_a_16_charge_point_charge_side_by_side_and_share_one_transaction_list(deployment, server):
    for identity in (STATION, "E2E*CP:1"):
        assert deployment.api("POST", "/api/v1/chargepoints/", {"id": identity})[0] == 201
    for token in ("E2E-TOKEN-201", "E2E-CARD"):
        status, body = deployment.api("POST", "/api/v1/id-tags/", {"id_tag": token, "status": "Accepted"})
        assert status == 201, body

    tx_16 = asyncio.run(
        asyncio.wait_for(
            both_sessions(server.ws("/ocpp/1.6/E2E%2ACP%3A1"), server.ws("/ocpp/2.0.1/" + urllib.parse.quote(STATION, safe=""))),
            60,
        )
    )

    status, page = deployment.api("GET", "/api/v1/transactions/")
    assert status == 200
    listed = {tx["charge_point"]: tx for tx in page["results"]}
    assert set(listed) == {STATION, "E2E*CP:1"}, "one transaction each, the retried event opened nothing"
    assert listed["E2E*CP:1"]["id"] == tx_16 and listed["E2E*CP:1"]["energy_wh"] == 500
    tx_201 = listed[STATION]
    assert (tx_201["meter_start_wh"], tx_201["meter_stop_wh"], tx_201["energy_wh"]) == (20_000, 20_600, 600)
    assert (tx_201["status"], tx_201["stop_reason"], tx_201["id_tag"], tx_201["stop_id_tag"]) == (
        "completed",
        "EVDisconnected",
        "E2E-TOKEN-201",
        "E2E-TOKEN-201",
    )
    assert (tx_201["id_tag_status"], tx_201["connector_id"]) == ("Accepted", 1)
    assert tx_201["start_timestamp"].startswith("2026-11-22T11:01:00")
    assert tx_201["stop_timestamp"].startswith("2026-11-22T11:05:00")

    status, detail = deployment.api("GET", f"/api/v1/transactions/{tx_201['id']}/")
    assert status == 200
    energies = [(mv["value"], mv["unit"]) for mv in detail["meter_values"] if mv["measurand"] == "Energy.Active.Import.Register"]
    # The retried event's readings are stored once.
    assert energies == [("20000", "Wh"), ("20100", "Wh"), ("20250", "Wh"), ("20400", "Wh"), ("20.6", "kWh")]
    powers = [mv["value"] for mv in detail["meter_values"] if mv["measurand"] == "Power.Active.Import"]
    assert powers == ["11000"] * 5, "the multiplier is applied"
    assert {mv["evse_id"] for mv in detail["meter_values"]} == {1}
    assert [mv["context"] for mv in detail["meter_values"]][::2] == [
        "Transaction.Begin",
        "Sample.Periodic",
        "Sample.Periodic",
        "Sample.Periodic",
        "Transaction.End",
    ]

    status, station = deployment.api("GET", "/api/v1/chargepoints/" + urllib.parse.quote(STATION, safe="") + "/")
    assert status == 200
    assert (station["ocpp_version"], station["vendor"], station["model"], station["serial_number"]) == (
        "2.0.1",
        "Acme",
        "E2E-201",
        "SN-201",
    )
    assert (station["firmware_version"], station["iccid"], station["imsi"]) == (
        "3.1.4",
        "89310410106543789301",
        "262011234567890",
    )
    assert [(c["connector_id"], c["status"]) for c in station["connectors"]] == [(1, "Available")]
    assert station["last_heartbeat"] is not None
    status, cp_16 = deployment.api("GET", "/api/v1/chargepoints/" + urllib.parse.quote("E2E*CP:1", safe="") + "/")
    assert cp_16["ocpp_version"] == "1.6"


async def unbooted_then_booted(url: str) -> tuple[str, str]:
    """A 2.0.1 station that skips its boot is refused with SecurityError until it boots."""
    async with websockets.connect(url, subprotocols=["ocpp1.6", "ocpp2.0.1"], additional_headers=auth_headers(url)) as ws:
        assert ws.subprotocol == "ocpp2.0.1"
        cs = StationClient("E2E-201-B", ws)
        listener = asyncio.create_task(cs.start())
        try:
            try:
                await cs.call(call.Heartbeat(), suppress=False)
                refused = "answered"
            except Exception as error:  # the library raises the CALLERROR as an OCPPError subclass
                refused = type(error).__name__
            boot = await cs.call(
                call.BootNotification(charging_station={"vendor_name": "Acme", "model": "B"}, reason=BootReasonEnumType.power_up),
                suppress=False,
            )
            await cs.call(call.Heartbeat(), suppress=False)
        finally:
            listener.cancel()
    return refused, boot.status


def test_a_201_station_is_served_only_after_an_accepted_boot(deployment, server):
    assert deployment.api("POST", "/api/v1/chargepoints/", {"id": "E2E-201-B"})[0] == 201
    refused, boot_status = asyncio.run(unbooted_then_booted(server.ws("/ocpp/E2E-201-B")))
    assert refused == "SecurityError"
    assert boot_status == RegistrationStatusEnumType.accepted
