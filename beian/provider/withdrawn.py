"""The names taken off the mirror's websites (`WithdrawnDomain`), kept for the served-set feed.

The mirror keeps a website's current domains only, so a change that takes a domain off a website
(or deregisters it: the bureau then lists none) leaves nothing that names the domain. An edge,
which knows what the website had, withdraws it, but must know whether another website serves the
name now (a domain that moved); without these rows it asked the platform, a request per page of
changes (docs/enforcement.md, "The feed's cost per edge"). With them a page of changes names every
name taken off its websites after the edge's version, with whether anything serves it.

Written by sync in the transaction that changes the website's domains, with that change's version
(the bureau's event number), so a page applied again or a crash in between neither loses a row nor
writes one twice: a name taken off again keeps one row, at the later version.

Kept while an edge may need them: an edge at version V needs the rows of versions above V. An edge
behind by more than HORIZON changed websites is told to take a fresh snapshot instead of the
changes (beian.enforcement.feed.TOO_FAR is this HORIZON), and that number of websites changed after
a version only grows, so a row at or below the version of the (HORIZON + 1)-th newest change of a
website serves no edge ever again: `prune` deletes those. A mirror with fewer websites keeps every
row (one at most per website and name ever taken off). A row missing (pruned, or a change from
before rows were kept) costs an edge a question to /served, never a wrong answer: it asks for
every name it withdraws that its page does not answer for.
"""

from __future__ import annotations

from collections.abc import Iterable

from beian.provider import upserts
from beian.provider.models import FiledWebsite, WithdrawnDomain

HORIZON = 50_000  # websites changed after a version beyond which an edge takes a snapshot instead
# Seconds between two prunes by a worker (beian.provider.work): finding the horizon reads an index,
# and rows a few minutes past it cost nothing.
PRUNE_EVERY = 600.0


def record(withdrawn: Iterable[tuple[int, str, int]]) -> None:
    """(website id, name, version) of each name taken off, in the transaction that took it off."""
    rows = {(website, name): version for website, name, version in withdrawn}
    upserts.upsert(
        WithdrawnDomain,
        ["website", "name", "version"],
        [(website, name, version) for (website, name), version in rows.items()],
        unique=["website", "name"],
        update=["version"],
    )


def horizon() -> int | None:
    """The highest version an edge can follow from without a fresh snapshot's being cheaper, less
    one: the version of the (HORIZON + 1)-th newest change of a website. None while the mirror has
    no more websites than HORIZON (then no edge is ever sent to a snapshot for being behind)."""
    versions = FiledWebsite.objects.order_by("-version").values_list("version", flat=True)
    return next(iter(versions[HORIZON : HORIZON + 1]), None)


def prune() -> int:
    """Delete the rows no edge can need any more; returns how many."""
    below = horizon()
    if below is None:
        return 0
    deleted, _ = WithdrawnDomain.objects.filter(version__lte=below).delete()
    return deleted
