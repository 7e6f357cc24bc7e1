"""``manage.py whatsapp_sandbox``: a local stand-in for Meta's Cloud API (docs/sandbox.md).

Identities and secrets come from the same settings the client uses (token, ids, app secret), so
the app and the sandbox agree without extra configuration; every other knob is a flag.
"""

from __future__ import annotations

import asyncio
import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from cloud_api.sandbox.app import Sandbox
from cloud_api.sandbox.config import SandboxConfig
from cloud_api.sandbox.seed import read_seed_file
from cloud_api.sandbox.server import serve_forever


def _ending(value: str) -> tuple[str, int]:
    ending, _, code = value.partition("=")
    if not ending.isdigit() or not code.isdigit():
        raise ValueError(f"expected DIGITS=CODE, e.g. 0026=131026, got {value!r}")
    return ending, int(code)


def _mix(value: str) -> dict[str, float]:
    mix = {}
    for part in value.split(","):
        kind, _, weight = part.partition("=")
        if kind not in ("text", "button", "stop"):
            raise ValueError(f"reply kinds are text, button and stop, got {kind!r}")
        mix[kind] = float(weight)
    return mix


# Options whose value is the SandboxConfig field of the same name.
PASSTHROUGH_OPTIONS = (
    "host",
    "port",
    "webhook_url",
    "seed",
    "sent_delay",
    "delivered_delay",
    "read_delay",
    "read_share",
    "window_refusal",
    "reply_share",
    "reply_delay",
    "review_delay",
    "reject_word",
    "reject_reason",
    "latency_ms",
    "max_mps",
    "error_rate",
    "error_codes",
    "server_error_rate",
    "unknown_rate",
    "unknown_mode",
    "duplicate_rate",
    "reorder_rate",
    "webhook_batch_max",
    "webhook_batch_window",
    "webhook_retry_initial",
    "webhook_retry_max",
)


class Command(BaseCommand):
    help = "Run the local WhatsApp Cloud API sandbox (sends, templates, media, signed webhooks, faults)."

    def add_arguments(self, parser: CommandParser) -> None:
        defaults = SandboxConfig()
        add = parser.add_argument
        add("--host", default=defaults.host, help="Interface to listen on (loopback by default).")
        add("--port", type=int, default=defaults.port, help="Port; 0 picks a free one (printed at start).")
        add("--webhook-url", default=None, help="Where signed webhooks are POSTed; none are sent without it.")
        add("--seed-file", default=None, help="JSON file of templates to upsert at start (docs/sandbox.md).")
        add("--seed", type=int, default=None, help="Random seed, for reproducible people and faults.")
        group = parser.add_argument_group("message lifecycle (seconds after acceptance)")
        group.add_argument("--sent-delay", type=float, default=defaults.sent_delay)
        group.add_argument("--delivered-delay", type=float, default=defaults.delivered_delay)
        group.add_argument("--read-delay", type=float, default=defaults.read_delay)
        group.add_argument("--read-share", type=float, default=defaults.read_share)
        group.add_argument(
            "--window-refusal",
            choices=("sync", "webhook"),
            default=defaults.window_refusal,
            help="Free-form outside the 24-hour window: 131047 in the answer, or accepted then failed.",
        )
        group = parser.add_argument_group("people")
        group.add_argument("--reply-share", type=float, default=defaults.reply_share)
        group.add_argument("--reply-delay", type=float, default=defaults.reply_delay)
        group.add_argument("--reply-mix", type=_mix, default=None, help="e.g. text=0.5,button=0.4,stop=0.1")
        group.add_argument(
            "--fail-ending",
            type=_ending,
            action="append",
            default=None,
            help="Numbers ending in DIGITS fail with CODE, e.g. 0026=131026 (repeatable; replaces defaults).",
        )
        group = parser.add_argument_group("templates")
        group.add_argument("--review-delay", type=float, default=defaults.review_delay)
        group.add_argument("--reject-word", default=defaults.reject_word)
        group.add_argument("--reject-reason", default=defaults.reject_reason)
        group = parser.add_argument_group("faults")
        group.add_argument("--latency-ms", type=float, default=defaults.latency_ms)
        group.add_argument("--max-mps", type=int, default=defaults.max_mps, help="Throughput cap (130429).")
        group.add_argument("--error-rate", type=float, default=defaults.error_rate)
        group.add_argument(
            "--error-codes",
            type=lambda v: [int(c) for c in v.split(",")],
            default=defaults.error_codes,
            help="Comma-separated codes drawn by --error-rate.",
        )
        group.add_argument("--server-error-rate", type=float, default=defaults.server_error_rate)
        group.add_argument("--unknown-rate", type=float, default=defaults.unknown_rate)
        group.add_argument("--unknown-mode", choices=("hang", "drop", "both"), default=defaults.unknown_mode)
        group.add_argument(
            "--management-error-code",
            type=int,
            default=defaults.management_error_code,
            help="refuse every template and upload call with this code (e.g. 80007); 0 = off",
        )
        group.add_argument("--duplicate-rate", type=float, default=defaults.duplicate_rate)
        group.add_argument("--reorder-rate", type=float, default=defaults.reorder_rate)
        group = parser.add_argument_group("webhook delivery")
        group.add_argument("--webhook-batch-max", type=int, default=defaults.webhook_batch_max)
        group.add_argument(
            "--webhook-batch-window",
            type=float,
            default=defaults.webhook_batch_window,
            help="Events due within this many seconds of each other go in one POST.",
        )
        group.add_argument("--webhook-retry-initial", type=float, default=defaults.webhook_retry_initial)
        group.add_argument("--webhook-retry-max", type=float, default=defaults.webhook_retry_max)

    def handle(self, *args: object, **options: object) -> None:
        config = SandboxConfig(
            access_token=settings.WHATSAPP_ACCESS_TOKEN,
            app_secret=settings.WHATSAPP_APP_SECRET,
            phone_number_id=settings.WHATSAPP_PHONE_NUMBER_ID,
            business_account_id=settings.WHATSAPP_BUSINESS_ACCOUNT_ID,
            app_id=settings.WHATSAPP_APP_ID,
            display_phone_number=settings.WHATSAPP_DISPLAY_PHONE_NUMBER,
        )
        for name in PASSTHROUGH_OPTIONS:
            setattr(config, name, options[name])
        if options["reply_mix"]:
            config.reply_mix = options["reply_mix"]
        if options["fail_ending"]:
            config.failing_endings = dict(options["fail_ending"])
        seed_templates = read_seed_file(options["seed_file"]) if options["seed_file"] else []

        def announce(sandbox: Sandbox) -> None:
            target = config.webhook_url or "nowhere (no --webhook-url)"
            self.stdout.write(f"WhatsApp sandbox listening on {sandbox.url}, webhooks to {target}")
            sys.stdout.flush()

        try:
            asyncio.run(serve_forever(config, seed_templates=seed_templates, on_ready=announce))
        except KeyboardInterrupt:
            pass
        except OSError as exc:
            raise CommandError(f"The sandbox could not listen on {config.host}:{config.port}: {exc}") from exc
