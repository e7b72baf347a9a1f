"""The public query at national scale (S24, DESIGN §7a): by domain, by number and by part of a name,
each answering with public fields only, the same records as a plain scan of the registry, and the
same few queries however many records an answer holds."""

from __future__ import annotations

import re
import unicodedata
from contextlib import nullcontext
from unittest.mock import patch

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from beian.bureau import bulkload, query
from beian.bureau.models import Access, Domain, Entity, Status, Website
from beian.bureau.registry import LIVE_ACCESS
from beian.core import clock, numbers
from beian.core import validators as v

pytestmark = pytest.mark.django_db(databases=["default", "bureau"])

PUBLIC_FIELDS = {
    "entity_name",
    "unit_type",
    "unit_type_name",
    "entity_number",
    "website_number",
    "website_name",
    "domains",
    "home_url",
    "approved_on",
    "access_limited",
}
FULL_WIDTH = str.maketrans("0123456789-", "０１２３４５６７８９－")


@pytest.fixture
def registry(world):
    """A small loaded registry, plus a filing made the ordinary way whose name has capitals."""
    bulkload.load(entities=120, websites=300, seed=11, provider="operator", batch=60, jobs=0)
    op = world.file("caps-name.cn")
    Entity.objects.filter(pk=op.entity_id).update(name="深圳市ABC Cloud（南山）有限公司")
    return world


def scan() -> list[tuple[str, dict]]:
    """Every filed website's public record, with its entity's name, in keyset order: the plain scan
    that the indexed query must agree with."""
    rows = []
    for w in Website.objects.select_related("entity").order_by("entity_id", "seq"):
        if w.status != Status.ACTIVE or w.entity.status != Status.ACTIVE:
            continue
        record = {
            "entity_name": w.entity.name,
            "unit_type": w.entity.unit_type,
            "unit_type_name": v.unit_type(w.entity.unit_type).name,
            "entity_number": w.entity.number,
            "website_number": w.number,
            "website_name": w.name,
            "domains": sorted(Domain.objects.filter(website=w, active=True).values_list("name", flat=True)),
            "home_url": w.home_url,
            "approved_on": clock.local_date(w.approved_at).isoformat(),
            "access_limited": not Access.objects.filter(website=w, state__in=LIVE_ACCESS).exists(),
        }
        rows.append((w.entity.name, record))
    return rows


def all_pages(kind: str, text: str) -> list[dict]:
    found, after, pages = [], None, 0
    while True:
        page = query.answer(kind, text, after)
        for record in page.results:
            assert set(record) == PUBLIC_FIELDS
        found.extend(page.results)
        pages += 1
        assert pages < 500
        if page.next is None:
            return found
        assert len(page.results) == query.LIMIT
        after = page.next


def fold(text: str) -> str:
    return text.translate(query.ASCII_LOWER)


@pytest.fixture
def small_pages(monkeypatch):
    monkeypatch.setattr(query, "LIMIT", 7)  # many pages, and pages that end inside an entity


