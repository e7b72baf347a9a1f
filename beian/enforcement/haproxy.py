"""HAProxy as an edge that needs no reload: its map of the served domains kept in step with the
platform's served-set feed through HAProxy's runtime API (`python -m beian edge_agent --follow URL
--state DIR --haproxy-map PATH --haproxy-socket SOCK`; the configuration is in docs/enforcement.md
and deploy/haproxy/beian-edge.cfg).

The same agent as nginx's (beian.enforcement.agent): the same Follower follows the feed, and the
map file HAProxy loads at start is written by the same MapKeeper, atomically, in HAProxy's format.
What differs is how a change lands. nginx rebuilds its whole map on a reload; HAProxy changes one
entry of its live map over its stats socket (`level admin`), so each page of changes is applied as
it comes: `add map` for the names that began to be served, `del map` for those that ended.
Applying a change twice decides the same (a name added twice is served; a delete removes both).

When the agent takes a fresh snapshot, or finds another HAProxy process on the socket (a restart,
which loaded whatever file was there) that did not load the very version the agent holds (the
file's `-version` entry says which it is), it makes HAProxy's map whole again in one atomic step:
`prepare map` (a new, empty version), `add map @version` for every served name, `commit map`.
Until the commit HAProxy answers from the map it has. While HAProxy cannot be reached the agent
keeps the changes owed and tries again every `retry` seconds; while the platform cannot be reached
the Follower keeps its index and HAProxy its map (fail-static).
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from beian.enforcement.agent import MapKeeper
from beian.enforcement.index import Applied, Index

log = logging.getLogger("beian.enforcement")

HEADER = "# beian: the domains served here, for an HAProxy map (written by edge_agent; do not edit)\n"
# The version of the feed the file holds, as an entry no Host is looked up under (a label that begins
# with a hyphen is no host name: the configuration refuses it before it looks at the map).
VERSION_KEY = "-version"
PIPELINE = 1000  # commands sent before their answers are read: well inside the socket's buffers
PROMPT = b"\n> "
NOT_FOUND = ("entry not found.", "key not found.")


def map_body(names: Iterable[str], version: int) -> Iterator[str]:
    """The map file: one served domain a line, looked up by its registrable-domain suffixes."""
    yield HEADER
    yield f"{VERSION_KEY} {version}\n"
    for name in names:
        yield f"{name} 1\n"


class HaproxyError(Exception):
    """HAProxy's runtime API said no, or could not be reached."""


class Runtime:
    """One conversation with HAProxy's stats socket in prompt mode: commands are pipelined, each
    answer ends with the prompt."""

    def __init__(self, path: Path, *, timeout: float = 10.0) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self._buffer = b""
        try:
            self.sock.connect(str(path))
            self.sock.sendall(b"prompt\n")
            self._answer()
        except OSError:
            self.sock.close()
            raise

    def _answer(self) -> str:
        while (end := self._buffer.find(PROMPT)) < 0:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("HAProxy closed its stats socket")
            self._buffer += chunk
        answer, self._buffer = self._buffer[:end], self._buffer[end + len(PROMPT) :]
        return answer.decode("utf-8", "replace").strip()

    def run(self, commands: Sequence[str]) -> list[str]:
        """The answers to `commands`, in order ("" for a command that succeeded silently)."""
        answers: list[str] = []
        for start in range(0, len(commands), PIPELINE):
            chunk = commands[start : start + PIPELINE]
            self.sock.sendall("".join(f"{command}\n" for command in chunk).encode())
            answers.extend(self._answer() for _ in chunk)
        return answers

    def process(self) -> tuple[str, str]:
        """Which HAProxy process answers: its pid and its start time (a pid alone may come back)."""
        fields = dict(line.split(": ", 1) for line in self.run(["show info"])[0].splitlines() if ": " in line)
        return fields.get("Pid", ""), fields.get("Start_time_sec", fields.get("Uptime_sec", ""))

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _quoted(name: str) -> str:
    # A served name is a host name (letters, digits, dots, hyphens): nothing the CLI would split.
    if not name or any(c.isspace() or c in ";\\" for c in name):
        raise ValueError(f"not a host name: {name!r}")
    return name


