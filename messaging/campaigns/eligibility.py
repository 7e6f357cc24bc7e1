"""Who may receive a campaign now: the one SQL definition, shared by the preview and the dispatcher.

:func:`campaign_recipients` is the segment's members (the frozen rules once the campaign is
approved, the segment's current rules while it is a draft or awaits approval), each annotated
with ``exclusion`` — NULL when the contact may receive it, else the first reason that applies —
and ``send_language``, the template language they get. It is one query: what the preview counts
is what the dispatcher sends to.

The reasons, checked in this order (a contact is counted once, under the first):

1. ``no_address`` — neither a phone number nor a WhatsApp id;
2. ``not_on_whatsapp`` — WhatsApp reported the number is not on WhatsApp (131026);
3. ``opted_out`` — the current consent for the campaign's purpose is an opt-out;
4. ``no_consent`` — no provable opt-in for the purpose: no consent recorded, or a current-consent
   row that disagrees with its event or names one the order rule no longer says decides (the
   sender's ``consent_proof_mismatch``);
5. ``us_marketing`` — a MARKETING campaign to a number in the region US while
   ``WHATSAPP_US_MARKETING_BLOCKED`` is on;
6. ``missing_variable`` — a variable bound without a fallback has no value for the contact.

Consent is read as ``messaging.sending.rules.consent_verdict`` reads it — the current-consent row
*and* the event it names, and that event must be the one that decides under the order rule — here
for every member at once: the row and its event are joined (one ``LEFT JOIN`` each); whether the
named opt-in still decides is one ``NOT EXISTS`` over that contact's ledger, asked only for rows
that are opted in. A test holds it to ``consent_verdict`` over arbitrary small ledgers.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import phonenumbers
from django.conf import settings
from django.db.models import (
    Case,
    CharField,
    Exists,
    F,
    FilteredRelation,
    OuterRef,
    Q,
    QuerySet,
    TextChoices,
    Value,
    When,
)
from django.db.models.functions import Length, Replace, Substr
from django.db.models.lookups import Exact, In
from django.utils import timezone

from contacts.models import (
    ConsentAction,
    ConsentEvent,
    ConsentSource,
    ConsentStatus,
    Contact,
    Purpose,
)
from contacts.segments.compiler import members_q
from contacts.selectors import IMPORTED_OPT_IN, OPT_OUT_PRECEDENCE, WHATSAPP_OPT_OUT
from core.errors import ApplicationError
from messaging.campaign_models import Campaign
from messaging.campaigns.languages import (
    LIVE_STATUSES,
    campaign_content,
    campaign_template_check,
    language_expression,
)
from templates_app.models import Category


class Exclusion(TextChoices):
    NO_ADDRESS = "no_address", "No phone number or WhatsApp id"
    NOT_ON_WHATSAPP = "not_on_whatsapp", "Not on WhatsApp"
    OPTED_OUT = "opted_out", "Opted out"
    NO_CONSENT = "no_consent", "No opt-in for the purpose"
    US_MARKETING = "us_marketing", "US number (marketing template)"
    MISSING_VARIABLE = "missing_variable", "Missing variable without fallback"


# The order the reasons are checked in (the module docstring): the enum's order.
EXCLUSION_ORDER: tuple[Exclusion, ...] = tuple(Exclusion)


@dataclass(frozen=True)
class Audience:
    """What decides who receives a campaign, live or frozen at approval."""

    rules: Mapping[str, Any]
    segment_id: int | None
    purpose: str
    bindings: Mapping[str, Any]
    code_buttons: frozenset[str]
    languages: tuple[str, ...]
    default_language: str
    frozen: bool
    # Each language's variables (``bindings.template_slots``): a missing value counts only for
    # the contacts who get that language.
    slots: Mapping[str, tuple] = field(default_factory=dict)


def campaign_audience(campaign: Campaign, *, frozen: Mapping[str, Any] | None = None) -> Audience:
    """The rules, purpose, bindings and languages ``campaign_recipients`` uses.

    ``frozen``: a ``Campaign.frozen`` document to use instead of the campaign's own (approval
    previews what it is about to freeze). Without it: the campaign's frozen document once it is
    approved (or later), its live segment, template and bindings while a draft or awaiting approval.
    """
    if frozen is None and campaign.status not in LIVE_STATUSES and isinstance(campaign.frozen, dict):
        frozen = campaign.frozen if campaign.frozen.get("rules") else None
    if frozen is None:
        content = campaign_content(campaign)
        return Audience(
            rules=campaign.segment.rules,
            segment_id=campaign.segment_id,
            purpose=_live_purpose(campaign, content),
            bindings=content.bindings,
            code_buttons=_code_buttons(item.components for item in content.languages.values()),
            languages=tuple(sorted(content.languages)),
            default_language=content.default_language,
            frozen=False,
            slots=_slots({code: item.components for code, item in content.languages.items()}),
        )
    if not isinstance(frozen.get("rules"), Mapping) or not isinstance(frozen.get("languages"), Mapping):
        raise ApplicationError(
            f"Campaign “{campaign}” has no complete frozen copy (rules and languages): approve it again.",
            code="campaign_frozen_incomplete",
        )
    languages = frozen["languages"]
    categories = {item.get("category") for item in languages.values() if isinstance(item, Mapping)}
    marketing = campaign.purpose == Purpose.MARKETING or Category.MARKETING in categories
    default = frozen.get("default_language") or campaign.template.language
    return Audience(
        rules=frozen["rules"],
        segment_id=(frozen.get("segment") or {}).get("id", campaign.segment_id),
        purpose=Purpose.MARKETING if marketing else (campaign.purpose or Purpose.SERVICE),
        bindings=frozen.get("bindings") or {},
        code_buttons=_code_buttons(
            item.get("components", []) for item in languages.values() if isinstance(item, Mapping)
        ),
        languages=tuple(sorted(languages)),
        default_language=default,
        frozen=True,
        slots=_slots(
            {
                code: item.get("components", [])
                for code, item in languages.items()
                if isinstance(item, Mapping)
            }
        ),
    )


def _live_purpose(campaign: Campaign, content) -> str:
    """A draft's or pending campaign's purpose as its template asks it now
    (``campaign_template_check``), not as stored at its last edit or submission: WhatsApp may have
    re-categorised the template since, and the preview an Approver reads must count consent for
    what approval will freeze. A template the check refuses is read at its strictest: marketing
    if any of its languages is."""
    try:
        return campaign_template_check(campaign.template)
    except ApplicationError:
        if any(item.category == Category.MARKETING for item in content.languages.values()):
            return Purpose.MARKETING
        return campaign.purpose or Purpose.SERVICE


def _slots(components_by_language: Mapping[str, Any]) -> dict[str, tuple]:
    from messaging.campaigns.bindings import template_slots

    return {code: tuple(template_slots(components)) for code, components in components_by_language.items()}


def _code_buttons(components_per_language) -> frozenset[str]:
    from messaging.campaigns.bindings import template_slots

    return frozenset(
        slot.name
        for components in components_per_language
        for slot in template_slots(components)
        if slot.kind == "code"
    )


# --- the query -------------------------------------------------------------------------------------


def campaign_members(
    campaign: Campaign, *, now: datetime | None = None, frozen: Mapping[str, Any] | None = None
) -> QuerySet[Contact]:
    """The segment's live members (no merged-away rows, no staff test numbers), unannotated."""
    audience = campaign_audience(campaign, frozen=frozen)
    return _members(audience, now=now)


