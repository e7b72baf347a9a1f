"""The public query (DESIGN §7a): approved filings only, public fields only. Never certificate
numbers, phones, emails or addresses."""

from __future__ import annotations

from beian.bureau import registry
from beian.bureau.models import Entity, Status, Website
from beian.core import numbers
from beian.core import validators as v
from beian.core.errors import Invalid

LIMIT = 50


def public_record(website: Website) -> dict:
    entity = website.entity
    try:
        unit_name = v.unit_type(entity.unit_type).name
    except Invalid:
        unit_name = entity.unit_type
    return {
        "entity_name": entity.name,
        "unit_type": entity.unit_type,
        "unit_type_name": unit_name,
        "entity_number": entity.number,
        "website_number": website.number,
        "website_name": website.name,
        "domains": sorted(website.domains.filter(active=True).values_list("name", flat=True)),
        "home_url": website.home_url,
        "approved_on": website.approved_at.date().isoformat(),
        # 是否限制接入: a shell website has no access anywhere.
        "access_limited": not registry.has_live_access_anywhere(website),
    }


def _live(qs):
    return qs.filter(status=Status.ACTIVE, entity__status=Status.ACTIVE).select_related("entity")


def by_domain(text: str) -> list[dict]:
    name = v.registrable_domain(text.strip())
    if name is None:
        return []
    website = registry.active_domain_owner(name)
    return [public_record(website)] if website and website.status == Status.ACTIVE else []


def by_number(text: str) -> list[dict]:
    try:
        parsed = numbers.parse(text)
    except Invalid:
        return []
    if parsed.website is not None:
        return [public_record(w) for w in _live(Website.objects.filter(number=str(parsed)))]
    return [
        public_record(w) for w in _live(Website.objects.filter(entity__number=parsed.entity_number)).order_by("seq")
    ]


def by_name(text: str) -> list[dict]:
    text = text.strip()
    if len(text) < 2:
        return []
    entities = Entity.objects.filter(status=Status.ACTIVE, name__contains=text).order_by("number")[:LIMIT]
    websites = _live(Website.objects.filter(entity__in=list(entities))).order_by("entity__number", "seq")[:LIMIT]
    return [public_record(w) for w in websites]
