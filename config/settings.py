"""Settings, read from the environment through one ``environ.Env``.

A fresh clone runs with no ``.env``: SQLite, django-q2's ORM broker, a development secret key
and the local WhatsApp sandbox. Production sets ``DEBUG=false`` and must then provide every
secret; a malformed value stops start-up with a message naming the variable
(``.env.example`` documents each one).
"""

import ipaddress
from pathlib import Path
from urllib.parse import urlsplit

import environ
from django.core.checks.security.base import _check_secret_key
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)


def _read(name, cast, default=environ.Env.NOTSET):
    """Read one variable; a value that does not parse names the variable in the error."""
    try:
        return cast(name, default=default)
    except ImproperlyConfigured:
        raise
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(f"Environment variable {name} is malformed: {exc}") from exc


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _bool(name, default):
    """A strict boolean: django-environ reads any unknown word (a typo such as "flase") as False."""

    def cast(var, default):
        raw = env.str(var, default=str(default))
        value = raw.strip().lower()
        if value not in _TRUE | _FALSE:
            raise ValueError(f"expected true or false, got {raw!r}")
        return value in _TRUE

    return _read(name, cast, default)


def _str(name, default=environ.Env.NOTSET):
    """A string where an empty or blank value means "not set": ``cp .env.example .env`` leaves many
    variables empty, and an empty secret must never pass for a configured one."""
    value = _read(name, env.str, "")
    if value.strip():
        return value
    if default is environ.Env.NOTSET:
        raise ImproperlyConfigured(f"Set the environment variable {name} (it is empty or missing).")
    return default


def _positive(name, value):
    if value <= 0:
        raise ImproperlyConfigured(f"Environment variable {name} must be positive, got {value}.")
    return value


# Like healthchecks: DEBUG is on in a fresh clone so that `make run` works without a `.env`;
# production sets DEBUG=false, and then the development-only defaults below are refused.
DEBUG = _bool("DEBUG", True)

_DEV_SECRET_KEY = "django-insecure-development-only-key-never-used-in-production"
SECRET_KEY = _str("SECRET_KEY", _DEV_SECRET_KEY if DEBUG else environ.Env.NOTSET)
# Django's own deploy check (security.W009) only warns; a production start-up refuses the same keys
# (fewer than 50 characters, fewer than 5 different ones, or the "django-insecure-" prefix).
if not DEBUG and not _check_secret_key(SECRET_KEY):
    raise ImproperlyConfigured(
        "SECRET_KEY must be set to a random value of at least 50 characters, at least 5 of them "
        "different, not starting with 'django-insecure-', when DEBUG is off (Django's check "
        'security.W009). Generate one: python -c "import secrets; print(secrets.token_urlsafe(64))"'
    )

# The key of the consent ledger's HMAC chains (docs/consent-chain.md): kept out of the database, so
# that someone who can rewrite the ledger there cannot recompute the chain. Retired keys stay listed
# (comma-separated) so the links they made still verify. Production refuses the development key.
_DEV_CONSENT_CHAIN_KEY = "insecure-development-only-consent-chain-key"
CONSENT_CHAIN_KEY = _str("CONSENT_CHAIN_KEY", _DEV_CONSENT_CHAIN_KEY if DEBUG else environ.Env.NOTSET)
CONSENT_CHAIN_PREVIOUS_KEYS = [k for k in _read("CONSENT_CHAIN_PREVIOUS_KEYS", env.list, []) if k.strip()]
if not DEBUG and (CONSENT_CHAIN_KEY == _DEV_CONSENT_CHAIN_KEY or len(CONSENT_CHAIN_KEY) < 32):
    raise ImproperlyConfigured(
        "CONSENT_CHAIN_KEY must be set to a random value of at least 32 characters, not the "
        'development key, when DEBUG is off. Generate one: python -c "import secrets; '
        'print(secrets.token_urlsafe(48))"'
    )

