"""``campaign_recipients``: who may receive a campaign, each exclusion reason, their order, and the
agreement with the per-message send rules (consent with its proof, US marketing)."""

import itertools
from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import BooleanField, Case, Value, When
from django.test import override_settings
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contacts.consent_bulk import current_consent_refresh_bulk
from contacts.merging import contact_merge
from contacts.models import (
    ConsentAction,
    ConsentEvent,
    ConsentSource,
    ConsentStatus,
    Contact,
    CurrentConsent,
    Purpose,
    Tag,
)
from contacts.models import (
    TestNumber as StaffNumber,
)
from contacts.segments.services import segment_create
from core.actors import Actor
from core.errors import ApplicationError
from messaging.campaign_models import Campaign, CampaignStatus
from messaging.campaigns.eligibility import (
    EXCLUSION_ORDER,
    Exclusion,
    campaign_members,
    campaign_recipients,
    us_area_codes,
    us_number_q,
)
from messaging.sending.rules import SkipReason, consent_verdict, us_marketing_blocked
from templates_app.demo import seed_templates
from templates_app.models import MessageTemplate, TemplateVersion
from tests.factories import ContactFactory, ledger_event, opt_in, opt_out

pytestmark = pytest.mark.django_db

SYSTEM = Actor.system("tests")
EVERYONE = {"op": "none", "rules": [{"kind": "tag", "tag": "outsider"}]}
FIRST_NAME = {"source": "field", "value": "first_name", "fallback": "", "format": ""}
_names = itertools.count(1)


@pytest.fixture
def templates(db):
    return {t.name: t for t in seed_templates(actor=SYSTEM)}


def make_campaign(template, *, rules=None, **fields) -> Campaign:
    Tag.objects.get_or_create(name="outsider")
    segment = segment_create(name=f"Audience {next(_names)}", rules=rules or EVERYONE, actor=SYSTEM)
    purpose = Purpose.MARKETING if template.category == "MARKETING" else Purpose.SERVICE
    return Campaign.objects.create(
        name=f"Campaign {next(_names)}", template=template, segment=segment, purpose=purpose, **fields
    )


def exclusions(campaign, **kwargs) -> dict[int, str | None]:
    return dict(campaign_recipients(campaign, **kwargs).values_list("pk", "exclusion"))


def customer(phone=None, *, purposes=(Purpose.MARKETING,), **fields) -> Contact:
    contact = ContactFactory(phone=phone, **fields) if phone else ContactFactory(**fields)
    for purpose in purposes:
        opt_in(contact, purpose)
    return contact


# --- each reason, and who is not a member at all -----------------------------------------------------


def test_each_reason_on_its_own(templates):
    campaign = make_campaign(templates["spring_promotion"], bindings={"body": {"1": FIRST_NAME}})
    receives = customer()
    no_address = customer(phone=None)
    Contact.objects.filter(pk=no_address.pk).update(phone=None, user_id="bsuid-1")
    not_on_whatsapp = customer(not_on_whatsapp_since=timezone.now())
    opted_out = customer()
    opt_out(opted_out, Purpose.MARKETING)
    no_consent = ContactFactory()
    service_only = customer(purposes=(Purpose.SERVICE,))
    american = customer("+12125550123")
    nameless = customer(first_name="  ")
    found = exclusions(campaign)
    assert found == {
        receives.pk: None,
        no_address.pk: Exclusion.NO_ADDRESS,
        not_on_whatsapp.pk: Exclusion.NOT_ON_WHATSAPP,
        opted_out.pk: Exclusion.OPTED_OUT,
        no_consent.pk: Exclusion.NO_CONSENT,
        service_only.pk: Exclusion.NO_CONSENT,
        american.pk: Exclusion.US_MARKETING,
        nameless.pk: Exclusion.MISSING_VARIABLE,
    }


