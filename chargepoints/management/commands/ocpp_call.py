"""manage.py ocpp_call: send one OCPP message, or one version-neutral operation, to a charge point.

manage.py ocpp_call CP-1 Reset '{"type": "Soft"}'             a message of the charge point's version
manage.py ocpp_call CP-1 --operation reset '{"type": "hard"}'  an operation of `chargepoints.operations`
"""

import json

from django.core.management.base import BaseCommand, CommandError

from chargepoints import commands, operations
from chargepoints.models import CommandSource


class Command(BaseCommand):
    help = (
        "Send an OCPP central-system message, or a version-neutral operation (--operation), to a connected "
        "charge point and print its answer as JSON. Works from any process: the command reaches the charge "
        "point through the channel layer. Operations: " + ", ".join(operations.OPERATIONS) + "."
    )

    def add_arguments(self, parser):
        parser.add_argument("charge_point_id", help="OCPP identity of the charge point")
        parser.add_argument("action", help="e.g. Reset, GetConfiguration; with --operation: reset, start-charging …")
        parser.add_argument("payload", nargs="?", default="{}", help="JSON object: the message's payload or the operation's arguments")
        parser.add_argument(
            "--operation",
            action="store_true",
            help="ACTION names a version-neutral operation; PAYLOAD holds its snake_case arguments",
        )
        parser.add_argument("--timeout", type=float, default=None, help="seconds to wait for the answer")

    def handle(self, *args, charge_point_id, action, payload, operation, timeout, **options):
        try:
            body = json.loads(payload)
        except ValueError as exc:
            raise CommandError(f"payload is not valid JSON: {exc}") from None
        if not isinstance(body, dict):
            raise CommandError("payload must be a JSON object")
        try:
            if operation:
                result = operations.operation_run(
                    charge_point_id=charge_point_id, name=action, arguments=body, source=CommandSource.CLI, timeout=timeout
                )
            else:
                result = commands.call(charge_point_id, action, body, timeout=timeout, source=CommandSource.CLI)
        except commands.CommandError as error:
            extra = f" {json.dumps(error.details, default=str)}" if error.details else ""
            raise CommandError(f"{error.message}{extra}") from None
        output = result.response if not operation else {"action": result.action, "response": result.response, **result.extra}
        self.stdout.write(json.dumps(output, indent=2, default=str))
