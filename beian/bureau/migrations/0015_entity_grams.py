"""Issue 10: the name search by pieces in id order (PostgreSQL only).

The GIN index of 0003 gives the entities that hold a name's bigrams in no order: every match is
read from its own heap page and all of them sorted before a page of 50 can be cut, so a common
piece cost its whole count, and the query had to guess, from statistics, when reading names in id
order was cheaper instead (docs/performance.md, "The name query"). `bureau_entitygram` holds a row
for each distinct bigram of each entity's name, keyed (gram, entity): its B-tree gives a bigram's
entities in id order from any cursor, so the query reads the rarest bigram's entities from the
cursor on, checks each name, and stops at a full page.

Kept by three triggers on the entity table (the bulk load sets the insert trigger aside and writes
the rows itself, `beian.bureau.bulkload`). A registry already filled gets its rows here, the key
made after them (a B-tree built from sorted rows, not grown row by row); filings wait for this
migration (the triggers' lock on the entity table), the public query does not.

The GIN index stays for now, unread by this code: the code before this migration still serves
while an upgrade migrates (docs/deploy.md, "Upgrades"), and its name query without the index
would read the whole entity table for every name. A migration of a later release drops it (0017).
"""

import django.db.models.deletion
from django.db import migrations, models

KEEP = r"""
CREATE OR REPLACE FUNCTION bureau_entitygram_keep() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        DELETE FROM bureau_entitygram WHERE entity_id = OLD.id AND gram = ANY (beian_name_grams(OLD.name));
    END IF;
    IF TG_OP <> 'DELETE' THEN
        INSERT INTO bureau_entitygram (gram, entity_id)
        SELECT DISTINCT g, NEW.id FROM unnest(beian_name_grams(NEW.name)) AS g;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER bureau_entitygram_insert AFTER INSERT ON bureau_entity
    FOR EACH ROW EXECUTE FUNCTION bureau_entitygram_keep();
CREATE TRIGGER bureau_entitygram_update AFTER UPDATE OF name ON bureau_entity
    FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name) EXECUTE FUNCTION bureau_entitygram_keep();
CREATE TRIGGER bureau_entitygram_delete AFTER DELETE ON bureau_entity
    FOR EACH ROW EXECUTE FUNCTION bureau_entitygram_keep();
"""

# How many of the commonest bigrams the statistics list by name: the query takes a bigram it does
# not find there for one rarer than all of them, so the list runs far enough down that such a
# bigram is rare (docs/performance.md).
STATISTICS = 10000


def forward(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cur:
        cur.execute(KEEP)
        cur.execute(f"ALTER TABLE bureau_entitygram ALTER COLUMN gram SET STATISTICS {STATISTICS}")
        cur.execute("SELECT EXISTS (SELECT 1 FROM bureau_entity)")
        if cur.fetchone()[0]:
            cur.execute("SET LOCAL maintenance_work_mem = '1GB'")
            cur.execute("ALTER TABLE bureau_entitygram DROP CONSTRAINT bureau_entitygram_pkey")
            cur.execute(
                "INSERT INTO bureau_entitygram (gram, entity_id) "
                "SELECT DISTINCT g, e.id FROM bureau_entity e, unnest(beian_name_grams(e.name)) AS g"
            )
            cur.execute("ALTER TABLE bureau_entitygram ADD CONSTRAINT bureau_entitygram_pkey PRIMARY KEY (gram, entity_id)")
            cur.execute("ANALYZE bureau_entitygram")


def backward(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cur:
        cur.execute(
            "DROP TRIGGER IF EXISTS bureau_entitygram_insert ON bureau_entity; "
            "DROP TRIGGER IF EXISTS bureau_entitygram_update ON bureau_entity; "
            "DROP TRIGGER IF EXISTS bureau_entitygram_delete ON bureau_entity; "
            "DROP FUNCTION IF EXISTS bureau_entitygram_keep()"
        )


class Migration(migrations.Migration):
    dependencies = [("bureau", "0014_entity_names_in_id_order")]

    operations = [
        migrations.CreateModel(
            name="EntityGram",
            fields=[
                (
                    "pk",
                    models.CompositePrimaryKey(
                        "gram", "entity", blank=True, editable=False, primary_key=True, serialize=False
                    ),
                ),
                ("gram", models.CharField(db_collation="C", max_length=2)),
                (
                    "entity",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="bureau.entity",
                    ),
                ),
            ],
            options={"required_db_vendor": "postgresql"},
        ),
        migrations.RunPython(forward, backward),
    ]
