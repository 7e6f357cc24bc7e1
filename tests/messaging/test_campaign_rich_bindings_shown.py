"""The read-only campaign page lists every value the template takes — a carousel's card links, card
texts and link suffixes, a limited-time offer's end, a location's parts — as the Approver approves
what they read: in the template's order, "not bound" for an unbound one, every value escaped. The
approval document freezes the same bindings."""

from __future__ import annotations

from datetime import timedelta
from html.parser import HTMLParser

import pytest
from django.urls import reverse
from django.utils import timezone

from messaging.campaign_models import CampaignStatus
from messaging.campaigns.bindings import template_slots
from messaging.campaigns.freezing import approval_document
from messaging.campaigns.workflow import campaign_approve, campaign_create, campaign_submit
from tests.messaging.campaigns.content_world import approved, campaign, field, literal, segment
from tests.messaging.campaigns.test_bindings_rich_kinds import carousel_components
from tests.messaging.campaigns.workflow_world import as_actor
from tests.messaging.test_dispatch_engine_e2e import consenting_contacts
from tests.templates_app.meta_examples import LIMITED_TIME_OFFER, ORDER_DELIVERY_UPDATE

pytestmark = pytest.mark.django_db
S = CampaignStatus
COLOURS = ("red", "green", "blue")
HOSTILE = '<script>alert("x")</script>&amp;'


class _Table(HTMLParser):
    """The rows of the bindings table, each a tuple of its cells' text (entities decoded)."""

    def __init__(self):
        super().__init__()
        self.rows: list[tuple[str, ...]] = []
        self._inside = False
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table" and ("class", "campaign-bindings-table") in attrs:
            self._inside = True
        elif self._inside and tag == "tr":
            self._row = []
        elif self._inside and tag == "td" and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "table":
            self._inside = False
        elif tag == "td" and self._cell is not None:
            self._row.append("".join(self._cell))
            self._cell = None
        elif tag == "tr" and self._row:
            self.rows.append(tuple(self._row))
            self._row = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def page(client, campaign):
    response = client.get(reverse("admin:messaging_campaign_change", args=[campaign.pk]))
    assert response.status_code == 200
    return response.content.decode()


def table(html: str) -> list[tuple[str, ...]]:
    parser = _Table()
    parser.feed(html)
    return parser.rows


def capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def labels(components) -> list[str]:
    return [capital(slot.label) for slot in template_slots(components)]


def card_bindings(hostile: str = "") -> dict:
    """Each card a literal image link, a size for {{1}}, the first name for {{2}} and a link suffix."""
    return {
        "body": {"1": field("first_name", "there")},
        "cards": {
            str(c): {
                "header": literal(f"https://shop.example/img/{colour}.jpg"),
                "body": {"1": literal(hostile or "ML"[c % 2]), "2": field("first_name", hostile or "you")},
                "buttons": {"1": literal(f"{colour}-jacket")},
            }
            for c, colour in enumerate(COLOURS)
        },
    }


def submitted(editor, template, bindings, **fields):
    """Written and submitted by the Editor, to a German marketing audience of one."""
    consenting_contacts(1, purpose="marketing")
    draft = campaign_create(
        actor=as_actor(editor),
        name="Jackets",
        template=template,
        segment=segment(),
        bindings=bindings,
        **fields,
    )
    return campaign_submit(campaign=draft, actor=as_actor(editor))


# --- carousels --------------------------------------------------------------------------------------


def test_the_approver_reads_each_cards_link_text_and_suffix_in_the_templates_order(
    editor, approver, client_for
):
    components = carousel_components()
    pending = submitted(editor, approved("jackets", components=components), card_bindings())
    assert pending.status == S.PENDING_APPROVAL
    rows = table(page(client_for(approver), pending))
    assert [row[0] for row in rows] == labels(components)
    values = {row[0]: row[1:] for row in rows}
    slots = template_slots(components)
    for c, colour in enumerate(COLOURS):
        by_card = {(s.path[2], s.name): capital(s.label) for s in slots if s.card == c}
        assert values[by_card[("header", "header")]][:2] == ("text", f"https://shop.example/img/{colour}.jpg")
        assert values[by_card[("body", "1")]][:2] == ("text", "ML"[c % 2])
        assert values[by_card[("body", "2")]][:3] == ("contact field", "first_name", "you")
        assert values[by_card[("buttons", "1")]][:2] == ("text", f"{colour}-jacket")


def test_the_sending_page_lists_the_frozen_card_bindings_and_approval_froze_them(
    editor, approver, client_for
):
    components = carousel_components()
    bindings = card_bindings()
    pending = submitted(editor, approved("jackets", components=components), bindings)
    assert approval_document(pending)[0]["bindings"]["cards"] == bindings["cards"]
    done = campaign_approve(campaign=pending, actor=as_actor(approver))
    assert done.frozen["bindings"]["cards"] == bindings["cards"]
    rows = table(page(client_for(editor), done))
    assert [row[0] for row in rows] == labels(components)
    assert ("text", "https://shop.example/img/blue.jpg") in {row[1:3] for row in rows}


