import django.db.models.deletion
from django.db import migrations, models


def applied_through_from_rows(apps, schema_editor):
    """An import being applied keeps its place: the last line of its rows marked applied."""
    ContactImport = apps.get_model("contacts", "ContactImport")
    ImportRow = apps.get_model("contacts", "ImportRow")
    for contact_import in ContactImport.objects.filter(status="applying"):
        last = ImportRow.objects.filter(contact_import=contact_import, applied=True).aggregate(
            last=models.Max("line")
        )["last"]
        ContactImport.objects.filter(pk=contact_import.pk).update(applied_through=last or 0)


class Migration(migrations.Migration):
    """Imports, faster: each staged row carries its contact's zone span, computed when its number
    is parsed; applying keeps its place as one line on the import instead of a flag on each row;
    the staging table keeps only the indexes it reads, and its links are not checked row by row
    by the database (contacts.audience_models.ImportRow)."""

    dependencies = [
        ("contacts", "0012_contact_zones_and_test_numbers"),
    ]

    operations = [
        migrations.AddField(
            model_name="importrow",
            name="zone_earliest",
            field=models.CharField(blank=True, max_length=64),
        ),
        migrations.AddField(
            model_name="importrow",
            name="zone_latest",
            field=models.CharField(blank=True, max_length=64),
        ),
        migrations.AddField(
            model_name="contactimport",
            name="applied_through",
            field=models.PositiveIntegerField(default=0, editable=False),
        ),
        migrations.RunPython(applied_through_from_rows, migrations.RunPython.noop),
        migrations.RemoveIndex(model_name="importrow", name="import_row_applied_idx"),
        migrations.RemoveIndex(model_name="importrow", name="import_row_match_idx"),
        migrations.RemoveIndex(model_name="importrow", name="import_row_status_idx"),
        migrations.RemoveField(model_name="importrow", name="applied"),
        migrations.AlterField(
            model_name="importrow",
            name="contact_import",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="rows",
                to="contacts.contactimport",
            ),
        ),
        migrations.AlterField(
            model_name="importrow",
            name="contact",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="contacts.contact",
            ),
        ),
    ]
