"""Settings of the CSMS, read from the environment (12-factor, django-environ).

Every setting an operator may change is an environment variable, optionally
put in a `.env` file at the repository root. The README's configuration table
lists them. A value that cannot be parsed stops the process at start with an
`ImproperlyConfigured` error naming the variable.
"""

import os
import secrets
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"
ENV_FILE = BASE_DIR / ".env"

env = environ.Env()
if ENV_FILE.exists():
    env.read_env(ENV_FILE)


def _ensure_secret_key() -> str:
    """Return SECRET_KEY from the environment, or generate one into `.env`.

    The key is generated once and persisted so sessions and tokens signed by
    one run stay valid in the next; `.env` is git-ignored, so no key is ever
    committed.
    """
    key = env.str("SECRET_KEY", default="")
    if key:
        return key
    key = secrets.token_urlsafe(50)
    # Owner-only (0600) from the first byte: the key signs sessions and password
    # reset links. An existing `.env` made world-readable by an older version is
    # narrowed too.
    fd = os.open(ENV_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a") as f:
        os.fchmod(f.fileno(), 0o600)
        f.write(f"SECRET_KEY={key}\n")
    return key


def _typed(name: str, cast, default, check=None, must=""):
    """Read variable `name` with `cast`; raise ImproperlyConfigured naming it."""
    try:
        value = cast(name, default=default)
    except (ValueError, TypeError, environ.ImproperlyConfigured) as exc:
        raise ImproperlyConfigured(f"{name}: invalid value {env.str(name, default='')!r} ({exc})") from exc
    if check is not None and not check(value):
        raise ImproperlyConfigured(f"{name}: invalid value {value!r}; {must}")
    return value


def _bool(name: str, default: bool) -> bool:
    raw = env.str(name, default="").strip().lower()
    if raw == "":
        return default
    if raw in {"1", "true", "yes", "on", "y", "t"}:
        return True
    if raw in {"0", "false", "no", "off", "n", "f"}:
        return False
    raise ImproperlyConfigured(f"{name}: invalid value {raw!r}; use true or false")


SECRET_KEY = _ensure_secret_key()
DEBUG = _bool("DEBUG", False)
ALLOWED_HOSTS = _typed("ALLOWED_HOSTS", env.list, ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = _typed("CSRF_TRUSTED_ORIGINS", env.list, [])

# --- HTTPS (README "Deploy behind HTTPS"). All off by default so that `make run`
# works over plain http://localhost; a production deployment sets HTTPS=true,
# which turns every one of them on (each may still be set on its own).
HTTPS = _bool("HTTPS", False)
# Redirect http:// requests for Django's pages (admin, API) to https://. OCPP
# WebSockets and /health are not Django views and are never redirected.
SECURE_SSL_REDIRECT = _bool("SECURE_SSL_REDIRECT", HTTPS)
SESSION_COOKIE_SECURE = _bool("SESSION_COOKIE_SECURE", HTTPS)
CSRF_COOKIE_SECURE = _bool("CSRF_COOKIE_SECURE", HTTPS)
# Strict-Transport-Security: browsers then refuse plain http for this long.
# Start small (e.g. 3600) and raise it to a year (31536000) once HTTPS is known good.
SECURE_HSTS_SECONDS = _typed(
    "SECURE_HSTS_SECONDS", env.int, 31536000 if HTTPS else 0, check=lambda v: v >= 0, must="seconds, 0 (off) or more"
)
SECURE_HSTS_INCLUDE_SUBDOMAINS = _bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = _bool("SECURE_HSTS_PRELOAD", False)
# Opt-in: believe the proxy's X-Forwarded-Proto: https. Only set it when every
# request reaches Django through a proxy that sets (overwrites) that header,
# otherwise any client can claim to be on HTTPS.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if _bool("SECURE_PROXY_SSL_HEADER", False) else None
# Proxies (IP addresses) whose X-Forwarded-For names the client of an HTTP
# request, for the login lockout and the API throttles (csms/clients.py).
# Defaults to OCPP_TRUSTED_PROXIES: usually the same load balancer.
TRUSTED_PROXIES = _typed("TRUSTED_PROXIES", env.list, env.list("OCPP_TRUSTED_PROXIES", default=[]))

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "rest_framework",
    # Only for `manage.py tokens_migrate` and API_LEGACY_TOKENS: tokens of older versions.
    "rest_framework.authtoken",
    "knox",
    "axes",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "chargepoints",
    "transactions",
    "accounts",
    "webhooks",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last: answers 429 to a login from a locked-out address.
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    # First: refuses logins from a locked-out address before a password is checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "csms.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = None
ASGI_APPLICATION = "csms.asgi.application"

# --- Database: a SQLite file under var/ unless DATABASE_URL says otherwise.
VAR_DIR.mkdir(exist_ok=True)
_database_url = env.str("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'csms.sqlite3'}")
_scheme = _database_url.split(":", 1)[0]
if _scheme not in environ.Env.DB_SCHEMES:
    # Name only the scheme: the URL may carry a password.
    raise ImproperlyConfigured(
        f"DATABASE_URL: unsupported scheme {_scheme!r}; expected e.g. postgres://user@host:5432/name or sqlite:////abs/path"
    )
try:
    DATABASES = {"default": env.db_url_config(_database_url)}
except (environ.ImproperlyConfigured, ValueError, KeyError) as exc:
    raise ImproperlyConfigured(f"DATABASE_URL: invalid value ({exc})") from exc
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the admin and API read while the OCPP consumers write; the
    # timeout rides out short write bursts instead of failing with "locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            # A transaction that reads then writes fails at once in WAL mode when
            # another process wrote in between; taking the write lock up front
            # makes it wait for the lock instead.
            "transaction_mode": "IMMEDIATE",
        }
    )
