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
    "CONSENT_CHAIN_KEY": "c" * 20 + "-production-like-chain-key",
}


def manage(*args, **env_overrides):
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(
            ("DEBUG", "SECRET_KEY", "WHATSAPP_", "CONSENT_CHAIN_", "DJANGO_ALLOW_ASYNC_UNSAFE")
        )
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
        ("WHATSAPP_DISPATCHERS", "2"),  # as many as Q_WORKERS (2): none left for the webhooks
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


LOOPBACK = ["http://127.0.0.1:8001", "http://localhost:8001", "http://[::1]:8001", "http://127.0.0.5:9"]
DEMO_SECRETS = {
    "WHATSAPP_ACCESS_TOKEN": "sandbox-access-token",
    "WHATSAPP_APP_SECRET": "sandbox-app-secret",
    "WHATSAPP_VERIFY_TOKEN": "sandbox-verify-token",
}


@pytest.mark.parametrize("url", LOOPBACK)
def test_the_sandbox_defaults_apply_on_a_loopback_address_with_debug_on(url):
    """`make run`, the test suite and its worker processes: DEBUG on, the sandbox on 127.0.0.1."""
    result = manage("check", DEBUG="true", WHATSAPP_API_BASE_URL=url)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("url", LOOPBACK)
def test_debug_off_gets_no_sandbox_defaults_even_on_a_loopback_address(url):
    """A forwarding proxy to Meta on 127.0.0.1 must not run with the public demo secret."""
    result = manage(
        "check",
        DEBUG="false",
        SECRET_KEY=PRODUCTION["SECRET_KEY"],
        CONSENT_CHAIN_KEY=PRODUCTION["CONSENT_CHAIN_KEY"],
        WHATSAPP_API_BASE_URL=url,
    )
    assert refused(result, *SECRETS), result.stderr
    assert "DEBUG is off" in result.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize("variable", sorted(DEMO_SECRETS))
def test_debug_off_refuses_a_demo_secret_set_by_hand_on_a_loopback_address(variable):
    env = dict(PRODUCTION, WHATSAPP_API_BASE_URL="http://127.0.0.1:3128")
    result = manage("check", **dict(env, **{variable: DEMO_SECRETS[variable]}))
    assert refused(result, variable), result.stderr


def test_debug_off_on_a_loopback_address_starts_with_its_own_secrets():
    """The webhook benchmark: DEBUG off, a sandbox on 127.0.0.1, the demo ids, secrets of its own."""
    env = dict(
        PRODUCTION,
        WHATSAPP_API_BASE_URL="http://127.0.0.1:9",
        WHATSAPP_PHONE_NUMBER_ID="106540352242922",
        WHATSAPP_BUSINESS_ACCOUNT_ID="102290129340398",
        WHATSAPP_APP_ID="1000000000000001",
    )
    result = manage("check", **env)
    assert result.returncode == 0, result.stderr


# --- The previous app secret, accepted during a rotation ------------------------------------------

SETTINGS_OUT = "from django.conf import settings as s; print(repr(s.WHATSAPP_APP_SECRET_PREVIOUS))"


def previous_secret(**env):
    """The previous app secret the settings end up with, or the start-up refusal."""
    return manage("shell", "--no-imports", "-c", SETTINGS_OUT, **env)


@pytest.mark.parametrize(
    "env",
    [
        dict(PRODUCTION),
        dict(PRODUCTION, DEBUG="true", WHATSAPP_API_BASE_URL=META),
        dict(PRODUCTION, WHATSAPP_API_BASE_URL="http://127.0.0.1:3128"),
    ],
    ids=["meta", "meta-debug-on", "loopback-debug-off"],
)
def test_the_previous_app_secret_may_not_be_the_sandboxs_demo_secret(env):
    """Webhooks signed with the previous secret are accepted: the public demo one would let anyone
    sign a forged opt-in."""
    result = previous_secret(**env, WHATSAPP_APP_SECRET_PREVIOUS="sandbox-app-secret")
    assert refused(result, "WHATSAPP_APP_SECRET_PREVIOUS"), result.stderr
    assert "demo" in result.stderr.strip().splitlines()[-1]


def test_the_previous_app_secret_may_not_equal_the_current_one():
    """A rotation copied wrongly: the old secret is not there, and Meta's old signatures fail."""
    result = previous_secret(**PRODUCTION, WHATSAPP_APP_SECRET_PREVIOUS=PRODUCTION["WHATSAPP_APP_SECRET"])
    assert refused(result, "WHATSAPP_APP_SECRET_PREVIOUS"), result.stderr
    assert "WHATSAPP_APP_SECRET" in result.stderr.strip().splitlines()[-1]


def test_every_wrong_variable_is_named_at_once_with_the_previous_secret():
    env = dict(PRODUCTION, WHATSAPP_VERIFY_TOKEN="", WHATSAPP_APP_SECRET_PREVIOUS="sandbox-app-secret")
    assert refused(previous_secret(**env), "WHATSAPP_VERIFY_TOKEN", "WHATSAPP_APP_SECRET_PREVIOUS")


@pytest.mark.parametrize(
    "value,expected", [("", "''"), ("   ", "''"), ("the-old-secret", "'the-old-secret'")]
)
def test_a_blank_previous_app_secret_means_none_and_a_real_one_is_kept(value, expected):
    """A blank value would otherwise be an HMAC key anyone can guess."""
    result = previous_secret(**PRODUCTION, WHATSAPP_APP_SECRET_PREVIOUS=value)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected


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


def test_production_without_a_consent_chain_key_is_refused():
    env = dict(PRODUCTION)
    env.pop("CONSENT_CHAIN_KEY")
    result = manage("check", **env)
    assert result.returncode != 0
    assert "CONSENT_CHAIN_KEY" in result.stderr


@pytest.mark.parametrize("key", ["insecure-development-only-consent-chain-key", "short-key"])
def test_the_development_or_a_short_consent_chain_key_is_refused_when_debug_is_off(key):
    result = manage("check", **dict(PRODUCTION, CONSENT_CHAIN_KEY=key))
    assert result.returncode != 0
    assert "CONSENT_CHAIN_KEY must be set" in result.stderr
