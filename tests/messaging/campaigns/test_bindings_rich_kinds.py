"""Bindings for carousels, limited-time offers and location headers: their slots and labels, each
contact's values card by card, what is refused and why, hostile documents, and the SQL "missing
variable" test held to the Python values (both databases: run with DATABASE_URL for PostgreSQL)."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from contacts.models import AttributeDefinition, Contact
from core.errors import ApplicationError
from messaging.campaigns.bindings import (
    binding_problems,
    campaign_missing_value_q,
    contact_parameters,
    missing_value_q,
    sample_parameters,
    template_slots,
)
from messaging.campaigns.personalise import campaign_bubble
from messaging.campaigns.readiness import campaign_readiness
from templates_app.parameters import build_send_components, check_parameters
from tests.factories import ContactFactory
from tests.messaging.campaigns.content_world import approved, attribute, campaign, field, literal
from tests.messaging.campaigns.test_bindings import ODD_VALUES
from tests.templates_app.meta_examples import LIMITED_TIME_OFFER, MEDIA_CARD_CAROUSEL, ORDER_DELIVERY_UPDATE

pytestmark = pytest.mark.django_db


def carousel_components(cards: int = 3) -> list:
    """A carousel whose cards each have an image, a text with two variables, a quick reply and a
    link ending in a variable (Meta's rule: every card alike)."""
    card = {
        "components": [
            {"type": "HEADER", "format": "IMAGE", "example": {"header_handle": ["4::card"]}},
            {
                "type": "BODY",
                "text": "Picked for {{2}}: {{1}}, while it lasts.",
                "example": {"body_text": [["Blue Elf", "Pablo"]]},
            },
            {
                "type": "BUTTONS",
                "buttons": [
                    {"type": "QUICK_REPLY", "text": "More like this"},
                    {
                        "type": "URL",
                        "text": "Shop",
                        "url": "https://shop.example/p/{{1}}",
                        "example": ["https://shop.example/p/blue-elf"],
                    },
                ],
            },
        ]
    }
    return [
        {"type": "BODY", "text": "Hi {{1}}, picked for you:", "example": {"body_text": [["Pablo"]]}},
        {"type": "CAROUSEL", "cards": [card] * cards},
    ]


def carousel_bindings(cards: int = 3, **overrides) -> dict:
    """Each card's values from the contact's own custom fields ``pick<n>`` and ``image<n>``."""
    bound = {
        str(c): {
            "header": attribute(f"image{c + 1}"),
            "body": {"1": attribute(f"pick{c + 1}"), "2": field("first_name", "you")},
            "buttons": {"1": attribute(f"pick{c + 1}")},
        }
        for c in range(cards)
    }
    return {"body": {"1": field("first_name", "there")}, "cards": {**bound, **overrides}}


def meta_components(example) -> list:
    return example["body"]["components"]


@pytest.fixture(autouse=True)
def custom_fields(db):
    kinds = [("store_lat", "number"), ("store_lng", "number"), ("store_name", "text"), ("offer_end", "date")]
    kinds += [("offer_until", "text"), ("voucher", "text"), ("vip", "boolean")]
    kinds += [(f"pick{c}", "text") for c in range(1, 4)] + [(f"image{c}", "text") for c in range(1, 4)]
    for key, kind in kinds:
        AttributeDefinition.objects.create(key=key, type=kind)


def shopper(**attributes) -> Contact:
    values = {}
    for c in range(1, 4):
        values[f"pick{c}"] = f"plant-{c}"
        values[f"image{c}"] = f"https://cdn.example/plant-{c}.jpg"
    return ContactFactory(first_name="ana", attributes={**values, **attributes})


def fits(template, parameters) -> list[str]:
    version = template.approved_version
    return check_parameters(
        components=version.components, parameter_format=version.parameter_format, parameters=parameters
    )


# --- carousels ------------------------------------------------------------------------------------


def test_a_carousel_takes_each_cards_link_variables_and_link_suffixes_labelled_by_card():
    slots = template_slots(carousel_components())
    keys = [(s.section, s.name, s.kind) for s in slots]
    assert keys[:5] == [
        ("body", "1", "text"),
        ("cards.0", "header", "link"),
        ("cards.0.body", "1", "text"),
        ("cards.0.body", "2", "text"),
        ("cards.0.buttons", "1", "url"),
    ]
    assert len(slots) == 1 + 3 * 4
    labels = {(s.section, s.name): s.label for s in slots}
    assert labels[("cards.1", "header")] == "card 2 — image link"
    assert labels[("cards.1.body", "1")] == "card 2 — {{1}} in the card text"
    assert labels[("cards.2.buttons", "1")] == "card 3 — the link suffix of button 2"
    assert [s.path for s in slots][1] == ("cards", "0", "header")


def test_metas_carousel_example_takes_a_link_and_a_suffix_per_card():
    slots = template_slots(meta_components(MEDIA_CARD_CAROUSEL))
    per_card = [(s.section, s.name, s.kind, s.sample) for s in slots if s.card == 0]
    # Meta's sample here is the value alone ("BLUE_ELF"), not a full link: it is the suffix.
    assert per_card == [("cards.0", "header", "link", ""), ("cards.0.buttons", "1", "url", "BLUE_ELF")]


def test_each_card_gets_the_contacts_own_values_and_fits_the_send_path():
    template = approved("picks", components=carousel_components())
    picks = campaign(template, bindings=carousel_bindings())
    parameters = contact_parameters(picks, shopper(), language="en")
    assert parameters == {
        "body": ["ana"],
        "cards": [
            {
                "header": {"type": "image", "link": f"https://cdn.example/plant-{c}.jpg"},
                "body": [f"plant-{c}", "ana"],
                "buttons": {"1": f"plant-{c}"},
            }
            for c in range(1, 4)
        ],
    }
    assert fits(template, parameters) == []
    sent = build_send_components(
        components=template.approved_version.components, parameter_format="POSITIONAL", parameters=parameters
    )
    carousel = next(c for c in sent if c["type"] == "carousel")
    assert [card["card_index"] for card in carousel["cards"]] == [0, 1, 2]


def test_a_missing_card_value_without_fallback_excludes_the_contact_and_a_fallback_fills_it():
    template = approved("picks", components=carousel_components())
    picks = campaign(template, bindings=carousel_bindings())
    lacking = shopper(pick2="  ")
    complete = shopper()
    with pytest.raises(ApplicationError) as refused:
        contact_parameters(picks, lacking, language="en")
    assert refused.value.code == "campaign_value_missing"
    missing = set(Contact.objects.filter(campaign_missing_value_q(picks)).values_list("pk", flat=True))
    assert lacking.pk in missing and complete.pk not in missing

    card = {"header": literal("https://cdn.example/all.jpg")}
    card["body"] = {"1": attribute("pick2", "a surprise"), "2": field("first_name")}
    card["buttons"] = {"1": attribute("pick2", "surprise")}
    picks.bindings = carousel_bindings(**{"1": card})
    picks.save()
    assert not Contact.objects.filter(campaign_missing_value_q(picks), pk=lacking.pk).exists()
    second = contact_parameters(picks, lacking, language="en")["cards"][1]
    assert second == {
        "header": {"type": "image", "link": "https://cdn.example/all.jpg"},
        "body": ["a surprise", "ana"],
        "buttons": {"1": "surprise"},
    }


@pytest.mark.parametrize(
    "link",
    [
        "http://cdn.example/a.jpg",
        "cdn.example/a.jpg",
        "https://cdn.example/a.pdf",
        "https://cdn.example/a b.jpg",
    ],
)
def test_a_contacts_card_link_that_whatsapp_cannot_fetch_fails_with_the_reason(link):
    picks = campaign(approved("picks", components=carousel_components()), bindings=carousel_bindings())
    with pytest.raises(ApplicationError) as refused:
        contact_parameters(picks, shopper(image3=link), language="en")
    assert refused.value.code == "campaign_card_link_invalid"
    assert "card 3" in refused.value.message


def test_sample_values_for_a_carousel_need_a_text_or_a_fallback_for_each_link():
    template = approved("picks", components=carousel_components())
    picks = campaign(template, bindings=carousel_bindings())
    with pytest.raises(ApplicationError) as refused:
        sample_parameters(picks, language="en")
    assert refused.value.code == "campaign_sample_value_missing"
    bound = carousel_bindings()
    for c, card in bound["cards"].items():
        card["header"] = attribute(f"image{int(c) + 1}", f"https://cdn.example/default-{c}.png")
    picks.bindings = bound
    picks.save()
    parameters = sample_parameters(picks, language="en")
    assert parameters["cards"][0]["header"]["link"] == "https://cdn.example/default-0.png"
    assert parameters["cards"][0]["body"] == ["Blue Elf", "Pablo"]  # the template's own samples
    assert fits(template, parameters) == []
    assert campaign_bubble(picks)  # draws without failing


@pytest.mark.parametrize(
    ("card", "fragment"),
    [
        ({"header": field("first_name")}, "not a contact field"),
        ({"header": literal("http://cdn.example/a.jpg")}, "https://"),
        ({"header": literal("https://cdn.example/a.mp4")}, "link names an MP4 video"),
        ({"header": attribute("vip")}, "a yes/no field"),
        ({"header": attribute("offer_end")}, "a date field"),
        ({"header": attribute("nope")}, "not declared"),
        ({"header": {**literal("https://cdn.example/a.jpg"), "format": "upper"}}, "takes no format"),
        ({"header": literal("", fallback="")}, "empty text"),
    ],
)
def test_each_card_link_binding_problem_is_named_with_its_card(card, fragment):
    bound = carousel_bindings()
    bound["cards"]["1"] = {**bound["cards"]["1"], **card}
    found = binding_problems(campaign(approved("picks", components=carousel_components()), bindings=bound))
    assert any(fragment in text and text.startswith("Card 2 — image link") for text in found), found


def test_unbound_card_values_and_bindings_of_cards_the_template_lacks_are_named():
    bound = carousel_bindings()
    del bound["cards"]["2"]["header"]
    bound["cards"]["7"] = {"body": {"1": literal("x")}}
    found = binding_problems(campaign(approved("picks", components=carousel_components()), bindings=bound))
    assert "Card 3 — image link is not bound: choose a custom field or a text." in found
    assert any("variable {{1}} in the text of card 8" in text for text in found), found


# --- limited-time offers --------------------------------------------------------------------------


def offer_template():
    return approved("caribbean", components=meta_components(LIMITED_TIME_OFFER))


def offer_campaign(expiration: dict):
    return campaign(
        offer_template(),
        bindings=offer_bindings(expiration),
        header_media_source="link",
        header_media_link="https://cdn.example/caribe.jpg",
    )


def offer_bindings(expiration: dict) -> dict:
    return {
        "body": {"1": field("first_name", "there"), "2": attribute("voucher")},
        "buttons": {"0": attribute("voucher"), "1": literal("n3mtql")},
        "offer": {"expiration": expiration},
    }


def in_zone(moment: datetime) -> datetime:
    return moment.astimezone(timezone.get_default_timezone())


def test_an_offer_takes_its_end_and_the_coupon_code_per_recipient():
    slots = template_slots(meta_components(LIMITED_TIME_OFFER))
    assert [(s.section, s.name, s.kind) for s in slots][-1] == ("offer", "expiration", "datetime")
    assert [s.label for s in slots if s.section == "offer"] == ["the offer's end"]
    end = timezone.now().replace(microsecond=0) + timedelta(days=3)
    offer = offer_campaign(literal(end.isoformat()))
    parameters = contact_parameters(offer, ContactFactory(attributes={"voucher": "CARIBE25"}), language="en")
    assert parameters["offer"] == {"expiration_time_ms": int(end.timestamp() * 1000)}
    assert parameters["buttons"] == {"0": "CARIBE25", "1": "n3mtql"}
    assert fits(offer.template, parameters) == []


def test_a_date_ends_the_offer_at_the_end_of_that_day_per_recipient():
    day = (timezone.localdate() + timedelta(days=5)).isoformat()
    offer = offer_campaign(attribute("offer_end"))
    contact = ContactFactory(attributes={"voucher": "C1", "offer_end": day})
    ms = contact_parameters(offer, contact, language="en")["offer"]["expiration_time_ms"]
    end = in_zone(datetime.fromtimestamp(ms / 1000, tz=UTC))
    assert (end.date().isoformat(), end.hour, end.minute, end.second) == (day, 23, 59, 59)


@pytest.mark.parametrize(
    ("stored", "code"),
    [
        ("2020-01-01", "campaign_offer_expired"),
        ("soon", "campaign_offer_expiration_invalid"),
        ("2026-02-30", "campaign_offer_expiration_invalid"),
        ("2099-01-01T10:00", "campaign_offer_too_far"),
    ],
)
def test_a_recipients_offer_end_that_cannot_be_sent_fails_with_the_reason(stored, code):
    offer = offer_campaign(attribute("offer_until"))
    contact = ContactFactory(attributes={"voucher": "C1", "offer_until": stored})
    with pytest.raises(ApplicationError) as refused:
        contact_parameters(offer, contact, language="en")
    assert refused.value.code == code


def test_a_written_offer_end_that_has_passed_blocks_submission_and_approval():
    offer = offer_campaign(literal("2020-06-01T12:00:00+00:00"))
    for approving in (False, True):
        codes = {p.code for p in campaign_readiness(offer, approving=approving).problems}
        assert "campaign_offer_expired" in codes
    offer.bindings = offer_bindings(literal((timezone.now() + timedelta(days=2)).isoformat()))
    offer.save()
    codes = {p.code for p in campaign_readiness(offer).problems}
    assert not codes & {"campaign_offer_expired", "campaign_bindings_invalid"}


@pytest.mark.parametrize("stored", ["2020-01-01", "soon", "2099-01-01T10:00"])
def test_a_recipients_offer_end_that_cannot_be_sent_takes_the_fallback(stored):
    fallback = (timezone.now().replace(microsecond=0) + timedelta(days=5)).isoformat()
    offer = offer_campaign(attribute("offer_until", fallback))
    contact = ContactFactory(attributes={"voucher": "C1", "offer_until": stored})
    ms = contact_parameters(offer, contact, language="en")["offer"]["expiration_time_ms"]
    assert ms == int(datetime.fromisoformat(fallback).timestamp() * 1000)


def test_an_offer_ending_before_the_campaigns_send_time_blocks_submission():
    offer = offer_campaign(literal((timezone.now() + timedelta(days=2)).isoformat()))
    offer.schedule_kind, offer.send_at = "at", timezone.now() + timedelta(days=10)
    offer.save()
    problems = campaign_readiness(offer).problems
    assert [(p.code, p.field) for p in problems if "offer" in p.code] == [
        ("campaign_offer_ends_before_send", "bindings")
    ]
    offer.send_at = timezone.now() + timedelta(days=1)
    offer.save()
    assert not [p for p in campaign_readiness(offer).problems if "offer" in p.code]


@pytest.mark.parametrize(
    ("expiration", "fragment"),
    [
        (literal("next friday"), "is not a date"),
        (field("first_name"), "not a contact field"),
        (attribute("voucher", fmt="upper"), "takes no format"),
        (attribute("store_lat"), "a number field"),
    ],
)
def test_each_offer_binding_problem_is_named(expiration, fragment):
    found = binding_problems(offer_campaign(expiration))
    assert any(text.startswith("The offer's end") and fragment in text for text in found), found


# --- location headers -----------------------------------------------------------------------------


def location_template(name: str = "delivery"):
    return approved(name, category="UTILITY", components=meta_components(ORDER_DELIVERY_UPDATE))


def location_bindings(**place) -> dict:
    return {"body": {"1": field("first_name", "there"), "2": literal("566701")}, "location": place}


def test_a_location_header_from_one_store_or_each_recipients_nearest():
    slots = template_slots(meta_components(ORDER_DELIVERY_UPDATE))
    assert [(s.section, s.name, s.optional) for s in slots[:4]] == [
        ("location", "latitude", False),
        ("location", "longitude", False),
        ("location", "name", True),
        ("location", "address", True),
    ]
    one_store = campaign(
        location_template(),
        bindings=location_bindings(
            latitude=literal("37.483307"),
            longitude=literal("-122.148981"),
            name=literal("Lucky Shrub"),
            address=literal("1 Hacker Way, Menlo Park"),
        ),
    )
    contact = ContactFactory(first_name="Mark", attributes={"store_lat": 52.52, "store_lng": "13.405"})
    parameters = contact_parameters(one_store, contact, language="en")
    assert parameters["header"] == {
        "type": "location",
        "location": {
            "latitude": 37.483307,
            "longitude": -122.148981,
            "name": "Lucky Shrub",
            "address": "1 Hacker Way, Menlo Park",
        },
    }
    assert fits(one_store.template, parameters) == []
    nearest = campaign(
        location_template("nearest"),
        bindings=location_bindings(latitude=attribute("store_lat"), longitude=attribute("store_lng")),
    )
    assert binding_problems(nearest) == []
    parameters = contact_parameters(nearest, contact, language="en")
    assert parameters["header"] == {"type": "location", "location": {"latitude": 52.52, "longitude": 13.405}}
    assert fits(nearest.template, parameters) == []


def test_a_tiny_coordinate_stored_as_a_number_is_sent_not_refused_for_its_exponent():
    nearest = campaign(
        location_template("tiny"),
        bindings=location_bindings(latitude=attribute("store_lat"), longitude=attribute("store_lng")),
    )
    contact = ContactFactory(attributes={"store_lat": 1e-05, "store_lng": -3.2e-06})
    parameters = contact_parameters(nearest, contact, language="en")
    assert parameters["header"]["location"] == {"latitude": 0.00001, "longitude": -0.0000032}


@pytest.mark.parametrize("stored", ["north", "91", "1e5", "nan"])
def test_a_recipients_coordinate_that_is_no_coordinate_fails_with_the_reason(stored):
    nearest = campaign(
        location_template(),
        bindings=location_bindings(latitude=attribute("store_name"), longitude=literal("13.4")),
    )
    with pytest.raises(ApplicationError) as refused:
        contact_parameters(nearest, ContactFactory(attributes={"store_name": stored}), language="en")
    assert refused.value.code == "campaign_location_invalid"


def test_each_location_binding_problem_is_named():
    bound = location_bindings(latitude=literal("95"), longitude=field("country"), name=attribute("vip"))
    found = binding_problems(campaign(location_template(), bindings=bound))
    assert any(t.startswith("The location's latitude") and "from -90 to 90" in t for t in found), found
    assert any(t.startswith("The location's longitude") and "not a contact field" in t for t in found)
    assert any(t.startswith("The location's name") and "yes/no" in t for t in found)
    unbound = binding_problems(campaign(location_template("unbound"), bindings=location_bindings()))
    assert any(t.startswith("The location's latitude is not bound") for t in unbound)
    assert not any("location's name" in t for t in unbound)  # name and address may stay unbound


# --- hostile documents ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bindings", "fragment"),
    [
        ({"cards": []}, "cards bindings must map"),
        ({"cards": "0"}, "cards bindings must map"),
        ({"cards": {"x": {}}}, "Cards are bound by their index"),
        ({"cards": {"²": {}}}, "Cards are bound by their index"),
        ({"cards": {"0": []}}, "Card 1's bindings must be an object"),
        ({"cards": {"0": {"footer": {}}}}, "“footer” is not a part of card 1"),
        ({"cards": {"0": {"body": ["x"]}}}, "card 1's body bindings must map"),
        (
            {"cards": {"0": {"header": "https://x.example/a.jpg"}}},
            "binding of card 1's header must be an object",
        ),
        ({"cards": {"0": {"buttons": {"one": literal("x")}}}}, "bound by their index"),
        ({"cards": {"0": {"body": {"1": {**literal("x"), "colour": 1}}}}}, "unknown keys: colour"),
        ({"cards": {"0": {"header": {"source": "literal", "value": ["x"]}}}}, "must be text"),
        ({"offer": {"start": literal("2030-01-01")}}, "is not one of expiration"),
        ({"offer": [literal("x")]}, "offer bindings must map"),
        ({"location": {"lat": literal("1")}}, "is not one of latitude, longitude, name, address"),
        ({"location": None}, "location bindings must map"),
    ],
)
def test_hostile_bindings_are_named_and_break_nothing(bindings, fragment):
    picks = campaign(approved("picks", components=carousel_components()), bindings=bindings)
    found = binding_problems(picks)
    assert any(fragment in text for text in found), found
    # The SQL and the preview take the document as it is, without an error of their own.
    list(Contact.objects.filter(missing_value_q(bindings)).values_list("pk", flat=True))
    list(Contact.objects.filter(campaign_missing_value_q(picks)).values_list("pk", flat=True))
    campaign_bubble(picks, contact=shopper())
    with pytest.raises(ApplicationError):
        contact_parameters(picks, shopper(), language="en")


