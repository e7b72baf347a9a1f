"""Personal data sealed at rest (issue 14, beian/sealing.py): the sandbox's recipients (a person's
mobile or address) and bodies (filing passwords, codes) become sealed text, sealed in place, and
inboxes are found by the recipient's digest. Reversible: the values are opened again."""

import beian.sealing
from django.db import migrations, models


def seal(apps, schema_editor):
    beian.sealing.seal_in_place(apps.get_model("messaging", "Message"), schema_editor.connection)


def unseal(apps, schema_editor):
    beian.sealing.unseal_in_place(apps.get_model("messaging", "Message"), schema_editor.connection)


class Migration(migrations.Migration):

    dependencies = [
        ('messaging', '0002_message_key'),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='message',
            name='messaging_recipient_time',
        ),
        migrations.AddField(
            model_name='message',
            name='recipient_digest',
            field=beian.sealing.DigestField(kind='recipient', of='recipient'),
        ),
        migrations.AlterField(
            model_name='message',
            name='body',
            field=beian.sealing.SealedTextField(),
        ),
        migrations.AlterField(
            model_name='message',
            name='recipient',
            field=beian.sealing.SealedCharField(max_length=254),
        ),
        migrations.AddIndex(
            model_name='message',
            index=models.Index(fields=['recipient_digest', 'created_at'], name='messaging_recipient_time'),
        ),
        migrations.RunPython(seal, unseal),
    ]
