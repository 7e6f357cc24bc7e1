"""Free-form content through send_message and build_payload: each kind queued and its request body,
each bad input refused with the part it names, the window and consent rules, and replies that quote
the message they answer."""

from datetime import timedelta

import pytest
from django.utils import timezone

from contacts.models import ActivityLogEntry, Purpose
from core.actors import Actor
from core.errors import ApplicationError
from messaging.models import MessageKind, OutboundMessage
from messaging.sending import content
from messaging.sending.batch import claim_batch
from messaging.sending.dispatch import build_payload
from messaging.sending.service import send_message
from tests.factories import opt_out
from tests.messaging.conftest import ORDER_PARAMETERS, inbound_message

SYSTEM = Actor.system("tests")

LIST = content.choice_list(
    "Which day suits you?",
    "Choose a day",
    [
        ("This week", [("mon", "Monday", "9:00–12:00"), ("tue", "Tuesday", "")]),
        ("Next week", [("next-mon", "Monday", "all day")]),
    ],
    header="Appointments",
    footer="Reply any time",
)
KINDS = {
    "text": (content.text("  Happy to help!  "), MessageKind.TEXT, "Happy to help!"),
    "image": (
        content.media("image", "1037", caption="Your parcel"),
        MessageKind.MEDIA,
        "📷 Photo: Your parcel",
    ),
    "document": (
        content.media("document", "1038", filename="invoice.pdf"),
        MessageKind.MEDIA,
        "📄 Document (invoice.pdf)",
    ),
    "sticker": (content.media("sticker", "1039"), MessageKind.MEDIA, "💟 Sticker"),
    "buttons": (
        content.buttons("Did that help?", [("yes", "Yes"), ("no", "Not really")], footer="Thanks"),
        MessageKind.INTERACTIVE,
        "Did that help?\nThanks\n[Yes] [Not really]",
    ),
    "list": (
        LIST,
        MessageKind.INTERACTIVE,
        "Appointments\nWhich day suits you?\nReply any time\n☰ Choose a day\nThis week:\n"
        "• Monday — 9:00–12:00\n• Tuesday\nNext week:\n• Monday — all day",
    ),
}
# The part of Meta's request body each kind carries (``type`` and its object).
BODIES = {
    "text": ("text", {"preview_url": False, "body": "Happy to help!"}),
    "image": ("image", {"id": "1037", "caption": "Your parcel"}),
    "document": ("document", {"id": "1038", "filename": "invoice.pdf"}),
    "sticker": ("sticker", {"id": "1039"}),
    "buttons": (
        "interactive",
        {
            "type": "button",
            "body": {"text": "Did that help?"},
            "footer": {"text": "Thanks"},
            "action": {
                "buttons": [
                    {"type": "reply", "reply": {"id": "yes", "title": "Yes"}},
                    {"type": "reply", "reply": {"id": "no", "title": "Not really"}},
                ]
            },
        },
    ),
    "list": (
        "interactive",
        {
            "type": "list",
            "header": {"type": "text", "text": "Appointments"},
            "body": {"text": "Which day suits you?"},
            "footer": {"text": "Reply any time"},
            "action": {
                "button": "Choose a day",
                "sections": [
                    {
                        "title": "This week",
                        "rows": [
                            {"id": "mon", "title": "Monday", "description": "9:00–12:00"},
                            {"id": "tue", "title": "Tuesday"},
                        ],
                    },
                    {
                        "title": "Next week",
                        "rows": [{"id": "next-mon", "title": "Monday", "description": "all day"}],
                    },
                ],
            },
        },
    ),
}


def refusal(**kwargs) -> ApplicationError:
    count = OutboundMessage.objects.count()
    with pytest.raises(ApplicationError) as info:
        send_message(actor=SYSTEM, **kwargs)
    assert OutboundMessage.objects.count() == count, "a refusal must leave nothing behind"
    return info.value


@pytest.mark.parametrize("name", KINDS)
def test_each_kind_is_queued_with_its_kind_text_and_request_body(customer, name):
    given, kind, described = KINDS[name]
    inbound_message(customer)  # their window is open; the message is business-initiated (service)
    message = send_message(contact=customer, actor=SYSTEM, content=given)
    message.refresh_from_db()
    assert (message.kind, message.purpose, message.is_reply) == (kind, Purpose.SERVICE, False)
    assert message.content == given
    assert message.rendered_text == described
    body = build_payload(message)
    message_type, part = BODIES[name]
    assert body["type"] == message_type and body[message_type] == part
    assert body["to"] == customer.phone and body["biz_opaque_callback_data"] == str(message.public_id)
    assert "context" not in body


@pytest.mark.parametrize("name", KINDS)
def test_a_reply_of_each_kind_quotes_the_message_it_answers(stranger, name):
    question = inbound_message(stranger, "Can you help?")
    reply = send_message(contact=stranger, actor=SYSTEM, content=KINDS[name][0], reply_to=question)
    assert reply.is_reply
    assert build_payload(OutboundMessage.objects.get(pk=reply.pk))["context"] == {
        "message_id": question.wamid
    }


