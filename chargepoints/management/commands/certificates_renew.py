"""manage.py certificates_renew: ask charge points whose certificate ends soon for a new CSR (run it from cron)."""

from django.conf import settings
from django.core.management.base import BaseCommand

from chargepoints import certificates


class Command(BaseCommand):
    help = (
        "Ask every charge point whose newest certificate from this CSMS's CA ends within OCPP_CERTIFICATE_RENEWAL_DAYS "
        "for a new CSR: 2.0.1 TriggerMessage SignChargingStationCertificate, 1.6 ExtendedTriggerMessage "
        "SignChargePointCertificate. The CSR that follows is signed as any SignCertificate. A charge point asked "
        "in the last OCPP_CERTIFICATE_RENEWAL_RETRY_HOURS is left alone; an offline one is asked at its next boot. "
        "Prints one line per charge point due. Meant for cron, e.g. daily."
    )

    def add_arguments(self, parser):
        parser.add_argument("--timeout", type=float, default=None, help="seconds to wait for each answer (OCPP_COMMAND_TIMEOUT)")

    def handle(self, *args, timeout, **options):
        renewals = certificates.renewals_request(timeout=timeout)
        for renewal in renewals:
            self.stdout.write(
                f"{renewal.charge_point_id} (OCPP {renewal.version}): certificate ends {renewal.not_after:%Y-%m-%d %H:%M}Z; {renewal.outcome}"
            )
        self.stdout.write(f"{len(renewals)} charge point(s) due for renewal within {settings.OCPP_CERTIFICATE_RENEWAL_DAYS} days.")