def test_merged_away_rows_outsiders_and_test_numbers_are_not_members(templates):
    campaign = make_campaign(templates["spring_promotion"])
    member, merged, survivor = customer(), customer(), customer()
    contact_merge(survivor=survivor, merged=merged, actor=SYSTEM, reason="one person")
    outsider = customer()
    outsider.tags.add(Tag.objects.get(name="outsider"))
    staff_phone = customer()
    StaffNumber.objects.create(contact=staff_phone, label="Erin's phone")
    assert set(exclusions(campaign)) == {member.pk, survivor.pk}
    assert set(campaign_members(campaign).values_list("pk", flat=True)) == {member.pk, survivor.pk}


def test_a_contact_is_counted_under_the_first_reason_that_applies(templates):
    campaign = make_campaign(templates["spring_promotion"], bindings={"body": {"1": FIRST_NAME}})
    # Each has every reason from its own on: the first one wins.
    no_address = ContactFactory(first_name="", not_on_whatsapp_since=timezone.now())
    opt_out(no_address)
    Contact.objects.filter(pk=no_address.pk).update(phone=None, user_id="bsuid-2")
    not_on_whatsapp = ContactFactory(
        phone="+12125550124", first_name="", not_on_whatsapp_since=timezone.now()
    )
    opt_out(not_on_whatsapp)
    opted_out = ContactFactory(phone="+12125550125", first_name="")
    opt_out(opted_out)
    no_consent = ContactFactory(phone="+12125550126", first_name="")
    american = customer("+12125550127", first_name="")
    found = exclusions(campaign)
    assert [found[c.pk] for c in (no_address, not_on_whatsapp, opted_out, no_consent, american)] == list(
        EXCLUSION_ORDER
    )[:5]
    assert found[american.pk] == Exclusion.US_MARKETING  # before missing_variable


def test_a_utility_campaign_needs_service_consent_and_reaches_us_numbers(templates):
    campaign = make_campaign(templates["order_update"], bindings={"body": {"1": FIRST_NAME}})
    assert campaign.purpose == Purpose.SERVICE
    marketing_only = customer()
    served = customer(purposes=(Purpose.SERVICE,))
    american = customer("+12125550128", purposes=(Purpose.SERVICE,))
    found = exclusions(campaign)
    assert found == {marketing_only.pk: Exclusion.NO_CONSENT, served.pk: None, american.pk: None}


@override_settings(WHATSAPP_US_MARKETING_BLOCKED=False)
def test_us_numbers_receive_marketing_when_the_setting_is_off(templates):
    campaign = make_campaign(templates["spring_promotion"])
    american = customer("+12125550129")
    assert exclusions(campaign) == {american.pk: None}


def test_a_fallback_or_a_literal_is_never_missing(templates):
    bindings = {
        "body": {
            "1": {**FIRST_NAME, "fallback": "there"},
            "2": {"source": "literal", "value": "Sunday", "fallback": "", "format": ""},
        }
    }
    campaign = make_campaign(templates["spring_promotion"], bindings=bindings)
    nameless = customer(first_name="")
    assert exclusions(campaign) == {nameless.pk: None}


def test_a_missing_custom_field_without_fallback_excludes(templates):
    coupon = {"source": "attribute", "value": "coupon", "fallback": "", "format": ""}
    campaign = make_campaign(templates["spring_promotion"], bindings={"buttons": {"2": coupon}})
    with_code = customer(attributes={"coupon": "SPRING20"})
    without = customer(attributes={})
    blank = customer(attributes={"coupon": "   "})
    found = exclusions(campaign)
    assert found == {
        with_code.pk: None,
        without.pk: Exclusion.MISSING_VARIABLE,
        blank.pk: Exclusion.MISSING_VARIABLE,
    }


# --- languages and the frozen audience --------------------------------------------------------------


def translation(template: MessageTemplate, language: str) -> MessageTemplate:
    """An APPROVED row of the same template in another language, with its own approved version."""
    version = template.approved_version
    row = MessageTemplate.objects.get(pk=template.pk)
    row.pk = None
    row.language = language
    row.meta_template_id = f"{template.meta_template_id}-{language}"
    row.approved_version = None
    row.save()
    copy = TemplateVersion.objects.create(
        template=row,
        number=1,
        category=version.category,
        parameter_format=version.parameter_format,
        components=version.components,
        review=version.review,
    )
    MessageTemplate.objects.filter(pk=row.pk).update(approved_version=copy)
    row.refresh_from_db()
    return row


