# The bureau's messages go through the shared outbox (beian/messaging/outbox.py): each gets its own
# idempotency key and a time for its next try. A unique key is added in three steps (Django's
# "migrations that add unique fields"): nullable, one fresh UUID per existing row, then unique.

import uuid

import beian.messaging.outbox
from django.db import migrations, models


def fill(apps, schema_editor):
    OutgoingMessage = apps.get_model("bureau", "OutgoingMessage")
    db = schema_editor.connection.alias
    for row in OutgoingMessage.objects.using(db).only("pk", "created_at").iterator():
        OutgoingMessage.objects.using(db).filter(pk=row.pk).update(key=uuid.uuid4(), next_attempt_at=row.created_at)


class Migration(migrations.Migration):

    dependencies = [
        ('bureau', '0005_password_failure_per_customer'),
    ]

    operations = [
        migrations.AddField(
            model_name='outgoingmessage',
            name='key',
            field=models.UUIDField(null=True, editable=False),
        ),
        migrations.AddField(
            model_name='outgoingmessage',
            name='next_attempt_at',
            field=models.DateTimeField(default=beian.messaging.outbox._now),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
        migrations.AlterField(
            model_name='outgoingmessage',
            name='key',
            field=models.UUIDField(default=uuid.uuid4, editable=False, unique=True),
        ),
        migrations.AlterField(
            model_name='outgoingmessage',
            name='created_at',
            field=models.DateTimeField(default=beian.messaging.outbox._now),
        ),
        migrations.AddIndex(
            model_name='outgoingmessage',
            index=models.Index(condition=models.Q(('sent_at__isnull', True)), fields=['next_attempt_at'], name='bureau_message_due'),
        ),
    ]
