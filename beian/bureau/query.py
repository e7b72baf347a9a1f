"""The public query (DESIGN §7a, S17, S24): approved filings only, public fields only. Never
certificate numbers, phones, emails or addresses.

Every answer costs the same few queries however many records it holds: one for the websites with
their entities and whether any access is live, one for their domains. By domain, the registrable
domain of what was typed is looked up on the domain index; by number, the unique number indexes;
by name, the name index of migration 0003 (bigrams: a GIN expression index on PostgreSQL, an FTS5
table on SQLite). Name and number answers are paged with a keyset (`after`: the last record's
entity id and website sequence), so page 1,000 costs what page 1 costs.

A name matches when it contains the text as typed, with the Latin letters A-Z compared without
regard to case (as SQLite's LIKE compares them): `name.translate(ASCII_LOWER)` contains
`text.translate(ASCII_LOWER)`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.db import connections
from django.db.models import Exists, OuterRef
from django.db.models.expressions import RawSQL

from beian.bureau.models import Access, Domain, Status, Website
from beian.bureau.registry import LIVE_ACCESS
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

_FIELDS = (
    "id",
    "entity_id",
    "seq",
    "number",
    "name",
    "home_url",
    "approved_at",
    "entity__name",
    "entity__unit_type",
    "entity__number",
    "live",
)


def _live_websites():
    """Filed websites of filed entities, with whether any access is live (a shell has none)."""
    live = Access.objects.filter(website=OuterRef("pk"), state__in=LIVE_ACCESS)
    return Website.objects.filter(status=Status.ACTIVE, entity__status=Status.ACTIVE).annotate(live=Exists(live))


def _records(rows: list[dict]) -> list[dict]:
    """The public record of each website row: one more query, for all their domains at once."""
    domains: dict[int, list[str]] = {}
    if rows:
        for website_id, name in (
            Domain.objects.filter(website_id__in=[r["id"] for r in rows], active=True)
            .order_by("name")
            .values_list("website_id", "name")
        ):
            domains.setdefault(website_id, []).append(name)
    return [
        {
            "entity_name": r["entity__name"],
            "unit_type": r["entity__unit_type"],
            "unit_type_name": _UNIT_NAMES.get(r["entity__unit_type"], r["entity__unit_type"]),
            "entity_number": r["entity__number"],
            "website_number": r["number"],
            "website_name": r["name"],
            "domains": domains.get(r["id"], []),
            "home_url": r["home_url"],
            "approved_on": clock.local_date(r["approved_at"]).isoformat(),
            # 是否限制接入: a shell website has no access anywhere.
            "access_limited": not r["live"],
        }
        for r in rows
    ]


def _page(queryset) -> Page:
    rows = list(queryset.order_by("entity_id", "seq").values(*_FIELDS)[: LIMIT + 1])
    more = len(rows) > LIMIT
    rows = rows[:LIMIT]
    return Page(_records(rows), f"{rows[-1]['entity_id']}.{rows[-1]['seq']}" if more else None)


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


def _after(queryset, cursor: tuple[int, int] | None):
    if cursor is None:
        return queryset
    entity_id, seq = cursor
    return queryset.filter(entity_id__gte=entity_id).exclude(entity_id=entity_id, seq__lte=seq)


# ---------------------------------------------------------------- the three ways


def by_domain(text: str) -> Page:
    """A host finds the registrable domain it lies under (`www.a.example.cn` → `example.cn`)."""
    name = v.registrable_domain(text.strip())
    if name is None:
        return Page([])
    owner = Domain.objects.filter(name=name, active=True).values("website_id")
    return _page(_live_websites().filter(pk__in=owner))


def by_number(text: str, after: str | None = None) -> Page:
    """An entity number (all its filed websites) or a website number, in any form people paste."""
    try:
        parsed = numbers.parse(text)
    except Invalid:
        return Page([])
    if parsed.website is not None:
        return _page(_live_websites().filter(number=str(parsed)))
    cursor = parse_cursor(after)
    return _page(_after(_live_websites().filter(entity__number=parsed.entity_number), cursor))


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


def _name_matches(text: str, cursor: tuple[int, int] | None) -> RawSQL:
    """The ids of filed entities whose name contains `text`, from the name index, in id order, at
    most as many as a page can need (each has a filed website, so LIMIT + 2 entities fill a page
    even when the first is the one the cursor stands in)."""
    first = cursor[0] if cursor else 0
    website = "SELECT 1 FROM bureau_website w WHERE w.entity_id = e.id AND w.status = 'active'"
    if connections["bureau"].vendor == "postgresql":
        sql = (
            "SELECT e.id FROM bureau_entity e "
            "WHERE beian_name_grams(e.name) @> %s::text[] "
            "AND translate(e.name, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz') LIKE %s "
            f"AND e.status = 'active' AND e.id >= %s AND EXISTS ({website}) ORDER BY e.id LIMIT %s"
        )
        return RawSQL(sql, [sorted(set(grams(text))), _like(text), first, LIMIT + 2])
    phrase = '"' + " ".join(grams(text)).replace('"', '""') + '"'
    sql = (
        "SELECT e.id FROM bureau_entity_grams g JOIN bureau_entity e ON e.id = g.rowid "
        "WHERE bureau_entity_grams MATCH %s AND g.rowid >= %s AND e.name LIKE %s ESCAPE '\\' "
        f"AND e.status = 'active' AND EXISTS ({website}) ORDER BY g.rowid LIMIT %s"
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
    return _page(_after(_live_websites().filter(entity_id__in=_name_matches(text, cursor)), cursor))


def answer(kind: str, text: str, after: str | None = None) -> Page:
    if kind == "domain":
        return by_domain(text)
    if kind == "number":
        return by_number(text, after)
    return by_name(text, after)
