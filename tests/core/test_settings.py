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


# --- Unsafe production values are refused at start-up -------------------------------------------


def refused(result, *variables):
    last = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else ""
    return result.returncode != 0 and all(v in last for v in variables)


@pytest.mark.parametrize(
    "variable", ["WHATSAPP_APP_SECRET", "WHATSAPP_VERIFY_TOKEN", "WHATSAPP_ACCESS_TOKEN"]
)
@pytest.mark.parametrize("value", ["", "   "])
def test_an_empty_whatsapp_secret_is_refused_in_production(variable, value):
    """An empty app secret refuses every webhook: a STOP would be lost once Meta stops retrying."""
    result = manage("check", **dict(PRODUCTION, **{variable: value}))
    assert refused(result, variable), result.stderr


@pytest.mark.parametrize(
    "key",
    [
        "k" * 50,  # fifty identical characters
        "abcd" * 13,  # four different characters
        "django-insecure-" + "q7Yv2LmN9xPz4RtW8sKb3HdJ6fGc1Va5ZeUo0XiT",  # Django's insecure prefix
        "q7Yv2LmN9xPz4RtW8sKb3HdJ6fGc1Va5ZeUo0XiT",  # too short
        "",
    ],
    ids=["identical", "four-characters", "insecure-prefix", "short", "empty"],
)
def test_a_secret_key_djangos_w009_check_flags_is_refused(key):
    from django.core.checks.security.base import _check_secret_key

    assert not _check_secret_key(key)  # the same judgement as Django's own security.W009
    result = manage("check", **dict(PRODUCTION, SECRET_KEY=key))
    assert refused(result, "SECRET_KEY"), result.stderr


def test_a_secret_key_that_passes_w009_starts():
    from django.core.checks.security.base import _check_secret_key

    assert _check_secret_key(PRODUCTION["SECRET_KEY"])
    assert manage("check", **PRODUCTION).returncode == 0


META = "https://graph.facebook.com"
SECRETS = (
    "WHATSAPP_PHONE_NUMBER_ID",
    "WHATSAPP_BUSINESS_ACCOUNT_ID",
    "WHATSAPP_APP_ID",
    "WHATSAPP_ACCESS_TOKEN",
    "WHATSAPP_APP_SECRET",
    "WHATSAPP_VERIFY_TOKEN",
)


def test_debug_on_pointing_at_meta_without_secrets_is_refused_naming_them_all():
    result = manage("check", DEBUG="true", WHATSAPP_API_BASE_URL=META)
    assert refused(result, *SECRETS), result.stderr


def test_a_forgotten_debug_false_does_not_accept_the_sandbox_secret():
    """With DEBUG on and Meta's URL, the sandbox's public demo secret is no default: forging an
    opt-in with it must be impossible."""
    env = {name: PRODUCTION[name] for name in SECRETS if name != "WHATSAPP_APP_SECRET"}
    result = manage("check", DEBUG="true", WHATSAPP_API_BASE_URL=META, **env)
    assert refused(result, "WHATSAPP_APP_SECRET"), result.stderr


@pytest.mark.parametrize(
    "variable,demo_value",
    [("WHATSAPP_APP_SECRET", "sandbox-app-secret"), ("WHATSAPP_VERIFY_TOKEN", "sandbox-verify-token")],
)
def test_the_sandboxs_demo_value_set_by_hand_is_refused_against_meta(variable, demo_value):
    result = manage("check", **dict(PRODUCTION, **{variable: demo_value}))
    assert refused(result, variable), result.stderr


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8001", "http://localhost:8001", "http://[::1]:8001", "http://127.0.0.5:9"]
)
def test_the_sandbox_defaults_apply_on_a_loopback_address_whatever_debug_says(url):
    """The tests' worker processes and the benchmarks point at a sandbox on 127.0.0.1."""
    result = manage("check", DEBUG="false", SECRET_KEY=PRODUCTION["SECRET_KEY"], WHATSAPP_API_BASE_URL=url)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1.evil.example", "http://localhost.evil.example:8001", "http://10.0.0.1"]
)
def test_an_address_that_only_looks_local_gets_no_sandbox_defaults(url):
    result = manage("check", DEBUG="true", WHATSAPP_API_BASE_URL=url)
    assert refused(result, "WHATSAPP_APP_SECRET"), result.stderr


@pytest.mark.parametrize(
    "url", ["graph.facebook.com", "ftp://graph.facebook.com", "https://", "http://:8001"]
)
def test_a_malformed_api_base_url_names_the_variable(url):
    result = manage("check", **dict(PRODUCTION, WHATSAPP_API_BASE_URL=url))
    assert refused(result, "WHATSAPP_API_BASE_URL"), result.stderr


def test_the_example_environment_as_written_starts():
    """``cp .env.example .env`` must give a working demo: an empty value means "not set"."""
    import re

    example = dict(re.findall(r"^([A-Z0-9_]+)=(.*)$", (ROOT / ".env.example").read_text(), re.M))
    result = manage("check", **example)
    assert result.returncode == 0, result.stderr
