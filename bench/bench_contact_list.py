"""The admin's contact list with a million contacts on PostgreSQL: estimated count vs exact count.

The unfiltered list is the page staff open most. Django's stock paginator runs ``SELECT COUNT(*)``
over the whole table on every view; the admin's paginator (``contacts.admin_filters.ContactPaginator``, an
``EstimatedCountPaginator`` that also estimates the default list, which hides merged-away rows)
reads the planner's estimate instead. Both are timed in the same run, on the same data, through the real
admin view (Django's test client, no network). Needs PostgreSQL: ``BENCH_DATABASE_URL`` (default
``postgres://postgres@127.0.0.1:5432/whatsapp_bench_contacts``, created and migrated if missing).
The rows are inserted with one ``INSERT … SELECT generate_series`` and kept for the next run.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pg_child import ensure_database, run_child

ROOT = Path(__file__).resolve().parent.parent
CONTACTS = 1_000_000
VIEWS = 15
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/whatsapp_bench_contacts"


def main() -> dict:
    return run_child(__file__, DEFAULT_URL, timeout=1200)


def _child() -> dict:
    ensure_database(os.environ["DATABASE_URL"])
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.core.paginator import Paginator
    from django.db import connection
    from django.test import Client

    from contacts.admin import ContactAdmin
    from contacts.models import Contact

    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)
    existing = Contact.objects.count()
    if existing < CONTACTS:
        with connection.cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO contacts_contact (phone, first_name, last_name, language, country, time_zone,
                    attributes, whatsapp_profile_name, created_at, updated_at)
                SELECT '+49151' || lpad(g::text, 8, '0'), 'First' || g, 'Last' || g, 'de', 'DE', '',
                    '{}'::jsonb, '', now(), now()
                FROM generate_series(%s, %s) AS g
                """,
                [existing + 1, CONTACTS],
            )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE contacts_contact")
    user, _ = get_user_model().objects.get_or_create(
        username="bench", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)

    def timed(paginator) -> list[float]:
        ContactAdmin.paginator = paginator
        client.get("/admin/contacts/contact/")  # warm up
        samples = []
        for _ in range(VIEWS):
            started = time.perf_counter()
            response = client.get("/admin/contacts/contact/")
            samples.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200
        return samples

    ours = ContactAdmin.paginator  # the estimated count, kept for the default list of live rows

    # Interleave the two so drift on a busy machine hits both alike.
    estimated, exact = [], []
    for _ in range(2):
        estimated += timed(ours)
        exact += timed(Paginator)
    est, exa = statistics.median(estimated), statistics.median(exact)
    return {
        "contacts": Contact.objects.count() if existing < CONTACTS else existing,
        "unfiltered page, estimated count (median ms)": round(est, 1),
        "unfiltered page, exact COUNT(*) (median ms)": round(exa, 1),
        "exact / estimated": round(exa / est, 1),
    }


if __name__ == "__main__":
    if "--child" in sys.argv:
        print(json.dumps(_child()))
    else:
        print(main())
