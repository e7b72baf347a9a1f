"""An edge's decision server following the platform's served-set feed instead of a database
(`python -m beian.enforcement --follow URL --state DIR`, the token in BEIAN_EDGE_TOKEN or --token).
No Django and no database here: an edge holds no credentials but its own token.

What it keeps in its state directory, so that it answers at once after a restart, platform or not:

- `snapshot.ndjson.gz`: the last snapshot it took, as the platform sent it, written to a temporary
  file beside it, checked whole (its end line), and only then renamed over the old one;
- `changes.ndjson`: every page of changes applied since, one line each, appended and fsync'd
  before the next request, with the answers to the questions the page raised (which names another
  website still serves: the page's own, or /served's where the page does not say), so that
  replaying it gives the very index it gave.

It starts from those, then follows: a stream of the changes after its version (one request for
20 s of pages), each page applied as it comes. When the journal grows past JOURNAL_MAX websites,
or the platform answers 410 (the edge is too far behind, or ahead of it), it takes a fresh
snapshot and starts a new journal, answering from its current index meanwhile.

Fail-static: while the platform cannot be reached (or refuses its token) it keeps answering from its
last index, retries with a growing pause (up to RETRY_MAX seconds), and says so on
/enforcement/status with the age of its data. When the platform returns it asks for the changes
after its version, which the platform has kept in the mirror: nothing in between is missed.
"""

from __future__ import annotations

import gc
import gzip
import json
import logging
import os
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import httpx

from beian.enforcement import feedformat
from beian.enforcement.feedformat import FeedError, SnapshotReader
from beian.enforcement.index import Applied, Index

log = logging.getLogger("beian.enforcement")

SNAPSHOT = "snapshot.ndjson.gz"
JOURNAL = "changes.ndjson"
WAIT = 20  # seconds of a stream of changes (of a long poll, not streaming)
JOURNAL_MAX = 50_000  # websites in the journal before a fresh snapshot replaces it
RETRY_MIN, RETRY_MAX = 0.2, 5.0
NDJSON = "application/x-ndjson"
STALE_SECONDS = 60.0  # data older than this (since the platform last confirmed it) is flagged stale
SERVED_BATCH = 500  # names a question to /served: 500 of the longest names fit the platform's body limit


class Refused(Exception):
    """The platform refused the edge's token (401): it keeps answering from its last set."""


class SnapshotNeeded(Exception):
    """410 from the platform: take a fresh snapshot."""


class FeedClient:
    """The feed's three requests, over one keep-alive connection."""

    def __init__(self, url: str, token: str, *, transport: httpx.BaseTransport | None = None) -> None:
        self.http = httpx.Client(
            base_url=url.rstrip("/") + "/enforcement/feed/",
            headers={"Authorization": f"Bearer {token}", "User-Agent": "beian-edge"},
            timeout=httpx.Timeout(10.0, read=WAIT + 15.0),
            transport=transport,
        )

    def _check(self, response: httpx.Response) -> httpx.Response:
        if response.status_code == 401:
            raise Refused(_problem(response))
        if response.status_code == 410:
            raise SnapshotNeeded(_problem(response))
        response.raise_for_status()
        return response

    def snapshot_to(self, path: Path) -> None:
        """The snapshot, gzip'd, into `path` (the bytes as sent when the platform gzips them)."""
        with self.http.stream("GET", "snapshot", headers={"Accept-Encoding": "gzip"}) as response:
            self._check(response)
            if response.headers.get("content-encoding") == "gzip":
                with path.open("wb") as out:
                    for chunk in response.iter_raw():
                        out.write(chunk)
            else:
                with gzip.open(path, "wb", compresslevel=1) as out:
                    for chunk in response.iter_bytes():
                        out.write(chunk)

    def changes(self, after: int, wait: int) -> dict:
        return _page(self._check(self.http.get("changes", params={"after": after, "wait": wait})).json())

    def follow(self, after: int, wait: int) -> Iterator[dict]:
        """The pages of changes after `after` as the platform sends them, for up to `wait` seconds,
        over one request (`stream=1`): a page a line, the first at once, then each as the mirror
        moves. A platform from before streams answers one page, which is all this yields then."""
        params = {"after": after, "wait": wait, "stream": 1}
        with self.http.stream("GET", "changes", params=params) as response:
            self._check(response)
            if not response.headers.get("content-type", "").startswith(NDJSON):
                response.read()
                yield _page(response.json())
                return
            for line in response.iter_lines():
                if line.strip():
                    try:
                        document = json.loads(line)
                    except ValueError as exc:  # cut off: the pages before it stand, the next request goes on
                        raise FeedError("a line of the stream of changes is not JSON") from exc
                    yield _page(document)

    def served_now(self, names: list[str], version: int | None = None) -> set[str]:
        """Which of `names` are served, read at `version` of the mirror or later (the edges in step
        ask the same at the same version, and the platform reads it once for them all)."""
        served: set[str] = set()
        for start in range(0, len(names), SERVED_BATCH):
            body: dict = {"names": names[start : start + SERVED_BATCH]}
            if version is not None:
                body["version"] = version
            answer = self._check(self.http.post("served", json=body)).json()
            served.update(answer["served"])
        return served

    def close(self) -> None:
        self.http.close()


