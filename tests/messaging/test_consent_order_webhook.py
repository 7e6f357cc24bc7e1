"""The order rule, seen through the signed webhook: a person's STOP is not outvoted by clocks.

Each event counts from its effective time, the earlier of when it happened and when it was
recorded; an opt-out within one second before the latest event wins (Meta's times are whole
seconds). See docs/consent.md.
"""
# ruff: noqa: F811 (the deliver fixture is imported, then named as a test argument)

import datetime as dt
import time

import pytest
from django.utils import timezone

from contacts.models import ConsentAction, ConsentEvent, ConsentSource, Purpose
from contacts.selectors import current_consent, deciding_event
from contacts.services import record_consent
from core.actors import Actor
from messaging.models import OutboundMessage
from messaging.webhooks.keywords import KeywordAction, confirmation_text
from tests.messaging.webhook_bodies import (
    METADATA,
    change,
    deliver,  # noqa: F401 (a fixture)
    envelope,
    text_message,
)

pytestmark = pytest.mark.django_db

WA_ID = "4915187654321"  # the `stranger` fixture: no consent until the shop records one
SHOP = Actor.system("the shop's API client")


def shop_opt_in(contact, occurred_at: dt.datetime) -> ConsentEvent:
    return record_consent(
        contact=contact,
        purpose=Purpose.MARKETING,
        action=ConsentAction.OPT_IN,
        source=ConsentSource.CHECKOUT,
        actor=SHOP,
        occurred_at=occurred_at,
        wording_text="Yes, send me offers on WhatsApp.",
    )


def user_preferences_stop(at: int) -> dict:
    item = {
        "wa_id": WA_ID,
        "detail": "User requested to stop marketing messages",
        "category": "marketing_messages",
        "value": "stop",
        "timestamp": str(at),
    }
    value = {
        "messaging_product": "whatsapp",
        "metadata": METADATA,
        "contacts": [{"profile": {"name": "Gabriela"}, "wa_id": WA_ID}],
        "user_preferences": [item],
    }
    return envelope(change("user_preferences", value))


def stop_body(kind: str, at: int) -> dict:
    if kind == "keyword":
        return text_message("STOP", wa_id=WA_ID, at=at)
    return user_preferences_stop(at)


def marketing(contact) -> str | None:
    consent = current_consent(contact=contact, purpose=Purpose.MARKETING)
    return consent.status if consent else None


@pytest.mark.parametrize("kind", ["keyword", "user_preferences"])
def test_stop_wins_over_an_opt_in_dated_ahead(deliver, stranger, kind):
    # The shop's clock runs four minutes fast: its opt-in claims to come after the STOP that follows.
    opt_in = shop_opt_in(stranger, timezone.now() + dt.timedelta(minutes=4))
    assert opt_in.effective_at == opt_in.recorded_at  # counts from when it was recorded
    assert marketing(stranger) == "opted_in"

    deliver(stop_body(kind, int(time.time()) + 1))

    stop = ConsentEvent.objects.get(contact=stranger, action=ConsentAction.OPT_OUT)
    assert stop.occurred_at < opt_in.occurred_at  # by occurred_at alone the opt-in would win
    assert marketing(stranger) == "opted_out"
    assert current_consent(contact=stranger, purpose=Purpose.MARKETING).event == stop
    # The state known before the STOP arrived was the opt-in; after it, the STOP.
    assert deciding_event(contact=stranger, purpose=Purpose.MARKETING, at=opt_in.recorded_at) == opt_in
    assert deciding_event(contact=stranger, purpose=Purpose.MARKETING, at=stop.recorded_at) == stop


@pytest.mark.parametrize("kind", ["keyword", "user_preferences"])
def test_stop_stamped_in_the_whole_second_of_an_opt_in_wins(deliver, stranger, kind):
    # The opt-in was recorded at hh:mm:06.197; the STOP that came after it is stamped hh:mm:06.
    second = int(time.time()) - 30
    opt_in = shop_opt_in(
        stranger, dt.datetime.fromtimestamp(second, tz=dt.UTC) + dt.timedelta(milliseconds=197)
    )

    deliver(stop_body(kind, second))

    stop = ConsentEvent.objects.get(contact=stranger, action=ConsentAction.OPT_OUT)
    assert stop.effective_at < opt_in.effective_at  # it sorts before the opt-in, and still wins
    assert marketing(stranger) == "opted_out"
    assert current_consent(contact=stranger, purpose=Purpose.MARKETING).event == stop


@pytest.mark.parametrize("kind", ["keyword", "user_preferences"])
def test_a_stop_more_than_a_second_before_an_opt_in_does_not_outvote_it(deliver, stranger, kind):
    second = int(time.time()) - 30
    shop_opt_in(stranger, dt.datetime.fromtimestamp(second + 2, tz=dt.UTC))

    deliver(stop_body(kind, second))  # arrives late, but happened two seconds before the opt-in

    assert marketing(stranger) == "opted_in"


def test_start_after_a_stop_opts_in_again(deliver, stranger):
    second = int(time.time()) - 30
    deliver(text_message("STOP", wa_id=WA_ID, at=second))
    assert marketing(stranger) == "opted_out"
    deliver(text_message("START", wa_id=WA_ID, at=second + 5))
    assert marketing(stranger) == "opted_in"


def test_start_in_the_same_whole_second_as_a_stop_leaves_them_opted_out(deliver, stranger):
    # Whole seconds cannot say which came first: the opt-out within a second of the latest wins.
    second = int(time.time()) - 30
    deliver(text_message("STOP", wa_id=WA_ID, at=second))
    deliver(text_message("START", wa_id=WA_ID, at=second))
    assert marketing(stranger) == "opted_out"
    # The reply says what is true now, not "you'll get offers".
    replies = OutboundMessage.objects.filter(contact=stranger, is_reply=True).order_by("id")
    last = [r.rendered_text or str(r.content) for r in replies][-1]
    assert last in {
        confirmation_text(action=KeywordAction.OPT_OUT, purpose=Purpose.MARKETING, language=lang)
        for lang in ("en", "de")
    }
