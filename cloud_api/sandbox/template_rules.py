"""Meta's template rules as the sandbox applies them: at creation, at review, and at send time.

Creation refuses what Meta refuses synchronously (code 100 with the subcodes of docs/meta-facts.md 5: a
variable at the start or end 2388299, too long 2388040, duplicate name 2388024, too many templates
2388019; and, with code 100 alone, Meta's button rules — quick replies in one group, a URL's one
variable at its end, a copy-code sample's length — an authentication code expiry of 1–90
minutes, a LOCATION header only in MARKETING or UTILITY, a media card carousel's shape
(MARKETING, 2–10 cards alike, each an IMAGE or VIDEO header with its handle, 1–2 quick reply / URL
/ phone buttons) and a limited-time offer's (MARKETING, no footer, an IMAGE or VIDEO header, a
≤ 16-character text, a ≤ 600-character body, a COPY_CODE button then a URL button). Review
rejects what Meta rejects asynchronously (adjacent variables: INVALID_FORMAT; a configurable
word: the configured reason). Sends are checked in ``template_sends``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from cloud_api.sandbox.graph_errors import GraphError
from cloud_api.sandbox.state import SandboxState, SandboxTemplate

NAME_PATTERN = re.compile(r"^[a-z0-9_]{1,512}$")
VARIABLE = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
ADJACENT_VARIABLES = re.compile(r"\}\}\s*\{\{")
CATEGORIES = ("MARKETING", "UTILITY", "AUTHENTICATION")
PARAMETER_FORMATS = ("POSITIONAL", "NAMED")
MEDIA_FORMATS = ("IMAGE", "VIDEO", "DOCUMENT")
BUTTON_LIMITS = {"QUICK_REPLY": 10, "URL": 2, "PHONE_NUMBER": 1, "COPY_CODE": 1}
# A COPY_CODE sample: at most 15 characters, as Meta's limited-time offer page says and the send
# path keeps coupon codes (docs/meta-facts.md 5.3a). Meta's components page now shows 20 for a
# plain copy-code button: unconfirmed, so one constant to change if Meta accepts it.
COPY_CODE_EXAMPLE_MAX = 15
LIMITED_TIME_OFFER_CODE_MAX = 15
CODE_EXPIRATION_MINUTES = range(1, 91)  # authentication templates' footer, 1 to 90 minutes
LOCATION_HEADER_CATEGORIES = ("MARKETING", "UTILITY")
# Media card carousels (Meta's carousel page).
CAROUSEL_CATEGORIES = ("MARKETING",)
CAROUSEL_CARDS = range(2, 11)  # 2 to 10 cards
CAROUSEL_CARD_HEADER_FORMATS = ("IMAGE", "VIDEO")
CAROUSEL_CARD_BODY_MAX = 160  # unconfirmed for templates (Meta's interactive carousel page)
CAROUSEL_CARD_BUTTONS = range(1, 3)  # 1 or 2 buttons a card
CAROUSEL_CARD_BUTTON_TYPES = ("QUICK_REPLY", "URL", "PHONE_NUMBER")
CAROUSEL_TOP_LEVEL_REFUSED = ("HEADER", "FOOTER", "BUTTONS")
# Limited-time offers (Meta's limited-time offer page).
LIMITED_TIME_OFFER_CATEGORIES = ("MARKETING",)
LIMITED_TIME_OFFER_TEXT_MAX = 16
LIMITED_TIME_OFFER_BODY_MAX = 600
LIMITED_TIME_OFFER_HEADER_FORMATS = ("IMAGE", "VIDEO")
LIMITED_TIME_OFFER_BUTTONS = ("COPY_CODE", "URL")  # in this order; without expiry the code is optional
SEND_SUB_TYPES = {"QUICK_REPLY": "quick_reply", "URL": "url", "COPY_CODE": "copy_code", "OTP": "url"}
ADJACENT_REJECTION = {
    "reason": "Your template has parameters placed next to each other (like {{1}}{{2}}) without text or "
    "punctuation between them.",
    "recommendation": "Separate parameters with descriptive text and ensure each parameter is clearly "
    "contextualized.",
}


@dataclass(frozen=True)
class TemplateButtonShape:
    index: int
    type: str
    text: str
    takes_parameter: bool  # a dynamic URL, a COPY_CODE, or an authentication OTP button


@dataclass
class TemplateShape:
    """What a send must supply for a template: the variables of each component and the buttons."""

    header_format: str | None = None
    header_variables: list[str] = field(default_factory=list)
    body_variables: list[str] = field(default_factory=list)
    buttons: list[TemplateButtonShape] = field(default_factory=list)

    @property
    def quick_replies(self) -> list[TemplateButtonShape]:
        return [button for button in self.buttons if button.type == "QUICK_REPLY"]


def _components_by_type(components: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {str(c.get("type", "")).upper(): c for c in components if isinstance(c, dict)}


def template_shape(category: str, components: list[dict[str, Any]]) -> TemplateShape:
    by_type = _components_by_type(components)
    shape = TemplateShape()
    header = by_type.get("HEADER")
    if header:
        shape.header_format = str(header.get("format", "TEXT")).upper()
        if shape.header_format == "TEXT":
            shape.header_variables = VARIABLE.findall(str(header.get("text", "")))
    body = by_type.get("BODY", {})
    if category == "AUTHENTICATION":
        shape.body_variables = ["1"]  # Meta's fixed text carries the one-time code
    else:
        shape.body_variables = VARIABLE.findall(str(body.get("text", "")))
    for index, button in enumerate(_list(by_type.get("BUTTONS", {}).get("buttons"))):
        if not isinstance(button, dict):
            continue  # refused at creation; a seeded oddity is not a crash at send time
        button_type = str(button.get("type", "")).upper()
        takes_parameter = button_type in ("COPY_CODE", "OTP") or (
            button_type == "URL" and bool(VARIABLE.search(str(button.get("url", ""))))
        )
        shape.buttons.append(
            TemplateButtonShape(index, button_type, str(button.get("text", "")), takes_parameter)
        )
    return shape


# --- Creation and editing -------------------------------------------------------------------


def _refuse(details: str, subcode: int | None = None) -> GraphError:
    return GraphError(100, details, subcode=subcode)


def _object(value: Any) -> dict[str, Any]:
    """A JSON object, or {} for anything else: a mistyped part is refused by the rule that needs it."""
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _check_variables(text: str, where: str, parameter_format: str) -> list[str]:
    variables = VARIABLE.findall(text)
    if not variables:
        return variables
    if parameter_format == "POSITIONAL":
        if not all(v.isdigit() for v in variables):
            raise _refuse(f"{where}: POSITIONAL templates use {{{{1}}}}, {{{{2}}}}, … as variables.")
        if sorted({int(v) for v in variables}) != list(range(1, len({int(v) for v in variables}) + 1)):
            raise _refuse(f"{where}: variables must be numbered from {{{{1}}}} without gaps.")
    elif not all(re.fullmatch(r"[a-z_][a-z0-9_]*", v) for v in variables):
        raise _refuse(f"{where}: NAMED variables are lowercase letters, digits and underscores.")
    stripped = text.strip()
    if VARIABLE.match(stripped) or stripped.endswith("}}"):
        raise _refuse(f"{where}: variables can't be at the start or end of the template.", subcode=2388299)
    return variables


def _check_example(component: dict[str, Any], key: str, named_key: str, where: str, named: bool) -> None:
    if not _object(component.get("example")).get(named_key if named else key):
        raise _refuse(f"{where}: a component with variables needs example.{named_key if named else key}.")


def check_components(
    components: Any, *, category: str, parameter_format: str, state: SandboxState, check_handles: bool = True
) -> None:
    """Refuse components Meta would refuse at creation (or edit), with code 100 and its subcodes."""
    if not isinstance(components, list) or not all(isinstance(c, dict) for c in components):
        raise _refuse("components must be a list of objects.")
    types = [str(c.get("type", "")).upper() for c in components]
    for kind in ("HEADER", "BODY", "FOOTER", "BUTTONS"):
        if types.count(kind) > 1:
            raise _refuse(f"A template has at most one {kind} component.")
    if "BODY" not in types:
        raise _refuse("The BODY component is required.")
    named = parameter_format == "NAMED"
    by_type = _components_by_type(components)
    header = by_type.get("HEADER")
    if header:
        header_format = str(header.get("format", "")).upper()
        if header_format == "TEXT":
            text = str(header.get("text", ""))
            if not text or len(text) > 60:
                raise _refuse("HEADER text is required and at most 60 characters.", subcode=2388040)
            variables = VARIABLE.findall(text)
            if len(variables) > 1:
                raise _refuse("A TEXT header supports one variable.")
            if variables:
                _check_example(header, "header_text", "header_text_named_params", "HEADER", named)
        elif header_format in MEDIA_FORMATS:
            _check_handles(header, "HEADER", state, check_handles)
        elif header_format == "LOCATION":
            if category not in LOCATION_HEADER_CATEGORIES:
                raise _refuse(f"A LOCATION header is not supported in {category} templates.")
        else:
            raise _refuse(
                f"HEADER format must be TEXT, IMAGE, VIDEO, DOCUMENT or LOCATION, not {header_format!r}."
            )
    body = by_type["BODY"]
    if category != "AUTHENTICATION":
        text = str(body.get("text", ""))
        if not text:
            raise _refuse("BODY text is required.")
        body_max = LIMITED_TIME_OFFER_BODY_MAX if "LIMITED_TIME_OFFER" in types else 1024
        if len(text) > body_max:
            raise _refuse(f"BODY text is at most {body_max} characters.", subcode=2388040)
        if _check_variables(text, "BODY", parameter_format):
            _check_example(body, "body_text", "body_text_named_params", "BODY", named)
    footer = by_type.get("FOOTER")
    if footer and len(str(footer.get("text", ""))) > 60:
        raise _refuse("FOOTER text is at most 60 characters.", subcode=2388040)
    if category == "AUTHENTICATION" and footer and "code_expiration_minutes" in footer:
        minutes = footer["code_expiration_minutes"]
        if (
            isinstance(minutes, bool)
            or not isinstance(minutes, int)
            or minutes not in CODE_EXPIRATION_MINUTES
        ):
            raise _refuse("FOOTER code_expiration_minutes must be a whole number from 1 to 90.")
    code_max = LIMITED_TIME_OFFER_CODE_MAX if "LIMITED_TIME_OFFER" in types else COPY_CODE_EXAMPLE_MAX
    _check_buttons_component(by_type.get("BUTTONS"), "BUTTONS", code_max)
    if "CAROUSEL" in types:
        _check_carousel(by_type, category, parameter_format, state, check_handles)
    if "LIMITED_TIME_OFFER" in types:
        _check_limited_time_offer(by_type, category)


def _check_handles(header: dict[str, Any], where: str, state: SandboxState, check_handles: bool) -> None:
    handles = _list(_object(header.get("example")).get("header_handle"))
    if not handles or not all(isinstance(h, str) for h in handles):
        raise _refuse(f"{where}: a media header needs example.header_handle from the Resumable Upload API.")
    if check_handles and not all(h in state.header_handles for h in handles):
        raise _refuse(f"{where}: example.header_handle is not a handle this app uploaded.")


def _check_carousel(
    by_type: dict[str, dict[str, Any]],
    category: str,
    parameter_format: str,
    state: SandboxState,
    check_handles: bool,
) -> None:
    """Meta's media card carousel: MARKETING, a body only on top, 2–10 cards of the same shape."""
    if category not in CAROUSEL_CATEGORIES:
        raise _refuse(f"Carousel templates are only supported in {', '.join(CAROUSEL_CATEGORIES)} templates.")
    for kind in CAROUSEL_TOP_LEVEL_REFUSED:
        if kind in by_type:
            raise _refuse(f"A carousel template can't have a top-level {kind} component.")
    cards = by_type["CAROUSEL"].get("cards")
    if not isinstance(cards, list) or len(cards) not in CAROUSEL_CARDS:
        count = len(cards) if isinstance(cards, list) else 0
        raise _refuse(
            f"A carousel needs {CAROUSEL_CARDS.start} to {CAROUSEL_CARDS.stop - 1} cards; it has {count}."
        )
    shapes = []
    for number, card in enumerate(cards, 1):
        where = f"CAROUSEL card {number}"
        parts = card.get("components") if isinstance(card, dict) else None
        if not isinstance(parts, list) or not all(isinstance(part, dict) for part in parts):
            raise _refuse(f"{where}: components must be a list of objects.")
        kinds = [str(part.get("type", "")).upper() for part in parts]
        if any(kind not in ("HEADER", "BODY", "BUTTONS") for kind in kinds) or len(set(kinds)) != len(kinds):
            raise _refuse(f"{where}: a card has one HEADER, an optional BODY and one BUTTONS component.")
        card_parts = _components_by_type(parts)
        header = card_parts.get("HEADER")
        header_format = str((header or {}).get("format", "")).upper()
        if header_format not in CAROUSEL_CARD_HEADER_FORMATS:
            raise _refuse(f"{where}: the card HEADER format must be IMAGE or VIDEO.")
        _check_handles(header, f"{where} HEADER", state, check_handles)
        body = card_parts.get("BODY")
        if body is not None:
            text = str(body.get("text", ""))
            if not text or len(text) > CAROUSEL_CARD_BODY_MAX:
                raise _refuse(
                    f"{where}: BODY text is required and at most {CAROUSEL_CARD_BODY_MAX} characters.",
                    subcode=2388040,
                )
            if _check_variables(text, f"{where} BODY", parameter_format):
                _check_example(
                    body, "body_text", "body_text_named_params", f"{where} BODY", parameter_format == "NAMED"
                )
        section = card_parts.get("BUTTONS") or {}
        buttons = [b for b in _list(section.get("buttons")) if isinstance(b, dict)]
        kinds = [str(b.get("type", "")).upper() for b in buttons]
        if len(buttons) not in CAROUSEL_CARD_BUTTONS or any(
            k not in CAROUSEL_CARD_BUTTON_TYPES for k in kinds
        ):
            raise _refuse(f"{where}: a card has 1 or 2 buttons: QUICK_REPLY, URL or PHONE_NUMBER.")
        _check_buttons_component(section, f"{where} BUTTONS", COPY_CODE_EXAMPLE_MAX)
        shapes.append((header_format, body is not None, tuple(kinds)))
    if len(set(shapes)) > 1:
        raise _refuse(
            "All carousel cards must have the same components: the same header format, a body on every "
            "card or on none, and the same buttons in the same order."
        )


