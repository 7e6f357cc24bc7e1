"""Keywords, the opt-out button and Meta's user_preferences, recorded in the consent ledger."""
# ruff: noqa: F811 (the deliver fixture is imported, then named as a test argument)

import time

import pytest

from contacts.models import ActivityLogEntry, ConsentEvent, ConsentSource, Purpose
from contacts.selectors import current_consent, has_opt_in
from messaging.models import InboundMessage, OutboundMessage, WebhookEvent
from messaging.webhooks.keywords import KeywordAction, confirmation_text, match_keyword
from tests.messaging.webhook_bodies import (
    change,
    deliver,  # noqa: F401 (a fixture)
    envelope,
    inbound,
    outbound,
    text_message,
)

pytestmark = pytest.mark.django_db

WA_ID = "4915112345678"  # the `customer` fixture


def confirmations(contact):
    return OutboundMessage.objects.filter(contact=contact, is_reply=True)


# --- Matching (pure) ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("said", "action"),
    [
        ("STOP", KeywordAction.OPT_OUT),
        ("stop", KeywordAction.OPT_OUT),
        ("  Stop \n", KeywordAction.OPT_OUT),
        ("stop!", KeywordAction.OPT_OUT),  # punctuation around the word is not part of it
        ("Stopp", KeywordAction.OPT_OUT),
        ("abmelden", KeywordAction.OPT_OUT),
        ("UNSUBSCRIBE", KeywordAction.OPT_OUT),
        ("stop all", KeywordAction.OPT_OUT_ALL),
        ("STOP    ALL", KeywordAction.OPT_OUT_ALL),
        ("Alle abmelden", KeywordAction.OPT_OUT_ALL),
        ("start", KeywordAction.OPT_IN),
        ("Anmelden", KeywordAction.OPT_IN),
    ],
)
def test_keywords_match_the_whole_message_ignoring_case_and_spaces(said, action):
    assert match_keyword(said).action == action


@pytest.mark.parametrize(
    "said", ["please stop", "stop now!", "STOPPING", "", "   ", "start now", "Stop sending me"]
)
def test_other_messages_are_not_keywords(said):
    assert match_keyword(said) is None


def test_german_keywords_answer_in_german():
    assert match_keyword("STOPP").language == "de"
    assert match_keyword("STOP").language == ""


def test_every_confirmation_says_how_to_undo_it_with_a_configured_keyword(settings):
    for language in ("en", "de"):
        for action in KeywordAction:
            text = confirmation_text(action=action, purpose=Purpose.MARKETING, language=language)
            undo = {KeywordAction.OPT_IN: settings.WHATSAPP_OPT_OUT_KEYWORDS}.get(
                action, settings.WHATSAPP_OPT_IN_KEYWORDS
            )
            assert any(keyword in text for keyword in undo), (language, action, text)


# --- Keywords through the webhook ---------------------------------------------------------------


def test_stop_opts_out_of_marketing_with_the_message_as_evidence_and_confirms(deliver, customer):
    customer.language = "en"
    customer.save()
    deliver(text_message("Stop", wa_id=WA_ID))
    message = InboundMessage.objects.get()
    event = ConsentEvent.objects.get(contact=customer, source=ConsentSource.KEYWORD)
    assert (event.purpose, event.action) == (Purpose.MARKETING, "opt_out")
    assert event.evidence == {
        "inbound_message_id": message.pk,
        "wamid": message.wamid,
        "webhook_event_id": WebhookEvent.objects.get().pk,
    }
    assert event.occurred_at == message.sent_at
    assert not has_opt_in(contact=customer, purpose=Purpose.MARKETING)
    assert has_opt_in(contact=customer, purpose=Purpose.SERVICE)
    reply = confirmations(customer).get()
    assert reply.reply_to == message
    assert reply.rendered_text.startswith("You won't get offers from us on WhatsApp any more.")
    assert "Reply START" in reply.rendered_text


def test_stopp_in_german_is_confirmed_in_german(deliver, customer):
    deliver(text_message("STOPP", wa_id=WA_ID))
    assert not has_opt_in(contact=customer, purpose=Purpose.MARKETING)
    assert confirmations(customer).get().rendered_text.startswith("Du bekommst von uns keine Angebote")


