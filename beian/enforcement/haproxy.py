"""HAProxy as an edge that needs no reload: its maps of the served domains kept in step with the
platform's served-set feed through HAProxy's runtime API (`python -m beian edge_agent --follow URL
--state DIR --haproxy-map PATH --haproxy-socket SOCK`; the configuration is in docs/enforcement.md
and deploy/haproxy/beian-edge.cfg).

The same agent as nginx's (beian.enforcement.agent): the same Follower follows the feed, and the
map file HAProxy loads at start is written by the same MapKeeper, atomically, in HAProxy's format.
What differs is how a change lands. nginx rebuilds its whole map on a reload; HAProxy changes its
live maps over its stats socket (`level admin`), so each page of changes is applied as it comes.

HAProxy 2.6 finds an entry to delete or to set by walking the whole list of the map's entries
(`del map` and `set map`: O(n), a strcmp each), while `add map` appends (and indexes the entry in
the map's tree). So nothing is ever deleted from the big map at run time. Two maps:

- the served map (beian-served.map): the served names as the agent last made it whole, and every
  name that began to be served since, appended;
- the ended map (beian-ended.map): the names that ended since it was made whole (a short list,
  whose entries are cheap to delete).

A name is served iff it is in the served map and not in the ended map; the configuration asks the
ended map only for a suffix the served map holds. A name that ends is added to the ended map; one
that begins is added to the served map, and deleted from the ended map if it is there. The served
map holds every served name at all times, and the ended map every name of the served map that is
not served, so the two answer as the index does (applying a change twice answers the same: a
name appended twice is found all the same, a delete removes every entry of a name).

Compaction: when the changes since the served map was made whole pass `compact_after`, the agent
makes it whole again without stopping: `prepare map` (a new, empty version), `add map @version`
for every served name in chunks of `chunk` (the changes that come meanwhile applied between two
chunks, and the names that begin added to the new version too), `commit map` (HAProxy swaps the
versions at once and frees the old entries a hundred at a time), and then the ended map replaced,
the same way, by the names that ended since the rebuild began. The same rebuild makes the maps
whole after a fresh snapshot, and when another HAProxy process answers on the socket (a restart,
which loaded whatever files were there) that did not load the very version the agent holds (the
served file's `-version` entry says which it is; the ended file on disk is always empty, the
served file being whole). Until the commit HAProxy answers from the maps it has. While HAProxy
cannot be reached the agent keeps the changes owed and tries again every `retry` seconds; while
the platform cannot be reached the Follower keeps its index and HAProxy its maps (fail-static).
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from beian.enforcement import nginx
from beian.enforcement.agent import MapKeeper
from beian.enforcement.index import Applied, Index

log = logging.getLogger("beian.enforcement")

HEADER = "# beian: the domains served here, for an HAProxy map (written by edge_agent; do not edit)\n"
ENDED_HEADER = "# beian: the domains that ended since the served map was made whole (kept by edge_agent)\n"
ENDED_FILE = "beian-ended.map"  # the ended map's file, beside the served map's unless named
# The version of the feed the file holds, as an entry no Host is looked up under (a label that begins
# with a hyphen is no host name: the configuration refuses it before it looks at the map).
VERSION_KEY = "-version"
PIPELINE = 1000  # commands sent before their answers are read: well inside the socket's buffers
PROMPT = b"\n> "
# HAProxy answers `commit map` once it has freed the old version's entries, a hundred at a time
# between the requests it serves: a minute or more at millions of names on a busy machine.
COMMIT_TIMEOUT = 900.0
NOT_FOUND = ("entry not found.", "key not found.")
# Changes applied since the served map was made whole before it is made whole again: each adds an
# entry to one map or the other (HAProxy's memory, and the ended map's length, which its deletes
# walk); a rebuild costs HAProxy about a look-up's worth of CPU for every served name.
COMPACT_AFTER = 100_000
CHUNK = 20_000  # names added to the new version between two rounds of changes
FILE_CHUNK = 1 << 20  # bytes of the map file made at a time


def map_body(names: Iterable[str], version: int) -> Iterator[str]:
    """The map file: one served domain a line, looked up by its registrable-domain suffixes."""
    yield HEADER
    yield f"{VERSION_KEY} {version}\n"
    for name in names:
        yield f"{name} 1\n"


def file_body(index: Index, version: int) -> Iterator[bytes]:
    """The map file of the index, as map_body writes it, made from the served names packed in one
    bytes object, FILE_CHUNK bytes at a time: no Python object a name, and no step that holds the
    GIL for long, which the agent's threads that take and apply the changes wait for."""
    yield HEADER.encode()
    yield f"{VERSION_KEY} {version}\n".encode()
    joined = index.served_joined()
    start = 0
    while start < len(joined):
        end = joined.find(b"\n", start + FILE_CHUNK)
        end = len(joined) if end < 0 else end + 1
        yield joined[start:end].replace(b"\n", b" 1\n")
        start = end


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

    def run(self, commands: Sequence[str], *, timeout: float | None = None) -> list[str]:
        """The answers to `commands`, in order ("" for a command that succeeded silently); each
        answer waited for up to `timeout` seconds (None: the connection's)."""
        answers: list[str] = []
        default = self.sock.gettimeout()
        if timeout is not None:
            self.sock.settimeout(timeout)
        try:
            for start in range(0, len(commands), PIPELINE):
                chunk = commands[start : start + PIPELINE]
                self.sock.sendall("".join(f"{command}\n" for command in chunk).encode())
                answers.extend(self._answer() for _ in chunk)
        finally:
            self.sock.settimeout(default)
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