# Keep connections open between requests and OCPP frames. Without it every
# database_sync_to_async call opens a connection and closes it afterwards: a
# round trip to PostgreSQL, and on SQLite a WAL checkpoint each time the last
# connection closes (10-15 ms a frame, the ceiling of a whole process).
DATABASES["default"].setdefault("CONN_MAX_AGE", 60)
DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
# A database that stops answering must not hold the process forever
# (docs/reliability.md): PostgreSQL connections give up connecting after
# DATABASE_CONNECT_TIMEOUT seconds, cancel a statement running past
# DATABASE_STATEMENT_TIMEOUT seconds (0: no limit; raise it for a long
# migration), and notice a dead peer through TCP keepalives and
# tcp_user_timeout (unacknowledged data for that long closes the connection).
DATABASE_CONNECT_TIMEOUT = _typed("DATABASE_CONNECT_TIMEOUT", env.int, 5, check=lambda v: v >= 1, must="seconds, 1 or more")
DATABASE_STATEMENT_TIMEOUT = _typed("DATABASE_STATEMENT_TIMEOUT", env.int, 30, check=lambda v: v >= 0, must="seconds, 0 or more")
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    _pg_options = DATABASES["default"].setdefault("OPTIONS", {})
    _pg_options.setdefault("connect_timeout", DATABASE_CONNECT_TIMEOUT)
    _pg_options.setdefault("keepalives", 1)
    _pg_options.setdefault("keepalives_idle", 10)
    _pg_options.setdefault("keepalives_interval", 5)
    _pg_options.setdefault("keepalives_count", 3)
    _pg_options.setdefault("tcp_user_timeout", 20_000)  # milliseconds
    if DATABASE_STATEMENT_TIMEOUT:
        _pg_options["options"] = f"{_pg_options.get('options', '')} -c statement_timeout={DATABASE_STATEMENT_TIMEOUT * 1000}".strip()

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Channel layer: in-memory in one process, Redis when REDIS_URL is set.
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    if not REDIS_URL.startswith(("redis://", "rediss://", "unix://")):
        raise ImproperlyConfigured(f"REDIS_URL: invalid value {REDIS_URL!r}; expected redis://host:port/db")
    CHANNEL_LAYERS = {
        "default": {
            # channels-redis's layer with a blocking pool and outage handling (csms/channel_layer.py).
            "BACKEND": "csms.channel_layer.RedisChannelLayer",
            "CONFIG": {
                # No socket timeout: channels-redis blocks up to 5 s reading an idle
                # channel, and redis-py's default 5 s timeout would break that read.
                "hosts": [{"address": REDIS_URL, "socket_timeout": None, "socket_connect_timeout": 5}],
                # Connections per process, and seconds a call waits for a free one.
                "max_connections": _typed("REDIS_MAX_CONNECTIONS", env.int, 500, check=lambda v: v >= 10, must="10 or more"),
                "pool_timeout": _typed("REDIS_POOL_TIMEOUT", env.float, 10.0, check=lambda v: v > 0, must="seconds, above 0"),
                "prefix": env.str("REDIS_PREFIX", default="csms"),
                "capacity": 1000,
                "expiry": 60,
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"capacity": 1000}}}