def _members(audience: Audience, *, now: datetime | None) -> QuerySet[Contact]:
    return Contact.objects.filter(
        members_q(dict(audience.rules), segment_id=audience.segment_id, now=now or timezone.now())
    )


def campaign_recipients(
    campaign: Campaign, *, now: datetime | None = None, frozen: Mapping[str, Any] | None = None
) -> QuerySet[Contact]:
    """The members, each with ``exclusion`` (NULL = may receive it) and ``send_language``.

    ``.filter(exclusion__isnull=True)`` is who gets it; ``.values("exclusion")`` counts the rest.
    """
    audience = campaign_audience(campaign, frozen=frozen)
    return recipients_of(audience, now=now)


def recipients_of(audience: Audience, *, now: datetime | None = None) -> QuerySet[Contact]:
    return (
        _members(audience, now=now)
        .alias(purpose_consent=FilteredRelation("consents", condition=Q(consents__purpose=audience.purpose)))
        .annotate(
            exclusion=exclusion_expression(audience),
            send_language=language_expression(audience.languages, audience.default_language),
        )
    )


def exclusion_expression(audience: Audience) -> Case:
    """The reason as one ``CASE`` (see the module docstring for the order). Needs the
    ``purpose_consent`` alias ``recipients_of`` adds."""
    may = []
    if audience.purpose == Purpose.MARKETING and settings.WHATSAPP_US_MARKETING_BLOCKED:
        may.append(When(us_number_q(), then=Value(Exclusion.US_MARKETING.value)))
    missing = _missing_value_q(audience)
    if missing is not None:
        may.append(When(missing, then=Value(Exclusion.MISSING_VARIABLE.value)))
    allowed = (
        Case(*may, default=Value(None), output_field=CharField())
        if may
        else Value(None, output_field=CharField())
    )
    return Case(
        When(no_address_q(), then=Value(Exclusion.NO_ADDRESS.value)),
        When(not_on_whatsapp_since__isnull=False, then=Value(Exclusion.NOT_ON_WHATSAPP.value)),
        When(opted_out_q(audience.purpose), then=Value(Exclusion.OPTED_OUT.value)),
        When(provable_opt_in_q(audience.purpose), then=allowed),
        default=Value(Exclusion.NO_CONSENT.value),
        output_field=CharField(),
    )


