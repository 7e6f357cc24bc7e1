"""The editor's drafts of issue 15's kinds build components that pass the validator.

``Draft.components()`` is the one translation from the editor's fields to Meta's JSON; these
drafts mirror what a marketer fills in, so a rule that refused them would block the editor.
"""

from __future__ import annotations

from templates_app.drafts import Draft, DraftButton, DraftCard


def _card(name: str) -> DraftCard:
    return DraftCard(
        header_kind="IMAGE",
        header_handle="4::handle",
        body=f"The {name}: use code {{{{1}}}} today.",
        body_samples={"1": "PLANT15"},
        buttons=[
            DraftButton(kind="QUICK_REPLY", text="Send me more"),
            DraftButton(
                kind="URL",
                text="Shop",
                url="https://shop.example/plants/{{1}}",
                url_sample=f"https://shop.example/plants/{name}",
            ),
        ],
    )


def _draft(**fields) -> Draft:
    base = {
        "name": "rare_plants",
        "language": "en_US",
        "category": "MARKETING",
        "parameter_format": "POSITIONAL",
        "body": "Rare succulents for sale, {{1}}! Each is {{2}} off this week.",
        "body_samples": {"1": "Pablo", "2": "30%"},
    }
    return Draft(**{**base, **fields})


def test_a_three_card_carousel_draft_is_valid():
    draft = _draft(kind="CAROUSEL", cards=[_card("blue_elf"), _card("buddha"), _card("black_prince")])

    assert draft.violations() == []


def test_a_carousel_draft_with_a_card_missing_its_image_names_the_card():
    cards = [_card("blue_elf"), DraftCard(**{**_card("buddha").__dict__, "header_handle": ""}), _card("x")]

    violations = _draft(kind="CAROUSEL", cards=cards).violations()

    assert [(v.field, v.code) for v in violations] == [
        ("cards[1].header_example", "header_media_example_missing")
    ]


def test_a_limited_time_offer_draft_is_valid():
    draft = _draft(
        kind="LIMITED_TIME_OFFER",
        header_kind="IMAGE",
        header_handle="4::handle",
        offer_text="Expiring offer!",
        offer_has_expiration=True,
        buttons=[
            DraftButton(kind="COPY_CODE", code_sample="CARIBE25"),
            DraftButton(
                kind="URL",
                text="Book now!",
                url="https://travel.example/offers?code={{1}}",
                url_sample="https://travel.example/offers?code=CARIBE25",
            ),
        ],
    )

    assert draft.violations() == []


def test_a_location_header_draft_is_valid():
    draft = _draft(category="UTILITY", header_kind="LOCATION")

    assert draft.violations() == []
