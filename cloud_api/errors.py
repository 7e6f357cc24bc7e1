"""Meta's error codes, each with the class that tells a dispatcher what to do about it.

This table is the one place that knows what a Cloud API error means for us. The HTTP answer of a
send, the ``errors[]`` of a ``failed`` status webhook and the answers of management calls are all
classified with :func:`classify`, and ``docs/whatsapp-errors.md`` is rendered from it
(``python -m cloud_api.error_docs``). Meta says to build logic on ``code`` (plus
``error_data.details``), never on the HTTP status or the title, which "will eventually be
deprecated" — so the HTTP status only breaks ties when there is no code at all.

Meanings are Meta's (docs/meta-facts.md section 2); classes are the error classes of docs/sending.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class ErrorClass(StrEnum):
    """What the sender must do; the value is the name used in the docs."""

    MESSAGE_THROUGHPUT = "message-throughput"
    API_CALL_LIMIT = "api-call-limit"
    PAIR_RATE = "pair-rate"
    TRANSIENT = "transient"
    DEFERRED = "deferred"
    TEMPLATE_PAUSED = "template-paused"
    RECIPIENT_PERMANENT = "recipient-permanent"
    REQUEST_PERMANENT = "request-permanent"
    ACCOUNT_LEVEL = "account-level"


# What each class means for a send; rendered into the docs beside the table.
CLASS_ACTIONS: dict[ErrorClass, str] = {
    ErrorClass.MESSAGE_THROUGHPUT: "Slow the global message limiter; retry the message later.",
    ErrorClass.API_CALL_LIMIT: "Back off management calls (templates, sync) only; not about message rate.",
    ErrorClass.PAIR_RATE: "Back off this recipient only, 4^n seconds; other recipients are unaffected.",
    ErrorClass.TRANSIENT: "Retry with backoff and jitter up to a deadline.",
    ErrorClass.DEFERRED: (
        "Retry no sooner than 24 hours (earlier retries extend the block), for at most "
        "`WHATSAPP_DEFERRED_RETRY_DAYS` after the first; then fail with Meta's code."
    ),
    ErrorClass.TEMPLATE_PAUSED: "The message waits; its campaign pauses until the template is approved.",
    ErrorClass.RECIPIENT_PERMANENT: "Fail the message; never retry it for this recipient.",
    ErrorClass.REQUEST_PERMANENT: "Fail the message: the template or parameters must be fixed first.",
    ErrorClass.ACCOUNT_LEVEL: "Halt sending everywhere until an Administrator clears the halt.",
}


@dataclass(frozen=True)
class ErrorCode:
    """One row of Meta's table: a code (or an inclusive range of codes) and its class."""

    first: int
    last: int
    error_class: ErrorClass
    meaning: str

    def covers(self, code: int) -> bool:
        return self.first <= code <= self.last

    @property
    def label(self) -> str:
        return str(self.first) if self.first == self.last else f"{self.first}–{self.last}"


def _code(code: int, error_class: ErrorClass, meaning: str) -> ErrorCode:
    return ErrorCode(code, code, error_class, meaning)


