"""The OCPP consumer over Channels' WebsocketCommunicator: connection rules and frame handling."""

import pytest

from chargepoints.models import ChargePoint

pytestmark = pytest.mark.django_db(transaction=True)


async def test_it_accepts_a_registered_charge_point_and_echoes_ocpp16(charge_point, ocpp_connect):
    client, accepted, subprotocol = await ocpp_connect("/ocpp/CP-1")
    assert accepted
    assert subprotocol == "ocpp1.6"
    reply = await client.call("Heartbeat", {})
    assert reply[0] == 3 and "currentTime" in reply[2]
    cp = await ChargePoint.objects.aget(pk="CP-1")
    assert cp.connected and cp.ocpp_version == "1.6"
