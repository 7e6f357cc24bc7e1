"""The send-time rules (docs/sending.md): may this message go now, wait, or never go?

One selector, :func:`send_time_verdict`, answers for one message at one instant. The dispatch
task asks it when it claims a message; the campaign preview and the campaign dispatch ask the
same function, so what the preview promises is what the sender does.

Business-initiated messages: consent for their purpose (the deciding event becomes the
message's proof), quiet hours and the frequency cap (marketing only), the messaging-limit budget
(only when the person's window is closed), the halt. Replies (``replies.is_reply``: answering an
inbound message, never a MARKETING template): only the window and WhatsApp's halt.
Every message: its contact must not be merged away, and a MARKETING template never goes to a US
number while Meta does not deliver those. Counts are aggregates in SQL, never loops over contacts.

Consent is read with its proof (:func:`consent_verdict`): the current-consent row *and* the event
it names, compared with each other and with the ledger, so a row that disagrees with its event, or
names one that no longer decides, never authorises a message. The dispatch asks
:func:`recheck_before_requests` once more after the limiter's wait.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.db.models import BigIntegerField, Case, Exists, OuterRef, Q, When
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast
from django.utils import timezone

from contacts.models import (
    ConsentAction,
    ConsentEvent,
    ConsentSource,
    ConsentStatus,
    Contact,
    CurrentConsent,
    Purpose,
)
from contacts.phones import InvalidPhoneNumber, parse_phone
from contacts.selectors import consent_status, deciding_event
from messaging.models import (
    HoldReason,
    MessageKind,
    OutboundMessage,
)
from messaging.sending.halt import active_halt
from messaging.sending.quiet_hours import quiet_hours_verdict
from messaging.sending.reach import WINDOW, Budget, FrequencyCap
from messaging.sending.replies import is_reply
from messaging.sending.verdicts import GO, HOLD, SKIP, SkipReason, Verdict, hold, skip
from templates_app.models import Category as TemplateCategory
from templates_app.models import MessageTemplate, TemplateStatus
from templates_app.sending import sendability

# A paused template is looked at again after this long (Meta pauses for 3 or 6 hours).
TEMPLATE_PAUSE_RECHECK = timedelta(hours=1)

logger = logging.getLogger(__name__)


# --- The selector ---------------------------------------------------------------------------


def send_time_verdict(message: OutboundMessage, now: datetime | None = None) -> Verdict:
    """Whether ``message`` may go at ``now``: go, hold (reason, until) or skip (reason)."""
    return send_time_verdicts([message], now)[0]


def send_time_verdicts(messages: Sequence[OutboundMessage], now: datetime | None = None) -> list[Verdict]:
    """:func:`send_time_verdict` for each message, in order, in a constant number of queries.

    The batch dispatcher asks it for a whole claimed batch. The messages' contacts must be
    current (the caller read them under the lock ``record_consent`` takes). Asked in order: a
    message let through counts for the next ones in the frequency cap and the budget, as it will
    have gone by then. Each check runs only for the messages that reach it, as for one message.
    """
    now = now or timezone.now()
    templates = _current_templates(messages)
    verdicts: list[Verdict | None] = [None] * len(messages)
    purposes: dict[int, str] = {}
    for index, message in enumerate(messages):
        verdict, purpose = _before_consent(message, templates, now)
        if verdict is not None:
            verdicts[index] = verdict
        else:
            purposes[index] = purpose
    consents = consent_verdicts(
        (messages[i].contact_id, purpose) for i, purpose in purposes.items() if not is_reply(messages[i])
    )
    overtaken = replies_overtaken_by_opt_out([messages[i] for i in purposes])
    for index in [i for i in purposes if messages[i].pk in overtaken]:
        verdicts[index] = skip(SkipReason.OPTED_OUT, OPTED_OUT_SINCE_DETAIL)
        del purposes[index]
    halt = active_halt()
    cap, budget = FrequencyCap(messages, now), Budget(messages, now)
    for index, purpose in purposes.items():
        verdicts[index] = _after_consent(
            messages[index], purpose, templates, now, consents=consents, halt=halt, cap=cap, budget=budget
        )
    return verdicts


def _before_consent(message: OutboundMessage, templates, now: datetime) -> tuple[Verdict | None, str]:
    """The checks before consent: a verdict that ends the message's turn, or (None, its purpose)."""
    contact = message.contact
    if contact.merged_into_id is not None:
        return merged_verdict(contact), ""
    if contact.not_on_whatsapp_since is not None:
        return skip(SkipReason.NOT_ON_WHATSAPP, "WhatsApp reported that this number is not on WhatsApp."), ""
    if not recipient_address(contact):
        return skip(SkipReason.NO_WHATSAPP_ADDRESS, "The contact has no phone number or WhatsApp id."), ""
    reply = is_reply(message)
    if (reply or message.kind != MessageKind.TEMPLATE) and not window_open(contact, now):
        return skip(
            SkipReason.WINDOW_CLOSED,
            "The person's 24-hour window closed before the message could go; "
            "only an approved template can reach them now.",
        ), ""
    template_purpose_now = (
        _template_purpose_now(message, templates) if message.kind == MessageKind.TEMPLATE else ""
    )
    if reply and template_purpose_now == Purpose.MARKETING:
        return skip(SkipReason.MARKETING_NOT_A_REPLY, MARKETING_REPLY_DETAIL), ""
    if reply:
        return None, message.purpose
    return None, template_purpose_now or message.purpose