def _page(page: object) -> dict:
    if not isinstance(page, dict) or type(page.get("version")) is not int or not isinstance(page.get("entries"), list):
        raise FeedError("a page of changes without its version or entries")
    return page


def _problem(response: httpx.Response) -> str:
    try:
        response.read()
        return str(response.json().get("code", response.status_code))
    except Exception:
        return str(response.status_code)


class _Asking:
    """The index's question "which of these names is served now", answered from the page where it
    answers it (`served`: which of the names of its refused websites, and of the names taken off its
    websites since the edge's version, `withdrawn`, a website serves), else put to the platform
    (a platform from before `withdrawn`, or one that no longer keeps a name taken off); every
    answer kept for the journal."""

    def __init__(self, client: FeedClient, page: dict) -> None:
        self.client = client
        self.version: int = page["version"]
        self.answered: set[str] = set()  # the names the page answers for
        self.known: set[str] = set()  # of those, the served
        served = page.get("served")
        if isinstance(served, list):  # a platform from before `served` asks for every name
            for document in page["entries"]:
                if document.get("verdict") != feedformat.SERVE:
                    self.answered.update(feedformat.names_of(document))
            withdrawn = page.get("withdrawn")
            if isinstance(withdrawn, list):
                self.answered.update(name for name in withdrawn if isinstance(name, str))
            self.known = {name for name in served if isinstance(name, str)}
        self.served: set[str] = set()

    def served_now(self, names: Iterable[str]) -> set[str]:
        names = list(names)
        found = {name for name in names if name in self.answered and name in self.known}
        rest = [name for name in names if name not in self.answered]
        if rest:
            found |= self.client.served_now(rest, self.version)
        self.served |= found
        return found


class _Recorded:
    """The same question answered from the journal: the same index and the same page ask it again."""

    def __init__(self, served: Iterable[str]) -> None:
        self.served = set(served)

    def served_now(self, names: Iterable[str]) -> set[str]:
        return {name for name in names if name in self.served}


def _lines(path: Path) -> Iterator[bytes]:
    with gzip.open(path, "rb") as raw:
        yield from raw


def load_snapshot(path: Path) -> Index:
    """An index from a snapshot file; FeedError (or OSError) if it is not a whole snapshot."""
    index = Index()
    try:
        index.load(SnapshotReader(_lines(path)))
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise FeedError(f"the snapshot {path} is damaged: {exc}") from exc
    return index


