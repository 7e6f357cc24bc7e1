"""A campaign preview over a million contacts on PostgreSQL: ``campaign_preview`` vs the same counts by hand.

A marketing campaign (the demo's ``spring_promotion`` in English and German, its first variable
bound to the first name and its coupon button to a custom field, neither with a fallback) to a
segment of 1,000,000 contacts with a realistic mix: German numbers, US and Canadian ones, Australian
mobiles (a number spanning eight zones), a few with a time zone of their own, some without any
address, some known not to be on WhatsApp; marketing consent for ~70% (one in seven an opt-out, one
in twenty with a second event that changed it), missing first names and coupons, open windows,
recent marketing messages (some people at the frequency cap) and messages that used today's budget.

Ours is ``messaging.campaigns.preview.campaign_preview`` end to end (the campaign's content and
rules read, the rules compiled, the grouped query, the zone classes' moments and quiet hours, the
budget); the hand query is ONE SQL statement a person would write for the same figures — every
exclusion count with the same rules (consent read with its proof), receivers per language, held for
quiet hours (``AT TIME ZONE`` at both ends of the span), at the frequency cap, free of the budget.
A second hand query counts only the exclusions, for scale. Interleaved runs, medians compared
(goal: ours ≤ 1.5 × the full hand query).

Needs PostgreSQL: ``BENCH_DATABASE_URL`` (default
``postgres://postgres@127.0.0.1:5432/whatsapp_bench_campaign_preview``), created, migrated and
filled with ``INSERT … SELECT generate_series`` if it does not hold the bench's data yet, and kept
for the next run (filling takes a few minutes). ``--explain`` prints the plans.
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
CONTACTS = 1_000_000
RUNS = 5
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/whatsapp_bench_campaign_preview"
CAMPAIGN = "bench preview"


def main() -> dict:
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "config.settings", "DEBUG": "true"}
    result = subprocess.run(
        [sys.executable, __file__, "--child", *sys.argv[1:]],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    if result.returncode != 0:
        return {"error": result.stderr.strip().splitlines()[-1] if result.stderr else "failed"}
    if "--explain" in sys.argv:
        print(result.stdout)
    return json.loads(result.stdout.strip().splitlines()[-1])


def _fresh_database(url: str) -> None:
    """Create the database, or drop and create it when it holds a partial fill from an earlier run."""
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
    if exists:
        with psycopg.connect(url, autocommit=True) as conn:
            migrated = conn.execute("SELECT to_regclass('messaging_campaign') IS NOT NULL").fetchone()[0]
            filled = (
                migrated
                and conn.execute("SELECT 1 FROM messaging_campaign WHERE name = %s", [CAMPAIGN]).fetchone()
            )
        if filled:
            return
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        if exists:
            conn.execute(f'DROP DATABASE "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')


def r(column: str, salt: int, n: int) -> str:
    """A stable pseudo-random number in [0, n) per row (and per salt)."""
    return f"mod(abs(hashint8(({column} + {salt})::bigint)), {n})"


# Per mille of the contacts: no address, US, Canadian, Australian mobile; the rest German.
_KIND = f"""CASE WHEN {r("g", 1, 1000)} < 5 THEN 'none' WHEN {r("g", 1, 1000)} < 55 THEN 'us'
    WHEN {r("g", 1, 1000)} < 75 THEN 'ca' WHEN {r("g", 1, 1000)} < 105 THEN 'au' ELSE 'de' END"""
_OWN_ZONES = "ARRAY['Asia/Tokyo', 'Europe/London', 'America/Sao_Paulo', 'Asia/Kolkata', 'Europe/Madrid']"


def _fill(connection) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO contacts_contact (phone, wa_id, user_id, first_name, last_name, language, country,
                time_zone, zone_earliest, zone_latest, attributes, whatsapp_profile_name,
                not_on_whatsapp_since, last_inbound_at, created_at, updated_at)
            SELECT phone,
                CASE WHEN kind = 'de' AND {r("g", 3, 10)} = 0 THEN substr(phone, 2) END,
                CASE WHEN kind = 'none' THEN 'bsuid-' || g END,
                CASE WHEN {r("g", 5, 100)} < 3 THEN '' ELSE 'First' || g END, 'Last' || g,
                (ARRAY['de', 'de', 'de', 'en', 'en', 'es', 'fr', 'pt_BR'])[1 + {r("g", 6, 8)}],
                CASE kind WHEN 'us' THEN 'US' WHEN 'ca' THEN 'CA' WHEN 'au' THEN 'AU' WHEN 'de' THEN 'DE'
                    ELSE '' END,
                own_zone,
                CASE WHEN own_zone <> '' THEN own_zone WHEN kind = 'au' THEN 'Australia/Sydney'
                    ELSE zone END,
                CASE WHEN own_zone <> '' THEN own_zone WHEN kind = 'au' THEN 'Indian/Cocos' ELSE zone END,
                CASE WHEN {r("g", 7, 10)} = 0 THEN '{{}}'::jsonb
                    ELSE jsonb_build_object('coupon', 'C' || g) END,
                '',
                CASE WHEN {r("g", 8, 100)} < 2 THEN now() - interval '10 days' END,
                CASE WHEN {r("g", 9, 100)} < 3 THEN now() - {r("g", 10, 48)} * interval '1 hour' END,
                now() - {r("g", 11, 1000)} * interval '1 day', now()
            FROM (
                SELECT g, kind,
                    CASE kind
                        WHEN 'us' THEN '+1' || area || lpad((2000000 + g)::text, 7, '0')
                        WHEN 'ca' THEN '+1416' || lpad((2000000 + g)::text, 7, '0')
                        WHEN 'au' THEN '+614' || lpad(g::text, 8, '0')
                        WHEN 'de' THEN '+49151' || lpad(g::text, 8, '0')
                    END AS phone,
                    CASE kind
                        WHEN 'us' THEN (ARRAY['America/New_York', 'America/Los_Angeles', 'America/Chicago',
                            'America/New_York'])[area_index]
                        WHEN 'ca' THEN 'America/Toronto'
                        WHEN 'de' THEN 'Europe/Berlin'
                        ELSE ''
                    END AS zone,
                    CASE WHEN kind = 'de' AND {r("g", 4, 20)} = 0
                        THEN ({_OWN_ZONES})[1 + {r("g", 12, 5)}] ELSE '' END AS own_zone
                FROM (
                    SELECT g, {_KIND} AS kind, 1 + {r("g", 2, 4)} AS area_index,
                        (ARRAY['212', '415', '312', '305'])[1 + {r("g", 2, 4)}] AS area
                    FROM generate_series(1, %s) AS g
                ) numbered
            ) people
            """,
            [CONTACTS],
        )
        event = """INSERT INTO contacts_consentevent (contact_id, purpose, action, source, wording_text,
                evidence, occurred_at, recorded_at, signal_key, carried_source, actor_kind, actor_ref,
                actor_label)"""
        # The first marketing event of ~70%: one in seven an opt-out (by keyword), one in ten
        # opt-ins from an import.
        cursor.execute(
            f"""{event}
            SELECT c.id, 'marketing',
                CASE WHEN {r("c.id", 21, 7)} = 0 THEN 'opt_out' ELSE 'opt_in' END,
                CASE WHEN {r("c.id", 21, 7)} = 0 THEN 'keyword' WHEN {r("c.id", 22, 10)} = 0 THEN 'import'
                    ELSE 'web_form' END,
                'Yes, send me offers on WhatsApp.', '{{}}'::jsonb,
                now() - interval '30 days', now() - interval '30 days', '', '', 'system', '', 'bench'
            FROM contacts_contact c WHERE {r("c.id", 20, 10)} < 7
            """
        )
        # One in twenty changed their mind since: back in on the web, or out by keyword.
        cursor.execute(
            f"""{event}
            SELECT e.contact_id, 'marketing',
                CASE e.action WHEN 'opt_out' THEN 'opt_in' ELSE 'opt_out' END,
                CASE e.action WHEN 'opt_out' THEN 'web_form' ELSE 'keyword' END,
                '', '{{}}'::jsonb, now() - interval '5 days', now() - interval '5 days', '', '', 'system', '',
                'bench'
            FROM contacts_consentevent e WHERE {r("e.contact_id", 23, 20)} = 0
            """
        )
        cursor.execute(
            """
            INSERT INTO contacts_currentconsent (contact_id, purpose, status, event_id, since, updated_at)
            SELECT DISTINCT ON (contact_id) contact_id, purpose,
                CASE action WHEN 'opt_in' THEN 'opted_in' ELSE 'opted_out' END, id, effective_at, now()
            FROM contacts_consentevent
            ORDER BY contact_id, effective_at DESC, recorded_at DESC, id DESC
            """
        )
        message = """INSERT INTO messaging_outboundmessage (public_id, contact_id, kind, purpose, is_reply,
                parameters, content, rendered_text, status, hold_reason, attempt_count, error_class,
                error_text, needs_review, is_test, claimed_at, accepted_at, created_at, updated_at,
                actor_kind, actor_ref, actor_label)"""
        values = """gen_random_uuid(), c.id, 'template', {purpose}, false, '{{}}'::jsonb, '{{}}'::jsonb, '',
                'accepted', '', 1, '', '', false, false, {at}, {at}, {at}, {at}, 'system', '', 'bench'"""
        # Marketing messages of the last week: one for 4%, a second for half of them (at the cap).
        for share, days in ((4, 2), (2, 4)):
            at = f"now() - interval '{days} days'"
            cursor.execute(
                f"""{message}
                SELECT {values.format(purpose="'marketing'", at=at)}
                FROM contacts_contact c WHERE {r("c.id", 30, 100)} < {share}
                """
            )
        # Service messages in the last 24 hours for 1%: today's budget, used.
        at = "now() - interval '3 hours'"
        cursor.execute(
            f"""{message}
            SELECT {values.format(purpose="'service'", at=at)}
            FROM contacts_contact c WHERE {r("c.id", 32, 100)} = 0
            """
        )


