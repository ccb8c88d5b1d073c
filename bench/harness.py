"""A throwaway CSMS deployment for benchmarks (the mechanics: bench/deployment.py).

    with Deployment(redis_url=..., log=print) as dep:
        dep.setup()                       # database, migrate, admin + API token
        a, b = dep.start_servers(2)       # daphne on free loopback ports, sharing Redis
        status, body = dep.api("POST", "/api/v1/chargepoints/", {"id": "CP-1"}, server=b)

With a Redis URL every server shares the channel layer in Redis under a key
prefix of its own; with `redis_url=None` the one server runs the in-memory
layer, as `make run` does by default. The servers log warnings only, refuse
unknown charge points and die with the benchmark; `close()` (or leaving the
`with` block, also on Ctrl-C) removes everything, the logs too unless
BENCH_KEEP_LOGS is set. Set-up failures raise HarnessError.
"""

from __future__ import annotations

import json
import os
import resource
import uuid

from bench import deployment
from bench.deployment import REPO, Server, delete_redis_keys, free_port, request_json  # noqa: F401  (the benchmarks' imports)

# The benchmarks' name for it: `python -m bench` reports it and exits 1.
HarnessError = deployment.DeploymentError


def configured_redis_url() -> str | None:
    """REDIS_URL from the environment, None when unset: the deployment then runs the in-memory layer."""
    return os.environ.get("REDIS_URL") or None


def check_redis(url: str) -> str:
    """PING Redis at `url` within 3 s; returns its server version. Raises HarnessError when unreachable."""
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
        try:
            client.ping()
            return str(client.info("server").get("redis_version", "?"))
        finally:
            client.close()
    except redis.RedisError as exc:
        raise HarnessError(f"Redis at {url} is unreachable ({exc}); start it or set REDIS_URL") from exc


class Deployment(deployment.Deployment):
    """A deployment as the benchmarks measure it; `log` receives one progress line at a time (print by default).

    Attributes beyond bench/deployment.py's: `layer`, set by scenarios.deployment.
    `security_profile`: the servers' OCPP_SECURITY_PROFILE, "none" or "1"; at
    "1" registered charge points get passwords and must send Basic auth.
    """

    def __init__(self, redis_url: str | None, log=print, *, security_profile: str = "1"):
        if security_profile not in ("none", "1"):
            raise ValueError(f"security profile: none or 1, not {security_profile!r}")
        self.security_profile = security_profile
        super().__init__(
            # Not under "csms": a test run flushing its layer (prefix "csms" by default) deletes "csms*".
            name="bench",
            env={
                # Empty: the in-memory layer, even if a .env file names Redis.
                "REDIS_URL": redis_url or "",
                "DEBUG": "false",
                "OCPP_ALLOW_UNKNOWN_CHARGE_POINTS": "false",
                "OCPP_PROTOCOL_DEBUG": "false",
                # Per-frame INFO lines would cost the servers as much as the work measured.
                "OCPP_LOG_LEVEL": "WARNING",
                "OCPP_SECURITY_PROFILE": security_profile,
            },
            log=log,
            warn=lambda message: log(f"  warning: {message}"),
            # The benchmark starts servers from its main thread only; a run killed
            # by SIGKILL must not leave daphne processes behind.
            die_with_parent=True,
            keep_tmp=bool(os.environ.get("BENCH_KEEP_LOGS")),
        )

    def setup(self) -> None:
        """Create and migrate the database, create the admin "bench" and its API token. Raises HarnessError."""
        super().setup(admin="bench", admin_password=uuid.uuid4().hex)

    def start_servers(self, count: int, timeout_s: float = 30, *, workers: int = 1) -> list[Server]:
        """Start `count` servers of `workers` daphne processes each, healthy when returned.

        Raises HarnessError (more than one process needs Redis).
        """
        if not self.redis_url and (len(self.servers) + count > 1 or workers > 1):
            raise HarnessError("more than one server process needs Redis: set REDIS_URL")
        return super().start_servers(count, timeout_s, workers=workers)

    def register_charge_points(self, ids: list[str]) -> None:
        """Register `ids` as Accepted charge points in one bulk insert (an operator's import, not measured).

        At security profile 1 each gets its `deployment.charge_point_password`
        (services.charge_point_password_set, in the same manage.py run and one
        database transaction). Raises HarnessError when manage.py fails.
        """
        passwords = {i: deployment.charge_point_password(i) for i in ids} if self.security_profile != "none" else {}
        script = (
            "import json, sys\n"
            "from django.db import transaction\n"
            "from chargepoints import services\n"
            "from chargepoints.models import ChargePoint\n"
            "data = json.loads(sys.stdin.read())\n"
            "ChargePoint.objects.bulk_create([ChargePoint(pk=i) for i in data['ids']], batch_size=500)\n"
            "with transaction.atomic():\n"
            "    for i, password in data['passwords'].items():\n"
            "        services.charge_point_password_set(charge_point_id=i, password=password)\n"
        )
        # A password is a salted hash and a row: 50,000 take minutes, past manage()'s default 120 s.
        self.manage("shell", "-c", script, stdin=json.dumps({"ids": ids, "passwords": passwords}), timeout=120 + len(ids) / 50)

    def query(self, expression: str):
        """Evaluate a Python `expression` in `manage.py shell` against the deployment's database; returns its JSON value.

        The expression may use the models of both apps under their names
        (ChargePoint, Command, MeterValue, Transaction, …). Raises HarnessError.
        """
        script = f"import json\nfrom chargepoints.models import *\nfrom transactions.models import *\nprint(json.dumps({expression}))\n"
        return json.loads(self.manage("shell", "-c", script).strip().splitlines()[-1])


def raise_open_file_limit() -> int:
    """Raise this process's soft RLIMIT_NOFILE to its hard limit; returns the soft limit now in force (descriptors).

    The same as csms.serve's: the bench imports nothing of the server (tests/test_tools.py).
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft
