"""The served-set feed, the platform's side: what edges follow instead of reading the database
(DESIGN §7). The entries and the snapshot's lines are beian.enforcement.feedformat's.

The feed is the mirror itself read by version, as the decision server reads it (every change of a
website bumps its `version`, the bureau's event number), so it keeps no state of its own and any
web worker answers it: the snapshot is the index's load (`OrmMirror.served` and `not_served`), the
changes after a version are `OrmMirror.changed`. The mirror keeps every website with its latest
state, so no version is too old to catch up from; but far behind, a snapshot is cheaper than the
pages of changes, and an edge that claims a version the platform never reached (a database
restored from a backup, another platform) is following something else. Both are told to take a
fresh snapshot (410 snapshot_required).

A change is pushed, not waited for: a request for the changes after the newest version waits (a
long poll, up to `wait` seconds) until a newer one appears. Each web process has one thread that
reads the newest version while someone waits, and wakes every waiting request when it moves: a
hundred waiting edges cost one indexed query, not a hundred. On PostgreSQL the thread LISTENs on
CHANNEL, which a trigger on the mirror's websites NOTIFYs at each commit that changes a version
(beian/enforcement/migrations/0002), so it reads the version as soon as it moves; it also reads it
every BEIAN_ENFORCEMENT_POLL_SECONDS, which is all it does on SQLite.

The edges in step all ask for the same page (the changes after the same version) at the same
moment, when the version moves. A page is read from the database and encoded once per web process
and the same bytes answered to every edge that asks for it (`Shared`): the platform's cost of a
change does not grow with the number of edges but for each request's own (its token, the HTTP).
With the page come the page's own questions answered: which of the names its refused websites
had, and of the names taken off its websites since the edge's version (`withdrawn`, which the
mirror keeps for this: beian.provider.withdrawn), another website serves now (`served`), which an
edge would otherwise ask /served each.
"""

from __future__ import annotations

import json
import threading
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from django.db import close_old_connections, connections

from beian.enforcement import feedformat
from beian.enforcement.mirror import OrmMirror, _streamed, served_domains
from beian.provider import withdrawn

PAGE = 1000  # websites in a page of changes
# Websites changed since an edge's version beyond which it takes a snapshot instead: the names
# taken off are kept that far back (beian.provider.withdrawn), no further.
TOO_FAR = withdrawn.HORIZON
WAIT_MAX = 25.0  # seconds a long poll may wait (under gunicorn's timeout and common proxies' 60 s)
_CHUNK = 64 * 1024
CHANNEL = "beian_mirror"  # NOTIFY'd by the trigger of migration 0002 (PostgreSQL only)
BATCH = 0.1  # seconds after a move of the version in which the watcher wakes no one again
SHARE_SECONDS = 2.0  # how long an answer read once is kept for the edges that ask the same after it
# Seconds the watcher goes on after the last request stopped waiting: a stream stops waiting while
# it sends each page, and a watcher started afresh each time would open a connection each time.
LINGER = 30.0


class SnapshotRequired(Exception):
    """The edge should take a fresh snapshot rather than the changes after its version."""

    def __init__(self, code: str, detail: str, detail_en: str) -> None:
        super().__init__(code)
        self.code, self.detail, self.detail_en = code, detail, detail_en


def version() -> int:
    return OrmMirror().max_version()


def snapshot_lines(top: int | None = None, *, chunk: int = 5000) -> Iterator[bytes]:
    """The snapshot, line by line, as the database sends the rows. Its version (`top`, the one its
    ETag names) is read first: a change made while it streams may or may not be in it, and the
    edge applies the changes after that version (again, if need be: applying is idempotent), as
    the decision server's load does."""
    mirror = OrmMirror(chunk=chunk)
    yield feedformat.line(feedformat.header(mirror.max_version() if top is None else top))
    count = 0
    rows = served_domains().order_by("website_id", "name").values_list("website_id", "name")
    site, names = None, []
    for website_id, name in _streamed(rows, chunk):
        if website_id != site:
            if site is not None:
                yield feedformat.line(feedformat.served_entry(site, names))
                count += 1
            site, names = website_id, []
        names.append(name)
    if site is not None:
        yield feedformat.line(feedformat.served_entry(site, names))
        count += 1
    for websites, domains in mirror.not_served():
        for website in websites:
            yield feedformat.line(feedformat.entry(website, sorted(domains.get(website.id, ()))))
            count += 1
    yield feedformat.line({"end": True, "entries": count})


def gzipped(lines: Iterable[bytes], *, level: int = 6) -> Iterator[bytes]:
    """gzip as it goes, in pieces of about 64 KiB (a line at a time would be slower and larger)."""
    packer = zlib.compressobj(level, zlib.DEFLATED, 31)
    buffered: list[bytes] = []
    size = 0
    for line in lines:
        buffered.append(line)
        size += len(line)
        if size >= _CHUNK:
            out = packer.compress(b"".join(buffered))
            buffered, size = [], 0
            if out:
                yield out
    yield packer.compress(b"".join(buffered)) + packer.flush()


