"""Issue 10: the registry keeps only the indexes something reads (migrations bureau 0016 and
0017): at national size each costs the bulk load its build and every filing its upkeep."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connections, transaction

from beian.bureau import bulkload, query
from beian.bureau.models import Entity, Website
from tests.migrating import migrate_to, migrate_to_latest

committed = pytest.mark.django_db(transaction=True, databases=["default", "bureau"], serialized_rollback=True)

BEFORE, AFTER = ("bureau", "0015_entity_grams"), ("bureau", "0016_unread_indexes")
GIN_BEFORE, GIN_AFTER = ("bureau", "0016_unread_indexes"), ("bureau", "0017_drop_name_gin")
UNREAD = {"bureau_doma_name_aa9e1f_idx", "bureau_entity_number_6b003e22_like", "bureau_website_number_f590e9b2_like"}


def _indexes() -> dict[str, int]:
    """The bureau tables' indexes by name, each with what identifies its storage (PostgreSQL's oid;
    SQLite's root page), so that an index renamed is told from one built again."""
    conn = connections["bureau"]
    with conn.cursor() as cur:
        if conn.vendor == "postgresql":
            cur.execute(
                "SELECT c.relname, c.oid FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid "
                "JOIN pg_class t ON t.oid = x.indrelid WHERE t.relname IN ('bureau_entity', 'bureau_website', "
                "'bureau_domain')"
            )
        else:
            cur.execute(
                "SELECT name, rootpage FROM sqlite_master WHERE type = 'index' "
                "AND tbl_name IN ('bureau_entity', 'bureau_website', 'bureau_domain')"
            )
        return dict(cur.fetchall())


@committed
def test_migration_0016_drops_the_unread_indexes_and_keeps_the_numbers_unique(world):
    """The domain name's index of every row (look-ups are of active domains: `domain_active_once`)
    and PostgreSQL's `LIKE 'prefix%'` copies of the numbers' unique indexes are gone; the numbers
    stay unique, on PostgreSQL under named constraints whose index is the very one renamed (not built
    again, which would lock a national registry's tables for the build), on SQLite by the column's
    own UNIQUE as before (building the table again would drop the name search's triggers); the
    migration goes back."""
    conn = connections["bureau"]
    bulkload.load(entities=20, websites=40, seed=3, provider="operator", batch=20, jobs=0)
    website = Website.objects.select_related("entity").filter(status="active", entity__status="active").first()
    migrate_to(BEFORE, "bureau")
    try:
        before = _indexes()
        wanted = UNREAD if conn.vendor == "postgresql" else {"bureau_doma_name_aa9e1f_idx"}
        assert wanted <= set(before)
        migrate_to(AFTER, "bureau")
        after = _indexes()
        assert not UNREAD & set(after)
        if conn.vendor == "postgresql":
            assert {"entity_number_once", "website_number_once", "domain_active_once"} <= set(after)
            assert after["entity_number_once"] == before["bureau_entity_number_key"]
            assert after["website_number_once"] == before["bureau_website_number_key"]
        else:  # the entity table is not built again: the name search's triggers are still there
            assert after["sqlite_autoindex_bureau_entity_1"] == before["sqlite_autoindex_bureau_entity_1"]
            with conn.cursor() as cur:
                cur.execute("SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'bureau_entity'")
                assert cur.fetchone()[0] == 3
        with pytest.raises(IntegrityError), transaction.atomic(using="bureau"):
            Website.objects.filter(pk=website.pk).update(number=Website.objects.exclude(pk=website.pk)[0].number)
        with pytest.raises(IntegrityError), transaction.atomic(using="bureau"):
            Entity.objects.filter(pk=website.entity.pk).update(
                number=Entity.objects.exclude(pk=website.entity.pk)[0].number
            )
        assert [r["website_number"] for r in query.by_number(website.number).results] == [website.number]
        migrate_to(BEFORE, "bureau")
        assert set(_indexes()) == set(before)
    finally:
        migrate_to_latest("bureau", "bureau")
    op = world.file("filed-after-0016.cn", province="44")
    assert query.by_number(op.result["website_number"]).results


@committed
def test_migration_0017_drops_the_name_gin_index_the_name_search_no_longer_reads(world):
    """On PostgreSQL the GIN index of the names' bigrams (0003) goes, its upkeep and its build in
    every bulk load with it, and a name is still found, an entity filed afterwards too (the bigram
    table answers); on SQLite, whose name search is the FTS5 table, nothing changes; back, the
    index is made again."""
    conn = connections["bureau"]
    bulkload.load(entities=20, websites=40, seed=5, provider="operator", batch=20, jobs=0)
    entity = Entity.objects.filter(status="active").order_by("pk").first()
    found = [r["entity_name"] for r in query.by_name(entity.name[:4]).results]
    assert entity.name in found
    migrate_to(GIN_BEFORE, "bureau")
    try:
        before = _indexes()
        assert ("bureau_entity_name_grams" in before) == (conn.vendor == "postgresql")
        migrate_to(GIN_AFTER, "bureau")
        after = _indexes()
        assert "bureau_entity_name_grams" not in after
        assert set(after) == set(before) - {"bureau_entity_name_grams"}
        assert [r["entity_name"] for r in query.by_name(entity.name[:4]).results] == found
        migrate_to(GIN_BEFORE, "bureau")
        assert set(_indexes()) == set(before)
    finally:
        migrate_to_latest("bureau", "bureau")
    op = world.file("filed-after-0017.cn", province="44")
    filed = Website.objects.select_related("entity").get(number=op.result["website_number"]).entity
    assert filed.name in [r["entity_name"] for r in query.by_name(filed.name).results]
