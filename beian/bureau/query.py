"""The public query (DESIGN §7a, S17, S24): approved filings only, public fields only. Never
certificate numbers, phones, emails or addresses.

Every answer is one statement however many records it holds: the websites with their entities,
whether any access is live and their domains; on PostgreSQL a prepared one, planned once per
connection.
By domain, the registrable domain of what was typed is looked up on the domain index; by number,
the unique number indexes; by name, the entities that hold the text's bigrams, in id order (on
PostgreSQL the bigram table of migration 0015, on SQLite the FTS5 table of migration 0003). Name
and number answers are paged with a keyset (`after`: the last record's entity id and website
sequence), so page 1,000 costs what page 1 costs.

A name matches when it contains the text as typed, with the Latin letters A-Z compared without
regard to case (as SQLite's LIKE compares them): `name.translate(ASCII_LOWER)` contains
`text.translate(ASCII_LOWER)`.
"""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass
from itertools import combinations

import psycopg
from django.db import InterfaceError, OperationalError, connections
from django.db.models.expressions import RawSQL

from beian.core import clock, numbers
from beian.core import validators as v
from beian.core.errors import Invalid

LIMIT = 50
NAME_MIN = 2  # characters: a two-character trade name (腾讯) is the shortest useful part
ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_CURSOR = re.compile(r"([0-9]{1,18})\.([0-9]{1,9})")


@dataclass(frozen=True)
class Page:
    results: list[dict]
    # The keyset of the next page, or None when this is the last one.
    next: str | None = None


def _unit_names() -> dict[str, str]:
    return {code: unit.name for code, unit in v.UNIT_TYPES.items()}


_UNIT_NAMES = _unit_names()

# One statement for a page, written out rather than built by the ORM: at thousands of answers a
# second, compiling the query would cost more than running it. Each website's domains come with it
# (a second statement for them cost a round trip and as much again of the database's time).
_RECORDS = (
    "SELECT w.id, w.entity_id, w.seq, w.number, w.name, w.home_url, {approved_on}, "
    "e.name, e.unit_type, e.number, "
    "EXISTS (SELECT 1 FROM bureau_access a WHERE a.website_id = w.id AND a.state IN ('provisional', 'active')), "
    "{domains} "
    "FROM bureau_website w JOIN bureau_entity e ON e.id = w.entity_id "
    "WHERE w.status = 'active' AND e.status = 'active' AND {where} "
    "ORDER BY w.entity_id, w.seq LIMIT %s"
)
_DOMAINS = {
    "postgresql": "ARRAY(SELECT d.name FROM bureau_domain d WHERE d.website_id = w.id AND d.active ORDER BY d.name)",
    # SQLite has no arrays: a JSON array, put in order here (Python's order of str is SQLite's BINARY).
    "sqlite": "(SELECT json_group_array(d.name) FROM bureau_domain d WHERE d.website_id = w.id AND d.active)",
}
# The day of approval in China, as the record's text: made by the database, since decoding a
# timestamp into Python and moving it to China's day was much of a long answer's CPU
# (docs/performance.md, "The name query planned once").
_APPROVED_ON = {
    "postgresql": f"to_char(w.approved_at AT TIME ZONE '{clock.CHINA.key}', 'YYYY-MM-DD')",
    # Django's own function for a date in a zone on SQLite (its ORM's TruncDate), which stores UTC.
    "sqlite": f"django_datetime_cast_date(w.approved_at, '{clock.CHINA.key}', 'UTC')",
}
_KEYSET = " AND (w.entity_id > %s OR (w.entity_id = %s AND w.seq > %s))"


_EXPLICIT_ONLY = 2**62


class _Prepared(psycopg.Cursor):
    """A cursor whose statements PostgreSQL plans once per connection and keeps (server-side
    binding; Django's own cursors bind on the client, so every statement is planned afresh)."""

    def execute(self, query, params=None, *, prepare=None, binary=None):
        return super().execute(query, params, prepare=True, binary=binary)

    def _send_query_prepared(self, name, pgq, *, binary=None):
        # psycopg keeps the statement it ran in `_query` except when it runs a prepared one; Django's
        # statement log (and what tests capture) reads it from there.
        self._query = pgq
        return super()._send_query_prepared(name, pgq, binary=binary)


