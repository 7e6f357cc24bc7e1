"""The editor's chat-bubble preview, rendered on the server by the one message renderer.

A carousel's cards are drawn as a horizontal strip under the message text. Sample files are stored
outside any public URL (like every file in default storage here): a saved template's preview shows
a saved sample picture through the template admin's staff-only sample view (``CardMedia.url``,
``header_url``); in the live preview the page's script puts the picture just chosen in the card
(``data-media-input`` names the file field), without sending the file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.http import QueryDict
from django.template.loader import render_to_string

from templates_app.drafts import PENDING_UPLOAD_HANDLE, Draft, DraftButton, DraftCard
from templates_app.forms import SamplesField, card_sample_url, header_sample_url
from templates_app.models import HeaderKind, TemplateKind
from templates_app.rendering import render_message, whatsapp_markup_to_html

BUTTONS_PREFIX = "buttons"  # the inline formset's prefix (the related name)
CARDS_PREFIX = "cards"  # the card inline's prefix (the related name)
MAX_ROWS = 50  # rows read from a posted formset; Meta allows far fewer, the rest is noise


@dataclass(frozen=True)
class CardMedia:
    """What the preview knows of a card's sample file: its name, and the form field it is chosen in."""

    name: str = ""
    input: str = ""
    url: str = ""  # the saved sample's staff-only view, drawn as the card's picture ("" = none)


def render_draft(
    draft: Draft, *, card_media: Sequence[CardMedia] = (), header_input: str = "", header_url: str = ""
) -> str:
    return render_bubble(
        components=draft.components(),
        use_examples=True,
        card_media=card_media,
        header_input=header_input,
        header_url=header_url,
    )


def render_bubble(
    *,
    components,
    parameters=None,
    use_examples: bool = False,
    card_media: Sequence[CardMedia] = (),
    header_input: str = "",
    header_url: str = "",
) -> str:
    """The chat bubble for components and parameters: the editor's preview and the message log."""
    rendered = render_message(components=components, parameters=parameters, use_examples=use_examples)
    cards = [
        {
            "card": card,
            "body_html": whatsapp_markup_to_html(card.body),
            "media": card_media[card.index] if card.index < len(card_media) else CardMedia(),
        }
        for card in rendered.cards
    ]
    return render_to_string(
        "admin/templates_app/preview_bubble.html",
        {
            "message": rendered,
            "body_html": whatsapp_markup_to_html(rendered.body),
            "header_html": whatsapp_markup_to_html(rendered.header.text) if rendered.header else "",
            "header_input": header_input,
            "header_url": header_url,
            "footer_html": whatsapp_markup_to_html(rendered.footer),
            "cards": cards,
        },
    )


def render_preview(template) -> str:
    """The saved template's bubble, with its saved sample pictures (images only: a video or a
    document is named, not played)."""
    saved_cards = list(template.cards.all()) if template.pk else []
    draft = Draft.from_template(template, cards=saved_cards)
    media = []
    if draft.kind == TemplateKind.CAROUSEL and template.pk:
        # The card rows of the editor are these cards in this order (the inline's queryset).
        media = [
            CardMedia(
                name=_file_name(card.header_media),
                input=f"{CARDS_PREFIX}-{index}-header_media",
                url=card_sample_url(template.pk, card.pk)
                if card.header_media and card.header_kind == HeaderKind.IMAGE
                else "",
            )
            for index, card in enumerate(saved_cards)
        ]
    image_header = draft.kind != TemplateKind.CAROUSEL and draft.header_kind == HeaderKind.IMAGE
    return render_draft(
        draft,
        card_media=media,
        header_input="header_media" if image_header else "",
        header_url=header_sample_url(template.pk)
        if image_header and template.pk and template.header_media
        else "",
    )


def _file_name(field_file) -> str:
    return field_file.name.rsplit("/", 1)[-1] if field_file else ""