class HaproxyMap:
    """Keeps HAProxy's live map and its map file in step with the agent's index."""

    def __init__(
        self,
        path: Path,
        socket_path: Path,
        *,
        name: str | None = None,
        file_interval: float = 60.0,
        retry: float = 0.5,
    ) -> None:
        self.path = Path(path)
        self.socket_path = Path(socket_path)
        self.name = name or str(path)  # the map's name in HAProxy: its path as the configuration says it
        # HAProxy builds a tree of the file whatever its order: no sort, which would hold the GIL
        # for seconds at millions of names while changes wait to be applied.
        self.file = MapKeeper(self.path, reload=None, min_interval=file_interval, body=map_body, ordered=False)
        self.retry = retry
        self.index: Index | None = None
        self.process: tuple[str, str] | None = None  # the HAProxy whose map was last made whole
        self.resyncs = 0  # times the whole map was committed
        self.applied = 0  # names set or deleted one by one
        self.last_error = ""
        self._pending: dict[str, bool] = {}  # name → served: the latest word on each name owed to HAProxy
        self._whole = False  # whether HAProxy's map must be made whole before changes are applied
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ---------------------------------------------------------------- from the Follower

    def use(self, index: Index) -> None:
        """A new index (the first, or a fresh snapshot): HAProxy's map is made whole from it."""
        with self._lock:
            self.index = index
            self._pending.clear()  # the whole map covers them
            self._whole = False
        self.file.use(index)
        self._wake.set()

    def served(self, applied: Applied) -> None:
        """One page's change of the served set, owed to HAProxy."""
        with self._lock:
            for name in applied.ended:
                self._pending[name] = False
            for name in applied.began:
                self._pending[name] = True
        self.file.changed()
        self._wake.set()

    # ---------------------------------------------------------------- to HAProxy

    def sync(self) -> int:
        """One pass: make the map whole if HAProxy is another process or the index is new, then
        apply the changes owed. Returns the names applied; raises OSError or HaproxyError if
        HAProxy could not take them (they stay owed)."""
        if self.index is None or not self.index.loaded:
            return 0
        runtime = Runtime(self.socket_path)
        try:
            process = runtime.process()
            if process != self.process and self._loaded(runtime) == self.index.version:
                # A HAProxy that has just loaded the file of this very version: nothing to make whole.
                with self._lock:
                    self._whole = True
                log.info("edge agent: HAProxy loaded the map of version %d", self.index.version)
            elif process != self.process or not self._whole:
                self._make_whole(runtime)
            self.process = process
            with self._lock:
                owed, self._pending = self._pending, {}
            try:
                self._apply(runtime, owed)
            except BaseException:
                with self._lock:  # back in front of anything newer that came meanwhile
                    self._pending = {**owed, **self._pending}
                raise
            return len(owed)
        finally:
            runtime.close()

    def _loaded(self, runtime: Runtime) -> int | None:
        """The version of the file HAProxy loaded, from its `-version` entry."""
        answer = runtime.run([f"get map {self.name} {VERSION_KEY}"])[0]
        value = answer.rpartition('value="')[2].partition('"')[0]
        return int(value) if "found=yes" in answer and value.isdigit() else None

    def _make_whole(self, runtime: Runtime) -> None:
        with self._lock:
            index = self.index
            self._pending.clear()  # what comes after this read is applied after the commit
            self._whole = True
        assert index is not None
        try:
            answer = runtime.run([f"prepare map {self.name}"])[0]
            if not answer.startswith("New version created:"):
                raise HaproxyError(f"prepare map {self.name}: {answer}")
            version = answer.rsplit(":", 1)[1].strip()
            names = index.served_names(ordered=False)
            commands = [f"add map @{version} {self.name} {VERSION_KEY} {index.version}"]
            commands += [f"add map @{version} {self.name} {_quoted(n)} 1" for n in names]
            self._check(runtime.run(commands))
            self._check(runtime.run([f"commit map @{version} {self.name}"]))
        except BaseException:
            with self._lock:
                self._whole = False
            raise
        self.resyncs += 1
        log.info(
            "edge agent: HAProxy's map %s made whole: %d domain(s), version %d", self.name, len(names), index.version
        )

    def _apply(self, runtime: Runtime, owed: dict[str, bool]) -> None:
        # `add map` for a name that began to be served, never `set map`: HAProxy 2.6 finds an entry
        # to set by walking the whole map, while an add is appended (docs/enforcement.md measures
        # both). A name added twice (a change applied again after a failed pass) is served all the
        # same, and `del map` removes every entry of a name; a delete walks the map too, which is
        # what bounds the rate of ended names at scale.
        commands = [
            f"add map {self.name} {_quoted(n)} 1" if served else f"del map {self.name} {_quoted(n)}"
            for n, served in owed.items()
        ]
        for command, answer in zip(commands, runtime.run(commands), strict=True):
            if answer and answer.lower() not in NOT_FOUND:
                raise HaproxyError(f"{command}: {answer}"[:300])
        self.applied += len(owed)

    @staticmethod
    def _check(answers: list[str]) -> None:
        for answer in answers:
            if answer:
                raise HaproxyError(answer[:300])

    def _run(self) -> None:
        while not self._stop.is_set():
            # Woken by a change; else once a second, to see whether HAProxy was restarted meanwhile.
            self._wake.wait(timeout=1.0)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.sync()
            except (OSError, HaproxyError, ValueError) as exc:
                if not self.last_error:
                    log.error("edge agent: HAProxy's runtime API: %s; the changes stay owed", exc)
                self.last_error = f"{type(exc).__name__}: {exc}"[:500]
                self._stop.wait(self.retry)
                self._wake.set()
            else:
                if self.last_error:
                    log.warning("edge agent: HAProxy's runtime API answers again")
                self.last_error = ""

    def start(self) -> None:
        self.file.start()
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="beian-edge-agent-haproxy", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self.file.stop(timeout)
