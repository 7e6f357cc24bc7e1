"""Who replied to a campaign (``messaging.campaigns.replies``): a quote, or an unquoted message within
the reply window before another campaign's message; never a consent keyword or the opt-out button.
The funnel, the recipient list, its CSV and the segment condition give the same answer, checked
against a plain-Python statement of the rule on generated histories."""

import itertools
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from contacts.merging import contact_merge
from contacts.models import ConsentSource, Contact
from contacts.segments.compiler import members_q
from contacts.segments.rules import validate_rules
from core.actors import Actor
from messaging.campaign_models import CampaignStatus
from messaging.campaigns.results import (
    REPLIED,
    campaign_funnel,
    campaign_opt_outs,
    campaign_recipient_messages,
)
from messaging.campaigns.results_export import campaign_recipients_export
from messaging.models import InboundMessage, MessageStatus, OutboundMessage
from tests.factories import CampaignFactory, ContactFactory, opt_out
from tests.messaging.campaigns.results_world import campaign_message, reads

M = MessageStatus
pytestmark = pytest.mark.django_db
WINDOW_HOURS = 72
_wamids = itertools.count(1)


@pytest.fixture(autouse=True)
def window(settings):
    settings.CAMPAIGN_REPLY_ATTRIBUTION_HOURS = WINDOW_HOURS


def started(name="Spring sale"):
    return CampaignFactory(name=name, status=CampaignStatus.SENDING, started_at=timezone.now())


def write(contact, at, *, quotes=None, type="text", text="Thanks") -> InboundMessage:
    """A message from ``contact`` sent ``at``, quoting ``quotes`` (a message of ours) if given."""
    return InboundMessage.objects.create(
        wamid=f"wamid.replies.{next(_wamids)}",
        contact=contact,
        type=type,
        text=text,
        payload={"type": type},
        in_reply_to=quotes,
        sent_at=at,
    )


def keyword_stop(
    contact, at, *, quotes=None, purpose="marketing", type="text", text="STOP"
) -> InboundMessage:
    """A STOP as the webhook records it: the message, and an opt-out keyed by its wamid."""
    message = write(contact, at, quotes=quotes, type=type, text=text)
    opt_out(
        contact,
        purpose,
        source=ConsentSource.BUTTON if type == "button" else ConsentSource.KEYWORD,
        occurred_at=at,
        signal_key=f"wamid:{message.wamid}",
        evidence={"outbound_message_id": quotes.pk} if quotes else {},
    )
    return message


def segment(campaign) -> set[int]:
    tree = validate_rules({"op": "all", "rules": [{"kind": "replied_campaign", "campaign": campaign.pk}]})
    return set(Contact.objects.filter(members_q(tree)).values_list("pk", flat=True))


def listed(campaign) -> set[int]:
    """The recipients the list shows as having replied, and those its "replied" filter keeps."""
    shown = {m.contact_id for m in campaign_recipient_messages(campaign) if m.replied}
    filtered = set(campaign_recipient_messages(campaign, state=REPLIED).values_list("contact_id", flat=True))
    assert shown == filtered
    return shown


def replied(campaign) -> set[int]:
    """Who replied, by the funnel, the list and the segment condition, which must agree."""
    people = listed(campaign)
    assert campaign_funnel(campaign).replied == len(people)
    assert segment(campaign) == people
    return people


@pytest.fixture
def now():
    return timezone.now()


def test_a_quoted_reply_counts_whenever_it_comes(now):
    spring = started()
    message = campaign_message(spring, M.READ, at=now - timedelta(hours=WINDOW_HOURS * 3))
    write(message.contact, now, quotes=message)
    assert replied(spring) == {message.contact_id}


def test_an_unquoted_message_within_the_window_counts_and_after_it_or_before_the_send_not(now):
    spring = started()
    sent = now - timedelta(hours=WINDOW_HOURS + 10)
    within = campaign_message(spring, M.DELIVERED, at=sent)
    write(within.contact, sent + timedelta(hours=WINDOW_HOURS))  # the window's last moment
    late = campaign_message(spring, M.DELIVERED, at=sent)
    write(late.contact, sent + timedelta(hours=WINDOW_HOURS, seconds=1))
    before = campaign_message(spring, M.DELIVERED, at=sent)
    write(before.contact, sent - timedelta(seconds=1))
    never_sent = campaign_message(spring, M.ACCEPTED, at=sent)  # no sent_at: nothing reached them
    write(never_sent.contact, sent + timedelta(hours=1))
    assert replied(spring) == {within.contact_id}