# --- the SQL and Python agree ------------------------------------------------------------------------

RICH_ODD_VALUES = [
    *ODD_VALUES,
    "https://cdn.example/a.jpg",
    " https://cdn.example/a.jpg\n",
    "2030-01-01T10:00",
    "52.5",
    -0.0,
]


@pytest.fixture
def odd_contacts(db):
    contacts = []
    for value in RICH_ODD_VALUES:
        attributes = {} if value == "absent" else {"pick2": value, "image3": value, "offer_until": value}
        attributes |= {} if value == "absent" else {"store_lat": value, "store_name": value}
        contacts.append(ContactFactory(first_name="Ana", attributes=attributes))
    contacts.append(ContactFactory(phone=None, wa_id="4915199999999", first_name="", attributes="not a dict"))
    contacts.append(ContactFactory(first_name="\u3000", attributes=[]))
    return contacts


def python_missing(target, contact) -> bool:
    """Whether building the contact's values finds one missing (any other refusal is not "missing":
    the value is there, and the message fails with why)."""
    try:
        contact_parameters(target, contact, language="en")
    except ApplicationError as exc:
        return exc.code == "campaign_value_missing"
    return False


def constant_card(c: int) -> dict:
    return {
        "header": literal(f"https://cdn.example/{c}.jpg"),
        "body": {"1": literal("p"), "2": literal("q")},
        "buttons": {"1": literal("r")},
    }


