"""Issue 10: the GIN index of the entities' name bigrams (0003), gone (PostgreSQL only).

The name search reads the bigram table since 0015 (`bureau_entitygram`), and that code has been
released: this is the later release 0015 left the index for (docs/deploy.md, "Upgrades"). Nothing
reads the index now, yet every filing kept it up and every bulk load built it again, in one
process, on the longest chain of a national load's end (docs/performance.md, "The GIN index of the
names, dropped").

Dropped CONCURRENTLY, so that the public query, reading the entity table meanwhile, never waits
behind the drop's lock; hence a migration outside a transaction. `beian_name_grams` stays: the
bigram table's triggers call it. SQLite's name search is its FTS5 table, still read: untouched.
A national load that stopped before this migration names the index among what it set aside; the
restore leaves it out (`beian.bureau.bulkload.RETIRED`).
"""

from django.db import migrations

INDEX = "bureau_entity_name_grams"


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}")


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {INDEX} ON bureau_entity USING gin (beian_name_grams(name))"
        )
        schema_editor.execute(f"ALTER INDEX {INDEX} ALTER COLUMN 1 SET STATISTICS 1000")


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("bureau", "0016_unread_indexes")]

    operations = [migrations.RunPython(forward, backward)]