def _check_limited_time_offer(by_type: dict[str, dict[str, Any]], category: str) -> None:
    """Meta's limited-time offer: MARKETING, no footer, an IMAGE/VIDEO header, copy code then URL."""
    if category not in LIMITED_TIME_OFFER_CATEGORIES:
        raise _refuse(
            f"Limited-time offer templates are only supported in {', '.join(LIMITED_TIME_OFFER_CATEGORIES)} "
            "templates."
        )
    if "FOOTER" in by_type:
        raise _refuse("Footer components are not supported in limited-time offer templates.")
    header = by_type.get("HEADER")
    if header and str(header.get("format", "")).upper() not in LIMITED_TIME_OFFER_HEADER_FORMATS:
        raise _refuse("A limited-time offer HEADER format must be IMAGE or VIDEO.")
    offer = by_type["LIMITED_TIME_OFFER"].get("limited_time_offer")
    if not isinstance(offer, dict):
        raise _refuse("LIMITED_TIME_OFFER needs a limited_time_offer object.")
    text = offer.get("text")
    if not isinstance(text, str) or not text or len(text) > LIMITED_TIME_OFFER_TEXT_MAX:
        raise _refuse(
            f"limited_time_offer.text is required and at most {LIMITED_TIME_OFFER_TEXT_MAX} characters.",
            subcode=2388040,
        )
    expires = offer.get("has_expiration", False)
    if not isinstance(expires, bool):
        raise _refuse("limited_time_offer.has_expiration must be a boolean.")
    buttons = _list(_object(by_type.get("BUTTONS")).get("buttons"))
    kinds = tuple(str(b.get("type", "")).upper() for b in buttons if isinstance(b, dict))
    allowed = (
        [LIMITED_TIME_OFFER_BUTTONS]
        if expires
        else [LIMITED_TIME_OFFER_BUTTONS, LIMITED_TIME_OFFER_BUTTONS[1:]]
    )
    if kinds not in allowed:
        raise _refuse(
            "A limited-time offer needs a COPY_CODE button followed by a URL button"
            + ("." if expires else " (the COPY_CODE button is optional without has_expiration).")
        )