_T = ErrorClass
ERROR_CODES: tuple[ErrorCode, ...] = (
    _code(0, _T.ACCOUNT_LEVEL, "Unable to authenticate the app user (token expired or invalidated)."),
    _code(1, _T.TRANSIENT, "Invalid request or possible server error."),
    _code(2, _T.TRANSIENT, "Temporary downtime or overload."),
    _code(3, _T.ACCOUNT_LEVEL, "Capability or permission missing or removed."),
    _code(4, _T.API_CALL_LIMIT, "The app reached its API call rate limit."),
    _code(10, _T.ACCOUNT_LEVEL, "Permission denied or removed."),
    _code(33, _T.ACCOUNT_LEVEL, "The business phone number has been deleted."),
    _code(100, _T.REQUEST_PERMANENT, "Invalid, unsupported or misspelled parameter."),
    _code(190, _T.ACCOUNT_LEVEL, "Access token expired."),
    ErrorCode(200, 299, _T.ACCOUNT_LEVEL, "API permission missing or removed."),
    _code(368, _T.ACCOUNT_LEVEL, "Temporarily blocked for policy violations."),
    _code(80007, _T.API_CALL_LIMIT, "The WhatsApp Business Account reached its rate limit."),
    _code(130403, _T.RECIPIENT_PERMANENT, "The business has blocked this user."),
    _code(130429, _T.MESSAGE_THROUGHPUT, "Cloud API message throughput has been reached."),
    _code(130472, _T.RECIPIENT_PERMANENT, "The user's number is part of an experiment; not sent."),
    _code(
        130497, _T.ACCOUNT_LEVEL, "The business account is restricted from messaging users in this country."
    ),
    _code(131000, _T.TRANSIENT, "Something went wrong (unknown error)."),
    _code(131005, _T.ACCOUNT_LEVEL, "Permission not granted or removed."),
    _code(131008, _T.REQUEST_PERMANENT, "A required parameter is missing."),
    _code(131009, _T.REQUEST_PERMANENT, "A parameter value is not valid."),
    _code(131016, _T.TRANSIENT, "A service is temporarily unavailable."),
    _code(131021, _T.RECIPIENT_PERMANENT, "Sender and recipient phone number are the same."),
    _code(
        131026,
        _T.RECIPIENT_PERMANENT,
        "Message undeliverable: not a WhatsApp number, terms not accepted, or old app.",
    ),
    _code(131031, _T.ACCOUNT_LEVEL, "The business account has been locked."),
    _code(131037, _T.ACCOUNT_LEVEL, "The 555 number has no approved display name."),
    _code(131042, _T.ACCOUNT_LEVEL, "Business eligibility payment issue."),
    _code(131045, _T.ACCOUNT_LEVEL, "Phone number registration error."),
    _code(
        131047,
        _T.RECIPIENT_PERMANENT,
        "Re-engagement message: more than 24 hours since the recipient last replied.",
    ),
    _code(131048, _T.ACCOUNT_LEVEL, "Spam rate limit hit: earlier messages were blocked or flagged."),
    _code(
        131049,
        _T.DEFERRED,
        "Not delivered to maintain healthy ecosystem engagement (per-user marketing limit; "
        "providers report it for MARKETING templates to US numbers too).",
    ),
    _code(131050, _T.RECIPIENT_PERMANENT, "The user has stopped marketing messages from this business."),
    _code(131051, _T.REQUEST_PERMANENT, "Unsupported message type."),
    _code(131052, _T.REQUEST_PERMANENT, "Media the user sent could not be downloaded."),
    _code(131053, _T.REQUEST_PERMANENT, "The media sent could not be uploaded (unsupported type or MIME)."),
    _code(131056, _T.PAIR_RATE, "Pair rate limit: too many messages to the same recipient in a short time."),
    _code(131057, _T.TRANSIENT, "The business account is in maintenance mode."),
    _code(131063, _T.ACCOUNT_LEVEL, "Marketing messages are disabled for the Cloud API on this account."),
    _code(131064, _T.ACCOUNT_LEVEL, "Messaging limited after template classification violations."),
    _code(
        132000,
        _T.REQUEST_PERMANENT,
        "The number of parameter values does not match the template's variables.",
    ),
    _code(132001, _T.REQUEST_PERMANENT, "The template does not exist in that language or is not approved."),
    _code(132005, _T.REQUEST_PERMANENT, "Translated text is too long."),
    _code(132007, _T.REQUEST_PERMANENT, "Template content violates a WhatsApp policy."),
    _code(132012, _T.REQUEST_PERMANENT, "Parameter values are formatted incorrectly."),
    _code(132015, _T.TEMPLATE_PAUSED, "The template is paused because of low quality."),
    _code(
        132016,
        _T.REQUEST_PERMANENT,
        "The template has been paused too many times and is permanently disabled.",
    ),
    _code(132018, _T.REQUEST_PERMANENT, "Template validation error in the components sent."),
    _code(132068, _T.REQUEST_PERMANENT, "The Flow is blocked."),
    _code(132069, _T.TRANSIENT, "The Flow is throttled (10 messages using it in the last hour)."),
    _code(133004, _T.TRANSIENT, "Server temporarily unavailable."),
    _code(133010, _T.ACCOUNT_LEVEL, "The phone number is not registered on the platform."),
    _code(133016, _T.API_CALL_LIMIT, "Too many register or deregister attempts for this number."),
    _code(135000, _T.REQUEST_PERMANENT, "Generic user error: unknown error with the request parameters."),
    _code(
        2388019,
        _T.REQUEST_PERMANENT,
        "Template limit reached: a business account can have up to 250 templates.",
    ),
)
del _T