def test_hostile_card_values_are_escaped(editor, approver, client_for):
    template = approved("jackets", components=carousel_components())
    pending = submitted(editor, template, card_bindings(hostile=HOSTILE))
    html = page(client_for(approver), pending)
    assert '<script>alert("x")' not in html
    assert "&lt;script&gt;alert(" in html
    cells = [cell for row in table(html) for cell in row]
    assert cells.count(HOSTILE) == 2 * len(COLOURS)  # each card's {{1}} value and {{2}}'s fallback


def test_an_unbound_card_slot_says_not_bound_and_a_stray_binding_says_it_is_not_sent(approver, client_for):
    components = carousel_components(cards=2)
    bindings = card_bindings()
    del bindings["cards"]["1"]["buttons"]
    bindings["cards"]["2"] = {"header": literal("https://shop.example/img/extra.jpg")}
    bindings["offer"] = {"expiration": "<b>not an object</b>"}
    row = campaign(approved("jackets", components=components), bindings=bindings, status=S.PENDING_APPROVAL)
    html = page(client_for(approver), row)
    assert "<b>not an object</b>" not in html
    rows = table(html)
    assert [r[0] for r in rows][: len(labels(components))] == labels(components)
    suffix = next(s for s in template_slots(components) if s.section == "cards.1.buttons")
    assert next(r for r in rows if r[0] == capital(suffix.label))[1] == "not bound"
    extras = rows[len(labels(components)) :]
    assert len(extras) == 2
    assert extras[0][2] == "https://shop.example/img/extra.jpg"
    assert extras[1][2] == "<b>not an object</b>"


# --- offers and locations --------------------------------------------------------------------------


def test_an_offer_campaign_shows_the_offers_end(editor, approver, client_for):
    components = LIMITED_TIME_OFFER["body"]["components"]
    end = (timezone.localtime() + timedelta(days=3)).replace(microsecond=0).isoformat()
    bindings = {
        "body": {"1": field("first_name", "there"), "2": literal("CARIBE25")},
        "buttons": {"0": literal("CARIBE25"), "1": literal("n3mtql")},
        "offer": {"expiration": literal(end)},
    }
    pending = submitted(
        editor,
        approved("caribbean", components=components),
        bindings,
        header_media_source="link",
        header_media_link="https://cdn.example/caribe.jpg",
    )
    rows = table(page(client_for(approver), pending))
    assert [row[0] for row in rows] == labels(components)
    offer = next(s for s in template_slots(components) if s.section == "offer")
    assert next(row for row in rows if row[0] == capital(offer.label))[1:3] == ("text", end)


def test_a_location_campaign_shows_its_coordinates_and_an_unbound_name_left_out(approver, client_for):
    components = ORDER_DELIVERY_UPDATE["body"]["components"]
    bindings = {
        "body": {"1": field("first_name", "there"), "2": literal("566701")},
        "location": {
            "latitude": literal("52.52"),
            "longitude": literal("13.405"),
            "address": literal(HOSTILE),
        },
    }
    template = approved("delivery", category="UTILITY", components=components)
    row = campaign(template, bindings=bindings, status=S.PENDING_APPROVAL)
    html = page(client_for(approver), row)
    rows = {r[0]: r[1:] for r in table(html)}
    assert list(rows) == labels(components)
    by_name = {s.name: capital(s.label) for s in template_slots(components) if s.section == "location"}
    assert rows[by_name["latitude"]][:2] == ("text", "52.52")
    assert rows[by_name["longitude"]][:2] == ("text", "13.405")
    assert rows[by_name["name"]][0] == "not bound"
    assert rows[by_name["address"]][1] == HOSTILE
    assert '<script>alert("x")' not in html


def test_a_value_only_one_language_takes_says_which(approver, client_for):
    english = [{"type": "BODY", "text": "Hi {{1}}, {{2}}!", "example": {"body_text": [["Jo", "hello"]]}}]
    german = [{"type": "BODY", "text": "Hallo {{1}}!", "example": {"body_text": [["Jo"]]}}]
    template = approved("hello", "en", components=english)
    approved("hello", "de", components=german)
    bindings = {"body": {"1": field("first_name", "there"), "2": literal("welcome")}}
    row = campaign(template, bindings=bindings, status=S.PENDING_APPROVAL)
    first, second = table(page(client_for(approver), row))
    assert first[0] == capital(template_slots(english)[0].label)
    assert second[0].startswith(capital(template_slots(english)[1].label)) and second[0].endswith(
        "(only in en)"
    )
    assert second[1:3] == ("text", "welcome")
