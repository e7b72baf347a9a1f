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
import multiprocessing
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor

from django.conf import settings
from django.db import connections, transaction

from beian import sealing
from beian.bureau import audit, holidays, national, providers
from beian.bureau.models import Entity, FeedCounter, NumberSerial, Provider
from beian.bureau.registry import province as province_row
from beian.core import clock, numbers, provinces

DB = "bureau"
BATCH = 50_000  # entities per batch: about 1,000,000 rows a transaction at two websites per entity
TABLES = ("bureau_entity", "bureau_website", "bureau_domain", "bureau_access")


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


class LoadError(Exception):
    pass


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
    under its row lock and skipping numbers that already stand in the registry."""
    taken: dict[tuple[str, int], list[int]] = {}
    for (code, year), count in sorted(need.items()):
        prov = province_row(code)
        NumberSerial.objects.get_or_create(province=prov, year=year)
        serial = NumberSerial.objects.select_for_update().get(province=prov, year=year)
        lo = serial.last + 1
        hi = lo + count - 1
        existing: set[int] = set()
        while True:
            if hi > numbers.SERIAL_MAX:
                raise LoadError(f"{prov.short} {year}: no serials left (a year holds {numbers.SERIAL_MAX:,})")
            found = Entity.objects.filter(
                number__gte=numbers.entity_number(prov.short, year, lo),
                number__lte=numbers.entity_number(prov.short, year, hi),
            ).values_list("number", flat=True)
            existing |= {numbers.parse(n).digits for n in found}
            free = [s for s in range(lo, hi + 1) if f"{year}{s:06d}" not in existing]
            if len(free) >= count:
                break
            hi += count - len(free)
        taken[(code, year)] = free[:count]
        NumberSerial.objects.filter(pk=serial.pk).update(last=taken[(code, year)][-1])
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


def _copy_text(rows: list[tuple]) -> bytes:
    """COPY's text format. The generator writes no tab, newline or backslash into a value (a test
    holds it to that), so no escaping is needed; NULL is already `\\N`."""
    return ("\n".join(["\t".join(row) for row in rows]) + "\n").encode()


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


def _seal(table: str, rows: list[tuple]) -> list[tuple]:
    positions = SEALED.get(table)
    if not positions:
        return rows
    sealed = []
    for row in rows:
        values = list(row)
        for i in positions:
            values[i] = sealing.seal(row[i], f"{table}.{national.COLUMNS[table][i]}")
        if table == "bureau_entity":
            values.append(sealing.digest("certificate", row[CERT_NUMBER]))
        sealed.append(tuple(values))
    return sealed


def _prepare(spec: national.Spec) -> tuple[national.Batch, dict[str, bytes] | None]:
    """Run in a worker: the batch, and for PostgreSQL its COPY payloads (bytes cross the process
    boundary far cheaper than millions of small strings)."""
    batch = national.build(spec)
    batch.rows = {table: _seal(table, rows) for table, rows in batch.rows.items()}
    if spec.dialect.name != national.POSTGRES.name:
        return batch, None
    payloads = {table: _copy_text(rows) for table, rows in batch.rows.items()}
    batch.rows = {}
    return batch, payloads


def _next_event_ids(count: int) -> int:
    if count == 0:
        return 0
    return _reserve_ids({"bureau_event": count})["bureau_event"]


def _write(batch: national.Batch, payloads: dict[str, bytes] | None, selected: Provider) -> dict:
    """One batch, in the caller's transaction. Returns what the audit record states of its events."""
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
                with raw.copy(f"COPY {table} ({', '.join(COLUMNS[table])}) FROM STDIN") as copy:
                    copy.write(payloads[table])
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
                raw.executemany(sql, batch.rows[table])
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


# The name index of migration 0003 (PostgreSQL). Kept up row by row, it is most of a large load's
# time; a load that at least doubles the entities drops it and builds it again at the end, which
# costs a fraction of that. Every load first makes sure it exists (a load that was killed may have
# left it dropped).
NAME_INDEX = "bureau_entity_name_grams"
NAME_INDEX_DDL = (
    f"CREATE INDEX IF NOT EXISTS {NAME_INDEX} ON bureau_entity USING gin (beian_name_grams(name))",
    f"ALTER INDEX {NAME_INDEX} ALTER COLUMN 1 SET STATISTICS 1000",
)


def _ensure_name_index() -> None:
    conn = connections[DB]
    if conn.vendor != "postgresql" or conn.in_atomic_block:
        return  # inside a caller's transaction (the tests) the index stays as it is
    with conn.cursor() as cur:
        cur.execute("SET maintenance_work_mem = '512MB'")
        for statement in NAME_INDEX_DDL:
            cur.execute(statement)
        cur.execute("RESET maintenance_work_mem")


@contextlib.contextmanager
def _name_index_set_aside(entities: int) -> Iterator[None]:
    conn = connections[DB]
    if conn.vendor != "postgresql" or conn.in_atomic_block or entities < Entity.objects.count():
        yield
        return
    with conn.cursor() as cur:
        cur.execute(f"DROP INDEX IF EXISTS {NAME_INDEX}")
    try:
        yield
    finally:
        _ensure_name_index()


def _analyze() -> None:
    conn = connections[DB]
    with conn.cursor() as cur:
        if conn.vendor == "postgresql":
            for table in (*TABLES, "bureau_event"):
                cur.execute(f"ANALYZE {table}")
        else:
            cur.execute("PRAGMA analysis_limit = 1000")  # sampled statistics: seconds, not minutes
            cur.execute("ANALYZE")


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

    with transaction.atomic(using=DB):
        selected, key, others = _providers(provider)
        serials = _reserve_serials(sum(plans, Counter()))
        blocks = [national.id_blocks(n, w) for n, w in sizes]
        first_ids = _reserve_ids({t: sum(b[t] for b in blocks) for t in TABLES})
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
            },
        )

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

    totals: Counter = Counter()
    _ensure_name_index()
    with _bulk_pragmas(), _name_index_set_aside(entities):
        for batch_rows, payloads in _batches(specs, jobs):
            with transaction.atomic(using=DB):
                feed_range = _write(batch_rows, payloads, selected)
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
            totals.update(batch_rows.counts)
            if progress is not None:
                progress(batch_rows)
    _analyze()
    size = database_bytes()
    seconds = time.perf_counter() - started
    with transaction.atomic(using=DB):
        audit.append(
            actor="cli:load_national",
            action="registry_bulk_load_finished",
            subject=f"load:{load_id}",
            data={"counts": dict(totals), "seconds": round(seconds, 1), "database_bytes": size},
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
    )


def _batches(specs: list[national.Spec], jobs: int | None) -> Iterator[tuple[national.Batch, dict | None]]:
    """The batches in order, built ahead by `jobs` worker processes (none: in this process)."""
    if jobs is None:
        jobs = max(1, (multiprocessing.cpu_count() or 2) - 1)
    if jobs == 0 or len(specs) == 1:
        for spec in specs:
            yield _prepare(spec)
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
            done = pending.pop(0).result()
            nxt = next(upcoming, None)
            if nxt is not None:
                pending.append(pool.submit(_prepare, nxt))
            yield done
