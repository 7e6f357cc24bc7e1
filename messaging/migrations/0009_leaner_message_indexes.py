"""Fewer index writes per message: a message's row is written four times on its way out (queued,
claimed, attempted, answered) and every index is written again by each version that changes an
indexed column. Indexes only some messages need are partial (a campaign's messages skip them), the
foreign-key indexes another index already leads with are dropped, and on PostgreSQL the message
table keeps a fifth of each page free so the attempt's update, which changes no indexed column, is
a heap-only update that writes no index (docs/benchmarks.md, the batch dispatcher)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('messaging', '0008_campaigns'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='sendattempt',
            name='attempt_unknown_idx',
        ),
        migrations.AlterField(
            model_name='outboundmessage',
            name='actor_user',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AlterField(
            model_name='outboundmessage',
            name='contact',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='outbound_messages', to='contacts.contact'),
        ),
        migrations.AlterField(
            model_name='outboundmessage',
            name='idempotency_key',
            field=models.CharField(blank=True, editable=False, max_length=200, null=True),
        ),
        migrations.AlterField(
            model_name='outboundmessage',
            name='reply_to',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='replies', to='messaging.inboundmessage'),
        ),
        migrations.AlterField(
            model_name='sendattempt',
            name='message',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='attempts', to='messaging.outboundmessage'),
        ),
        migrations.AlterField(
            model_name='sendattempt',
            name='wamid',
            field=models.CharField(blank=True, max_length=128, null=True),
        ),
        migrations.AddIndex(
            model_name='outboundmessage',
            index=models.Index(condition=models.Q(('reply_to__isnull', False)), fields=['reply_to'], name='outbound_reply_to_idx'),
        ),
        migrations.AddIndex(
            model_name='outboundmessage',
            index=models.Index(condition=models.Q(('actor_user__isnull', False)), fields=['actor_user'], name='outbound_actor_user_idx'),
        ),
        migrations.AddIndex(
            model_name='sendattempt',
            index=models.Index(condition=models.Q(('outcome', 'unknown')), fields=['reconcile_by'], name='attempt_unknown_idx'),
        ),
        migrations.AddConstraint(
            model_name='outboundmessage',
            constraint=models.UniqueConstraint(condition=models.Q(('idempotency_key__isnull', False)), fields=('idempotency_key',), name='outbound_idempotency_key_unique'),
        ),
        migrations.AddConstraint(
            model_name='sendattempt',
            constraint=models.UniqueConstraint(condition=models.Q(('wamid__isnull', False)), fields=('wamid',), name='attempt_wamid_unique'),
        ),
        migrations.RunPython(
            lambda apps, schema_editor: _fillfactor(schema_editor, 80),
            lambda apps, schema_editor: _fillfactor(schema_editor, 100),
            elidable=False,
        ),
    ]


def _fillfactor(schema_editor, percent: int) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE messaging_outboundmessage SET (fillfactor = {percent})")