def _after_consent(
    message: OutboundMessage, purpose: str, templates, now: datetime, *, consents, halt, cap, budget
) -> Verdict:
    contact = message.contact
    reply = is_reply(message)
    event_id = None
    if not reply:
        consent = consents[(contact.pk, purpose)]
        if not consent.go:
            return consent
        event_id = consent.authorising_event_id
    # A template's purpose is its purpose now (a reply's is never marketing): see _before_consent.
    if (
        message.kind == MessageKind.TEMPLATE
        and purpose == Purpose.MARKETING
        and us_marketing_blocked(contact)
    ):
        return skip(SkipReason.US_MARKETING_BLOCKED, US_MARKETING_DETAIL)

    version_id = None
    if message.kind == MessageKind.TEMPLATE:
        verdict = _template_verdict(message, templates, now)
        if not verdict.go:
            return verdict
        version_id = verdict.template_version_id

    if halt is not None and halt.holds(message):
        return hold(HoldReason.HALT, None, f"Sending is halted: {halt.reason}")

    if not reply:
        if purpose == Purpose.MARKETING:
            verdict = quiet_hours_verdict(contact, now)
            if not verdict.go:
                return verdict
            verdict = cap.verdict(message)
            if not verdict.go:
                return verdict
        if not window_open(contact, now):
            verdict = budget.verdict(message)
            if not verdict.go:
                return verdict

    return Verdict(GO, authorising_event_id=event_id, template_version_id=version_id, purpose=purpose)


def recheck_before_request(message: OutboundMessage, *, merged_into_id: int | None) -> Verdict:
    """:func:`recheck_before_requests` for one message."""
    return recheck_before_requests([message], merged_into_ids=[merged_into_id])[0]


def recheck_before_requests(
    messages: Sequence[OutboundMessage], *, merged_into_ids: Sequence[int | None]
) -> list[Verdict]:
    """Asked again right before the requests leave, after the limiter's wait: what can change
    while a message waits for its slot and must still win — a merge, and (business-initiated
    messages) consent, read with its proof. One consent query per purpose for the whole sub-batch.

    The caller holds the contacts' row locks (``record_consent`` waits for them) and read each
    contact's ``merged_into_id`` (``merged_into_ids``, in the messages' order) with them, so an
    opt-out or a merge being recorded now is either seen here or committed only after the
    attempts are written. GO carries the consent event that authorises the message *now*: the
    proof.
    """
    consents = consent_verdicts(
        (m.contact_id, m.purpose)
        for m, merged_into_id in zip(messages, merged_into_ids, strict=True)
        if merged_into_id is None and not is_reply(m)
    )
    overtaken = replies_overtaken_by_opt_out(messages)
    verdicts = []
    for message, merged_into_id in zip(messages, merged_into_ids, strict=True):
        if merged_into_id is not None:
            verdicts.append(merged_verdict(Contact.objects.get(pk=message.contact_id)))
        elif message.pk in overtaken:
            verdicts.append(skip(SkipReason.OPTED_OUT, OPTED_OUT_SINCE_DETAIL))
        elif is_reply(message):
            verdicts.append(Verdict(GO, purpose=message.purpose))
        else:
            verdicts.append(consents[(message.contact_id, message.purpose)])
    return verdicts


