"""Tagging the person who presses a template's quick-reply button ("Reschedule" → tag "reschedule").

The worked example (docs/examples/appointment-scheduling.md): a reminder's "Reschedule" press lands in
the support inbox like every message a person sends; the tag a ``ButtonTag`` names is added to the
contact, so agents find those people by tag (the contact list's tag filter) and segments can use it.
"""

from __future__ import annotations

from contacts.models import Tag
from contacts.services import log_activity
from messaging.models import InboundMessage
from surveys.models import ButtonTag
from surveys.presses import press_of
from surveys.services import TRIGGER_ACTOR


def tag_from_press(*, inbound: InboundMessage) -> list[Tag]:
    """Add the tags of every active ``ButtonTag`` for the button ``inbound`` pressed; returns the
    tags the contact did not have yet (each addition is logged on the contact)."""
    press = press_of(inbound)
    if press is None:
        return []
    rules = ButtonTag.objects.filter(active=True, template_id=press.template_id).select_related("tag")
    tags = [rule.tag for rule in rules if press.matches(rule.template_id, rule.button_text)]
    contact = inbound.contact
    had = set(contact.tags.filter(pk__in=[tag.pk for tag in tags]).values_list("pk", flat=True))
    added = [tag for tag in tags if tag.pk not in had]
    if added:
        contact.tags.add(*added)
        log_activity(
            actor=TRIGGER_ACTOR,
            action="contact.tagged",
            obj=contact,
            details={
                "tags": [tag.name for tag in added],
                "button": inbound.text,
                "inbound_message": inbound.pk,
            },
        )
    return added
