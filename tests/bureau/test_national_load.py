"""The national registry generator (issue 10, S24): what `load_national` writes passes every rule
the registry's own writers keep, the audit chain verifies, the selected provider's feed says what
`feed.website_snapshot` would, and numbers continue from the loaded ones and are never reused."""

from __future__ import annotations

import json
import random
from collections import Counter
from datetime import date, datetime
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connections
from stdnum.cn import ric, uscc

from beian.bureau import audit, bulkload, feed, holidays, national, query, registry
from beian.bureau.models import (
    Access,
    AuditRecord,
    Domain,
    Entity,
    Event,
    FeedCounter,
    NumberSerial,
    Provider,
    Status,
    Website,
)
from beian.bureau.registry import LIVE_ACCESS
from beian.core import numbers, synthetic, workdays
from beian.core import validators as v
from beian.core.clock import CHINA
from tests.migrating import migrate_to, migrate_to_latest

pytestmark = pytest.mark.django_db(databases=["default", "bureau"])

TODAY = date(2026, 3, 2)
BUILD = national.build
EXAMPLE_2027 = Path(__file__).parent.parent / "data" / "holidays-2027-example.txt"


def load(entities: int = 300, websites: int = 640, *, seed: int = 7, provider: str = "operator", batch: int = 120):
    return bulkload.load(entities=entities, websites=websites, seed=seed, provider=provider, batch=batch, jobs=0)


@pytest.fixture
def loaded(world):
    return load()


def test_the_check_characters_the_validators_compute_agree_with_stdnum():
    """One home for the rules: the validators' check characters are the generator's too
    (synthetic uses them), and they agree with python-stdnum's."""
    rnd = random.Random(1)
    for _ in range(2000):
        digits = "".join(rnd.choice("0123456789") for _ in range(17))
        assert v.resident_id_check(digits) == ric.calc_check_digit(digits + "0")
        body = "".join(rnd.choice(v.USCC_ALPHABET) for _ in range(17))
        assert v.uscc_check(body) == uscc.calc_check_digit(body)
    assert synthetic.resident_id_check is v.resident_id_check
    assert synthetic.uscc_check is v.uscc_check


def test_the_loaders_uscc_series_is_what_make_uscc_makes():
    """The generator's USCCs come from partial check sums (synthetic.UsccSeries); they are the
    USCCs make_uscc computes character by character, and valid."""
    rnd = random.Random(2)
    series = synthetic.UsccSeries()
    for _ in range(3000):
        head = rnd.choice(["91", "12", "11", "51", "52", "31", "53"]) + f"{rnd.randrange(10**6):06d}"
        n = rnd.choice([rnd.randrange(31**7), rnd.randrange(31**3), 31**7 - 1, 0])
        made = series.make(head, n)
        assert made == synthetic.make_uscc(head[:2], head[2:], "Y" + synthetic.base31(n, 7))
        assert v.uscc(made) == made


def test_generated_values_need_no_escaping_in_copy_text(world):
    """bulkload writes COPY's text format without escaping: no tab, newline or backslash in a value."""
    counts = national.province_years(200, 3, 0, 2026)
    spec = national.Spec(
        seed=3,
        index=0,
        entities=200,
        websites=500,
        now=national.epoch_of(world.operator.created_at),
        serials={key: list(range(1, n + 1)) for key, n in counts.items()},
        provinces_short=_shorts(),
        first_entity_id=1,
        first_website_id=1,
        first_domain_id=1,
        first_access_id=1,
        selected_provider=1,
        other_providers=((2, 1.0),),
        dialect=national.POSTGRES,
    )
    batch = national.build(spec)
    for rows in batch.rows.values():
        for row in rows:
            for value in row:
                assert value == "\\N" or not any(ch in value for ch in "\t\n\\"), value
    assert all("\\" not in data and "\n" not in data for _, data in batch.events)
    assert batch.counts["bureau_entity"] == 200
    assert batch.counts["bureau_website"] == 500


def _shorts() -> dict[str, str]:
    from beian.core import provinces

    return {p.code: p.short for p in provinces.PROVINCES}