def carousel_with(card_index: int, **card) -> dict:
    cards = {str(c): constant_card(c) for c in range(3)}
    cards[str(card_index)] = {**cards[str(card_index)], **card}
    return {"body": {"1": literal("Hi")}, "cards": cards}


CASES = [
    ("carousel", carousel_with(1, body={"1": attribute("pick2"), "2": literal("q")})),
    ("carousel", carousel_with(1, body={"1": field("first_name"), "2": attribute("pick2", fmt="upper")})),
    ("carousel", carousel_with(1, buttons={"1": attribute("pick2")})),
    ("carousel", carousel_with(2, header=attribute("image3"))),
    ("carousel", carousel_with(2, header=attribute("image3", "https://cdn.example/x.jpg"))),
    ("carousel", carousel_with(2, header=attribute("image3", fmt="date:%d"))),  # hostile: a format
    ("offer", {"offer": {"expiration": attribute("offer_until")}}),
    ("offer", {"offer": {"expiration": attribute("offer_until", fmt="date:%d.%m.%Y")}}),
    ("location", {"location": {"latitude": attribute("store_lat"), "longitude": literal("1")}}),
    (
        "location",
        {"location": {"latitude": literal("1"), "longitude": literal("2"), "name": attribute("store_name")}},
    ),
]


