"""Writes of many rows of the mirror in one statement each, the rows sent as one JSON document.

A provider catching up on a national registry writes about a hundred thousand websites through its
feed. Django's `bulk_create(update_conflicts=True)` builds a model instance and prepares every value
of every row in Python (more than the whole budget of a catch-up at 5,000 events a second:
docs/performance.md, Feed catch-up, measures it), and a lookup by
thousands of keys (`__in`) sends and parses as many parameters. Here the rows are one JSON text
(encoded in C), an array of arrays, that the database unpacks itself: `jsonb_array_elements` on
PostgreSQL, `json_each` on SQLite. The statements are the same on both; only that row source
differs. Column names and types come from the model's fields.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import date, datetime

from django.core.exceptions import ImproperlyConfigured
from django.db import connections, models, router
from django.db.models.expressions import RawSQL


def _connection(model: type[models.Model]):
    return connections[router.db_for_write(model)]


def _rows(connection, fields: Sequence[models.Field]) -> str:
    """A subquery of the document's rows (its one parameter, an array of arrays of values in the
    order of `fields`) with the fields' columns."""
    qn = connection.ops.quote_name
    if connection.vendor == "postgresql":
        # jsonb, parsed once, then each value by position: about three times faster than
        # json_to_recordset over objects, and the document is smaller.
        picked = ", ".join(
            f"(e -> {i}) AS {qn(f.column)}"
            if isinstance(f, models.JSONField)
            # Cast without a length (`varchar`, not `varchar(44)`, which would cut a longer value):
            # storing it is what refuses one too long, as an INSERT of it would.
            else f"(e ->> {i})::{f.cast_db_type(connection)} AS {qn(f.column)}"
            for i, f in enumerate(fields)
        )
        return f"(SELECT {picked} FROM jsonb_array_elements(%s::jsonb) AS e)"
    if connection.vendor == "sqlite":
        picked = ", ".join(f"json_extract(value, '$[{i}]') AS {qn(f.column)}" for i, f in enumerate(fields))
        return f"(SELECT {picked} FROM json_each(%s))"
    # beian runs on these two databases only (its settings refuse any other URL).
    raise ImproperlyConfigured(f"the mirror's upserts run on PostgreSQL or SQLite, not {connection.vendor}")


def _document(connection, rows: Iterable[Sequence]) -> str:
    seen: dict[object, str] = {}  # a page's rows share their `updated_at`: adapt it once

    def value(v: object) -> str:
        # As Django would store it: SQLite keeps naive UTC text, PostgreSQL parses ISO 8601.
        if v not in seen:
            if isinstance(v, datetime):
                seen[v] = str(connection.ops.adapt_datetimefield_value(v))
            elif isinstance(v, date):
                seen[v] = str(connection.ops.adapt_datefield_value(v))
            else:
                raise TypeError(f"{type(v).__name__} is not a value of the mirror")
        return seen[v]

    return json.dumps(rows if isinstance(rows, list) else list(rows), ensure_ascii=False, default=value)


def upsert(
    model: type[models.Model],
    names: Sequence[str],
    rows: Sequence[Sequence],
    *,
    unique: Sequence[str],
    update: Sequence[str] = (),
    returning: Sequence[str] = (),
) -> list[tuple]:
    """Insert `rows` (values in the order of the field `names`) or, where a row with the same
    `unique` fields exists, set its `update` fields (none: leave it as it is). Returns the
    `returning` columns of every row written (not of rows left alone). Each key may appear in
    `rows` once: the caller keeps the last of each."""
    if not rows:
        return []
    connection = _connection(model)
    qn = connection.ops.quote_name
    meta = model._meta
    fields = [meta.get_field(name) for name in names]
    columns = ", ".join(qn(f.column) for f in fields)
    target = ", ".join(qn(meta.get_field(name).column) for name in unique)
    if update:
        changes = ", ".join(f"{qn(c)} = excluded.{qn(c)}" for c in (meta.get_field(name).column for name in update))
        conflict = f"ON CONFLICT ({target}) DO UPDATE SET {changes}"
    else:
        conflict = f"ON CONFLICT ({target}) DO NOTHING"
    # `WHERE true` keeps SQLite from reading the ON CONFLICT that follows as part of a join.
    source = _rows(connection, fields)
    sql = f"INSERT INTO {qn(meta.db_table)} ({columns}) SELECT {columns} FROM {source} AS s WHERE true {conflict}"
    if returning:
        sql += " RETURNING " + ", ".join(qn(meta.get_field(name).column) for name in returning)
    with connection.cursor() as cursor:
        cursor.execute(sql, [_document(connection, rows)])
        return cursor.fetchall() if returning else []


def among(model: type[models.Model], name: str, values: Iterable) -> RawSQL:
    """A subquery of `values` for `field__in=`, as one parameter however many they are."""
    connection = _connection(model)
    field = model._meta.get_field(name)
    column = connection.ops.quote_name(field.column)
    return RawSQL(
        f"SELECT {column} FROM {_rows(connection, [field])} AS s",
        [_document(connection, ((v,) for v in values))],
    )


def keep_only(
    model: type[models.Model], parent: str, child: str, sets: dict[int, Iterable[str]]
) -> list[tuple[int, str]]:
    """Make the `child` values of each `parent` row exactly its set in `sets` (parent id → values):
    delete the others, insert the missing ones (the pair is unique). Two statements. Returns the
    (parent, child) pairs deleted (the mirror keeps the domains taken off: beian.provider.withdrawn)."""
    if not sets:
        return []
    connection = _connection(model)
    qn = connection.ops.quote_name
    meta = model._meta
    fields = [meta.get_field(parent), meta.get_field(child)]
    p, c = (qn(f.column) for f in fields)
    table = qn(meta.db_table)
    # A parent with no children at all is a row whose child is null: it still names its parent.
    wanted = _document(connection, ((pk, v) for pk, values in sets.items() for v in [*values] or [None]))
    source = _rows(connection, fields)
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {table} WHERE {p} IN (SELECT {p} FROM {source} AS s) AND NOT EXISTS "
            f"(SELECT 1 FROM {source} AS s WHERE s.{p} = {table}.{p} AND s.{c} = {table}.{c}) "
            f"RETURNING {p}, {c}",
            [wanted, wanted],
        )
        deleted = cursor.fetchall()
        cursor.execute(
            f"INSERT INTO {table} ({p}, {c}) SELECT {p}, {c} FROM {source} AS s WHERE s.{c} IS NOT NULL "
            f"ON CONFLICT ({p}, {c}) DO NOTHING",
            [wanted],
        )
    return [(pk, value) for pk, value in deleted]
