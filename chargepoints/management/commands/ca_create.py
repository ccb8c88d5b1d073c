"""manage.py ca_create [--organization O] [--root-only] [--force]: create the charge point CA (chargepoints.pki)."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from chargepoints import pki


class Command(BaseCommand):
    help = (
        "Create the charge point CA that signs charge points' certificates (SignCertificate) and against which "
        "profile 3 client certificates are checked: an EC P-256 root and an intermediate that signs. Writes "
        "OCPP_CHARGE_POINT_CA_CERT (intermediate, then root), OCPP_CHARGE_POINT_CA_KEY (the intermediate's key, 0600) "
        f"and the root's key beside them ({pki.ROOT_KEY_NAME}, 0600; keep it offline). --root-only makes one "
        "self-signed CA instead. Existing files are kept unless --force."
    )

    def add_arguments(self, parser):
        parser.add_argument("--organization", default=settings.OCPP_CERTIFICATE_ORGANIZATION, help="O of the CA's subject")
        parser.add_argument("--common-name", default="Charge point CA", help="CN of the CA's subject")
        parser.add_argument("--root-only", action="store_true", help="one self-signed CA, no intermediate")
        parser.add_argument("--force", action="store_true", help="replace an existing CA (charge points' certificates then stop verifying)")

    def handle(self, *args, organization, common_name, root_only, force, **options):
        try:
            written = pki.ca_create(organization=organization, common_name=common_name, root_only=root_only, force=force)
        except pki.PkiError as error:
            raise CommandError(str(error)) from None
        ca = pki.ca_load_configured()
        self.stdout.write(f"Charge point CA {pki.subject_text(ca.certificate)}, valid until {ca.certificate.not_valid_after_utc:%Y-%m-%d}")
        for path in written:
            self.stdout.write(f"  wrote {path}")
        if not root_only:
            self.stdout.write(f"Move {written[-1]} offline: it is only needed to make a new intermediate.")
