"""The audit chain's place (`seq`) and hashes are given after commit by the sequencer
(`audit.seal`), so a record is written without them and is known by its own `id` until then. The
chain's records keep their places; `id` numbers them in the order they are stored."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("bureau", "0007_claims"),
    ]

    operations = [
        # seq stops being the primary key first (a table has one), and only then may be empty:
        # PostgreSQL keeps a primary key's column NOT NULL.
        migrations.AlterField(
            model_name="auditrecord",
            name="seq",
            field=models.PositiveBigIntegerField(unique=True),
        ),
        migrations.AddField(
            model_name="auditrecord",
            name="id",
            field=models.BigAutoField(primary_key=True, serialize=False),
        ),
        migrations.AlterField(
            model_name="auditrecord",
            name="seq",
            field=models.PositiveBigIntegerField(blank=True, null=True, unique=True),
        ),
        migrations.AlterField(
            model_name="auditrecord",
            name="hash",
            field=models.CharField(blank=True, max_length=64, null=True, unique=True),
        ),
        migrations.AlterField(
            model_name="auditrecord",
            name="prev_hash",
            field=models.CharField(blank=True, max_length=64),
        ),
        migrations.AddIndex(
            model_name="auditrecord",
            index=models.Index(condition=models.Q(("seq__isnull", True)), fields=["id"], name="bureau_audit_unsealed"),
        ),
    ]
