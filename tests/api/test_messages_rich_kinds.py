"""POST /api/v1/messages/ with a carousel template's per-card values: queued (202) as given, or
refused (422) with every problem, a card's naming its card; the schema documents offer and cards."""

from __future__ import annotations

import pytest

from api.models import Scope
from messaging.models import OutboundMessage
from tests.api.keys import key_and_client
from tests.templates_app.rich_approved import approved_template

pytest_plugins = ["tests.api.messaging_world"]

pytestmark = pytest.mark.django_db

URL = "/api/v1/messages/"
IMAGE = {"type": "image", "link": "https://shop.example/succulent.jpg"}
CAROUSEL_PARAMETERS = {
    "body": ["Pablo", "30%", "30OFF"],
    "cards": [
        {"header": IMAGE, "buttons": {"1": "BLUE_ELF"}},
        {"header": {"type": "image", "id": "1013859600285441"}, "buttons": {"1": "BUDDHA"}},
        {"header": IMAGE, "buttons": {"1": "BLACK_PRINCE"}},
    ],
}


@pytest.fixture
def sender():
    return key_and_client(Scope.MESSAGES_SEND, Scope.MESSAGES_READ)[1]


@pytest.fixture
def carousel(db):
    return approved_template("carousel")


def body(contact, carousel, parameters) -> dict:
    return {
        "contact": contact.pk,
        "template": {"name": carousel.name, "language": carousel.language, "parameters": parameters},
    }


def test_a_carousel_is_queued_with_its_cards_values(sender, customer, carousel):
    response = sender.post(URL, body(customer, carousel, CAROUSEL_PARAMETERS), format="json")
    assert response.status_code == 202, response.content
    message = OutboundMessage.objects.get(public_id=response.json()["id"])
    assert message.parameters == CAROUSEL_PARAMETERS
    assert message.template_version == carousel.approved_version


@pytest.mark.parametrize(
    "cards,fragment",
    [
        (CAROUSEL_PARAMETERS["cards"][:2], "3 cards but 2"),
        ("BLUE_ELF", "cards"),
        (
            [
                *CAROUSEL_PARAMETERS["cards"][:1],
                {"buttons": {"1": "BUDDHA"}},
                CAROUSEL_PARAMETERS["cards"][2],
            ],
            "Card 2:",
        ),
    ],
)
def test_cards_that_do_not_fit_are_refused_naming_the_problem(sender, customer, carousel, cards, fragment):
    parameters = {**CAROUSEL_PARAMETERS, "cards": cards}
    response = sender.post(URL, body(customer, carousel, parameters), format="json")
    assert response.status_code == 422, response.content
    error = response.json()["error"]
    assert error["code"] == "template_parameters_invalid"
    assert error["field"] == "template.parameters"
    assert any(fragment in problem for problem in error["details"]["problems"]), error
    assert not OutboundMessage.objects.exists()


def test_the_schema_documents_offer_and_cards(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    parameters = schema["components"]["schemas"]["TemplateIn"]["properties"]["parameters"]
    assert {"header", "body", "buttons", "offer", "cards"} <= set(parameters["properties"])
    assert parameters["properties"]["offer"]["required"] == ["expiration_time_ms"]
    assert parameters["properties"]["cards"]["items"]["properties"]["header"]["properties"]["link"]