# --- Consent, with its proof ----------------------------------------------------------------


def consent_verdict(*, contact_id: int, purpose: str) -> Verdict:
    """GO with the authorising event when the contact's current consent for ``purpose`` is an
    opt-in *and* the event it names is that contact's opt-in for that purpose *and* the one the
    order rule says decides now; else SKIP.

    The current-consent row is a cache of the ledger's order rule. It authorises nothing on its
    own: a row whose status, contact or purpose disagrees with its event, or that names an event
    the ledger has moved past (a hand edit, a bad data fix, a bulk writer that skipped the rule),
    is refused with ``consent_proof_mismatch`` — never sent with an outdated opt-in as its "proof".

    Cost: the row, its event and whether the ledger is *settled* — no event of that contact and
    purpose comes after the named one in the order rule's order, and none is an opt-out — in one
    query. A settled opt-in decides under the order rule (docs/consent.md) whatever else it says
    about earlier events. Only when something later or an opt-out exists (a person who opted out
    and back in, or a row that is wrong) is the order rule itself asked,
    ``contacts.selectors.deciding_event``, a few queries more; its answer must be the named event.
    So the rule lives in one place, and the common case costs one query.
    """
    return consent_verdicts([(contact_id, purpose)])[(contact_id, purpose)]


def consent_verdicts(pairs: Iterable[tuple[int, str]]) -> dict[tuple[int, str], Verdict]:
    """:func:`consent_verdict` for many (contact id, purpose) pairs: one query per purpose asked,
    whatever their number (the batch dispatcher asks it for every message of a batch)."""
    by_purpose: dict[str, set[int]] = {}
    for contact_id, purpose in pairs:
        by_purpose.setdefault(purpose, set()).add(contact_id)
    verdicts = {}
    for purpose, contact_ids in by_purpose.items():
        found = {row.contact_id: row for row in _current_consent_rows(purpose, sorted(contact_ids))}
        for contact_id in contact_ids:
            verdicts[(contact_id, purpose)] = _consent_from_row(
                found.get(contact_id), contact_id=contact_id, purpose=purpose
            )
    return verdicts


def _consent_columns(event: str) -> str:
    """The select list of a current-consent row ``cc``, the event ``e`` it names, and
    ``unsettled``: whether an event of that contact and purpose comes after ``e`` in the order
    rule's order (effective time, then recorded at, then id) or is an opt-out. Its parameters:
    the purpose, then ``ConsentAction.OPT_OUT``."""
    return f"""
        cc.id, cc.contact_id, cc.purpose, cc.status, cc.since, cc.event_id,
        e.action AS event_action, e.purpose AS event_purpose, e.contact_id AS event_contact_id,
        EXISTS (
            SELECT 1 FROM {event} l
            WHERE l.contact_id = cc.contact_id AND l.purpose = %s
              AND (l.effective_at > e.effective_at
                   OR (l.effective_at = e.effective_at AND l.recorded_at > e.recorded_at)
                   OR (l.effective_at = e.effective_at AND l.recorded_at = e.recorded_at
                       AND l.id > e.id)
                   OR l.action = %s)
        ) AS unsettled
    """


def _current_consent_rows(purpose: str, contact_ids: list[int]) -> Iterable[ConsentRow]:
    """The contacts' current-consent rows for ``purpose``, each with the event it names and whether
    the ledger is *settled* after it (no later event in the order rule's order, and no opt-out).

    One statement written out, not built by the ORM, read through a plain cursor into
    :class:`ConsentRow`: this runs twice for every batch (and, as :func:`recipient_now`, for
    every single send), and composing the query (a join, a correlated EXISTS of three ordered
    comparisons) cost three times as long as running it, and making model instances of its rows
    (``raw``) as long again.
    """
    current, event = _consent_tables()
    if connection.vendor == "postgresql":
        contacts_sql, contacts_params = "cc.contact_id = ANY(%s)", [contact_ids]
    else:
        contacts_sql = f"cc.contact_id IN ({', '.join(['%s'] * len(contact_ids))})"
        contacts_params = contact_ids
    sql = f"""
        SELECT {_consent_columns(event)}
        FROM {current} cc JOIN {event} e ON e.id = cc.event_id
        WHERE cc.purpose = %s AND {contacts_sql}
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [purpose, ConsentAction.OPT_OUT, purpose, *contacts_params])
        return [ConsentRow.of(found) for found in cursor.fetchall()]


def _consent_tables() -> tuple[str, str]:
    quote = connection.ops.quote_name
    return quote(CurrentConsent._meta.db_table), quote(ConsentEvent._meta.db_table)


@dataclass(frozen=True)
class EventRef:
    """What a current-consent row's proof check reads of the event it names."""

    pk: int
    action: str
    purpose: str
    contact_id: int


