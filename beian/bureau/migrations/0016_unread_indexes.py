"""Issue 10: the registry's indexes that nothing reads, gone.

- `Domain.name`'s own index, on every row, removed or not: every look-up by name is of the active
  domains, which the partial unique index `domain_active_once` answers (the public query, the
  registry's checks).
- The second index PostgreSQL gets beside each `unique=True` text column (`…_like`,
  `varchar_pattern_ops`), which serves only `LIKE 'prefix%'`: no filing number is looked for by its
  beginning.
  The numbers stay unique by a named constraint, and on PostgreSQL that is the same index renamed,
  not built again: adding the constraint would lock the tables against the public query while a
  national registry's index is built. SQLite has no such second index, and
  there only the models' state changes: the column's own UNIQUE is the same rule, and Django makes
  any change of a SQLite column by building the table again, which would drop the triggers that
  keep the name search (migration 0003).

Nothing here is read by the code before it either (its look-ups were the same), so it can be
applied while that code still serves (docs/deploy.md, "Upgrades"). What each index cost a load,
and its size, at 10M: docs/performance.md, "Indexes nothing reads, gone".
"""

from django.db import migrations, models

NUMBERS = {  # model: (its table, the constraint's name, PostgreSQL's names for the column's two indexes)
    "entity": ("bureau_entity", "entity_number_once", "bureau_entity_number_key", "bureau_entity_number_6b003e22_like"),
    "website": (
        "bureau_website",
        "website_number_once",
        "bureau_website_number_key",
        "bureau_website_number_f590e9b2_like",
    ),
}


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for table, once, key, like in NUMBERS.values():
            schema_editor.execute(f"ALTER TABLE {table} RENAME CONSTRAINT {key} TO {once}")
            schema_editor.execute(f"DROP INDEX IF EXISTS {like}")


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for table, once, key, like in NUMBERS.values():
            schema_editor.execute(f"ALTER TABLE {table} RENAME CONSTRAINT {once} TO {key}")
            schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {like} ON {table} (number varchar_pattern_ops)")


class Migration(migrations.Migration):
    dependencies = [("bureau", "0015_entity_grams")]

    operations = [
        migrations.RemoveIndex(model_name="domain", name="bureau_doma_name_aa9e1f_idx"),
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(forward, backward)],
            state_operations=[
                migrations.AlterField(model_name="entity", name="number", field=models.CharField(max_length=40)),
                migrations.AlterField(model_name="website", name="number", field=models.CharField(max_length=44)),
                migrations.AddConstraint(
                    model_name="entity",
                    constraint=models.UniqueConstraint(fields=("number",), name="entity_number_once"),
                ),
                migrations.AddConstraint(
                    model_name="website",
                    constraint=models.UniqueConstraint(fields=("number",), name="website_number_once"),
                ),
            ],
        ),
    ]