def preview_from_post(data: QueryDict) -> str:
    """Whatever has been typed so far, valid or not: the preview never refuses to draw.

    The page's script posts the form without its files; a file field carries the chosen file's
    name, or the saved sample's (which the first drawing of the page named).
    """
    cards = _cards_from_post(data)
    draft = _draft_from_post(data, [card for card, _ in cards])
    header_input = "header_media" if draft.header_kind == HeaderKind.IMAGE else ""
    return render_draft(draft, card_media=[media for _, media in cards], header_input=header_input)


def _samples(text: str) -> dict[str, str]:
    try:
        return SamplesField().to_python(text)
    except Exception:  # a half-typed sample line: preview without samples
        return {}


def _draft_from_post(data: QueryDict, cards: Sequence[DraftCard] = ()) -> Draft:
    samples = _samples(data.get("body_samples", ""))
    header_kind = data.get("header_kind", "")
    try:
        expiration = int(data.get("code_expiration_minutes") or "") or None
    except ValueError:
        expiration = None
    return Draft(
        name=data.get("name", ""),
        language=data.get("language", ""),
        category=data.get("category", ""),
        parameter_format=data.get("parameter_format", "POSITIONAL"),
        kind=data.get("kind") or TemplateKind.STANDARD,
        offer_text=data.get("offer_text", ""),
        offer_has_expiration=_checked(data.get("offer_has_expiration")),
        header_kind=header_kind,
        header_text=data.get("header_text", ""),
        header_sample=data.get("header_sample", ""),
        header_handle=PENDING_UPLOAD_HANDLE if header_kind not in ("", "TEXT") else "",
        body=data.get("body", ""),
        body_samples=samples,
        footer=data.get("footer", ""),
        add_security_recommendation=_checked(data.get("add_security_recommendation")),
        code_expiration_minutes=expiration,
        otp_kind=data.get("otp_kind", ""),
        otp_button_text=data.get("otp_button_text", ""),
        buttons=_buttons_from_post(data),
        cards=cards,
    )


def _checked(value) -> bool:
    return value in ("on", "true", "True", "1")


def _total_forms(data: QueryDict, prefix: str) -> int:
    try:
        return max(0, min(int(data.get(f"{prefix}-TOTAL_FORMS", 0)), MAX_ROWS))
    except ValueError:
        return 0


def _position(data: QueryDict, prefix: str) -> int:
    try:
        return int(data.get(prefix + "position") or 0)
    except ValueError:
        return 0


def _cards_from_post(data: QueryDict) -> list[tuple[DraftCard, CardMedia]]:
    """The card rows in position order, skipping deleted rows and untouched extra ones.

    An extra row the editor never touched has no id, text, button or file; a saved card or one
    with only a chosen picture is still a card.
    """
    rows = []
    for index in range(_total_forms(data, CARDS_PREFIX)):
        prefix = f"{CARDS_PREFIX}-{index}-"

        def get(name, prefix=prefix):
            return data.get(prefix + name, "")

        file_name = get("header_media")
        touched = get("id") or get("body").strip() or file_name or get("button1_kind") or get("button2_kind")
        if get("DELETE") or not touched:
            continue
        card = DraftCard.from_data(
            lambda name, get=get: _samples(get(name)) if name == "body_samples" else get(name),
            header_handle=PENDING_UPLOAD_HANDLE,
        )
        media = CardMedia(name=file_name, input=prefix + "header_media")
        rows.append((_position(data, prefix), index, card, media))
    return [(card, media) for _, _, card, media in sorted(rows, key=lambda row: row[:2])]


def _buttons_from_post(data: QueryDict) -> list[DraftButton]:
    total = _total_forms(data, BUTTONS_PREFIX)
    rows = []
    for index in range(total):
        prefix = f"{BUTTONS_PREFIX}-{index}-"
        if data.get(prefix + "DELETE") or not data.get(prefix + "kind"):
            continue
        position = _position(data, prefix)
        rows.append(
            (position, index, DraftButton.from_data(lambda name, prefix=prefix: data.get(prefix + name, "")))
        )
    return [button for _, _, button in sorted(rows, key=lambda row: row[:2])]