# What the bureau's connections set when they open (`for_short_statements`).
SESSION = {
    # A plan is costed at what it would read without its LIMIT: at national size a name query's is
    # over `jit_optimize_above_cost`, and compiling it cost hundreds of times the statement's own
    # time (docs/performance.md, "The name query").
    "jit": "off",
    # Starting parallel workers cost 10-15 ms here, for scans of under one (docs/performance.md,
    # "Names in id order, narrow"). The bureau's statements are short, and many run at once: there
    # are no idle cores for workers to take.
    "max_parallel_workers_per_gather": "0",
    # The public query's statements (the only ones prepared on these connections, `_Prepared`) are
    # planned once per connection. Left to choose, PostgreSQL plans a statement afresh for its first
    # five runs and then for as long as the plan for any value looks dearer than the last ones: a
    # name's statement was planned on every run, which took as long as running it (docs/
    # performance.md, "The name query planned once"). Every scan of the plan for any value starts at
    # an index condition (the bigram, the cursor, the row the join hands it: `_pg_name_matches`).
    "plan_cache_mode": "force_generic_plan",
}


def for_short_statements(sender, connection, **kwargs) -> None:
    """Set `SESSION` on the bureau's connections (connected to Django's `connection_created` in
    apps.py). Set on the session rather than in the connection's startup options, which a pgbouncer
    refuses; on psycopg's own cursor, so that it is no statement of the request in Django's log
    (tests count those)."""
    if connection.alias in ("bureau", REPLICA) and connection.vendor == "postgresql":
        with connection.connection.cursor() as cur:
            cur.execute("; ".join(f"SET {name} = {value}" for name, value in SESSION.items()))


REPLICA = "bureau_replica"  # settings.DATABASES' alias of BEIAN_BUREAU_REPLICA_URL
# After the replica failed to answer, the primary answers alone for this long (seconds): a replica
# that is down costs each request a connection attempt and its timeout, not only the first one.
REPLICA_PAUSE = 30.0
_replica_paused_until = 0.0

log = logging.getLogger(__name__)


def reader():
    """The connection the public query reads: the bureau's replica where one is configured
    (BEIAN_BUREAU_REPLICA_URL) and answering, else the bureau's own. A replica may be a moment
    behind its primary (a filing approved this second is found a moment later), which the public
    query can afford; nothing that writes, nor the feed, reads it."""
    if REPLICA in connections.settings and time.monotonic() >= _replica_paused_until:
        return connections[REPLICA]
    return connections["bureau"]


def fetch(sql: str, params: list, *, prepared: bool = False, primary: bool = False) -> list[tuple]:
    """The rows of one read of the public query (`reader`; the bureau's own database with `primary`,
    for what must not lag, such as the simulation's switches). A kept connection found lost (the
    server restarted, a network cut) is opened again and the read sent once more, outside a
    transaction: the public query's lean handler skips Django's health check (a `SELECT 1` round trip
    a request, `CONN_HEALTH_CHECKS`) and relies on this instead (beian/bureau/query_handler.py). A
    replica that still fails is left alone for REPLICA_PAUSE seconds and the primary answers."""
    global _replica_paused_until
    db = connections["bureau"] if primary else reader()
    if db.alias == "bureau":
        return _fetch_again_if_lost(db, sql, params, prepared=prepared)
    try:
        return _fetch_again_if_lost(db, sql, params, prepared=prepared)
    except (OperationalError, InterfaceError):
        if db.in_atomic_block:
            raise
        log.warning("the bureau's replica did not answer; the primary answers for %d s", REPLICA_PAUSE, exc_info=True)
        _replica_paused_until = time.monotonic() + REPLICA_PAUSE
        db.close()
        return _fetch_again_if_lost(connections["bureau"], sql, params, prepared=prepared)


