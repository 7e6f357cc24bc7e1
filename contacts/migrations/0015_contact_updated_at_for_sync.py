"""Contacts changed since a time, for the API's sync (GET /api/v1/contacts/?updated_since=…).

An index on (updated_at, id), the list's order; and on PostgreSQL a trigger that moves
``updated_at`` on every UPDATE that did not set it, so a writer that forgets it (a bulk statement,
raw SQL) cannot hide a change from a client syncing by it. Writers that set it themselves keep
their value. SQLite, the embedded demo database, relies on the writers: each sets it.
"""

from django.db import migrations, models

_INSTALL = """
CREATE OR REPLACE FUNCTION contact_touch_updated_at() RETURNS trigger AS $$
BEGIN
    IF NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at THEN
        NEW.updated_at := clock_timestamp();
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS contacts_contact_touch_updated_at ON contacts_contact;
CREATE TRIGGER contacts_contact_touch_updated_at BEFORE UPDATE ON contacts_contact
    FOR EACH ROW EXECUTE FUNCTION contact_touch_updated_at();
"""

_REMOVE = """
DROP TRIGGER IF EXISTS contacts_contact_touch_updated_at ON contacts_contact;
DROP FUNCTION IF EXISTS contact_touch_updated_at();
"""


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(_INSTALL)


def remove(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(_REMOVE)


class Migration(migrations.Migration):
    dependencies = [
        ("contacts", "0014_consent_chain"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="contact",
            index=models.Index(fields=["updated_at", "id"], name="contact_updated_idx"),
        ),
        migrations.RunPython(install, remove, elidable=False),
    ]
