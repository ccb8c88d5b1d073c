"""manage.py ocpp_mqtt: serve charge points connected to an EMQX OCPP gateway (chargepoints/mqtt/backend.py).

    MQTT_URL=mqtt://csms:secret@broker:1883 manage.py ocpp_mqtt

Run as many as the load needs: they share the upstream topics through the
shared subscription $share/MQTT_SHARE_GROUP/…, and each one's share goes to
the others when it stops or dies. Needs REDIS_URL for commands from the API
to reach it when the API runs in another process (the channel layer).
SIGTERM or Ctrl-C: the charge points it holds are marked offline, then it exits.
"""

import asyncio
import signal

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from chargepoints.mqtt.backend import Backend


class Command(BaseCommand):
    help = "Serve OCPP charge points behind an EMQX OCPP gateway: answer upstream MQTT messages and send commands downstream."

    def add_arguments(self, parser):
        parser.add_argument("--mqtt-url", default=None, help="broker URL (default: MQTT_URL)")
        parser.add_argument("--group", default=None, help="shared-subscription group (default: MQTT_SHARE_GROUP)")

    def handle(self, *args, mqtt_url, group, **options):
        url = mqtt_url or settings.MQTT_URL
        if not url:
            raise CommandError("no broker: set MQTT_URL or pass --mqtt-url")
        asyncio.run(self._serve(Backend(url=url, group=group)))

    async def _serve(self, backend: Backend) -> None:
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, task.cancel)
        try:
            await backend.run()
        except asyncio.CancelledError:
            pass