@dataclass(frozen=True)
class ConsentRow:
    """A current-consent row as :func:`_consent_columns` selects it, with its event and whether
    the ledger is settled after it: all the verdict reads, without a model instance per row."""

    pk: int
    contact_id: int
    purpose: str
    status: str
    since: datetime
    event_id: int
    event: EventRef
    unsettled: bool

    @classmethod
    def of(cls, found: Sequence) -> ConsentRow:
        """From the first ten columns of a row of :func:`_consent_columns`."""
        (
            pk,
            contact_id,
            purpose,
            status,
            since,
            event_id,
            action,
            event_purpose,
            event_contact_id,
            unsettled,
        ) = found[:10]
        return cls(
            pk=pk,
            contact_id=contact_id,
            purpose=purpose,
            status=status,
            since=_from_db(since),
            event_id=event_id,
            event=EventRef(pk=event_id, action=action, purpose=event_purpose, contact_id=event_contact_id),
            unsettled=bool(unsettled),
        )


@dataclass(frozen=True)
class Recipient:
    """One contact as a single send finds it in the database: :func:`recipient_now`."""

    merged_into_id: int | None
    consent: Verdict | None  # :func:`consent_verdict` for the purpose asked; None when none was


def recipient_now(*, contact_id: int, purpose: str = "") -> Recipient | None:
    """What ``send_message`` reads of the contact before it queues: whether the row still exists
    (None when it does not), whom it was merged into, and — for a ``purpose`` — the consent
    verdict :func:`consent_verdict` gives, in one query instead of one each.

    The same statement as :func:`consent_verdicts`' (the row, its event, whether the ledger is
    settled), outer-joined to the contact's row, so the verdict is built by the same code and an
    unsettled opt-in still asks the order rule. No row lock: queue time refuses early what would
    never go, and what changes afterwards is caught when the dispatcher claims the message and
    again right before its request, with the contacts locked (:func:`recheck_before_requests`).
    """
    contact = connection.ops.quote_name(Contact._meta.db_table)
    if not purpose:
        found = list(Contact.objects.filter(pk=contact_id).values_list("merged_into_id", flat=True))
        return Recipient(merged_into_id=found[0], consent=None) if found else None
    current, event = _consent_tables()
    sql = f"""
        SELECT {_consent_columns(event)}, c.merged_into_id
        FROM {contact} c
        LEFT JOIN ({current} cc JOIN {event} e ON e.id = cc.event_id)
          ON cc.contact_id = c.id AND cc.purpose = %s
        WHERE c.id = %s
    """
    with connection.cursor() as cursor:  # not ``raw``: its machinery cost as much as the query
        cursor.execute(sql, [purpose, ConsentAction.OPT_OUT, purpose, contact_id])
        found = cursor.fetchone()
    if found is None:
        return None
    row = ConsentRow.of(found) if found[0] is not None else None
    return Recipient(
        merged_into_id=found[-1], consent=_consent_from_row(row, contact_id=contact_id, purpose=purpose)
    )


def _from_db(since):
    """A current-consent row's ``since`` as the ORM would give it (SQLite returns text)."""
    col = CurrentConsent._meta.get_field("since").get_col(CurrentConsent._meta.db_table)
    for convert in connection.ops.get_db_converters(col):
        since = convert(since, col, connection)
    return since


