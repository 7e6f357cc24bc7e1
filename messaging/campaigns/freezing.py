"""What approval freezes: the content per language, the segment's rules, the bindings, the media,
the rate cap and the schedule (``Campaign.frozen``), and the segment version it was approved with.

Members are evaluated at send time from the frozen rules, so consent and opt-outs are current;
what the Approver saw (the template's approved content, who the rules select, how variables are
filled) does not move when the template, the segment or an included segment is edited later.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time

from contacts.models import Segment, SegmentVersion
from contacts.segments.services import segment_rules_resolved
from messaging.campaign_models import Campaign
from messaging.campaigns.languages import content_snapshot
from messaging.campaigns.schedule import first_send_at
from templates_app.models import Category, MessageTemplate, TemplateStatus

# Meta's quality verdicts that end by themselves: the template comes back APPROVED with its content.
QUALITY_HOLDS = frozenset({TemplateStatus.PAUSED, TemplateStatus.FLAGGED})
HOLD, CHANGED = "hold", "changed"


def campaign_freeze(campaign: Campaign, *, now: datetime) -> tuple[dict, SegmentVersion]:
    """The ``frozen`` document and the segment's current version, read now.

    Layout: ``default_language``, ``languages`` {code: template_id, version_id, category,
    parameter_format, components}, ``bindings`` (messaging.campaigns.languages.content_snapshot),
    ``rules`` (the segment's rules with every included segment written in place), ``segment``
    {id, version}, ``header_media``, ``rate_cap``, ``schedule``.
    """
    frozen, version = approval_document(campaign)
    # When the first member may get it, never before approval (messaging.campaigns.schedule).
    frozen["schedule"]["first_send_at"] = _iso(first_send_at(campaign, now=now))
    return frozen, version


def approval_document(campaign: Campaign) -> tuple[dict, SegmentVersion]:
    """What an Approver reads and approval freezes, but the members' first send time
    (``campaign_freeze``'s layout; ``four_eyes.campaign_fingerprint`` digests it)."""
    segment = Segment.objects.get(pk=campaign.segment_id)
    version = SegmentVersion.objects.get(segment=segment, version=segment.version)
    frozen = {**content_snapshot(campaign), **approval_settings(campaign)}
    frozen.update(
        rules=segment_rules_resolved(version),
        segment={"id": segment.pk, "version": version.version},
    )
    return frozen, version


def approval_settings(campaign: Campaign) -> dict:
    """The campaign's own settings in the frozen document: header media, rate cap, schedule."""
    return {
        "header_media": {
            "source": campaign.header_media_source,
            "link": campaign.header_media_link,
            "file": campaign.header_media_file.name if campaign.header_media_file else "",
            "mime": campaign.header_media_mime,
            "media_id": campaign.header_media_id,
            "uploaded_at": _iso(campaign.header_media_uploaded_at),
        },
        "rate_cap": campaign.rate_cap,
        "schedule": {
            "kind": campaign.schedule_kind,
            "send_at": _iso(campaign.send_at),
            "local_date": _iso(campaign.local_date),
            "local_time": _iso(campaign.local_time),
            "latest_send_at": _iso(campaign.latest_send_at),
        },
    }


def _iso(value: datetime | date | time | None) -> str | None:
    return value.isoformat() if value is not None else None


# --- what approval froze, against the templates as they are now ------------------------------------


@dataclass(frozen=True)
class Drift:
    """One frozen language whose template no longer is what was approved.

    ``kind``: HOLD (WhatsApp paused it for quality; it comes back by itself) or CHANGED (its
    approved content or category changed, or it left APPROVED for good: approve again).
    """

    language: str
    template_id: int
    kind: str
    message: str


def frozen_template_drift(campaign: Campaign, *, frozen: dict | None = None) -> list[Drift]:
    """Where the templates a campaign froze (or ``frozen``, a document about to be) differ from
    what WhatsApp has now; [] = as approved."""
    languages = ((campaign.frozen if frozen is None else frozen) or {}).get("languages") or {}
    ids = [item["template_id"] for item in languages.values()]
    rows = MessageTemplate.objects.select_related("approved_version").in_bulk(ids)
    drift = []
    for language, item in sorted(languages.items()):
        found = _drift(language, item, rows.get(item["template_id"]))
        if found is not None:
            drift.append(found)
    return drift


def lock_frozen_templates(frozen: dict) -> None:
    """Lock the template rows a document froze, in id order, until the transaction ends.

    ``templates_app.services`` changes a template under the same row lock and tells campaigns
    inside that transaction, so an approval holding these locks sees every change committed
    before it and every later change sees the approved campaign. It locks one row at a time and
    then campaigns; this takes templates first, then the campaign: the same order.
    """
    ids = sorted(item["template_id"] for item in (frozen.get("languages") or {}).values())
    list(MessageTemplate.objects.select_for_update().filter(pk__in=ids).order_by("pk").values_list("pk"))


def _drift(language: str, item: dict, row: MessageTemplate | None) -> Drift | None:
    if row is None:
        return Drift(language, item["template_id"], CHANGED, f"The {language} template no longer exists.")
    version = row.approved_version
    same_content = version is not None and (
        version.pk == item.get("version_id") or version.components == item.get("components")
    )
    if not same_content:
        return Drift(
            language,
            row.pk,
            CHANGED,
            f"WhatsApp's approved content of {row} is not the content that was approved"
            + (f" (now version {version.number})." if version is not None else "."),
        )
    category = _sent_as(row)
    if category != item.get("category"):
        return Drift(
            language,
            row.pk,
            CHANGED,
            f"WhatsApp re-categorised {row} from {item.get('category')} to {category}.",
        )
    if row.status in QUALITY_HOLDS:
        return Drift(
            language, row.pk, HOLD, f"WhatsApp paused {row} for its quality ({row.status_label.lower()})."
        )
    if row.status != TemplateStatus.APPROVED:
        return Drift(language, row.pk, CHANGED, f"{row} is {row.status_label.lower()} at WhatsApp.")
    return None


def _sent_as(row: MessageTemplate) -> str:
    # As messaging.campaigns.languages freezes it: MARKETING when the row or its version is.
    categories = {row.category, row.approved_version.category}
    return Category.MARKETING if Category.MARKETING in categories else row.category
