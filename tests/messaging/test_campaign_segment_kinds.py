"""Segment conditions about campaigns: received, read, replied to, pressed a button of campaign X.

Messages are written as rows (``results_world``), except where the link from a reply to the
campaign's message is the point: then the reply comes through the webhook as WhatsApp sends it.
"""
# ruff: noqa: F811 (the deliver fixture is imported, then named as a test argument)

import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from contacts.merging import contact_merge
from contacts.models import ConsentAction, ConsentSource, Contact
from contacts.segments.compiler import members_q
from contacts.segments.describe import describe_rules
from contacts.segments.registry import get_kind
from contacts.segments.rules import RuleError, validate_rules
from core.actors import Actor
from messaging.campaign_models import CampaignStatus
from messaging.campaigns.languages import content_snapshot
from messaging.models import InboundMessage, MessageStatus, SendAttempt
from templates_app.models import TemplateVersion
from tests.factories import CampaignFactory, ContactFactory, TestNumberFactory, opt_out
from tests.messaging.campaigns.results_world import answer, campaign_message
from tests.messaging.webhook_bodies import deliver, inbound, new_wamid, text_message  # noqa: F401

pytestmark = pytest.mark.django_db

M = MessageStatus
KINDS = ("received_campaign", "read_campaign", "replied_campaign", "pressed_campaign_button")


def started(name: str = "Spring sale", **fields):
    """A campaign that started sending, with the content approval froze (appointment_reminder:
    quick replies “Confirm” and “Reschedule”, and a call button)."""
    fields.setdefault("status", CampaignStatus.SENDING)
    campaign = CampaignFactory(name=name, started_at=timezone.now(), **fields)
    campaign.frozen = content_snapshot(campaign)
    campaign.save(update_fields=["frozen"])
    return campaign


def rule(kind: str, campaign, **fields) -> dict:
    return {"kind": kind, "campaign": campaign if isinstance(campaign, int | str) else campaign.pk, **fields}


def members(*rules: dict, op: str = "all") -> list[str]:
    tree = validate_rules({"op": op, "rules": list(rules)})
    return sorted(Contact.objects.filter(members_q(tree)).values_list("first_name", flat=True))


def person(name: str, **fields) -> Contact:
    return ContactFactory(first_name=name, **fields)


def press(message, label: str, payload: str | None = None) -> InboundMessage:
    pressed = answer(message, type="button", text=label)
    pressed.payload = {"type": "button", "button": {"text": label, "payload": payload or label}}
    pressed.save(update_fields=["payload"])
    return pressed


def refusal(node: dict) -> RuleError:
    with pytest.raises(RuleError) as caught:
        validate_rules({"op": "all", "rules": [node]})
    return caught.value


# --- who matches -----------------------------------------------------------------------------------


def test_messaging_registers_the_campaign_kinds():
    for name in KINDS:
        assert get_kind(name).compile.__module__ == "messaging.segment_kinds"


def test_received_is_sent_delivered_or_read_never_a_failure_a_queued_message_or_a_test_send():
    spring, autumn = started(), started("Autumn sale")
    for status in (M.SENT, M.DELIVERED, M.READ, M.ACCEPTED, M.FAILED, M.QUEUED, M.SKIPPED, M.UNKNOWN):
        campaign_message(spring, status, contact=person(status))
    campaign_message(spring, M.READ, contact=person("test send only"), is_test=True)
    campaign_message(autumn, M.READ, contact=person("another campaign"))
    person("nothing")

    assert members(rule("received_campaign", spring)) == ["delivered", "read", "sent"]


def test_read_is_read_only():
    spring, autumn = started(), started("Autumn sale")
    for status in (M.SENT, M.DELIVERED, M.READ, M.FAILED):
        campaign_message(spring, status, contact=person(status))
    campaign_message(spring, M.READ, contact=person("test send only"), is_test=True)
    campaign_message(autumn, M.READ, contact=person("another campaign"))

    assert members(rule("read_campaign", spring)) == ["read"]


def test_replied_is_an_answer_to_its_message_never_a_test_send_or_another_campaign():
    spring, autumn = started(), started("Autumn sale")
    answer(campaign_message(spring, M.READ, contact=person("quoted it")))
    press(campaign_message(spring, M.READ, contact=person("pressed")), "Confirm")
    answer(campaign_message(spring, M.READ, contact=person("reacted")), type="reaction", text="👍")
    campaign_message(spring, M.READ, contact=person("read, said nothing"))
    answer(campaign_message(spring, M.READ, contact=person("test send"), is_test=True))
    answer(campaign_message(autumn, M.READ, contact=person("replied to autumn")))

    assert members(rule("replied_campaign", spring)) == ["pressed", "quoted it", "reacted"]