def test_s24_the_loaded_registry_passes_the_registrys_rules(loaded):
    assert (loaded.entities, loaded.websites) == (300, 640)
    entities = {e.pk: e for e in Entity.objects.all()}
    websites = list(Website.objects.all())
    assert len(entities) == 300
    assert len(websites) == 640

    for e in entities.values():
        assert str(numbers.parse(e.number)) == e.number
        assert v.certificate(e.cert_type, e.cert_number, unit_type=e.unit_type, today=TODAY) == e.cert_number
        if v.unit_type(e.unit_type).individual:
            assert v.person_name(e.name) == e.name
        else:
            assert v.organisation_name(e.name) == e.name
        assert v.resident_id(e.principal_id_number, today=TODAY) == e.principal_id_number
        assert v.mobile(e.principal_mobile) == e.principal_mobile
        assert v.email(e.principal_email) == e.principal_email
        assert e.province.short == e.number[0]
        assert not e.password_hash  # recovered online when wanted (R3)
    # One active entity per certificate (the constraint), and the loaded ones are all different.
    assert len({(e.cert_type, e.cert_number) for e in entities.values()}) == len(entities)

    per_entity: Counter = Counter()
    for w in websites:
        entity = entities[w.entity_id]
        assert w.number == numbers.website_number(entity.number, w.seq)
        assert 1 <= w.seq < entity.next_website_seq
        assert v.website_name(w.name, unit_type=entity.unit_type) == w.name
        per_entity[w.entity_id] += 1
        if entity.status == Status.DEREGISTERED:
            assert w.status == Status.DEREGISTERED
        names = list(Domain.objects.filter(website=w).values_list("name", flat=True))
        assert 1 <= len(names) <= 3
        for name in names:
            assert v.domain(name) == name  # registrable, lower-case A-labels
        host = w.home_url.split("://", 1)[1]
        assert v.registrable_domain(host) in names
        live = Access.objects.filter(website=w, state__in=LIVE_ACCESS).exists()
        if w.status == Status.ACTIVE:
            # R10: a filed website with no access anywhere is a shell, and only such a one.
            assert live == (w.shell_since is None), w.number
            assert set(Domain.objects.filter(website=w, active=True).values_list("name", flat=True)) == set(names)
        else:
            assert not live
            assert w.shell_since is None
            assert w.deregistered_at is not None
            assert not Domain.objects.filter(website=w, active=True).exists()
            assert Domain.objects.filter(website=w, removed_at=w.deregistered_at).count() == len(names)
    assert all(per_entity[pk] == e.next_website_seq - 1 for pk, e in entities.items())
    # Most entities have one website; a long tail has many.
    assert sum(1 for n in per_entity.values() if n == 1) > len(entities) / 2
    assert max(per_entity.values()) >= 5

    active_names = Counter(Domain.objects.filter(active=True).values_list("name", flat=True))
    assert active_names
    assert max(active_names.values()) == 1
    assert any(name.startswith("xn--") or ".xn--" in name for name in active_names) or len(websites) < 100
    for access in Access.objects.all():
        assert all(v.ip_address(ip) == ip for ip in access.ips)
    assert Access.objects.filter(state=Access.State.ACTIVE).values("website", "provider").distinct().count() == (
        Access.objects.filter(state=Access.State.ACTIVE).count()
    )
    # Every kind of record the issue asks for is there.
    statuses = Counter(Website.objects.values_list("status", flat=True))
    assert statuses[Status.DEREGISTERED] > 0
    assert Website.objects.filter(status=Status.ACTIVE, shell_since__isnull=False).exists()
    assert Access.objects.filter(state=Access.State.ENDED, ended_reason="cancel_access").exists()


def test_s24_the_audit_chain_verifies_and_states_each_batch(loaded):
    assert audit.seal() == 5  # the load's records (a test's transaction never commits to seal them)
    report = audit.verify()
    assert report.ok, report
    actions = Counter(AuditRecord.objects.values_list("action", flat=True))
    assert actions["registry_bulk_load_started"] == 1
    assert actions["registry_bulk_load_batch"] == loaded.batches == 3
    assert actions["registry_bulk_load_finished"] == 1
    batches = AuditRecord.objects.filter(action="registry_bulk_load_batch").order_by("seq")
    assert sum(r.data["counts"]["bureau_website"] for r in batches) == 640
    assert all(r.data["digest"].startswith("sha256:") for r in batches)


