"""Issue 10: ANALYZE skips the columns no query filters or sorts on (PostgreSQL only).

The entity table's sample is 300,000 rows, not the default 30,000, because the name index's
statistics target is 1,000 (0003: the public query reads how common each bigram is from them), and
ANALYZE samples as many rows for every column. Sorting that sample of each sealed column (random
ciphertext: no equality, range or order on it ever means anything) and of the address and password
hash was a large part of ANALYZE bureau_entity's time (measured in docs/performance.md, "Load").
Statistics 0 skips a column; the planner then uses its defaults for it, which no query needs."""

from django.db import migrations

UNUSED = {
    "bureau_entity": (
        "principal_id_number",
        "principal_mobile",
        "principal_email",
        "cert_number",
        "address",
        "password_hash",
    ),
    "bureau_website": ("principal_id_number", "principal_mobile", "principal_email"),
}


def _alter(schema_editor, target: int) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cur:
        for table, columns in UNUSED.items():
            cur.execute(
                f"ALTER TABLE {table} " + ", ".join(f"ALTER COLUMN {c} SET STATISTICS {target}" for c in columns)
            )


def forward(apps, schema_editor):
    _alter(schema_editor, 0)


def backward(apps, schema_editor):
    _alter(schema_editor, -1)  # the default target again


class Migration(migrations.Migration):
    dependencies = [("bureau", "0012_sealed_personal_data")]

    operations = [migrations.RunPython(forward, backward)]