def _check_buttons_component(section: dict[str, Any] | None, where: str, code_max: int) -> None:
    """Meta's button rules: counts, quick replies kept together, URL variables last, code samples."""
    if section is not None:
        listed = section.get("buttons")
        if not isinstance(listed, list) or not all(isinstance(b, dict) for b in listed):
            raise _refuse(f"{where}: buttons must be a list of objects.")
    buttons = [b for b in _list(_object(section).get("buttons")) if isinstance(b, dict)]
    if len(buttons) > 10:
        raise _refuse(f"{where}: a template has at most 10 buttons.")
    kinds = [str(b.get("type", "")).upper() for b in buttons]
    for button_type, limit in BUTTON_LIMITS.items():
        if kinds.count(button_type) > limit:
            raise _refuse(f"{where}: a template has at most {limit} {button_type} button(s).")
    groups = [kind == "QUICK_REPLY" for kind in kinds]
    if sum(1 for before, after in pairwise(groups) if before != after) > 1:
        raise _refuse(
            f"{where}: invalid combination of buttons. Quick reply buttons and other buttons must be "
            "in two groups (for example QUICK_REPLY, QUICK_REPLY, URL, PHONE_NUMBER)."
        )
    for index, (kind, button) in enumerate(zip(kinds, buttons, strict=True)):
        if kind == "URL":
            url = str(button.get("url", ""))
            variables = list(VARIABLE.finditer(url))
            if len(variables) > 1 or (variables and variables[-1].end() != len(url)):
                raise _refuse(f"{where} {index}: a URL supports 1 variable, appended to the end of the URL.")
        if kind == "COPY_CODE" and len(str(button.get("example", ""))) > code_max:
            raise _refuse(f"{where} {index}: the COPY_CODE example is at most {code_max} characters.")


