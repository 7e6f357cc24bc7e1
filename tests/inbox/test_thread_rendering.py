"""The thread as bubbles: every inbound kind WhatsApp delivers, what we sent, notes, reactions on
their message, answers with their question, pages of earlier messages in a fixed number of queries."""

import pytest

from core.errors import ApplicationError
from inbox import services
from inbox.models import Conversation
from inbox.thread import thread_page
from messaging.sending import content
from tests.factories import ContactFactory
from tests.messaging.webhook_bodies import deliver, inbound, text_message  # noqa: F401 (a fixture)

pytestmark = pytest.mark.django_db
pytest_plugins = ["tests.inbox.thread_world"]

T0 = 1_750_000_000


def html_of(page) -> list[str]:
    return [str(b.html) for b in page.bubbles]


def test_every_inbound_kind_is_drawn(deliver):  # noqa: F811
    ContactFactory(phone="+4915112345678")
    deliver(text_message("*Hello* <script>alert(1)</script>", at=T0))
    deliver(inbound("image", {"id": "m-1", "mime_type": "image/jpeg", "caption": "my parcel"}, at=T0 + 1))
    deliver(
        inbound(
            "location",
            {"latitude": 52.52, "longitude": 13.405, "name": "Shop", "address": "Main St 1"},
            at=T0 + 2,
        )
    )
    card = {
        "name": {"formatted_name": "Ada Lovelace", "first_name": "Ada"},
        "phones": [{"phone": "+44 20 7946 0000"}],
    }
    deliver(inbound("contacts", [card], at=T0 + 3))
    deliver(inbound("unsupported", {}, at=T0 + 4))
    deliver(inbound("sticker", {"id": "m-2", "mime_type": "image/webp"}, at=T0 + 5))
    deliver(inbound("order", {"catalog_id": "1", "product_items": [{"product_retailer_id": "a"}]}, at=T0 + 6))
    deliver(inbound("brand_new_kind", {"x": 1}, at=T0 + 7))
    page = thread_page(Conversation.objects.get())
    text, image, location, contact_card, unsupported, sticker, order, unknown = html_of(page)
    assert "<strong>Hello</strong>" in text and "<script>" not in text and "&lt;script&gt;" in text
    assert "not available" in image and "my parcel" in image
    assert "openstreetmap.org" in location and "Shop · Main St 1" in location
    assert "Ada Lovelace" in contact_card and "+44 20 7946 0000" in contact_card
    assert "could not show" in unsupported
    assert "not available" in sticker
    assert "Order of 1 item" in order
    assert "brand_new_kind" in unknown


def test_a_list_answer_shows_the_question_and_a_reaction_sits_on_its_message(deliver, person, support):  # noqa: F811
    from messaging.models import SendAttempt

    deliver(text_message("Can I change my appointment?"))
    conversation_row = Conversation.objects.get()
    rows = [("mon", "Monday", "9-12"), ("tue", "Tuesday", "")]
    question = services.reply(
        conversation_row,
        user=support,
        content=content.choice_list("Which day suits you?", "Choose", [("Days", rows)]),
        seen_outbound_id=None,
    )
    SendAttempt.objects.create(message=question, number=1, wamid="wamid.out.1")
    deliver(
        inbound(
            "interactive",
            {"type": "list_reply", "list_reply": {"id": "mon", "title": "Monday", "description": "9-12"}},
            context={"from": "15550783881", "id": "wamid.out.1"},
        )
    )
    deliver(inbound("reaction", {"message_id": "wamid.out.1", "emoji": "👍"}))
    page = thread_page(conversation_row)
    _first, ours, answer = page.bubbles  # the reaction is drawn on our message, not on its own
    assert ours.side == "out" and "Which day suits you?" in str(ours.html) and "Tuesday" in str(ours.html)
    assert ours.reactions == ["👍"]
    assert answer.kind == "interactive" and "Monday" in str(answer.html) and "9-12" in str(answer.html)
    assert "Which day suits you?" in answer.quote


def test_notes_interleave_and_earlier_pages_lose_nothing(person, support, django_assert_max_num_queries):
    from tests.inbox.thread_world import person_writes

    for n in range(7):
        person_writes(person, f"message {n}")
        if n % 2:
            services.add_note(Conversation.objects.get(), author=support, text=f"note {n}")
    conversation_row = Conversation.objects.get()
    with django_assert_max_num_queries(8):
        page = thread_page(conversation_row, limit=4)
    seen = [b.key for b in page.bubbles]
    while page.earlier:
        page = thread_page(conversation_row, before=page.earlier, limit=4)
        seen = [b.key for b in page.bubbles] + seen
    assert len(seen) == len(set(seen)) == 10
    assert seen[0].startswith("in-") and seen[-1].startswith("in-")
    assert [k for k in seen if k.startswith("note")] == sorted(k for k in seen if k.startswith("note"))


def test_a_damaged_cursor_is_refused_clearly(conversation):
    for bad in ("nonsense", "bm9wZQ==", "MjAyNS0wMS0wMXw5fDE="):
        with pytest.raises(ApplicationError) as caught:
            thread_page(conversation, before=bad)
        assert caught.value.code == "thread_cursor_invalid"


def test_failed_and_template_messages_say_what_happened(conversation, support, order_update):
    from contacts.models import Purpose
    from messaging.models import MessageStatus, OutboundMessage
    from tests.factories import opt_in
    from tests.messaging.conftest import ORDER_PARAMETERS

    opt_in(conversation.contact, Purpose.SERVICE)
    sent = services.reply(
        conversation, user=support, template=order_update, parameters=ORDER_PARAMETERS, seen_outbound_id=None
    )
    OutboundMessage.objects.filter(pk=sent.pk).update(status=MessageStatus.FAILED, error_code=131026)
    (_, ours) = thread_page(conversation).bubbles
    assert "ORD-9271" in str(ours.html) and "wa-bubble" in str(ours.html)
    assert ours.status == "failed" and "131026" in ours.status_label and "undeliverable" in ours.status_label