def rich_template(kind: str):
    if kind == "carousel":
        return approved("picks", components=carousel_components())
    if kind == "offer":
        return approved(
            "caribbean", components=[meta_components(LIMITED_TIME_OFFER)[1], {"type": "BODY", "text": "Hi"}]
        )
    return approved(
        "where",
        category="UTILITY",
        components=[{"type": "HEADER", "format": "LOCATION"}, {"type": "BODY", "text": "Here"}],
    )


@pytest.mark.parametrize(("kind", "bindings"), CASES)
def test_the_sql_finds_exactly_the_contacts_python_finds_no_value_for(odd_contacts, kind, bindings):
    target = campaign(rich_template(kind), bindings=bindings)
    in_sql = set(Contact.objects.filter(campaign_missing_value_q(target)).values_list("pk", flat=True))
    in_python = {c.pk for c in odd_contacts if python_missing(target, c)}
    assert in_sql == in_python
    assert in_sql or "cdn.example/x.jpg" in str(bindings)  # only the fallback case finds nobody
    sql = str(Contact.objects.filter(campaign_missing_value_q(target)).query).upper()
    assert "SELECT" not in sql.split("WHERE", 1)[1] and "JOIN" not in sql


# --- the campaign admin -------------------------------------------------------------------------------


def test_the_bindings_editor_lists_each_cards_values_with_their_labels(client_for, editor):
    template = approved("picks", components=carousel_components())
    url = reverse("admin:messaging_campaign_variables")
    data = client_for(editor).get(url, {"template": template.pk}).json()
    labels = {(s["section"], s["name"]): s["label"] for s in data["slots"]}
    assert labels[("cards.1", "header")] == "card 2 — image link"
    assert labels[("cards.1.body", "1")] == "card 2 — {{1}} in the card text"
    offer = client_for(editor).get(url, {"template": offer_template().pk}).json()
    assert [s["label"] for s in offer["slots"] if s["section"] == "offer"] == ["the offer's end"]


