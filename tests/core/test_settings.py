"""Settings start from a fresh clone, refuse unsafe production values, and name malformed variables."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "k" * 20 + "-production-like-secret-" + "x" * 30,
    "ALLOWED_HOSTS": "wa.example.com",
    "WHATSAPP_PHONE_NUMBER_ID": "1",
    "WHATSAPP_BUSINESS_ACCOUNT_ID": "2",
    "WHATSAPP_APP_ID": "3",
    "WHATSAPP_ACCESS_TOKEN": "token",
    "WHATSAPP_APP_SECRET": "secret",
    "WHATSAPP_VERIFY_TOKEN": "verify",
}


def manage(*args, **env_overrides):
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DEBUG", "SECRET_KEY", "WHATSAPP_", "DJANGO_ALLOW_ASYNC_UNSAFE"))
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def test_a_fresh_clone_starts_with_no_environment():
    result = manage("check")
    assert result.returncode == 0, result.stderr


def test_check_deploy_is_clean_with_production_settings():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_production_without_a_secret_key_is_refused():
    env = dict(PRODUCTION)
    env.pop("SECRET_KEY")
    result = manage("check", **env)
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_the_development_secret_key_is_refused_when_debug_is_off():
    env = dict(PRODUCTION, SECRET_KEY="django-insecure-development-only-key-never-used-in-production")
    result = manage("check", **env)
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_production_without_whatsapp_credentials_is_refused():
    env = dict(PRODUCTION)
    env.pop("WHATSAPP_ACCESS_TOKEN")
    result = manage("check", **env)
    assert result.returncode != 0
    assert "WHATSAPP_ACCESS_TOKEN" in result.stderr


@pytest.mark.parametrize(
    "variable,value",
    [
        ("DEBUG", "flase"),
        ("Q_WORKERS", "two"),
        ("Q_WORKERS", "0"),
        ("WHATSAPP_READ_TIMEOUT", "soon"),
        ("WHATSAPP_MESSAGES_PER_SECOND", "-5"),
        ("WHATSAPP_BACKEND", "carrier-pigeon"),
        ("SECURE_PROXY_SSL_HEADER", "maybe"),
    ],
)
def test_a_malformed_variable_stops_start_up_naming_it(variable, value):
    result = manage("check", **{variable: value})
    assert result.returncode != 0
    assert variable in result.stderr.splitlines()[-1]


def test_a_malformed_database_url_names_the_variable():
    result = manage("check", DATABASE_URL="nonsense://")
    assert result.returncode != 0
    assert "DATABASE_URL" in result.stderr.splitlines()[-1]


def test_every_variable_is_documented_in_env_example():
    import re

    source = (ROOT / "config" / "settings.py").read_text()
    read = set(re.findall(r'_(?:read|bool)\(\s*"([A-Z0-9_]+)"', source)) | {"DATABASE_URL", "REDIS_URL"}
    documented = set(re.findall(r"^([A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M))
    assert read - documented == set()
