"""Writing a synthetic national registry (`beian.bureau.national`) into the bureau's database.

PostgreSQL takes each batch through COPY (psycopg 3's `cursor.copy`); SQLite through `executemany`
in one large transaction per batch, with pragmas for a bulk load that are put back afterwards. The
rows of later batches are built in worker processes while the loader writes the current one.

What the registry's own writers guarantee holds for the loaded rows too:

- Numbers come from the registry's counters (`NumberSerial`), reserved up front in one short
  transaction for the whole load, skipping any number already in the registry: a filing made
  during or after the load gets a number after the loaded ones, and no number is issued twice,
  even if the load is repeated or stops half-way (what it reserved and did not use stays unused).
- Row ids are reserved the same way from each table's own sequence, so the registry's single-row
  inserts never collide with the loaded rows.
- Each batch is one transaction: its rows, the selected provider's feed events (sequence numbers
  taken under the feed counter's row lock, as `feed.emit` takes them, so a provider reading its
  feed never skips one) and one audit record. A load that stops leaves whole batches.

The audit chain records a bulk load as typed records rather than one record per row: a
`registry_bulk_load_started` record with the parameters and what was reserved, one
`registry_bulk_load_batch` per batch stating what it loaded (counts, id and number ranges, the feed
sequence range) and a SHA-256 digest of it, and `registry_bulk_load_finished`. One record per row
would add tens of millions of records that say nothing the batch record does not, and would put
every row through the chain's single lock; the digest binds the batch's content, and since a batch
is a pure function of the seed and what was reserved, anyone can rebuild it and check the digest.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import multiprocessing
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor

from django.conf import settings
from django.db import IntegrityError, connections, transaction
from django.db.models import Q

from beian import sealing
from beian.bureau import audit, holidays, national, providers, query
from beian.bureau.models import AuditRecord, Entity, FeedCounter, NumberSerial, Provider
from beian.bureau.registry import province as province_row
from beian.core import clock, numbers, provinces

DB = "bureau"
BATCH = 50_000  # entities per batch: about 1,000,000 rows a transaction at two websites per entity
TABLES = ("bureau_entity", "bureau_website", "bureau_domain", "bureau_access")
GRAMS = "bureau_entitygram"  # PostgreSQL's name search (migration 0015): rows of the entities' bigrams


@dataclasses.dataclass
class Result:
    load_id: str
    entities: int
    websites: int
    domains: int
    accesses: int
    events: int
    batches: int
    seconds: float
    provider: str
    provider_key: str | None  # printed once when the selected provider was created by the load
    database_bytes: int | None
    phases: dict[str, float] = dataclasses.field(default_factory=dict)  # wall seconds by phase of the loader


class LoadError(Exception):
    pass


@contextlib.contextmanager
def _timed(phases: Counter, name: str) -> Iterator[None]:
    began = time.perf_counter()
    try:
        yield
    finally:
        phases[name] += time.perf_counter() - began


# ---------------------------------------------------------------- providers


def _providers(selected_slug: str) -> tuple[Provider, str | None, list[tuple[int, float]]]:
    """The selected provider (created when absent; its key is returned once) and the synthetic
    providers that hold the rest of the accesses."""
    key = None
    selected = Provider.objects.filter(slug=selected_slug).first()
    if selected is None:
        selected, key = providers.register(slug=selected_slug, name=f"{selected_slug}（模拟接入商）")
    others = []
    for slug, name, weight in national.OTHER_PROVIDERS:
        if slug == selected_slug:
            continue
        row = Provider.objects.filter(slug=slug).first()
        if row is None:
            row, _ = providers.register(slug=slug, name=name)
        others.append((row.pk, weight))
    for provider in [selected, *Provider.objects.filter(pk__in=[pk for pk, _ in others])]:
        FeedCounter.objects.get_or_create(provider=provider)
    return selected, key, others


# ---------------------------------------------------------------- reserving numbers and ids


def _reserve_serials(need: Counter) -> dict[tuple[str, int], list[int]]:
    """For each (province, year) the serials of `need` new entity numbers, taken from the counter
    under its row lock and skipping numbers that already stand in the registry. A national load
    needs hundreds of (province, year) counters: they are read, locked, checked and moved set-wise,
    in a handful of statements rather than a handful per counter."""
    rows = {code: province_row(code) for code in sorted({code for code, _ in need})}
    NumberSerial.objects.bulk_create(
        [NumberSerial(province=rows[code], year=year) for code, year in sorted(need)], ignore_conflicts=True
    )
    wanted = Q()
    for code, year in need:
        wanted |= Q(province_id=code, year=year)
    # Locked in one order (by id), as every other taker of several counters would.
    serials = {
        (s.province_id, s.year): s for s in NumberSerial.objects.select_for_update().filter(wanted).order_by("pk")
    }
    ranges = {key: [serials[key].last + 1, serials[key].last + count] for key, count in need.items()}
    taken: dict[tuple[str, int], list[int]] = {}
    while ranges:
        existing: dict[tuple[str, int], set[int]] = {key: set() for key in ranges}
        between = Q()
        for (code, year), (lo, hi) in ranges.items():
            if hi > numbers.SERIAL_MAX:
                short = rows[code].short
                raise LoadError(f"{short} {year}: no serials left (a year holds {numbers.SERIAL_MAX:,})")
            short = rows[code].short
            between |= Q(
                number__gte=numbers.entity_number(short, year, lo), number__lte=numbers.entity_number(short, year, hi)
            )
        by_short = {rows[code].short: code for code, _ in ranges}
        for found in Entity.objects.filter(between).values_list("number", flat=True):
            parsed = numbers.parse(found)
            key = (by_short.get(parsed.province), int(parsed.digits[:4]))
            if key in existing:
                existing[key].add(int(parsed.digits[4:]))
        unfinished = {}
        for key, (lo, hi) in ranges.items():
            free = [s for s in range(lo, hi + 1) if s not in existing[key]]
            if len(free) >= need[key]:
                taken[key] = free[: need[key]]
            else:
                unfinished[key] = [lo, hi + need[key] - len(free)]
        ranges = unfinished
    for key, values in taken.items():
        serials[key].last = values[-1]
    NumberSerial.objects.bulk_update(list(serials.values()), ["last"], batch_size=1000)
    return taken


def _reserve_ids(sizes: dict[str, int]) -> dict[str, int]:
    """The first id of a block of `sizes[table]` ids per table, from the table's own sequence.
    Called inside a transaction that holds the tables against inserts (PostgreSQL) or the write lock
    (SQLite), so no other writer takes an id in between."""
    conn = connections[DB]
    first: dict[str, int] = {}
    with conn.cursor() as cur:
        if conn.vendor == "postgresql":
            cur.execute(f"LOCK TABLE {', '.join(sizes)} IN SHARE ROW EXCLUSIVE MODE")
            for table, size in sizes.items():
                cur.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
                (sequence,) = cur.fetchone()
                cur.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}")
                (top,) = cur.fetchone()
                cur.execute("SELECT GREATEST(nextval(%s), %s + 1)", [sequence, top])
                (start,) = cur.fetchone()
                cur.execute("SELECT setval(%s, %s)", [sequence, start + max(size, 1) - 1])
                first[table] = start
        else:
            for table, size in sizes.items():
                cur.execute("SELECT seq FROM sqlite_sequence WHERE name = %s", [table])
                row = cur.fetchone()
                cur.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}")
                (top,) = cur.fetchone()
                start = max(row[0] if row else 0, top) + 1
                end = start + max(size, 1) - 1
                if row:
                    cur.execute("UPDATE sqlite_sequence SET seq = %s WHERE name = %s", [end, table])
                else:
                    cur.execute("INSERT INTO sqlite_sequence (name, seq) VALUES (%s, %s)", [table, end])
                first[table] = start
    return first


# ---------------------------------------------------------------- writing a batch


def _copy_text(columns: list) -> bytes:
    """COPY's text format, a row a line. The generator writes no tab, newline or backslash into a
    value (a test holds it to that), so no escaping is needed; NULL is already `\\N`."""
    return ("\n".join(map("\t".join, zip(*columns, strict=True))) + "\n").encode()


# The personal data the generator writes, sealed as the models seal it (beian/sealing.py), and the
# certificate digest the models keep beside it. The batch's audit digest is of the clear rows, so
# anyone can still rebuild a batch and check it (sealing draws a fresh nonce every time).
SEALED = {
    table: tuple(i for i, column in enumerate(national.COLUMNS[table]) if column in sealing_columns)
    for table, sealing_columns in {
        "bureau_entity": ("principal_id_number", "principal_mobile", "principal_email", "cert_number"),
        "bureau_website": ("principal_id_number", "principal_mobile", "principal_email"),
    }.items()
}
CERT_NUMBER = national.COLUMNS["bureau_entity"].index("cert_number")
COLUMNS = {**national.COLUMNS, "bureau_entity": (*national.COLUMNS["bureau_entity"], "cert_digest")}


# A principal's ID number, mobile and email come from the load's synthetic people
# (`national.PEOPLE` of them), so the same clear value recurs in thousands of rows: each is sealed
# once per worker process and column, and the rows share its ciphertext. Sealing was a third of
# the generator's time. What this gives away, that rows with the same ciphertext have the same
# principal, is about synthetic people, in a command that runs only in simulation mode; a value
# filed through the registry is sealed afresh every time, and so is the loaded entity's
# certificate number (a unique column).
PRINCIPAL_SEALED = frozenset({"principal_id_number", "principal_mobile", "principal_email"})
_SEALED_ONCE: dict[str, dict[str, str]] = {}  # context → clear → sealed
_SEALED_ONCE_MAX = 500_000  # an individual's own resident ID recurs only in its websites


def _sealed_once(column: Sequence[str], context: str) -> list[str]:
    once = _SEALED_ONCE.setdefault(context, {})
    if len(once) > _SEALED_ONCE_MAX:
        once.clear()
    missing = set(column).difference(once)
    if missing:
        ordered = sorted(missing)
        once.update(zip(ordered, sealing.seal_many(ordered, context), strict=True))
    return list(map(once.__getitem__, column))


def _seal(table: str, columns: list) -> list:
    """The table's columns with the personal data sealed, column by column."""
    positions = SEALED.get(table)
    if not positions:
        return columns
    names = national.COLUMNS[table]
    sealed = list(columns)
    for i in positions:
        context = f"{table}.{names[i]}"
        if names[i] in PRINCIPAL_SEALED:
            sealed[i] = _sealed_once(columns[i], context)
        else:
            sealed[i] = sealing.seal_many(columns[i], context)
    if table == "bureau_entity":
        sealed.append(sealing.digests("certificate", columns[CERT_NUMBER]))
    return sealed


