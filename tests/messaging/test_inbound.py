"""Inbound messages of every type: stored once, the person found or created, the window opened."""
# ruff: noqa: F811 (the deliver fixture is imported, then named as a test argument)

import datetime as dt
import time

import pytest

from contacts.models import ConsentEvent, Contact
from messaging.models import InboundMessage
from tests.factories import ContactFactory
from tests.messaging.webhook_bodies import (
    deliver,  # noqa: F401 (a fixture)
    envelope,
    inbound,
    messages_change,
    new_wamid,
    outbound,
    text_message,
)

pytestmark = pytest.mark.django_db

WA_ID = "4915112345678"  # the `customer` fixture's number
MEDIA = {"id": "1037543291543636", "mime_type": "image/jpeg", "sha256": "abc"}

EVERY_TYPE = [
    ("text", {"body": "Does it come in blue?"}, "Does it come in blue?"),
    ("text", {"body": "Look", "preview_url": True}, "Look"),
    ("image", {**MEDIA, "caption": "My receipt"}, "My receipt"),
    ("video", {**MEDIA, "mime_type": "video/mp4"}, ""),
    ("audio", {**MEDIA, "mime_type": "audio/ogg", "voice": True}, ""),
    ("document", {**MEDIA, "mime_type": "application/pdf", "filename": "invoice.pdf"}, "invoice.pdf"),
    ("sticker", {**MEDIA, "mime_type": "image/webp", "animated": False}, ""),
    (
        "location",
        {"latitude": 52.52, "longitude": 13.405, "name": "Demo Shop", "address": "Berlin"},
        "Demo Shop, Berlin",
    ),
    (
        "contacts",
        [
            {
                "name": {"formatted_name": "Ana Lima", "first_name": "Ana"},
                "phones": [{"phone": "+5511987654321"}],
            }
        ],
        "Ana Lima",
    ),
    ("reaction", {"message_id": "wamid.reacted-to", "emoji": "👍"}, "👍"),
    ("reaction", {"message_id": "wamid.reacted-to"}, ""),  # a reaction removed
    ("button", {"payload": "more-offers", "text": "Show me offers"}, "Show me offers"),
    (
        "interactive",
        {"type": "button_reply", "button_reply": {"id": "yes", "title": "Yes please"}},
        "Yes please",
    ),
    (
        "interactive",
        {"type": "list_reply", "list_reply": {"id": "r1", "title": "Tuesday", "description": "10:00"}},
        "Tuesday",
    ),
    (
        "order",
        {"catalog_id": "123", "text": "For Saturday", "product_items": [{"product_retailer_id": "sku1"}]},
        "For Saturday",
    ),
    ("unsupported", {}, ""),
    ("a_type_meta_adds_later", {"whatever": 1}, ""),
]


@pytest.mark.parametrize(("kind", "content", "expected_text"), EVERY_TYPE, ids=[t[0] for t in EVERY_TYPE])
def test_every_inbound_type_is_stored_with_its_text_and_payload(
    deliver, customer, kind, content, expected_text
):
    wamid = new_wamid()
    body = inbound(kind, content, wamid=wamid)
    if kind == "unsupported":
        message = body["entry"][0]["changes"][0]["value"]["messages"][0]
        message["errors"] = [{"code": 131051, "title": "Message type unknown"}]
    assert deliver(body).status_code == 200
    stored = InboundMessage.objects.get(wamid=wamid)
    assert stored.contact == customer
    assert stored.type == kind
    assert stored.text == expected_text
    assert stored.payload["id"] == wamid
    assert stored.webhook_event_id is not None


def test_a_click_to_whatsapp_referral_is_kept_in_the_payload(deliver, customer):
    body = text_message("Hi, I saw your ad")
    message = body["entry"][0]["changes"][0]["value"]["messages"][0]
    message["referral"] = {"source_url": "https://fb.me/ad", "source_type": "ad", "ctwa_clid": "ARAkL"}
    deliver(body)
    assert InboundMessage.objects.get().payload["referral"]["ctwa_clid"] == "ARAkL"


def test_a_duplicate_delivery_stores_the_message_once(deliver, customer):
    body = text_message("Hello", wamid="wamid.once")
    deliver(body)
    deliver(body)
    assert InboundMessage.objects.filter(wamid="wamid.once").count() == 1


def test_an_unknown_person_becomes_a_contact_without_any_consent(deliver):
    deliver(text_message("Hallo", wa_id="4917612345678", name="Grete"))
    contact = Contact.objects.get()
    assert contact.phone == "+4917612345678"
    assert contact.wa_id == "4917612345678"
    assert contact.whatsapp_profile_name == "Grete"
    assert contact.last_inbound_at is not None
    assert not ConsentEvent.objects.exists()


def test_the_person_is_found_by_phone_and_their_wa_id_and_profile_name_kept(deliver, customer):
    assert customer.wa_id is None
    deliver(text_message("Hi", wa_id=WA_ID, name="Pablo 🌻"))
    customer.refresh_from_db()
    assert customer.wa_id == WA_ID
    assert customer.whatsapp_profile_name == "Pablo 🌻"
    assert Contact.objects.filter(wa_id=WA_ID).count() == 1
    assert InboundMessage.objects.get().contact == customer


def test_the_person_is_found_by_wa_id_when_it_differs_from_the_phone(deliver):
    # Brazil: the wa_id drops the mobile 9 the phone number has.
    person = ContactFactory(phone="+5511987654321", wa_id="551187654321")
    deliver(text_message("Oi", wa_id="551187654321"))
    assert InboundMessage.objects.get().contact == person
    assert Contact.objects.count() == 1


