"""What the recipient reads: one rendering of a template for the preview, message log and inbox.

Every screen that shows a template message calls ``render_message`` and, to show its text as
WhatsApp formats it, ``whatsapp_markup_to_html``, so the editor's preview, the log of what was
sent and the inbox never disagree. Rendering never fails on a template or on values it was given:
a missing value shows as its variable (``{{2}}``), so an operator sees the gap instead of an error
page.

AUTHENTICATION templates are rendered with Meta's fixed English wording (docs/meta-facts.md 8.3); WhatsApp
shows the recipient's language, which the preview does not imitate. The same goes for the fixed
lines WhatsApp adds to a limited-time offer ("Ends …") and a location header.

Issue 15's kinds: a carousel renders as its top body plus one ``RenderedCard`` per card (each card's
values come from ``parameters["cards"][i]``); a limited-time offer adds a ``RenderedOffer`` (its
end from ``parameters["offer"]["expiration_time_ms"]``); a location header carries the place sent
(``parameters["header"]["location"]``) as a ``RenderedLocation``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from templates_app.components import (
    MEDIA_HEADER_FORMATS,
    VARIABLE_TOKEN_PATTERN,
    ButtonType,
    Component,
    HeaderFormat,
    OtpType,
    adds_security_recommendation,
    body_examples,
    body_of,
    button_example,
    button_type,
    button_url,
    buttons_of,
    carousel_cards,
    code_expiration_minutes,
    footer_of,
    header_examples,
    header_format,
    header_of,
    is_authentication_template,
    limited_time_offer_of,
    otp_type,
    text_of,
    url_has_variable,
    url_static_part,
)
from templates_app.parameters import authentication_code, body_values, button_values, header_value

# Meta's fixed texts for AUTHENTICATION templates (English; WhatsApp localises them).
AUTHENTICATION_BODY = "{code} is your verification code."
SECURITY_RECOMMENDATION = "For your security, do not share this code."
EXPIRY_FOOTER = "This code expires in {minutes} minutes."
OTP_BUTTON_LABELS = {
    OtpType.COPY_CODE: "Copy code",
    OtpType.ONE_TAP: "Autofill",
    OtpType.ZERO_TAP: "Copy code",
}
# The sample code shown when rendering an AUTHENTICATION template "with samples".
SAMPLE_AUTHENTICATION_CODE = "123456"
# WhatsApp draws a COPY_CODE button with a fixed label of its own.
COPY_CODE_LABEL = "Copy offer code"
MEDIA_PLACEHOLDERS = {
    HeaderFormat.IMAGE: "[Image]",
    HeaderFormat.VIDEO: "[Video]",
    HeaderFormat.DOCUMENT: "[Document]",
    HeaderFormat.LOCATION: "[Location]",
}
# A location header's place is given with each send; the preview with samples has none to show.
LOCATION_SAMPLE_NOTE = "Location sent with each message"
# A limited-time offer's end is given with each send; the preview with samples shows the gap.
OFFER_ENDS_PLACEHOLDER = "Ends in …"


@dataclass(frozen=True)
class RenderedLocation:
    """The place a LOCATION header shows: as given to send, every part optional text."""

    name: str = ""
    address: str = ""
    latitude: str = ""
    longitude: str = ""

    def describe(self) -> str:
        """ "Lucky Shrub, 1 Hacker Way", or the coordinates when the place has no name or address."""
        named = ", ".join(part for part in (self.name, self.address) if part)
        if named:
            return named
        return ", ".join(part for part in (self.latitude, self.longitude) if part)


@dataclass(frozen=True)
class RenderedHeader:
    kind: str  # Meta's header format: "TEXT", "IMAGE", "VIDEO", "DOCUMENT", "LOCATION"
    text: str  # the filled-in text, or a placeholder label such as "[Image]" for media
    media: str = ""  # the media id or link given to send, when there is one
    location: RenderedLocation | None = None  # a LOCATION header's place, when one was given
    sample_note: str = ""  # what stands in for a value only known at send time, in the preview

    def as_text(self) -> str:
        if self.location is not None and self.location.describe():
            return f"{self.text} {self.location.describe()}"
        return self.text


@dataclass(frozen=True)
class RenderedButton:
    index: int
    kind: str  # Meta's button type: "QUICK_REPLY", "URL", "PHONE_NUMBER", "COPY_CODE", "OTP"
    label: str
    target: str = ""  # the full link, the phone number, or the code a copy button copies


@dataclass(frozen=True)
class RenderedOffer:
    """A limited-time offer's headline, when it ends, and the code its copy-code button copies."""

    text: str
    has_expiration: bool
    ends: str = ""  # "Ends 31 Dec 2026, 23:59 UTC", OFFER_ENDS_PLACEHOLDER, or "" (no expiry)
    code: str = ""

    def as_text(self) -> str:
        parts = [self.text or "Limited-time offer"]
        if self.ends:
            parts.append(self.ends)
        if self.code:
            parts.append(f"Code {self.code}")
        return " · ".join(parts)