def test_text_stays_a_shorthand_and_a_reply_in_text_quotes_too(stranger):
    question = inbound_message(stranger, "STOP")
    reply = send_message(
        contact=stranger, actor=SYSTEM, text="You will get no more offers.", reply_to=question
    )
    assert reply.kind == MessageKind.TEXT
    assert reply.content == {"type": "text", "body": "You will get no more offers."}
    body = build_payload(reply)
    assert body["text"]["body"] == "You will get no more offers."
    assert body["context"] == {"message_id": question.wamid}


def test_a_template_sent_as_a_reply_quotes_the_message_it_answers(customer, order_update):
    question = inbound_message(customer, "Where is my order?")
    reply = send_message(
        contact=customer, actor=SYSTEM, template=order_update, parameters=ORDER_PARAMETERS, reply_to=question
    )
    body = build_payload(reply)
    assert body["type"] == "template" and body["context"] == {"message_id": question.wamid}


def test_a_text_queued_before_content_had_types_is_still_sent(customer):
    inbound_message(customer)
    message = send_message(contact=customer, actor=SYSTEM, text="Hello")
    OutboundMessage.objects.filter(pk=message.pk).update(content={"body": "Hello"})
    message.refresh_from_db()
    assert build_payload(message)["text"]["body"] == "Hello"
    assert content.describe(message.content) == "Hello"


def test_the_dispatcher_reads_the_quoted_wamids_once_for_the_batch(stranger, django_assert_num_queries):
    questions = [inbound_message(stranger, f"Question {n}") for n in range(3)]
    for question in questions:
        send_message(contact=stranger, actor=SYSTEM, content=content.text("On it"), reply_to=question)
    batch = claim_batch(limit=10)
    assert len(batch.claimed) == 3
    with django_assert_num_queries(0):
        quoted = {build_payload(message)["context"]["message_id"] for message in batch.claimed}
    assert quoted == {question.wamid for question in questions}


BAD = [
    pytest.param("text", "content", id="not an object"),
    pytest.param({"type": "video_call"}, "type", id="unknown type"),
    pytest.param({"body": "Hi"}, "type", id="no type"),
    pytest.param({"type": ["text"], "body": "Hi"}, "type", id="type not text"),
    pytest.param({"type": "media", "kind": ["image"], "media_id": "1"}, "kind", id="kind not text"),
    pytest.param(
        {"type": "list", "body": "b", "button": "B", "sections": [{"rows": "r"}]},
        "sections",
        id="rows not a list",
    ),
    pytest.param(
        {"type": "list", "body": "b", "button": "B", "sections": [{"title": "S"}]}, "sections", id="no rows"
    ),
    pytest.param({"type": "text", "body": "   "}, "body", id="empty body"),
    pytest.param({"type": "text", "body": 42}, "body", id="body not text"),
    pytest.param({"type": "text", "body": "Hi\x00"}, "body", id="NUL in body"),
    pytest.param({"type": "text", "body": "x" * 4097}, "body", id="text too long"),
    pytest.param({"type": "text", "body": "Hi", "preview": True}, "preview", id="unknown key"),
    pytest.param({"type": "media", "kind": "gif", "media_id": "1"}, "kind", id="unknown media kind"),
    pytest.param({"type": "media", "kind": "image"}, "media_id", id="no media id"),
    pytest.param(
        {"type": "media", "kind": "image", "media_id": "1 2"}, "media_id", id="media id with a space"
    ),
    pytest.param(content.media("audio", "1", caption="Listen"), "caption", id="caption on audio"),
    pytest.param(content.media("image", "1", caption="x" * 1025), "caption", id="caption too long"),
    pytest.param(content.media("image", "1", filename="a.jpg"), "filename", id="filename on an image"),
    pytest.param(content.buttons("Pick", []), "buttons", id="no buttons"),
    pytest.param(
        content.buttons("Pick", [("a", "A"), ("b", "B"), ("c", "C"), ("d", "D")]),
        "buttons",
        id="four buttons",
    ),
    pytest.param(content.buttons("Pick", [("a", "Same"), ("b", "Same")]), "buttons", id="same titles"),
    pytest.param(content.buttons("Pick", [("a", "One"), ("a", "Two")]), "buttons", id="same ids"),
    pytest.param(content.buttons("Pick", [("a", "x" * 21)]), "buttons", id="button title too long"),
    pytest.param(content.buttons("Pick", [("a", "  ")]), "buttons", id="blank button title"),
    pytest.param(content.buttons("", [("a", "A")]), "body", id="buttons without a body"),
    pytest.param(content.buttons("x" * 1025, [("a", "A")]), "body", id="buttons body too long"),
    pytest.param(content.buttons("Pick", [("a", "A")], header="x" * 61), "header", id="header too long"),
    pytest.param(content.buttons("Pick", [("a", "A")], footer="x" * 61), "footer", id="footer too long"),
    pytest.param(
        {"type": "buttons", "body": "Pick", "buttons": [["a", "A"]]}, "buttons", id="button not an object"
    ),
    pytest.param(
        content.choice_list("Pick", "Open", [("S", [(str(n), f"Row {n}", "") for n in range(11)])]),
        "sections",
        id="eleven rows",
    ),
    pytest.param(content.choice_list("Pick", "Open", []), "sections", id="no sections"),
    pytest.param(content.choice_list("Pick", "Open", [("S", [])]), "sections", id="a section without rows"),
    pytest.param(
        content.choice_list("Pick", "Open", [("", [("a", "A", "")]), ("", [("b", "B", "")])]),
        "sections",
        id="untitled sections",
    ),
    pytest.param(
        content.choice_list("Pick", "Open", [("S", [("a", "A", ""), ("a", "B", "")])]),
        "sections",
        id="same row ids",
    ),
    pytest.param(
        content.choice_list("Pick", "Open", [("S", [("a", "x" * 25, "")])]),
        "sections",
        id="row title too long",
    ),
    pytest.param(
        content.choice_list("Pick", "Open", [("S", [("a", "A", "x" * 73)])]),
        "sections",
        id="description too long",
    ),
    pytest.param(
        content.choice_list("Pick", "x" * 21, [("S", [("a", "A", "")])]), "button", id="button too long"
    ),
    pytest.param(content.choice_list("Pick", "", [("S", [("a", "A", "")])]), "button", id="no list button"),
]


