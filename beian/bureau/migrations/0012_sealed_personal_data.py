"""Personal data sealed at rest (issue 14, beian/sealing.py): the columns become sealed text, the
existing clear values are sealed in place and the certificate digests filled before the one
active entity per certificate constraint is made again on the digest. The entity locks of open
operations are re-keyed by the digest. Reversible: the values are opened again (locks stay keyed
by the digest, which no clear-text code then finds: reverse only with no operation open)."""

import importlib

import beian.sealing
from django.db import migrations, models

SEALED = ("Entity", "Website", "Operation", "Verification", "Claim", "OutgoingMessage")


def seal(apps, schema_editor):
    for name in SEALED:
        beian.sealing.seal_in_place(apps.get_model("bureau", name), schema_editor.connection)
    Lock = apps.get_model("bureau", "OperationLock")
    for lock in Lock.objects.using(schema_editor.connection.alias).filter(key__startswith="entity:"):
        _, cert_type, number = lock.key.split(":", 2)
        if len(number) == 64 and all(c in "0123456789abcdef" for c in number):
            continue  # already a digest
        key = f"entity:{cert_type}:{beian.sealing.digest('certificate', number)}"
        Lock.objects.using(schema_editor.connection.alias).filter(key=lock.key).update(key=key)


def name_index_triggers(apps, schema_editor):
    """SQLite rebuilds a table to change a column's type, and drops its triggers with it: those
    that keep the public query's name index (0003) in step are made again. The index itself (an
    FTS5 table keyed by the entity's id, which the rebuild keeps) still holds every name."""
    connection = schema_editor.connection
    if connection.vendor != "sqlite":
        return
    grams = importlib.import_module("beian.bureau.migrations.0003_name_index_and_cache_throttle")._sqlite_grams
    new, old = grams("new.name"), grams("old.name")
    with connection.cursor() as cur:
        cur.execute(
            "CREATE TRIGGER IF NOT EXISTS bureau_entity_grams_insert AFTER INSERT ON bureau_entity BEGIN "
            f"INSERT INTO bureau_entity_grams (rowid, grams) VALUES (new.id, {new}); END"
        )
        cur.execute(
            "CREATE TRIGGER IF NOT EXISTS bureau_entity_grams_update AFTER UPDATE OF name ON bureau_entity BEGIN "
            f"INSERT INTO bureau_entity_grams (bureau_entity_grams, rowid, grams) VALUES ('delete', old.id, {old}); "
            f"INSERT INTO bureau_entity_grams (rowid, grams) VALUES (new.id, {new}); END"
        )
        cur.execute(
            "CREATE TRIGGER IF NOT EXISTS bureau_entity_grams_delete AFTER DELETE ON bureau_entity BEGIN "
            f"INSERT INTO bureau_entity_grams (bureau_entity_grams, rowid, grams) VALUES ('delete', old.id, {old}); "
            "END"
        )


def unseal(apps, schema_editor):
    for name in SEALED:
        beian.sealing.unseal_in_place(apps.get_model("bureau", name), schema_editor.connection)


class Migration(migrations.Migration):

    dependencies = [
        ('bureau', '0011_simstate_faults'),
    ]

    operations = [
        # Undone last when going back, after the columns are rebuilt as they were.
        migrations.RunPython(migrations.RunPython.noop, name_index_triggers),
        migrations.RemoveConstraint(
            model_name='entity',
            name='one_active_entity_per_certificate',
        ),
        migrations.AddField(
            model_name='entity',
            name='cert_digest',
            field=beian.sealing.DigestField(kind='certificate', of='cert_number'),
        ),
        migrations.AlterField(
            model_name='claim',
            name='mobile',
            field=beian.sealing.SealedCharField(max_length=11),
        ),
        migrations.AlterField(
            model_name='entity',
            name='cert_number',
            field=beian.sealing.SealedCharField(max_length=40),
        ),
        migrations.AlterField(
            model_name='entity',
            name='principal_email',
            field=beian.sealing.SealedCharField(max_length=254),
        ),
        migrations.AlterField(
            model_name='entity',
            name='principal_id_number',
            field=beian.sealing.SealedCharField(max_length=40),
        ),
        migrations.AlterField(
            model_name='entity',
            name='principal_mobile',
            field=beian.sealing.SealedCharField(max_length=11),
        ),
        migrations.AlterField(
            model_name='operation',
            name='data',
            field=beian.sealing.SealedJSONField(),
        ),
        migrations.AlterField(
            model_name='outgoingmessage',
            name='body',
            field=beian.sealing.SealedTextField(),
        ),
        migrations.AlterField(
            model_name='outgoingmessage',
            name='recipient',
            field=beian.sealing.SealedCharField(max_length=254),
        ),
        migrations.AlterField(
            model_name='verification',
            name='id_last6',
            field=beian.sealing.SealedCharField(max_length=6),
        ),
        migrations.AlterField(
            model_name='verification',
            name='mobile',
            field=beian.sealing.SealedCharField(max_length=11),
        ),
        migrations.AlterField(
            model_name='website',
            name='principal_email',
            field=beian.sealing.SealedCharField(max_length=254),
        ),
        migrations.AlterField(
            model_name='website',
            name='principal_id_number',
            field=beian.sealing.SealedCharField(max_length=40),
        ),
        migrations.AlterField(
            model_name='website',
            name='principal_mobile',
            field=beian.sealing.SealedCharField(max_length=11),
        ),
        migrations.RunPython(seal, unseal),
        migrations.RunPython(name_index_triggers, name_index_triggers),
        migrations.AddConstraint(
            model_name='entity',
            constraint=models.UniqueConstraint(condition=models.Q(('status', 'active')), fields=('cert_type', 'cert_digest'), name='one_active_entity_per_certificate'),
        ),
    ]
