"""From the admin's draft fields to Meta's ``components`` JSON, and from rule violations back to fields.

The editor shows marketer-friendly fields (header kind and text, body, samples, a button list);
Meta, the validator, the preview and the send path all speak components JSON. This module is
the one translation between the two, used by the form, the preview endpoint and submission.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from core.errors import ApplicationError
from templates_app.components import (
    body_examples,
    body_of,
    button_example,
    button_type,
    buttons_of,
    carousel_cards,
    code_expiration_minutes,
    footer_of,
    header_examples,
    header_format,
    header_handle,
    header_of,
    is_authentication_template,
    is_carousel_template,
    limited_time_offer_of,
    otp_type,
    supported_apps,
    text_of,
    variable_names,
)
from templates_app.models import (
    ButtonKind,
    Category,
    HeaderKind,
    MessageTemplate,
    OtpKind,
    ParameterFormat,
    TemplateButton,
    TemplateCard,
    TemplateKind,
)
from templates_app.rules import OptOutButton, Violation, validate_template

# Stands in for the header_handle of a media sample chosen but not yet uploaded to Meta: the
# upload happens on submission, and validation only needs to know a sample exists.
PENDING_UPLOAD_HANDLE = "pending-upload"


@dataclass(frozen=True)
class DraftButton:
    kind: str
    text: str = ""
    url: str = ""
    url_sample: str = ""
    phone_number: str = ""
    code_sample: str = ""
    opt_out_purpose: str = ""

    @classmethod
    def from_data(cls, get) -> DraftButton:
        """From a form's cleaned data or a request's POST: ``get(field)`` returns each value."""
        return cls(**{name: get(name) or "" for name in DRAFT_BUTTON_FIELDS})

    @classmethod
    def from_model(cls, button) -> DraftButton:
        return cls(
            kind=button.kind,
            text=button.text,
            url=button.url,
            url_sample=button.url_sample,
            phone_number=button.phone_number,
            code_sample=button.code_sample,
            opt_out_purpose=button.opt_out_purpose,
        )


DRAFT_BUTTON_FIELDS = tuple(f.name for f in fields(DraftButton))
CARD_BUTTON_SLOTS = ("button1", "button2")


@dataclass(frozen=True)
class DraftCard:
    """One carousel card as the editor holds it; its buttons are read from the row's two button slots."""

    header_kind: str = "IMAGE"
    header_handle: str = ""
    body: str = ""
    body_samples: Mapping[str, str] | None = None
    buttons: Sequence[DraftButton] = ()

    @classmethod
    def from_data(cls, get, *, header_handle: str = "") -> DraftCard:
        """From a card row's cleaned data or model: ``get(field)`` returns each value."""
        buttons = [
            DraftButton(
                kind=get(f"{slot}_kind"),
                text=get(f"{slot}_text") or "",
                url=get(f"{slot}_url") or "",
                url_sample=get(f"{slot}_url_sample") or "",
                phone_number=get(f"{slot}_phone_number") or "",
            )
            for slot in CARD_BUTTON_SLOTS
            if get(f"{slot}_kind")
        ]
        return cls(
            header_kind=get("header_kind") or "IMAGE",
            header_handle=header_handle,
            body=get("body") or "",
            body_samples=get("body_samples") or {},
            buttons=buttons,
        )

    @classmethod
    def from_model(cls, card) -> DraftCard:
        handle = card.header_handle or (PENDING_UPLOAD_HANDLE if card.header_media else "")
        return cls.from_data(lambda name: getattr(card, name), header_handle=handle)

    def components(self, *, named: bool) -> list[dict[str, Any]]:
        header: dict[str, Any] = {"type": "HEADER", "format": self.header_kind}
        if self.header_handle:
            header["example"] = {"header_handle": [self.header_handle]}
        parts: list[dict[str, Any]] = [header]
        if self.body:
            body: dict[str, Any] = {"type": "BODY", "text": self.body}
            example = _text_example(self.body, self.body_samples or {}, named=named, header=False)
            if example:
                body["example"] = example
            parts.append(body)
        if self.buttons:
            parts.append({"type": "BUTTONS", "buttons": [_button(b) for b in self.buttons]})
        return parts