def _fetch_again_if_lost(db, sql: str, params: list, *, prepared: bool) -> list[tuple]:
    try:
        return _fetch(db, sql, params, prepared=prepared)
    except (OperationalError, InterfaceError):
        raw = db.connection
        lost = raw is None or getattr(raw, "closed", False) or getattr(raw, "broken", False)  # psycopg's
        if db.in_atomic_block or not lost:
            raise
        db.close()
        return _fetch(db, sql, params, prepared=prepared)


def _fetch(db, sql: str, params: list, *, prepared: bool) -> list[tuple]:
    if not (prepared and db.vendor == "postgresql"):
        with db.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()
    db.close_if_health_check_failed()
    db.ensure_connection()
    raw = db.connection
    if raw.prepare_threshold is None:
        # Django turns psycopg's preparing off (threshold None), which refuses even an explicit
        # prepare: a threshold no statement reaches keeps every other statement unprepared.
        raw.prepare_threshold = _EXPLICIT_ONLY
    if db.queries_logged or db.execute_wrappers:
        # Through Django's wrapper: its statement log (tests, DEBUG) and its execute wrappers.
        with db.wrap_database_errors:
            cur = db._prepare_cursor(_Prepared(raw))
        with cur:
            cur.execute(sql, params)
            return cur.fetchall()
    # Neither: what Django's wrapper would add is its checks and its error translation, done here.
    db.validate_thread_sharing()
    db.validate_no_broken_transaction()
    with db.wrap_database_errors, _Prepared(raw) as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def _domains(value) -> list[str]:
    return value if isinstance(value, list) else sorted(json.loads(value))


def _records(rows: list[tuple]) -> list[dict]:
    """The public record of each website row."""
    return [
        {
            "entity_name": entity_name,
            "unit_type": unit_type,
            "unit_type_name": _UNIT_NAMES.get(unit_type, unit_type),
            "entity_number": entity_number,
            "website_number": number,
            "website_name": name,
            "domains": _domains(domains),
            "home_url": home_url,
            "approved_on": approved_on,
            # 是否限制接入: a shell website has no access anywhere.
            "access_limited": not live,
        }
        for _, _, _, number, name, home_url, approved_on, entity_name, unit_type, entity_number, live, domains in rows
    ]


def _page(where: str, params: list, cursor: tuple[int, int] | None = None) -> Page:
    """One page's statement, prepared on PostgreSQL: planned once per connection (`SESSION`)."""
    if cursor is not None:
        where += _KEYSET
        params = [*params, cursor[0], cursor[0], cursor[1]]
    vendor = reader().vendor
    sql = _RECORDS.format(where=where, domains=_DOMAINS[vendor], approved_on=_APPROVED_ON[vendor])
    rows = fetch(sql, [*params, LIMIT + 1], prepared=True)
    more = len(rows) > LIMIT
    rows = rows[:LIMIT]
    return Page(_records(rows), f"{rows[-1][1]}.{rows[-1][2]}" if more else None)


def parse_cursor(after: str | None) -> tuple[int, int] | None:
    if after is None or after == "":
        return None
    match = _CURSOR.fullmatch(after.strip()) if isinstance(after, str) else None
    if match is None:
        raise Invalid(
            "cursor_invalid",
            "翻页参数 after 无效，请使用上一页返回的 next",
            "The page parameter after is not valid; pass the next value of the previous page",
        )
    return int(match[1]), int(match[2])


# ---------------------------------------------------------------- the three ways


def by_domain(text: str) -> Page:
    """A host finds the registrable domain it lies under (`www.a.example.cn` → `example.cn`)."""
    name = v.registrable_domain(text.strip())
    if name is None:
        return Page([])
    return _page("w.id IN (SELECT website_id FROM bureau_domain WHERE name = %s AND active)", [name])