@dataclass(frozen=True)
class RenderedCard:
    """One carousel card: its media header, its body with the card's own values, its buttons."""

    index: int  # 0-based, Meta's card_index
    header: RenderedHeader | None
    body: str
    buttons: tuple[RenderedButton, ...]

    def as_text(self) -> str:
        text = f"Card {self.index + 1}: {self.body or (self.header.text if self.header else '')}"
        if self.buttons:
            text += "\n" + _buttons_text(self.buttons)
        return text


@dataclass(frozen=True)
class RenderedMessage:
    header: RenderedHeader | None
    body: str
    footer: str
    buttons: tuple[RenderedButton, ...]
    offer: RenderedOffer | None = None
    cards: tuple[RenderedCard, ...] = ()

    def as_text(self) -> str:
        """A plain-text transcript, for logs, search and exports (cards in order, after the body)."""
        parts = [self.header.as_text()] if self.header else []
        if self.offer is not None:
            parts.append(self.offer.as_text())
        parts.append(self.body)
        if self.footer:
            parts.append(self.footer)
        if self.buttons:
            parts.append(_buttons_text(self.buttons))
        parts.extend(card.as_text() for card in self.cards)
        return "\n\n".join(parts)


def _buttons_text(buttons: Sequence[RenderedButton]) -> str:
    return " | ".join(f"[{button.label}]" for button in buttons)


def render_message(*, components: Any, parameters: Any = None, use_examples: bool = False) -> RenderedMessage:
    """The message as the recipient reads it.

    ``parameters`` has the shape documented in :mod:`templates_app.parameters`. With
    ``use_examples`` the template's own samples fill whatever the parameters leave open (the
    editor's preview); values that are still missing show as their variable.
    """
    if is_authentication_template(components):
        return _render_authentication(components, parameters, use_examples)
    header = _render_header(header_of(components), parameters, use_examples)
    body = _render_body(body_of(components), parameters, use_examples)
    footer = text_of(footer_of(components))
    buttons = tuple(
        _render_button(index, button, parameters, use_examples)
        for index, button in enumerate(buttons_of(components))
    )
    given_cards = _card_parameters(parameters)
    cards = tuple(
        _render_card(index, card, given_cards[index] if index < len(given_cards) else None, use_examples)
        for index, card in enumerate(carousel_cards(components))
    )
    return RenderedMessage(
        header=header,
        body=body,
        footer=footer,
        buttons=buttons,
        offer=_render_offer(limited_time_offer_of(components), parameters, buttons, use_examples),
        cards=cards,
    )


def _render_body(body: Component | None, parameters: Any, use_examples: bool) -> str:
    values = _strings(body_values(parameters))
    if use_examples:
        values = {**_given(body_examples(body)), **values}
    return fill_variables(text_of(body), values)


def _render_card(index: int, card: Any, parameters: Any, use_examples: bool) -> RenderedCard:
    """A card read like a small template; ``parameters`` is its entry of ``parameters["cards"]``."""
    return RenderedCard(
        index=index,
        header=_render_header(header_of(card), parameters, use_examples),
        body=_render_body(body_of(card), parameters, use_examples),
        buttons=tuple(
            _render_button(number, button, parameters, use_examples)
            for number, button in enumerate(buttons_of(card))
        ),
    )


def _card_parameters(parameters: Any) -> list[Any]:
    cards = parameters.get("cards") if isinstance(parameters, Mapping) else None
    if not isinstance(cards, Sequence) or isinstance(cards, str):
        return []
    return list(cards)


