"""The campaign funnel with the reply rule (``messaging.campaigns.replies``) against the quote-only
count it replaced, and what the polled progress endpoint reads, on one large campaign.

Why: "replied" used to be one ``EXISTS`` on the inbound messages' ``in_reply_to`` index; it is now
that, or an unquoted message from the person (or a row merged into them) within the reply window
before another campaign's message, never a consent keyword — three ``EXISTS`` with their guards.
Measured in one run, interleaved, best of three, on the same data:

- **quote only**: the funnel's former statement (kept here only as the baseline);
- **funnel**: ``campaign_funnel`` (what the results page shows and the endpoint returns with
  ``?funnel=1``);
- **progress**: ``campaign_progress`` (the endpoint without the funnel);
- **segment**: the count of the segment condition "replied to the campaign".

Data: 100,000 contacts, each with three older messages of their own; one campaign sent to all of
them, a second one 12 hours later to one in ten; replies: 6 % quoting it, 15 % unquoted two hours
after, 5 % unquoted 20 hours after (the second campaign's when they got it), 3 % after the window,
2 % a STOP keyword (with its consent event), and 1 % a merged row writing three hours after. Needs
PostgreSQL: ``BENCH_DATABASE_URL`` (default ``postgres://postgres@127.0.0.1:5432/
whatsapp_bench_replies``, created and migrated if missing); rows are written with ``INSERT …
SELECT generate_series`` and kept for the next run.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pg_child import ensure_database, run_child

ROOT = Path(__file__).resolve().parent.parent
CONTACTS = 100_000
ROUNDS = 3
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/whatsapp_bench_replies"


def main() -> dict:
    return run_child(__file__, DEFAULT_URL, timeout=3000)


SEED = """
INSERT INTO contacts_contact (phone, first_name, last_name, language, country, time_zone, attributes,
    whatsapp_profile_name, zone_earliest, zone_latest, created_at, updated_at)
SELECT '+49151' || lpad(g::text, 8, '0'), 'First', 'Last', 'de', 'DE', '', '{}'::jsonb, '', '', '',
    now(), now()
FROM generate_series(1, %(n)s) AS g;

INSERT INTO contacts_contact (wa_id, first_name, last_name, language, country, time_zone, attributes,
    whatsapp_profile_name, zone_earliest, zone_latest, created_at, updated_at, merged_into_id, merged_at)
SELECT '99' || c.id, '', '', '', '', '', '{}'::jsonb, '', '', '', now(), now(), c.id, now()
FROM contacts_contact c WHERE c.merged_into_id IS NULL AND c.id %% 100 = 7;

CREATE TEMP TABLE base AS
SELECT id, now() - interval '10 days' + (id %% 3600) * interval '1 second' AS t
FROM contacts_contact WHERE merged_into_id IS NULL;

INSERT INTO messaging_outboundmessage (public_id, actor_kind, actor_ref, actor_label, contact_id, kind,
    purpose, is_reply, parameters, content, rendered_text, is_test, status, hold_reason, attempt_count,
    error_class, error_text, needs_review, created_at, accepted_at, sent_at, delivered_at, updated_at,
    campaign_id)
SELECT gen_random_uuid(), 'system', '', 'bench', id, 'template', 'marketing', false, '{}', '{}', 'Sale',
    false, 'delivered', '', 1, '', '', false, t, t, t, t, now(), %(spring)s
FROM base;
INSERT INTO messaging_outboundmessage (public_id, actor_kind, actor_ref, actor_label, contact_id, kind,
    purpose, is_reply, parameters, content, rendered_text, is_test, status, hold_reason, attempt_count,
    error_class, error_text, needs_review, created_at, accepted_at, sent_at, delivered_at, updated_at,
    campaign_id)
SELECT gen_random_uuid(), 'system', '', 'bench', id, 'template', 'marketing', false, '{}', '{}', 'Sale',
    false, 'delivered', '', 1, '', '', false, t + interval '12 hours', t + interval '12 hours',
    t + interval '12 hours', t + interval '12 hours', now(), %(autumn)s
FROM base WHERE id %% 10 = 4;

-- the people's own older messages, and their answers
INSERT INTO messaging_inboundmessage (wamid, contact_id, type, text, payload, context_wamid, sent_at,
    received_at)
SELECT 'wamid.old.' || b.id || '.' || k, b.id, 'text', 'Hello', '{}', '', b.t - k * interval '5 days', now()
FROM base b, generate_series(1, 3) AS k;
INSERT INTO messaging_inboundmessage (wamid, contact_id, type, text, payload, context_wamid, in_reply_to_id,
    sent_at, received_at)
SELECT 'wamid.quote.' || b.id, b.id, 'text', 'Yes', '{}', 'x', m.id, b.t + interval '1 hour', now()
FROM base b JOIN messaging_outboundmessage m ON m.contact_id = b.id AND m.campaign_id = %(spring)s
WHERE b.id %% 100 < 6;
INSERT INTO messaging_inboundmessage (wamid, contact_id, type, text, payload, context_wamid, sent_at,
    received_at)
SELECT 'wamid.later.' || id, id, 'text', 'Still on?', '{}', '', t + interval '2 hours', now()
FROM base WHERE id %% 100 BETWEEN 10 AND 24;
INSERT INTO messaging_inboundmessage (wamid, contact_id, type, text, payload, context_wamid, sent_at,
    received_at)
SELECT 'wamid.next.' || id, id, 'text', 'Which one?', '{}', '', t + interval '20 hours', now()
FROM base WHERE id %% 100 BETWEEN 30 AND 34;
INSERT INTO messaging_inboundmessage (wamid, contact_id, type, text, payload, context_wamid, sent_at,
    received_at)
