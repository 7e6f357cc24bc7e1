"""Which rows of a template a campaign sends, to whom, and the purpose their categories require.

A template exists once per language at Meta, each row with its own status and category. A campaign
names its default language's row; every other APPROVED row of the same name is a translation.
Each contact gets the translation for their ``Contact.language``, found in this order
(docs/campaign-content.md):

1. the same code (``pt_BR`` → ``pt_BR``);
2. the base language (``en_US`` → ``en``);
3. another region of the same language (``en_US`` → ``en_GB``): the default language when it is
   one, else the first such code in alphabetical order, so the choice never depends on the order
   rows were created in;
4. the campaign's default language (also for an empty or unknown code).

:func:`language_expression` is that rule as one SQL ``CASE`` over ``Contact.language`` (the
eligibility query annotates each recipient with it); :func:`language_for` is the same rule in
Python, for one contact, from the same table.

What a campaign sends is *its content*: the approved version of each language's row while it is
being written and reviewed, and the copy frozen at approval afterwards (:func:`campaign_content`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db.models import CharField, Expression, Q, Value
from django.db.models.expressions import Case, When

from contacts.languages import META_LANGUAGES
from core.errors import ApplicationError
from messaging.campaign_models import Campaign, CampaignStatus
from messaging.sending.rules import template_purpose
from templates_app.components import FrozenComponents
from templates_app.models import Category, MessageTemplate, TemplateStatus

# While a campaign is written or awaiting approval, it shows the live template and bindings; from
# approval on it sends what was approved (``Campaign.frozen``).
LIVE_STATUSES = frozenset({CampaignStatus.DRAFT, CampaignStatus.PENDING_APPROVAL})


def template_languages(template: MessageTemplate) -> dict[str, MessageTemplate]:
    """The APPROVED rows sharing ``template``'s name, by language (the default's row included when
    approved; an empty dict when no row is)."""
    rows = MessageTemplate.objects.filter(
        name=template.name, status=TemplateStatus.APPROVED, approved_version__isnull=False
    ).select_related("approved_version")
    return {row.language: row for row in rows}


def _category_of(row: MessageTemplate) -> str:
    """The category a row is sent as: MARKETING when Meta has it or its approved version as
    MARKETING (Meta may re-categorise a template after approval), else the row's own."""
    categories = {row.category, row.approved_version.category if row.approved_version_id else row.category}
    return Category.MARKETING if Category.MARKETING in categories else row.category


def campaign_template_check(template: MessageTemplate) -> str:
    """The purpose a campaign with this template needs consent for.

    Refused when the default row is not approved, when it is an AUTHENTICATION template (a one-time
    code is made for one person at one moment, never for an audience), or when the languages'
    categories differ (each row has its own category at Meta, and one campaign asks one consent):
    the message names the language that differs.
    """
    template.refresh_from_db(fields=["status", "approved_version", "category"])
    if template.status != TemplateStatus.APPROVED or template.approved_version_id is None:
        raise ApplicationError(
            f"The template {template} is not approved by WhatsApp ({template.status_label.lower()}); "
            "a campaign sends an approved template only.",
            code="campaign_template_not_approved",
            field="template",
        )
    default_category = _category_of(template)
    if default_category == Category.AUTHENTICATION:
        raise ApplicationError(
            f"The template {template} is an AUTHENTICATION template: its one-time code is made for one "
            "person at one moment, so it is never sent as a campaign.",
            code="campaign_template_authentication",
            field="template",
        )
    for language, row in sorted(template_languages(template).items()):
        category = _category_of(row)
        if category != default_category:
            raise ApplicationError(
                f"The template {template.name} is {category} in {language} but {default_category} in "
                f"{template.language} (the default language): one campaign asks one consent, so its "
                f"languages must share one category. Send the {language} translation in a campaign "
                "of its own, or ask WhatsApp to review its category.",
                code="campaign_categories_differ",
                field="template",
                details={"language": language, "category": category, "default_category": default_category},
            )
    return template_purpose(default_category)


# --- which language each contact gets ----------------------------------------------------------


def _base(code: str) -> str:
    return code.split("_", 1)[0]


def language_table(languages: Iterable[str], default: str) -> dict[str, str]:
    """Contact language code → the template language it gets, for every code a contact may have
    (Meta's list and the template's own codes); codes not listed get ``default``."""
    available = sorted(set(languages) | {default})
    table: dict[str, str] = {}
    for code in sorted(set(META_LANGUAGES) | set(available)):
        base = _base(code)
        if code in available:
            table[code] = code
        elif base in available:
            table[code] = base
        else:
            siblings = [other for other in available if _base(other) == base]
            if default in siblings:
                table[code] = default
            elif siblings:
                table[code] = siblings[0]
            else:
                table[code] = default
    return table


