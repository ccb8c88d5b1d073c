"""Settings of the CSMS, read from the environment (12-factor, django-environ).

Every setting an operator may change is an environment variable, optionally
put in a `.env` file at the repository root. The README's configuration table
lists them. A value that cannot be parsed stops the process at start with an
`ImproperlyConfigured` error naming the variable.
"""

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
    with ENV_FILE.open("a") as f:
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
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "chargepoints",
    "transactions",
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

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Channel layer: in-memory in one process, Redis when REDIS_URL is set.
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    if not REDIS_URL.startswith(("redis://", "rediss://", "unix://")):
        raise ImproperlyConfigured(f"REDIS_URL: invalid value {REDIS_URL!r}; expected redis://host:port/db")
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # No socket timeout: channels-redis blocks up to 5 s reading an idle
                # channel, and redis-py's default 5 s timeout would break that read.
                "hosts": [{"address": REDIS_URL, "socket_timeout": None}],
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

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAdminUser"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
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
OCPP_PROTOCOL_DEBUG = _bool("OCPP_PROTOCOL_DEBUG", False)
# How often, at most, a connection writes last_seen to the database (seconds).
OCPP_LAST_SEEN_WRITE_INTERVAL = _typed("OCPP_LAST_SEEN_WRITE_INTERVAL", env.int, 30, check=lambda v: v >= 0, must="seconds, 0 or more")
# Commands to charge points: default wait for the answer (seconds), and how
# many may wait behind the one in flight per charge point.
OCPP_COMMAND_TIMEOUT = _typed(
    "OCPP_COMMAND_TIMEOUT", env.float, 30.0, check=lambda v: 0 < v <= 3600, must="seconds, above 0 and at most 3600"
)
OCPP_COMMAND_QUEUE_SIZE = _typed("OCPP_COMMAND_QUEUE_SIZE", env.int, 20, check=lambda v: 1 <= v <= 1000, must="1 to 1000")

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