@dataclass(frozen=True)
class Draft:
    """Everything the editor holds, independent of whether it came from a form or the database."""

    name: str
    language: str
    category: str
    parameter_format: str
    kind: str = TemplateKind.STANDARD
    header_kind: str = ""
    header_text: str = ""
    header_sample: str = ""
    header_handle: str = ""
    body: str = ""
    body_samples: Mapping[str, str] | None = None
    footer: str = ""
    offer_text: str = ""
    offer_has_expiration: bool = True
    add_security_recommendation: bool = True
    code_expiration_minutes: int | None = None
    otp_kind: str = ""
    otp_button_text: str = ""
    otp_package_name: str = ""
    otp_signature_hash: str = ""
    zero_tap_terms_accepted: bool = False
    buttons: Sequence[DraftButton] = ()
    cards: Sequence[DraftCard] = ()

    @classmethod
    def from_template(
        cls,
        template,
        buttons: Iterable | None = None,
        *,
        header_handle: str | None = None,
        cards: Iterable | None = None,
    ) -> Draft:
        if buttons is None:
            buttons = template.buttons.all() if template.pk else []
        if cards is None:
            cards = template.cards.all() if template.pk else []
        handle = header_handle if header_handle is not None else template.header_handle
        if not handle and template.header_media:
            handle = PENDING_UPLOAD_HANDLE
        return cls(
            name=template.name,
            language=template.language,
            category=template.category,
            parameter_format=template.parameter_format,
            kind=template.kind or TemplateKind.STANDARD,
            header_kind=template.header_kind,
            header_text=template.header_text,
            header_sample=template.header_sample,
            header_handle=handle,
            body=template.body,
            body_samples=template.body_samples or {},
            footer=template.footer,
            offer_text=template.offer_text,
            offer_has_expiration=template.offer_has_expiration,
            add_security_recommendation=template.add_security_recommendation,
            code_expiration_minutes=template.code_expiration_minutes,
            otp_kind=template.otp_kind,
            otp_button_text=template.otp_button_text,
            otp_package_name=template.otp_package_name,
            otp_signature_hash=template.otp_signature_hash,
            zero_tap_terms_accepted=template.zero_tap_terms_accepted,
            buttons=[b if isinstance(b, DraftButton) else DraftButton.from_model(b) for b in buttons],
            cards=[c if isinstance(c, DraftCard) else DraftCard.from_model(c) for c in cards],
        )

    def violations(self) -> list[Violation]:
        """Meta's rules on this draft: the same check for the editor and for every submission."""
        return validate_template(
            name=self.name,
            language=self.language,
            category=self.category,
            parameter_format=self.parameter_format,
            components=self.components(),
            opt_out_button=self.opt_out_button,
        )

    @property
    def opt_out_button(self) -> OptOutButton | None:
        for index, button in enumerate(self.buttons):
            if button.opt_out_purpose:
                return OptOutButton(index=index, purpose=button.opt_out_purpose)
        return None

    def components(self) -> list[dict[str, Any]]:
        if self.category == Category.AUTHENTICATION:
            return self._authentication_components()
        named = self.parameter_format == ParameterFormat.NAMED
        carousel = self.kind == TemplateKind.CAROUSEL
        components: list[dict[str, Any]] = []
        header = None if carousel else self._header(named)
        if header:
            components.append(header)
        if self.kind == TemplateKind.LIMITED_TIME_OFFER:
            offer = {"text": self.offer_text, "has_expiration": bool(self.offer_has_expiration)}
            components.append({"type": "LIMITED_TIME_OFFER", "limited_time_offer": offer})
        body: dict[str, Any] = {"type": "BODY", "text": self.body}
        example = _text_example(self.body, self.body_samples or {}, named=named, header=False)
        if example:
            body["example"] = example
        components.append(body)
        if self.footer and not carousel:
            components.append({"type": "FOOTER", "text": self.footer})
        if carousel:
            cards = [{"components": card.components(named=named)} for card in self.cards]
            components.append({"type": "CAROUSEL", "cards": cards})
        elif self.buttons:
            components.append({"type": "BUTTONS", "buttons": [_button(b) for b in self.buttons]})
        return components

    def _header(self, named: bool) -> dict[str, Any] | None:
        if not self.header_kind:
            return None
        if self.header_kind == HeaderKind.TEXT:
            header: dict[str, Any] = {"type": "HEADER", "format": "TEXT", "text": self.header_text}
            names = variable_names(self.header_text)
            example = _text_example(
                self.header_text, {names[0]: self.header_sample} if names else {}, named=named, header=True
            )
            if example:
                header["example"] = example
            return header
        header = {"type": "HEADER", "format": self.header_kind}
        if self.header_handle:
            header["example"] = {"header_handle": [self.header_handle]}
        return header

    def _authentication_components(self) -> list[dict[str, Any]]:
        components: list[dict[str, Any]] = [
            {"type": "BODY", "add_security_recommendation": bool(self.add_security_recommendation)}
        ]
        if self.code_expiration_minutes is not None:
            components.append({"type": "FOOTER", "code_expiration_minutes": self.code_expiration_minutes})
        button: dict[str, Any] = {"type": "OTP", "otp_type": self.otp_kind}
        if self.otp_button_text:
            button["text"] = self.otp_button_text
        if self.otp_kind in (OtpKind.ONE_TAP, OtpKind.ZERO_TAP):
            button["supported_apps"] = [
                {"package_name": self.otp_package_name, "signature_hash": self.otp_signature_hash}
            ]
        if self.otp_kind == OtpKind.ZERO_TAP:
            button["zero_tap_terms_accepted"] = bool(self.zero_tap_terms_accepted)
        components.append({"type": "BUTTONS", "buttons": [button]})
        return components