def test_s24_a_batch_is_a_function_of_its_seed_and_reservation(world):
    """The audit digest can be checked by building the batch again."""
    counts = national.province_years(50, 9, 0, 2026)
    spec = national.Spec(
        seed=9,
        index=0,
        entities=50,
        websites=80,
        now=national.epoch_of(world.operator.created_at),
        serials={key: list(range(1, n + 1)) for key, n in counts.items()},
        provinces_short=_shorts(),
        first_entity_id=10,
        first_website_id=20,
        first_domain_id=30,
        first_access_id=40,
        selected_provider=world.operator.pk,
        other_providers=((world.other.pk, 1.0),),
        dialect=national.SQLITE,
    )
    assert national.build(spec).digest == national.build(spec).digest


def test_s24_the_selected_providers_feed_says_what_the_feed_would(loaded, world):
    events = list(Event.objects.filter(provider=world.operator).order_by("seq"))
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert FeedCounter.objects.get(provider=world.operator).last_seq == len(events)
    calendar, *events = events  # a provider's feed starts with the calendar, when it is registered
    assert calendar.kind == holidays.CALENDAR_EVENT
    assert len(events) == loaded.events
    accessed = Website.objects.filter(accesses__provider=world.operator).distinct()
    assert accessed.count() == len(events) > 0
    by_number = {w.number: w for w in accessed}
    for event in events:
        assert event.kind == "website.updated"
        website = by_number[event.data["number"]]
        assert event.data == json.loads(json.dumps(feed.website_snapshot(website, world.operator)))


def test_s24_loaded_shell_deadlines_count_in_the_bureaus_holiday_table(world, sim_clock, monkeypatch):
    """A shell's deadline in the loaded feed counts in the bureau's table, as the feed's own
    snapshot does (registry.grace_deadline), not in chinese-calendar's data: here a loaded 2027
    arrangement moves a deadline across Spring Festival."""
    holidays.load(holidays.parse(EXAMPLE_2027.read_text()), source="test")
    sim_clock.set(datetime(2027, 2, 3, 12, tzinfo=CHINA))
    built = []
    monkeypatch.setattr(national, "build", lambda spec: built.append(spec) or BUILD(spec))
    load(entities=40, websites=80, batch=20)
    assert built
    assert all(spec.calendar == holidays.calendar() for spec in built)

    left = datetime(2027, 1, 25, 10, tzinfo=CHINA)  # the access ended on a Monday before the holiday
    maker = national._Maker(built[0])
    assert maker.deadline(int(left.timestamp())) == registry.grace_deadline(left).isoformat() == "2027-02-26"
    assert workdays.BUILTIN.add(left.date(), 20).isoformat() == "2027-02-22"  # weekends only in 2027


def test_r7_a_filing_after_the_load_gets_a_number_after_the_loaded_ones(loaded, world):
    serial = NumberSerial.objects.get(province_id="44", year=2026)
    here = Entity.objects.filter(number__startswith="粤ICP备2026").values_list("number", flat=True)
    loaded_here = [numbers.parse(n) for n in here]
    assert loaded_here, "the load filed entities in Guangdong this year"
    op = world.file("after-load.cn", province="44")
    number = numbers.parse(op.result["entity_number"])
    assert int(number.digits[4:]) == serial.last + 1
    assert int(number.digits[4:]) > max(int(n.digits[4:]) for n in loaded_here)


def test_r7_loading_twice_reuses_no_number(world):
    load(seed=7)
    load(seed=7)  # the same seed: the same shape, but new numbers, ids and certificates
    load(entities=50, websites=50, seed=8)
    entity_numbers = list(Entity.objects.values_list("number", flat=True))
    website_numbers = list(Website.objects.values_list("number", flat=True))
    assert len(entity_numbers) == len(set(entity_numbers)) == 650
    assert len(website_numbers) == len(set(website_numbers)) == 1330
    audit.seal()
    assert audit.verify().ok


