"""Media card carousels: a MARKETING body above 2 to 10 cards that are all alike.

Meta's media card carousel page (docs/meta-facts.md 5.3a): the template is a body (the usual
≤ 1,024 characters and variables) and a CAROUSEL component, with no header, footer or buttons of
its own. Each card has an IMAGE or VIDEO header with its uploaded sample, an optional body and one
or two buttons (quick reply, website, call). Every card has the same parts: the same header kind,
a body on all cards or on none, the same buttons in the same order — an approved template sends
exactly that many cards of exactly that shape. A card's body follows the body's rules (variables
numbered from {{1}} within the card, samples for each) with its own, shorter limit.

Product card carousels (PRODUCT headers) are refused by name in ``unsupported``; this module
leaves them alone so the marketer reads one message, not twenty.

A card's quick reply can't opt anyone out: its tap comes back with a ``card:<c>:<b>`` payload, and
only the template's own marked opt-out button (which carousels can't have) or a typed keyword
stops messages. Meta allows any label, but a card reply labelled "Stop promotions" would be a
button that silently does nothing, so such a label is refused (``carousel_card_opt_out_label``).
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Callable, Hashable, Sequence
from typing import Any

from django.conf import settings

from templates_app.components import (
    ButtonType,
    Component,
    ComponentType,
    HeaderFormat,
    body_of,
    button_type,
    buttons_of,
    carousel_cards,
    component_type,
    find_component,
    header_format,
    header_handle,
    header_of,
)
from templates_app.rules.body import body_violations
from templates_app.rules.buttons import (
    BUTTON_NOUNS,
    ButtonPlace,
    button_violations,
    duplicate_quick_reply_violations,
)
from templates_app.rules.naming import Category
from templates_app.rules.unsupported import is_product_carousel
from templates_app.rules.violation import Violation

CAROUSEL_CARDS_MIN = 2  # 5.3a
CAROUSEL_CARDS_MAX = 10  # 5.3a
CARD_HEADER_FORMATS = (HeaderFormat.IMAGE, HeaderFormat.VIDEO)  # 5.3a
# Meta's interactive carousel page gives a card body 160 characters; its template page's own figure
# was not confirmed [UNVERIFIED for templates]: one constant to correct.
CARD_BODY_MAX_LENGTH = 160
CARD_BUTTONS_MIN = 1  # Meta's examples give every card a button [UNVERIFIED as a minimum]
CARD_BUTTONS_MAX = 2  # 5.3a
CARD_BUTTON_TYPES = (ButtonType.QUICK_REPLY, ButtonType.URL, ButtonType.PHONE_NUMBER)  # 5.3a
CARD_PARTS = (ComponentType.HEADER, ComponentType.BODY, ComponentType.BUTTONS)

_HEADER_NOUNS = {HeaderFormat.IMAGE: "an image", HeaderFormat.VIDEO: "a video"}
_TOP_LEVEL = (
    (
        ComponentType.HEADER,
        "header",
        "A carousel template has no header above its body: each card shows its own image or video. "
        "Remove the header.",
    ),
    (ComponentType.FOOTER, "footer", "A carousel template has no footer. Remove it."),
    (
        ComponentType.BUTTONS,
        "buttons",
        "A carousel template has no buttons below its body: put the buttons on the cards.",
    ),
)


def carousel_violations(components: Any, category: str, parameter_format: str | None) -> list[Violation]:
    """Every carousel rule; [] for a template without a carousel (or with a product carousel)."""
    carousel = find_component(components, ComponentType.CAROUSEL)
    if carousel is None or is_product_carousel(carousel):
        return []
    violations = []
    if category in Category.__members__ and category != Category.MARKETING:
        violations.append(
            Violation(
                "category",
                "Carousels are for marketing templates only: choose the marketing category, or remove "
                "the cards.",
                "carousel_category",
            )
        )
        if category == Category.AUTHENTICATION:
            return violations
    for kind, field, message in _TOP_LEVEL:
        if find_component(components, kind) is not None:
            violations.append(Violation(field, message, "carousel_top_level_not_allowed"))
    cards = carousel_cards(components)
    if not CAROUSEL_CARDS_MIN <= len(cards) <= CAROUSEL_CARDS_MAX:
        violations.append(
            Violation(
                "carousel",
                f"A carousel has {CAROUSEL_CARDS_MIN} to {CAROUSEL_CARDS_MAX} cards; this one has "
                f"{len(cards)}.",
                "carousel_card_count",
            )
        )
    for index, parts in enumerate(cards):
        violations += _card_violations(index, parts, parameter_format)
    violations += _alike_violations(cards)
    return violations


def _card_violations(index: int, parts: Sequence[Component], parameter_format: str | None) -> list[Violation]:
    number = index + 1
    violations = []
    kinds = [component_type(part) for part in parts]
    strays = [kind or "(untyped)" for kind in dict.fromkeys(kinds) if kind not in CARD_PARTS]
    repeated = [kind for kind, count in Counter(kinds).items() if kind in CARD_PARTS and count > 1]
    if strays or repeated:
        what = ", ".join(kind.lower() for kind in strays + repeated)
        violations.append(
            Violation(
                "carousel",
                f"Card {number} has parts a card can't have ({what}): a card has one image or video, "
                "an optional body and its buttons.",
                "carousel_card_parts",
            )
        )
    header = header_of(parts)
    fmt = header_format(header)
    if fmt not in CARD_HEADER_FORMATS:
        violations.append(
            Violation(
                f"cards[{index}].header",
                f"Card {number} needs an image or a video at its top"
                + (f", not {fmt.lower()}." if fmt else "."),
                "carousel_card_header_format",
            )
        )
    elif not header_handle(header):
        violations.append(
            Violation(
                f"cards[{index}].header_example",
                f"Upload the {fmt.lower()} of card {number}: WhatsApp's reviewers need to see what each "
                "card shows.",
                "header_media_example_missing",
            )
        )
    body = body_of(parts)
    if body is not None:
        violations += body_violations(
            body,
            parameter_format,
            max_length=CARD_BODY_MAX_LENGTH,
            field=f"cards[{index}].body",
            example_field=f"cards[{index}].body_example",
            where=f"body of card {number}",
        )
    violations += _card_buttons_violations(index, buttons_of(parts))
    return violations


def _card_buttons_violations(index: int, buttons: list[Component]) -> list[Violation]:
    number = index + 1
    violations = []
    if not CARD_BUTTONS_MIN <= len(buttons) <= CARD_BUTTONS_MAX:
        violations.append(
            Violation(
                f"cards[{index}].buttons",
                f"Card {number} has {_buttons(len(buttons))}; a card has {CARD_BUTTONS_MIN} or "
                f"{CARD_BUTTONS_MAX} (quick reply, website or call).",
                "carousel_card_buttons_count",
            )
        )
    place = ButtonPlace.card(index)
    for position, button in enumerate(buttons):
        kind = button_type(button)
        if kind in CARD_BUTTON_TYPES:
            violations += button_violations(position, button, place)
        else:
            noun = BUTTON_NOUNS.get(kind, kind.lower() or "untyped")
            violations.append(
                Violation(
                    place.field(position, "type"),
                    f"{place.title(position)} is a {noun} button: cards take quick reply, website and "
                    "call buttons only.",
                    "carousel_card_button_type",
                )
            )
    violations += duplicate_quick_reply_violations(buttons, place)
    violations += _opt_out_label_violations(buttons, place)
    return violations


# Words that read as "stop sending me this" anywhere in a card reply's label (whole words, any
# case or accent), besides the opt-out keywords of the settings as a whole label.
OPT_OUT_LABEL_WORDS = ("stop", "stopp", "unsubscribe", "opt out", "optout", "abmelden")


def _words(text: str) -> str:
    """``text`` as lower-case words without accents or punctuation: "Opt-out!" is "opt out"."""
    folded = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text).casefold())
    letters = "".join(c if c.isalnum() else " " for c in folded if unicodedata.category(c) != "Mn")
    return " ".join(letters.split())


def reads_as_opt_out(label: str) -> bool:
    """A label a person would tap to stop messages.

    The inbound keyword matcher (``messaging.webhooks.keywords``, above this app, so read here
    through the same settings) matches a keyword only as the whole message; a label also counts
    when it merely contains one of ``OPT_OUT_LABEL_WORDS``.
    """
    words = _words(label)
    if not words:
        return False
    keywords = [
        *getattr(settings, "WHATSAPP_OPT_OUT_KEYWORDS", ()),
        *getattr(settings, "WHATSAPP_OPT_OUT_ALL_KEYWORDS", ()),
    ]
    if words in {_words(str(keyword)) for keyword in keywords}:
        return True
    return any(f" {word} " in f" {words} " for word in OPT_OUT_LABEL_WORDS)


def _opt_out_label_violations(buttons: list[Component], place: ButtonPlace) -> list[Violation]:
    violations = []
    for position, button in enumerate(buttons):
        label = button.get("text")
        if button_type(button) != ButtonType.QUICK_REPLY or not isinstance(label, str):
            continue
        if reads_as_opt_out(label):
            violations.append(
                Violation(
                    place.field(position, "text"),
                    f"Card quick replies can't opt people out: “{label}” ({place.name(position)}) would "
                    "do nothing when tapped; put the opt-out in the message text (“Reply STOP to opt "
                    "out”) or use a standard template with an opt-out button.",
                    "carousel_card_opt_out_label",
                )
            )
    return violations


def _alike_violations(cards: list[list[Component]]) -> list[Violation]:
    """Each card that differs from what most cards have (ties: from card 1), one message per part.

    Cards whose own part is already refused (no image or video, no or too many buttons) are left
    out, so one mistake is named once.
    """
    violations = []
    violations += _differing(
        cards,
        "header",
        lambda parts: (
            header_format(header_of(parts))
            if header_format(header_of(parts)) in CARD_HEADER_FORMATS
            else None
        ),
        lambda value: f"has {_HEADER_NOUNS[value]} header",
        "every card needs the same kind of header (all images or all videos).",
    )
    violations += _differing(
        cards,
        "body",
        lambda parts: body_of(parts) is not None,
        lambda value: "has a body text" if value else "has no body text",
        "either every card has a body text or none does.",
    )
    violations += _differing(
        cards,
        "buttons",
        lambda parts: _button_kinds(parts),
        lambda value: _describe_buttons(value),
        "every card needs the same buttons, of the same kinds, in the same order.",
    )
    return violations


def _differing(
    cards: list[list[Component]],
    key: str,
    read: Callable[[list[Component]], Hashable | None],
    describe: Callable[[Any], str],
    rule: str,
) -> list[Violation]:
    values = [read(parts) for parts in cards]
    known = [(index, value) for index, value in enumerate(values) if value is not None]
    if len(known) < 2:
        return []
    usual = Counter(value for _, value in known).most_common(1)[0][0]
    violations = []
    for index, value in known:
        if value == usual:
            continue
        others = [other for position, other in known if position != index]
        if all(other == usual for other in others):
            whom = "the other card" if len(others) == 1 else "the other cards"
        else:
            whom = "most cards"
        usual_words = describe(usual)
        if whom != "the other card":
            usual_words = usual_words.replace("has ", "have ", 1)
        violations.append(
            Violation(
                f"cards[{index}].{key}",
                f"Card {index + 1} {describe(value)}; {whom} {usual_words}: {rule}",
                "carousel_cards_differ",
            )
        )
    return violations


def _button_kinds(parts: list[Component]) -> tuple[str, ...] | None:
    kinds = tuple(button_type(button) for button in buttons_of(parts))
    return kinds if CARD_BUTTONS_MIN <= len(kinds) <= CARD_BUTTONS_MAX else None


def _describe_buttons(kinds: tuple[str, ...]) -> str:
    nouns = " and ".join(BUTTON_NOUNS.get(kind, kind.lower()) for kind in kinds)
    return f"has {_buttons(len(kinds))} ({nouns})"


def _buttons(count: int) -> str:
    return f"{count} button" if count == 1 else f"{count} buttons"