def _missing_value_q(audience: Audience) -> Q | None:
    """Per language (``bindings.language_missing_value_q``): a variable only one translation uses
    excludes none of those who get another."""
    from messaging.campaigns.bindings import language_missing_value_q, missing_value_q

    if audience.slots:
        q = language_missing_value_q(audience.bindings, audience.slots, default=audience.default_language)
    else:
        q = missing_value_q(audience.bindings, code_buttons=audience.code_buttons)
    # An empty Q(pk__in=[]) is "nobody": leave the WHEN out rather than ask it of every row.
    return None if q == Q(pk__in=[]) else q


# --- the reasons -----------------------------------------------------------------------------------


def no_address_q() -> Q:
    """``recipient_address`` is empty: no WhatsApp id and no phone."""
    return (Q(wa_id__isnull=True) | Q(wa_id="")) & (Q(phone__isnull=True) | Q(phone=""))


def opted_out_q(purpose: str) -> Q:
    """The current consent row is an opt-out and agrees with its event (``consent_verdict``'s
    ``opted_out``). Needs the ``purpose_consent`` alias."""
    return Q(
        purpose_consent__status=ConsentStatus.OPTED_OUT,
        purpose_consent__event__action=ConsentAction.OPT_OUT,
        purpose_consent__event__purpose=purpose,
        purpose_consent__event__contact_id=F("pk"),
    )


