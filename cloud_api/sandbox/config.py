"""Every knob of the sandbox in one place: identities, timings, simulated people, faults, webhook delivery.

The management command's flags and the ``/_sandbox/config`` control endpoint both set these
fields by name, so a flag ``--reply-share 0.2`` is the field ``reply_share``. Fields listed in
``FIXED_AT_START`` cannot change while the sandbox runs.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

UnknownMode = Literal["hang", "drop", "both"]
WindowRefusal = Literal["sync", "webhook"]

FIXED_AT_START = frozenset(
    {"host", "port", "app_secret", "access_token", "phone_number_id", "business_account_id", "app_id", "seed"}
)


@dataclass
class SandboxConfig:
    # --- Who "Meta" believes we are (from settings in the command) ---
    host: str = "127.0.0.1"
    port: int = 8001
    access_token: str = "sandbox-access-token"
    app_secret: str = "sandbox-app-secret"
    phone_number_id: str = "106540352242922"
    business_account_id: str = "102290129340398"
    app_id: str = "1000000000000001"
    display_phone_number: str = "15550783881"
    seed: int | None = None

    # --- Webhooks ---
    webhook_url: str | None = None
    webhook_batch_max: int = 50  # statuses and messages due together go in one POST, up to this many
    webhook_batch_window: float = (
        0.05  # events due within this many seconds of each other count as "together"
    )
    webhook_concurrency: int = 4  # Meta delivers concurrently
    webhook_timeout: float = 10.0
    webhook_retry_initial: float = 1.0  # first retry after this many seconds, doubling each time
    webhook_retry_max: float = 300.0  # the backoff never exceeds this
    webhook_retry_for: float = 7 * 24 * 3600.0  # Meta retries for up to 7 days, then drops
    duplicate_rate: float = 0.0  # share of webhook events delivered a second time
    reorder_rate: float = 0.0  # share of messages whose `sent` arrives after `delivered`/`read`

    # --- Message lifecycle (seconds after the send was accepted) ---
    sent_delay: float = 0.2
    delivered_delay: float = 1.0
    read_delay: float = 3.0
    read_share: float = 0.8  # share of delivered messages that are read
    window_seconds: float = 24 * 3600.0
    window_refusal: WindowRefusal = (
        "sync"  # free-form outside the window: 131047 in the answer or in a webhook
    )

    # --- Simulated people ---
    reply_share: float = 0.0  # share of read messages the person answers
    reply_delay: float = 2.0  # seconds after `read`
    reply_mix: dict[str, float] = field(default_factory=lambda: {"text": 0.5, "button": 0.4, "stop": 0.1})
    # Numbers ending like this are not on WhatsApp or fail delivery with that code.
    failing_endings: dict[str, int] = field(
        default_factory=lambda: {"0026": 131026, "0049": 131049, "0050": 131050}
    )

    # --- Templates ---
    review_delay: float = 5.0  # seconds until a submitted or edited template is approved or rejected
    reject_word: str = "rejectme"  # a body containing this word is rejected
    reject_reason: str = "ABUSIVE_CONTENT"
    template_limit: int = 250
    enforce_edit_limits: bool = True  # approved templates: 1 edit per 24 h, 10 per 30 days

    # --- Faults ---
    latency_ms: float = 0.0  # added before every Graph answer
    max_mps: int = 0  # sends per second above this are refused with 130429; 0 = no cap
    error_rate: float = 0.0  # share of sends refused with one of error_codes
    error_codes: list[int] = field(default_factory=lambda: [131000])
    server_error_rate: float = 0.0  # share of sends answered 503 without a Graph error
    unknown_rate: float = 0.0  # share of sends accepted whose answer never comes or is cut off
    unknown_mode: UnknownMode = "both"
    hang_seconds: float = 30.0  # a "hung" answer waits this long (or until the client leaves), then drops
    # Every management call (templates, uploads) is refused with this code while set, e.g. the
    # Graph API call limits 4 or 80007; 0 = off.
    management_error_code: int = 0

    # --- Memory ---
    record_limit: int = 100_000  # accepted messages and refusals kept for inspection
    webhook_log_limit: int = 1_000  # webhook delivery attempts (with their bodies) kept for inspection

    def update(self, changes: dict[str, Any]) -> None:
        """Apply runtime changes by field name; unknown or fixed fields are refused with ValueError."""
        names = {f.name: f for f in dataclasses.fields(self)}
        for name in changes:
            if name not in names:
                raise ValueError(f"unknown sandbox setting {name!r}")
            if name in FIXED_AT_START:
                raise ValueError(f"{name!r} is fixed while the sandbox runs")
        for name, value in changes.items():
            if name == "failing_endings":
                value = {str(k): int(v) for k, v in value.items()}
            elif name == "error_codes":
                value = [int(code) for code in value]
            setattr(self, name, value)

    def as_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data.pop("access_token")
        data.pop("app_secret")
        return data