def _warm(seed: int) -> None:
    """The load's people and address sets, the website names the rules allow, and the people's
    sealed values, made once here before the workers are forked rather than once in every worker."""
    people = national.people(seed)
    national.warm(seed)
    for table in SEALED:
        names = national.COLUMNS[table]
        for i in SEALED[table]:
            if names[i] in PRINCIPAL_SEALED:
                at = national.PRINCIPAL.index(names[i])
                _sealed_once([person[at] for person in people], f"{table}.{names[i]}")


ENTITY_ID, ENTITY_NAME = (national.COLUMNS["bureau_entity"].index(column) for column in ("id", "name"))
_NAME_MAX = 100  # Entity.name's max_length: the insert trigger spells out this many bigrams less one


def name_grams(name: str) -> str:
    """An entity's row of the name search on SQLite, as its insert trigger writes it (migration
    0003: `substr(lower(name), i, 2)` for i from 1 to 99, joined by spaces; SQLite's lower() folds
    A-Z only), without the trigger's trailing empty pieces, which the tokenizer skips. Made in the
    loader's workers: the trigger's 99 substr calls a row were most of the bulk fill's time."""
    low = name.translate(query.ASCII_LOWER)
    return " ".join([low[i : i + 2] for i in range(min(len(low), _NAME_MAX - 1))])


