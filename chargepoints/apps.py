import logging

from django.apps import AppConfig
from django.conf import settings


class ChargepointsConfig(AppConfig):
    name = "chargepoints"
    verbose_name = "Charge points"

    def ready(self):
        from . import dbprogress

        dbprogress.install()
        if settings.OCPP_SECURITY_PROFILE == 0:
            logging.getLogger("csms.ocpp").warning(
                "OCPP_SECURITY_PROFILE=none: charge points connect without authentication. For labs only: any "
                "connection naming a registered identity is served, and may take over its session."
            )
