"""What happened to a request to the Cloud API, in the four shapes that tell the caller what is safe.

A send has exactly one of these outcomes, and each says whether the message
``may_have_been_sent``. The distinction that matters is between *not sent* (the request provably
never reached Meta: retrying cannot duplicate a message) and *outcome unknown* (it may have
reached Meta and been accepted: retrying blindly may send it twice, so the attempt waits
for a status webhook carrying its ``biz_opaque_callback_data`` instead).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cloud_api.errors import ErrorClass, MetaError


@dataclass(frozen=True)
class Accepted:
    """Meta accepted the message; delivery news comes later as status webhooks keyed by ``wamid``.

    ``message_status`` is only present for paced template sends (``accepted``,
    ``held_for_quality_assessment``, ``paused``); ``wa_id`` may differ from ``input``.
    """

    wamid: str
    wa_id: str
    input: str = ""
    message_status: str | None = None
    body: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    may_have_been_sent = True


@dataclass(frozen=True)
class Refused:
    """Meta answered with an error: nothing was sent; ``error.error_class`` says what to do."""

    error: MetaError

    @property
    def error_class(self) -> ErrorClass:
        return self.error.error_class

    @property
    def code(self) -> int | None:
        return self.error.code

    may_have_been_sent = False


@dataclass(frozen=True)
class NotSent:
    """The request never left: connection refused, no route, or the connect timed out."""

    reason: str

    may_have_been_sent = False


@dataclass(frozen=True)
class OutcomeUnknown:
    """The request may have reached Meta: the read timed out or the connection dropped after connecting.

    Never retried blindly; reconciled by a webhook carrying the send's ``biz_opaque_callback_data``.
    """

    reason: str

    may_have_been_sent = True


SendOutcome = Accepted | Refused | NotSent | OutcomeUnknown
Failure = Refused | NotSent | OutcomeUnknown


class CloudApiCallFailed(Exception):
    """A management call (templates, media, mark-as-read) did not succeed; ``outcome`` says how."""

    def __init__(self, outcome: Failure, *, operation: str):
        self.outcome = outcome
        self.operation = operation
        super().__init__(f"{operation}: {describe(outcome)}")


def describe(outcome: SendOutcome) -> str:
    """One line for logs and the admin."""
    match outcome:
        case Accepted(wamid=wamid):
            return f"accepted as {wamid}"
        case Refused(error=error):
            code = error.code if error.code is not None else f"HTTP {error.http_status}"
            return f"refused ({error.error_class}, {code}): {error.message}"
        case NotSent(reason=reason):
            return f"not sent (safe to retry): {reason}"
        case OutcomeUnknown(reason=reason):
            return f"outcome unknown (do not resend blindly): {reason}"
    raise TypeError(f"not an outcome: {outcome!r}")