@pytest.mark.parametrize(("given", "field"), BAD)
def test_bad_content_is_refused_naming_the_part(customer, given, field):
    inbound_message(customer)
    error = refusal(contact=customer, content=given)
    assert (error.code, error.field) == ("message_content_invalid", field), error.message
    assert error.message


def test_check_is_what_send_message_asks():
    with pytest.raises(ApplicationError) as info:
        content.check(content.buttons("Pick", [("a", "A")] * 4))
    assert info.value.field == "buttons"
    content.check(LIST)  # a good one passes quietly


@pytest.mark.parametrize(
    "kwargs",
    [
        {"text": "Hi", "content": content.text("Hi")},
        {"content": content.text("Hi"), "template": "order_update"},
    ],
    ids=["text and content", "template and content"],
)
def test_exactly_one_of_template_text_or_content(customer, order_update, kwargs):
    inbound_message(customer)
    if "template" in kwargs:
        kwargs = {**kwargs, "template": order_update, "parameters": ORDER_PARAMETERS}
    assert refusal(contact=customer, **kwargs).code == "message_content_invalid"


def test_a_too_long_text_names_the_text_argument(customer):
    inbound_message(customer)
    error = refusal(contact=customer, text="x" * 4097)
    assert (error.code, error.field) == ("message_content_invalid", "text")


@pytest.mark.parametrize("name", ["image", "buttons", "list"])
def test_free_form_content_is_refused_when_the_window_closed(customer, name):
    question = inbound_message(customer, at=timezone.now() - timedelta(hours=25))
    assert refusal(contact=customer, content=KINDS[name][0]).code == "window_closed"
    error = refusal(contact=customer, content=KINDS[name][0], reply_to=question)
    assert error.code == "reply_to_outside_window"


def test_business_initiated_content_needs_a_service_opt_in_and_a_reply_does_not(stranger, customer):
    question = inbound_message(stranger)
    assert refusal(contact=stranger, content=KINDS["buttons"][0]).code == "no_consent"
    assert send_message(
        contact=stranger, actor=SYSTEM, content=KINDS["buttons"][0], reply_to=question
    ).is_reply
    opt_out(customer, Purpose.SERVICE)
    inbound_message(customer)
    assert refusal(contact=customer, content=KINDS["image"][0]).code == "opted_out"


def test_a_staff_send_logs_its_kind(customer, support):
    inbound_message(customer)
    message = send_message(contact=customer, actor=Actor.for_user(support), content=LIST)
    entry = ActivityLogEntry.objects.get(action="message.queued", object_id=str(message.pk))
    assert entry.details["kind"] == MessageKind.INTERACTIVE


def test_business_initiated_content_for_marketing_needs_the_marketing_opt_in(customer, order_update):
    inbound_message(customer)
    question = KINDS["buttons"][0]
    message = send_message(contact=customer, actor=SYSTEM, content=question, purpose=Purpose.MARKETING)
    assert message.purpose == Purpose.MARKETING
    opt_out(customer, Purpose.MARKETING)
    assert refusal(contact=customer, content=question, purpose=Purpose.MARKETING).code == "opted_out"
    assert send_message(contact=customer, actor=SYSTEM, content=question).purpose == Purpose.SERVICE


def test_a_purpose_is_for_free_form_content_only_and_never_marketing_in_a_reply(customer, order_update):
    answered = inbound_message(customer)
    error = refusal(contact=customer, content=KINDS["buttons"][0], purpose="promotions")
    assert (error.code, error.field) == ("message_content_invalid", "purpose")
    error = refusal(
        contact=customer, template=order_update, parameters=ORDER_PARAMETERS, purpose=Purpose.SERVICE
    )
    assert (error.code, error.field) == ("message_content_invalid", "purpose")
    error = refusal(
        contact=customer, content=KINDS["buttons"][0], purpose=Purpose.MARKETING, reply_to=answered
    )
    assert error.code == "marketing_not_a_reply"