def test_the_command_refuses_outside_simulation(world, settings):
    from django.core.management.base import CommandError

    settings.BEIAN_SIMULATION = False
    with pytest.raises(CommandError, match="simulation"):
        call_command("load_national", entities=5, websites=5, verbosity=0)


def test_the_command_loads_and_creates_the_selected_provider(world, capsys):
    call_command("load_national", entities=40, websites=70, provider="bulk-test", batch=15, jobs=0, verbosity=1)
    out = capsys.readouterr().out
    assert "bulk-test: " in out
    assert "loaded 40 entities, 70 websites" in out
    assert Provider.objects.filter(slug="bulk-test").exists()
    assert Website.objects.count() == 70


# ---------------------------------------------------------------- indexes set aside (committed loads)

committed = pytest.mark.django_db(transaction=True, databases=["default", "bureau"], serialized_rollback=True)


def _schema() -> set[tuple]:
    """The loaded tables' indexes and constraints as the database holds them: name, and on
    PostgreSQL kind and whether it is validated."""
    conn = connections["bureau"]
    tables = list(bulkload.TABLES)
    with conn.cursor() as cur:
        if conn.vendor == "postgresql":
            tables.append(bulkload.GRAMS)
            cur.execute("SELECT indexname, '' , true FROM pg_indexes WHERE tablename = ANY(%s)", [tables])
            found = set(cur.fetchall())
            cur.execute(
                "SELECT conname, contype, convalidated FROM pg_constraint WHERE conrelid::regclass::text = ANY(%s)",
                [tables],
            )
            found |= set(cur.fetchall())
            cur.execute(
                "SELECT tgname, 'trigger', tgenabled = 'O' FROM pg_trigger "
                "WHERE tgrelid::regclass::text = ANY(%s) AND NOT tgisinternal",
                [tables],
            )
            return found | set(cur.fetchall())
        marks = ", ".join("%s" for _ in tables)
        cur.execute(f"SELECT name, sql, 1 FROM sqlite_master WHERE type = 'index' AND tbl_name IN ({marks})", tables)
        return set(cur.fetchall())


@committed
def test_a_load_that_doubles_the_registry_sets_its_indexes_aside_and_makes_them_again(world):
    before = _schema()
    bulkload.load(entities=300, websites=640, seed=7, provider="operator", batch=120, jobs=0)
    assert _schema() == before
    started = AuditRecord.objects.get(action="registry_bulk_load_started")
    finished = AuditRecord.objects.get(action="registry_bulk_load_finished")
    set_aside = {name for _, _, name, _ in started.data["set_aside"]}
    assert "domain_active_once" in set_aside
    assert set(finished.data["set_aside_made_again"]) == set_aside
    assert audit.verify().ok
    # The name search finds a loaded entity (on SQLite its FTS rows were filled after the load).
    entity = Entity.objects.filter(status=Status.ACTIVE, websites__status=Status.ACTIVE).order_by("-id").first()
    found = query.by_name(entity.name)
    assert entity.number in {r["entity_number"] for r in found.results}
    # The rows passed the rebuilt unique indexes and validated foreign keys; the registry goes on.
    op = world.file("after-the-load.cn", province="44")
    assert Entity.objects.filter(number=op.result["entity_number"]).exists()


class _Stop(Exception):
    pass


@committed
def test_what_a_load_that_stopped_set_aside_is_made_again_by_the_next(world):
    before = _schema()

    def stop(batch):
        raise _Stop

    with pytest.raises(_Stop):
        bulkload.load(entities=300, websites=640, seed=7, provider="operator", batch=120, jobs=0, progress=stop)
    assert _schema() != before  # the first batch is in; its indexes are not
    assert Entity.objects.count() == 120
    assert bulkload.restore_set_aside() > 0
    assert _schema() == before
    assert AuditRecord.objects.filter(action="registry_bulk_load_restored").count() == 1
    assert bulkload.restore_set_aside() == 0  # that load is closed now
    bulkload.load(entities=50, websites=60, seed=8, provider="operator", batch=120, jobs=0)
    assert _schema() == before


