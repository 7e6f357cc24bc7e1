"""Which rows of a template a campaign sends, and the purpose their categories require.

A template exists once per language at Meta, each row with its own status and category. A campaign
names its default language's row; every other APPROVED row of the same name is a translation.

Minimal version written by the workflow (campaign_template_check, template_languages); the
content side owns this module and completes it (language_expression).
"""

from __future__ import annotations

from core.errors import ApplicationError
from messaging.sending.rules import template_purpose
from templates_app.models import MessageTemplate, TemplateStatus


def template_languages(template: MessageTemplate) -> dict[str, MessageTemplate]:
    """The APPROVED rows sharing ``template``'s name, by language (the default's row included when
    approved)."""
    rows = MessageTemplate.objects.filter(
        name=template.name, status=TemplateStatus.APPROVED, approved_version__isnull=False
    ).select_related("approved_version")
    return {row.language: row for row in rows}


def campaign_template_check(template: MessageTemplate) -> str:
    """The purpose a campaign with this template needs consent for; refused when the default row
    is not approved or the languages' categories differ (each row has its own category at Meta,
    and one campaign asks one consent)."""
    template.refresh_from_db(fields=["status", "approved_version", "category"])
    if template.status != TemplateStatus.APPROVED or template.approved_version_id is None:
        raise ApplicationError(
            f"The template {template} is not approved by WhatsApp ({template.status_label.lower()}); "
            "a campaign sends an approved template only.",
            code="campaign_template_not_approved",
            field="template",
        )
    languages = template_languages(template)
    default_category = template.approved_version.category
    for language, row in sorted(languages.items()):
        categories = {row.category, row.approved_version.category}
        if categories != {default_category}:
            raise ApplicationError(
                f"The template's {language} version is {row.category.lower()}, but the default "
                f"({template.language}) is {default_category.lower()}: one campaign sends one category.",
                code="campaign_categories_differ",
                field="template",
                details={"language": language},
            )
    return template_purpose(default_category, template.category)
