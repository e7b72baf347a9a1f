"""Issue 10: the public query by part of an entity's name, indexed on both databases, and the public
rate limits moved out of the database (beian.bureau.throttle now counts in Django's cache).

The name index works on overlapping two-character pieces (bigrams) of the name with the Latin
letters A-Z folded to lower case. Two characters is the shortest part people look for (a trade name
such as 腾讯), and the shortest that pg_trgm (trigrams) and SQLite's FTS5 trigram tokenizer
cannot answer from their index; every longer part is a run of bigrams.

- PostgreSQL: a GIN index on the expression `beian_name_grams(name)`, an IMMUTABLE SQL function
  built of C string functions only. PostgreSQL keeps an expression index in step with the table by
  itself, and the function does not depend on the database's locale (pg_trgm ignores CJK
  characters under the C locale).
- SQLite: a contentless FTS5 table whose one column holds the name's bigrams separated by spaces
  (rowid = the entity's id), kept in step by triggers. FTS5 returns matches in rowid order, so a
  keyset page stops as soon as it is full.
"""

from django.db import migrations

NAME_MAX = 100  # Entity.name's max_length: the SQLite triggers spell out that many bigrams

PG_FUNCTION = r"""
CREATE OR REPLACE FUNCTION beian_name_grams(name text) RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    -- 'abcd' -> 'aabbccdd' -> 'abbccd' -> 'ab|bc|cd|' -> {ab,bc,cd}; | is chr(1), which no name holds.
    SELECT string_to_array(
        rtrim(
            regexp_replace(
                substr(
                    regexp_replace(translate(name, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz'),
                                   '(.)', '\1\1', 'g'),
                    2, 2 * char_length(name) - 2),
                '(..)', '\1' || chr(1), 'g'),
            chr(1)),
        chr(1))
$$
"""


def _sqlite_grams(column: str) -> str:
    return " || ' ' || ".join(f"substr(lower({column}), {i}, 2)" for i in range(1, NAME_MAX))


def forward(apps, schema_editor):
    connection = schema_editor.connection
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute(PG_FUNCTION)
            cur.execute(
                "CREATE INDEX IF NOT EXISTS bureau_entity_name_grams ON bureau_entity USING gin (beian_name_grams(name))"
            )
            # The query reads how common each bigram is from these statistics (beian.bureau.query):
            # a longer list of the most common ones than the default 1,000.
            cur.execute("ALTER INDEX bureau_entity_name_grams ALTER COLUMN 1 SET STATISTICS 1000")
        else:
            cur.execute(
                "CREATE VIRTUAL TABLE IF NOT EXISTS bureau_entity_grams "
                "USING fts5(grams, content='', tokenize='unicode61 remove_diacritics 0')"
            )
            new, old = _sqlite_grams("new.name"), _sqlite_grams("old.name")
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
            cur.execute(f"INSERT INTO bureau_entity_grams (rowid, grams) SELECT id, {_sqlite_grams('name')} FROM bureau_entity")


def backward(apps, schema_editor):
    connection = schema_editor.connection
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute("DROP INDEX IF EXISTS bureau_entity_name_grams")
            cur.execute("DROP FUNCTION IF EXISTS beian_name_grams(text)")
        else:
            for trigger in ("insert", "update", "delete"):
                cur.execute(f"DROP TRIGGER IF EXISTS bureau_entity_grams_{trigger}")
            cur.execute("DROP TABLE IF EXISTS bureau_entity_grams")


class Migration(migrations.Migration):
    dependencies = [("bureau", "0002_seed_provinces")]
    operations = [
        migrations.RunPython(forward, backward),
        migrations.DeleteModel(name="Throttle"),
    ]
