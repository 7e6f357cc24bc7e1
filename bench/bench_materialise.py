"""Materialising a campaign to a million contacts on PostgreSQL: ``campaign_materialise`` vs a hand-written
``INSERT … SELECT`` of the same rows.

The audience is the campaign preview bench's (``bench_campaign_preview``: 1,000,000 contacts with a
realistic mix of numbers, zones, consent, missing values; its builder is reused, and its marketing
campaign, in English and German). The campaign is frozen and started here; both sides then write
one ``OutboundMessage`` per member of its segment: queued for those who may get it, skipped with
the reason for the rest, one queued row per WhatsApp address (``duplicate_address``; one German
contact in a thousand is given the number of another as its WhatsApp id, so the window has work).

Ours is ``messaging.campaigns.materialise.campaign_materialise`` end to end (the campaign locked and
read, the frozen rules compiled, the members' zone classes, the INSERT, the counts afterwards). The
hand query is ONE statement a person would write for the same rows — same columns, the same
consent join with its proof, the same exclusions in the same order, the same deduplication —
checked row for row against ours by an order-independent checksum. Quiet hours are off
(``MARKETING_SENDING_HOURS=""``) on both sides, so every queued row is due at the campaign's
moment and the hand query needs no time-zone arithmetic; ours still maps its zone classes.

Each run is rolled back (and the table vacuumed, outside the timing), so every run inserts into the
same table. Interleaved runs, medians compared (goal: ours ≤ 1.25 × the hand query).

``BENCH_DATABASE_URL`` (default ``postgres://postgres@127.0.0.1:5432/whatsapp_bench_materialise``) is
created, migrated and filled if it does not hold the data yet, and kept for the next run.
``BENCH_MATERIALISE_CONTACTS`` sets the audience size for a new database (default 1,000,000).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = 3
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/whatsapp_bench_materialise"


def main() -> dict:
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "true",
        "MARKETING_SENDING_HOURS": "",
    }
    result = subprocess.run(
        [sys.executable, __file__, "--child"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=7200,
    )
    if result.returncode != 0:
        return {"error": result.stderr.strip().splitlines()[-1] if result.stderr else "failed"}
    return json.loads(result.stdout.strip().splitlines()[-1])


# The same rows by hand. The exclusions and the membership are the preview bench's hand SQL (the
# consent read with its proof); the language is the template's two; the address is
# ``recipient_address``.
def _hand_sql() -> str:
    from bench.bench_campaign_preview import _MEMBERS, _REASON

    return f"""
    INSERT INTO messaging_outboundmessage (public_id, contact_id, kind, purpose, is_reply,
        template_version_id, parameters, content, rendered_text, campaign_id, is_test, status, hold_reason,
        next_attempt_at, attempt_count, error_class, error_text, needs_review, created_at, finished_at,
        updated_at, actor_kind, actor_ref, actor_label)
    SELECT gen_random_uuid(), y.id, 'template', 'marketing', false,
        CASE y.language WHEN 'de' THEN %(de)s ELSE %(en)s END, '{{}}'::jsonb, '{{}}'::jsonb, '',
        %(campaign)s, false, CASE WHEN y.reason IS NULL THEN 'queued' ELSE 'skipped' END, '',
        CASE WHEN y.reason IS NULL THEN %(now)s::timestamptz END, 0, coalesce(y.reason, ''),
        CASE y.reason {{texts}} ELSE '' END, false, %(now)s,
        CASE WHEN y.reason IS NOT NULL THEN %(now)s::timestamptz END, %(now)s,
        'system', '', 'campaign dispatcher'
    FROM (
        SELECT x.id, x.language, coalesce(x.excluded, CASE WHEN row_number() OVER (
            PARTITION BY x.address, x.excluded ORDER BY x.id) > 1 THEN 'duplicate_address' END) AS reason
        FROM (
            SELECT c.id, {_REASON} AS excluded,
                CASE WHEN c.language IN ('de', 'de_AT', 'de_CH') THEN 'de' ELSE 'en' END AS language,
                CASE WHEN coalesce(c.wa_id, '') <> '' THEN '+' || ltrim(c.wa_id, '+') ELSE c.phone END
                    AS address
            {_MEMBERS}
        ) x
    ) y
    ON CONFLICT DO NOTHING
    """


# One German contact in a thousand gets, as its WhatsApp id, the number of the contact before it:
# two rows for one phone, not merged yet (the preview's data has none). Repeatable: done once.
SAME_ADDRESS = """
    UPDATE contacts_contact b SET wa_id = substr(a.phone, 2)
    FROM contacts_contact a
    WHERE b.id = a.id + 1 AND mod(a.id, 1000) = 0 AND a.wa_id IS NULL AND b.wa_id IS NULL
      AND a.phone LIKE '+49%' AND b.phone LIKE '+49%'