def _setup():
    from django.db import connection, transaction

    from contacts.models import AttributeDefinition, Contact, Tag, TestNumber
    from contacts.segments.services import segment_create
    from core.actors import Actor
    from messaging.campaign_models import Campaign
    from templates_app.demo import seed_templates
    from templates_app.models import MessageTemplate, TemplateVersion

    system = Actor.system("bench")
    with transaction.atomic():
        promotion = {t.name: t for t in seed_templates(actor=system)}["spring_promotion"]
        version = promotion.approved_version
        german = MessageTemplate.objects.get(pk=promotion.pk)
        german.pk, german.language, german.meta_template_id, german.approved_version = None, "de", None, None
        german.save()
        copy = TemplateVersion.objects.create(
            template=german,
            number=1,
            category=version.category,
            parameter_format=version.parameter_format,
            components=version.components,
            review=version.review,
        )
        MessageTemplate.objects.filter(pk=german.pk).update(approved_version=copy)
        AttributeDefinition.objects.create(key="coupon", type="text")
        outsider = Tag.objects.create(name="outsider")
        _fill(connection)
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO contacts_contact_tags (contact_id, tag_id) SELECT id, %s FROM contacts_contact "
                f"WHERE {r('id', 40, 1000)} < 5",
                [outsider.pk],
            )
        for contact in Contact.objects.order_by("pk")[:10]:
            TestNumber.objects.create(contact=contact, label=f"Staff {contact.pk}")
        segment = segment_create(
            name="bench everyone",
            rules={"op": "none", "rules": [{"kind": "tag", "tag": "outsider"}]},
            actor=system,
        )
        no_fallback = {"fallback": "", "format": ""}
        Campaign.objects.create(
            name=CAMPAIGN,
            template=promotion,
            segment=segment,
            purpose="marketing",
            bindings={
                "body": {
                    "1": {"source": "field", "value": "first_name", **no_fallback},
                    "2": {"source": "literal", "value": "Sunday", **no_fallback},
                },
                "buttons": {"2": {"source": "attribute", "value": "coupon", **no_fallback}},
            },
        )


