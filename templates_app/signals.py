"""What the templates app tells the apps above it when Meta changes a template.

A campaign freezes a template's approved content; what Meta later does to that template (pauses
it, disables it, re-categorises it, approves an edit) decides the campaign's fate. The templates
app may not import messaging (apps depend one way), so it announces the change and messaging
listens (``messaging.campaigns.template_fate``).

``template_changed`` is sent inside the transaction that writes the template's new state, after
the write. A receiver's writes therefore commit together with the change or not at all: a crash
between the commit and an ``on_commit`` hook would lose the reaction for good (nothing would ever
send it again), while a receiver that fails here rolls the template's change back and the
webhook or the sync that reported it tries again. Receivers must be quick and must not call Meta.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.dispatch import Signal

from core.actors import Actor

# sender: MessageTemplate; kwargs: template (the row as it is now), change (TemplateChange).
template_changed = Signal()


@dataclass(frozen=True)
class TemplateChange:
    """Before and after, for what a campaign cares about: status, category, approved content."""

    status_from: str
    status_to: str
    category_from: str
    category_to: str
    approved_version_from: int | None
    approved_version_to: int | None
    source: str
    actor: Actor

    @property
    def status_changed(self) -> bool:
        return self.status_from != self.status_to

    @property
    def category_changed(self) -> bool:
        return self.category_from != self.category_to

    @property
    def content_changed(self) -> bool:
        return self.approved_version_from != self.approved_version_to

    @property
    def anything(self) -> bool:
        return self.status_changed or self.category_changed or self.content_changed


def announce_template_change(template, change: TemplateChange) -> None:
    """Send ``template_changed`` when something a campaign cares about changed."""
    if change.anything:
        template_changed.send(sender=type(template), template=template, change=change)
