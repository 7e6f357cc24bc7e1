"""What the send-time rules answer: go, hold (with a reason and until when) or skip (never goes)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

GO, HOLD, SKIP = "go", "hold", "skip"


class SkipReason:
    """Why a message may never go; stored in ``error_class`` of the skipped message."""

    NO_CONSENT = "no_consent"
    OPTED_OUT = "opted_out"
    WINDOW_CLOSED = "window_closed"
    NOT_ON_WHATSAPP = "not_on_whatsapp"
    NO_WHATSAPP_ADDRESS = "no_whatsapp_address"
    TEMPLATE_NOT_SENDABLE = "template_not_sendable"
    TEMPLATE_PARAMETERS_INVALID = "template_parameters_invalid"
    NO_COMMON_SENDING_HOURS = "no_common_sending_hours"
    CONSENT_PROOF_MISMATCH = "consent_proof_mismatch"
    CONTACT_MERGED = "contact_merged"
    US_MARKETING_BLOCKED = "us_marketing_blocked"
    MARKETING_NOT_A_REPLY = "marketing_not_a_reply"


@dataclass(frozen=True)
class Verdict:
    action: str  # GO, HOLD or SKIP
    reason: str = ""  # a HoldReason for HOLD, a SkipReason for SKIP
    until: datetime | None = None  # HOLD: the earliest time it may go (None: until released)
    detail: str = ""  # for people
    authorising_event_id: int | None = None  # GO of a business-initiated message: the proof
    template_version_id: int | None = None  # GO of a template: the approved version it goes with
    purpose: str = ""  # GO of a business-initiated message: the purpose whose consent authorised it

    @property
    def go(self) -> bool:
        return self.action == GO

    @property
    def held(self) -> bool:
        return self.action == HOLD

    @property
    def skipped(self) -> bool:
        return self.action == SKIP


def hold(reason: str, until: datetime | None, detail: str) -> Verdict:
    return Verdict(HOLD, reason=reason, until=until, detail=detail)


def skip(reason: str, detail: str) -> Verdict:
    return Verdict(SKIP, reason=reason, detail=detail)