def _text_example(
    text: str, samples: Mapping[str, str], *, named: bool, header: bool
) -> dict[str, Any] | None:
    names = variable_names(text)
    if not names:
        return None
    if named:
        key = "header_text_named_params" if header else "body_text_named_params"
        return {key: [{"param_name": name, "example": samples.get(name, "")} for name in names]}
    values = [samples.get(name, "") for name in names]
    return {"header_text": values} if header else {"body_text": [values]}


def _button(button: DraftButton) -> dict[str, Any]:
    data: dict[str, Any] = {"type": button.kind, "text": button.text}
    if button.kind == ButtonKind.URL:
        data["url"] = button.url
        if "{{" in button.url:
            data["example"] = [button.url_sample]
    elif button.kind == ButtonKind.PHONE_NUMBER:
        data["phone_number"] = button.phone_number
    elif button.kind == ButtonKind.COPY_CODE:
        data = {"type": button.kind, "example": button.code_sample}
    return data


# --- Violations back to the form's fields ---------------------------------------------------

_MAIN_FIELDS = {
    "name": "name",
    "language": "language",
    "category": "category",
    "parameter_format": "parameter_format",
    "header": "header_kind",
    "header_text": "header_text",
    "body": "body",
    "body_example": "body_samples",
    "footer": "footer",
    "code_expiration_minutes": "code_expiration_minutes",
}
_BUTTON_FIELDS = {
    "type": "kind",
    "text": "text",
    "url": "url",
    "example": None,  # url_sample or code_sample, by kind
    "phone_number": "phone_number",
}
_OTP_FIELDS = {
    "otp_type": "otp_kind",
    "text": "otp_button_text",
    "supported_apps": "otp_package_name",
    "zero_tap_terms_accepted": "zero_tap_terms_accepted",
    "type": "otp_kind",
}
_BUTTON_KEY = re.compile(r"^buttons\[(\d+)\]\.(\w+)$")
_CARD_KEY = re.compile(r"^cards\[(\d+)\]\.(.+)$")
# A card's own keys (``cards[<c>].<key>``) → the card row's fields.
_CARD_FIELDS = {
    "header": "header_kind",
    "header_example": "header_media",
    "body": "body",
    "body_example": "body_samples",
}
# A card button's keys (``cards[<c>].buttons[<i>].<key>``) → the slot's field suffix.
_CARD_BUTTON_FIELDS = {
    "type": "kind",
    "text": "text",
    "url": "url",
    "example": "url_sample",
    "phone_number": "phone_number",
}


@dataclass(frozen=True)
class FieldError:
    """Where a violation goes: a field of the template form, of one button row (``button`` index) or
    of one card row (``card`` index). An index of -1 means the rows as a whole (the formset)."""

    field: str | None
    message: str
    button: int | None = None
    card: int | None = None


def field_errors(draft: Draft, violations) -> list[FieldError]:
    """Map rule violations to the editor's fields (``None`` = the form as a whole)."""
    errors = []
    for violation in violations:
        code = getattr(violation, "code", "")
        errors.append(_field_error(draft, violation.field, violation.message, code=code))
    return errors