ALLOWED_HOSTS = _read("ALLOWED_HOSTS", env.list, ["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = _read("CSRF_TRUSTED_ORIGINS", env.list, [])
SITE_URL = _read("SITE_URL", env.str, "http://127.0.0.1:8000")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_q",
    "core",
    "contacts",
    "accounts",
    "templates_app",
    "cloud_api",
    "messaging",
    "compliance",
    "surveys",
    "inbox",
    "api",
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

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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
                "messaging.context_processors.sending_halt",
                "messaging.context_processors.campaign_self_pauses",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
# SQLite (embedded) by default: WAL so readers do not block the writer, IMMEDIATE transactions
# and a busy timeout so web and worker queue for the write lock instead of failing with
# "database is locked". DATABASE_URL switches to PostgreSQL.
if _str("DATABASE_URL", ""):
    DATABASES = {"default": _read("DATABASE_URL", env.db_url)}
    if DATABASES["default"].get("ENGINE") not in (
        "django.db.backends.postgresql",
        "django.db.backends.sqlite3",
    ):
        raise ImproperlyConfigured(
            "Environment variable DATABASE_URL must be a postgres:// (or sqlite:///path) URL, "
            f"got scheme {env.str('DATABASE_URL').split(':', 1)[0]!r}."
        )
    # Persistent connections: a webhook view storing one row answers ~4x more requests per
    # second than with a new connection per request (STYLE.md, 12).
    DATABASES["default"]["CONN_MAX_AGE"] = _read("DB_CONN_MAX_AGE", env.int, 600)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # PostgreSQL's JIT off for every connection: our statements are OLTP and medium reports whose
    # plans it compiled for longer than they ran (docs/architecture.md, "PostgreSQL's JIT").
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        _db_options = DATABASES["default"].setdefault("OPTIONS", {})
        _db_options["options"] = f"{_db_options.get('options', '')} -c jit=off".strip()
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": _str("SQLITE_PATH", str(BASE_DIR / "db.sqlite3")),
            "OPTIONS": {
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache and task queue -------------------------------------------------------------------
# Nothing may live in process memory that several processes must agree on (docs/architecture.md), so the
# cache is Redis when REDIS_URL is set and the database otherwise.
REDIS_URL = _read("REDIS_URL", env.str, "")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "cache_table"}
    }

Q_WORKERS = _positive("Q_WORKERS", _read("Q_WORKERS", env.int, 2))
# Our services own retries (status + attempts + next attempt time + a sweeper), so django-q2
# never redelivers a failed task: ack_failures on, one attempt, timeout well below retry.
Q_CLUSTER = {
    "name": "whatsapp",
    "workers": Q_WORKERS,
    "timeout": 60,
    "retry": 120,
    "max_attempts": 1,
    "ack_failures": True,
    "catch_up": False,
    "save_limit": 1000,
    "label": "Task queue",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"
    Q_CLUSTER["poll"] = 0.5

# --- Auth, i18n, static ---------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = _read("TIME_ZONE", env.str, "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
MEDIA_ROOT = _str("MEDIA_ROOT", str(BASE_DIR / "media"))
MEDIA_URL = "media/"

# --- Security (manage.py check --deploy is clean when DEBUG is off) -------------------------
if not DEBUG:
    SECURE_SSL_REDIRECT = _bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = _read("SECURE_HSTS_SECONDS", env.int, 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = _bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = _bool("SECURE_HSTS_PRELOAD", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
if _bool("SECURE_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# /healthz is polled over plain HTTP by load balancers and must not be redirected.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

# --- Phone numbers and contacts -------------------------------------------------------------
# The region assumed for numbers typed without a country code (e.g. "0151 2345678" with DE).
PHONE_DEFAULT_REGION = _read("PHONE_DEFAULT_REGION", env.str, "DE").upper()
# The admin's contact list estimates its total from PostgreSQL's statistics above this size
# instead of counting every row on each page view.
ADMIN_ESTIMATED_COUNT_THRESHOLD = _read("ADMIN_ESTIMATED_COUNT_THRESHOLD", env.int, 10_000)
# `manage.py flush` refuses while the ledger has rows (core/management/commands/flush.py). Only the
# test configuration turns this on; no environment variable does.
ALLOW_LEDGER_FLUSH = False

# --- WhatsApp Cloud API ---------------------------------------------------------------------
# The sandbox's demo credentials are public (they are in this file), so they are defaults only in
# the demo: DEBUG on and WHATSAPP_API_BASE_URL at a loopback address, where nothing but the local
# sandbox can answer. With DEBUG off they are refused even on a loopback address, since a proxy
# there may forward to Meta. Outside the demo every credential must be set and non-empty (an empty
# app secret refuses every webhook, so a STOP is lost once Meta stops retrying), the secrets must
# not be the demo values, and the previous app secret, accepted as well during a rotation, must be
# neither the demo secret (anyone could sign a forged opt-in) nor the current one (a rotation
# copied wrongly). One message names every variable that is wrong. docs/security.md.
_SANDBOX_URL = "http://127.0.0.1:8001"
WHATSAPP_API_BASE_URL = _str("WHATSAPP_API_BASE_URL", _SANDBOX_URL if DEBUG else "https://graph.facebook.com")
WHATSAPP_API_BASE_URL = WHATSAPP_API_BASE_URL.strip().rstrip("/")
_api_host = urlsplit(WHATSAPP_API_BASE_URL).hostname if "://" in WHATSAPP_API_BASE_URL else None
if urlsplit(WHATSAPP_API_BASE_URL).scheme not in ("http", "https") or not _api_host:
    raise ImproperlyConfigured(
        "Environment variable WHATSAPP_API_BASE_URL must be an http(s) URL with a host, such as "
        f"https://graph.facebook.com or {_SANDBOX_URL}; got {WHATSAPP_API_BASE_URL!r}."
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


_SANDBOX = DEBUG and _is_loopback(_api_host)
_SANDBOX_CREDENTIALS = {
    "WHATSAPP_PHONE_NUMBER_ID": "106540352242922",
    "WHATSAPP_BUSINESS_ACCOUNT_ID": "102290129340398",
    "WHATSAPP_APP_ID": "1000000000000001",
    "WHATSAPP_ACCESS_TOKEN": "sandbox-access-token",
    "WHATSAPP_APP_SECRET": "sandbox-app-secret",
    "WHATSAPP_VERIFY_TOKEN": "sandbox-verify-token",
}
_SANDBOX_SECRETS = ("WHATSAPP_ACCESS_TOKEN", "WHATSAPP_APP_SECRET", "WHATSAPP_VERIFY_TOKEN")
_credentials = {name: _str(name, "") for name in _SANDBOX_CREDENTIALS}
_previous_secret = _str("WHATSAPP_APP_SECRET_PREVIOUS", "")
if _SANDBOX:
    _credentials = {name: value or _SANDBOX_CREDENTIALS[name] for name, value in _credentials.items()}
else:
    _wrong = [f"{name} (empty or missing)" for name, value in _credentials.items() if not value] + [
        f"{name} (the sandbox's public demo value)"
        for name in _SANDBOX_SECRETS
        if _credentials[name] == _SANDBOX_CREDENTIALS[name]
    ]
    if _previous_secret == _SANDBOX_CREDENTIALS["WHATSAPP_APP_SECRET"]:
        _wrong.append("WHATSAPP_APP_SECRET_PREVIOUS (the sandbox's public demo app secret)")
    elif _previous_secret and _previous_secret == _credentials["WHATSAPP_APP_SECRET"]:
        _wrong.append(
            "WHATSAPP_APP_SECRET_PREVIOUS (the same as WHATSAPP_APP_SECRET: set the old secret, or "
            "leave it empty)"
        )
    if _wrong:
        _where = (
            f"DEBUG is off, so the sandbox's demo credentials are not used even though WHATSAPP_API_BASE_URL "
            f"is the loopback address {WHATSAPP_API_BASE_URL} (a proxy there may forward to Meta)"
            if _is_loopback(_api_host)
            else f"WHATSAPP_API_BASE_URL is {WHATSAPP_API_BASE_URL}, not a local sandbox"
        )
        raise ImproperlyConfigured(
            f"{_where}, so these environment variables must be set to your own values: "
            + ", ".join(_wrong)
            + '. See the README, "Pointing at Meta\'s Cloud API", and docs/security.md.'
        )
WHATSAPP_API_VERSION = _read("WHATSAPP_API_VERSION", env.str, "v25.0")
WHATSAPP_PHONE_NUMBER_ID = _credentials["WHATSAPP_PHONE_NUMBER_ID"]
WHATSAPP_BUSINESS_ACCOUNT_ID = _credentials["WHATSAPP_BUSINESS_ACCOUNT_ID"]
WHATSAPP_APP_ID = _credentials["WHATSAPP_APP_ID"]
WHATSAPP_ACCESS_TOKEN = _credentials["WHATSAPP_ACCESS_TOKEN"]
WHATSAPP_APP_SECRET = _credentials["WHATSAPP_APP_SECRET"]
WHATSAPP_APP_SECRET_PREVIOUS = _previous_secret
WHATSAPP_VERIFY_TOKEN = _credentials["WHATSAPP_VERIFY_TOKEN"]
# The display number the sandbox reports in webhook metadata.
WHATSAPP_DISPLAY_PHONE_NUMBER = _read("WHATSAPP_DISPLAY_PHONE_NUMBER", env.str, "15550783881")
WHATSAPP_CONNECT_TIMEOUT = _positive(
    "WHATSAPP_CONNECT_TIMEOUT", _read("WHATSAPP_CONNECT_TIMEOUT", env.float, 3.05)
)
WHATSAPP_READ_TIMEOUT = _positive("WHATSAPP_READ_TIMEOUT", _read("WHATSAPP_READ_TIMEOUT", env.float, 20.0))
# Requests one worker's bulk send (send_many, aiohttp) keeps in flight at once (docs/meta-cloud-api.md).
WHATSAPP_SEND_CONCURRENCY = _positive(
    "WHATSAPP_SEND_CONCURRENCY", _read("WHATSAPP_SEND_CONCURRENCY", env.int, 64)
)
# "cloud" speaks HTTP to WHATSAPP_API_BASE_URL (Meta or the sandbox); "memory" keeps sends in
# process memory for unit tests of code around the client.
WHATSAPP_BACKEND = _read("WHATSAPP_BACKEND", env.str, "cloud")
if WHATSAPP_BACKEND not in ("cloud", "memory"):
    raise ImproperlyConfigured(
        f"Environment variable WHATSAPP_BACKEND must be 'cloud' or 'memory', got {WHATSAPP_BACKEND!r}."
    )
WHATSAPP_MESSAGES_PER_SECOND = _positive(
    "WHATSAPP_MESSAGES_PER_SECOND", _read("WHATSAPP_MESSAGES_PER_SECOND", env.int, 80)
)
WHATSAPP_MESSAGING_LIMIT = _read("WHATSAPP_MESSAGING_LIMIT", env.str, "TIER_250")
# At most this many batch dispatchers send at once (a backlog wakes the next). Each holds a
# django-q2 worker while it sends, so one worker is left for the webhook processor and everything
# else (with a single worker they take turns: a dispatcher hands over after 40 s). One dispatcher
# reaches the default 80 messages per second easily.
WHATSAPP_DISPATCHERS = _positive("WHATSAPP_DISPATCHERS", _read("WHATSAPP_DISPATCHERS", env.int, 1))
if max(1, Q_WORKERS - 1) < WHATSAPP_DISPATCHERS:
    raise ImproperlyConfigured(
        f"Environment variable WHATSAPP_DISPATCHERS ({WHATSAPP_DISPATCHERS}) must be below Q_WORKERS "
        f"({Q_WORKERS}): each dispatcher holds a worker while it sends, and the webhook processor needs one."
    )

# --- Sending rules (docs/sending.md) -------------------------------------------------------
# Marketing messages wait outside this local-time window at the recipient ("HH:MM-HH:MM", the
# hours when sending is allowed; empty = no quiet hours).
MARKETING_SENDING_HOURS = _read("MARKETING_SENDING_HOURS", env.str, "09:00-20:00")
# At most this many marketing messages per contact in a rolling number of days (0 = no cap).
MARKETING_FREQUENCY_CAP = _read("MARKETING_FREQUENCY_CAP", env.int, 2)
MARKETING_FREQUENCY_DAYS = _positive(
    "MARKETING_FREQUENCY_DAYS", _read("MARKETING_FREQUENCY_DAYS", env.int, 7)
)
# A send whose outcome is unknown waits this long for a reconciling webhook, then needs review.
WHATSAPP_UNKNOWN_DEADLINE_MINUTES = _positive(
    "WHATSAPP_UNKNOWN_DEADLINE_MINUTES", _read("WHATSAPP_UNKNOWN_DEADLINE_MINUTES", env.int, 15)
)
# Transient failures are retried with backoff and jitter for up to this many hours.
WHATSAPP_RETRY_DEADLINE_HOURS = _positive(
    "WHATSAPP_RETRY_DEADLINE_HOURS", _read("WHATSAPP_RETRY_DEADLINE_HOURS", env.int, 24)
)
# Meta defers some marketing messages (error 131049: retry no sooner than 24 hours); such retries
# stop this many days after the message's first 131049 and the message fails with Meta's code.
WHATSAPP_DEFERRED_RETRY_DAYS = _positive(
    "WHATSAPP_DEFERRED_RETRY_DAYS", _read("WHATSAPP_DEFERRED_RETRY_DAYS", env.int, 3)
)
# Meta does not deliver MARKETING templates to US numbers (docs/sending.md): they are skipped at
# send time. Set to false once Meta delivers them again.
WHATSAPP_US_MARKETING_BLOCKED = _bool("WHATSAPP_US_MARKETING_BLOCKED", True)
# Webhook bodies up to this size are accepted (Meta sends up to 3 MB); read from the stream with
# this view's own limit, so DATA_UPLOAD_MAX_MEMORY_SIZE stays at Django's default site-wide.
WHATSAPP_WEBHOOK_MAX_BYTES = _positive(
    "WHATSAPP_WEBHOOK_MAX_BYTES", _read("WHATSAPP_WEBHOOK_MAX_BYTES", env.int, 3 * 1024 * 1024)
)

# Keywords, matched as the whole message, case- and whitespace-insensitive (docs/consent.md).
WHATSAPP_OPT_OUT_KEYWORDS = ["STOP", "STOPP", "ABMELDEN", "UNSUBSCRIBE", "ARRET", "BAJA", "CANCELAR"]
WHATSAPP_OPT_OUT_ALL_KEYWORDS = ["STOP ALL", "ALLE ABMELDEN", "UNSUBSCRIBE ALL"]
WHATSAPP_OPT_IN_KEYWORDS = ["START", "ANMELDEN", "SUBSCRIBE"]

# --- Audiences: contact imports (docs/imports.md) -------------------------------------------
# A file larger than this is refused at upload, before anything is written.
CONTACT_IMPORT_MAX_BYTES = _positive(
    "CONTACT_IMPORT_MAX_BYTES", _read("CONTACT_IMPORT_MAX_BYTES", env.int, 50 * 1024 * 1024)
)
# The uploaded file is kept this many days after upload, then deleted (the import keeps its name
# and SHA-256, and says when the bytes went: the hash proves which file it was only while it exists).
CONTACT_IMPORT_FILE_RETENTION_DAYS = _positive(
    "CONTACT_IMPORT_FILE_RETENTION_DAYS", _read("CONTACT_IMPORT_FILE_RETENTION_DAYS", env.int, 90)
)
# Rows staged or applied per chunk; each task works through chunks for at most
# CONTACT_IMPORT_TASK_SECONDS, then hands on to a new task, well inside Q_CLUSTER's timeout.
CONTACT_IMPORT_CHUNK_ROWS = _positive(
    "CONTACT_IMPORT_CHUNK_ROWS", _read("CONTACT_IMPORT_CHUNK_ROWS", env.int, 5000)
)
CONTACT_IMPORT_TASK_SECONDS = _positive(
    "CONTACT_IMPORT_TASK_SECONDS", _read("CONTACT_IMPORT_TASK_SECONDS", env.int, 20)
)

# --- Campaigns (docs/campaign-content.md) ----------------------------------------------------
# A header file uploaded to WhatsApp is uploaded again before sending when its media id is older
# than this many days (Meta keeps uploaded media for 30 days).
CAMPAIGN_MEDIA_ID_MAX_AGE_DAYS = _positive(
    "CAMPAIGN_MEDIA_ID_MAX_AGE_DAYS", _read("CAMPAIGN_MEDIA_ID_MAX_AGE_DAYS", env.int, 29)
)
if CAMPAIGN_MEDIA_ID_MAX_AGE_DAYS >= 30:
    raise ImproperlyConfigured(
        "Environment variable CAMPAIGN_MEDIA_ID_MAX_AGE_DAYS must be below 30 (Meta deletes uploaded "
        f"media after 30 days), got {CAMPAIGN_MEDIA_ID_MAX_AGE_DAYS}."
    )
# An opt-out of a campaign's purpose by one of its recipients within this many hours after their
# message was sent counts as caused by the campaign (docs/campaign-results.md).
CAMPAIGN_OPT_OUT_ATTRIBUTION_HOURS = _positive(
    "CAMPAIGN_OPT_OUT_ATTRIBUTION_HOURS", _read("CAMPAIGN_OPT_OUT_ATTRIBUTION_HOURS", env.int, 72)
)
# An unquoted message from a recipient within this many hours after their campaign message was sent
# (and before another campaign's message reached them) counts as a reply to it
# (docs/campaign-results.md, "Replied").
CAMPAIGN_REPLY_ATTRIBUTION_HOURS = _positive(
    "CAMPAIGN_REPLY_ATTRIBUTION_HOURS", _read("CAMPAIGN_REPLY_ATTRIBUTION_HOURS", env.int, 72)
)


# The circuit breaker (docs/campaign-dispatch.md, "Guardrails"): over a sending campaign's last
# WINDOW answered messages (at least MIN_SAMPLE of them), a failure rate or an opt-out rate above
# its threshold pauses the campaign.
def _rate(name, default):
    value = _read(name, env.float, default)
    if not 0 < value <= 1:
        raise ImproperlyConfigured(
            f"Environment variable {name} must be a rate above 0 and at most 1 (0.2 is 20 %), got {value}."
        )
    return value


CAMPAIGN_BREAKER_WINDOW = _positive("CAMPAIGN_BREAKER_WINDOW", _read("CAMPAIGN_BREAKER_WINDOW", env.int, 200))
CAMPAIGN_BREAKER_MIN_SAMPLE = _positive(
    "CAMPAIGN_BREAKER_MIN_SAMPLE", _read("CAMPAIGN_BREAKER_MIN_SAMPLE", env.int, 50)
)
if CAMPAIGN_BREAKER_MIN_SAMPLE > CAMPAIGN_BREAKER_WINDOW:
    raise ImproperlyConfigured(
        f"Environment variable CAMPAIGN_BREAKER_MIN_SAMPLE ({CAMPAIGN_BREAKER_MIN_SAMPLE}) must not be above "
        f"CAMPAIGN_BREAKER_WINDOW ({CAMPAIGN_BREAKER_WINDOW}): the breaker would never have its sample."
    )
CAMPAIGN_BREAKER_FAILURE_RATE = _rate("CAMPAIGN_BREAKER_FAILURE_RATE", 0.2)
CAMPAIGN_BREAKER_OPT_OUT_RATE = _rate("CAMPAIGN_BREAKER_OPT_OUT_RATE", 0.02)

# --- E-mail ---------------------------------------------------------------------------------
# A campaign that pauses itself is mailed to its authors and approver (docs/campaign-dispatch.md).
# EMAIL_URL as django-environ reads it (smtp+tls://user:password@host:587, consolemail://); unset, a
# fresh clone prints mails on the console and production sends through an SMTP server on localhost.
_EMAIL_URL = _str("EMAIL_URL", "consolemail://" if DEBUG else "smtp://localhost:25")
try:
    _EMAIL = environ.Env.email_url_config(_EMAIL_URL)
except (ImproperlyConfigured, ValueError) as exc:
    raise ImproperlyConfigured(f"Environment variable EMAIL_URL is malformed: {exc}") from exc
globals().update({key: value for key, value in _EMAIL.items() if value is not None})
DEFAULT_FROM_EMAIL = _str("DEFAULT_FROM_EMAIL", "webmaster@localhost")

# --- REST API -------------------------------------------------------------------------------
# API keys only (no sessions: a logged-in staff member's browser is no API client), scopes per view,
# one error shape, per-key throttling in the shared cache (docs/api.md).
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": ["api.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["api.permissions.HasScope"],
    "DEFAULT_THROTTLE_CLASSES": ["api.throttling.KeyRateThrottle"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["api.parsers.SafeJSONParser"],
    "EXCEPTION_HANDLER": "api.errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
}
# Calls per key, as DRF writes rates: "600/min", "20/s", "10000/day".
API_THROTTLE_RATE = _str("API_THROTTLE_RATE", "600/min")
# Hours an Idempotency-Key and its answer are kept (docs/api-messages.md).
API_IDEMPOTENCY_TTL = _positive("API_IDEMPOTENCY_TTL", _read("API_IDEMPOTENCY_TTL", env.int, 24))
# Callback URLs on loopback hosts (and over plain HTTP there): for tests and the demo only.
API_CALLBACKS_ALLOW_LOOPBACK = _read("API_CALLBACKS_ALLOW_LOOPBACK", env.bool, DEBUG)
# Callback delivery (docs/api-callbacks.md): seconds to wait for a receiver's answer; an event is
# given up after this many attempts, or when a retry would come this many hours after the event.
API_CALLBACK_TIMEOUT_SECONDS = _positive(
    "API_CALLBACK_TIMEOUT_SECONDS", _read("API_CALLBACK_TIMEOUT_SECONDS", env.float, 5.0)
)
API_CALLBACK_MAX_ATTEMPTS = _positive(
    "API_CALLBACK_MAX_ATTEMPTS", _read("API_CALLBACK_MAX_ATTEMPTS", env.int, 25)
)
API_CALLBACK_GIVE_UP_HOURS = _positive(
    "API_CALLBACK_GIVE_UP_HOURS", _read("API_CALLBACK_GIVE_UP_HOURS", env.float, 24.0)
)
# Days delivered and given-up callback events are kept (they may quote what a person wrote).
API_CALLBACK_RETENTION_DAYS = _positive(
    "API_CALLBACK_RETENTION_DAYS", _read("API_CALLBACK_RETENTION_DAYS", env.int, 30)
)
# Days a WhatsApp media file (received, or uploaded by an agent) is kept before its bytes are
# deleted; the row stays, marked purged (docs/media.md, docs/erasure.md).
INBOX_MEDIA_RETENTION_DAYS = _positive(
    "INBOX_MEDIA_RETENTION_DAYS", _read("INBOX_MEDIA_RETENTION_DAYS", env.int, 90)
)
SPECTACULAR_SETTINGS = {
    "TITLE": "WhatsApp consent-first messaging API",
    "VERSION": "1.0.0",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # One name per choice set the messages endpoints show (drf-spectacular names them by field).
    "ENUM_NAME_OVERRIDES": {
        "MessageKindEnum": "messaging.models.MessageKind",
        "MessageStateEnum": "messaging.models.MessageStatus",
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": _read("LOG_LEVEL", env.str, "INFO")},
}