def entity_grams(ids: Sequence[str], names: Sequence[str]) -> bytes:
    """The bigram table's rows for these entities on PostgreSQL (migration 0015), in COPY's text
    format: each distinct bigram of each name, as `beian_name_grams` makes them (A-Z folded). The
    generator's names hold no tab, newline or backslash (`_copy_text`)."""
    lines = [f"{gram}\t{pk}" for pk, name in zip(ids, names, strict=True) for gram in dict.fromkeys(query.grams(name))]
    return ("\n".join(lines) + "\n").encode() if lines else b""


def _prepare(spec: national.Spec) -> tuple[national.Batch, dict[str, bytes] | None]:
    """Run in a worker: the batch, and for PostgreSQL its COPY payloads (bytes cross the process
    boundary far cheaper than millions of small strings), the bigram table's rows among them."""
    # A batch is millions of strings in lists and tuples that refer to no container: nothing the
    # cyclic collector could free, and its passes over them cost a tenth of the batch's time.
    collecting = gc.isenabled()
    gc.disable()
    try:
        batch = national.build(spec)
        batch.columns = {table: _seal(table, columns) for table, columns in batch.columns.items()}
        if spec.dialect.name != national.POSTGRES.name:
            ids, names = batch.columns["bureau_entity"][ENTITY_ID], batch.columns["bureau_entity"][ENTITY_NAME]
            batch.name_grams = list(zip(map(int, ids), map(name_grams, names), strict=True))
            return batch, None
        payloads = {table: _copy_text(columns) for table, columns in batch.columns.items()}
        entities = batch.columns["bureau_entity"]
        payloads[GRAMS] = entity_grams(entities[ENTITY_ID], entities[ENTITY_NAME])
        batch.columns = {}
        return batch, payloads
    finally:
        if collecting:
            gc.enable()


def _next_event_ids(count: int) -> int:
    if count == 0:
        return 0
    return _reserve_ids({"bureau_event": count})["bureau_event"]