# The same figures by hand. %(now)s is the preview's instant; the exclusions follow the rules'
# order; consent is read with its proof (the row, its event, and no event that outvotes it).
_REASON = """
    CASE
        WHEN coalesce(c.wa_id, '') = '' AND coalesce(c.phone, '') = '' THEN 'no_address'
        WHEN c.not_on_whatsapp_since IS NOT NULL THEN 'not_on_whatsapp'
        WHEN cc.status = 'opted_out' AND e.action = 'opt_out' AND e.purpose = 'marketing'
            AND e.contact_id = c.id THEN 'opted_out'
        WHEN (cc.status = 'opted_in' AND e.action = 'opt_in' AND e.purpose = 'marketing'
            AND e.contact_id = c.id
            AND NOT ((e.source = 'import' OR e.carried_source = 'import') AND EXISTS (
                SELECT 1 FROM contacts_consentevent w
                WHERE w.contact_id = c.id AND w.purpose = 'marketing' AND w.action = 'opt_out'
                AND w.source IN ('keyword', 'button', 'whatsapp_signal')))
            AND NOT EXISTS (SELECT 1 FROM contacts_consentevent o
                WHERE o.contact_id = c.id AND o.purpose = 'marketing'
                AND ((o.effective_at, o.recorded_at, o.id) > (e.effective_at, e.recorded_at, e.id)
                    OR (o.action = 'opt_out' AND o.effective_at > e.effective_at - interval '1 second'))
                AND NOT ((o.source = 'import' OR o.carried_source = 'import') AND o.action = 'opt_in'
                    AND EXISTS (
                    SELECT 1 FROM contacts_consentevent w WHERE w.contact_id = c.id
                    AND w.purpose = 'marketing' AND w.action = 'opt_out'
                    AND w.source IN ('keyword', 'button', 'whatsapp_signal'))))
        ) IS NOT TRUE THEN 'no_consent'
        WHEN left(replace(coalesce(nullif(c.wa_id, ''), c.phone), '+', ''), 1) = '1'
            AND length(replace(coalesce(nullif(c.wa_id, ''), c.phone), '+', '')) = 11
            AND substr(replace(coalesce(nullif(c.wa_id, ''), c.phone), '+', ''), 2, 3) = ANY(%(us)s)
            AND substr(replace(coalesce(nullif(c.wa_id, ''), c.phone), '+', ''), 5, 1) BETWEEN '2' AND '9'
            THEN 'us_marketing'
        WHEN btrim(c.first_name, %(ws)s) = ''
            OR CASE jsonb_typeof(c.attributes -> 'coupon')
                WHEN 'number' THEN char_length(c.attributes ->> 'coupon') > 15
                WHEN 'string' THEN btrim(c.attributes ->> 'coupon', %(ws)s) = ''
                    OR char_length(btrim(c.attributes ->> 'coupon', %(ws)s)) > 15
                ELSE true END
            THEN 'missing_variable'
    END"""