def test_abmelden_opts_out_of_marketing(deliver, customer):
    deliver(text_message(" abmelden ", wa_id=WA_ID))
    assert current_consent(contact=customer, purpose=Purpose.MARKETING).status == "opted_out"


@pytest.mark.parametrize("said", ["STOP ALL", "alle abmelden"])
def test_stop_all_opts_out_of_every_purpose(deliver, customer, said):
    deliver(text_message(said, wa_id=WA_ID))
    for purpose in Purpose.values:
        assert current_consent(contact=customer, purpose=purpose).status == "opted_out"
    assert ConsentEvent.objects.filter(contact=customer, source=ConsentSource.KEYWORD).count() == 2
    assert "any messages" in confirmations(customer).get().rendered_text or "keine Nachrichten" in (
        confirmations(customer).get().rendered_text
    )


def test_start_opts_in_to_marketing_with_the_keyword_exchange_as_wording(deliver, stranger):
    stranger.language = "en"
    stranger.save()
    deliver(text_message("Start", wa_id=stranger.phone.lstrip("+")))
    event = ConsentEvent.objects.get(contact=stranger)
    assert (event.purpose, event.action, event.source) == (Purpose.MARKETING, "opt_in", ConsentSource.KEYWORD)
    assert event.wording_text == 'Sent "Start" on WhatsApp to receive marketing messages'
    assert event.evidence["inbound_message_id"] == InboundMessage.objects.get().pk
    assert has_opt_in(contact=stranger, purpose=Purpose.MARKETING)
    assert "Reply STOP" in confirmations(stranger).get().rendered_text


def test_a_keyword_from_an_unknown_person_creates_them_and_records_it(deliver):
    deliver(text_message("START", wa_id="4917612345678"))
    event = ConsentEvent.objects.get()
    assert event.contact.wa_id == "4917612345678"


def test_a_duplicate_keyword_delivery_records_consent_once(deliver, customer):
    body = text_message("STOP", wa_id=WA_ID, wamid="wamid.stop-once")
    deliver(body)
    deliver(body)
    assert ConsentEvent.objects.filter(source=ConsentSource.KEYWORD).count() == 1
    assert confirmations(customer).count() == 1


def test_a_sentence_with_stop_in_it_changes_no_consent(deliver, customer):
    deliver(text_message("Please stop calling my landline", wa_id=WA_ID))
    assert has_opt_in(contact=customer, purpose=Purpose.MARKETING)
    assert not confirmations(customer).exists()


# --- The opt-out button -------------------------------------------------------------------------


def promotion_sent_to(contact, promotion):
    return outbound(contact, template_version=promotion.approved_version, purpose=Purpose.MARKETING)


def test_the_opt_out_button_with_its_payload_opts_out_and_credits_the_message(deliver, customer, promotion):
    message = promotion_sent_to(customer, promotion)
    payload = f"optout:marketing:{message.public_id}"
    deliver(
        inbound(
            "button",
            {"payload": payload, "text": "Stop promotions"},
            wa_id=WA_ID,
            context={"from": "15550783881", "id": message.attempts.get().wamid},
        )
    )
    event = ConsentEvent.objects.get(contact=customer, source=ConsentSource.BUTTON)
    assert (event.purpose, event.action) == (Purpose.MARKETING, "opt_out")
    assert event.evidence["outbound_message_id"] == message.pk
    assert event.evidence["outbound_message_public_id"] == str(message.public_id)
    assert event.evidence["inbound_message_id"] == InboundMessage.objects.get().pk
    assert event.evidence["button_payload"] == payload
    assert not has_opt_in(contact=customer, purpose=Purpose.MARKETING)
    assert confirmations(customer).get().reply_to == InboundMessage.objects.get()


def test_the_opt_out_button_payload_for_service_opts_out_of_service(deliver, customer, promotion):
    message = promotion_sent_to(customer, promotion)
    deliver(
        inbound("button", {"payload": f"optout:service:{message.public_id}", "text": "Stop"}, wa_id=WA_ID)
    )
    assert current_consent(contact=customer, purpose=Purpose.SERVICE).status == "opted_out"
    assert has_opt_in(contact=customer, purpose=Purpose.MARKETING)