def test_through_the_webhook_a_stop_is_no_reply_and_a_message_written_after_it_is(deliver, customer):
    """A STOP is an opt-out (its consent event is keyed by the message's wamid), never a reply; a
    message written within the reply window after the campaign's, quoting nothing, is one."""
    spring = started()
    campaign_message(spring, M.DELIVERED, contact=customer)
    replied = [rule("replied_campaign", spring)]

    deliver(text_message("STOP"))
    assert customer.consent_events.filter(action=ConsentAction.OPT_OUT, source=ConsentSource.KEYWORD).exists()
    assert members(*replied) == []

    deliver(text_message("What time do you open?"))  # written after it, quoting nothing
    assert InboundMessage.objects.filter(in_reply_to__isnull=True).count() == 2
    assert members(*replied) == ["Pablo"]


def test_a_quote_counts_whenever_it_comes_an_unquoted_message_only_within_the_window(deliver, customer):
    """Through the webhook: WhatsApp's context names the attempt's wamid, which links the reply."""
    spring = started()
    long_ago = timezone.now() - timedelta(hours=settings.CAMPAIGN_REPLY_ATTRIBUTION_HOURS + 1)
    message = campaign_message(spring, M.DELIVERED, contact=customer, at=long_ago)
    wamid = new_wamid("out")
    SendAttempt.objects.create(message=message, number=1, outcome="accepted", wamid=wamid)
    replied = [rule("replied_campaign", spring)]

    deliver(text_message("What time do you open?"))  # past the window, quoting nothing
    assert members(*replied) == []

    deliver(text_message("Yes, see you then", context={"from": "15550783881", "id": wamid}))
    assert InboundMessage.objects.filter(in_reply_to=message).count() == 1
    assert members(*replied) == ["Pablo"]


def test_pressed_a_button_through_the_webhook(deliver, customer):
    spring = started()
    message = campaign_message(spring, M.READ, contact=customer)
    wamid = new_wamid("out")
    SendAttempt.objects.create(message=message, number=1, outcome="accepted", wamid=wamid)

    deliver(inbound("button", {"text": "Reschedule", "payload": "Reschedule"}, context={"id": wamid}))

    assert members(rule("pressed_campaign_button", spring)) == ["Pablo"]
    assert members(rule("pressed_campaign_button", spring, button="Reschedule")) == ["Pablo"]
    assert members(rule("pressed_campaign_button", spring, button="Confirm")) == []


def test_pressed_is_a_quick_reply_press_and_the_named_button_alone_when_one_is_named():
    spring, autumn = started(), started("Autumn sale")
    press(campaign_message(spring, M.READ, contact=person("confirmed")), "Confirm")
    press(campaign_message(spring, M.READ, contact=person("rescheduled")), "Reschedule")
    answer(campaign_message(spring, M.READ, contact=person("wrote")), text="Confirm")
    press(campaign_message(spring, M.READ, contact=person("test send"), is_test=True), "Confirm")
    press(campaign_message(autumn, M.READ, contact=person("autumn")), "Confirm")

    assert members(rule("pressed_campaign_button", spring)) == ["confirmed", "rescheduled"]
    # The label as WhatsApp shows it; the rule's spelling need not match its case.
    assert members(rule("pressed_campaign_button", spring, button="confirm")) == ["confirmed"]


def test_the_opt_out_button_is_an_opt_out_not_a_press_and_naming_it_is_refused():
    """A campaign whose approved version marks “Reschedule” as its opt-out button: a press of it,
    recorded as an opt-out (keyed by the message's wamid, as the webhook keys it), is neither a
    press nor a reply; a rule naming it is refused and says where those people are found."""
    spring = started()
    (language,) = spring.frozen["languages"].values()
    version = TemplateVersion.objects.get(pk=language["version_id"])
    version.opt_out_button_index = 1
    version.save(update_fields=["opt_out_button_index"])
    press(campaign_message(spring, M.READ, contact=person("confirmed")), "Confirm")
    stopped = person("stopped")
    stop = press(campaign_message(spring, M.READ, contact=stopped), "Reschedule")
    opt_out(stopped, spring.purpose, source=ConsentSource.BUTTON, signal_key=f"wamid:{stop.wamid}")

    assert members(rule("pressed_campaign_button", spring)) == ["confirmed"]
    assert members(rule("replied_campaign", spring)) == ["confirmed"]
    error = refusal(rule("pressed_campaign_button", spring, button="reschedule"))
    assert error.rule_field == "button"
    assert "is the opt-out button of campaign “Spring sale”" in error.message
    assert "consent condition" in error.message
    error = refusal(rule("pressed_campaign_button", spring, button="Call the store"))
    assert error.message.endswith("its buttons are: “Confirm”.")