def check_new_template(body: dict[str, Any], state: SandboxState, template_limit: int) -> None:
    """Refuse what Meta refuses at creation; ``category`` and ``parameter_format`` are upper-cased in
    ``body``, so the template is kept the way Meta's list endpoint returns it."""
    name = body.get("name")
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise _refuse("name: lowercase letters, digits and underscores, at most 512 characters.")
    if not body.get("language"):
        raise GraphError(131008, "language is required.")
    for key in ("category", "parameter_format"):  # Meta's own examples write them lower-case
        if isinstance(body.get(key), str):
            body[key] = body[key].upper()
    if body.get("category") not in CATEGORIES:
        raise _refuse(f"category must be one of {', '.join(CATEGORIES)}.")
    if body.get("parameter_format", "POSITIONAL") not in PARAMETER_FORMATS:
        raise _refuse("parameter_format must be POSITIONAL or NAMED.")
    if state.find_template(name, body["language"]):
        raise _refuse(f"Content in this language already exists for {name}.", subcode=2388024)
    if len(state.templates) >= template_limit:
        raise GraphError(2388019, f"A business account can have up to {template_limit} message templates.")
    check_components(
        body.get("components"),
        category=body["category"],
        parameter_format=body.get("parameter_format", "POSITIONAL"),
        state=state,
    )


def review_verdict(
    template: SandboxTemplate, reject_word: str, reject_reason: str
) -> tuple[str, str, dict | None]:
    """(status, reason, rejection_info) the review reaches for this template."""
    texts = []
    # Checked at creation: a list of objects. A stray key on a part (``"cards": 1`` on a BODY) is
    # read as nothing, so the review always ends: a template is never PENDING for ever.
    components = [c for c in _list(template.components) if isinstance(c, dict)]
    for component in components:  # a carousel's cards are read like the template's own parts
        for card in _list(component.get("cards")):
            if isinstance(card, dict):
                components.extend(p for p in _list(card.get("components")) if isinstance(p, dict))
        texts.append(str(component.get("text", "")))
        texts.extend(str(b.get("text", "")) for b in _list(component.get("buttons")) if isinstance(b, dict))
    if reject_word and any(reject_word.lower() in text.lower() for text in texts):
        return "REJECTED", reject_reason, None
    if any(ADJACENT_VARIABLES.search(text) for text in texts):
        return "REJECTED", "INVALID_FORMAT", ADJACENT_REJECTION
    return "APPROVED", "NONE", None


# --- Sending --------------------------------------------------------------------------------
