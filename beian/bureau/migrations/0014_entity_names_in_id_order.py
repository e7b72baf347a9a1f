"""Issue 10: the entities' names in id order, narrow (PostgreSQL only).

The public query by name checks names by entity id (since migration 0015 each entity of a bigram
read from the bigram table; before it, a window of names read in id order). From the table that
costs a heap page for every dozen names or so: an entity's row carries its principal's sealed
fields, its address and its password hash beside the name. This index holds only the id, the name
and the status, a hundred names and more to a page, so the planner answers those reads by an
index-only scan (as soon as VACUUM has marked the pages all visible; the bulk load does,
docs/performance.md). SQLite reads the FTS5 table in rowid order instead and needs nothing here.
"""

from django.db import migrations


def forward(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cur:
        cur.execute(
            "CREATE INDEX IF NOT EXISTS bureau_entity_names_in_id_order ON bureau_entity (id) INCLUDE (name, status)"
        )


def backward(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cur:
        cur.execute("DROP INDEX IF EXISTS bureau_entity_names_in_id_order")


class Migration(migrations.Migration):
    dependencies = [("bureau", "0013_no_statistics_for_sealed_columns")]

    operations = [migrations.RunPython(forward, backward)]