# --- Cache: counters of failed charge point authentications (chargepoints.security),
# shared by every process through Redis when REDIS_URL is set.
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("REDIS_PREFIX", default="csms") + ".cache",
            "OPTIONS": {"socket_timeout": 2, "socket_connect_timeout": 2},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# --- API tokens (accounts/): hashed (SHA-512, django-rest-knox), expiring, revocable one by one.
# Hours a new token lives; 0: tokens never expire.
API_TOKEN_TTL_HOURS = _typed("API_TOKEN_TTL_HOURS", env.float, 24 * 90, check=lambda v: v >= 0, must="hours, 0 (never) or more")
REST_KNOX = {
    "TOKEN_TTL": None,  # accounts.services gives each token its lifetime
    "AUTH_HEADER_PREFIX": "Token",  # the header API clients already send
    "AUTO_REFRESH": False,
}
# Accept the plain-text tokens of older versions (rest_framework.authtoken) for one
# more release; `manage.py tokens_migrate` replaces them by hashed ones.
API_LEGACY_TOKENS = _bool("API_LEGACY_TOKENS", False)


# --- Throttling, counted in the cache (Redis, shared by every process, when REDIS_URL is set).
# Rates are "<n>/<second|minute|hour|day>", or "off".
def _rate(name: str, default: str) -> str | None:
    import re

    raw = env.str(name, default=default).strip().lower()
    if raw in ("off", "none", "0", ""):
        return None
    if not re.fullmatch(r"[1-9][0-9]*/(s|sec|second|m|min|minute|h|hour|d|day)", raw):
        raise ImproperlyConfigured(f"{name}: invalid value {raw!r}; use e.g. 600/minute, or off")
    return raw


API_THROTTLE_RATES = {
    # Requests of each authenticated user, of each anonymous address, and token logins per address.
    "user": _rate("API_THROTTLE_USER", "1200/minute"),
    "anon": _rate("API_THROTTLE_ANON", "60/minute"),
    "login": _rate("API_THROTTLE_LOGIN", "20/minute"),
}
# Wrong API tokens tolerated per address within API_AUTH_FAILURE_WINDOW seconds; past
# them every token from that address gets 429 unchecked until the window ends (0: no limit).
API_AUTH_FAILURES_PER_ADDRESS = _typed("API_AUTH_FAILURES_PER_ADDRESS", env.int, 20, check=lambda v: v >= 0, must="0 (off) or more")
API_AUTH_FAILURE_WINDOW = _typed("API_AUTH_FAILURE_WINDOW", env.int, 300, check=lambda v: v >= 1, must="seconds, 1 or more")