class Follower:
    """Keeps an index in step with the platform's feed, from a thread of the decision server or of
    an edge agent. `on_index` is called with each index that replaces the last (after a fresh
    snapshot); `on_served` with what each page of changes did to the served set (an edge that
    keeps a copy of it, as HAProxy's map, applies just that), before `on_change`."""

    def __init__(
        self,
        url: str,
        token: str,
        state: Path,
        *,
        on_index: Callable[[Index], None],
        on_change: Callable[[], None] | None = None,
        on_served: Callable[[Applied], None] | None = None,
        transport: httpx.BaseTransport | None = None,
        wait: int = WAIT,
        journal_max: int = JOURNAL_MAX,
        stale_seconds: float = STALE_SECONDS,
        retry_max: float = RETRY_MAX,
        streaming: bool = True,
    ) -> None:
        self.url = url
        self.client = FeedClient(url, token, transport=transport)
        self.state = Path(state)
        self.on_index = on_index
        self.on_change = on_change  # after each page that changed something, and each new index
        self.on_served = on_served  # after each page that changed the served set
        self.wait = wait
        self.streaming = streaming  # the changes as one stream of pages a request, not a request a page
        self.journal_max = journal_max
        self.stale_seconds = stale_seconds
        self.retry_max = retry_max
        self.index = Index()
        self.journaled = 0  # websites in the journal
        self.confirmed_at: float | None = None  # when the platform last confirmed the data (time.time())
        self.contacted = False  # whether this process has heard from the platform yet
        self.failing_since: float | None = None
        self.last_error = ""
        self.snapshot_needed = False
        self._more = False
        self._asking: tuple[float, int] | None = None  # (since, wait) of the stream or long poll under way
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ---------------------------------------------------------------- the state directory

    @property
    def snapshot_path(self) -> Path:
        return self.state / SNAPSHOT

    @property
    def journal_path(self) -> Path:
        return self.state / JOURNAL

    def restore(self) -> bool:
        """The index from the state directory (the snapshot, then the journal replayed); False if
        there is none to start from. A journal cut off by a crash is kept up to its last whole line."""
        self.state.mkdir(parents=True, exist_ok=True)
        if not self.snapshot_path.exists():
            return False
        try:
            index = load_snapshot(self.snapshot_path)
        except (FeedError, OSError) as exc:
            log.error("edge: the snapshot on disk cannot be used (%s); taking a fresh one", exc)
            return False
        whole, journaled = 0, 0
        if self.journal_path.exists():
            with self.journal_path.open("rb") as journal:
                for raw in journal:
                    try:
                        page = json.loads(raw) if raw.endswith(b"\n") else None
                        websites, domains = feedformat.websites(page["entries"], page["version"])
                    except (ValueError, KeyError, TypeError):
                        break
                    if page["version"] > index.version:
                        index.apply(websites, domains, _Recorded(page.get("served", ())), version=page["version"])
                    whole += len(raw)
                    journaled += len(websites)
            if whole != self.journal_path.stat().st_size:
                with self.journal_path.open("r+b") as journal:
                    journal.truncate(whole)
        self.journaled = journaled
        self.confirmed_at = max(p.stat().st_mtime for p in (self.snapshot_path, self.journal_path) if p.exists())
        self._use(index)
        log.info("edge: answering from disk at version %d (%d served domains)", index.version, index.served_count())
        return True

    def take_snapshot(self) -> None:
        """A fresh snapshot from the platform: downloaded beside the old one, loaded (which checks
        it whole), then renamed over it, with a new empty journal. Until then the old index answers."""
        handle, temp_name = tempfile.mkstemp(prefix=".snapshot.", suffix=".tmp", dir=self.state)
        os.close(handle)
        temp = Path(temp_name)
        try:
            self.client.snapshot_to(temp)
            index = load_snapshot(temp)
            _fsync(temp)
            os.replace(temp, self.snapshot_path)
            _write_atomically(self.journal_path, b"")
            _fsync_dir(self.state)
        finally:
            temp.unlink(missing_ok=True)
        self.journaled = 0
        self.snapshot_needed = False
        self._use(index)
        log.info("edge: fresh snapshot at version %d (%d served domains)", index.version, index.served_count())

    def _use(self, index: Index) -> None:
        # Out of the cycle collector's way, as the database mode's first load (server._for_good):
        # a full collection would walk the whole index while no decision is answered. An index
        # replaced later is freed by reference counting all the same (it holds no cycles).
        gc.freeze()
        self.index = index
        self.on_index(index)
        if self.on_change is not None:
            self.on_change()

    def _journal(self, page: dict, served: set[str]) -> None:
        record = {"version": page["version"], "entries": page["entries"], "served": sorted(served)}
        with self.journal_path.open("ab") as journal:
            journal.write(json.dumps(record, separators=(",", ":")).encode() + b"\n")
            journal.flush()
            os.fsync(journal.fileno())
        self.journaled += len(page["entries"])
        if self.journaled > self.journal_max:
            self.snapshot_needed = True

    # ---------------------------------------------------------------- following

    def step(self) -> int:
        """One exchange with the platform: a snapshot if one is needed, else the changes after the
        edge's version: the pages the platform streams for up to `wait` seconds (or, not
        `streaming`, one page, waited for if there is none). Returns how many websites were applied;
        raises what went wrong (the caller keeps answering and tries again), the pages applied
        before it standing."""
        if self.snapshot_needed or not self.index.loaded:
            self.take_snapshot()
            self._answered()
            return 0
        wait = 0 if self._more else self.wait
        self._asking = (time.time(), wait)
        applied = 0
        try:
            if self.streaming:
                # One request for every page of the next `wait` seconds, each applied as it comes.
                for page in self.client.follow(self.index.version, wait):
                    applied += self._take(page)
                    if self.snapshot_needed or self._stop.is_set():
                        break
            else:
                applied = self._take(self.client.changes(self.index.version, wait))
        except SnapshotNeeded as exc:
            log.warning("edge: the platform asks for a fresh snapshot (%s)", exc)
            self.snapshot_needed = True
        finally:
            self._asking = None
        return applied

    def _take(self, page: dict) -> int:
        """One page of changes: applied, journaled, told. Returns how many websites it applied."""
        websites, domains = feedformat.websites(page["entries"], page["version"])
        asking = _Asking(self.client, page)
        done = self.index.apply(websites, domains, asking, version=page["version"])
        applied = done.websites
        if websites and not self.snapshot_needed:
            try:
                self._journal(page, asking.served)
            except OSError:
                # Answered from memory all the same. A journal missing this page must not go on with
                # the next ones (a restart would skip its changes for good): the next exchange takes
                # a fresh snapshot, which starts a new journal, and nothing is journaled till then.
                log.exception("edge: the journal cannot be written; taking a fresh snapshot")
                self.snapshot_needed = True
        self._more = bool(page.get("more"))
        self._answered()
        if (done.began or done.ended) and self.on_served is not None:
            self.on_served(done)
        if applied and self.on_change is not None:
            self.on_change()
        return applied

    def _run(self) -> None:
        pause = RETRY_MIN
        while not self._stop.is_set():
            try:
                self.step()
            except Exception as exc:
                self._failed(exc)
                if self._stop.wait(pause):
                    return
                pause = min(pause * 2, self.retry_max)
                continue
            pause = RETRY_MIN

    def _answered(self) -> None:
        """The platform answered: its data is confirmed, and it is reachable again if it was not
        (said at the page that shows it, not at the end of the stream that carried it)."""
        self.confirmed_at = time.time()
        self.contacted = True
        if self.failing_since is not None:
            log.warning("edge: the platform answers again after %.1f s", time.time() - self.failing_since)
            self.failing_since = None
            self.last_error = ""

    def _failed(self, exc: Exception) -> None:
        first = self.failing_since is None
        if first:
            self.failing_since = time.time()
        self.last_error = f"{type(exc).__name__}: {exc}"[:500]
        if first:
            log.error(
                "edge: cannot follow the platform (%s); answering from version %d", self.last_error, self.index.version
            )

    def begin(self) -> None:
        """Answer from disk if there is a state, else take a first snapshot (if the platform
        answers: otherwise every Host is refused until it does, and the thread keeps trying)."""
        if not self.restore():
            try:
                self.take_snapshot()
                self.confirmed_at = time.time()
                self.contacted = True
            except Exception as exc:
                self._failed(exc)

    def start(self) -> None:
        """`begin`, then follow from a thread."""
        self.begin()
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="beian-edge-follower", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 1.0) -> None:
        # Not waiting out a long poll: the thread dies with the process, and whatever it was
        # writing is safe to lose (a journal's cut-off line is dropped at the next start, a
        # snapshot is renamed into place only once whole).
        self._stop.set()
        self.client.close()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def status(self) -> dict:
        now = time.time()
        age = round(now - self.confirmed_at, 3) if self.confirmed_at is not None else None
        asking = self._asking
        if age is not None and asking is not None and self.failing_since is None:
            # In a stream or long poll the platform pushes any change at once: the data is current as
            # long as it is within its time (after that, a platform that went silent is ageing it).
            since, wait = asking
            age = round(max(0.0, min(age, now - since - wait - 5.0)), 3)
        return {
            "mode": "follow",
            "feed": self.url,
            "platform_reachable": self.contacted and self.failing_since is None,
            "platform_failing_seconds": round(now - self.failing_since, 1) if self.failing_since else None,
            "data_age_seconds": age,
            "stale": age is None or age > self.stale_seconds,
            "journal_websites": self.journaled,
            "last_error": self.last_error,
        }


def _fsync(path: Path) -> None:
    with path.open("rb") as handle:
        os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomically(path: Path, data: bytes) -> None:
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