def test_each_contact_gets_their_language_or_the_default(templates):
    promotion = templates["spring_promotion"]
    translation(promotion, "de")
    campaign = make_campaign(promotion)
    german, spanish, unknown = customer(language="de"), customer(language="es"), customer(language="")
    found = dict(campaign_recipients(campaign).values_list("pk", "send_language"))
    assert found == {german.pk: "de", spanish.pk: "en", unknown.pk: "en"}


def test_an_approved_campaign_uses_its_frozen_rules_and_a_draft_its_segment(templates):
    promotion = templates["spring_promotion"]
    vip = Tag.objects.create(name="vip")
    campaign = make_campaign(promotion)
    star, other = customer(), customer()
    star.tags.add(vip)
    frozen = {
        "rules": {"op": "all", "rules": [{"kind": "tag", "tag": "vip"}]},
        "default_language": "en",
        "languages": {
            "en": {
                "template_id": promotion.pk,
                "category": "MARKETING",
                "components": promotion.approved_version.components,
            }
        },
        "bindings": {},
    }
    assert set(exclusions(campaign)) == {star.pk, other.pk}
    assert set(exclusions(campaign, frozen=frozen)) == {star.pk}
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.APPROVED, frozen=frozen)
    campaign.refresh_from_db()
    assert set(exclusions(campaign)) == {star.pk}


def test_a_frozen_copy_without_rules_is_refused(templates):
    campaign = make_campaign(templates["spring_promotion"])
    with pytest.raises(ApplicationError) as refused:
        campaign_recipients(campaign, frozen={"rules": {"op": "all", "rules": []}, "bindings": {}})
    assert refused.value.code == "campaign_frozen_incomplete"


# --- consent: the same verdict as the sender's, with its proof ---------------------------------------

SOURCES = [
    (ConsentSource.WEB_FORM, ""),
    (ConsentSource.IMPORT, ""),
    (ConsentSource.KEYWORD, ""),
    (ConsentSource.WHATSAPP_SIGNAL, ""),
    (ConsentSource.MERGE, ConsentSource.IMPORT),
    (ConsentSource.MERGE, ""),  # an old copy: its evidence names the original (a button)
]
# What may have happened to the current-consent row since the order rule wrote it.
# Pointing the row at another of the contact's events is the interesting case: weighted.
ROW_FATES = ["kept", *["another_event"] * 3, "status_flipped", "other_purpose", "other_contact", "deleted"]


def _verdict_as_exclusion(verdict) -> str | None:
    if verdict.go:
        return None
    if verdict.reason == SkipReason.OPTED_OUT:
        return Exclusion.OPTED_OUT
    assert verdict.reason in (SkipReason.NO_CONSENT, SkipReason.CONSENT_PROOF_MISMATCH)
    return Exclusion.NO_CONSENT