SELECT 'wamid.late.' || id, id, 'text', 'Hi again', '{}', '', t + interval '100 hours', now()
FROM base WHERE id %% 100 BETWEEN 40 AND 42;
INSERT INTO messaging_inboundmessage (wamid, contact_id, type, text, payload, context_wamid, sent_at,
    received_at)
SELECT 'wamid.stop.' || id, id, 'text', 'STOP', '{}', '', t + interval '1 hour', now()
FROM base WHERE id %% 100 BETWEEN 50 AND 51;
INSERT INTO contacts_consentevent (actor_kind, actor_ref, actor_label, purpose, action, source, wording_text,
    evidence, occurred_at, recorded_at, contact_id, signal_key, carried_source)
SELECT 'system', '', 'bench', 'marketing', 'opt_out', 'keyword', '', '{}', t + interval '1 hour',
    t + interval '1 hour', id, 'wamid:wamid.stop.' || id, ''
FROM base WHERE id %% 100 BETWEEN 50 AND 51;
INSERT INTO messaging_inboundmessage (wamid, contact_id, type, text, payload, context_wamid, sent_at,
    received_at)
SELECT 'wamid.merged.' || m.id, m.id, 'text', 'From my other phone', '{}', '', b.t + interval '3 hours', now()
FROM contacts_contact m JOIN base b ON b.id = m.merged_into_id;
ANALYZE;
"""


def _child() -> dict:
    ensure_database(os.environ["DATABASE_URL"])
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.db.models import Count, Exists, OuterRef, Q

    from contacts.models import Contact
    from contacts.segments.compiler import members_q
    from contacts.segments.rules import validate_rules
    from messaging.campaign_models import Campaign, CampaignStatus
    from messaging.campaigns.replies import replied
    from messaging.campaigns.results import campaign_funnel, campaign_messages, campaign_progress
    from messaging.models import InboundMessage

    call_command("migrate", verbosity=0)
    if not Campaign.objects.filter(name="Bench spring").exists():
        from django.utils import timezone

        from tests.factories import CampaignFactory

        now = timezone.now()
        spring, autumn = (
            CampaignFactory(name=name, status=CampaignStatus.COMPLETED, started_at=now, finished_at=now)
            for name in ("Bench spring", "Bench autumn")
        )
        with connection.cursor() as cursor:
            for statement in SEED.split(";\n"):
                if statement.strip():
                    cursor.execute(statement, {"n": CONTACTS, "spring": spring.pk, "autumn": autumn.pk})
    spring = Campaign.objects.get(name="Bench spring")
    tree = validate_rules({"op": "all", "rules": [{"kind": "replied_campaign", "campaign": spring.pk}]})

    def quote_only() -> int:
        answers = InboundMessage.objects.filter(in_reply_to=OuterRef("pk"))
        return campaign_messages(spring).aggregate(n=Count("pk", filter=Q(Exists(answers))))["n"]

    def funnel_as_planned() -> int:
        """The funnel's statement as PostgreSQL runs it by default (JIT compiled)."""
        return campaign_messages(spring).aggregate(n=Count("pk", filter=replied()))["n"]

    def jit(state: str, run):
        def with_jit():
            with connection.cursor() as cursor:
                cursor.execute(f"SET jit = {state}")
            try:
                return run()
            finally:
                with connection.cursor() as cursor:
                    cursor.execute("RESET jit")

        return with_jit

    runs = {
        "quote only": quote_only,
        "quote only, JIT off": jit("off", quote_only),
        "funnel": lambda: campaign_funnel(spring).replied,
        "funnel, JIT on": funnel_as_planned,
        "progress": lambda: campaign_progress(spring).total,
        "segment": lambda: Contact.objects.filter(members_q(tree)).count(),
        "segment, JIT off": jit("off", lambda: Contact.objects.filter(members_q(tree)).count()),
    }
    timings: dict[str, list[float]] = {name: [] for name in runs}
    counts = {}
    for _ in range(ROUNDS):
        for name, run in runs.items():
            started = time.perf_counter()
            counts[name] = run()
            timings[name].append(time.perf_counter() - started)
    ms = {name: round(min(values) * 1000) for name, values in timings.items()}
    with connection.cursor() as cursor:
        sql, params = campaign_messages(spring).filter(replied()).values("pk").query.sql_with_params()
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    return {
        "campaign messages": counts["progress"],
        "replied: quote only / rule / segment": " / ".join(
            str(counts[name]) for name in ("quote only", "funnel", "segment")
        ),
        "quote only, JIT as configured then off (ms)": f"{ms['quote only']}, {ms['quote only, JIT off']}",
        "funnel with the rule (ours: JIT off), JIT on (ms)": f"{ms['funnel']}, {ms['funnel, JIT on']}",
        "funnel / quote only (both JIT off)": round(ms["funnel"] / ms["quote only, JIT off"], 2),
        "funnel / quote only (as each runs)": round(ms["funnel"] / ms["quote only"], 2),
        "progress (ms)": ms["progress"],
        "endpoint with the funnel: progress + funnel (ms)": ms["progress"] + ms["funnel"],
        "segment count, JIT as configured then off (ms)": f"{ms['segment']}, {ms['segment, JIT off']}",
        "index probes only (no Seq Scan but the quote's hashed set)": plan.count(
            "Seq Scan on messaging_inboundmessage"
        )
        <= 1,
    }


if __name__ == "__main__":
    if "--child" in sys.argv:
        print(json.dumps(_child()))
    else:
        print(main())