def provable_opt_in_q(purpose: str) -> Q:
    """``consent_verdict`` would answer GO: the row is an opt-in, agrees with its event, and that
    event is the one the order rule says decides now (``contacts.selectors.deciding_event``).

    The named opt-in decides exactly when it counts (not an imported opt-in of a person who opted
    out on WhatsApp), no counted event of that contact and purpose comes after it in the order
    rule's order (effective time, recorded time, id), and no opt-out is effective within the
    one-second precedence before it. Needs the ``purpose_consent`` alias.
    """
    named = "purpose_consent__event__"
    # A row first (FALSE, not NULL, without one), so SQL's AND stops there for people with no consent.
    consistent = Q(purpose_consent__isnull=False) & Q(
        purpose_consent__status=ConsentStatus.OPTED_IN,
        **{
            f"{named}action": ConsentAction.OPT_IN,
            f"{named}purpose": purpose,
            f"{named}contact_id": F("pk"),
        },
    )
    whatsapp_opt_out = Exists(
        ConsentEvent.objects.filter(WHATSAPP_OPT_OUT, contact_id=OuterRef("contact_id"), purpose=purpose)
    )
    effective, recorded, event_id = (
        OuterRef(f"{named}effective_at"),
        OuterRef(f"{named}recorded_at"),
        OuterRef(f"{named}id"),
    )
    outvoting = (
        ConsentEvent.objects.filter(contact_id=OuterRef("pk"), purpose=purpose)
        .filter(
            Q(effective_at__gt=effective)
            | Q(effective_at=effective, recorded_at__gt=recorded)
            | Q(effective_at=effective, recorded_at=recorded, pk__gt=event_id)
            | Q(action=ConsentAction.OPT_OUT, effective_at__gt=effective - OPT_OUT_PRECEDENCE)
        )
        .exclude(IMPORTED_OPT_IN & Q(whatsapp_opt_out))
    )
    named_is_imported = _imported_q(named) & Exists(
        ConsentEvent.objects.filter(WHATSAPP_OPT_OUT, contact_id=OuterRef("pk"), purpose=purpose)
    )
    # Every event that could outvote the named one is effective after the precedence before it: asked
    # first, this is an index-only probe of the ledger's (contact, purpose, effective time) index, and
    # for nearly everyone (one event, or none that recent) the answer ends the test.
    nearby = ConsentEvent.objects.filter(
        contact_id=OuterRef("pk"), purpose=purpose, effective_at__gt=effective - OPT_OUT_PRECEDENCE
    ).exclude(pk=event_id)
    return consistent & ~named_is_imported & (~Exists(nearby) | ~Exists(outvoting))


def _imported_q(prefix: str) -> Q:
    """``IMPORTED_OPT_IN``'s sources, on a related event (a merge's copy counts as its original)."""
    return (
        Q(**{f"{prefix}source": ConsentSource.IMPORT})
        | Q(**{f"{prefix}source": ConsentSource.MERGE, f"{prefix}carried_source": ConsentSource.IMPORT})
        | Q(
            **{
                f"{prefix}source": ConsentSource.MERGE,
                f"{prefix}carried_source": "",
                f"{prefix}evidence__original_source": ConsentSource.IMPORT,
            }
        )
    )


# --- US numbers ------------------------------------------------------------------------------------

# Exchanges tried per area code: an area code with valid numbers has them at these (checked against
# every exchange of every area code when written: the same 383 US area codes).
_SAMPLE_EXCHANGES = (234, 567, 890)


@functools.lru_cache(maxsize=1)
def us_area_codes() -> frozenset[str]:
    """The +1 area codes whose numbers libphonenumber places in the region US.

    Every other +1 region (Canada, Puerto Rico, Guam, the Caribbean) has area codes of its own, and
    an area code's numbers all have one region, so the region of a +1 number is its area code's.
    Read from the library once per process (about a second), so it follows its updates.
    """
    codes = set()
    for area in range(200, 1000):
        for exchange in _SAMPLE_EXCHANGES:
            number = phonenumbers.PhoneNumber(country_code=1, national_number=int(f"{area}{exchange}4567"))
            if phonenumbers.is_valid_number(number):
                if phonenumbers.region_code_for_number(number) == "US":
                    codes.add(str(area))
                break
    return frozenset(codes)


def us_number_q() -> Q:
    """``rules.us_marketing_blocked``'s region test in SQL: the number Meta sends to (the WhatsApp
    id, else the phone) is a +1 number of 10 digits whose area code is a US one and whose exchange
    starts with 2–9 (as every valid +1 number's does). Not the ``country`` field."""
    address = Case(
        When(Q(wa_id__isnull=False) & ~Q(wa_id=""), then=F("wa_id")),
        default=F("phone"),
        output_field=CharField(),
    )
    digits = Replace(address, Value("+"), Value(""))
    return Q(
        Exact(Substr(digits, 1, 1), "1"),
        Exact(Length(digits), 11),
        In(Substr(digits, 2, 3), sorted(us_area_codes())),
        In(Substr(digits, 5, 1), list("23456789")),
    )