@dataclass(frozen=True)
class Page:
    """A page of changes as answered: its JSON (one line, no newline in it) and what a stream of
    pages needs to know of it."""

    body: bytes
    version: int  # the version to ask after next
    more: bool  # another page is ready at once
    entries: int


def changes(after: int, *, limit: int = PAGE, wait: float = 0.0) -> dict:
    """The entries of the websites changed after `after`, oldest change first, at most about
    `limit` of them (a page never ends inside one version), the version to ask after next, and
    which of the names of its refused websites are served now (by another website: `served`).
    With nothing newer, waits up to `wait` seconds for a change (then the page may be empty)."""
    return json.loads(changes_page(after, limit=limit, wait=wait).body)


def changes_page(after: int, *, limit: int = PAGE, wait: float = 0.0) -> Page:
    """`changes` as its Page, read and encoded once for every edge of this process that asks for
    the same page at the same version of the mirror."""
    top = OrmMirror().max_version()
    if after > top:
        raise SnapshotRequired(
            "snapshot_required",
            f"边缘节点的版本 {after} 高于平台的最新版本 {top}：它跟随的不是这份数据，请重新获取快照",
            f"The edge's version {after} is above the platform's newest, {top}: take a fresh snapshot",
        )
    if after == top and wait > 0:
        top = max(top, watcher().wait_above(after, min(wait, WAIT_MAX)))
    return _shared_page(after, limit, top)


def _shared_page(after: int, limit: int, top: int) -> Page:
    return pages.get(("changes", after, limit), top, lambda: _page(after, limit))


def stream(
    first: Page, *, limit: int = PAGE, seconds: float = WAIT_MAX, allowed: Callable[[int], bool]
) -> Iterator[bytes]:
    """The pages of changes as they come, one a line, for up to `seconds`: `first` (the page after
    the edge's version, read before the answer began, so that a 410 could still be answered), then
    each page with something in it as soon as the mirror moves past the last. One request carries
    every change of those seconds: an edge in step costs the platform no request a change, only
    the page's bytes, read once for all (`Shared`). It ends early, with a whole line, when
    `allowed(version)` says the edge may no longer follow (revoked), or when the edge would need a
    snapshot; the edge's next request is then answered why."""
    deadline = time.monotonic() + min(seconds, WAIT_MAX)
    page = first
    while True:
        if not allowed(page.version):
            return
        if page.entries or page is first:
            yield page.body + b"\n"
        after, top = page.version, page.version
        if not page.more:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            top = watcher().wait_above(after, left)
            if top <= after:
                return
        try:
            page = _shared_page(after, limit, top)
        except SnapshotRequired:
            return


def _page(after: int, limit: int) -> Page:
    mirror = OrmMirror()
    websites, domains = mirror.changed(after, limit)
    # Counted only when the page is full, or longer than the limit itself: a page in step costs no count.
    if len(websites) >= min(limit, TOO_FAR + 1) and _changed_count(after) > TOO_FAR:
        raise SnapshotRequired(
            "snapshot_required",
            f"版本 {after} 之后变更的网站超过 {TOO_FAR} 个，重新获取快照更快",
            f"More than {TOO_FAR} websites changed after version {after}: a fresh snapshot is quicker",
        )
    entries = [feedformat.entry(w, sorted(domains.get(w.id, ()))) for w in websites]
    reached = max((w.version for w in websites), default=after)
    # What an edge would ask when it withdraws names: whether another website serves them. The
    # names of the refused websites, and the names taken off the page's websites since the edge's
    # version (`withdrawn`: the mirror keeps them, beian.provider.withdrawn), which the entries
    # cannot name. Read after the page, so at a version no older than it (an answer newer than the
    # page is right too: the changes after it settle what moved since).
    taken_off = mirror.withdrawn([w.id for w in websites], after) if websites else set()
    asked = {name for e in entries if e["verdict"] != feedformat.SERVE for name in feedformat.names_of(e)}
    asked |= taken_off
    more = len(websites) >= limit
    page = {"version": reached, "entries": entries, "more": more}
    page["served"] = sorted(mirror.served_now(asked)) if asked else []
    if taken_off:  # left out when none: a page with nothing taken off stays as it was
        page["withdrawn"] = sorted(taken_off)
    return Page(json.dumps(page, separators=(",", ":")).encode(), reached, more, len(entries))


def _changed_count(after: int) -> int:
    from beian.provider.models import FiledWebsite

    return FiledWebsite.objects.filter(version__gt=after).order_by()[: TOO_FAR + 1].count()


def served_now(names: Iterable[str]) -> list[str]:
    """Which of these names a website of the mirror serves now (the edge asks when a change would
    withdraw a name that another website may serve)."""
    return sorted(OrmMirror().served_now(names))


def served_shared(names: Iterable[str], version: int) -> list[str]:
    """`served_now`, read at `version` of the mirror or later, once for every edge of this process
    that asks the same (the edges in step ask the same names at the same version)."""
    asked = tuple(sorted(set(names)))
    return pages.get(("served", asked), version, lambda: served_now(asked))


