"""Media files of messages (received and sent), kept locally; Support and Auditors may view them.

No role adds, changes or deletes a row by hand: received media is recorded by the webhook and
sent media by the upload service, and a file goes only by the retention purge (docs/media.md).
"""

import django.db.models.deletion
import django.utils.timezone
import messaging.models
from django.conf import settings
from django.db import migrations, models

from core.roles import AUDITOR, SUPPORT, grant_permissions


class Migration(migrations.Migration):

    dependencies = [
        ('messaging', '0010_api_key_messages_index'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='MessageMedia',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('media_id', models.CharField(help_text="Meta's media id.", max_length=128, unique=True)),
                ('direction', models.CharField(choices=[('inbound', 'Received'), ('outbound', 'Sent')], max_length=16)),
                ('kind', models.CharField(choices=[('image', 'Image'), ('video', 'Video'), ('audio', 'Audio'), ('document', 'Document'), ('sticker', 'Sticker')], max_length=16)),
                ('mime_type', models.CharField(max_length=255)),
                ('size', models.PositiveBigIntegerField(blank=True, help_text='Bytes; empty until known.', null=True)),
                ('sha256', models.CharField(blank=True, help_text="Hex digest (Meta's, for received media).", max_length=64)),
                ('filename', models.CharField(blank=True, help_text='The name the sender gave it.', max_length=255)),
                ('file', models.FileField(blank=True, max_length=255, upload_to=messaging.models.media_file_path)),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now, editable=False)),
                ('downloaded_at', models.DateTimeField(blank=True, null=True)),
                ('purged_at', models.DateTimeField(blank=True, help_text='The local copy was deleted.', null=True)),
                ('error', models.TextField(blank=True, help_text='Why the last download failed.')),
                ('attempts', models.PositiveSmallIntegerField(default=0, help_text='Download attempts so far.')),
                ('next_attempt_at', models.DateTimeField(blank=True, help_text='When the download is tried (again); empty when done or given up.', null=True)),
                ('inbound', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='media', to='messaging.inboundmessage')),
                ('uploaded_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'verbose_name': 'message media',
                'verbose_name_plural': 'message media',
                'indexes': [models.Index(condition=models.Q(('next_attempt_at__isnull', False)), fields=['next_attempt_at'], name='media_download_due_idx'), models.Index(condition=models.Q(('purged_at__isnull', True)), fields=['created_at'], name='media_kept_idx')],
                'constraints': [models.CheckConstraint(condition=models.Q(('direction', 'outbound'), ('inbound__isnull', False), _connector='OR'), name='media_inbound_has_message')],
            },
        ),
        grant_permissions(
            {
                SUPPORT: ["messaging.view_messagemedia"],
                AUDITOR: ["messaging.view_messagemedia"],
            }
        ),
    ]
