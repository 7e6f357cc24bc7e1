"""Reads for the template pages: what WhatsApp sends today against the draft being edited.

The template row is the working draft; each submission is a ``TemplateVersion``, and only the
approved version is ever sent (Meta sends a template's approved content, whatever was typed
since). Saving an edit in the admin changes the draft alone, so a page that showed the draft's
preview beside "APPROVED" once made staff believe the new text was going out. These reads say
what is sent, what the draft would change, and whether WhatsApp is reviewing an edit.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from templates_app.components import (
    ButtonType,
    HeaderFormat,
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
)
from templates_app.drafts import Draft
from templates_app.models import (
    ButtonKind,
    MessageTemplate,
    OtpKind,
    TemplateStatus,
    TemplateVersion,
    VersionReview,
)

REMOVED, ADDED, SAME = "−", "+", " "


@dataclass(frozen=True)
class DiffLine:
    mark: str  # SAME: in both; REMOVED: only in the approved version; ADDED: only in the draft
    text: str


@dataclass(frozen=True)
class Difference:
    part: str  # "Category", "Header", "Body", "Footer", "Buttons", "Samples", …
    lines: tuple[DiffLine, ...]


@dataclass(frozen=True)
class DraftComparison:
    approved: TemplateVersion | None
    under_review: TemplateVersion | None  # an edit submitted after the approved version
    differences: tuple[Difference, ...]  # from the approved version to the draft
    changed_since_review: bool  # the draft differs from the version under review

    @property
    def pending(self) -> bool:
        """An approved template whose draft or submitted edit is not what is sent."""
        return self.approved is not None and (bool(self.differences) or self.under_review is not None)


def draft_comparison(template: MessageTemplate, buttons: Iterable | None = None) -> DraftComparison:
    """The approved version, the edit under review (if any) and how the draft differs from the former.

    ``buttons`` lets a list page pass prefetched rows; the template's ``approved_version`` should
    be loaded with it (``select_related``) for the same reason.
    """
    approved = template.approved_version if template.approved_version_id else None
    if approved is None:
        return DraftComparison(None, None, (), False)
    draft = Draft.from_template(template, list(buttons) if buttons is not None else None)
    draft_parts = _parts_of_draft(template, draft)
    differences = _differences(_parts_of_version(approved), draft_parts)
    under_review = None
    if template.status == TemplateStatus.PENDING:
        under_review = (
            template.versions.filter(review=VersionReview.PENDING, number__gt=approved.number)
            .order_by("-number")
            .first()
        )
    changed_since_review = under_review is not None and bool(
        _differences(_parts_of_version(under_review), draft_parts)
    )
    return DraftComparison(approved, under_review, differences, changed_since_review)


def draft_differs(template: MessageTemplate, buttons: Iterable | None = None) -> bool:
    """Whether the saved draft is not what the approved version says (False without one)."""
    return bool(draft_comparison(template, buttons).differences)


# --- Readable lines per part ----------------------------------------------------------------

Parts = dict[str, list[str]]


def _parts_of_version(version: TemplateVersion) -> Parts:
    return _parts(
        version.components,
        category=version.category,
        parameter_format=version.parameter_format,
        opt_out_index=version.opt_out_button_index,
        opt_out_purpose=version.opt_out_purpose,
    )


def _parts_of_draft(template: MessageTemplate, draft: Draft) -> Parts:
    opt_out = draft.opt_out_button
    parts = _parts(
        draft.components(),
        category=draft.category,
        parameter_format=draft.parameter_format,
        opt_out_index=opt_out.index if opt_out else None,
        opt_out_purpose=opt_out.purpose if opt_out else "",
    )
    media = template.header_media.name if template.header_media else ""
    media_header = template.header_kind not in ("", HeaderFormat.TEXT, HeaderFormat.LOCATION)
    if media and media_header and media != template.header_handle_for and draft.kind != "CAROUSEL":
        # A new sample file is uploaded to WhatsApp only on submission.
        parts["Samples"].append(f"Header sample file: {media.rsplit('/', 1)[-1]}")
    if draft.kind == "CAROUSEL" and template.pk:
        for number, card in enumerate(template.cards.all(), start=1):
            name = card.header_media.name if card.header_media else ""
            if name and name != card.header_handle_for:
                parts["Samples"].append(f"Card {number} sample file: {name.rsplit('/', 1)[-1]}")
    return parts


def _parts(
    components: Any, *, category: str, parameter_format: str, opt_out_index: int | None, opt_out_purpose: str
) -> Parts:
    """What a person can tell apart, part by part; media handles and other plumbing are left out."""
    parts: Parts = {"Category": [category], "Variables": [parameter_format.title()]}
    if is_authentication_template(components):
        minutes = code_expiration_minutes(footer_of(components))
        options = [
            "Security recommendation: "
            + ("yes" if adds_security_recommendation(body_of(components)) else "no"),
            f"Code expires after: {minutes} minutes" if minutes is not None else "Code expiry: not shown",
        ]
        for button in buttons_of(components):
            kind = otp_type(button)
            label = OtpKind(kind).label if kind in OtpKind.values else kind
            options.append(f"Code button: {label}" + (f" “{text_of(button)}”" if text_of(button) else ""))
        parts["Authentication options"] = options
        return parts
    header = header_of(components)
    kind = header_format(header)
    if kind == HeaderFormat.TEXT:
        parts["Header"] = [f"Text: {text_of(header)}"]
    elif kind:
        parts["Header"] = [f"{kind.title()} (chosen when sending)"]
    else:
        parts["Header"] = []
    body = body_of(components)
    parts["Body"] = text_of(body).splitlines()
    parts["Footer"] = [text_of(footer_of(components))] if text_of(footer_of(components)) else []
    parts["Buttons"] = [
        _button_line(button, opt_out_purpose if index == opt_out_index else "")
        for index, button in enumerate(buttons_of(components))
    ]
    samples = [f"Header {{{{{name}}}}} = {value}" for name, value in header_examples(header).items()]
    samples += [f"{{{{{name}}}}} = {value}" for name, value in body_examples(body).items()]
    for index, button in enumerate(buttons_of(components)):
        if button_example(button):
            samples.append(f"Button {index + 1} sample: {button_example(button)}")
    offer = limited_time_offer_of(components)
    if offer is not None:
        parts["Offer"] = [
            f"Headline: {offer.get('text') or ''}",
            "Counts down to an expiry sent with each message"
            if offer.get("has_expiration") is True
            else "No expiry shown",
        ]
    cards = carousel_cards(components)
    if cards:
        parts["Cards"] = [
            line for number, card in enumerate(cards, start=1) for line in _card_lines(number, card)
        ]
        for number, card in enumerate(cards, start=1):
            samples += [
                f"Card {number} {{{{{name}}}}} = {value}"
                for name, value in body_examples(body_of(card)).items()
            ]
            for index, button in enumerate(buttons_of(card)):
                if button_example(button):
                    samples.append(f"Card {number} button {index + 1} sample: {button_example(button)}")
    parts["Samples"] = samples
    return parts


def _card_lines(number: int, card: list) -> list[str]:
    """One card as a person reads it: its media kind, its text, its buttons."""
    kind = header_format(header_of(card))
    lines = [f"Card {number}: {kind.title() if kind else 'no'} header"]
    lines += [f"Card {number} text: {line}" for line in text_of(body_of(card)).splitlines()]
    lines += [f"Card {number} button: {_button_line(button, '')}" for button in buttons_of(card)]
    return lines


def _button_line(button: dict, opt_out_purpose: str) -> str:
    kind = button_type(button)
    label = ButtonKind(kind).label if kind in ButtonKind.values else kind
    line = f"{label}: {text_of(button)}" if text_of(button) else label
    if kind == ButtonType.URL:
        line += f" → {button_url(button)}"
    elif kind == ButtonType.PHONE_NUMBER:
        line += f" → {button.get('phone_number', '')}"
    if opt_out_purpose:
        line += f" (opts out of {opt_out_purpose})"
    return line


def _differences(before: Parts, after: Parts) -> tuple[Difference, ...]:
    differences = []
    for part in dict.fromkeys([*before, *after]):
        old, new = before.get(part, []), after.get(part, [])
        if old != new:
            differences.append(Difference(part, tuple(_line_diff(old, new))))
    return tuple(differences)


def _line_diff(old: Sequence[str], new: Sequence[str]) -> list[DiffLine]:
    lines = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        if tag == "equal":
            lines += [DiffLine(SAME, text) for text in old[i1:i2]]
            continue
        lines += [DiffLine(REMOVED, text) for text in old[i1:i2]]
        lines += [DiffLine(ADDED, text) for text in new[j1:j2]]
    return lines