def test_a_payload_naming_someone_elses_message_opts_out_without_crediting_it(
    deliver, customer, stranger, promotion
):
    theirs = promotion_sent_to(stranger, promotion)
    deliver(inbound("button", {"payload": f"optout:marketing:{theirs.public_id}", "text": "x"}, wa_id=WA_ID))
    event = ConsentEvent.objects.get(contact=customer, source=ConsentSource.BUTTON)
    assert "outbound_message_id" not in event.evidence


def test_the_opt_out_button_without_payload_is_matched_by_its_text(deliver, customer, promotion):
    message = promotion_sent_to(customer, promotion)
    deliver(
        inbound(
            "button",
            {"payload": "Stop promotions", "text": "Stop promotions"},
            wa_id=WA_ID,
            context={"from": "15550783881", "id": message.attempts.get().wamid},
        )
    )
    event = ConsentEvent.objects.get(contact=customer, source=ConsentSource.BUTTON)
    assert event.purpose == Purpose.MARKETING
    assert event.evidence["outbound_message_id"] == message.pk
    assert not has_opt_in(contact=customer, purpose=Purpose.MARKETING)


def test_another_button_of_the_same_template_is_not_an_opt_out(deliver, customer, promotion):
    message = promotion_sent_to(customer, promotion)
    deliver(
        inbound(
            "button",
            {"payload": "Show me offers", "text": "Show me offers"},
            wa_id=WA_ID,
            context={"from": "15550783881", "id": message.attempts.get().wamid},
        )
    )
    assert has_opt_in(contact=customer, purpose=Purpose.MARKETING)
    assert not ConsentEvent.objects.filter(source=ConsentSource.BUTTON).exists()


def test_a_button_labelled_like_the_opt_out_answering_no_known_message_is_ignored(
    deliver, customer, promotion
):
    deliver(inbound("button", {"payload": "Stop promotions", "text": "Stop promotions"}, wa_id=WA_ID))
    assert has_opt_in(contact=customer, purpose=Purpose.MARKETING)


# --- Meta's user_preferences --------------------------------------------------------------------


def preferences(value: str, *, wa_id: str = WA_ID, at: int | None = None) -> dict:
    return envelope(
        change(
            "user_preferences",
            {
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
                "contacts": [{"profile": {"name": "Pablo"}, "wa_id": wa_id}],
                "user_preferences": [
                    {
                        "wa_id": wa_id,
                        "detail": "User requested to stop marketing messages",
                        "category": "marketing_messages",
                        "value": value,
                        "timestamp": at or int(time.time()) + 1,
                    }
                ],
            },
        )
    )


def test_user_preferences_stop_is_a_marketing_opt_out_signal(deliver, customer):
    body = preferences("stop")
    deliver(body)
    deliver(body)  # Meta delivers again: one event
    event = ConsentEvent.objects.get(contact=customer, source=ConsentSource.WHATSAPP_SIGNAL)
    assert (event.purpose, event.action) == (Purpose.MARKETING, "opt_out")
    assert event.evidence["webhook_event_id"] == WebhookEvent.objects.order_by("id").first().pk
    assert event.evidence["value"] == "stop"
    assert not has_opt_in(contact=customer, purpose=Purpose.MARKETING)
    assert not confirmations(customer).exists()  # Meta's own opt-out: nothing to confirm


@pytest.mark.parametrize("value", ["resume", "signup"])
def test_user_preferences_resume_and_signup_are_timeline_notes_not_opt_ins(deliver, customer, value):
    from tests.factories import opt_out

    opt_out(customer, Purpose.MARKETING)
    body = preferences(value)
    deliver(body)
    deliver(body)
    assert not has_opt_in(contact=customer, purpose=Purpose.MARKETING)
    assert not ConsentEvent.objects.filter(source=ConsentSource.WHATSAPP_SIGNAL).exists()
    note = ActivityLogEntry.objects.get(action=f"whatsapp.user_preferences.{value}")
    assert note.object_id == str(customer.pk)
    assert note.object_type == "contacts.contact"
