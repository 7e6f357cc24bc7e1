"""GET /api/v1/templates/: sendable templates per language, the values each expects, an example that fits."""

import pytest

from core.actors import Actor
from templates_app.demo import seed_templates
from templates_app.models import MessageTemplate
from templates_app.sending import sendability
from tests.api.keys import api_client

pytestmark = pytest.mark.django_db

URL = "/api/v1/templates/"


@pytest.fixture
def templates():
    return seed_templates(actor=Actor.system("tests"))


def listed(client) -> dict:
    answer = client.get(URL)
    assert answer.status_code == 200, answer.json()
    return {t["name"]: t["languages"] for t in answer.json()["results"]}


def test_sendable_templates_with_their_parameters(templates):
    by_name = listed(api_client("templates:read"))
    assert set(by_name) == {"order_update", "spring_promotion", "appointment_reminder", "spring_collection"}
    [order] = by_name["order_update"]
    assert (order["language"], order["category"], order["consent_purpose"]) == ("en", "UTILITY", "service")
    assert [(p["section"], p["name"], p["kind"]) for p in order["parameters"]] == [
        ("header", "media", "document"),
        ("body", "1", "text"),
        ("body", "2", "text"),
        ("buttons", "0", "url"),
    ]
    [promotion] = by_name["spring_promotion"]
    assert promotion["consent_purpose"] == "marketing"
    coupon = promotion["parameters"][-1]
    assert (coupon["kind"], coupon["max_length"], coupon["sample"]) == ("code", 15, "SPRING20")
    [reminder] = by_name["appointment_reminder"]
    assert reminder["parameter_format"] == "NAMED"
    assert reminder["example"]["body"] == {
        "first_name": "Pablo",
        "date": "12 May",
        "time": "10:30",
        "store": "Berlin",
    }


def test_each_example_fits_its_template(templates):
    by_name = listed(api_client("templates:read"))
    for template in templates:
        [entry] = by_name[template.name]
        assert sendability(template, entry["example"]).ok, template.name


def test_templates_not_approved_are_left_out(templates):
    MessageTemplate.objects.filter(name="spring_promotion").update(status="PAUSED")
    assert "spring_promotion" not in listed(api_client("templates:read"))


def test_languages_of_one_template_are_listed_together(templates):
    order = MessageTemplate.objects.get(name="order_update")
    version = order.approved_version
    german = MessageTemplate.objects.create(
        name="order_update",
        language="de",
        category="UTILITY",
        parameter_format="POSITIONAL",
        status="APPROVED",
    )
    version.pk, version.template, version.number = None, german, 1
    version.save()
    german.approved_version = version
    german.save(update_fields=["approved_version"])
    languages = [entry["language"] for entry in listed(api_client("templates:read"))["order_update"]]
    assert languages == ["de", "en"]


def test_reading_templates_needs_templates_read(templates):
    answer = api_client("contacts:read", "messages:send").get(URL)
    assert answer.status_code == 403 and answer.json()["error"]["code"] == "missing_scope"


def test_an_authentication_template_takes_its_code():
    from templates_app.models import TemplateVersion
    from tests.templates_app.sample_templates import authentication

    template = MessageTemplate.objects.create(
        name="login_code",
        language="en",
        category="AUTHENTICATION",
        parameter_format="POSITIONAL",
        status="APPROVED",
    )
    template.approved_version = TemplateVersion.objects.create(
        template=template,
        number=1,
        category="AUTHENTICATION",
        parameter_format="POSITIONAL",
        components=authentication(),
        review="APPROVED",
    )
    template.save(update_fields=["approved_version"])
    [entry] = listed(api_client("templates:read"))["login_code"]
    assert entry["parameters"] == [
        {"section": "body", "name": "1", "kind": "code", "sample": "", "max_length": 15}
    ]
    assert entry["example"] == {"body": ["123456"]} and entry["consent_purpose"] == "service"
    assert sendability(template, entry["example"]).ok
