"""Configuration from the environment: bad values stop the process with a message naming the variable."""

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def start_with(**env) -> subprocess.CompletedProcess:
    full = {**os.environ, "SECRET_KEY": "test", **env}
    full.pop("DJANGO_SETTINGS_MODULE", None)
    return subprocess.run([sys.executable, "manage.py", "check"], cwd=REPO, env=full, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    "name, value",
    [
        ("OCPP_HEARTBEAT_INTERVAL", "often"),
        ("OCPP_HEARTBEAT_INTERVAL", "0"),
        ("OCPP_ALLOW_UNKNOWN_CHARGE_POINTS", "maybe"),
        ("DEBUG", "sometimes"),
        ("OCPP_PROTOCOL_DEBUG", "2"),
        ("OCPP_VALIDATE_ANSWERS", "sometimes"),
        ("OCPP_LOG_LEVEL", "LOUD"),
        ("DATABASE_URL", "nosuchdb://x"),
        ("REDIS_URL", "localhost:6379"),
    ],
)
def test_a_bad_value_fails_at_start_naming_the_variable(name, value):
    result = start_with(**{name: value})
    assert result.returncode != 0
    assert name in result.stderr


def test_good_values_start():
    result = start_with(OCPP_HEARTBEAT_INTERVAL="60", OCPP_ALLOW_UNKNOWN_CHARGE_POINTS="true", DEBUG="false")
    assert result.returncode == 0, result.stderr


def test_a_missing_secret_key_is_generated_once_into_dotenv(tmp_path):
    import shutil

    # A copy of the project without .env, so the real one is untouched.
    for item in ["manage.py", "csms", "chargepoints", "transactions", "accounts", "webhooks", "templates"]:
        src = REPO / item
        if src.exists():  # templates/ may be empty, and so absent from a clone
            (shutil.copytree if src.is_dir() else shutil.copy)(src, tmp_path / item)
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DJANGO_SETTINGS_MODULE"}}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    for _ in range(2):
        result = subprocess.run([sys.executable, "manage.py", "check"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
    lines = [line for line in (tmp_path / ".env").read_text().splitlines() if line.startswith("SECRET_KEY=")]
    assert len(lines) == 1 and len(lines[0]) > 40
    assert stat.S_IMODE((tmp_path / ".env").stat().st_mode) == 0o600, "the secret key is readable by its owner only"


# The production configuration the README documents ("Deploy behind HTTPS").
PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "a-long-random-production-key-" + "x7Kq9Zr2Lm4Pw8Nc" * 4,
    "ALLOWED_HOSTS": "csms.example.com",
    "HTTPS": "true",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
    "SECURE_HSTS_PRELOAD": "true",
}


def test_check_deploy_is_clean_in_the_documented_production_configuration():
    full = {**os.environ, **PRODUCTION}
    full.pop("DJANGO_SETTINGS_MODULE", None)
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO,
        env=full,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNINGS" not in result.stderr + result.stdout


def test_https_turns_on_secure_cookies_hsts_and_the_redirect_and_the_proxy_header_is_opt_in():
    script = (
        "from django.conf import settings as s;"
        "print(s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS, s.SECURE_PROXY_SSL_HEADER)"
    )
    full = {**os.environ, **PRODUCTION, "DJANGO_SETTINGS_MODULE": "csms.settings"}
    on = subprocess.run(
        [sys.executable, "-c", "import django;django.setup();" + script], cwd=REPO, env=full, capture_output=True, text=True
    )
    assert on.stdout.split() == ["True", "True", "True", "31536000", "None"], on.stderr
    full.update(SECURE_PROXY_SSL_HEADER="true", SECURE_HSTS_SECONDS="3600", SECURE_SSL_REDIRECT="false")
    proxy = subprocess.run(
        [sys.executable, "-c", "import django;django.setup();" + script], cwd=REPO, env=full, capture_output=True, text=True
    )
    assert proxy.stdout.strip() == "False True True 3600 ('HTTP_X_FORWARDED_PROTO', 'https')", proxy.stderr