def _write(
    batch: national.Batch,
    payloads: dict[str, bytes] | None,
    selected: Provider,
    phases: Counter,
    grams: bool = False,
) -> dict:
    """One batch, in the caller's transaction. Returns what the audit record states of its events.
    `grams`: the name search's insert trigger is set aside, so the batch writes its entities' rows
    (SQLite's FTS5 table, PostgreSQL's bigram table)."""
    conn = connections[DB]
    events = batch.events
    first_event_id = _next_event_ids(len(events))
    counter = FeedCounter.objects.select_for_update().get(provider=selected)
    first_seq = counter.last_seq + 1
    last_seq = counter.last_seq + len(events)
    FeedCounter.objects.filter(provider=selected).update(last_seq=last_seq)
    with conn.cursor() as cur:
        if conn.vendor == "postgresql":
            raw = cur.cursor
            raw.execute("SET LOCAL synchronous_commit = off")  # a bulk load can redo its last batch
            for table in TABLES:
                with _timed(phases, table), raw.copy(f"COPY {table} ({', '.join(COLUMNS[table])}) FROM STDIN") as copy:
                    copy.write(payloads[table])
            if grams:
                with _timed(phases, GRAMS), raw.copy(f"COPY {GRAMS} (gram, entity_id) FROM STDIN") as copy:
                    copy.write(payloads[GRAMS])
            if events:
                lines = [
                    f"{first_event_id + i}\t{selected.pk}\t{first_seq + i}\t{kind}\t{data}\t{at}"
                    for i, ((kind, data), at) in enumerate(zip(events, batch.event_times, strict=True))
                ]
                with raw.copy(f"COPY bureau_event ({', '.join(national.EVENT_COLUMNS)}) FROM STDIN") as copy:
                    copy.write(("\n".join(lines) + "\n").encode())
        else:
            raw = conn.connection  # sqlite3's own executemany: Django's would rewrite every query
            for table in TABLES:
                columns = COLUMNS[table]
                sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
                with _timed(phases, table):
                    raw.executemany(sql, zip(*batch.columns[table], strict=True))
            if grams:
                with _timed(phases, "bureau_entity_grams"):
                    raw.executemany("INSERT INTO bureau_entity_grams (rowid, grams) VALUES (?, ?)", batch.name_grams)
            if events:
                raw.executemany(
                    f"INSERT INTO bureau_event ({', '.join(national.EVENT_COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?)",
                    [
                        (first_event_id + i, selected.pk, first_seq + i, kind, data, at)
                        for i, ((kind, data), at) in enumerate(zip(events, batch.event_times, strict=True))
                    ],
                )
    if not events:
        return {"provider": selected.slug, "first_seq": None, "last_seq": None}
    return {"provider": selected.slug, "first_seq": first_seq, "last_seq": last_seq}


@contextlib.contextmanager
def _bulk_pragmas() -> Iterator[None]:
    """SQLite: no fsync per batch and a large page cache while loading; the settings of every other
    connection (`beian.env.database`) are put back afterwards."""
    conn = connections[DB]
    if conn.vendor != "sqlite" or conn.in_atomic_block:
        yield  # inside a caller's transaction (the tests) SQLite keeps its safety level
        return
    with conn.cursor() as cur:
        cur.execute("PRAGMA cache_size")
        (cache,) = cur.fetchone()
        cur.execute("PRAGMA synchronous = OFF")
        cur.execute("PRAGMA cache_size = -1048576")  # 1 GiB
        cur.execute("PRAGMA temp_store = MEMORY")
    try:
        yield
    finally:
        with conn.cursor() as cur:
            cur.execute("PRAGMA synchronous = NORMAL")
            cur.execute(f"PRAGMA cache_size = {int(cache)}")
            cur.execute("PRAGMA temp_store = DEFAULT")
            cur.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def database_bytes() -> int | None:
    conn = connections[DB]
    with conn.cursor() as cur:
        if conn.vendor == "postgresql":
            cur.execute("SELECT pg_database_size(current_database())")
        else:
            cur.execute("SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()")
        return cur.fetchone()[0]


# ---------------------------------------------------------------- secondary indexes and constraints
#
# Kept up row by row, the loaded tables' secondary indexes are most of a large load's time: keys
# such as certificate digests and domain names land all over their B-trees, and every row queues a
# check of each foreign key. A load that at least doubles the registry does what pg_restore does:
# it sets the indexes, unique constraints and foreign keys of the four tables aside (primary keys
# stay; they are what keeps a concurrent writer's row from taking a loaded id), loads, and makes
# them again from sorted data at the end: foreign keys added NOT VALID and then validated, so the
# database itself checks every loaded row once. What was set aside is read from the catalog, so it
# is always what the migrations made, and it is written into the load's `registry_bulk_load_started`
# audit record before anything is dropped: a load that stops half-way leaves the indexes missing,
# and the next load (or `restore_set_aside`) makes them again from that record.
#
# While they are aside, a filing made at the same time is checked for duplicates by the registry's
# own lookups only (and slowly, without the indexes); making a unique index again then refuses a
# duplicate that slipped in, and the load stops with a LoadError naming it. A national load is run
# before the registry opens, so this window is accepted rather than locking writers out for minutes.


@dataclasses.dataclass(frozen=True)
class SetAside:
    kind: str  # "primary", "index", "unique", "foreign_key" or "trigger": the order they are made again in
    table: str
    name: str
    create: tuple[str, ...]  # the statements that make it again


_KIND_ORDER = {"primary": 0, "index": 1, "unique": 2, "foreign_key": 3, "trigger": 4}