def _field_error(draft: Draft, key: str, message: str, *, code: str = "") -> FieldError:
    if key in _MAIN_FIELDS:
        return FieldError(_MAIN_FIELDS[key], message)
    if key == "header_example":
        media = draft.header_kind not in ("", HeaderKind.TEXT)
        return FieldError("header_media" if media else "header_sample", message)
    if key == "offer_text":
        return FieldError("offer_text", message)
    if key == "offer":
        return _offer_error(message, code)
    if key == "carousel":
        return FieldError(None, message, card=-1)
    card_match = _CARD_KEY.match(key)
    if card_match:
        return _card_error(int(card_match.group(1)), card_match.group(2), message)
    authentication = draft.category == Category.AUTHENTICATION
    if key == "buttons":
        return FieldError(
            "otp_kind" if authentication else None, message, button=None if authentication else -1
        )
    match = _BUTTON_KEY.match(key)
    if match:
        index, part = int(match.group(1)), match.group(2)
        if authentication:
            return FieldError(_OTP_FIELDS.get(part, "otp_kind"), message)
        if part == "example":
            kind = draft.buttons[index].kind if index < len(draft.buttons) else ""
            part_field = "code_sample" if kind == ButtonKind.COPY_CODE else "url_sample"
        else:
            part_field = _BUTTON_FIELDS.get(part) or "text"
        return FieldError(part_field, message, button=index)
    if key in ("opt_out_button", "opt_out_purpose"):
        index = draft.opt_out_button.index if draft.opt_out_button else -1
        return FieldError("opt_out_purpose", message, button=index)
    return FieldError(None, message)


def _offer_error(message: str, code: str) -> FieldError:
    """An offer rule concerns the header, the footer or the buttons: the code says which."""
    if "button" in code:
        return FieldError(None, message, button=-1)
    if "footer" in code:
        return FieldError("footer", message)
    if "header" in code:
        return FieldError("header_kind", message)
    if "category" in code:
        return FieldError("category", message)
    return FieldError(None, message)


def _card_error(index: int, part: str, message: str) -> FieldError:
    if part in _CARD_FIELDS:
        return FieldError(_CARD_FIELDS[part], message, card=index)
    match = _BUTTON_KEY.match(part)
    if match:
        slot = CARD_BUTTON_SLOTS[int(match.group(1))] if int(match.group(1)) < 2 else None
        suffix = _CARD_BUTTON_FIELDS.get(match.group(2), "text")
        return FieldError(f"{slot}_{suffix}" if slot else None, message, card=index)
    if part == "buttons":
        return FieldError("button1_kind", message, card=index)
    return FieldError(None, message, card=index)


# --- Meta's components back to draft fields (templates imported by the sync) -----------------

IMPORT_REFUSED = "template_import_unsupported"


def _refuse(message: str, field: str) -> ApplicationError:
    return ApplicationError(
        f"Not imported: {message} This app's editor cannot hold it; the template stays at WhatsApp.",
        code=IMPORT_REFUSED,
        field=field,
    )


def _fitted(model, name: str, value: Any, where: str) -> Any:
    """``value`` for the model field ``name``, refused when it cannot be stored as it is.

    A sync must never write what the database would refuse (a PostgreSQL DataError) nor cut a
    value silently: a kind outside the field's choices or a text longer than the field is an
    import problem that names the field.
    """
    field = model._meta.get_field(name)
    if not isinstance(value, str):
        return value
    choices = {str(key) for key, _ in field.choices} if field.choices else None
    if choices is not None and value not in choices:
        shown = value if len(value) <= 40 else value[:40] + "…"
        raise _refuse(f"{where} is “{shown}”, which this app does not know.", name)
    if field.max_length and len(value) > field.max_length:
        raise _refuse(
            f"{where} has {len(value)} characters; this app keeps at most {field.max_length}.", name
        )
    return value


def _handle(model, name: str, value: str) -> str:
    """Meta's sample handle, or "" when it does not fit: the version keeps the original, and a new
    submission needs a new upload anyway."""
    return value if len(value) <= model._meta.get_field(name).max_length else ""


_TEMPLATE_FIELD_NAMES = {
    "kind": "The format",
    "offer_text": "The offer's headline",
    "header_kind": "The header's format",
    "header_text": "The header text",
    "header_sample": "The header's sample",
    "footer": "The footer",
    "otp_kind": "The code button's kind",
    "otp_button_text": "The code button's label",
    "otp_package_name": "The app's package name",
    "otp_signature_hash": "The app's signature hash",
}
_BUTTON_FIELD_NAMES = {
    "kind": "kind",
    "text": "label",
    "url": "link",
    "url_sample": "sample link",
    "phone_number": "phone number",
    "code_sample": "sample code",
}


def _fitted_template_fields(fields: dict[str, Any]) -> dict[str, Any]:
    for name, what in _TEMPLATE_FIELD_NAMES.items():
        if name in fields:
            value = fields[name]
            if name == "header_kind" and value == "":
                continue
            fields[name] = _fitted(MessageTemplate, name, value, what)
    if "header_handle" in fields:
        fields["header_handle"] = _handle(MessageTemplate, "header_handle", fields["header_handle"])
    return fields


