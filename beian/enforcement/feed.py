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
reads the newest version every BEIAN_ENFORCEMENT_POLL_SECONDS while someone waits, and wakes every
waiting request when it moves: a hundred waiting edges cost one indexed query a poll, not a hundred.
"""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Iterable, Iterator

from django.db import close_old_connections, connections

from beian.enforcement import feedformat
from beian.enforcement.mirror import OrmMirror, _streamed, served_domains

PAGE = 1000  # websites in a page of changes
TOO_FAR = 50_000  # websites changed since an edge's version beyond which it takes a snapshot instead
WAIT_MAX = 25.0  # seconds a long poll may wait (under gunicorn's timeout and common proxies' 60 s)
_CHUNK = 64 * 1024


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


def changes(after: int, *, limit: int = PAGE, wait: float = 0.0) -> dict:
    """The entries of the websites changed after `after`, oldest change first, at most about
    `limit` of them (a page never ends inside one version), and the version to ask after next.
    With nothing newer, waits up to `wait` seconds for a change (then the page may be empty)."""
    mirror = OrmMirror()
    top = mirror.max_version()
    if after > top:
        raise SnapshotRequired(
            "snapshot_required",
            f"边缘节点的版本 {after} 高于平台的最新版本 {top}：它跟随的不是这份数据，请重新获取快照",
            f"The edge's version {after} is above the platform's newest, {top}: take a fresh snapshot",
        )
    if after == top and wait > 0:
        watcher().wait_above(after, min(wait, WAIT_MAX))
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
    return {"version": reached, "entries": entries, "more": len(websites) >= limit}


def _changed_count(after: int) -> int:
    from beian.provider.models import FiledWebsite

    return FiledWebsite.objects.filter(version__gt=after).order_by()[: TOO_FAR + 1].count()


def served_now(names: Iterable[str]) -> list[str]:
    """Which of these names a website of the mirror serves now (the edge asks when a change would
    withdraw a name that another website may serve)."""
    return sorted(OrmMirror().served_now(names))


class Watcher:
    """The newest version of the mirror, read by one thread of this process while requests wait
    for it to move."""

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
        try:
            while True:
                try:
                    top = version()
                except Exception:  # the database is away: waiting requests time out and answer empty
                    close_old_connections()
                    top = None
                with self._changed:
                    if top is not None and top != self.version:
                        self.version = top
                        self._changed.notify_all()
                    if not self._waiting:
                        self._thread = None  # the next request that waits starts another
                        return
                time.sleep(self.interval)  # the watcher's own pace, in its own thread; no request sleeps
        finally:
            connections["default"].close()


_watcher: Watcher | None = None
_watcher_lock = threading.Lock()


def watcher() -> Watcher:
    global _watcher
    with _watcher_lock:
        if _watcher is None:
            from django.conf import settings

            _watcher = Watcher(settings.BEIAN_ENFORCEMENT_POLL_SECONDS)
        return _watcher