def _secondary(cur, last_ids: dict[str, int]) -> list[SetAside]:
    """What of the loaded tables may be set aside: everything but primary keys and checks, and the
    name search's insert trigger (on PostgreSQL with its bigram table's key)."""
    found: list[SetAside] = []
    if connections[DB].vendor == "postgresql":
        cur.execute(
            """
            SELECT c.relname, i.relname, pg_get_indexdef(x.indexrelid),
                   ARRAY(SELECT format('ALTER INDEX %%I ALTER COLUMN %%s SET STATISTICS %%s', i.relname, a.attnum,
                                       a.attstattarget)
                         FROM pg_attribute a WHERE a.attrelid = i.oid AND a.attstattarget > 0 ORDER BY a.attnum),
                   k.conname
            FROM pg_index x
            JOIN pg_class i ON i.oid = x.indexrelid
            JOIN pg_class c ON c.oid = x.indrelid
            LEFT JOIN pg_constraint k ON k.conindid = x.indexrelid AND k.conrelid = x.indrelid AND k.contype = 'u'
            WHERE c.relname = ANY(%s) AND c.relnamespace = 'public'::regnamespace AND NOT x.indisprimary
            ORDER BY c.relname, i.relname
            """,
            [list(TABLES)],
        )
        for table, index, definition, statistics, constraint in cur.fetchall():
            if constraint is None:
                found.append(SetAside("index", table, index, (definition, *statistics)))
            else:
                using = f'ALTER TABLE {table} ADD CONSTRAINT "{constraint}" UNIQUE USING INDEX "{index}"'
                found.append(SetAside("unique", table, constraint, (definition, *statistics, using)))
        cur.execute(
            """
            SELECT c.relname, k.conname, pg_get_constraintdef(k.oid)
            FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
            WHERE k.contype = 'f' AND c.relname = ANY(%s) AND c.relnamespace = 'public'::regnamespace
            ORDER BY c.relname, k.conname
            """,
            [list(TABLES)],
        )
        for table, constraint, definition in cur.fetchall():
            found.append(
                SetAside(
                    "foreign_key",
                    table,
                    constraint,
                    (
                        f'ALTER TABLE {table} ADD CONSTRAINT "{constraint}" {definition} NOT VALID',
                        f'ALTER TABLE {table} VALIDATE CONSTRAINT "{constraint}"',
                    ),
                )
            )
        # The bigram table (migration 0015) is filled row by row by the entity table's insert
        # trigger, each row landing somewhere in its key's B-tree: set aside, both. Each batch
        # writes its entities' bigrams (made by the workers, `entity_grams`), the key is built from
        # them at the end, and an entity filed beside the load (its id after the load's reserved
        # ids) gets its rows when the trigger is made again, under the trigger's lock.
        cur.execute(
            "SELECT k.conname, pg_get_constraintdef(k.oid) FROM pg_constraint k "
            "WHERE k.conrelid = %s::regclass AND k.contype = 'p'",
            [GRAMS],
        )
        for constraint, definition in cur.fetchall():
            found.append(
                SetAside(
                    "primary", GRAMS, constraint, (f'ALTER TABLE {GRAMS} ADD CONSTRAINT "{constraint}" {definition}',)
                )
            )
        cur.execute(
            "SELECT t.tgname, pg_get_triggerdef(t.oid) FROM pg_trigger t "
            "WHERE t.tgrelid = 'bureau_entity'::regclass AND NOT t.tgisinternal AND t.tgname = %s",
            [f"{GRAMS}_insert"],
        )
        for name, definition in cur.fetchall():
            fill = (
                f"INSERT INTO {GRAMS} (gram, entity_id) SELECT DISTINCT g, e.id FROM bureau_entity e, "
                f"unnest(beian_name_grams(e.name)) AS g WHERE e.id > {last_ids['bureau_entity']} ON CONFLICT DO NOTHING"
            )
            found.append(SetAside("trigger", "bureau_entity", name, (definition, fill)))
    else:
        # SQLite: the indexes made by CREATE INDEX; a column's own UNIQUE and the foreign keys are
        # part of its table and stay.
        placeholders = ", ".join("%s" for _ in TABLES)
        cur.execute(
            f"SELECT tbl_name, name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
            f"AND tbl_name IN ({placeholders}) ORDER BY tbl_name, name",
            list(TABLES),
        )
        found = [SetAside("index", table, name, (sql,)) for table, name, sql in cur.fetchall()]
        # The name search's FTS5 table is filled by a trigger, row by row: most of a SQLite load's
        # time (docs/performance.md). Set aside, each batch writes its entities' rows itself (their
        # bigrams made by the workers, `name_grams`), and a row filed beside the load (its id after
        # the load's reserved ids) is filled at the end by one INSERT … SELECT of the trigger's own
        # expression (the trigger's NEW becomes the table's alias).
        cur.execute(
            f"SELECT tbl_name, name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name IN ({placeholders}) "
            "ORDER BY name",
            list(TABLES),
        )
        for table, name, sql in cur.fetchall():
            body = _INSERT_TRIGGER.fullmatch(sql.strip())
            if body is None or body["table"] != table:
                continue  # the update and delete triggers stay
            fill = f"{body['insert']} SELECT {body['values']} FROM {table} AS new WHERE new.id > {last_ids[table]}"
            found.append(SetAside("trigger", table, name, (fill, sql)))
    return sorted(found, key=lambda item: _KIND_ORDER[item.kind])


