"""A NOTIFY on beian.enforcement.feed.CHANNEL at each commit that changes a version of the mirror's
websites (PostgreSQL only), so that the feed's watcher wakes the edges' long polls at once rather
than at its next read of the version. One per statement, not per row (a COPY of millions is one),
and PostgreSQL folds the same notification within a transaction into one. On SQLite the watcher
reads the version at its interval, as before."""

from django.db import migrations

CREATE = (
    """
CREATE OR REPLACE FUNCTION beian_mirror_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('beian_mirror', '');
    RETURN NULL;
END
$$
""",
    "DROP TRIGGER IF EXISTS beian_mirror_notify ON provider_filedwebsite",
    """
CREATE TRIGGER beian_mirror_notify AFTER INSERT OR UPDATE OF version ON provider_filedwebsite
    FOR EACH STATEMENT EXECUTE FUNCTION beian_mirror_notify()
""",
)
DROP = (
    "DROP TRIGGER IF EXISTS beian_mirror_notify ON provider_filedwebsite",
    "DROP FUNCTION IF EXISTS beian_mirror_notify()",
)


def create(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        for statement in CREATE:
            schema_editor.execute(statement)


def drop(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        for statement in DROP:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [
        ("enforcement", "0001_edges"),
        ("provider", "0013_mirror_indexes"),
    ]

    operations = [migrations.RunPython(create, drop)]
