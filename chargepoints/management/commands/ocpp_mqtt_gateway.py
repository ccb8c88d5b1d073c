"""manage.py ocpp_mqtt_gateway: a development stand-in for EMQX's OCPP gateway (chargepoints/mqtt/gateway.py).

    MQTT_URL=mqtt://127.0.0.1:1883 manage.py ocpp_mqtt_gateway --port 33033
    # charge points: ws://127.0.0.1:33033/ocpp/<id>; the back end: manage.py ocpp_mqtt

Relays charge point WebSockets to the broker with EMQX's topics and
envelope, running no handlers. Basic auth is checked against the CSMS
database unless --no-auth.
"""

import asyncio
import logging

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from chargepoints.mqtt.envelope import Topics
from chargepoints.mqtt.gateway import Gateway


class Command(BaseCommand):
    help = "Accept OCPP charge point WebSockets and relay them over MQTT as EMQX's OCPP gateway does (development and tests)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=33033, help="WebSocket port (EMQX's default: 33033)")
        parser.add_argument("--mqtt-url", default=None, help="broker URL (default: MQTT_URL)")
        parser.add_argument("--no-auth", action="store_true", help="accept charge points without checking Basic auth")

    def handle(self, *args, host, port, mqtt_url, no_auth, **options):
        url = mqtt_url or settings.MQTT_URL
        if not url:
            raise CommandError("no broker: set MQTT_URL or pass --mqtt-url")
        logging.getLogger("csms").info("ocpp_mqtt_gateway: ws://%s:%s/ocpp/<id> → %s", host, port, url)
        gateway = Gateway(host=host, port=port, mqtt_url=url, topics=Topics.from_settings(), authenticate=not no_auth)
        try:
            asyncio.run(gateway.run())
        except KeyboardInterrupt:
            pass
