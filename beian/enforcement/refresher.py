"""Keeps an index in step with the mirror from a background thread of the decision server.

Each tick reads the websites changed since the last version seen (one indexed query when nothing
changed), so a change of filing or access reaches the decision within one poll interval plus the
time of that read. If the database cannot be read the index stays as it was — the decision server
keeps answering from its last picture — and the failure is logged, once when it starts, then at
most once a minute, and once more when reading works again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from beian.enforcement.index import Index, Mirror

log = logging.getLogger("beian.enforcement")
_REPEAT_LOG_SECONDS = 60.0


class Refresher:
    def __init__(
        self, index: Index, mirror: Mirror, *, interval: float, on_load: Callable[[], None] | None = None
    ) -> None:
        self.index = index
        self.mirror = mirror
        self.interval = interval
        self.on_load = on_load  # called once, after the tick that first loads the index
        self.failing_since: float | None = None
        self.last_error = ""
        self._logged_at = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self) -> bool:
        """One read of the mirror; False if it failed (the index is then left as it was)."""
        loading = not self.index.loaded
        try:
            applied = self.index.refresh(self.mirror)
        except Exception as exc:
            self._failed(exc)
            return False
        if loading and self.on_load is not None:
            self.on_load()
        if self.failing_since is not None:
            log.warning("enforcement: reading the mirror works again after %.1f s", time.time() - self.failing_since)
            self.failing_since = None
            self.last_error = ""
        if applied:
            log.debug("enforcement: %d website(s) applied, index at version %d", applied, self.index.version)
        return True

    def _failed(self, exc: Exception) -> None:
        now = time.time()
        self.last_error = f"{type(exc).__name__}: {exc}"[:500]
        if self.failing_since is None:
            self.failing_since = now
            self._logged_at = now
            log.exception(
                "enforcement: cannot read the mirror; still deciding from the index at version %d", self.index.version
            )
        elif now - self._logged_at >= _REPEAT_LOG_SECONDS:
            self._logged_at = now
            log.error("enforcement: mirror unreadable for %.0f s: %s", now - self.failing_since, self.last_error)
        close = getattr(self.mirror, "close", None)
        if close is not None:
            try:
                close()  # a broken connection is dropped so that the next tick reconnects
            except Exception:
                log.debug("enforcement: closing the broken connection failed", exc_info=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.tick()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="beian-enforcement-refresher", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
