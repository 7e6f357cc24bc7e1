"""``compliance_masked_evidence(evidence, keys, mask)``: evidence with every key in ``keys``, at any
depth, given the value ``mask`` (docs/compliance.md, "Masking").

A SQL function because jsonb has no recursive set: it walks objects and arrays with
``jsonb_each``/``jsonb_array_elements`` and rebuilds them. The keys and the mask are arguments, so
``compliance.masking`` stays the one list of personal keys. PostgreSQL only: on SQLite the masking
module registers the same walk, in Python, on the connection.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION compliance_masked_evidence(evidence jsonb, keys text[], mask jsonb)
RETURNS jsonb LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
SELECT CASE jsonb_typeof(evidence)
    WHEN 'object' THEN (
        SELECT coalesce(
            jsonb_object_agg(
                key,
                CASE WHEN key = ANY (keys) THEN mask ELSE compliance_masked_evidence(value, keys, mask) END
            ),
            '{}'::jsonb
        )
        FROM jsonb_each(evidence)
    )
    WHEN 'array' THEN (
        SELECT coalesce(
            jsonb_agg(compliance_masked_evidence(value, keys, mask) ORDER BY ordinality), '[]'::jsonb
        )
        FROM jsonb_array_elements(evidence) WITH ORDINALITY
    )
    ELSE evidence
END
$$
"""
DROP = "DROP FUNCTION IF EXISTS compliance_masked_evidence(jsonb, text[], jsonb)"


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("compliance", "0002_report_proxies")]

    operations = [migrations.RunPython(create, drop)]