def by_number(text: str, after: str | None = None) -> Page:
    """An entity number (all its filed websites) or a website number, in any form people paste."""
    try:
        parsed = numbers.parse(text)
    except Invalid:
        return Page([])
    if parsed.website is not None:
        return _page("w.number = %s", [str(parsed)])
    return _page("e.number = %s", [parsed.entity_number], parse_cursor(after))


def name_text(text: str) -> str:
    """The part of a name to look for, or Invalid: at least two characters, one of them a letter
    or digit (punctuation alone names nothing)."""
    text = " ".join(text.split())
    if len(text) < NAME_MIN or not any(ch.isalnum() for ch in text):
        raise Invalid(
            "name_too_short",
            f"按名称查询请至少填写 {NAME_MIN} 个字",
            f"Give at least {NAME_MIN} characters of the name, letters or digits among them",
        )
    return text


def grams(text: str) -> list[str]:
    """The overlapping two-character pieces of `text` with A-Z folded, in order: what the name
    index holds for a name (migration 0003)."""
    folded = text.translate(ASCII_LOWER)
    return [folded[i : i + 2] for i in range(len(folded) - 1)]


def _like(text: str) -> str:
    escaped = text.translate(ASCII_LOWER).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


# PostgreSQL: how many entities hold each of the commonest bigrams, from the planner's own
# statistics of the bigram table (migration 0015; ANALYZE keeps them), read at most every
# STATS_SECONDS per process.
STATS_SECONDS = 600.0
_stats: dict = {"read_at": None, "counts": {}, "floor": 0.0}


def _gram_stats() -> dict:
    now = time.monotonic()
    if _stats["read_at"] is None or now - _stats["read_at"] > STATS_SECONDS:
        found = fetch(
            "SELECT s.most_common_vals::text::text[], s.most_common_freqs, c.reltuples "
            "FROM pg_class c LEFT JOIN pg_stats s ON s.tablename = c.relname AND s.attname = 'gram' "
            "WHERE c.relname = 'bureau_entitygram'",
            [],
        )
        values, freqs, rows = found[0] if found else (None, None, 0.0)
        rows = max(float(rows or 0), 0.0)  # -1: never analyzed
        counts = {v: f * rows for v, f in zip(values or [], freqs or [], strict=False)}
        # How many hold the least common bigram listed: what one not listed is taken for.
        _stats.update(read_at=now, counts=counts, floor=min(counts.values(), default=0.0))
    return _stats


# Reading a text's entities from one bigram's list costs a look-up of each entry's name; merging a
# second bigram's list beside it reads its key's leaf pages, and only the entries both hold are
# looked up. A merged entry costs about this many times less than a look-up, as measured at 10M
# (docs/performance.md, "Two bigrams apart").
MERGE_RATIO = 18.0
PAIRED = 8  # how many of the rarest bigrams are tried in pairs (a text may have up to 299)


def rarest(pieces: list[str], stats: dict) -> list[str]:
    """The bigrams of `pieces` (the text's, in order) whose entities are read, the rarest first:
    the one the fewest entities hold, or two merged, whichever reads less (`MERGE_RATIO`) as far as
    the statistics tell. Two that share no character of the text are held together about as often
    as chance has it, so their merge leaves few names to look up; two neighbours mostly go together
    (南宁 and 宁市: nearly every entity holding one holds the other) and narrow little, so one is
    merged beside the rarest only when no pair apart is cheaper and it is at most `MERGE_RATIO`
    times as common. A bigram the statistics do not list is rarer than every one they list (they
    list the commonest, far enough down that the rest are rare: migration 0015) and taken for as
    common as the least common listed; among equals, the first in the text comes first."""
    counts, floor = stats["counts"], stats["floor"]
    order = sorted(range(len(pieces)), key=lambda i: counts.get(pieces[i], -1.0))
    if not order:
        return []

    def held(i: int) -> float:
        return counts.get(pieces[i], floor)

    first = order[0]
    chosen, cost = [first], MERGE_RATIO * held(first)
    for a, b in combinations(order[:PAIRED], 2):  # a is the rarer of the two
        if abs(a - b) > 1 and pieces[a] != pieces[b] and held(a) + held(b) < cost:
            chosen, cost = [a, b], held(a) + held(b)
    if len(chosen) == 1:
        near = next((i for i in order if pieces[i] != pieces[first]), None)
        if near is not None and held(near) <= MERGE_RATIO * held(first):
            chosen = [first, near]
    return [pieces[i] for i in chosen]


