"""Reading the provider's mirror (`beian.provider.models`), the only data enforcement has. Read only.

`OrmMirror` feeds the in-memory index of the decision server. `decide` answers one Host straight
from the database, for the Django views: a web worker holds no state (DESIGN §8), and one indexed
query per request is cheap next to the rest of Django's request.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from django.db import connection, connections
from django.db.models import Max, QuerySet

from beian.core import validators
from beian.enforcement import hosts
from beian.enforcement.index import (
    DEREGISTERED,
    FILED,
    INVALID_HOST,
    NOT_FILED,
    SERVED_ACCESS,
    Verdict,
    Website,
    classify,
    home_domain,
)
from beian.provider.models import FiledDomain, FiledWebsite, WithdrawnDomain

_FIELDS = ("id", "version", "status", "access_state", "home_url", "access_ended_reason")
_IN_CHUNK = 500  # names per IN (…) list: well inside every database's parameter limit


def _websites(rows) -> list[Website]:
    return [Website(*row) for row in rows]


def _domains_of(ids: Sequence[int]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    for start in range(0, len(ids), _IN_CHUNK):
        for website_id, name in FiledDomain.objects.filter(website_id__in=ids[start : start + _IN_CHUNK]).values_list(
            "website_id", "name"
        ):
            found.setdefault(website_id, []).append(name)
    return found


def _streamed(rows: QuerySet, chunk: int) -> Iterator:
    """The rows of a values_list queryset as the database sends them, `chunk` at a time."""
    if connection.vendor != "postgresql":
        yield from rows.iterator(chunk_size=chunk)  # SQLite reads a row at a time anyway
        return
    # psycopg's stream: the server sends rows while they are taken, where a server-side cursor
    # would wait for each FETCH to ask for more. The rows are as the database gives them, which is
    # what the ORM gives too for the integers and text read here (no converters).
    sql, params = rows.query.sql_with_params()
    with connection.cursor() as cursor:
        yield from cursor.cursor.stream(sql, params, size=chunk)


class OrmMirror:
    """The mirror through the ORM, on the `default` database."""

    def __init__(self, *, chunk: int = 5000) -> None:
        self.chunk = chunk

    def max_version(self) -> int:
        return FiledWebsite.objects.aggregate(top=Max("version"))["top"] or 0

    def served(self) -> Iterator[tuple[int, str]]:
        """(website id, domain) of every served website, in one query whose rows are taken as they
        come: no page of them is held, nor an object made per row. The connection is busy until
        the last row is read."""
        rows = served_domains().order_by("website_id").values_list("website_id", "name")
        return _streamed(rows, self.chunk)

    def not_served(self) -> Iterator[tuple[list[Website], dict[int, list[str]]]]:
        """The websites not served, each with its domains, oldest change first, in batches of
        about `chunk` websites (one query, streamed as `served`)."""
        rows = (
            FiledWebsite.objects.exclude(status="active", access_state__in=SERVED_ACCESS)
            .order_by("version", "id")
            .values_list(*_FIELDS, "domains__name")
        )
        sites: list[Website] = []
        domains: dict[int, list[str]] = {}
        for *fields, name in _streamed(rows, self.chunk):
            if not sites or sites[-1].id != fields[0]:
                if len(sites) >= self.chunk:
                    yield sites, domains
                    sites, domains = [], {}
                sites.append(Website(*fields))
            if name is not None:
                domains.setdefault(fields[0], []).append(name)
        if sites:
            yield sites, domains

    def changed(self, after: int, limit: int) -> tuple[list[Website], dict[int, list[str]]]:
        """The websites whose version is above `after`, oldest change first. A batch never ends
        in the middle of one version, so `after` can move to the batch's highest version."""
        newer = FiledWebsite.objects.filter(version__gt=after)
        sites = _websites(newer.order_by("version", "id").values_list(*_FIELDS)[:limit])
        if len(sites) == limit:
            top = sites[-1].version
            sites = [s for s in sites if s.version < top] + _websites(
                newer.filter(version=top).order_by("id").values_list(*_FIELDS)
            )
        return sites, _domains_of([s.id for s in sites])

    def withdrawn(self, ids: Sequence[int], after: int) -> set[str]:
        """The names taken off these websites by their changes after version `after`, as far as the
        mirror kept them (beian.provider.withdrawn): what an edge at `after` withdraws when it
        applies them, but for names the mirror no longer keeps (then it asks /served)."""
        found: set[str] = set()
        for start in range(0, len(ids), _IN_CHUNK):
            found.update(
                WithdrawnDomain.objects.filter(website_id__in=ids[start : start + _IN_CHUNK], version__gt=after)
                .order_by()
                .values_list("name", flat=True)
            )
        return found

    def served_now(self, names: Iterable[str]) -> set[str]:
        names = list(names)
        found: set[str] = set()
        for start in range(0, len(names), _IN_CHUNK):
            found.update(
                served_domains().filter(name__in=names[start : start + _IN_CHUNK]).values_list("name", flat=True)
            )
        return found

    def close(self) -> None:
        """Drop this thread's connection, so the next read opens a fresh one (after an outage)."""
        connections["default"].close()


def served_domains():
    """The mirror's domains that are served here, as a queryset."""
    return FiledDomain.objects.filter(website__status="active", website__access_state__in=SERVED_ACCESS)


def served_names() -> Iterator[str]:
    """Every served domain, canonical and sorted, once (the nginx map)."""
    seen_last = None
    for name in served_domains().order_by("name").values_list("name", flat=True).iterator(chunk_size=5000):
        canonical = hosts.normalise(name)
        if canonical is None or canonical.decode("ascii") != name or name == seen_last:
            continue  # never write to a proxy's configuration a name that is not plainly a domain
        seen_last = name
        yield name


def _deregistered_under(domain: str) -> bool:
    """Whether a deregistered website of the mirror had `domain`: the mirror keeps only a website's
    active domains, so the home URL is what is left to go by. Asked only for a Host that is refused
    anyway and has no domain row at all; the decision server has this in memory instead."""
    candidates = FiledWebsite.objects.exclude(status="active").filter(home_url__icontains=domain)
    return any(home_domain(url) == domain for url in candidates.values_list("home_url", flat=True)[:50])


def decide(host: bytes | str) -> Verdict:
    """The decision for one Host, read from the database: the same rules as the index."""
    name = hosts.normalise(host)
    if name is None:
        return Verdict(INVALID_HOST)
    text = name.decode("ascii")
    candidates = [s.decode("ascii") for s in hosts.suffixes(name)]
    rows = FiledDomain.objects.filter(name__in=candidates).values_list(
        "name", "website__status", "website__access_state", "website__access_ended_reason", "website__version"
    )
    best: tuple[int, int, str, str] | None = None  # (suffix length, version, reason, name)
    for domain, status, access_state, ended_reason, version in rows:
        reason = classify(status, access_state, ended_reason)
        if reason == FILED:
            return Verdict(FILED, text, domain)
        if reason != NOT_FILED and (best is None or (len(domain), version) > best[:2]):
            best = (len(domain), version, reason, domain)
    if best is not None:
        return Verdict(best[2], text, best[3])
    registrable = validators.registrable_domain(text)
    if registrable and _deregistered_under(registrable):
        return Verdict(DEREGISTERED, text, registrable)
    return Verdict(NOT_FILED, text)