def _consent_from_row(row: ConsentRow | None, *, contact_id: int, purpose: str) -> Verdict:
    if row is None:
        return skip(SkipReason.NO_CONSENT, f"No {purpose} opt-in is recorded for this contact.")
    problem = _proof_problem(row, contact_id=contact_id, purpose=purpose)
    if not problem and row.event.action == ConsentAction.OPT_IN and row.unsettled:
        deciding = deciding_event(contact=Contact(pk=contact_id), purpose=purpose)
        if deciding is None or deciding.pk != row.event_id:
            decides = f"event {deciding.pk} ({deciding.action})" if deciding else "nothing"
            problem = f"event {row.event_id} is not the one that decides now: {decides} does"
    if problem:
        logger.error(
            "current consent %s (contact %s, %s) disagrees with its event: %s",
            row.pk,
            contact_id,
            purpose,
            problem,
        )
        return skip(
            SkipReason.CONSENT_PROOF_MISMATCH,
            f"The contact's current {purpose} consent disagrees with the consent event it names "
            f"({problem}); nothing is sent without its proof. Recompute it from the ledger.",
        )
    if row.event.action != ConsentAction.OPT_IN:
        return skip(
            SkipReason.OPTED_OUT, f"The contact opted out of {purpose} messages on {row.since:%Y-%m-%d}."
        )
    return Verdict(GO, authorising_event_id=row.event_id, purpose=purpose)


def _proof_problem(row: ConsentRow, *, contact_id: int, purpose: str) -> str:
    event = row.event
    if event.contact_id != contact_id:
        return f"event {event.pk} belongs to another contact"
    if event.purpose != purpose:
        return f"event {event.pk} is about {event.purpose}, not {purpose}"
    if consent_status(event) != row.status:
        what = "an opt-in" if event.action == ConsentAction.OPT_IN else "an opt-out"
        return f"the row says {row.status} but event {event.pk} is {what}"
    return ""


# --- Merged contacts and US marketing -------------------------------------------------------


def merged_verdict(contact: Contact) -> Verdict:
    """A merged-away row is never a recipient: the survivor stands for the person (docs/sending.md)."""
    survivor = Contact.objects.filter(pk=contact.merged_into_id).first()
    return skip(
        SkipReason.CONTACT_MERGED,
        f"The contact was merged into {survivor or f'contact {contact.merged_into_id}'} "
        f"(#{contact.merged_into_id}); send to that contact instead.",
    )


def replies_overtaken_by_opt_out(messages: Sequence[OutboundMessage]) -> set[int]:
    """The replies among ``messages`` whose person has opted out of the reply's purpose since
    writing the message it answers: one query, none when no message is a reply.

    A reply needs no opt-in because the person wrote first, but an opt-out they made *after*
    writing ends that: a reply queued before their "STOP ALL" and sent after it would outvote it.
    Meta's times are whole seconds, so a message written in the opt-out's own second counts as
    before it (the order rule's caution), except the opt-out's own message and any the person
    wrote after it — which the keyword's or button's evidence names — so the confirmation of the
    STOP still goes, and a message they write after their opt-out can be answered
    (docs/consent.md). Current consent is trusted here only to *stop* a message: a wrong row can
    make this skip, never send.
    """
    replies = [message.pk for message in messages if is_reply(message)]
    if not replies:
        return set()
    answered_at = OuterRef("reply_to__sent_at")
    # The inbound message that carried a keyword or button opt-out (the webhook writes its id in
    # the evidence); other sources name none.
    own_message = Case(
        When(
            event__source__in=[ConsentSource.KEYWORD, ConsentSource.BUTTON],
            event__evidence__has_key="inbound_message_id",
            then=Cast(KeyTextTransform("inbound_message_id", "event__evidence"), BigIntegerField()),
        ),
        default=None,
        output_field=BigIntegerField(),
    )
    opted_out_since = (
        CurrentConsent.objects.filter(
            contact_id=OuterRef("contact_id"), purpose=OuterRef("purpose"), status=ConsentStatus.OPTED_OUT
        )
        .annotate(own_message=own_message)
        .filter(
            Q(since__gt=answered_at)
            | Q(since=answered_at)
            & (Q(own_message__isnull=True) | Q(own_message__gt=OuterRef("reply_to_id")))
        )
    )
    return set(
        OutboundMessage.objects.filter(pk__in=replies)
        .filter(Exists(opted_out_since))
        .values_list("pk", flat=True)
    )


OPTED_OUT_SINCE_DETAIL = (
    "The person opted out after writing the message this reply answers; only a message they write "
    "after their opt-out can be answered."
)
MARKETING_REPLY_DETAIL = (
    "WhatsApp re-categorised the template as MARKETING after the reply was queued, and a MARKETING "
    "template is never a reply; send it as a business-initiated message (it needs a marketing opt-in)."
)

