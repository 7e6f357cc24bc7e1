"""Template tags for other apps' pages that show surveys: the inbox's start form, the contact's answers."""

from django import template

from surveys.models import Answer, Survey

register = template.Library()

CONTACT_ANSWERS_SHOWN = 20


@register.simple_tag
def active_surveys():
    """The surveys an agent may start: active ones, by name."""
    return list(Survey.objects.filter(active=True).only("pk", "name", "language", "purpose").order_by("name"))


@register.simple_tag
def contact_survey_answers(contact):
    """The contact's latest answers (one query) for the contact page's section."""
    return list(
        Answer.objects.filter(contact=contact)
        .select_related("run__survey")
        .order_by("-answered_at", "-id")[:CONTACT_ANSWERS_SHOWN]
    )