def test_a_message_quoting_another_of_ours_is_no_reply_to_the_campaign_by_time(now):
    spring = started()
    message = campaign_message(spring, M.READ, at=now - timedelta(hours=3))
    receipt = OutboundMessage.objects.create(
        contact=message.contact, kind="text", status=M.READ, sent_at=now - timedelta(hours=2)
    )
    write(message.contact, now - timedelta(hours=1), quotes=receipt)
    assert replied(spring) == set()


def test_a_reply_goes_to_the_latest_campaign_message_sent_before_it(now):
    spring, autumn = started(), started("Autumn sale")
    person = ContactFactory()
    campaign_message(spring, M.READ, contact=person, at=now - timedelta(hours=30))
    campaign_message(autumn, M.READ, contact=person, at=now - timedelta(hours=6))
    write(person, now - timedelta(hours=1))
    assert (replied(spring), replied(autumn)) == (set(), {person.pk})

    # Written between the two: the earlier campaign's.
    write(person, now - timedelta(hours=20))
    assert (replied(spring), replied(autumn)) == ({person.pk}, {person.pk})


def test_two_campaign_messages_in_the_same_second_the_later_written_takes_the_reply(now):
    spring, autumn = started(), started("Autumn sale")
    person = ContactFactory()
    at = (now - timedelta(hours=2)).replace(microsecond=0)
    campaign_message(spring, M.READ, contact=person, at=at)
    campaign_message(autumn, M.READ, contact=person, at=at)
    write(person, now)
    assert (replied(spring), replied(autumn)) == (set(), {person.pk})


def test_a_test_send_or_a_transactional_message_takes_nothing_from_the_campaign(now):
    spring = started()
    message = campaign_message(spring, M.READ, at=now - timedelta(hours=5))
    campaign_message(
        started("Trial"), M.READ, contact=message.contact, at=now - timedelta(hours=3), is_test=True
    )
    OutboundMessage.objects.create(
        contact=message.contact, kind="text", status=M.READ, sent_at=now - timedelta(hours=2)
    )
    write(message.contact, now - timedelta(hours=1))
    assert replied(spring) == {message.contact_id}


def test_a_stop_is_an_opt_out_not_a_reply(now):
    spring = started()
    keyword = campaign_message(spring, M.READ, at=now - timedelta(hours=2))
    keyword_stop(keyword.contact, now - timedelta(hours=1), purpose=spring.purpose)
    quoted = campaign_message(spring, M.READ, at=now - timedelta(hours=2))
    keyword_stop(quoted.contact, now - timedelta(hours=1), quotes=quoted, purpose=spring.purpose)
    button = campaign_message(spring, M.READ, at=now - timedelta(hours=2))
    keyword_stop(
        button.contact,
        now - timedelta(hours=1),
        quotes=button,
        purpose=spring.purpose,
        type="button",
        text="Stop",
    )
    assert replied(spring) == set()
    funnel = campaign_funnel(spring)
    assert funnel.pressed == 0
    assert campaign_opt_outs(spring).total == 3

    # Writing again afterwards is a reply.
    write(keyword.contact, now)
    assert replied(spring) == {keyword.contact_id}


def test_metas_system_message_is_not_the_person_replying(now):
    spring = started()
    message = campaign_message(spring, M.READ, at=now - timedelta(hours=2))
    write(message.contact, now - timedelta(hours=1), type="system", text="User changed their number")
    assert replied(spring) == set()


def test_a_message_on_a_row_merged_into_the_recipient_counts(now):
    spring = started()
    message = campaign_message(spring, M.READ, at=now - timedelta(hours=5))
    other_row = ContactFactory()
    contact_merge(
        survivor=message.contact, merged=other_row, actor=Actor.system("tests"), reason="Same person"
    )
    # Stored on the merged-away row after the merge moved its messages (a webhook processed late).
    write(other_row, now - timedelta(hours=1))
    assert InboundMessage.objects.get().contact_id == other_row.pk
    assert replied(spring) == {message.contact_id}