def test_negation_did_not_read_the_campaign():
    spring = started()
    campaign_message(spring, M.READ, contact=person("read"))
    campaign_message(spring, M.DELIVERED, contact=person("delivered"))
    campaign_message(spring, M.FAILED, contact=person("failed"))
    person("never sent it")

    assert members(rule("read_campaign", spring), op="none") == ["delivered", "failed", "never sent it"]
    # "Received it but did not read it": a none group inside an all group.
    received_unread = {
        "op": "all",
        "rules": [
            rule("received_campaign", spring),
            {"op": "none", "rules": [rule("read_campaign", spring)]},
        ],
    }
    assert members(received_unread) == ["delivered"]


def test_a_merged_away_contact_is_never_a_member_its_survivor_is():
    spring = started()
    survivor = person("survivor", phone="+4915100000001")
    merged = person("merged", phone="+4915100000002")
    answer(campaign_message(spring, M.READ, contact=merged))

    contact_merge(survivor=survivor, merged=merged, actor=Actor.system("tests"), reason="one person")

    for kind in ("received_campaign", "read_campaign", "replied_campaign"):
        assert members(rule(kind, spring)) == ["survivor"]
    # Never selected, not even by a negation: the row is evidence, its person is the survivor.
    assert "merged" not in members(rule("read_campaign", spring), op="none")


def test_a_staff_test_number_is_never_a_member():
    spring = started()
    staff = TestNumberFactory(contact=person("staff")).contact
    campaign_message(spring, M.READ, contact=staff)  # even a real (not test) send
    assert members(rule("read_campaign", spring)) == []


# --- validation --------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_a_missing_campaign_is_refused_naming_the_field(kind):
    error = refusal({"kind": kind})
    assert error.rule_field == "campaign"
    assert "Campaign is missing" in error.message and error.path == [0]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("bad", ["spring", "1.5", True, -3, 10**30, [1]])
def test_a_campaign_id_that_is_not_one_is_refused_never_a_500(kind, bad):
    error = refusal({"kind": kind, "campaign": bad})
    assert error.rule_field == "campaign"
    assert "campaign" in error.message.lower()


def test_an_unknown_campaign_is_refused_by_id():
    error = refusal(rule("read_campaign", 987654))
    assert error.message == "Rule 1 (read campaign #987654): There is no campaign #987654."


@pytest.mark.parametrize(
    "status", [CampaignStatus.DRAFT, CampaignStatus.PENDING_APPROVAL, CampaignStatus.APPROVED]
)
def test_a_campaign_that_has_not_started_sending_is_refused(status):
    draft = CampaignFactory(name="Not yet", status=status)
    error = refusal(rule("received_campaign", draft))
    assert error.rule_field == "campaign"
    assert "“Not yet” has not started sending" in error.message


def test_a_campaign_cancelled_before_it_started_is_refused_one_cancelled_while_sending_is_not():
    never = CampaignFactory(name="Never sent", status=CampaignStatus.CANCELLED)
    stopped = started("Stopped", status=CampaignStatus.CANCELLED)
    assert "has not started sending" in refusal(rule("read_campaign", never)).message
    assert validate_rules({"op": "all", "rules": [rule("read_campaign", stopped)]})


def test_a_button_that_is_not_a_quick_reply_of_the_campaign_is_refused_with_its_buttons():
    spring = started()
    error = refusal(rule("pressed_campaign_button", spring, button="Call the store"))
    assert error.rule_field == "button"
    assert error.message.endswith(
        "Campaign “Spring sale” has no quick-reply button “Call the store”; its buttons are: "
        "“Confirm”, “Reschedule”."
    )


def test_a_button_is_stored_as_the_template_spells_it():
    spring = started()
    tree = validate_rules(
        {"op": "all", "rules": [rule("pressed_campaign_button", spring, button=" confirm ")]}
    )
    assert tree["rules"][0] == {"kind": "pressed_campaign_button", "campaign": spring.pk, "button": "Confirm"}