@pytest.fixture
def trigger_off(db):
    """PostgreSQL refuses a row that disagrees with its event; these tests write such rows (inside
    the test's transaction, before anything else: the rollback switches the trigger back on)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "ALTER TABLE contacts_currentconsent DISABLE TRIGGER current_consent_matches_event"
            )


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.tuples(
            st.lists(
                st.tuples(
                    st.sampled_from([ConsentAction.OPT_IN, ConsentAction.OPT_OUT]),
                    st.sampled_from(SOURCES),
                    st.sampled_from([0, 0.5, 0.999999, 1, 3600]),
                    st.sampled_from([0, 1, 7200]),
                    st.sampled_from([Purpose.MARKETING, Purpose.SERVICE]),
                ),
                max_size=5,
            ),
            st.sampled_from(ROW_FATES),
            st.integers(min_value=0, max_value=4),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_the_consent_verdict_is_the_senders_for_any_ledger(trigger_off, templates, world):
    campaign = make_campaign(templates["spring_promotion"])
    base = timezone.now().replace(microsecond=0) - timedelta(days=1)
    contacts = []
    for ledger, fate, pick in world:
        contact = ContactFactory()
        contacts.append(contact)
        for action, (source, carried), offset, delay, purpose in ledger:
            occurred = base + timedelta(seconds=offset)
            ledger_event(
                contact,
                action=action,
                source=source,
                carried=carried,
                occurred_at=occurred,
                recorded_at=occurred + timedelta(seconds=delay),
                purpose=purpose,
            )
        ids = Contact.objects.filter(pk=contact.pk).values("pk")
        current_consent_refresh_bulk(contacts=ids, purpose=Purpose.MARKETING)
        _apply_fate(contact, fate, pick, contacts)
    found = exclusions(campaign)
    for contact in contacts:
        expected = _verdict_as_exclusion(consent_verdict(contact_id=contact.pk, purpose=Purpose.MARKETING))
        assert found[contact.pk] == expected, (contact.pk, list(ConsentEvent.objects.filter(contact=contact)))


def _apply_fate(contact, fate, pick, contacts):
    row = CurrentConsent.objects.filter(contact=contact, purpose=Purpose.MARKETING)
    events = list(ConsentEvent.objects.filter(contact=contact).order_by("pk"))
    if fate == "another_event" and events:
        event = events[pick % len(events)]
        status = ConsentStatus.OPTED_IN if event.action == ConsentAction.OPT_IN else ConsentStatus.OPTED_OUT
        _point(contact, event, status)
    elif fate == "status_flipped" and row.exists():
        current = row.get()
        flipped = (
            ConsentStatus.OPTED_OUT if current.status == ConsentStatus.OPTED_IN else ConsentStatus.OPTED_IN
        )
        row.update(status=flipped)
    elif fate == "other_purpose":
        service = [e for e in events if e.purpose == Purpose.SERVICE]
        if service:
            _point(contact, service[0], ConsentStatus.OPTED_IN)
    elif fate == "other_contact" and len(contacts) > 1:
        theirs = ConsentEvent.objects.filter(contact=contacts[0], purpose=Purpose.MARKETING).first()
        if theirs is not None and contacts[0] != contact:
            _point(contact, theirs, ConsentStatus.OPTED_IN)
    elif fate == "deleted":
        row.delete()


def _point(contact, event, status):
    CurrentConsent.objects.update_or_create(
        contact=contact,
        purpose=Purpose.MARKETING,
        defaults={"event": event, "status": status, "since": event.effective_at},
    )


def test_an_opt_in_recorded_after_an_opt_out_decides_and_one_outvoted_does_not(trigger_off, templates):
    campaign = make_campaign(templates["spring_promotion"])
    now = timezone.now()
    back = ContactFactory()
    opt_in(back, occurred_at=now - timedelta(days=3))
    opt_out(back, occurred_at=now - timedelta(days=2))
    opt_in(back, occurred_at=now - timedelta(days=1), evidence={"form": "shop"})
    same_second = ContactFactory()
    opt_in(same_second, occurred_at=now - timedelta(hours=1))
    # An opt-out in the same second before a later-recorded opt-in wins (the order rule).
    ledger_event(
        same_second,
        action=ConsentAction.OPT_OUT,
        source=ConsentSource.KEYWORD,
        occurred_at=now - timedelta(minutes=10, microseconds=300000),
        recorded_at=now - timedelta(minutes=10, microseconds=300000),
    )
    event = ledger_event(
        same_second,
        action=ConsentAction.OPT_IN,
        source=ConsentSource.WEB_FORM,
        occurred_at=now - timedelta(minutes=10),
        recorded_at=now - timedelta(minutes=10),
    )
    _point(same_second, event, ConsentStatus.OPTED_IN)  # a writer that skipped the rule
    found = exclusions(campaign)
    assert found[back.pk] is None
    assert found[same_second.pk] == Exclusion.NO_CONSENT
    assert not consent_verdict(contact_id=same_second.pk, purpose=Purpose.MARKETING).go


def _ledger(contact, *entries):
    base = timezone.now().replace(microsecond=0) - timedelta(days=1)
    events = []
    for action, source, offset, delay in entries:
        occurred = base + timedelta(seconds=offset)
        events.append(
            ledger_event(
                contact,
                action=action,
                source=source,
                occurred_at=occurred,
                recorded_at=occurred + timedelta(seconds=delay),
            )
        )
    current_consent_refresh_bulk(
        contacts=Contact.objects.filter(pk=contact.pk).values("pk"), purpose=Purpose.MARKETING
    )
    return events


IN, OUT = ConsentAction.OPT_IN, ConsentAction.OPT_OUT


def test_the_import_rule_and_the_tie_breaks_are_the_senders(trigger_off, templates):
    """The cases a random ledger rarely builds, each against ``consent_verdict``."""
    campaign = make_campaign(templates["spring_promotion"])
    # An import after the person's own STOP and START does not outvote the START.
    back_in = ContactFactory()
    _ledger(
        back_in,
        (OUT, ConsentSource.KEYWORD, 0, 0),
        (IN, ConsentSource.KEYWORD, 60, 0),
        (IN, ConsentSource.IMPORT, 120, 0),
    )
    # A row pointing at an imported opt-in after a STOP: the import does not count.
    imported = ContactFactory()
    _, opt_in_by_file = _ledger(
        imported, (OUT, ConsentSource.KEYWORD, 0, 0), (IN, ConsentSource.IMPORT, 60, 0)
    )
    _point(imported, opt_in_by_file, ConsentStatus.OPTED_IN)
    # Same effective time: the later recorded decides; a row naming the earlier one is stale.
    tie = ContactFactory()
    first, _ = _ledger(tie, (IN, ConsentSource.WEB_FORM, 0, 0), (IN, ConsentSource.STAFF, 0, 5))
    _point(tie, first, ConsentStatus.OPTED_IN)
    # Same effective and recorded time: the higher id decides.
    twin = ContactFactory()
    older, _ = _ledger(twin, (IN, ConsentSource.WEB_FORM, 0, 0), (IN, ConsentSource.STAFF, 0, 0))
    _point(twin, older, ConsentStatus.OPTED_IN)
    found = exclusions(campaign)
    for contact in (back_in, imported, tie, twin):
        expected = _verdict_as_exclusion(consent_verdict(contact_id=contact.pk, purpose=Purpose.MARKETING))
        assert found[contact.pk] == expected, contact
    assert [found[c.pk] for c in (back_in, imported, tie, twin)] == [None, *[Exclusion.NO_CONSENT] * 3]


# --- US numbers: the sender's region test, in SQL ------------------------------------------------------


def test_the_us_test_in_sql_agrees_with_the_senders_for_every_area_code():
    numbers = [f"+1{area}2345678" for area in range(200, 1000)]
    numbers += ["+18005550199", "+14165550123", "+17875550123", "+16715550123", "+19075550123"]
    numbers += ["+4915112345678", "+5511987654321", "+61412345678"]
    rows = [Contact(phone=number, first_name="x") for number in numbers]
    # The WhatsApp id wins over the phone (Meta sends to it): a Canadian phone with a US wa_id and back.
    rows += [
        Contact(phone="+14165550124", wa_id="12125550199"),
        Contact(phone="+12125550198", wa_id="14165550125"),
        Contact(wa_id="+12125550197"),
        Contact(wa_id="12125550196", phone=None),
    ]
    Contact.objects.bulk_create(rows)
    flagged = dict(
        Contact.objects.annotate(
            us=Case(When(us_number_q(), then=Value(True)), default=Value(False), output_field=BooleanField())
        ).values_list("pk", "us")
    )
    disagree = [(c.phone, c.wa_id) for c in Contact.objects.all() if flagged[c.pk] != us_marketing_blocked(c)]
    assert disagree == []
    assert sum(flagged.values()) > 380
    assert "212" in us_area_codes() and "416" not in us_area_codes() and "787" not in us_area_codes()