"""
CHECKSUM = """
    SELECT count(*), coalesce(sum(hashtext(contact_id::text || status || error_class || error_text
        || coalesce(template_version_id::text, '') || coalesce(next_attempt_at::text, '') || purpose
        || actor_label)::bigint), 0)
    FROM messaging_outboundmessage WHERE campaign_id = %s
"""
BY_STATE = """
    SELECT status, error_class, count(*) FROM messaging_outboundmessage WHERE campaign_id = %s
    GROUP BY status, error_class ORDER BY status, error_class
"""


class _RollBack(Exception):
    pass


def _child() -> dict:
    sys.path.insert(0, str(ROOT))
    import bench.bench_campaign_preview as preview_bench

    preview_bench.CONTACTS = int(os.environ.get("BENCH_MATERIALISE_CONTACTS", 1_000_000))
    preview_bench._fresh_database(os.environ["DATABASE_URL"])
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.utils import timezone

    from messaging.campaign_models import Campaign, CampaignStatus
    from messaging.campaigns.bindings import WHITESPACE
    from messaging.campaigns.eligibility import Exclusion, us_area_codes
    from messaging.campaigns.freezing import campaign_freeze
    from messaging.campaigns.languages import campaign_content
    from messaging.campaigns.materialise import CampaignSkip, campaign_materialise

    call_command("migrate", verbosity=0)
    if not Campaign.objects.filter(name=preview_bench.CAMPAIGN).exists():
        preview_bench._setup()
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    with connection.cursor() as cursor:
        cursor.execute(SAME_ADDRESS)
    campaign = Campaign.objects.get(name=preview_bench.CAMPAIGN)
    now = timezone.now()
    frozen, version = campaign_freeze(campaign, now=now)
    frozen["purpose"] = "marketing"
    Campaign.objects.filter(pk=campaign.pk).update(
        status=CampaignStatus.SENDING,
        frozen=frozen,
        segment_version=version,
        approved_at=now,
        started_at=now,
        latest_send_at=None,
    )
    campaign.refresh_from_db()
    content = campaign_content(campaign)
    texts = {**{reason.value: reason.label for reason in Exclusion}, **CampaignSkip.TEXT}
    params = {
        "now": now,
        "campaign": campaign.pk,
        "de": content.languages["de"].version_id,
        "en": content.languages["en"].version_id,
        "us": sorted(us_area_codes()),
        "ws": WHITESPACE,
    }
    cases = " ".join(
        f"WHEN '{code}' THEN '{text.replace(chr(39), chr(39) * 2)}'" for code, text in texts.items()
    )
    hand_sql = _hand_sql().replace("{texts}", cases)

    def run(side: str) -> tuple[float, tuple, list]:
        try:
            with transaction.atomic():
                started = time.perf_counter()
                if side == "ours":
                    campaign_materialise(campaign=campaign, now=now)
                else:
                    with connection.cursor() as cursor:
                        cursor.execute(hand_sql, params)
                elapsed = time.perf_counter() - started
                with connection.cursor() as cursor:
                    cursor.execute(CHECKSUM, [campaign.pk])
                    checksum = cursor.fetchone()
                    cursor.execute(BY_STATE, [campaign.pk])
                    states = cursor.fetchall()
                raise _RollBack
        except _RollBack:
            pass
        with connection.cursor() as cursor:
            cursor.execute("VACUUM messaging_outboundmessage")
        return elapsed, checksum, states

    samples: dict[str, list[float]] = {"ours": [], "hand": []}
    seen: dict[str, tuple] = {}
    states: list = []
    for number in range(RUNS):
        for side in ("ours", "hand") if number % 2 == 0 else ("hand", "ours"):
            elapsed, checksum, by_state = run(side)
            samples[side].append(elapsed)
            seen[side] = checksum
            states = by_state
        assert seen["ours"] == seen["hand"], f"the two sides wrote different rows: {seen}"
    median = {side: statistics.median(values) for side, values in samples.items()}
    return {
        "contacts": preview_bench.CONTACTS,
        "rows written": seen["ours"][0],
        **{f"{status} {reason}".strip(): count for status, reason, count in states},
        "campaign_materialise (median s)": round(median["ours"], 2),
        "hand INSERT … SELECT (median s)": round(median["hand"], 2),
        "runs (s), ours": [round(v, 2) for v in samples["ours"]],
        "runs (s), hand": [round(v, 2) for v in samples["hand"]],
        "ours / hand (goal <= 1.25)": round(median["ours"] / median["hand"], 2),
    }


if __name__ == "__main__":
    if "--child" in sys.argv:
        print(json.dumps(_child()))
    else:
        print(main())
