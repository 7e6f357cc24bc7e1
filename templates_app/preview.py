"""The editor's chat-bubble preview, rendered on the server by the one message renderer."""

from __future__ import annotations

from django.http import QueryDict
from django.template.loader import render_to_string

from templates_app.drafts import PENDING_UPLOAD_HANDLE, Draft, DraftButton
from templates_app.forms import SamplesField
from templates_app.rendering import render_message, whatsapp_markup_to_html

BUTTONS_PREFIX = "buttons"  # the inline formset's prefix (the related name)


def render_draft(draft: Draft) -> str:
    return render_bubble(components=draft.components(), use_examples=True)


def render_bubble(*, components, parameters=None, use_examples: bool = False) -> str:
    """The chat bubble for components and parameters: the editor's preview and the message log."""
    rendered = render_message(components=components, parameters=parameters, use_examples=use_examples)
    return render_to_string(
        "admin/templates_app/preview_bubble.html",
        {
            "message": rendered,
            "body_html": whatsapp_markup_to_html(rendered.body),
            "header_html": whatsapp_markup_to_html(rendered.header.text) if rendered.header else "",
            "footer_html": whatsapp_markup_to_html(rendered.footer),
        },
    )


def render_preview(template) -> str:
    return render_draft(Draft.from_template(template))


def preview_from_post(data: QueryDict) -> str:
    """Whatever has been typed so far, valid or not: the preview never refuses to draw."""
    return render_draft(_draft_from_post(data))


def _draft_from_post(data: QueryDict) -> Draft:
    try:
        samples = SamplesField().to_python(data.get("body_samples", ""))
    except Exception:  # a half-typed sample line: preview without samples
        samples = {}
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
        header_kind=header_kind,
        header_text=data.get("header_text", ""),
        header_sample=data.get("header_sample", ""),
        header_handle=PENDING_UPLOAD_HANDLE if header_kind not in ("", "TEXT") else "",
        body=data.get("body", ""),
        body_samples=samples,
        footer=data.get("footer", ""),
        add_security_recommendation=data.get("add_security_recommendation") in ("on", "true", "1"),
        code_expiration_minutes=expiration,
        otp_kind=data.get("otp_kind", ""),
        otp_button_text=data.get("otp_button_text", ""),
        buttons=_buttons_from_post(data),
    )


def _buttons_from_post(data: QueryDict) -> list[DraftButton]:
    try:
        total = min(int(data.get(f"{BUTTONS_PREFIX}-TOTAL_FORMS", 0)), 50)
    except ValueError:
        return []
    rows = []
    for index in range(total):
        prefix = f"{BUTTONS_PREFIX}-{index}-"
        if data.get(prefix + "DELETE") or not data.get(prefix + "kind"):
            continue
        try:
            position = int(data.get(prefix + "position") or 0)
        except ValueError:
            position = 0
        rows.append(
            (position, index, DraftButton.from_data(lambda name, prefix=prefix: data.get(prefix + name, "")))
        )
    return [button for _, _, button in sorted(rows, key=lambda row: row[:2])]