def _render_offer(
    offer: Mapping[str, Any] | None, parameters: Any, buttons: Sequence[RenderedButton], use_examples: bool
) -> RenderedOffer | None:
    if offer is None:
        return None
    text = offer.get("text")
    has_expiration = offer.get("has_expiration") is True
    ends = ""
    if has_expiration:
        ends = offer_ends(_offer_expiration(parameters)) or OFFER_ENDS_PLACEHOLDER
    code = next((button.target for button in buttons if button.kind == ButtonType.COPY_CODE), "")
    return RenderedOffer(
        text=text if isinstance(text, str) else "", has_expiration=has_expiration, ends=ends, code=code
    )


def _offer_expiration(parameters: Any) -> Any:
    offer = parameters.get("offer") if isinstance(parameters, Mapping) else None
    return offer.get("expiration_time_ms") if isinstance(offer, Mapping) else None


def offer_ends(expiration_time_ms: Any) -> str:
    """ "Ends 31 Dec 2026, 23:59 UTC" in the current time zone, or "" when the value is not a time.

    The value is Unix milliseconds, as a number or numeric text (the send path's shape).
    """
    if isinstance(expiration_time_ms, bool):
        return ""
    try:
        local = timezone.localtime(datetime.fromtimestamp(int(expiration_time_ms) / 1000, tz=UTC))
    except (TypeError, ValueError, OverflowError, OSError):  # not a number, or no date a calendar has
        return ""
    return f"Ends {local.day} {local:%b %Y, %H:%M} {local.tzname()}"


def _given(samples: Mapping[str, str]) -> dict[str, str]:
    """Samples that were actually typed: an empty one leaves its variable visible in the preview."""
    return {name: value for name, value in samples.items() if value}


def fill_variables(text: str, values: Mapping[str, str]) -> str:
    """``text`` with each ``{{name}}`` replaced by its value; unknown variables stay as written."""
    return VARIABLE_TOKEN_PATTERN.sub(lambda match: values.get(match.group(1), match.group(0)), text)


def _strings(values: Mapping[str, Any]) -> dict[str, str]:
    return {name: value if isinstance(value, str) else str(value) for name, value in values.items()}


def _render_header(header: Component | None, parameters: Any, use_examples: bool) -> RenderedHeader | None:
    if header is None:
        return None
    fmt = header_format(header)
    given = header_value(parameters)
    if fmt == HeaderFormat.LOCATION:
        return _render_location(given, use_examples)
    if fmt in MEDIA_HEADER_FORMATS:
        media = ""
        if given is not None:
            source = given.get("id") or given.get("link") or ""
            media = source if isinstance(source, str) else str(source)
        return RenderedHeader(kind=fmt, text=MEDIA_PLACEHOLDERS[HeaderFormat(fmt)], media=media)
    values = _given(header_examples(header)) if use_examples else {}
    text = text_of(header)
    variable = VARIABLE_TOKEN_PATTERN.search(text)
    if given is not None and "text" in given and variable is not None:
        values = {**values, variable.group(1): str(given["text"])}
    return RenderedHeader(kind=fmt or HeaderFormat.TEXT, text=fill_variables(text, values))


def _render_location(given: Mapping[str, Any] | None, use_examples: bool) -> RenderedHeader:
    place = given.get("location") if given is not None else None
    placeholder = MEDIA_PLACEHOLDERS[HeaderFormat.LOCATION]
    if not isinstance(place, Mapping):
        note = LOCATION_SAMPLE_NOTE if use_examples else ""
        return RenderedHeader(kind=HeaderFormat.LOCATION, text=placeholder, sample_note=note)
    location = RenderedLocation(
        **{part: _text(place.get(part)) for part in ("name", "address", "latitude", "longitude")}
    )
    return RenderedHeader(kind=HeaderFormat.LOCATION, text=placeholder, location=location)


def _text(value: Any) -> str:
    if value is None or isinstance(value, (Mapping, list)):
        return ""
    return value if isinstance(value, str) else str(value)


