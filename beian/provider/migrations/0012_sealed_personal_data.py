"""Personal data sealed at rest (issue 14, beian/sealing.py): an application's data (the
principals' certificate numbers, mobiles and emails) and filing password in flight, an account's
mobile, a notice's recipient and body become sealed text, and the clear values are sealed in place.
Reversible: the values are opened again."""

import beian.sealing
from django.db import migrations

SEALED = ("Application", "Profile", "OutgoingNotice")


def seal(apps, schema_editor):
    for name in SEALED:
        beian.sealing.seal_in_place(apps.get_model("provider", name), schema_editor.connection)


def unseal(apps, schema_editor):
    for name in SEALED:
        beian.sealing.unseal_in_place(apps.get_model("provider", name), schema_editor.connection)


class Migration(migrations.Migration):

    dependencies = [
        ('provider', '0011_timeline_chain'),
    ]

    operations = [
        migrations.AlterField(
            model_name='application',
            name='data',
            field=beian.sealing.SealedJSONField(default=dict),
        ),
        migrations.AlterField(
            model_name='application',
            name='filing_password',
            field=beian.sealing.SealedCharField(blank=True, max_length=100),
        ),
        migrations.AlterField(
            model_name='outgoingnotice',
            name='body',
            field=beian.sealing.SealedTextField(),
        ),
        migrations.AlterField(
            model_name='outgoingnotice',
            name='recipient',
            field=beian.sealing.SealedCharField(max_length=254),
        ),
        migrations.AlterField(
            model_name='profile',
            name='mobile',
            field=beian.sealing.SealedCharField(blank=True, max_length=11),
        ),
        migrations.RunPython(seal, unseal),
    ]