def test_the_person_is_found_by_business_scoped_user_id(deliver):
    person = ContactFactory(phone=None, wa_id=None, user_id="US.13491208655302741918")
    body = envelope(
        messages_change(
            messages=[
                {
                    "from_user_id": "US.13491208655302741918",
                    "id": "wamid.bsuid",
                    "timestamp": str(int(time.time())),
                    "type": "text",
                    "text": {"body": "only a user id"},
                }
            ],
            contacts=[{"profile": {"name": "Username"}, "user_id": "US.13491208655302741918"}],
        )
    )
    deliver(body)
    assert InboundMessage.objects.get(wamid="wamid.bsuid").contact == person


def test_the_window_opens_and_never_moves_back(deliver, customer):
    now = int(time.time())
    deliver(text_message("newer", at=now - 60))
    deliver(text_message("older, delivered late", at=now - 3600))
    customer.refresh_from_db()
    assert customer.last_inbound_at == dt.datetime.fromtimestamp(now - 60, tz=dt.UTC)


def test_a_timestamp_in_the_future_is_read_as_now(deliver, customer):
    deliver(text_message("from a clock that runs fast", at=int(time.time()) + 86400))
    assert InboundMessage.objects.get().sent_at <= dt.datetime.now(tz=dt.UTC)


def test_a_reply_is_linked_to_the_outbound_message_it_answers(deliver, customer):
    message = outbound(customer)
    wamid = message.attempts.get().wamid
    deliver(text_message("Thanks!", context={"from": "15550783881", "id": wamid}))
    stored = InboundMessage.objects.get()
    assert stored.context_wamid == wamid
    assert stored.in_reply_to == message


def test_a_reaction_is_linked_to_the_message_it_reacts_to(deliver, customer):
    message = outbound(customer)
    deliver(inbound("reaction", {"message_id": message.attempts.get().wamid, "emoji": "❤️"}))
    assert InboundMessage.objects.get().in_reply_to == message


def test_a_context_naming_an_unknown_message_is_kept_unlinked(deliver, customer):
    deliver(text_message("?", context={"from": "15550783881", "id": "wamid.not-ours"}))
    stored = InboundMessage.objects.get()
    assert stored.context_wamid == "wamid.not-ours"
    assert stored.in_reply_to is None


def test_several_messages_from_several_people_in_one_post(deliver, customer):
    now = str(int(time.time()))
    body = envelope(
        messages_change(
            contacts=[
                {"profile": {"name": "Pablo"}, "wa_id": WA_ID},
                {"profile": {"name": "Ana"}, "wa_id": "4917612345670"},
            ],
            messages=[
                {"from": WA_ID, "id": "wamid.a", "timestamp": now, "type": "text", "text": {"body": "one"}},
                {
                    "from": "4917612345670",
                    "id": "wamid.b",
                    "timestamp": now,
                    "type": "text",
                    "text": {"body": "two"},
                },
                {"from": WA_ID, "id": "wamid.c", "timestamp": now, "type": "text", "text": {"body": "three"}},
            ],
        )
    )
    deliver(body)
    assert InboundMessage.objects.filter(contact=customer).count() == 2
    assert InboundMessage.objects.get(wamid="wamid.b").contact.whatsapp_profile_name == "Ana"


def test_messages_without_an_id_or_sender_are_skipped_and_the_rest_kept(deliver, customer):
    now = str(int(time.time()))
    body = envelope(
        messages_change(
            contacts=[{"profile": {"name": "Pablo"}, "wa_id": WA_ID}],
            messages=[
                {"from": WA_ID, "timestamp": now, "type": "text", "text": {"body": "no id"}},
                {"id": "wamid.nobody", "timestamp": now, "type": "text"},
                "not an object",
                {
                    "from": WA_ID,
                    "id": "wamid.ok",
                    "timestamp": "yesterday",
                    "type": "text",
                    "text": "not an object",
                },
            ],
        )
    )
    assert deliver(body).status_code == 200
    assert list(InboundMessage.objects.values_list("wamid", flat=True)) == ["wamid.ok"]


def test_nul_characters_are_dropped_from_what_is_stored_but_kept_in_the_raw_body(deliver, customer):
    # PostgreSQL's text and jsonb cannot hold U+0000; Meta's JSON escapes may still carry one.
    body = text_message("a\u0000b", name="N\u0000ame")
    response = deliver(body)
    assert response.status_code == 200
    from messaging.models import WebhookEvent

    assert b"\\u0000" in bytes(WebhookEvent.objects.get().body)
    stored = InboundMessage.objects.get()
    assert stored.text == "ab"
    assert stored.payload["text"]["body"] == "ab"


def test_a_lone_surrogate_escape_is_stored_as_a_replacement_character(deliver, customer):
    body = b"".join(
        [
            b'{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{',
            b'"contacts":[{"wa_id":"4915112345678","profile":{"name":"P"}}],"messages":[{"from":"4915112345678",',
            b'"id":"wamid.surrogate","timestamp":"1750000000","type":"text",',
            b'"text":{"body":"half \\ud83c and whole \\ud83c\\udf37"}}]}}]}]}',
        ]
    )
    assert deliver(body).status_code == 200
    assert InboundMessage.objects.get().text == "half \ufffd and whole 🌷"
