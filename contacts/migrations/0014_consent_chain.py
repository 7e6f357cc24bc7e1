import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models

from core.db import append_only_triggers, truncate_guard_triggers
from core.roles import ADMINISTRATOR, AUDITOR, grant_permissions

# Contacts chained per step: one read of their events, one bulk insert of their links.
CHUNK_CONTACTS = 2000


def chain_existing_events(apps, schema_editor):
    """Link every event already in the ledger, contact by contact in id order, inserting links only:
    the ledger itself is not touched. An event already linked is skipped, so a second run adds none."""
    from contacts.ledger_chain import EVENT_FIELDS, LINK_BATCH, chain_heads, chain_rows

    Event = apps.get_model("contacts", "ConsentEvent")
    Link = apps.get_model("contacts", "ConsentChainLink")
    unlinked = Event.objects.filter(chain_link__isnull=True)
    after = 0
    while True:
        ids = list(
            unlinked.filter(contact_id__gt=after)
            .order_by("contact_id")
            .values_list("contact_id", flat=True)
            .distinct()[:CHUNK_CONTACTS]
        )
        if not ids:
            return
        rows = (
            unlinked.filter(contact_id__gt=after, contact_id__lte=ids[-1])
            .order_by("contact_id", "pk")
            .values(*EVENT_FIELDS)
        )
        links = chain_rows(rows, chain_heads(Link, ids))
        Link.objects.bulk_create([Link(**fields) for fields in links], batch_size=LINK_BATCH)
        after = ids[-1]


class Migration(migrations.Migration):
    """The consent ledger's chain links (docs/consent-chain.md): the table, append-only like the
    ledger, readable by Auditors and Administrators, and a link for every event already recorded."""

    dependencies = [("contacts", "0013_import_perf")]

    operations = [
        migrations.CreateModel(
            name="ConsentChainLink",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("position", models.PositiveIntegerField(editable=False)),
                ("previous_mac", models.CharField(blank=True, editable=False, max_length=64)),
                ("mac", models.CharField(editable=False, max_length=64, verbose_name="MAC")),
                ("key_id", models.CharField(editable=False, max_length=16, verbose_name="key id")),
                ("form", models.PositiveSmallIntegerField(editable=False)),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now, editable=False)),
                (
                    "contact",
                    models.ForeignKey(
                        db_index=False,
                        editable=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="contacts.contact",
                    ),
                ),
                (
                    "event",
                    models.OneToOneField(
                        editable=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="chain_link",
                        to="contacts.consentevent",
                    ),
                ),
            ],
            options={
                "verbose_name": "consent chain link",
                "ordering": ["contact_id", "position"],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("contact", "position"), name="consent_chain_position_unique"
                    )
                ],
            },
        ),
        append_only_triggers("contacts_consentchainlink"),
        truncate_guard_triggers("contacts_consentchainlink"),
        grant_permissions(
            {
                AUDITOR: ["contacts.view_consentchainlink"],
                ADMINISTRATOR: ["contacts.view_consentchainlink"],
            }
        ),
        migrations.RunPython(chain_existing_events, migrations.RunPython.noop, elidable=False),
    ]