@settings(max_examples=120, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def _property(data, rows, names, numbers_, domains):
    kind = data.draw(st.sampled_from(["name", "name", "number", "domain"]))
    if kind == "name":
        source = data.draw(st.sampled_from(names))
        start = data.draw(st.integers(0, max(len(source) - 2, 0)))
        length = data.draw(st.integers(2, 7))
        text = source[start : start + length]
        if data.draw(st.booleans()):
            text = text.swapcase()
        if data.draw(st.integers(0, 9)) == 0:
            text = data.draw(st.text(alphabet="华信科技有限公司深圳市ab%_\\", min_size=2, max_size=5))
        if len(text) < 2 or not any(ch.isalnum() for ch in text):
            return
        expected = [r for name, r in rows if fold(" ".join(text.split())) in fold(name)]
        # Whichever one or two bigrams of the text PostgreSQL's statistics would take for the rarest,
        # their entities in id order hold every match (SQLite has one way; the draw changes nothing).
        picks = data.draw(st.lists(st.integers(0, 6), min_size=1, max_size=2))

        def chosen(pieces, stats):
            distinct = list(dict.fromkeys(pieces))
            return list(dict.fromkeys(distinct[i % len(distinct)] for i in picks))

        way = patch.object(query, "rarest", chosen)
    elif kind == "number":
        number = data.draw(st.sampled_from(numbers_))
        text = number
        if data.draw(st.booleans()):
            text = text.translate(FULL_WIDTH)
        if data.draw(st.booleans()):
            text = text.replace("ICP", "icp").replace("号", " 号 ")
        parsed = numbers.parse(number)
        key = "website_number" if parsed.website else "entity_number"
        expected = [r for _, r in rows if r[key] == str(parsed)]
        way = nullcontext()
    else:
        name = data.draw(st.sampled_from(domains))
        text = data.draw(st.sampled_from([name, f"www.{name}", f"A.b.{name.upper()}", f"{name}."]))
        expected = [r for _, r in rows if v.registrable_domain(text) in r["domains"]]
        way = nullcontext()
    with way:
        assert all_pages(kind, text) == expected, (kind, text)


def _inputs() -> dict:
    numbers_ = set(Website.objects.values_list("number", flat=True))
    numbers_ |= set(Entity.objects.values_list("number", flat=True))
    return {
        "rows": scan(),
        "names": sorted(set(Entity.objects.values_list("name", flat=True))),
        "numbers_": sorted(numbers_),
        "domains": sorted(set(Domain.objects.values_list("name", flat=True))),
    }


def test_s24_the_three_ways_agree_with_a_plain_scan(registry):
    _property(**_inputs())


def test_s24_the_three_ways_agree_with_a_plain_scan_page_by_small_page(registry, small_pages):
    _property(**_inputs())


def test_s24_a_name_matches_without_regard_to_latin_case_and_in_any_part(registry):
    found = all_pages("name", "abc cloud")
    assert [r["entity_name"] for r in found] == ["深圳市ABC Cloud（南山）有限公司"]
    assert all_pages("name", "（南山）") == found
    assert all_pages("name", "C C") == found
    assert all_pages("name", "南山）有") == found
    assert all_pages("name", "ABCD") == []


def test_s24_a_subdomain_finds_its_registrable_domain(registry):
    assert [r["website_number"] for r in all_pages("domain", "static.img.caps-name.cn")] == [
        Website.objects.get(domains__name="caps-name.cn").number
    ]


def test_s11_deregistered_filings_are_not_shown(registry):
    gone = Website.objects.filter(status=Status.DEREGISTERED).select_related("entity").first()
    assert gone is not None
    assert all_pages("number", gone.number) == []
    names = Domain.objects.filter(website=gone).values_list("name", flat=True)
    assert all(all_pages("domain", name) == [] for name in names)


def test_s24_a_name_is_looked_for_by_its_rarest_bigrams():
    """The statistics list the commonest bigrams with how many entities hold each; one they do not
    list is rarer than all of them (first in the text first). Two bigrams apart in the text are
    merged when that reads less than the rarest alone (MERGE_RATIO); a neighbour of the rarest only
    when no pair apart is cheaper and it is about as rare."""
    stats = {"counts": {"有限": 4_500_000.0, "苏州": 65_000.0, "州市": 400_000.0, "市宏": 47_000.0}, "floor": 47_000.0}
    assert query.rarest(query.grams("苏州市宏"), stats) == ["市宏", "苏州"]
    assert query.rarest(query.grams("有限苏州"), stats) == ["限苏", "苏州"]  # 限苏: not listed; 苏州 its neighbour
    assert query.rarest(query.grams("犇犇科技"), stats) == ["犇犇", "科技"]  # none listed: the pair apart
    assert query.rarest(query.grams("州市有限"), stats) == ["市有", "州市"]  # 州市: 8.5 times the least listed
    assert query.rarest(query.grams("有限有限"), stats) == ["限有"]  # its one other: a neighbour, far commoner
    assert query.rarest(["有限"], stats) == ["有限"]
    assert query.rarest(["有限", "有限"], stats) == ["有限"]
    assert query.rarest([], stats) == []
    common_second = {"counts": {"华祥": 1_234.0, "市华": 47_000.0, "莞市": 119_000.0}, "floor": 1_234.0}
    assert query.rarest(query.grams("莞市华祥"), common_second) == ["华祥"]  # either second reads more
    # 宁市 is rarer than 市合, but nearly every entity holding 南宁 holds 宁市 too: the pair apart.
    city = {"counts": {"南宁": 34_576.0, "宁市": 40_526.0, "市合": 46_476.0}, "floor": 1_000.0}
    assert query.rarest(query.grams("南宁市合"), city) == ["南宁", "市合"]
    # The rarest in the middle has no bigram apart from it; a pair apart of the others reads less.
    middle = {"counts": {"宝鸡": 33_696.0, "鸡市": 32_542.0, "市丰": 46_552.0}, "floor": 1_000.0}
    assert query.rarest(query.grams("宝鸡市丰"), middle) == ["宝鸡", "市丰"]


def test_s24_the_bigram_counts_are_read_from_the_bigram_tables_statistics(registry):
    """PostgreSQL: how many entities hold a bigram is its share of the bigram table's rows times
    their count (ANALYZE samples all of a table this small, so the counts are exact)."""
    if connections["bureau"].vendor != "postgresql":
        pytest.skip("SQLite has one way to find a name")
    with connections["bureau"].cursor() as cur:
        cur.execute("ANALYZE bureau_entitygram")
        cur.execute("SELECT gram, count(*) FROM bureau_entitygram GROUP BY gram")
        exact = dict(cur.fetchall())
    query._stats["read_at"] = None
    try:
        stats = query._gram_stats()
        counts = stats["counts"]
    finally:
        query._stats["read_at"] = None
    assert counts
    assert {gram: round(count) for gram, count in counts.items()} == {gram: exact[gram] for gram in counts}
    assert stats["floor"] == min(counts.values())
    assert stats["floor"] >= max(n for gram, n in exact.items() if gram not in counts)


def test_s24_a_common_name_is_paged_from_its_rarest_bigrams_entities(registry, small_pages):
    """Page by page (LIMIT 7) a common text is found as a plain scan finds it, on PostgreSQL from
    the bigram table's rows of the bigram the statistics call rarest."""
    text = "有限公司"
    with CaptureQueriesContext(connections["bureau"]) as captured:
        found = all_pages("name", text)
    expected = [r for name, r in scan() if text in name]
    assert len(expected) > 3 * query.LIMIT
    assert found == expected
    if connections["bureau"].vendor == "postgresql":
        pages = [q["sql"] for q in captured.captured_queries if "bureau_website" in q["sql"]]
        assert len(pages) > 3
        assert all("FROM bureau_entitygram g" in sql for sql in pages)


def test_s24_the_bigram_rows_follow_an_entitys_name(registry):
    """PostgreSQL: the entity table's triggers keep the bigram table (migration 0015) to exactly the
    distinct bigrams of each name, as an entity is filed, renamed and removed."""
    conn = connections["bureau"]
    if conn.vendor != "postgresql":
        pytest.skip("SQLite's FTS5 table has its own triggers (migration 0003)")

    def rows() -> set[tuple[str, int]]:
        with conn.cursor() as cur:
            cur.execute("SELECT gram, entity_id FROM bureau_entitygram")
            return set(cur.fetchall())

    def wanted() -> set[tuple[str, int]]:
        return {(g, pk) for pk, name in Entity.objects.values_list("id", "name") for g in query.grams(name)}

    assert rows() == wanted()
    entity = Entity.objects.order_by("id").first()
    entity.pk, entity.number, entity.status = None, "粤ICP备99999999号", Status.DEREGISTERED
    entity.save()  # a new row: its bigrams come with it
    assert {g for g, pk in rows() if pk == entity.pk} == set(query.grams(entity.name))
    Entity.objects.filter(pk=entity.pk).update(name="ABC云计算 ABC")  # a repeated bigram is one row
    assert {g for g, pk in rows() if pk == entity.pk} == {"ab", "bc", "c云", "云计", "计算", "算 ", " a"}
    assert rows() == wanted()
    Entity.objects.filter(pk=entity.pk).update(address="不是名称")
    assert rows() == wanted()
    Entity.objects.filter(pk=entity.pk).delete()  # the registry never removes one; the trigger holds anyway
    assert entity.pk not in {pk for _, pk in rows()}
    assert rows() == wanted()


def _queries(kind: str, text: str) -> tuple[int, int]:
    # On PostgreSQL the name query reads the index's statistics once every few minutes per process.
    query.answer(kind, text)
    with CaptureQueriesContext(connections["bureau"]) as captured:
        page = query.answer(kind, text)
    return len(captured), len(page.results)


def test_s24_an_answer_is_one_statement_however_many_records(registry):
    many_websites = Entity.objects.filter(status=Status.ACTIVE, next_website_seq__gt=4).order_by("-next_website_seq")
    big = many_websites.first()
    assert _queries("name", "有限") == (1, query.LIMIT)
    assert _queries("name", "ABC Cloud") == (1, 1)
    assert _queries("name", "没有这样的名字") == (1, 0)
    assert _queries("number", big.number)[0] == 1
    assert _queries("number", f"{big.number}-1")[0] == 1
    assert _queries("domain", "www.caps-name.cn") == (1, 1)


def _counted(captured: CaptureQueriesContext) -> int:
    # The simulated clock reads its offset at most once a second, whenever that second runs out, and
    # the API the simulation's switches (simulation.recent_faults).
    periodic = ("clock_offset_seconds", "fail_share")
    return sum(1 for q in captured.captured_queries if not any(p in q["sql"] for p in periodic))


def test_s24_a_public_request_costs_a_fixed_number_of_queries(registry, public_http, client):
    """The API and the page alike: the answer's one statement and nothing per record (the rate limit
    counts in the cache, not the database; the simulation's switches, which the API reads at most
    once a second, left out)."""
    counts = []
    query.answer("name", "有限")  # the index statistics, read once every few minutes per process
    for name in ("有限", "ABC Cloud"):
        with CaptureQueriesContext(connections["bureau"]) as api:
            assert public_http.get("query", name=name).status_code == 200
        with CaptureQueriesContext(connections["bureau"]) as page:
            assert client.get("/bureau/query/", {"kind": "name", "q": name}).status_code == 200
        counts.append((_counted(api), _counted(page)))
    assert counts[0] == counts[1]
    assert counts[0][0] == 1
    assert counts[0][1] <= 4


def test_s24_a_citizen_finds_a_site_by_domain_number_and_name_through_the_api(registry, public_http):
    website = Website.objects.filter(status=Status.ACTIVE, entity__status=Status.ACTIVE).order_by("pk")[3]
    domain = Domain.objects.filter(website=website, active=True).first().name
    trade = website.entity.name[3:5] if website.entity.unit_type != "individual" else website.entity.name[:2]

    by_domain = public_http.get("query", domain=f"www.{domain}").json()
    assert [r["website_number"] for r in by_domain["results"]] == [website.number]
    assert by_domain["next"] is None

    full_width = website.number.translate(FULL_WIDTH).replace("ICP", "icp")
    by_number = public_http.get("query", number=full_width).json()
    assert [r["website_number"] for r in by_number["results"]] == [website.number]

    seen, after = [], None
    while True:
        body = public_http.get("query", name=trade, **({"after": after} if after else {})).json()
        seen.extend(r["website_number"] for r in body["results"])
        after = body["next"]
        if after is None:
            break
    assert website.number in seen
    assert len(seen) == len(set(seen))
    assert set(body["results"][0]) == PUBLIC_FIELDS if body["results"] else True


def test_s24_a_bad_page_parameter_is_a_field_error(registry, public_http):
    body = public_http.get("query", name="有限", after="x.1").json()
    assert body["code"] == "validation_failed"
    assert [e["field"] for e in body["errors"]] == ["after"]
    assert "after" in body["errors"][0]["message_en"]
    assert "翻页" in body["errors"][0]["message"]


def test_s24_the_query_page_pages_by_name(registry, client):
    r = client.get("/bureau/query/", {"kind": "name", "q": "有限"})
    assert r.status_code == 200
    text = r.content.decode()
    assert "下一页" in text
    link = re.search(r'href="(\?kind=name[^"]+)"', text).group(1)
    second = client.get("/bureau/query/" + unicodedata.normalize("NFC", link.replace("&amp;", "&")))
    assert second.status_code == 200
    assert "查询结果" in second.content.decode()
    bad = client.get("/bureau/query/", {"kind": "name", "q": "有限", "after": "nonsense"})
    assert bad.status_code == 200
    assert "翻页参数" in bad.content.decode()


def test_s24_every_answer_is_planned_once_per_connection_on_postgresql(registry, small_pages):
    """Each kind's statement is prepared (psycopg, server-side binding) and planned once for any
    value: a name's statement was planned afresh for each text, which cost as much as running it.
    Two texts of each kind, a second page by name and by number: one plan for each statement, and
    the answers are the same as a plain scan's (the hypothesis test above)."""
    db = connections["bureau"]
    if db.vendor != "postgresql":
        pytest.skip("prepared statements are PostgreSQL's")
    websites = Website.objects.filter(status=Status.ACTIVE, entity__status=Status.ACTIVE).order_by("pk")
    for website in (websites[2], websites[5]):
        domain = Domain.objects.filter(website=website, active=True).first().name
        assert [r["website_number"] for r in query.by_domain(domain).results] == [website.number]
        assert [r["website_number"] for r in query.by_number(website.number).results] == [website.number]
    for text in ("有限", "公司"):
        first = query.by_name(text)
        assert first.next is not None
        query.by_name(text, first.next)
    entity = Entity.objects.get(pk=websites[0].entity_id).number
    query.by_number(entity, query.by_number(entity).next)
    with db.cursor() as cur:
        cur.execute(
            "SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements WHERE name LIKE '_pg3_%%'"
        )
        prepared = cur.fetchall()
    statements = [sql for sql, _, _ in prepared]
    assert any("FROM bureau_domain WHERE name = $1" in sql for sql in statements)
    assert any("w.number = $1" in sql for sql in statements)
    assert any("e.number = $1" in sql for sql in statements)
    assert any("LIKE" in sql for sql in statements)
    assert len(statements) == len(set(statements))
    assert [(generic, custom) for _, generic, custom in prepared if generic + custom > 1] != []
    assert all(custom == 0 for _, _, custom in prepared), prepared


def test_s24_bureau_connection_compiles_no_jit_and_starts_no_workers():
    """A name query's plan is costed at all of a text's matches, which its LIMIT never reads: at 10M
    websites that cost set off PostgreSQL's JIT, 400-500 ms of compiling for a 1 ms statement; and a
    long read of names was planned with parallel workers, 10-15 ms to start them for a scan of under
    one. The public query's statements are planned once per connection, not for each value. The
    bureau's connections set all three when they open."""
    db = connections["bureau"]
    if db.vendor != "postgresql":
        pytest.skip("JIT and parallel workers are PostgreSQL's")
    assert query.SESSION == {
        "jit": "off",
        "max_parallel_workers_per_gather": "0",
        "plan_cache_mode": "force_generic_plan",
    }
    with db.cursor() as cur:
        for name, value in query.SESSION.items():
            cur.execute(f"SHOW {name}")
            assert cur.fetchone()[0] == value, name
