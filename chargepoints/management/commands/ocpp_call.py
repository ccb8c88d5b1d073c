"""manage.py ocpp_call <charge point id> <Action> '<json payload>' — send one OCPP command, print the answer."""

import json

from django.core.management.base import BaseCommand, CommandError

from chargepoints import commands
from chargepoints.models import CommandSource


class Command(BaseCommand):
    help = (
        "Send an OCPP central-system operation to a connected charge point and print its answer as JSON. "
        "Works from any process: the command reaches the charge point through the channel layer."
    )

    def add_arguments(self, parser):
        parser.add_argument("charge_point_id", help="OCPP identity of the charge point")
        parser.add_argument("action", help="e.g. Reset, GetConfiguration, RemoteStartTransaction")
        parser.add_argument("payload", nargs="?", default="{}", help="JSON object, camelCase or snake_case (default {})")
        parser.add_argument("--timeout", type=float, default=None, help="seconds to wait for the answer")

    def handle(self, *args, charge_point_id, action, payload, timeout, **options):
        try:
            body = json.loads(payload)
        except ValueError as exc:
            raise CommandError(f"payload is not valid JSON: {exc}") from None
        if not isinstance(body, dict):
            raise CommandError("payload must be a JSON object")
        try:
            result = commands.call(charge_point_id, action, body, timeout=timeout, source=CommandSource.CLI)
        except commands.CommandError as error:
            extra = f" {json.dumps(error.details)}" if error.details else ""
            raise CommandError(f"{error.message}{extra}") from None
        self.stdout.write(json.dumps(result.response, indent=2))
