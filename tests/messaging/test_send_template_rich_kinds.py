"""The contact page's manual "Send template" form for issue 15's kinds: a carousel card by card (its
media link, its link suffix), a limited-time offer's end in the operator's time zone, a location's
latitude, longitude, name and address — each problem shown on the field it concerns."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from core.actors import Actor
from messaging.models import MessageStatus, OutboundMessage
from messaging.sending import halt as halt_module
from messaging.sending.dispatch import send_queued
from messaging.sending.service import send_message
from templates_app.sending import send_components
from tests.messaging.test_dispatch_sandbox import sandbox_templates
from tests.sandbox import control
from tests.templates_app.rich_approved import approved_template

pytestmark = pytest.mark.django_db

CAROUSEL_FIELDS = {
    "body__1": "Anna",
    "body__2": "25%",
    "body__3": "SPRING25",
    "card1__header_link": "https://shop.example/blue-elf.jpg",
    "card1__button__1": "BLUE_ELF",
    "card2__header_link": "https://shop.example/buddha.jpg",
    "card2__button__1": "BUDDHA",
    "card3__header_link": "https://shop.example/black-prince.jpg",
    "card3__button__1": "BLACK_PRINCE",
}


def send_url(contact, template):
    return f"{reverse('admin:messaging_send_template', args=[contact.pk])}?template={template.pk}"


def preview(client, contact, template, values):
    return client.post(send_url(contact, template), {**values, "_preview": "1"})


def queued_parameters(client, contact, template, values) -> dict:
    """Preview, confirm, and the queued message's parameters."""
    response = preview(client, contact, template, values)
    assert "confirmation" in response.context, errors_of(response)
    sent = client.post(
        send_url(contact, template), {"confirmation": response.context["confirmation"], "_send": "1"}
    )
    assert sent.status_code == 302
    return OutboundMessage.objects.get().parameters


def errors_of(response) -> dict[str, list[str]]:
    return {name: list(errors) for name, errors in response.context["form"].errors.items()}


@pytest.fixture
def carousel(db):
    return approved_template("carousel")


def test_a_carousel_form_asks_for_every_value_card_by_card(client_for, editor, customer, carousel):
    page = client_for(editor).get(send_url(customer, carousel))
    assert page.status_code == 200
    form = page.context["form"]
    assert set(form.fields) == set(CAROUSEL_FIELDS)
    titles = [title for title, _ in form.field_groups()]
    assert titles == ["", "Card 1", "Card 2", "Card 3"]
    html = page.content.decode()
    assert 'id="send-values-card-2"' in html
    assert form["card2__button__1"].label.startswith("Card 2: ")


def test_a_carousel_is_previewed_then_queued_with_every_cards_values(
    client_for, editor, customer, carousel, settings
):
    settings.WHATSAPP_BACKEND = "memory"
    client = client_for(editor)
    response = preview(client, customer, carousel, CAROUSEL_FIELDS)
    assert response.status_code == 200
    assert "admin/messaging/send_template_confirm.html" in [t.name for t in response.templates]
    token = response.context["confirmation"]
    sent = client.post(send_url(customer, carousel), {"confirmation": token, "_send": "1"})
    assert sent.status_code == 302, errors_of(sent) if sent.context else sent
    message = OutboundMessage.objects.get()
    assert message.parameters == {
        "body": ["Anna", "25%", "SPRING25"],
        "cards": [
            {
                "header": {"type": "image", "link": "https://shop.example/blue-elf.jpg"},
                "buttons": {"1": "BLUE_ELF"},
            },
            {
                "header": {"type": "image", "link": "https://shop.example/buddha.jpg"},
                "buttons": {"1": "BUDDHA"},
            },
            {
                "header": {"type": "image", "link": "https://shop.example/black-prince.jpg"},
                "buttons": {"1": "BLACK_PRINCE"},
            },
        ],
    }
    components = send_components(message.template_version, message.parameters)
    cards = components[-1]["cards"]
    assert [card["card_index"] for card in cards] == [0, 1, 2]


@pytest.mark.parametrize(
    "field,value",
    [
        ("card2__button__1", "BUD DHA"),  # the rules: a link suffix has no spaces
        ("card2__header_link", "not a web address"),  # the field: not a URL
        ("card3__header_link", ""),  # required
    ],
)
def test_a_bad_card_value_is_named_on_its_field(client_for, editor, customer, carousel, field, value):
    response = preview(client_for(editor), customer, carousel, {**CAROUSEL_FIELDS, field: value})
    assert response.status_code == 200
    errors = errors_of(response)
    assert list(errors) == [field], errors
    assert not OutboundMessage.objects.exists()


def test_a_card_problem_found_by_the_rules_names_the_card(client_for, editor, customer, carousel):
    response = preview(
        client_for(editor), customer, carousel, {**CAROUSEL_FIELDS, "card2__button__1": "BUD DHA"}
    )
    (problem,) = errors_of(response)["card2__button__1"]
    assert problem.startswith("Card 2: ")


# --- a limited-time offer --------------------------------------------------------------------


def offer_fields(ends: str) -> dict[str, str]:
    return {
        "header_link": "https://shop.example/caribbean.jpg",
        "body__1": "Anna",
        "body__2": "CARIBE25",
        "button__0": "CARIBE25",
        "button__1": "anna",
        "offer_ends": ends,
    }