def _render_button(index: int, button: Component, parameters: Any, use_examples: bool) -> RenderedButton:
    kind = button_type(button)
    label = text_of(button)
    given = button_values(parameters).get(str(index))
    given = None if given is None else str(given)
    if kind == ButtonType.URL:
        url = button_url(button)
        if url_has_variable(button):
            if given is not None:
                url = url_static_part(url) + given
            elif use_examples and button_example(button):
                url = _sample_url(url, button_example(button))
        return RenderedButton(index=index, kind=kind, label=label, target=url)
    if kind == ButtonType.PHONE_NUMBER:
        number = button.get("phone_number")
        return RenderedButton(
            index=index, kind=kind, label=label, target=number if isinstance(number, str) else ""
        )
    if kind == ButtonType.COPY_CODE:
        code = given if given is not None else (button_example(button) if use_examples else "")
        return RenderedButton(index=index, kind=kind, label=label or COPY_CODE_LABEL, target=code)
    return RenderedButton(index=index, kind=kind, label=label)


def _sample_url(url: str, sample: str) -> str:
    """Meta's sample is the full link; some of its examples give only the variable's part."""
    return sample if "://" in sample else url_static_part(url) + sample


def _render_authentication(components: Any, parameters: Any, use_examples: bool) -> RenderedMessage:
    code = authentication_code(parameters)
    if code is None:
        code = SAMPLE_AUTHENTICATION_CODE if use_examples else "{{1}}"
    code = str(code)
    body = AUTHENTICATION_BODY.format(code=code)
    if adds_security_recommendation(body_of(components)):
        body = f"{body} {SECURITY_RECOMMENDATION}"
    minutes = code_expiration_minutes(footer_of(components))
    footer = EXPIRY_FOOTER.format(minutes=minutes) if minutes is not None else ""
    buttons = []
    for index, button in enumerate(buttons_of(components)):
        if button_type(button) == ButtonType.OTP:
            label = text_of(button) or OTP_BUTTON_LABELS.get(
                otp_type(button), OTP_BUTTON_LABELS[OtpType.COPY_CODE]
            )
            buttons.append(RenderedButton(index=index, kind=ButtonType.OTP, label=label, target=code))
    return RenderedMessage(header=None, body=body, footer=footer, buttons=tuple(buttons))


# --- WhatsApp formatting -> HTML -------------------------------------------------------------

# Placeholders for protected spans. NUL never survives into them from the input: it is removed
# first, as it carries no meaning in a WhatsApp message.
_PLACEHOLDER = "\x00{}\x00"
_PLACEHOLDER_PATTERN = re.compile("\x00([0-9]+)\x00")
_MONOSPACE_PATTERN = re.compile(r"```(.+?)```", re.DOTALL)
# A link runs to the next space; trailing punctuation (and formatting marks) are left outside it.
_URL_PATTERN = re.compile(r"https?://[^\s]*[^\s.,;:!?)*_~]")
# A marker opens after a start, space or punctuation and before a non-space; it closes after a
# non-space and before an end, space or punctuation — so snake_case and 2*3*4 stay as written.
_INLINE_STYLES = (
    (re.compile(r"(?<!\w)\*(?=\S)([^*\n]+?)(?<=\S)\*(?!\w)"), "strong"),
    (re.compile(r"(?<![\w])_(?=\S)([^_\n]+?)(?<=\S)_(?![\w])"), "em"),
    (re.compile(r"(?<!\w)~(?=\S)([^~\n]+?)(?<=\S)~(?!\w)"), "del"),
)


def whatsapp_markup_to_html(text: str) -> SafeString:
    """WhatsApp's *bold*, _italic_, ~strike~ and ```monospace``` as HTML, safe to put in a page.

    The text is HTML-escaped first, so nothing a contact or marketer typed can become markup;
    only the tags added here (strong, em, del, code, br) are HTML. Links and monospace spans are
    left unformatted inside.
    """
    escaped = escape(text.replace("\x00", ""))
    protected: list[str] = []

    def protect(html: str) -> str:
        protected.append(html)
        return _PLACEHOLDER.format(len(protected) - 1)

    escaped = _MONOSPACE_PATTERN.sub(lambda m: protect(f"<code>{m.group(1)}</code>"), escaped)
    escaped = _URL_PATTERN.sub(lambda m: protect(m.group(0)), escaped)
    for pattern, tag in _INLINE_STYLES:
        escaped = pattern.sub(lambda m, tag=tag: f"<{tag}>{m.group(1)}</{tag}>", escaped)
    while _PLACEHOLDER_PATTERN.search(escaped):
        escaped = _PLACEHOLDER_PATTERN.sub(lambda m: protected[int(m.group(1))], escaped)
    html = escaped.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "<br>")
    return mark_safe(html)  # every character of the input was escaped above