@committed
def test_what_a_migration_removed_since_a_load_stopped_is_not_made_again(world):
    """A load stopped before migration 0017 names the names' GIN index among what it set aside (on
    PostgreSQL); once 0017 has dropped that index, the restore makes everything else again, and not
    it (`bulkload.RETIRED`)."""
    before = _schema()

    def stop(batch):
        raise _Stop

    migrate_to(("bureau", "0016_unread_indexes"), "bureau")
    try:
        with pytest.raises(_Stop):
            bulkload.load(entities=300, websites=640, seed=7, provider="operator", batch=120, jobs=0, progress=stop)
    finally:
        migrate_to_latest("bureau", "bureau")
    started = AuditRecord.objects.get(action="registry_bulk_load_started")
    named = {name for _, _, name, _ in started.data["set_aside"]}
    assert ("bureau_entity_name_grams" in named) == (connections["bureau"].vendor == "postgresql")
    assert bulkload.restore_set_aside() > 0
    assert _schema() == before


# ---------------------------------------------------------------- the name index filled in bulk (issue 10)


def _index_finds(gram: str) -> set[int]:
    """The entities the name index gives for one bigram, read from the index itself."""
    conn = connections["bureau"]
    with conn.cursor() as cur:
        if conn.vendor == "postgresql":
            cur.execute("SELECT entity_id FROM bureau_entitygram WHERE gram = %s", [gram])
            rows = cur.fetchall()
        else:
            cur.execute("SELECT rowid FROM bureau_entity_grams WHERE bureau_entity_grams MATCH %s", [f'"{gram}"'])
            rows = cur.fetchall()
    return {row[0] for row in rows}


@committed
def test_a_bulk_loaded_registrys_name_index_answers_as_a_plain_scan_does(world):
    """Issue 10: with the name index set aside and filled in bulk (PostgreSQL: the bigram table's
    rows written by each batch, its key built at the end; SQLite: the FTS rows written by each batch
    from the workers' bigrams),
    every bigram of the loaded names finds exactly the entities whose name holds it, as a scan
    of the names finds them; an entity filed after the load is found too."""
    bulkload.load(entities=300, websites=640, seed=7, provider="operator", batch=120, jobs=0)
    op = world.file("after-the-load.cn", province="44")
    names = dict(Entity.objects.values_list("id", "name"))
    assert Entity.objects.get(number=op.result["entity_number"]).id in names
    fold = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
    folded = {pk: name.translate(fold) for pk, name in names.items()}
    grams = {n[i : i + 2] for n in folded.values() for i in range(len(n) - 1)}
    grams = sorted(g for g in grams if g.isalnum() and g == g.lower())  # one FTS token each
    assert len(grams) > 200
    for gram in grams:
        assert _index_finds(gram) == {pk for pk, n in folded.items() if gram in n}, gram


def _scans(plan: dict) -> list[dict]:
    found = [plan] if "Scan" in plan["Node Type"] else []
    for child in plan.get("Plans", []):
        found += _scans(child)
    return found