class Shared:
    """Answers read once and handed to every request of this process that asks the same question
    at the same version of the mirror: the first request reads it, those that ask meanwhile wait
    for its answer, and those that ask later (within SHARE_SECONDS, while the mirror has not moved
    past it) are handed the same bytes. An answer is kept with the mirror's version read before it
    was, and given only to a request that saw no newer version: never an answer older than what the
    asker knows. What failed is raised to every request that waited for it, and kept for none."""

    def __init__(self, size: int = 64, keep: float = SHARE_SECONDS, clock: Callable[[], float] = time.monotonic):
        self.size, self.keep, self.clock = size, keep, clock
        self._lock = threading.Lock()
        self._done: OrderedDict[Hashable, tuple[int, float, Any]] = OrderedDict()  # key → (version, when, answer)
        self._reading: dict[Hashable, tuple[int, threading.Event, list]] = {}  # key → (version, done, [answer, error])

    def get(self, key: Hashable, version: int, read: Callable[[], Any]) -> Any:
        """The answer to `key` read at `version` of the mirror or later."""
        with self._lock:
            kept = self._done.get(key)
            if kept is not None and kept[0] >= version and self.clock() - kept[1] <= self.keep:
                return kept[2]
            flight = self._reading.get(key)
            leader = flight is None or flight[0] < version
            if leader:
                flight = (version, threading.Event(), [None, None])
                self._reading[key] = flight
        _, done, result = flight
        if not leader:
            done.wait()
            if result[1] is not None:
                raise result[1]
            return result[0]
        try:
            result[0] = read()
        except BaseException as exc:
            result[1] = exc
            raise
        finally:
            with self._lock:
                if self._reading.get(key) is flight:
                    del self._reading[key]
                kept = self._done.get(key)
                if result[1] is None and (kept is None or kept[0] <= version):  # not over a newer one
                    self._done[key] = (version, self.clock(), result[0])
                    self._done.move_to_end(key)
                    while len(self._done) > self.size:
                        self._done.popitem(last=False)
            done.set()
        return result[0]

    def clear(self) -> None:
        with self._lock:
            self._done.clear()


pages = Shared()


class Watcher:
    """The newest version of the mirror, read by one thread of this process while requests wait
    for it to move (and LINGER seconds after the last)."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.version = 0
        self._changed = threading.Condition()
        self._waiting = 0
        self._thread: threading.Thread | None = None

    def wait_above(self, after: int, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        with self._changed:
            self._waiting += 1
            try:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="beian-feed-watcher", daemon=True)
                    self._thread.start()
                while self.version <= after:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._changed.wait(left)
                return self.version
            finally:
                self._waiting -= 1

    def _run(self) -> None:
        listener = _Listener()
        idle_since: float | None = None
        try:
            while True:
                try:
                    top = version()
                except Exception:  # the database is away: waiting requests time out and answer empty
                    close_old_connections()
                    top = None
                moved = False
                with self._changed:
                    if top is not None and top != self.version:
                        if top < self.version:  # the database restored from a backup: not the same mirror
                            pages.clear()
                        self.version, moved = top, True
                        self._changed.notify_all()
                    if self._waiting:
                        idle_since = None
                    elif idle_since is None:
                        idle_since = time.monotonic()
                    elif time.monotonic() - idle_since > LINGER:
                        self._thread = None  # the next request that waits starts another
                        return
                # The watcher's own pace, in its own thread; no request sleeps. After a move, the
                # changes of the next BATCH seconds wake the edges once: a burst of changes is a
                # page or a few to each edge, not one each.
                if moved:
                    time.sleep(BATCH)
                listener.wait(self.interval)
        finally:
            connections["default"].close()


class _Listener:
    """Until the mirror's version may have moved: a NOTIFY on CHANNEL (PostgreSQL, on the watcher's
    own connection), or `timeout` seconds, whichever comes first."""

    def __init__(self) -> None:
        self._listening: object | None = None  # the connection LISTENing (Django reconnects after a failure)

    def wait(self, timeout: float) -> bool:
        """True if a notification came, False after `timeout` (or without one to listen for)."""
        db = connections["default"]
        if db.vendor != "postgresql":
            time.sleep(timeout)
            return False
        try:
            db.ensure_connection()
            raw = db.connection
            if self._listening is not raw:
                with db.cursor() as cursor:
                    cursor.execute(f"LISTEN {CHANNEL}")
                self._listening = raw
            came = False
            for _ in raw.notifies(timeout=timeout, stop_after=1):
                came = True
            for _ in raw.notifies(timeout=0):  # those that came with it: one read of the version for all
                pass
            return came
        except Exception:  # the database is away: the next read of the version says so, and reconnects
            self._listening = None
            db.close()
            time.sleep(timeout)
            return False


_watcher: Watcher | None = None
_watcher_lock = threading.Lock()


def watcher() -> Watcher:
    global _watcher
    with _watcher_lock:
        if _watcher is None:
            from django.conf import settings

            _watcher = Watcher(settings.BEIAN_ENFORCEMENT_POLL_SECONDS)
        return _watcher
