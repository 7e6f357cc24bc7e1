"""A press on a template's quick-reply button: which template, which button.

Meta's ``button`` webhook carries the button's label (and its payload) and quotes the template
message it answers (``context``), which the webhook links as ``in_reply_to``; the template is that
message's. A press on a template's opt-out button is the consent code's (``messaging.webhooks.
consent``) and never starts or tags anything here, so a trigger can never swallow an opt-out.
"""

from __future__ import annotations

from dataclasses import dataclass

from messaging.models import InboundMessage
from messaging.webhooks.consent import OPT_OUT_PAYLOAD_PREFIX
from messaging.webhooks.envelope import as_dict, text
from messaging.webhooks.keywords import normalize
from templates_app.components import ButtonType, button_type, buttons_of
from templates_app.models import ButtonKind, MessageTemplate


@dataclass(frozen=True)
class Press:
    template_id: int
    label: str  # normalised, as labels are compared

    def matches(self, template_id: int | None, label: str) -> bool:
        return template_id == self.template_id and normalize(label) == self.label


def press_of(inbound: InboundMessage) -> Press | None:
    """The template button ``inbound`` pressed; None for other messages and for opt-out buttons."""
    if inbound.type != "button":
        return None
    button = as_dict(inbound.payload.get("button"))
    label = normalize(text(button.get("text")) or inbound.text)
    if not label or text(button.get("payload")).startswith(OPT_OUT_PAYLOAD_PREFIX):
        return None
    message = inbound.in_reply_to
    version = message.template_version if message is not None else None
    if version is None:
        return None
    buttons = buttons_of(version.components)
    index = version.opt_out_button_index
    if index is not None and index < len(buttons) and normalize(text(buttons[index].get("text"))) == label:
        return None
    return Press(template_id=version.template_id, label=label)


def quick_reply_labels(template: MessageTemplate) -> list[str]:
    """The labels of ``template``'s quick-reply buttons that may start or tag something: not its
    opt-out button. The approved version's when there is one (what people receive), else the draft's."""
    version = template.approved_version
    if version is not None:
        buttons = buttons_of(version.components)
        return [
            text(button.get("text"))
            for index, button in enumerate(buttons)
            if button_type(button) == ButtonType.QUICK_REPLY and index != version.opt_out_button_index
        ]
    return [
        button.text
        for button in template.buttons.all()
        if button.kind == ButtonKind.QUICK_REPLY and not button.opt_out_purpose
    ]


def label_problem(template: MessageTemplate | None, label: str) -> str:
    """Why ``label`` is not a quick reply of ``template`` that may start or tag something ("" if it is)."""
    if template is None:
        return ""
    labels = quick_reply_labels(template)
    if normalize(label) in {normalize(each) for each in labels}:
        return ""
    if not labels:
        return f"{template} has no quick-reply button (other than an opt-out button)."
    return f"“{label}” is not a quick-reply button of {template}; its buttons are: {', '.join(labels)}."