US_MARKETING_DETAIL = (
    "WhatsApp does not deliver MARKETING templates to US numbers (it answers 131049); "
    "lift WHATSAPP_US_MARKETING_BLOCKED once Meta delivers them again."
)


def us_marketing_blocked(contact: Contact) -> bool:
    """A MARKETING template to this contact would be refused: the number Meta sends to is in the
    US (libphonenumber's region US — not every +1: Canada, Puerto Rico or Guam are regions of
    their own) and ``WHATSAPP_US_MARKETING_BLOCKED`` is on."""
    if not settings.WHATSAPP_US_MARKETING_BLOCKED:
        return False
    address = recipient_address(contact)
    if not address.startswith("+1"):
        return False  # only the +1 calling code has US numbers: no parse needed (the common case)
    try:
        return parse_phone(address).region == "US"
    except InvalidPhoneNumber:
        return False  # not a number we can place; Meta will say what it is


# --- Window and address ---------------------------------------------------------------------


def window_open(contact: Contact, now: datetime | None = None) -> bool:
    """The 24-hour customer service window: open while the person's last message is under 24 h old."""
    now = now or timezone.now()
    return contact.last_inbound_at is not None and now - contact.last_inbound_at < WINDOW


def recipient_address(contact: Contact) -> str:
    """Meta's ``to``: the WhatsApp id Meta reported (it can differ from the phone), else the phone.

    Always with ``+``: without it Meta prepends the business number's country code.
    """
    if contact.wa_id:
        return "+" + contact.wa_id.lstrip("+")
    return contact.phone or ""


# --- Template -------------------------------------------------------------------------------


def template_purpose(*categories: str) -> str:
    """Marketing consent when any of the categories is MARKETING, else service consent.

    Meta may re-categorise a template (``template_category_update``): that changes the template's
    category, not the versions', and the message then goes as marketing.
    """
    return Purpose.MARKETING if TemplateCategory.MARKETING in categories else Purpose.SERVICE


def _current_templates(messages: Sequence[OutboundMessage]) -> dict[int, MessageTemplate]:
    """The templates of the messages' versions as they stand now (Meta may have paused, rejected or
    re-categorised one since the message was queued), with their approved version: one query."""
    ids = {m.template_version.template_id for m in messages if m.kind == MessageKind.TEMPLATE}
    if not ids:
        return {}
    return {t.pk: t for t in MessageTemplate.objects.filter(pk__in=ids).select_related("approved_version")}


def _template_purpose_now(message: OutboundMessage, templates: dict[int, MessageTemplate]) -> str:
    template = templates[message.template_version.template_id]
    categories = [message.template_version.category, template.category]
    if template.approved_version_id is not None:
        categories.append(template.approved_version.category)
    purpose = template_purpose(*categories)
    return Purpose.MARKETING if message.purpose == Purpose.MARKETING else purpose


def _template_verdict(
    message: OutboundMessage, templates: dict[int, MessageTemplate], now: datetime
) -> Verdict:
    template = templates[message.template_version.template_id]
    if template.status == TemplateStatus.PAUSED:
        return hold(
            HoldReason.TEMPLATE_PAUSED,
            now + TEMPLATE_PAUSE_RECHECK,
            f"The template {template} is paused by WhatsApp; the message waits until it is approved again.",
        )
    if template.status != TemplateStatus.APPROVED or template.approved_version_id is None:
        return skip(
            SkipReason.TEMPLATE_NOT_SENDABLE,
            f"The template {template} is no longer approved ({template.status}).",
        )
    if template.approved_version_id != message.template_version_id:
        # Meta always sends the template's current approved content: the parameters must fit it.
        result = sendability(template, message.parameters)
        if not result.ok:
            return skip(SkipReason.TEMPLATE_PARAMETERS_INVALID, result.reason)
    return Verdict(GO, template_version_id=template.approved_version_id)


__all__ = [
    "GO",
    "HOLD",
    "SKIP",
    "Recipient",
    "SkipReason",
    "Verdict",
    "consent_verdict",
    "consent_verdicts",
    "merged_verdict",
    "recheck_before_request",
    "recheck_before_requests",
    "recipient_address",
    "recipient_now",
    "send_time_verdict",
    "send_time_verdicts",
    "us_marketing_blocked",
    "window_open",
]