_MEMBERS = """
    FROM contacts_contact c
    LEFT JOIN contacts_currentconsent cc ON cc.contact_id = c.id AND cc.purpose = 'marketing'
    LEFT JOIN contacts_consentevent e ON e.id = cc.event_id
    WHERE c.merged_into_id IS NULL
      AND NOT EXISTS (SELECT 1 FROM contacts_testnumber t WHERE t.contact_id = c.id)
      AND NOT EXISTS (SELECT 1 FROM contacts_contact_tags ct JOIN contacts_tag tg ON tg.id = ct.tag_id
                      WHERE ct.contact_id = c.id AND lower(tg.name) = 'outsider')"""
_INSIDE = """(({zone})::time >= '09:00' AND ({zone})::time < '20:00')"""
_AT = "(%(now)s::timestamptz AT TIME ZONE coalesce(nullif(x.{end}, ''), 'UTC'))"
# Grouped by reason, as a person counts by reason: a subquery whose CASE the outer query filtered
# seven times would be evaluated seven times per row (PostgreSQL inlines it).
HAND_SQL = {
    "full": f"""
        WITH capped AS (
            SELECT contact_id FROM messaging_outboundmessage
            WHERE purpose = 'marketing' AND NOT is_reply
              AND (accepted_at >= %(cap_since)s
                   OR (status IN ('sending', 'unknown') AND claimed_at >= %(cap_since)s))
            GROUP BY contact_id HAVING count(*) >= 2
        ), counted_today AS (
            SELECT DISTINCT m.contact_id FROM messaging_outboundmessage m
            WHERE NOT m.is_reply
              AND (m.accepted_at >= %(day_ago)s
                   OR (m.status IN ('sending', 'unknown') AND m.claimed_at >= %(day_ago)s))
              AND NOT EXISTS (SELECT 1 FROM messaging_inboundmessage i WHERE i.contact_id = m.contact_id
                  AND i.sent_at <= coalesce(m.accepted_at, m.claimed_at)
                  AND i.sent_at > coalesce(m.accepted_at, m.claimed_at) - interval '24 hours')
        )
        SELECT reason, language, count(*),
            count(*) FILTER (WHERE NOT ({_INSIDE.format(zone=_AT.format(end="zone_earliest"))}
                AND {_INSIDE.format(zone=_AT.format(end="zone_latest"))})),
            count(*) FILTER (WHERE x.id IN (SELECT contact_id FROM capped)),
            count(*) FILTER (WHERE x.last_inbound_at > %(day_ago)s
                OR x.id IN (SELECT contact_id FROM counted_today))
        FROM (
            SELECT {_REASON} AS reason,
                CASE WHEN c.language IN ('de', 'de_AT', 'de_CH') THEN 'de' ELSE 'en' END AS language,
                c.zone_earliest, c.zone_latest, c.id, c.last_inbound_at
            {_MEMBERS}
        ) x
        GROUP BY reason, language
    """,
    "exclusions only": f"""
        SELECT reason, count(*) FROM (SELECT {_REASON} AS reason {_MEMBERS}) x GROUP BY reason
    """,
}
REASONS = ["no_address", "not_on_whatsapp", "opted_out", "no_consent", "us_marketing", "missing_variable"]
FIGURES = [
    "audience",
    *REASONS,
    "receive de",
    "receive en",
    "held for quiet hours",
    "at the frequency cap",
    "free of the budget",
]


