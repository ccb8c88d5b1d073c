"""manage.py ca_load --cert CHAIN.pem --key KEY.pem [--force]: use an external CA as the charge point CA."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from chargepoints import pki


class Command(BaseCommand):
    help = (
        "Use an existing CA (e.g. a sub-CA of the operator's PKI) as the charge point CA. --cert: PEM certificates, "
        "the signing CA first, then the ones above it up to the root; --key: the signing CA's private key (PEM). "
        "Checked before anything is written: the first certificate is a CA that may sign certificates, the key is "
        "its key, each certificate is issued by the next. Copied to OCPP_CHARGE_POINT_CA_CERT and "
        "OCPP_CHARGE_POINT_CA_KEY (0600); existing files are kept unless --force."
    )

    def add_arguments(self, parser):
        parser.add_argument("--cert", required=True, help="PEM file: the signing CA certificate, then its chain")
        parser.add_argument("--key", required=True, help="PEM file: the signing CA's private key (unencrypted, or see --password)")
        parser.add_argument("--password", default=None, help="passphrase of an encrypted key (it is stored decrypted, 0600)")
        parser.add_argument("--force", action="store_true", help="replace an existing CA")

    def handle(self, *args, cert, key, password, force, **options):
        try:
            ca = pki.ca_from_pem(Path(cert).read_bytes(), Path(key).read_bytes(), password.encode() if password else None)
            written = pki.ca_install(ca, force=force)
        except OSError as error:
            raise CommandError(f"cannot read {error.filename}: {error.strerror}") from None
        except pki.PkiError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(f"Charge point CA {pki.subject_text(ca.certificate)}, valid until {ca.certificate.not_valid_after_utc:%Y-%m-%d}")
        for path in written:
            self.stdout.write(f"  wrote {path}")