def local(moment: datetime) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")


def test_an_offers_end_is_read_in_the_operators_time_zone(client_for, editor, customer, settings):
    settings.TIME_ZONE = "Europe/Berlin"
    settings.WHATSAPP_BACKEND = "memory"
    template = approved_template("offer")
    page = client_for(editor).get(send_url(customer, template))
    assert 'type="datetime-local"' in page.content.decode()
    assert "Europe/Berlin" in page.context["form"]["offer_ends"].help_text
    day = (timezone.now() + timedelta(days=40)).date()
    parameters = queued_parameters(
        client_for(editor), customer, template, offer_fields(f"{day:%Y-%m-%d}T18:30")
    )
    expected = datetime(day.year, day.month, day.day, 18, 30, tzinfo=ZoneInfo("Europe/Berlin"))
    offer = parameters["offer"]
    assert offer == {"expiration_time_ms": int(expected.timestamp() * 1000)}


@pytest.mark.parametrize(
    "ends",
    [
        local(timezone.now() - timedelta(hours=1)),
        local(timezone.now() + timedelta(days=800)),
        "next friday",
        "",
    ],
)
def test_an_offer_end_that_does_not_fit_is_named_on_its_field(client_for, editor, customer, ends):
    template = approved_template("offer")
    response = preview(client_for(editor), customer, template, offer_fields(ends))
    assert list(errors_of(response)) == ["offer_ends"]


# --- a location header -----------------------------------------------------------------------

PLACE_FIELDS = {
    "location__latitude": "37.483307",
    "location__longitude": "-122.148981",
    "location__name": "Lucky Shrub",
    "location__address": "",
    "body__1": "Anna",
    "body__2": "566701",
}


def test_a_location_is_given_as_its_four_parts(client_for, editor, customer, settings):
    settings.WHATSAPP_BACKEND = "memory"
    template = approved_template("location")
    parameters = queued_parameters(client_for(editor), customer, template, PLACE_FIELDS)
    assert parameters["header"] == {
        "type": "location",
        "location": {"latitude": "37.483307", "longitude": "-122.148981", "name": "Lucky Shrub"},
    }


@pytest.mark.parametrize(
    "field,value",
    [("location__latitude", "91"), ("location__longitude", "east"), ("location__latitude", "")],
)
def test_a_bad_location_part_is_named_on_its_field(client_for, editor, customer, field, value):
    template = approved_template("location")
    response = preview(client_for(editor), customer, template, {**PLACE_FIELDS, field: value})
    assert list(errors_of(response)) == [field]


# --- through the dispatcher to the sandbox ----------------------------------------------------

RICH_PARAMETERS = {
    "carousel": {
        "body": ["Anna", "25%", "SPRING25"],
        "cards": [
            {
                "header": {"type": "image", "link": "https://shop.example/c1.jpg"},
                "buttons": {"1": "BLUE_ELF"},
            },
            {"header": {"type": "image", "link": "https://shop.example/c2.jpg"}, "buttons": {"1": "BUDDHA"}},
            {
                "header": {"type": "image", "link": "https://shop.example/c3.jpg"},
                "buttons": {"1": "BLACK_PRINCE"},
            },
        ],
    },
    "offer": {
        "header": {"type": "image", "link": "https://shop.example/caribbean.jpg"},
        "body": ["Anna", "CARIBE25"],
        "offer": {"expiration_time_ms": int((timezone.now() + timedelta(days=7)).timestamp() * 1000)},
        "buttons": {"0": "CARIBE25", "1": "anna"},
    },
    "location": {
        "header": {"type": "location", "location": {"latitude": "37.483307", "longitude": -122.148981}},
        "body": ["Anna", "566701"],
    },
}


@pytest.mark.parametrize("kind", list(RICH_PARAMETERS))
def test_a_rich_template_is_dispatched_to_the_sandbox_and_accepted(app_sandbox, settings, customer, kind):
    settings.WHATSAPP_MESSAGES_PER_SECOND = 1000
    settings.MARKETING_SENDING_HOURS = ""
    cache.delete(halt_module.CACHE_KEY)
    template = approved_template(kind)
    control(app_sandbox, "templates", {"templates": sandbox_templates([template])})
    message = send_message(
        contact=customer, actor=Actor.system("tests"), template=template, parameters=RICH_PARAMETERS[kind]
    )
    outcome = send_queued(message.pk)
    assert outcome.startswith("accepted"), outcome
    message.refresh_from_db()
    assert message.status == MessageStatus.ACCEPTED
    (sent,) = control(app_sandbox, "messages")["data"]
    components = sent["payload"]["template"]["components"]
    if kind == "carousel":
        cards = components[-1]["cards"]
        assert [card["card_index"] for card in cards] == [0, 1, 2]
        assert cards[1]["components"][1]["parameters"] == [{"type": "payload", "payload": "card:1:0"}]
    elif kind == "offer":
        assert [c["type"] for c in components] == ["header", "body", "limited_time_offer", "button", "button"]
    else:
        assert components[0]["parameters"][0]["location"]["latitude"] == "37.483307"