# Login lockout of the admin and of POST /api/v1/auth/login/ (django-axes): after
# LOGIN_FAILURE_LIMIT wrong passwords from one address it refuses every login from
# there (HTTP 429), the right password included, for LOGIN_LOCKOUT_MINUTES.
AXES_ENABLED = _bool("LOGIN_LOCKOUT", True)
AXES_FAILURE_LIMIT = _typed("LOGIN_FAILURE_LIMIT", env.int, 5, check=lambda v: v >= 1, must="1 or more")
AXES_COOLOFF_TIME = _typed("LOGIN_LOCKOUT_MINUTES", env.float, 15.0, check=lambda v: v > 0, must="minutes, above 0") / 60
AXES_LOCKOUT_PARAMETERS = ["ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "accounts.clients.client_address"
# Failures are counted in Redis with REDIS_URL (every process sees them), in the database otherwise.
AXES_HANDLER = "axes.handlers.cache.AxesCacheHandler" if REDIS_URL else "axes.handlers.database.AxesDatabaseHandler"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_THROTTLE_CLASSES": ["accounts.throttling.UserRateThrottle", "accounts.throttling.AnonRateThrottle"],
    # Model permissions, as in the admin; no staff status needed (csms/permissions.py, README "Permissions").
    "DEFAULT_PERMISSION_CLASSES": ["csms.permissions.ModelPermissions"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "csms.api.StrictLimitOffsetPagination",
    "DEFAULT_PARSER_CLASSES": [
        "csms.api.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "EXCEPTION_HANDLER": "csms.api.exception_handler",
    "PAGE_SIZE": 100,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "CSMS API",
    "DESCRIPTION": "REST API of the OCPP Central System: charge points, transactions, id tags.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI and Redoc served from this server (drf-spectacular-sidecar), no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- OCPP
OCPP_HEARTBEAT_INTERVAL = _typed("OCPP_HEARTBEAT_INTERVAL", env.int, 300, check=lambda v: 0 < v <= 86400, must="seconds, 1 to 86400")
# End a transaction the charge point reports it is no longer in (1.6 BootNotification:
# Reboot; a StatusNotification Available on its connector; docs/reliability.md).
OCPP_CLOSE_ORPHANED_TRANSACTIONS = _bool("OCPP_CLOSE_ORPHANED_TRANSACTIONS", True)
OCPP_ALLOW_UNKNOWN_CHARGE_POINTS = _bool("OCPP_ALLOW_UNKNOWN_CHARGE_POINTS", False)
# Registration status given to charge points registered on first connect:
# Pending lets an operator accept them before a 2.0.1 station may do more than boot.
OCPP_UNKNOWN_CHARGE_POINTS_STATUS = _typed(
    "OCPP_UNKNOWN_CHARGE_POINTS_STATUS",
    env.str,
    "Accepted",
    check=lambda v: v in ("Accepted", "Pending", "Rejected"),
    must="Accepted, Pending or Rejected",
)


# Security profile charge points must use unless their own is set (OCPP 1.6 Security
# Whitepaper, 2.0.1 A00): 1 Basic auth, 2 Basic auth over TLS, 3 TLS client
# certificate; "none" serves any connection naming a registered identity (labs only).
def _security_profile(name: str, default: str) -> int:
    profiles = {"none": 0, "0": 0, "1": 1, "2": 2, "3": 3}
    raw = env.str(name, default=default).strip().lower()
    if raw not in profiles:
        raise ValueError("use none, 1, 2 or 3")
    return profiles[raw]


OCPP_SECURITY_PROFILE = _typed("OCPP_SECURITY_PROFILE", _security_profile, "1")
# Failed authentications tolerated per identity and per source address within
# OCPP_AUTH_FAILURE_WINDOW seconds; past them every attempt is refused unchecked
# until the window ends.
OCPP_AUTH_FAILURES_PER_IDENTITY = _typed("OCPP_AUTH_FAILURES_PER_IDENTITY", env.int, 10, check=lambda v: v >= 1, must="1 or more")
OCPP_AUTH_FAILURES_PER_ADDRESS = _typed("OCPP_AUTH_FAILURES_PER_ADDRESS", env.int, 100, check=lambda v: v >= 1, must="1 or more")
OCPP_AUTH_FAILURE_WINDOW = _typed("OCPP_AUTH_FAILURE_WINDOW", env.int, 300, check=lambda v: v >= 1, must="seconds, 1 or more")
# Proxies (IP addresses) whose X-Forwarded-For / X-Forwarded-Proto headers are
# believed: the client's address and whether it connected over TLS.
OCPP_TRUSTED_PROXIES = env.list("OCPP_TRUSTED_PROXIES", default=[])
# The header in which a trusted proxy that ends TLS forwards the charge point's
# client certificate (security profile 3): nginx's $ssl_client_escaped_cert.
OCPP_PROXY_CLIENT_CERT_HEADER = env.str("OCPP_PROXY_CLIENT_CERT_HEADER", default="X-SSL-Client-Cert")
OCPP_PROTOCOL_DEBUG = _bool("OCPP_PROTOCOL_DEBUG", False)
# Check the CSMS's own CALLRESULTs against the response schemas before sending
# them (a wrong one goes out as InternalError instead): on under DEBUG and in
# the test suite, which keep catching bad answers; off in production, where it
# would cost a schema check per frame on answers the tests have checked.
OCPP_VALIDATE_ANSWERS = _bool("OCPP_VALIDATE_ANSWERS", DEBUG)
# Seconds a charge point's CALL may wait on a database that answers nothing
# (no statement of the process returned for that long) before it is answered
# InternalError: a hung database delays answers by about this much, and the
# socket stays up; a long queue of work (a boot storm) is waited out
# (chargepoints/dbprogress.py, docs/reliability.md).
# Seconds without renewal after which a server process counts as dead and the
# charge points it held read offline (chargepoints/presence.py); renewed every third of it.
OCPP_PRESENCE_TTL = _typed("OCPP_PRESENCE_TTL", env.float, 30.0, check=lambda v: 3 <= v <= 3600, must="seconds, 3 to 3600")
# Seconds a SIGTERM'd server spends closing charge point connections (1012)
# and marking them offline before it stops (csms/server.py).
OCPP_SHUTDOWN_TIMEOUT = _typed(
    "OCPP_SHUTDOWN_TIMEOUT", env.float, 10.0, check=lambda v: 0 < v <= 300, must="seconds, above 0 and at most 300"
)
OCPP_HANDLER_TIMEOUT = _typed(
    "OCPP_HANDLER_TIMEOUT", env.float, 10.0, check=lambda v: 0 < v <= 300, must="seconds, above 0 and at most 300"
)
# The charge point CA (OCPP 1.6 Security Whitepaper §4, 2.0.1 A00.FR.4xx/A02/A03):
# client certificates of security profile 3 must chain to the certificate(s) in
# OCPP_CHARGE_POINT_CA_CERT (PEM, one or more); SignCertificate requests are
# signed with its key, OCPP_CHARGE_POINT_CA_KEY (PEM, mode 0600). Both live in
# OCPP_CA_DIR unless set; `manage.py ca_create` / `ca_load` fill it. Every
# server process of a deployment needs the same files.
OCPP_CA_DIR = Path(env.str("OCPP_CA_DIR", default=str(BASE_DIR / "var" / "ca")))
OCPP_CHARGE_POINT_CA_CERT = Path(env.str("OCPP_CHARGE_POINT_CA_CERT", default=str(OCPP_CA_DIR / "charge_point_ca.crt")))
OCPP_CHARGE_POINT_CA_KEY = Path(env.str("OCPP_CHARGE_POINT_CA_KEY", default=str(OCPP_CA_DIR / "charge_point_ca.key")))
# TLS served by `python -m csms.serve` itself (wss:// and https://, security
# profiles 2 and 3), on TLS_PORT beside daphne's plain port, at the same -b
# address: set both files or neither. TLS_CERT_FILE is the server certificate
# followed by its intermediates (PEM), TLS_KEY_FILE its private key (PEM).
TLS_CERT_FILE = env.str("TLS_CERT_FILE", default="")
TLS_KEY_FILE = env.str("TLS_KEY_FILE", default="")
TLS_PORT = _typed("TLS_PORT", env.int, 8443, check=lambda v: 0 < v < 65536, must="a TCP port, 1 to 65535")
if bool(TLS_CERT_FILE) != bool(TLS_KEY_FILE):
    raise ImproperlyConfigured("TLS_CERT_FILE and TLS_KEY_FILE: set both (TLS on TLS_PORT) or neither")

# Charge point certificates the CA signs (SignCertificate): valid this many days
# (never past the CA's own end); a charge point whose newest one ends within
# OCPP_CERTIFICATE_RENEWAL_DAYS is asked for a new CSR (`manage.py
# certificates_renew`, and at its boot), at most every
# OCPP_CERTIFICATE_RENEWAL_RETRY_HOURS. OCPP_CERTIFICATE_ORGANIZATION, when
# set, is the O of every issued subject (1.6 Security Whitepaper §4: the CPO's name).
OCPP_CERTIFICATE_VALIDITY_DAYS = _typed(
    "OCPP_CERTIFICATE_VALIDITY_DAYS", env.int, 365, check=lambda v: 1 <= v <= 3650, must="days, 1 to 3650"
)
OCPP_CERTIFICATE_RENEWAL_DAYS = _typed("OCPP_CERTIFICATE_RENEWAL_DAYS", env.int, 30, check=lambda v: v >= 0, must="days, 0 or more")
OCPP_CERTIFICATE_RENEWAL_RETRY_HOURS = _typed(
    "OCPP_CERTIFICATE_RENEWAL_RETRY_HOURS", env.int, 24, check=lambda v: v >= 1, must="hours, 1 or more"
)
OCPP_CERTIFICATE_ORGANIZATION = env.str("OCPP_CERTIFICATE_ORGANIZATION", default="")
# How often, at most, a connection writes last_seen to the database (seconds).
# Group commit (transactions/batching.py): most MeterValues requests written in one database transaction.
OCPP_WRITE_BATCH_MAX = _typed("OCPP_WRITE_BATCH_MAX", env.int, 256, check=lambda v: 1 <= v <= 10000, must="requests, 1 to 10000")
OCPP_LAST_SEEN_WRITE_INTERVAL = _typed("OCPP_LAST_SEEN_WRITE_INTERVAL", env.int, 30, check=lambda v: v >= 0, must="seconds, 0 or more")
# Commands to charge points: default wait for the answer (seconds), and how
# many may wait behind the one in flight per charge point.
OCPP_COMMAND_TIMEOUT = _typed(
    "OCPP_COMMAND_TIMEOUT", env.float, 30.0, check=lambda v: 0 < v <= 3600, must="seconds, above 0 and at most 3600"
)
OCPP_COMMAND_QUEUE_SIZE = _typed("OCPP_COMMAND_QUEUE_SIZE", env.int, 20, check=lambda v: 1 <= v <= 1000, must="1 to 1000")

# --- OCPP over MQTT (chargepoints/mqtt/, README "OCPP over MQTT"): the broker
# (mqtt://user:password@host:1883 or mqtts://… for TLS; empty: MQTT off), EMQX's topic
# templates, the shared-subscription group of `manage.py ocpp_mqtt` workers, and
# the largest envelope read (bytes; larger ones are answered FormationViolation).
MQTT_URL = env.str("MQTT_URL", default="")
if MQTT_URL and not MQTT_URL.startswith(("mqtt://", "mqtts://")):
    raise ImproperlyConfigured(f"MQTT_URL: invalid value {MQTT_URL!r}; expected mqtt://[user:password@]host[:port] or mqtts://…")
MQTT_TLS_CA_FILE = env.str("MQTT_TLS_CA_FILE", default="")  # mqtts://: CA to verify the broker (empty: the system's)
MQTT_CLIENT_ID_PREFIX = env.str("MQTT_CLIENT_ID_PREFIX", default="csms")
MQTT_SHARE_GROUP = _typed(
    "MQTT_SHARE_GROUP", env.str, "csms", check=lambda v: v and not any(c in v for c in "/+#"), must="a name without / + #"
)
MQTT_TOPIC_UPSTREAM = env.str("MQTT_TOPIC_UPSTREAM", default="ocpp/cp/${cid}/${action}")
# Per-action upstream topics, EMQX's ocpp.upstream.topic.<Action>: "BootNotification=ocpp/cp/${cid}/Notify/${action},…".
MQTT_TOPIC_UPSTREAM_OVERRIDES = _typed("MQTT_TOPIC_UPSTREAM_OVERRIDES", env.dict, {})
MQTT_TOPIC_REPLY = env.str("MQTT_TOPIC_REPLY", default="ocpp/cp/Reply/${cid}")
MQTT_TOPIC_ERROR = env.str("MQTT_TOPIC_ERROR", default="ocpp/cp/Error/${cid}")
MQTT_TOPIC_DOWNSTREAM = env.str("MQTT_TOPIC_DOWNSTREAM", default="ocpp/${cid}/${type}/${action}")
MQTT_MAX_PAYLOAD_BYTES = _typed("MQTT_MAX_PAYLOAD_BYTES", env.int, 262144, check=lambda v: v >= 1024, must="bytes, 1024 or more")
# Back end: a charge point behind a gateway not heard from for this long is marked offline
# (seconds; 0: only when its worker dies). By default when ChargePoint.online turns false too.
MQTT_IDLE_TIMEOUT = _typed(
    "MQTT_IDLE_TIMEOUT", env.float, 2.0 * OCPP_HEARTBEAT_INTERVAL + 60, check=lambda v: v >= 0, must="seconds, 0 (never) or more"
)

# Bridge mode: every WebSocket frame of every charge point is also published to MQTT_URL, and
# CALLs published downstream by other services are sent as commands of MQTT_SERVICE_USER.
MQTT_BRIDGE = _bool("MQTT_BRIDGE", False)
if MQTT_BRIDGE and not MQTT_URL:
    raise ImproperlyConfigured("MQTT_BRIDGE: needs MQTT_URL")
MQTT_BRIDGE_QUEUE_SIZE = _typed("MQTT_BRIDGE_QUEUE_SIZE", env.int, 10000, check=lambda v: v >= 1, must="1 or more")
MQTT_SERVICE_USER = env.str("MQTT_SERVICE_USER", default="")

# --- Webhooks (webhooks/, sent by `manage.py webhooks_worker`): seconds a receiver may
# take to answer, tries before a delivery is given up, and the backoff between tries
# (WEBHOOK_RETRY_BASE * 2^(try-1) seconds, at most WEBHOOK_RETRY_MAX).
WEBHOOK_TIMEOUT = _typed("WEBHOOK_TIMEOUT", env.float, 10.0, check=lambda v: 0 < v <= 300, must="seconds, above 0 and at most 300")
WEBHOOK_MAX_ATTEMPTS = _typed("WEBHOOK_MAX_ATTEMPTS", env.int, 12, check=lambda v: v >= 1, must="1 or more")
WEBHOOK_RETRY_BASE = _typed("WEBHOOK_RETRY_BASE", env.float, 10.0, check=lambda v: v > 0, must="seconds, above 0")
WEBHOOK_RETRY_MAX = _typed("WEBHOOK_RETRY_MAX", env.float, 3600.0, check=lambda v: v > 0, must="seconds, above 0")
# Days an event and its deliveries are kept once none is pending; the worker deletes older ones.
WEBHOOK_RETENTION_DAYS = _typed("WEBHOOK_RETENTION_DAYS", env.float, 14.0, check=lambda v: v > 0, must="days, above 0")

# --- Logging
_LOG_LEVELS = {"CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"}
OCPP_LOG_LEVEL = _typed(
    "OCPP_LOG_LEVEL",
    lambda n, default: env.str(n, default=default).upper(),
    "INFO",
    check=lambda v: v in _LOG_LEVELS,
    must="one of " + ", ".join(sorted(_LOG_LEVELS)),
)
OCPP_LOG_FILE = env.str("OCPP_LOG_FILE", default="")

_handlers = {"console": {"class": "logging.StreamHandler", "formatter": "plain"}}
if OCPP_LOG_FILE:
    _handlers["file"] = {"class": "logging.FileHandler", "filename": OCPP_LOG_FILE, "formatter": "plain"}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": _handlers,
    "root": {"handlers": list(_handlers), "level": "WARNING"},
    "loggers": {
        "csms": {"level": OCPP_LOG_LEVEL, "handlers": list(_handlers), "propagate": False},
        # Frames in and out; DEBUG only when OCPP_PROTOCOL_DEBUG is on.
        "csms.protocol": {
            "level": "DEBUG" if OCPP_PROTOCOL_DEBUG else "WARNING",
            "handlers": list(_handlers),
            "propagate": False,
        },
    },
}
