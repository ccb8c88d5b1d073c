"""manage.py demo_setup — demo data in the configured database, created once however often it runs.

- a superuser "admin" (a random password, printed when the user is created;
  --password sets it, also on an existing user) and its API token;
- id tags DEMO-TAG-1 … DEMO-TAG-5 (Accepted);
- charge points DEMO-CP-1 (OCPP 1.6), DEMO-CP-2 (2.0.1), DEMO-CP-3 (1.6),
  each with a Basic-auth password (security profile 1, the default), printed
  once as "id password" lines when set: for a new charge point, one that had
  none, or all of them with --new-charge-point-passwords.

Then, with the server running and those lines in a file:

    manage.py simulate --ids DEMO-CP-1,DEMO-CP-2,DEMO-CP-3 --ocpp 1.6,2.0.1,1.6 --passwords-file FILE

`manage.py demo` does all of it at once (through `demo_data_create`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.core.management.base import BaseCommand
from django.db import transaction

from accounts import services as accounts_services
from chargepoints import services
from chargepoints.models import ChargePoint
from csms import services as csms_services
from transactions import services as tx_services
from transactions.models import IdTag

CHARGE_POINTS = (
    ("DEMO-CP-1", "1.6", "Demo charge point, OCPP 1.6"),
    ("DEMO-CP-2", "2.0.1", "Demo charging station, OCPP 2.0.1"),
    ("DEMO-CP-3", "1.6", "Demo charge point, OCPP 1.6"),
)
ID_TAGS = tuple(f"DEMO-TAG-{n}" for n in range(1, 6))


@dataclass(frozen=True)
class DemoData:
    """What `demo_data_create` left in the database.

    `password` is the admin's password when it was set by this call (a new
    user, or one given), None when an existing user's password was kept.
    `token` is a new API token of the admin, shown once (only its hash is kept).
    `id_tags_created` / `charge_points_created` list only what did not exist yet.
    `charge_point_passwords`: id → Basic-auth password, for the charge points
    given one by this call (their only sight of it; only hashes are kept).
    """

    user: object
    password: str | None
    token: str
    id_tags_created: tuple
    charge_points_created: tuple
    charge_point_passwords: dict = field(default_factory=dict)

    @property
    def username(self) -> str:
        return self.user.get_username()


def demo_data_create(*, username: str = "admin", password: str | None = None, new_charge_point_passwords: bool = False) -> DemoData:
    """Create the demo admin (superuser, API token), id tags and charge points that are missing; atomic.

    An existing user is made an active superuser again; its password is set
    only when `password` is given. A new user gets `password` or a random one.
    A charge point gets a new Basic-auth password when it is created, when it
    has none, or when `new_charge_point_passwords` (`manage.py demo` does so
    on each run, for the simulator it starts: only hashes are kept).
    Safe to call again and from concurrent processes (existing rows are kept).
    """
    with transaction.atomic():
        user, password_shown = csms_services.admin_user_ensure(username=username, password=password)
        _, token = accounts_services.api_token_create(user=user)  # a new one each run: only its hash is kept
        tags = tuple(tag for tag in ID_TAGS if _id_tag(tag))
        charge_points = tuple(cp for cp, version, description in CHARGE_POINTS if _charge_point(cp, version, description))
        passwords = {
            cp: services.charge_point_password_set(charge_point_id=cp)
            for cp, _, _ in CHARGE_POINTS
            if new_charge_point_passwords or cp in charge_points or not _has_password(cp)
        }
    return DemoData(user, password_shown, token, tags, charge_points, passwords)


class Command(BaseCommand):
    help = "Create demo data (admin user, id tags DEMO-TAG-1..5, charge points DEMO-CP-1..3); safe to run again."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin", help="the admin's username (default admin)")
        parser.add_argument("--password", default=None, help="set this password (default: a random one for a new user)")
        parser.add_argument("--base-url", default="http://localhost:8000", help="where the server answers, for the links printed")
        parser.add_argument(
            "--new-charge-point-passwords",
            action="store_true",
            help="give every demo charge point a new Basic-auth password (default: only those that have none)",
        )

    def handle(self, *args, username, password, base_url, new_charge_point_passwords, **options):
        base_url = base_url.rstrip("/")
        data = demo_data_create(username=username, password=password, new_charge_point_passwords=new_charge_point_passwords)

        ws_url = base_url.replace("https://", "wss://").replace("http://", "ws://")
        write = self.stdout.write
        write(self.style.SUCCESS("Demo data ready."))
        write(f"  Admin:        {base_url}/admin/")
        write(f"  Username:     {data.username}")
        if data.password:
            write(f"  Password:     {data.password}   (shown once; --password sets another)")
        else:
            write("  Password:     unchanged (the user existed; --password sets one)")
        if data.token:
            write(f"  API token:    {data.token}   (Authorization: Token …, {base_url}/api/v1/)")
        tags = data.id_tags_created
        write(f"  Id tags:      {', '.join(ID_TAGS)}" + (f" ({len(tags)} created)" if tags else " (existed)"))
        charge_points = data.charge_points_created
        write(
            "  Charge points: "
            + ", ".join(f"{cp} ({version})" for cp, version, _ in CHARGE_POINTS)
            + (f" ({len(charge_points)} registered)" if charge_points else " (existed)")
        )
        if data.charge_point_passwords:
            write("  Charge point passwords (Basic auth, shown once; 'id password', as --passwords-file reads them):")
            for cp, cp_password in data.charge_point_passwords.items():
                write(f"                {cp} {cp_password}")
        else:
            write("  Charge point passwords: unchanged (--new-charge-point-passwords sets new ones)")
        write(f"  OCPP:         {ws_url}/ocpp/<charge point id>")
        write(
            "  Simulate:     manage.py simulate --ids "
            + ",".join(cp for cp, _, _ in CHARGE_POINTS)
            + " --ocpp "
            + ",".join(version for _, version, _ in CHARGE_POINTS)
            + f" --url {ws_url}/ocpp/ --passwords-file FILE   (FILE: the 'id password' lines)"
        )


def _id_tag(id_tag: str) -> bool:
    if IdTag.objects.filter(id_tag=id_tag).exists():
        return False
    try:
        tx_services.id_tag_create(id_tag=id_tag, note="demo")
    except tx_services.IdTagAlreadyExists:
        return False
    return True


def _has_password(charge_point_id: str) -> bool:
    return ChargePoint.objects.filter(pk=charge_point_id).exclude(password_hash="").exists()


def _charge_point(charge_point_id: str, version: str, description: str) -> bool:
    if ChargePoint.objects.filter(pk=charge_point_id).exists():
        return False
    try:
        # The version it will speak; its first connection records the one it really speaks.
        services.charge_point_create(charge_point_id=charge_point_id, description=description, ocpp_version=version)
    except services.ChargePointAlreadyExists:
        return False
    return True
