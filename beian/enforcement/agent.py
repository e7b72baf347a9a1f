"""The map mode following the feed: an edge agent keeps nginx's `map` of the served domains in step
with the platform's served-set feed, instead of a cron minute (`python -m beian edge_agent
--follow URL --state DIR --nginx-map PATH`; the management command is in
beian/enforcement/management/commands/edge_agent.py).

The agent follows the feed as an edge's decision server does (beian.enforcement.follower: its
state on disk, fail-static, catching up without a gap), and after a change writes the map from its
index, atomically (beian.enforcement.nginx.write_atomically: nginx never reads half a map), and
reloads nginx if the map changed. An nginx reload rebuilds the whole map, so the agent coalesces a
burst: the first change after a quiet spell is written at once, and every change that comes within
`min_interval` after a write waits for the next one, together.

The same keeper writes HAProxy's map file (`body` = beian.enforcement.haproxy.file_body, which
takes the index's version as well, no reload):
HAProxy takes each change through its runtime API instead, and reads the file only when it starts.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from beian.enforcement import nginx
from beian.enforcement.index import Index

log = logging.getLogger("beian.enforcement")


def nginx_body(index: Index, version: int) -> Iterable[str]:
    """nginx's map, sorted: an unchanged one is seen as such, and nginx not reloaded."""
    return nginx.map_body(index.served_names())


class MapKeeper:
    """Writes the map after changes, one write (and one reload) per burst."""

    def __init__(
        self,
        path: Path,
        *,
        reload: Callable[[], None] | None,
        min_interval: float = 1.0,
        body: Callable[[Index, int], Iterable[str | bytes]] | None = None,
    ) -> None:
        self.path = Path(path)
        # The file's body from the index and its version (HAProxy's: beian.enforcement.haproxy.file_body).
        self.body = body or nginx_body
        self.reload = reload
        self.min_interval = min_interval
        self.index: Index | None = None
        self.writes = 0  # maps written because they changed
        self.reloads = 0
        self.last_error = ""
        self._owed = False  # a reload that failed, owed with the next write
        self._written: tuple[Index, int] | None = None  # the index and version last written
        self._dirty = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def use(self, index: Index) -> None:
        self.index = index
        self.changed()

    def changed(self) -> None:
        self._dirty.set()

    def write(self) -> bool:
        """Write the map from the index now (and reload nginx if it changed); True if it changed."""
        index = self.index
        if index is None or not index.loaded:
            return False
        version = index.version
        if self._written == (index, version) and not self._owed and self.path.exists():
            # Nothing changed since: at millions of names a write is seconds of this process's CPU.
            return False
        lines, changed = nginx.write_atomically(self.path, self.body(index, version))
        self._written = (index, version)
        if changed:
            self.writes += 1
            log.info("edge agent: %s written, %d line(s), version %d", self.path, lines, version)
        if (changed or self._owed) and self.reload is not None:
            try:
                self.reload()
            except nginx.NotRunning as exc:
                self._owed = False
                self.last_error = ""
                log.warning("edge agent: the map was written, and not reloaded: %s", exc)
            except (OSError, nginx.ReloadError) as exc:
                self._owed = True
                self.last_error = str(exc).strip()[:500]
                log.error("edge agent: the map was written, but reloading nginx failed: %s", self.last_error)
            else:
                self._owed = False
                self.reloads += 1
                self.last_error = ""
        return changed

    def _run(self) -> None:
        while not self._stop.is_set():
            if not self._dirty.wait(timeout=1.0):
                if self._owed:
                    self.changed()
                continue
            self._dirty.clear()
            try:
                self.write()
            except OSError as exc:
                self.last_error = str(exc)[:500]
                log.exception("edge agent: the map cannot be written")
                self.changed()  # tried again after the pause
            # The pause that coalesces: changes arriving now are written together afterwards.
            self._stop.wait(self.min_interval)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="beian-edge-agent-map", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
