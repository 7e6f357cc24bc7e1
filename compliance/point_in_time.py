"""Who was opted in for a purpose at an instant, from the ledger itself, in one SQL statement.

Two readings of "at T" (docs/compliance.md, "Consent at a point in time"):

- ``HAPPENED`` — as it had happened: every event whose effective time (the earlier of
  ``occurred_at`` and ``recorded_at``) is at or before T, including back-dated evidence recorded
  later. This is what the person had said by then, as far as we know today.
- ``KNOWN`` — as we knew it then: only events recorded at or before T. This is what the system
  acted on at T (the proof stored on a message sent at T agrees with it).

In both, the order rule of ``contacts.selectors.deciding_event`` decides among the counted events:
import opt-ins do not count once the person has opted out on WhatsApp; take the latest effective
time L; the latest opt-out wins if it is effective within one second before L; otherwise the
latest event (ties: the later recorded, then the higher id).

One statement, no loop over contacts: window functions over the counted events give, per
contact, each event's rank in the deciding order, its rank among events of the same action, the
latest effective time and the latest opt-out's effective time; an event decides when it is the
latest opt-out and close to L, or when it is the latest event and no opt-out is close. Django
wraps the window filter in a subquery (SQLite and PostgreSQL alike).
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import Case, Exists, F, IntegerField, Max, OuterRef, Q, QuerySet, Value, When, Window
from django.db.models.functions import RowNumber

from contacts.models import ConsentAction, ConsentEvent, ConsentStatus
from contacts.selectors import IMPORTED_OPT_IN, OPT_OUT_PRECEDENCE, WHATSAPP_OPT_OUT

HAPPENED = "happened"
KNOWN = "known"
READINGS = {
    HAPPENED: "as it had happened (by effective time)",
    KNOWN: "as we knew it then (by recording time)",
}

_ORDER = [F("effective_at").desc(), F("recorded_at").desc(), F("id").desc()]


def _counted(*, purpose: str, at: datetime, reading: str) -> QuerySet[ConsentEvent]:
    """The events the reading counts at ``at``, the import rule applied among them."""
    if reading not in READINGS:
        raise ValueError(f"Unknown reading {reading!r}.")
    moment = Q(recorded_at__lte=at) if reading == KNOWN else Q(effective_at__lte=at)
    events = ConsentEvent.objects.filter(moment, purpose=purpose)
    whatsapp_opt_out = events.filter(WHATSAPP_OPT_OUT, contact_id=OuterRef("contact_id"))
    return events.exclude(IMPORTED_OPT_IN & Q(Exists(whatsapp_opt_out)))


def deciding_events_at(*, purpose: str, at: datetime, reading: str = HAPPENED) -> QuerySet[ConsentEvent]:
    """The event deciding each contact's consent for ``purpose`` at ``at``: one row per contact
    that had any counted event, with ``state`` annotated (``opted_in`` or ``opted_out``)."""
    by_contact = {"partition_by": [F("contact_id")]}
    opt_out = ConsentAction.OPT_OUT
    ranked = _counted(purpose=purpose, at=at, reading=reading).annotate(
        rank_all=Window(RowNumber(), order_by=_ORDER, **by_contact),
        rank_action=Window(RowNumber(), partition_by=[F("contact_id"), F("action")], order_by=_ORDER),
        latest=Window(Max("effective_at"), **by_contact),
        latest_opt_out=Window(
            Max(Case(When(action=opt_out, then=F("effective_at")))),
            **by_contact,
        ),
    )
    close = F("latest") - OPT_OUT_PRECEDENCE
    decides = ranked.annotate(
        decides=Case(
            When(Q(action=opt_out, rank_action=1, effective_at__gt=close), then=Value(1)),
            When(
                Q(rank_all=1) & (Q(latest_opt_out__isnull=True) | Q(latest_opt_out__lte=close)),
                then=Value(1),
            ),
            default=Value(0),
            output_field=IntegerField(),
        )
    ).filter(decides=1)
    return ConsentEvent.objects.filter(pk__in=decides.values("pk")).annotate(
        state=Case(
            When(action=opt_out, then=Value(ConsentStatus.OPTED_OUT)),
            default=Value(ConsentStatus.OPTED_IN),
        )
    )


def opted_in_at(*, purpose: str, at: datetime, reading: str = HAPPENED) -> QuerySet[ConsentEvent]:
    """The opt-ins deciding consent at ``at``: who was opted in, each with the event that made it so."""
    return deciding_events_at(purpose=purpose, at=at, reading=reading).filter(action=ConsentAction.OPT_IN)