_INSERT_TRIGGER = re.compile(
    r"CREATE TRIGGER \S+ AFTER INSERT ON (?P<table>\w+) BEGIN "
    r"(?P<insert>INSERT INTO [^;]*?) VALUES \((?P<values>.*)\); END",
    re.S,
)


def _exists(cur, item: SetAside) -> bool:
    if connections[DB].vendor != "postgresql":
        cur.execute("SELECT 1 FROM sqlite_master WHERE type = %s AND name = %s", [item.kind, item.name])
    elif item.kind == "index":
        cur.execute("SELECT 1 FROM pg_class WHERE relname = %s AND relnamespace = 'public'::regnamespace", [item.name])
    elif item.kind == "trigger":
        cur.execute("SELECT 1 FROM pg_trigger WHERE tgname = %s AND tgrelid = %s::regclass", [item.name, item.table])
    else:
        cur.execute(
            "SELECT 1 FROM pg_constraint WHERE conname = %s AND conrelid = %s::regclass", [item.name, item.table]
        )
    return cur.fetchone() is not None


def _drop(cur, items: list[SetAside]) -> None:
    for item in reversed(items):  # foreign keys first: a unique constraint may be what one refers to
        if item.kind == "index":
            cur.execute(f'DROP INDEX IF EXISTS "{item.name}"')
        elif item.kind == "trigger":
            on = f" ON {item.table}" if connections[DB].vendor == "postgresql" else ""
            cur.execute(f'DROP TRIGGER IF EXISTS "{item.name}"{on}')
        else:
            cur.execute(f'ALTER TABLE {item.table} DROP CONSTRAINT IF EXISTS "{item.name}"')


def _make_again(items: list[SetAside], phases: Counter | None = None) -> None:
    """Make what was set aside, in its order, each with a large sort memory (PostgreSQL builds a
    B-tree with parallel workers as well). Each in its own transaction: what is made stays made."""
    conn = connections[DB]
    phases = Counter() if phases is None else phases
    with conn.cursor() as cur:
        if conn.vendor == "postgresql":
            cur.execute(f"SET maintenance_work_mem = '{MAINTENANCE_WORK_MEM}'")
            cur.execute("SET max_parallel_maintenance_workers = 2")
        try:
            for item in items:
                if _exists(cur, item):
                    continue
                try:
                    with _timed(phases, f"make {item.name}"), transaction.atomic(using=DB):
                        for statement in item.create:
                            cur.execute(statement)
                except IntegrityError as exc:
                    raise LoadError(
                        f"{item.name} could not be made again on {item.table}: {exc} "
                        "(a row written beside the load breaks it; python -m beian load_national "
                        "makes it again once that row is put right)"
                    ) from exc
        finally:
            if conn.vendor == "postgresql":
                cur.execute("RESET maintenance_work_mem")
                cur.execute("RESET max_parallel_maintenance_workers")


MAINTENANCE_WORK_MEM = "1GB"

# What a migration removed from the loaded tables, by name: a load that stopped before that
# migration names it in its record, and the restore must not make it again. (A constraint that a
# migration renames needs no entry: the migration itself fails until the restore has run.)
RETIRED = frozenset(
    {
        "bureau_entity_name_grams",  # bureau 0017: the name search reads the bigram table
    }
)


def restore_set_aside() -> int:
    """Make again whatever an earlier load set aside and did not get to make again (it stopped).
    Read from the `registry_bulk_load_started` records of loads that neither finished nor were
    restored already (what a later migration removed must stay removed); each restored load gets
    a `registry_bulk_load_restored` record. Returns how many were made."""
    conn = connections[DB]
    if conn.in_atomic_block:
        return 0
    closed = AuditRecord.objects.filter(
        action__in=("registry_bulk_load_finished", "registry_bulk_load_restored")
    ).values("subject")
    started = AuditRecord.objects.filter(action="registry_bulk_load_started", data__has_key="set_aside").exclude(
        subject__in=closed
    )
    loads = list(started.order_by("-id").values_list("subject", "data"))
    wanted: dict[str, SetAside] = {}
    for _, data in loads:
        for kind, table, name, create in data["set_aside"]:
            if name not in RETIRED:
                wanted.setdefault(name, SetAside(kind, table, name, tuple(create)))
    with conn.cursor() as cur:
        missing = [item for item in wanted.values() if not _exists(cur, item)]
    _make_again(sorted(missing, key=lambda item: _KIND_ORDER[item.kind]))
    if loads:
        with transaction.atomic(using=DB):
            for subject, _ in loads:
                audit.append(
                    actor="cli:load_national",
                    action="registry_bulk_load_restored",
                    subject=subject,
                    data={"made_again": [item.name for item in missing]},
                )
    return len(missing)