def test_a_campaign_without_quick_replies_is_refused_for_button_presses():
    spring = started()
    spring.frozen = {"languages": {"en": {"components": [{"type": "BODY", "text": "Hi"}]}}}
    spring.save(update_fields=["frozen"])
    error = refusal(rule("pressed_campaign_button", spring))
    assert error.rule_field == "campaign"
    assert "has no quick-reply buttons" in error.message
    assert validate_rules({"op": "all", "rules": [rule("read_campaign", spring)]})


def test_the_editor_offers_the_started_campaigns_only():
    spring = started()
    CampaignFactory(name="Draft")
    field = get_kind("read_campaign").for_editor()["fields"][0]
    assert field["type"] == "ref"
    assert field["choices"] == [[spring.pk, f"Spring sale (started {spring.started_at:%Y-%m-%d})"]]


def test_pressing_a_link_button_is_said_not_to_be_reported():
    assert "does not report clicks on link (URL) buttons" in get_kind("pressed_campaign_button").help


# --- in words --------------------------------------------------------------------------------------


def test_the_summary_names_the_campaign():
    spring = started()
    tree = validate_rules(
        {
            "op": "all",
            "rules": [
                rule("received_campaign", spring),
                {"op": "none", "rules": [rule("read_campaign", spring)]},
                {
                    "op": "any",
                    "rules": [
                        rule("replied_campaign", spring),
                        rule("pressed_campaign_button", spring),
                        rule("pressed_campaign_button", spring, button="Confirm"),
                    ],
                },
                {"kind": "received_message_within_days", "days": 7},
            ],
        }
    )
    assert describe_rules(tree) == [
        "All of:",
        "    • received the campaign “Spring sale”",
        "    • None of:",
        "        • read the campaign “Spring sale”",
        "    • Any of:",
        "        • replied to the campaign “Spring sale”",
        "        • pressed a quick-reply button of the campaign “Spring sale”",
        "        • pressed the button “Confirm” of the campaign “Spring sale”",
        "    • received a message from us within the last 7 days",
    ]


def test_a_summary_of_a_campaign_since_gone_names_its_id():
    assert describe_rules({"op": "all", "rules": [rule("read_campaign", 424242)]}) == [
        "All of:",
        "    • read campaign #424242",
    ]


# --- one query -------------------------------------------------------------------------------------


def test_each_condition_is_one_exists_and_the_count_one_query():
    spring = started()
    campaign_message(spring, M.READ, contact=person("read"))
    tree = validate_rules(
        {
            "op": "any",
            "rules": [
                rule("received_campaign", spring),
                rule("read_campaign", spring),
                rule("replied_campaign", spring),
                rule("pressed_campaign_button", spring, button="Confirm"),
            ],
        }
    )
    with CaptureQueriesContext(connection) as captured:
        count = Contact.objects.filter(members_q(tree)).count()
    assert count == 1
    assert len(captured.captured_queries) == 1
    sql = captured.captured_queries[0]["sql"].upper()
    # One EXISTS per condition and one for the engine's test-number guard; inside replied, the reply
    # rule's (campaigns.replies): the quote, the contact's and its merged rows' unquoted messages
    # (3), each with its consent-signal guard (3), the last two with their later-campaign guard (2);
    # inside pressed, the quote and its guard (2). No other subquery.
    assert len(re.findall(r"\bEXISTS\s*\(", sql)) == 4 + 1 + 8 + 2
    assert sql.count("SELECT") == 1 + 4 + 1 + 8 + 2


@pytest.mark.postgres
def test_on_postgresql_the_campaign_condition_is_answered_by_an_index():
    """With sequential scans priced out, the campaign's messages are reached through an index
    (``campaign_once_per_contact`` on a large table).

    Which index the planner picks on a table of one row depends on statistics a concurrent
    autovacuum may have refreshed, so the test pins that an index applies, not which one.
    """
    spring = started()
    campaign_message(spring, M.READ, contact=person("read"))
    tree = validate_rules({"op": "all", "rules": [rule("read_campaign", spring)]})
    queryset = Contact.objects.filter(members_q(tree))
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
        plan = queryset.explain()
        cursor.execute("RESET enable_seqscan")
    assert "Seq Scan on messaging_outboundmessage" not in plan, plan