def _hand_figures(form: str, rows: list[tuple]) -> list[int]:
    """The hand query's rows added up (a few rows: one per reason, or per reason and language)."""
    if form == "exclusions only":
        by_reason = dict(rows)
        return [sum(by_reason.values()), *(by_reason.get(reason, 0) for reason in REASONS)]
    by_reason = {reason: 0 for reason in REASONS}
    receive, held, capped, free = {"de": 0, "en": 0}, 0, 0, 0
    for reason, language, count, quiet, cap, no_budget in rows:
        if reason is None:
            receive[language] += count
            held, capped, free = held + quiet, capped + cap, free + no_budget
        else:
            by_reason[reason] += count
    audience = sum(by_reason.values()) + sum(receive.values())
    return [audience, *by_reason.values(), receive["de"], receive["en"], held, capped, free]


def _ours(preview) -> list[int]:
    return [
        preview.audience,
        *preview.excluded.values(),
        preview.languages.get("de", 0),
        preview.languages.get("en", 0),
        preview.held_quiet_hours,
        preview.held_frequency_cap,
        preview.budget_free,
    ]


def _child() -> dict:
    _fresh_database(os.environ["DATABASE_URL"])
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from datetime import timedelta

    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from messaging.campaign_models import Campaign
    from messaging.campaigns.bindings import WHITESPACE
    from messaging.campaigns.eligibility import campaign_recipients, us_area_codes
    from messaging.campaigns.preview import campaign_preview

    call_command("migrate", verbosity=0)
    if not Campaign.objects.filter(name=CAMPAIGN).exists():
        _setup()
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    campaign = Campaign.objects.get(name=CAMPAIGN)
    now = timezone.now()
    params = {
        "now": now,
        "us": sorted(us_area_codes()),
        "ws": WHITESPACE,
        "cap_since": now - timedelta(days=settings.MARKETING_FREQUENCY_DAYS),
        "day_ago": now - timedelta(hours=24),
    }

    def hand(form: str) -> list[int]:
        with connection.cursor() as cursor:
            cursor.execute(HAND_SQL[form], params)
            return _hand_figures(form, cursor.fetchall())

    if "--explain" in sys.argv:
        ours_sql, ours_params = (
            campaign_recipients(campaign, now=now)
            .order_by()
            .values("exclusion", "send_language", "zone_earliest", "zone_latest")
            .query.sql_with_params()
        )
        plans = [
            ("ours (without the conditional counts)", f"SELECT count(*) FROM ({ours_sql}) s", ours_params)
        ]
        plans += [(f"hand, {form}", sql, params) for form, sql in HAND_SQL.items()]
        for label, sql, args in plans:
            with connection.cursor() as cursor:
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, args)
                print(f"--- {label}\n" + "\n".join(row[0] for row in cursor.fetchall()))

    preview = campaign_preview(campaign, now=now)
    ours, by_hand = _ours(preview), hand("full")
    side_by_side = dict(zip(FIGURES, zip(ours, by_hand, strict=True), strict=True))
    assert ours == by_hand, f"the preview and the hand query disagree: {side_by_side}"
    assert hand("exclusions only") == by_hand[:7]
    samples: dict[str, list[float]] = {"ours": [], **{form: [] for form in HAND_SQL}}
    names = list(samples)
    for run in range(RUNS):
        for name in names[run % len(names) :] + names[: run % len(names)]:
            started = time.perf_counter()
            if name == "ours":
                campaign_preview(campaign, now=now)
            else:
                hand(name)
            samples[name].append(time.perf_counter() - started)
    median = {name: statistics.median(values) for name, values in samples.items()}
    return {
        "contacts": CONTACTS,
        "members": preview.audience,
        "will receive": preview.will_receive,
        **{f"excluded: {reason}": count for reason, count in preview.excluded.items()},
        "campaign_preview (median s)": round(median["ours"], 3),
        "by hand, same figures (median s)": round(median["full"], 3),
        "by hand, exclusions only (median s)": round(median["exclusions only"], 3),
        "ours / hand query, same figures (goal <= 1.5)": round(median["ours"] / median["full"], 2),
        "ours / hand query, exclusions only": round(median["ours"] / median["exclusions only"], 2),
    }


if __name__ == "__main__":
    if "--child" in sys.argv:
        print(json.dumps(_child()))
    else:
        print(main())
