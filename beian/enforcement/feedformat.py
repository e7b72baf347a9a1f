"""The served-set feed's entries, as the platform writes them and an edge reads them (no Django:
an edge has no database and no settings).

An entry is one website of the mirror as far as the decision goes, and nothing else of it:

    {"site": 7, "version": 12, "verdict": "refuse", "reason": "access_cancelled",
     "domains": ["example.cn", "www.example.cn"]}

`site` is the mirror's key for the website, so that an edge can withdraw a domain that the
website no longer has: the mirror keeps a website's current domains only, so a change that takes a
domain off (or deregisters the website) cannot name it, and only the edge, which knows what the
website had, can. `reason` is one of the index's reasons (beian.enforcement.index); `verdict` says
"serve" or "refuse" for a reader that wants no more. A deregistered website has no domains left in
the mirror; its entry names the domain of its home URL as `home`, which is what the index goes by
then. Snapshot entries of served websites leave out `version` (the snapshot's own version covers
them).

A snapshot is NDJSON: a header line `{"feed": "beian-served-set", "format": 1, "version": V}`, the
served websites' entries in order of `site`, the others oldest change first, and a last line
`{"end": true, "entries": N}`, without which the snapshot is incomplete and is not used.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence

from beian.core.catalogue import AccessEnded
from beian.enforcement.index import (
    ACCESS_CANCELLED,
    DEREGISTERED,
    FILED,
    NOT_FILED,
    TRANSFER_NOT_APPROVED,
    Website,
    classify,
    home_domain,
)

FEED = "beian-served-set"
FORMAT = 1
SERVE, REFUSE = "serve", "refuse"

# reason → (status, access_state, access_ended_reason): a website of the mirror that `classify`
# gives that reason, which is all the index asks of a website. A test holds the two to each other.
AS_WEBSITE: dict[str, tuple[str, str, str]] = {
    FILED: ("active", "active", ""),
    ACCESS_CANCELLED: ("active", "ended", AccessEnded.CANCELLED.value),
    TRANSFER_NOT_APPROVED: ("active", "ended", AccessEnded.NOT_APPROVED.value),
    DEREGISTERED: ("deregistered", "", ""),
    NOT_FILED: ("active", "", ""),
}


class FeedError(ValueError):
    """A line of the feed that is not what the format says."""


def entry(site: Website, domains: Sequence[str], *, with_version: bool = True) -> dict:
    """The entry of a website of the mirror."""
    reason = classify(site.status, site.access_state, site.access_ended_reason)
    out: dict = {"site": site.id}
    if with_version:
        out["version"] = site.version
    out["verdict"] = SERVE if reason == FILED else REFUSE
    out["reason"] = reason
    out["domains"] = list(domains)
    if reason == DEREGISTERED:
        home = home_domain(site.home_url)
        if home:
            out["home"] = home
    return out


def names_of(document: dict) -> list[str]:
    """The names an entry speaks for: its domains, and a deregistered website's home."""
    home = document.get("home")
    return [*document["domains"], *((home,) if isinstance(home, str) and home else ())]


def served_entry(site_id: int, domains: Sequence[str]) -> dict:
    return {"site": site_id, "verdict": SERVE, "reason": FILED, "domains": list(domains)}


def header(version: int) -> dict:
    return {"feed": FEED, "format": FORMAT, "version": version}


def line(document: dict) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode() + b"\n"


def website(document: dict, version: int = 0) -> tuple[Website, list[str]]:
    """The website an entry stands for, as the index takes it, and its domains."""
    try:
        site_id = document["site"]
        reason = document["reason"]
        domains = document["domains"]
        status, access_state, ended = AS_WEBSITE[reason]
    except (KeyError, TypeError) as exc:
        raise FeedError(f"not an entry of the feed: {str(document)[:200]}") from exc
    if type(site_id) is not int or not isinstance(domains, list) or not all(isinstance(d, str) for d in domains):
        raise FeedError(f"not an entry of the feed: {str(document)[:200]}")
    home = document.get("home")
    home_url = f"http://{home}/" if isinstance(home, str) and home else ""
    return Website(site_id, document.get("version", version), status, access_state, home_url, ended), domains


def websites(entries: Iterable[dict], version: int = 0) -> tuple[list[Website], dict[int, list[str]]]:
    """A batch of entries as the index's `_apply` takes them."""
    sites: list[Website] = []
    domains: dict[int, list[str]] = {}
    for document in entries:
        site, names = website(document, version)
        sites.append(site)
        domains[site.id] = names
    return sites, domains


class SnapshotReader:
    """A snapshot's lines read once, front to back, as the index's `load` reads a mirror:
    `max_version`, then `served`, then `not_served`. A snapshot without its end line raises
    FeedError (it was cut off), and the index is then not used."""

    def __init__(self, lines: Iterable[bytes], *, batch: int = 5000) -> None:
        self._lines = iter(lines)
        self.batch = batch
        self.version = 0
        self.entries = 0
        self._pending: dict | None = None
        self._ended = False
        first = self._next()
        if first is None or first.get("feed") != FEED or first.get("format") != FORMAT:
            raise FeedError("not a snapshot of the served-set feed")
        if type(first.get("version")) is not int:
            raise FeedError("the snapshot's header has no version")
        self.version = first["version"]
        self.entries = 0  # the header is no entry

    def _next(self) -> dict | None:
        for raw in self._lines:
            if not raw.strip():
                continue
            try:
                document = json.loads(raw)
            except ValueError as exc:
                raise FeedError("a line of the snapshot is not JSON") from exc
            if not isinstance(document, dict):
                raise FeedError("a line of the snapshot is not an object")
            if document.get("end") is True:
                if document.get("entries") != self.entries:
                    raise FeedError("the snapshot's end line counts another number of entries")
                self._ended = True
                return None
            self.entries += 1
            return document
        if not self._ended:
            raise FeedError("the snapshot ends before its end line: it was cut off")
        return None

    # The Mirror protocol of beian.enforcement.index, for Index.load.

    def max_version(self) -> int:
        return self.version

    def served(self) -> Iterator[tuple[int, str]]:
        while (document := self._next()) is not None:
            if document.get("reason") != FILED:
                self._pending = document
                return
            site, names = website(document)
            for name in names:
                yield site.id, name

    def not_served(self) -> Iterator[tuple[list[Website], dict[int, list[str]]]]:
        batch: list[dict] = []
        document, self._pending = self._pending, None
        while document is not None:
            batch.append(document)
            if len(batch) >= self.batch:
                yield websites(batch)
                batch = []
            document = self._next()
        if batch:
            yield websites(batch)