@committed
def test_s24_a_loaded_registrys_names_are_read_in_id_order_without_the_tables(world):
    """Issue 10: the name query reads its rarest bigram's entities from the bigram table's key, and
    every scan starts at the cursor: a merge join (the plan of a common bigram at size) reads a side
    with no condition of its own from its first row, which cost a late page of 有限公司 a second at
    10M. The load VACUUMs the bigram and entity tables so that their index-only scans (the key, the
    narrow names of migration 0014) need not read the tables' pages (`bulkload._ANALYZE`). That the
    VACUUM marks every page all visible is PostgreSQL's to decide, not the load's: any snapshot open
    in the database meanwhile (an autovacuum's ANALYZE of another table is one) holds the marks
    back, and without them the planner may read the names by the table's own key instead. So the
    test counts the VACUUMs and names no scan's kind: the same verdict whatever else runs."""
    conn = connections["bureau"]
    if conn.vendor != "postgresql":
        pytest.skip("SQLite reads its FTS5 table in rowid order: no such index")

    def vacuums() -> list[int]:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_stat_clear_snapshot()")
            cur.execute(
                "SELECT pg_stat_get_vacuum_count(t::regclass) FROM unnest(%s::text[]) AS t",
                [["bureau_entity", bulkload.GRAMS]],
            )
            return [n for (n,) in cur.fetchall()]

    before = vacuums()
    bulkload.load(entities=300, websites=640, seed=7, provider="operator", batch=120, jobs=0)
    assert vacuums() == [n + 1 for n in before]
    entities = Entity.objects.filter(status=Status.ACTIVE, websites__status=Status.ACTIVE).order_by("id")
    cursor = entities[len(entities) // 2]
    matches = query._pg_name_matches(cursor.name[:4], cursor.id)
    # A registry this small is read whole by any plan; these settings leave the planner the ways a
    # large one takes: nested loops from the bigram's entities, or merge joins.
    ways = {"nested": "SET enable_hashjoin = off", "merged": "SET enable_hashjoin = off; SET enable_nestloop = off"}
    for way, settings in ways.items():
        with conn.cursor() as cur:
            cur.execute(f"SET enable_seqscan = off; SET enable_bitmapscan = off; {settings}")
            try:
                cur.execute(f"EXPLAIN (ANALYZE, COSTS OFF, FORMAT JSON) {matches.sql}", matches.params)
                plan = cur.fetchone()[0][0]["Plan"]
            finally:
                cur.execute("RESET enable_seqscan; RESET enable_bitmapscan; RESET enable_hashjoin")
                cur.execute("RESET enable_nestloop")
        scans = {scan["Index Name"]: scan for scan in _scans(plan)}
        assert scans[f"{bulkload.GRAMS}_pkey"]["Actual Rows"] >= 1, way
        # Each scan starts at the cursor or at the row the join hands it, never at the first row.
        assert all("Index Cond" in scan for scan in scans.values()), (way, scans)
        if way == "merged":
            assert all(f">= {cursor.id}" in scan["Index Cond"] for scan in scans.values()), scans


@committed
def test_postgresqls_bigram_rows_written_by_the_batches_are_what_the_triggers_make(world):
    """Issue 10: on PostgreSQL a load that sets the bigram table's key and insert trigger aside
    (migration 0015) writes each entity's distinct bigrams itself (`bulkload.entity_grams`, made by
    the workers), and an entity filed beside the load, while the trigger is aside, gets its rows when
    the trigger is made again: the table holds exactly the rows the trigger's own expression makes."""
    if connections["bureau"].vendor != "postgresql":
        pytest.skip("PostgreSQL's bigram table")
    filed = []

    def beside(batch):
        if not filed:
            filed.append(world.file("beside-the-load.cn", province="44").result["entity_number"])

    bulkload.load(entities=300, websites=640, seed=7, provider="operator", batch=120, jobs=0, progress=beside)
    started = AuditRecord.objects.get(action="registry_bulk_load_started")
    set_aside = {name for _, _, name, _ in started.data["set_aside"]}
    assert {"bureau_entitygram_insert", "bureau_entitygram_pkey"} <= set_aside
    with connections["bureau"].cursor() as cur:
        cur.execute("SELECT gram, entity_id FROM bureau_entitygram")
        rows = cur.fetchall()
        cur.execute("SELECT DISTINCT g, e.id FROM bureau_entity e, unnest(beian_name_grams(e.name)) AS g")
        by_trigger = set(cur.fetchall())
    assert len(rows) == len(set(rows)) > 2000
    assert set(rows) == by_trigger
    beside_id = Entity.objects.get(number=filed[0]).id
    assert any(pk == beside_id for _, pk in rows)


@committed
def test_migration_0015_fills_the_bigram_table_of_a_registry_already_filled_and_is_reversible(world):
    """Issue 10: a registry filed before migration 0015 gets a bigram row for each distinct bigram of
    each name (the key made after them), the triggers keep it from then on, and the migration goes
    back (the table and its triggers gone, the GIN index of 0003 still there throughout)."""
    conn = connections["bureau"]
    if conn.vendor != "postgresql":
        pytest.skip("PostgreSQL's bigram table")
    before, after = ("bureau", "0014_entity_names_in_id_order"), ("bureau", "0015_entity_grams")

    def relations() -> set[str]:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT relname FROM pg_class WHERE relname IN ('bureau_entitygram', 'bureau_entity_name_grams')"
            )
            found = {name for (name,) in cur.fetchall()}
            cur.execute("SELECT tgname FROM pg_trigger WHERE tgname LIKE 'bureau_entitygram_%%'")
            return found | {name for (name,) in cur.fetchall()}

    bulkload.load(entities=120, websites=200, seed=5, provider="operator", batch=60, jobs=0)
    migrate_to(before, "bureau")
    try:
        assert relations() == {"bureau_entity_name_grams"}
        world.file("filed-before-0015.cn", province="44")
        migrate_to(after, "bureau")
        assert relations() == {
            "bureau_entitygram",
            "bureau_entity_name_grams",
            "bureau_entitygram_insert",
            "bureau_entitygram_update",
            "bureau_entitygram_delete",
        }
        with conn.cursor() as cur:
            cur.execute("SELECT gram, entity_id FROM bureau_entitygram")
            rows = cur.fetchall()
        wanted = {(g, pk) for pk, name in Entity.objects.values_list("id", "name") for g in query.grams(name)}
        assert len(rows) == len(wanted) > 500
        assert set(rows) == wanted
        op = world.file("filed-after-0015.cn", province="44")
        entity = Entity.objects.get(number=op.result["entity_number"])
        assert query.by_name(entity.name[:4]).results
    finally:
        migrate_to_latest("bureau", "bureau")