def gets_language_q(languages: Iterable[str], default: str, targets: Iterable[str]) -> Q:
    """``Q`` on ``Contact``: the contact gets one of ``targets`` — ``language_expression`` in ``targets``,
    written on the indexed column itself (the same table: codes not in it get the default)."""
    table = language_table(languages, default)
    targets = set(targets)
    if default in targets:
        return ~Q(language__in=sorted(code for code, target in table.items() if target not in targets))
    return Q(language__in=sorted(code for code, target in table.items() if target in targets))


def language_for(languages: Iterable[str], default: str, contact_language: str) -> str:
    """The template language a contact whose language is ``contact_language`` gets."""
    return language_table(languages, default).get(contact_language or "", default)


def language_expression(languages: Iterable[str], default: str) -> Expression:
    """``Contact`` → the language code it gets, as one SQL ``CASE`` on ``Contact.language``.

    One ``WHEN language IN (…)`` per template language; everything else (empty, unknown) gets the
    default, so the expression is never NULL.
    """
    groups: dict[str, list[str]] = {}
    for code, target in language_table(languages, default).items():
        if target != default:
            groups.setdefault(target, []).append(code)
    whens = [When(language__in=codes, then=Value(target)) for target, codes in sorted(groups.items())]
    if not whens:
        return Value(default, output_field=CharField())
    return Case(*whens, default=Value(default), output_field=CharField())


# --- what a campaign sends: live or frozen ------------------------------------------------------


@dataclass(frozen=True)
class LanguageContent:
    """One language of a campaign: the template row it is sent as and the approved content."""

    language: str
    template_id: int
    version_id: int | None
    category: str
    parameter_format: str
    components: Any

    def template(self) -> MessageTemplate:
        return MessageTemplate.objects.get(pk=self.template_id)


@dataclass(frozen=True)
class CampaignContent:
    default_language: str
    languages: Mapping[str, LanguageContent]
    bindings: Any
    frozen: bool

    @property
    def default(self) -> LanguageContent:
        return self.languages[self.default_language]

    def for_language(self, language: str | None) -> LanguageContent:
        """The content for a template language; the default for None. Refused for a language the
        campaign does not send."""
        if language is None:
            return self.default
        if language not in self.languages:
            raise ApplicationError(
                f"The campaign is not sent in “{language}”; its languages are "
                f"{', '.join(sorted(self.languages))}.",
                code="campaign_language_unknown",
                field="language",
            )
        return self.languages[language]

    def language_for_contact(self, contact_language: str) -> str:
        return language_for(self.languages, self.default_language, contact_language)


def _row_content(row: MessageTemplate) -> LanguageContent:
    version = row.approved_version
    return LanguageContent(
        language=row.language,
        template_id=row.pk,
        version_id=version.pk if version else None,
        category=_category_of(row),
        parameter_format=version.parameter_format if version else row.parameter_format,
        components=version.components if version else [],
    )


def content_snapshot(campaign: Campaign) -> dict:
    """The content part of ``Campaign.frozen``, written at approval: the default language, each
    language's row, approved version and components, and the bindings. JSON-friendly."""
    content = _live_content(campaign)
    return {
        "default_language": content.default_language,
        "languages": {
            code: {
                "template_id": item.template_id,
                "version_id": item.version_id,
                "category": item.category,
                "parameter_format": item.parameter_format,
                "components": item.components,
            }
            for code, item in content.languages.items()
        },
        "bindings": content.bindings,
    }


def _live_content(campaign: Campaign) -> CampaignContent:
    template = campaign.template
    rows = template_languages(template)
    if template.language not in rows:
        # Not approved (any more): the default row alone, so the preview can still draw what it had.
        rows = {template.language: template}
    return CampaignContent(
        default_language=template.language,
        languages={code: _row_content(row) for code, row in rows.items()},
        bindings=campaign.bindings,  # as stored, well-formed or not: bindings.binding_problems says
        frozen=False,
    )


def _frozen_content(frozen: Mapping[str, Any]) -> CampaignContent:
    languages = {
        code: LanguageContent(
            language=code,
            template_id=item["template_id"],
            version_id=item.get("version_id"),
            category=item.get("category", ""),
            parameter_format=item.get("parameter_format", "POSITIONAL"),
            components=FrozenComponents(item.get("components", [])),  # frozen: read once
        )
        for code, item in frozen["languages"].items()
    }
    return CampaignContent(
        default_language=frozen["default_language"],
        languages=languages,
        bindings=frozen.get("bindings") or {},
        frozen=True,
    )


def campaign_content(campaign: Campaign) -> CampaignContent:
    """What the campaign sends: the frozen copy from approval on, the live template and bindings
    while it is a draft or awaits approval (or when nothing was frozen)."""
    frozen = campaign.frozen if isinstance(campaign.frozen, dict) else {}
    if campaign.status not in LIVE_STATUSES and frozen.get("languages") and frozen.get("default_language"):
        return _frozen_content(frozen)
    return _live_content(campaign)
