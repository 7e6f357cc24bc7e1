"""The REST API lists a key's own messages, newest first; campaign messages are not in this index."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('messaging', '0009_leaner_message_indexes'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='outboundmessage',
            index=models.Index(condition=models.Q(('actor_kind', 'api_key')), fields=['actor_ref', '-id'], name='outbound_api_key_idx'),
        ),
    ]