def test_the_campaign_form_saves_a_carousels_bindings_and_previews_a_member(client_for, editor):
    from messaging.campaign_models import Campaign
    from tests.factories import make_segment
    from tests.messaging.campaigns.test_campaign_admin import ADD_URL, form_data

    template = approved("picks", components=carousel_components())
    segment = make_segment()
    member = shopper(country="DE")
    Contact.objects.filter(pk=member.pk).update(country="DE")
    client = client_for(editor)
    response = client.post(ADD_URL, form_data(template, segment, bindings=json.dumps(carousel_bindings())))
    assert response.status_code == 302, response.context["adminform"].form.errors
    saved = Campaign.objects.get()
    assert saved.bindings["cards"]["2"]["header"] == attribute("image3")
    assert binding_problems(saved) == []
    preview = client.get(reverse("admin:messaging_campaign_preview", args=[saved.pk]), {"contact": member.pk})
    assert preview.status_code == 200
    bad = form_data(template, segment, name="Other", bindings=json.dumps({"cards": {"0": ["x"]}}))
    response = client.post(ADD_URL, bad)
    assert response.status_code == 200
    assert "bindings" in response.context["adminform"].form.errors


def test_a_test_send_of_a_carousel_as_a_member_carries_their_cards(editor):
    from contacts.models import Purpose
    from contacts.models import TestNumber as StaffNumber  # not collected as a test class
    from core.actors import Actor
    from messaging.campaigns.test_send import campaign_test_send
    from tests.factories import opt_in

    staff = ContactFactory(phone="+4915188877766", first_name="Erin", language="en")
    opt_in(staff, Purpose.MARKETING)
    number = StaffNumber.objects.create(contact=staff, label="Erin's phone")
    member = shopper(country="DE")
    picks = campaign(approved("picks", components=carousel_components()), bindings=carousel_bindings())
    message = campaign_test_send(
        campaign=picks, test_number=number, actor=Actor.for_user(editor), member=member
    )
    assert [card["body"][0] for card in message.parameters["cards"]] == ["plant-1", "plant-2", "plant-3"]
    with pytest.raises(ApplicationError) as refused:  # sample values: each card's link needs a text
        campaign_test_send(campaign=picks, test_number=number, actor=Actor.for_user(editor))
    assert refused.value.code == "campaign_sample_value_missing"