def draft_fields_from_components(
    components: Sequence[Mapping[str, Any]],
) -> tuple[dict[str, Any], list[dict]]:
    """The editor's fields and button rows for a template that exists only at Meta.

    Every value is checked against the field it goes in: an unknown kind or a text too long
    raises ``ApplicationError`` (code ``template_import_unsupported``) naming it.
    """
    fields: dict[str, Any] = {}
    if is_authentication_template(components):
        body = body_of(components) or {}
        fields["add_security_recommendation"] = bool(body.get("add_security_recommendation"))
        fields["code_expiration_minutes"] = code_expiration_minutes(footer_of(components))
        for button in buttons_of(components):
            fields["otp_kind"] = otp_type(button)
            fields["otp_button_text"] = str(button.get("text") or "")
            apps = supported_apps(button)
            if apps:
                fields["otp_package_name"] = str(apps[0].get("package_name") or "")
                fields["otp_signature_hash"] = str(apps[0].get("signature_hash") or "")
            fields["zero_tap_terms_accepted"] = button.get("zero_tap_terms_accepted") is True
        return _fitted_template_fields(fields), []
    if is_carousel_template(components):
        fields["kind"] = TemplateKind.CAROUSEL
    offer = limited_time_offer_of(components)
    if offer is not None:
        fields["kind"] = TemplateKind.LIMITED_TIME_OFFER
        fields["offer_text"] = str(offer.get("text") or "")
        fields["offer_has_expiration"] = offer.get("has_expiration") is True
    header = header_of(components)
    if header is not None:
        fields["header_kind"] = header_format(header)
        fields["header_text"] = text_of(header)
        samples = header_examples(header)
        fields["header_sample"] = str(next(iter(samples.values()), ""))
        fields["header_handle"] = header_handle(header)
    body = body_of(components)
    fields["body"] = text_of(body)
    fields["body_samples"] = body_examples(body)
    fields["footer"] = text_of(footer_of(components))
    buttons = []
    for number, button in enumerate(buttons_of(components), start=1):
        row = _button_row(button)
        buttons.append(
            {
                name: _fitted(TemplateButton, name, value, f"Button {number}'s {_BUTTON_FIELD_NAMES[name]}")
                for name, value in row.items()
            }
        )
    return _fitted_template_fields(fields), buttons


def _button_row(button: Mapping[str, Any]) -> dict[str, str]:
    """One of Meta's buttons as the editor's fields (a button row, or a card's button slot)."""
    kind = button_type(button)
    row = {"kind": kind, "text": str(button.get("text") or "")}
    if kind == ButtonKind.URL:
        row["url"] = str(button.get("url") or "")
        row["url_sample"] = button_example(button)
    elif kind == ButtonKind.PHONE_NUMBER:
        row["phone_number"] = str(button.get("phone_number") or "")
    elif kind == ButtonKind.COPY_CODE:
        row["code_sample"] = button_example(button)
    return row


def draft_cards_from_components(components: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """A carousel's card rows (``TemplateCard`` fields) for a template that exists only at Meta.

    Each card's sample stays the handle Meta gave (no file here, "" when too long to keep); its
    buttons fill the row's two button slots. What a row cannot hold — a third button, a header or
    button kind a card does not have, a text longer than its field — raises ``ApplicationError``
    (code ``template_import_unsupported``) naming the card: nothing is dropped silently.
    """
    rows = []
    for number, card in enumerate(carousel_cards(components), start=1):
        header = header_of(card)
        body = body_of(card)
        buttons = buttons_of(card)
        if len(buttons) > len(CARD_BUTTON_SLOTS):
            raise _refuse(
                f"card {number} has {len(buttons)} buttons; a card here holds at most "
                f"{len(CARD_BUTTON_SLOTS)}.",
                "cards",
            )
        row: dict[str, Any] = {
            "header_kind": _fitted(
                TemplateCard, "header_kind", header_format(header) or "IMAGE", f"Card {number}'s header"
            ),
            "header_handle": _handle(TemplateCard, "header_handle", header_handle(header)),
            "body": text_of(body),
            "body_samples": body_examples(body),
        }
        for slot_number, (slot, button) in enumerate(zip(CARD_BUTTON_SLOTS, buttons, strict=False), start=1):
            for name, value in _button_row(button).items():
                what = f"Card {number}'s button {slot_number} {_BUTTON_FIELD_NAMES[name]}"
                if name == "kind":
                    what = f"Card {number}'s button {slot_number}"
                    if not value:
                        raise _refuse(f"{what} has no kind.", "cards")
                row[f"{slot}_{name}"] = _fitted(TemplateCard, f"{slot}_{name}", value, what)
        rows.append(row)
    return rows