def _sets_aside(entities: int) -> bool:
    """A load that at least doubles the entities, outside a caller's transaction (the tests keep
    theirs, and DDL there would hold the tables until the test ends)."""
    conn = connections[DB]
    return not conn.in_atomic_block and entities >= Entity.objects.count()


# The name search's tables get their pages marked all visible as well: the public query by name
# reads a bigram's entities from the bigram table's key and checks each name in the entity table's
# narrow names index (migration 0014), both by index-only scans, which read the table's own page
# for every row on a page not so marked, as for all of them after a COPY. Autovacuum would mark
# them later; the load's end does it at once. No index is read: a table just loaded has nothing
# for VACUUM to remove from them. VACUUM cannot run inside a transaction (the tests' smaller
# loads), where ANALYZE alone does.
_ANALYZE = {table: "VACUUM (ANALYZE, INDEX_CLEANUP OFF)" for table in ("bureau_entity", GRAMS)}


def _analyze(tables: Sequence[str] = (*TABLES, GRAMS, "bureau_event"), phases: Counter | None = None) -> None:
    conn = connections[DB]
    phases = Counter() if phases is None else phases
    with conn.cursor() as cur:
        if conn.vendor == "postgresql":
            for table in tables:
                statement = "ANALYZE" if conn.in_atomic_block else _ANALYZE.get(table, "ANALYZE")
                with _timed(phases, f"analyze {table}"):
                    cur.execute(f"{statement} {table}")
        else:
            cur.execute("PRAGMA analysis_limit = 1000")  # sampled statistics: seconds, not minutes
            cur.execute("ANALYZE")


def _finish(items: list[SetAside], phases: Counter) -> None:
    """Make again what was set aside, then ANALYZE (the entity table VACUUMed too, `_ANALYZE`). On
    PostgreSQL in two connections at once: the name search's part (the entity table's indexes, the
    bigram table's key, their VACUUM and ANALYZE) on a second connection, while this one makes the
    other tables' indexes and foreign keys, leaving for last what locks the entity table too (the
    foreign keys that refer to it and the bigram trigger: they would only wait for the second)."""
    conn = connections[DB]
    if conn.vendor != "postgresql" or not items:
        with _timed(phases, "indexes"):
            _make_again(items, phases)
        with _timed(phases, "analyze"):
            _analyze(phases=phases)
        return
    names = ("bureau_entity", GRAMS)
    entity = [i for i in items if i.table in names and i.kind in ("primary", "index", "unique")]
    locks_entity = [
        i
        for i in items
        if i.kind == "trigger"
        or (i.kind == "foreign_key" and (i.table == "bureau_entity" or "bureau_entity(" in i.create[0]))
    ]
    others = [i for i in items if i not in entity and i not in locks_entity]
    side_phases: Counter = Counter()
    failed: list[BaseException] = []

    def side() -> None:
        try:
            _make_again(entity, side_phases)
            _analyze(names, side_phases)
        except BaseException as exc:  # handed to the loader's thread, which raises it
            failed.append(exc)
        finally:
            connections[DB].close()

    thread = threading.Thread(target=side, name="bulkload-entity-indexes")
    with _timed(phases, "indexes"):
        thread.start()
        try:
            _make_again(others, phases)
            _analyze([t for t in (*TABLES, "bureau_event") if t not in names], phases)
        finally:
            thread.join()
        phases.update(side_phases)
        if failed:
            raise failed[0]
        _make_again(locks_entity, phases)


# ---------------------------------------------------------------- the load


