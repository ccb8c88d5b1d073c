"""manage.py ocpp_call: send one OCPP message, or one version-neutral operation, to a charge point.

manage.py ocpp_call --user alice CP-1 Reset '{"type": "Soft"}'             a message of the charge point's version
manage.py ocpp_call --user alice CP-1 --operation reset '{"type": "hard"}'  an operation of `chargepoints.operations`

`--user` names who sends it: an active user with `chargepoints.send_command`,
recorded on the command log like an operator in the admin. Whoever runs
manage.py holds the database credentials and could pass any name, so this is
accountability and a guard against mistakes, not a security boundary: shell
access to the server is root-equivalent (README, "Permissions").
"""

import json

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from chargepoints import commands, operations
from chargepoints.models import CommandSource
from chargepoints.permissions import SEND_COMMAND, can_send_commands


class Command(BaseCommand):
    help = (
        "Send an OCPP central-system message, or a version-neutral operation (--operation), to a connected "
        "charge point and print its answer as JSON. Works from any process: the command reaches the charge "
        "point through the channel layer. Operations: " + ", ".join(operations.OPERATIONS) + "."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--user", required=True, help="username of who sends it: an active user with the chargepoints.send_command permission"
        )
        parser.add_argument("charge_point_id", help="OCPP identity of the charge point")
        parser.add_argument("action", help="e.g. Reset, GetConfiguration; with --operation: reset, start-charging …")
        parser.add_argument("payload", nargs="?", default="{}", help="JSON object: the message's payload or the operation's arguments")
        parser.add_argument(
            "--operation",
            action="store_true",
            help="ACTION names a version-neutral operation; PAYLOAD holds its snake_case arguments",
        )
        parser.add_argument("--timeout", type=float, default=None, help="seconds to wait for the answer")

    def handle(self, *args, charge_point_id, action, payload, operation, timeout, user, **options):
        user = self._sender(user)
        try:
            body = json.loads(payload)
        except ValueError as exc:
            raise CommandError(f"payload is not valid JSON: {exc}") from None
        if not isinstance(body, dict):
            raise CommandError("payload must be a JSON object")
        try:
            if operation:
                result = operations.operation_run(
                    charge_point_id=charge_point_id, name=action, arguments=body, source=CommandSource.CLI, user=user, timeout=timeout
                )
            else:
                result = commands.call(charge_point_id, action, body, timeout=timeout, source=CommandSource.CLI, user=user)
        except commands.CommandError as error:
            extra = f" {json.dumps(error.details, default=str)}" if error.details else ""
            raise CommandError(f"{error.message}{extra}") from None
        output = result.response if not operation else {"action": result.action, "response": result.response, **result.extra}
        self.stdout.write(json.dumps(output, indent=2, default=str))

    @staticmethod
    def _sender(username: str):
        """The user `username` if it may send commands; CommandError (nothing sent) otherwise."""
        User = get_user_model()
        user = User.objects.filter(**{User.USERNAME_FIELD: username}).first()
        if user is None:
            raise CommandError(f"--user: no user {username!r}")
        if not can_send_commands(user):
            raise CommandError(f"--user: {username!r} is inactive or lacks the {SEND_COMMAND} permission; nothing was sent")
        return user