def test_the_workers_bigrams_are_the_sqlite_triggers_text():
    """Issue 10: the rows SQLite's name search gets from a bulk load (`bulkload.name_grams`) are
    the insert trigger's text (migration 0003) less its trailing empty pieces, for names with
    Latin capitals, punctuation, spaces, one character and the longest allowed."""
    import importlib
    import sqlite3

    expression = importlib.import_module("beian.bureau.migrations.0003_name_index_and_cache_throttle")._sqlite_grams
    db = sqlite3.connect(":memory:")
    names = [
        "腾讯科技（深圳）有限公司",
        "ABC Studio 工作室",
        "x",
        "云 ",
        "Ｑ码·QQ",
        "长" * 100,
        "a-B_c.D",
        "深圳市万象",
    ]
    for name in names:
        (text,) = db.execute(f"SELECT {expression('?1')}", (name,)).fetchone()
        ours = bulkload.name_grams(name)
        assert text.startswith(ours), name
        assert text[len(ours) :].strip(" ") == "", name


@committed
def test_sqlites_name_search_filled_by_the_batches_holds_what_the_trigger_would(world):
    """Issue 10: on SQLite the FTS5 index a bulk load writes (its trigger set aside) holds the
    same terms at the same places as the index the insert trigger fills (fts5vocab, instance)."""
    if connections["bureau"].vendor != "sqlite":
        pytest.skip("SQLite's FTS5 name search")
    import importlib

    expression = importlib.import_module("beian.bureau.migrations.0003_name_index_and_cache_throttle")._sqlite_grams
    bulkload.load(entities=300, websites=640, seed=7, provider="operator", batch=120, jobs=0)
    started = AuditRecord.objects.get(action="registry_bulk_load_started")
    assert "bureau_entity_grams_insert" in {name for _, _, name, _ in started.data["set_aside"]}
    with connections["bureau"].cursor() as cur:
        cur.execute("CREATE VIRTUAL TABLE temp.grams_vocab USING fts5vocab(main, bureau_entity_grams, instance)")
        cur.execute("SELECT term, doc, col, offset FROM temp.grams_vocab ORDER BY 1, 2, 3, 4")
        bulk = cur.fetchall()
        cur.execute("INSERT INTO bureau_entity_grams (bureau_entity_grams) VALUES ('delete-all')")
        cur.execute(
            f"INSERT INTO bureau_entity_grams (rowid, grams) SELECT id, {expression('name')} FROM bureau_entity"
        )
        cur.execute("SELECT term, doc, col, offset FROM temp.grams_vocab ORDER BY 1, 2, 3, 4")
        by_trigger = cur.fetchall()
        cur.execute("DROP TABLE temp.grams_vocab")
    assert len(bulk) > 1000
    assert bulk == by_trigger