@dataclass
class Rebuild:
    """The served map being made whole in HAProxy: its new version, the served names as the index
    held them when it began, and the round of the ended map's entries it makes useless at its
    commit. The names stay packed (Index.served_joined) and are split a chunk at a time: a list of
    millions of strings would cost hundreds of megabytes, and the split holds the GIL for a second."""

    version: str
    joined: bytes  # a newline after each name
    index_version: int
    round: int
    at: int = 0  # how much of `joined` was added
    done: int = 0  # names added
    committing: bool = False  # the commit was sent (HAProxy may have made it, answer or not)

    def take(self, count: int) -> list[str]:
        """The next `count` names (fewer at the end)."""
        end = self.at
        for _ in range(count):
            newline = self.joined.find(b"\n", end)
            if newline < 0:
                break
            end = newline + 1
        names = self.joined[self.at : end].decode("ascii").split("\n")
        names.pop()  # after the last newline
        self.at = end
        return names

    @property
    def taken(self) -> bool:
        return self.at >= len(self.joined)


class HaproxyMap:
    """Keeps HAProxy's live maps and the map file in step with the agent's index."""

    def __init__(
        self,
        path: Path,
        socket_path: Path,
        *,
        name: str | None = None,
        ended_path: Path | None = None,
        ended_name: str | None = None,
        file_interval: float = 60.0,
        retry: float = 0.5,
        compact_after: int = COMPACT_AFTER,
        chunk: int = CHUNK,
    ) -> None:
        self.path = Path(path)
        self.socket_path = Path(socket_path)
        self.name = name or str(path)  # the map's name in HAProxy: its path as the configuration says it
        self.ended_path = Path(ended_path) if ended_path else self.path.with_name(ENDED_FILE)
        self.ended_name = ended_name or str(self.ended_path)
        # HAProxy builds a tree of the file whatever its order: no sort, which would hold the GIL
        # for seconds at millions of names while changes wait to be applied.
        self.file = MapKeeper(self.path, reload=None, min_interval=file_interval, body=file_body)
        self.retry = retry
        self.compact_after = compact_after
        self.chunk = chunk
        self.index: Index | None = None
        self.process: tuple[str, str] | None = None  # the HAProxy whose maps the agent keeps
        self.resyncs = 0  # times the served map was committed whole
        self.applied = 0  # names added or ended one by one
        self.last_error = ""
        self._pending: dict[str, bool] = {}  # name → served: the latest word on each name owed to HAProxy
        self._whole = False  # whether HAProxy's maps are whole as of the index (else a rebuild is owed)
        self._ended: dict[str, int] = {}  # the ended map as HAProxy holds it: name → the round it came in
        self._round = 0  # bumped when a rebuild begins
        self._since_whole = 0  # changes applied since the served map was last made whole
        self._rebuild: Rebuild | None = None
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ---------------------------------------------------------------- from the Follower

    def use(self, index: Index) -> None:
        """A new index (the first, or a fresh snapshot): HAProxy's maps are made whole from it."""
        with self._lock:
            self.index = index
            # Words of the index it replaces: the rebuild from this one covers them, and one of
            # them applied after it could contradict it.
            self._pending.clear()
            self._whole = False
        self._write_ended_file()
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

    def compact(self) -> None:
        """Make the served map whole again from the index at the next pass, however few changes
        came since the last time."""
        with self._lock:
            self._whole = False
        self._wake.set()

    def _write_ended_file(self) -> None:
        # What HAProxy loads when it starts: empty, the served file being whole as of its version.
        nginx.write_atomically(self.ended_path, [ENDED_HEADER])  # left alone if it is so already

    # ---------------------------------------------------------------- to HAProxy

    def sync(self, *, chunks: int | None = None) -> int:
        """One pass: apply the changes owed, and make the maps whole (a fresh index, another HAProxy
        process, or enough changes since the last time), applying the changes that come meanwhile
        between two chunks; stop after `chunks` chunks of a rebuild (None: when it is done). Returns
        the names applied; raises OSError or HaproxyError if HAProxy could not take them (they stay
        owed, and a rebuild begun goes on from where it was)."""
        if self.index is None or not self.index.loaded:
            return 0
        runtime = Runtime(self.socket_path)
        try:
            process = runtime.process()
            if process != self.process:
                # Another HAProxy: it loaded the files on disk, the ended one empty.
                self._rebuild = None
                self._ended.clear()
                self._since_whole = 0
                loaded = self._loaded(runtime)
                with self._lock:
                    self._whole = loaded == self.index.version
                if self._whole:
                    log.info("edge agent: HAProxy loaded the map of version %d", loaded)
                self.process = process
            if self._rebuild is not None and not self._whole:
                self._rebuild = None  # a fresh index came meanwhile: rebuilt from it instead
            applied = self._apply_owed(runtime)
            rounds = 0
            while chunks is None or rounds < chunks:
                if self._rebuild is None and (not self._whole or self._since_whole >= self.compact_after):
                    self._begin_rebuild(runtime)
                if self._rebuild is None:
                    break
                self._rebuild_chunk(runtime)
                rounds += 1
                applied += self._apply_owed(runtime)
            return applied
        finally:
            runtime.close()

    def _loaded(self, runtime: Runtime) -> int | None:
        """The version of the file HAProxy loaded, from its `-version` entry."""
        answer = runtime.run([f"get map {self.name} {VERSION_KEY}"])[0]
        value = answer.rpartition('value="')[2].partition('"')[0]
        return int(value) if "found=yes" in answer and value.isdigit() else None

    def _begin_rebuild(self, runtime: Runtime) -> None:
        with self._lock:
            index = self.index
            self._whole = True  # a fresh index coming meanwhile sets it back
        assert index is not None
        answer = runtime.run([f"prepare map {self.name}"])[0]
        if not answer.startswith("New version created:"):
            raise HaproxyError(f"prepare map {self.name}: {answer}")
        self._round += 1
        # The changes owed now are applied after this read, to both versions: none is lost.
        self._rebuild = Rebuild(answer.rsplit(":", 1)[1].strip(), index.served_joined(), index.version, self._round)
        self._since_whole = 0

    def _rebuild_chunk(self, runtime: Runtime) -> None:
        rebuild = self._rebuild
        assert rebuild is not None
        at = f"add map @{rebuild.version} {self.name}"
        if rebuild.done == 0:
            self._check(runtime.run([f"{at} {VERSION_KEY} {rebuild.index_version}"]))
        names = rebuild.take(self.chunk)
        self._check(runtime.run([f"{at} {_quoted(n)} 1" for n in names]))
        rebuild.done += len(names)
        if not rebuild.taken:
            return
        sent_before, rebuild.committing = rebuild.committing, True
        answer = runtime.run([f"commit map @{rebuild.version} {self.name}"], timeout=COMMIT_TIMEOUT)[0]
        # Out of range after a commit sent before (its answer lost with the connection): committed.
        if answer and not (sent_before and "out of range" in answer.lower()):
            raise HaproxyError(f"commit map @{rebuild.version} {self.name}: {answer}"[:300])
        # The ended map's entries from before the rebuild began name no entry of the new version
        # (they were not served when it was read, nor since): it is replaced by the rest.
        kept = {n: r for n, r in self._ended.items() if r >= rebuild.round}
        answer = runtime.run([f"prepare map {self.ended_name}"])[0]
        if not answer.startswith("New version created:"):
            raise HaproxyError(f"prepare map {self.ended_name}: {answer}")
        version = answer.rsplit(":", 1)[1].strip()
        commands = [f"add map @{version} {self.ended_name} {_quoted(n)} 0" for n in kept]
        self._check(runtime.run([*commands, f"commit map @{version} {self.ended_name}"], timeout=COMMIT_TIMEOUT))
        self._ended = kept
        self._rebuild = None
        self.resyncs += 1
        log.info(
            "edge agent: HAProxy's map %s made whole: %d domain(s), version %d; %d ended since",
            self.name,
            rebuild.done,
            rebuild.index_version,
            len(kept),
        )

    def _apply_owed(self, runtime: Runtime) -> int:
        with self._lock:
            owed, self._pending = self._pending, {}
        if not owed:
            return 0
        try:
            self._apply(runtime, owed)
        except BaseException:
            with self._lock:  # back in front of anything newer that came meanwhile
                self._pending = {**owed, **self._pending}
            raise
        return len(owed)

    def _apply(self, runtime: Runtime, owed: dict[str, bool]) -> None:
        commands: list[str] = []
        ended: dict[str, int] = {}
        unended: list[str] = []
        for name, served in owed.items():
            quoted = _quoted(name)
            if served:
                commands.append(f"add map {self.name} {quoted} 1")
                if self._rebuild is not None:  # the new version must hold it too
                    commands.append(f"add map @{self._rebuild.version} {self.name} {quoted} 1")
                if name in self._ended:
                    commands.append(f"del map {self.ended_name} {quoted}")
                    unended.append(name)
            else:
                if name not in self._ended:
                    commands.append(f"add map {self.ended_name} {quoted} 0")
                # Of this round even if it is there already: a rebuild under way may have read it
                # served, and its entry must outlive the commit.
                ended[name] = self._round
        for command, answer in zip(commands, runtime.run(commands), strict=True):
            if answer and answer.lower() not in NOT_FOUND:
                raise HaproxyError(f"{command}: {answer}"[:300])
        for name in unended:
            del self._ended[name]
        self._ended.update(ended)
        self._since_whole += len(owed)
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
                # One chunk of a rebuild a pass, so that the changes owed wait at most a chunk.
                self.sync(chunks=1)
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
                if self._rebuild is not None:
                    self._wake.set()

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