def load(
    *,
    entities: int,
    websites: int,
    seed: int = 0,
    provider: str = "nat-selected",
    batch: int = BATCH,
    jobs: int | None = None,
    progress: Callable[[national.Batch], None] | None = None,
) -> Result:
    """Fill the bureau's registry with `entities` entities and `websites` websites."""
    started = time.perf_counter()
    conn = connections[DB]
    dialect = national.POSTGRES if conn.vendor == "postgresql" else national.SQLITE
    now = clock.now()
    now_epoch = national.epoch_of(now)
    year = clock.local_date(now).year
    sizes = national.batch_sizes(entities, websites, batch)
    plans = [national.province_years(n, seed, i, year) for i, (n, _) in enumerate(sizes)]
    load_id = str(uuid.uuid4())

    phases: Counter = Counter()
    with _timed(phases, "restore"):
        restore_set_aside()
    set_aside: list[SetAside] = []
    setting_aside = _sets_aside(entities)
    with _timed(phases, "reserve"), transaction.atomic(using=DB):
        selected, key, others = _providers(provider)
        serials = _reserve_serials(sum(plans, Counter()))
        blocks = [national.id_blocks(n, w) for n, w in sizes]
        reserved = {t: sum(b[t] for b in blocks) for t in TABLES}
        first_ids = _reserve_ids(reserved)
        if setting_aside:
            with conn.cursor() as cur:
                set_aside = _secondary(cur, {t: first_ids[t] + max(reserved[t], 1) - 1 for t in TABLES})
        audit.append(
            actor="cli:load_national",
            action="registry_bulk_load_started",
            subject=f"load:{load_id}",
            data={
                "entities": entities,
                "websites": websites,
                "seed": seed,
                "batches": len(sizes),
                "provider": selected.slug,
                "database": dialect.name,
                "first_ids": first_ids,
                "serials": {f"{code}:{y}": [s[0], s[-1], len(s)] for (code, y), s in sorted(serials.items())},
                "set_aside": [[i.kind, i.table, i.name, list(i.create)] for i in set_aside],
            },
        )
        # Dropped in the transaction that records them: never one without the other.
        with conn.cursor() as cur:
            _drop(cur, set_aside)

    # Hand each batch its own serials and id blocks, in order.
    specs = []
    cursor_ids = dict(first_ids)
    serial_iters = {key: iter(values) for key, values in serials.items()}
    shorts = {p.code: p.short for p in provinces.PROVINCES}
    calendar = holidays.calendar()
    for index, ((n, w), plan, block) in enumerate(zip(sizes, plans, blocks, strict=True)):
        specs.append(
            national.Spec(
                seed=seed,
                index=index,
                entities=n,
                websites=w,
                now=now_epoch,
                serials={k: [next(serial_iters[k]) for _ in range(c)] for k, c in sorted(plan.items())},
                provinces_short=shorts,
                first_entity_id=cursor_ids["bureau_entity"],
                first_website_id=cursor_ids["bureau_website"],
                first_domain_id=cursor_ids["bureau_domain"],
                first_access_id=cursor_ids["bureau_access"],
                selected_provider=selected.pk,
                other_providers=tuple(others),
                dialect=dialect,
                shell_grace_days=settings.BEIAN_SHELL_GRACE_DAYS,
                calendar=calendar,
            )
        )
        for table in TABLES:
            cursor_ids[table] += block[table]

    grams = any(item.kind == "trigger" for item in set_aside)
    with _timed(phases, "people"):
        _warm(seed)
    totals: Counter = Counter()
    with _bulk_pragmas():
        for batch_rows, payloads in _batches(specs, jobs, phases):
            with transaction.atomic(using=DB):
                feed_range = _write(batch_rows, payloads, selected, phases, grams)
                audit.append(
                    actor="cli:load_national",
                    action="registry_bulk_load_batch",
                    subject=f"load:{load_id}",
                    data={
                        "batch": batch_rows.index,
                        "of": len(specs),
                        "counts": batch_rows.counts,
                        "first_ids": {t: getattr(specs[batch_rows.index], f"first_{t[7:]}_id") for t in TABLES},
                        "entity_numbers": batch_rows.numbers,
                        "feed": feed_range,
                        "digest": f"sha256:{batch_rows.digest}",
                    },
                )
                commit_started = time.perf_counter()
            phases["commit"] += time.perf_counter() - commit_started
            totals.update(batch_rows.counts)
            if progress is not None:
                progress(batch_rows)
        _finish(set_aside, phases)
    size = database_bytes()
    seconds = time.perf_counter() - started
    with transaction.atomic(using=DB):
        audit.append(
            actor="cli:load_national",
            action="registry_bulk_load_finished",
            subject=f"load:{load_id}",
            data={
                "counts": dict(totals),
                "seconds": round(seconds, 1),
                "database_bytes": size,
                "set_aside_made_again": [item.name for item in set_aside],
            },
        )
    return Result(
        load_id=load_id,
        entities=totals["bureau_entity"],
        websites=totals["bureau_website"],
        domains=totals["bureau_domain"],
        accesses=totals["bureau_access"],
        events=totals["events"],
        batches=len(specs),
        seconds=seconds,
        provider=selected.slug,
        provider_key=key,
        database_bytes=size,
        phases={name: round(value, 2) for name, value in phases.items()},
    )


def _batches(
    specs: list[national.Spec], jobs: int | None, phases: Counter
) -> Iterator[tuple[national.Batch, dict | None]]:
    """The batches in order, built ahead by `jobs` worker processes (none: in this process)."""
    if jobs is None:
        # One per core: with the indexes set aside the database keeps up, and the loader mostly
        # waits for the workers (the `wait_for_workers` phase).
        jobs = max(1, multiprocessing.cpu_count() or 2)
    if jobs == 0 or len(specs) == 1:
        for spec in specs:
            with _timed(phases, "build"):
                prepared = _prepare(spec)
            yield prepared
        return
    # The workers are forked: they must not share this process's database connections.
    connections.close_all()
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        pending: list[Future] = []
        upcoming = iter(specs)
        for spec in upcoming:
            pending.append(pool.submit(_prepare, spec))
            if len(pending) > jobs:
                break
        while pending:
            with _timed(phases, "wait_for_workers"):
                done = pending.pop(0).result()
            nxt = next(upcoming, None)
            if nxt is not None:
                pending.append(pool.submit(_prepare, nxt))
            yield done