def _filed(alias: str) -> str:
    return f"EXISTS (SELECT 1 FROM bureau_website w WHERE w.entity_id = {alias}.id AND w.status = 'active')"


def _pg_name_matches(text: str, first: int) -> RawSQL:
    """Every match holds each of the text's bigrams: the entities of its rarest (`rarest`: and of the
    next rarest, merged beside them, when it is about as rare) are read in id order from the cursor
    on, from the bigram table's key, and the names of those that hold them checked, until a page is
    full. A text costs the entities of its rarest bigram that come before its page's last match: of
    a rare bigram few in all, of a common text few before a page is found; at most all of them,
    which the statistics keep few (migration 0015)."""
    # translate() costs more than LIKE itself; without a Latin letter in the text it changes nothing.
    name = (
        "translate(e.name, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')"
        if any("a" <= ch <= "z" for ch in text.translate(ASCII_LOWER))
        else "e.name"
    )
    pieces = rarest(grams(text), _gram_stats())
    # The cursor is said of each table: a merge join (the planner's choice for a common bigram) reads
    # its sides from where their own conditions start them, and without one from their first row.
    both = "JOIN bureau_entitygram h ON h.entity_id = g.entity_id AND h.gram = %s AND h.entity_id >= %s "
    sql = (
        "SELECT g.entity_id FROM bureau_entitygram g "
        f"{both if len(pieces) > 1 else ''}JOIN bureau_entity e ON e.id = g.entity_id "
        f"WHERE g.gram = %s AND g.entity_id >= %s AND e.id >= %s AND {name} LIKE %s AND e.status = 'active' "
        "AND EXISTS (SELECT 1 FROM bureau_website w WHERE w.entity_id = e.id AND w.entity_id >= %s "
        "AND w.status = 'active') ORDER BY g.entity_id LIMIT %s"
    )
    second = [pieces[1], first] if len(pieces) > 1 else []
    return RawSQL(sql, [*second, pieces[0], first, first, _like(text), first, LIMIT + 2])


def _name_matches(text: str, cursor: tuple[int, int] | None) -> RawSQL:
    """The ids of filed entities whose name contains `text`: the first ones in id order from the
    cursor's entity, as many as a page can need (each has a filed website, so LIMIT + 2 entities fill
    a page even when the first is the one the cursor stands in), perhaps a few more."""
    first = cursor[0] if cursor else 0
    if reader().vendor == "postgresql":
        return _pg_name_matches(text, first)
    phrase = '"' + " ".join(grams(text)).replace('"', '""') + '"'
    sql = (
        "SELECT e.id FROM bureau_entity_grams g JOIN bureau_entity e ON e.id = g.rowid "
        "WHERE bureau_entity_grams MATCH %s AND g.rowid >= %s AND e.name LIKE %s ESCAPE '\\' "
        f"AND e.status = 'active' AND {_filed('e')} ORDER BY g.rowid LIMIT %s"
    )
    return RawSQL(sql, [phrase, first, _like(text), LIMIT + 2])


def by_name(text: str, after: str | None = None) -> Page:
    """Filed entities whose name contains `text`; their filed websites, paged. Too short a text
    finds nothing (the page's form says why before asking)."""
    cursor = parse_cursor(after)
    try:
        text = name_text(text)
    except Invalid:
        return Page([])
    matches = _name_matches(text, cursor)
    return _page(f"w.entity_id IN ({matches.sql})", list(matches.params), cursor)


def answer(kind: str, text: str, after: str | None = None) -> Page:
    if kind == "domain":
        return by_domain(text)
    if kind == "number":
        return by_number(text, after)
    return by_name(text, after)