def test_the_export_says_replied_as_the_list_does(now):
    spring = started()
    answered = campaign_message(spring, M.READ, at=now - timedelta(hours=5))
    write(answered.contact, now - timedelta(hours=1))
    campaign_message(spring, M.READ, at=now - timedelta(hours=5))
    export = campaign_recipients_export(campaign=spring, actor=Actor.system("tests"), state=REPLIED)
    lines = list(export.lines)
    assert export.rows == 1 and len(lines) == 2
    assert f",{answered.contact_id}," in lines[1] and ",yes," in lines[1]


def test_the_funnel_stays_one_query(now):
    spring = started()
    for _ in range(3):
        message = campaign_message(spring, M.READ, at=now - timedelta(hours=5))
        write(message.contact, now - timedelta(hours=1))
    with CaptureQueriesContext(connection) as queries:
        assert campaign_funnel(spring).replied == 3
    assert len(reads(queries)) == 1


# --- the rule, stated plainly, against the SQL on generated histories --------------------------------

# A person's history: campaign messages (which campaign, hours ago it was sent or None if never) and
# inbound messages (hours ago, which of the person's campaign messages it quotes or None, a STOP?).
HOURS = st.integers(min_value=0, max_value=2 * WINDOW_HOURS)
SENDS = st.lists(
    st.tuples(st.sampled_from([0, 1, 2]), st.one_of(st.none(), HOURS)), max_size=3, unique_by=lambda s: s[0]
)
INBOUND = st.lists(
    st.tuples(HOURS, st.one_of(st.none(), st.integers(0, 2)), st.booleans(), st.booleans()), max_size=3
)
PEOPLE = st.lists(st.tuples(SENDS, INBOUND), min_size=1, max_size=5)


def expected(people, index) -> set[int]:
    """Who replied to campaign ``index``, by the rule as docs/campaign-results.md states it.

    ``people``: (contact id, sends as (campaign index, hours ago or None) in the order written,
    inbound as (hours ago, quoted campaign index / -1 for another message of ours / None, STOP?)).
    """
    found = set()
    for pk, sends, inbound in people:
        order = [c for c, _ in sends]
        mine = dict(sends).get(index, "absent")
        if mine == "absent":
            continue
        for hours, quotes, stop in inbound:
            if stop:
                continue
            if quotes is not None:
                if quotes == index:
                    found.add(pk)
                continue
            if mine is None or hours > mine or mine - hours > WINDOW_HOURS:
                continue
            # Last touch: another campaign message sent after this one and no later than the message
            # takes it (fewer hours ago is later; in the same second, the one written last).
            later = [
                c
                for c, h in sends
                if c != index
                and h is not None
                and hours <= h
                and (h < mine or (h == mine and order.index(c) > order.index(index)))
            ]
            if not later:
                found.add(pk)
    return found


@hypothesis_settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(people=PEOPLE)
def test_every_reader_of_replied_agrees_with_the_rule(people, now):
    with transaction.atomic():
        campaigns = [started(f"Campaign {n}") for n in range(3)]
        history = []
        for sends, inbound in people:
            person = ContactFactory()
            merged_row = ContactFactory(merged_into=person, merged_at=now)
            ours = {}
            for index, hours in sends:
                at = now - timedelta(hours=hours) if hours is not None else None
                status = M.READ if at else M.ACCEPTED
                ours[index] = campaign_message(
                    campaigns[index], status, contact=person, at=at or now, sent_at=at
                )
            said = []
            for hours, quotes, stop, on_merged_row in inbound:
                quoted = ours.get(quotes) if quotes is not None else None
                if quotes is not None and quoted is None:
                    # A message of ours that is no campaign's: quoting it is about it.
                    quoted = OutboundMessage.objects.create(
                        contact=person, kind="text", status=M.READ, sent_at=now
                    )
                    quotes = -1
                sender = merged_row if on_merged_row else person
                at = now - timedelta(hours=hours)
                (keyword_stop if stop else write)(sender, at, quotes=quoted)
                said.append((hours, quotes, stop))
            history.append((person.pk, sends, said))
        for index, campaign in enumerate(campaigns):
            assert replied(campaign) == expected(history, index)
        transaction.set_rollback(True)