DEFAULT_CLASS_FOR_UNKNOWN_CODE = ErrorClass.REQUEST_PERMANENT
DEFAULT_CLASS_REASON = (
    "A code that is not in the table fails the one message it came with (request-permanent), with "
    "Meta's code and text kept for staff. Failing one message loudly is the cheapest safe choice: "
    "retrying a refusal we do not understand may repeat it forever (or, for a per-user limit, extend "
    "the block), and halting all sending on an unknown code would let one odd answer stop the "
    "business. An answer with no code at all is classified by its HTTP status: 5xx (a gateway or "
    "server failure before Meta's API produced an error) is transient, anything else "
    "request-permanent; a 504 never gets that far, because the client reports it as an unknown "
    "outcome (the gateway may have passed the request on). Add a new code to the table once Meta "
    "documents it."
)


def lookup(code: int) -> ErrorCode | None:
    """The table's row for ``code``, or None when Meta's table does not list it."""
    for row in ERROR_CODES:
        if row.covers(code):
            return row
    return None


def classify(code: int | None, http_status: int | None = None) -> ErrorClass:
    """The class of an error, by Meta's ``code``; the HTTP status only matters without one."""
    if code is not None:
        row = lookup(code)
        return row.error_class if row else DEFAULT_CLASS_FOR_UNKNOWN_CODE
    if http_status is None or http_status >= 500:
        return ErrorClass.TRANSIENT
    return ErrorClass.REQUEST_PERMANENT


@dataclass(frozen=True)
class MetaError:
    """An error Meta returned, in an HTTP answer or a ``failed`` status webhook, already classified.

    ``code`` is None only for answers that carried no Graph error at all (a 502 from a gateway).
    """

    code: int | None
    error_class: ErrorClass
    message: str
    details: str = ""
    title: str = ""
    error_type: str = ""
    subcode: int | None = None
    fbtrace_id: str = ""
    http_status: int | None = None
    # Meta's own sentence for people (``error_user_msg``), e.g. why a template was refused.
    user_message: str = ""

    @classmethod
    def from_graph_error(cls, error: dict[str, Any], http_status: int | None = None) -> MetaError:
        """Read an ``{"error": {...}}`` object (HTTP answer) or one ``errors[]`` item (webhook)."""
        code = _as_int(error.get("code"))
        error_data = error.get("error_data") or {}
        details = error_data.get("details", "") if isinstance(error_data, dict) else str(error_data)
        return cls(
            code=code,
            error_class=classify(code, http_status),
            message=str(error.get("message", "")),
            details=str(details or ""),
            title=str(error.get("title", "") or error.get("error_user_title", "")),
            error_type=str(error.get("type", "")),
            subcode=_as_int(error.get("error_subcode")),
            fbtrace_id=str(error.get("fbtrace_id", "")),
            http_status=http_status,
            user_message=str(error.get("error_user_msg", "") or ""),
        )

    @classmethod
    def without_code(cls, http_status: int, text: str) -> MetaError:
        """An HTTP failure whose body is not a Graph error (a proxy page, an empty 503)."""
        return cls(
            code=None,
            error_class=classify(None, http_status),
            message=f"HTTP {http_status} without a Graph API error body",
            details=text[:500],
            http_status=http_status,
        )


def _as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
