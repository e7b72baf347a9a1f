"""`python -m bench haproxy-runtime [--domains N] [--rate R] [--seconds T] [--chunk C]`: HAProxy's side of
a change at scale, measured by hand (figures in docs/enforcement.md, "HAProxy: a live map").

What bench/fleet.py measures end to end (the platform, the feed, the agent's follower, HAProxy) at
the fleet's size, this measures at N served domains (default 1 million; 5 million needs about
8 GB) without the platform: the agent's index is built in this process from an in-memory mirror
(as `python -m bench` builds it), the changes are applied to it as the follower applies a page
(`Index.apply`), and what each change did to the served set is handed to the agent's HAProxy map
keeper (beian.enforcement.haproxy.HaproxyMap, its own thread, as in `edge_agent`). HAProxy is
deploy/haproxy/beian-edge.cfg answering itself (bench/fleet.py's configuration), one thread,
pinned to one core.

- change → decision: R changes a second (default 100) for T seconds (default 30), half of them a
  website's access cancelled, half one cancelled before restored; one change in four is asked of
  HAProxy (its Host, over a keep-alive connection) until the answer is the new one, from the
  moment the change was applied to the index. Baseline, same run, same HAProxy and flow: the
  previous agent's way, `add map` and `del map` on the one map of the served names.
- a compaction: the served map made whole again (prepare, `add map @version` in chunks of C,
  commit, the ended map replaced) while changes keep flowing and a client asks HAProxy for
  decisions back to back: how long it took, HAProxy's CPU, and the decision latency (p99, max)
  during it against the same client's just before (baseline), and whether any answer was wrong.

`--trimming-baseline` runs the agent's way twice, first with HAProxy's memory trimming on (the
configuration without `no-memory-trimming`, as before), to compare the compactions.

The machine may be shared: the load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from beian.core.catalogue import AccessEnded
from beian.enforcement.haproxy import HaproxyMap, Runtime, map_body
from beian.enforcement.index import Applied, Index, Website
from beian.enforcement.nginx import write_atomically
from bench import edge as edge_bench
from bench import edge_scale as mirror
from bench import fleet

SAMPLE = 4  # one change in this many is asked of HAProxy
DEADLINE = 20.0  # seconds a change may take before it is counted as not seen


class Mirror:
    """The provider's mirror in memory: website i serves mirror.ascii_name(i), unless cancelled."""

    def __init__(self, websites: int):
        self.websites = websites
        self.cancelled: set[str] = set()

    def max_version(self) -> int:
        return 1

    def served(self):
        return ((i, mirror.ascii_name(i)) for i in range(1, self.websites + 1))

    def not_served(self):
        return iter(())

    def changed(self, after, limit):
        return [], {}

    def served_now(self, names):
        return {n for n in names if n not in self.cancelled}


class Deleting:
    """The previous agent's way, the baseline: `add map` for a name that began, `del map` for one
    that ended, on the one map, from its own thread."""

    def __init__(self, name: str, socket_path: Path):
        self.name, self.socket_path = name, socket_path
        self._pending: dict[str, bool] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-deleting", daemon=True)

    def served(self, applied: Applied) -> None:
        with self._lock:
            self._pending.update(dict.fromkeys(applied.ended, False))
            self._pending.update(dict.fromkeys(applied.began, True))
        self._wake.set()

    def _run(self) -> None:
        with Runtime(self.socket_path, timeout=600) as runtime:
            while not self._stop.is_set():
                self._wake.wait(1.0)
                self._wake.clear()
                with self._lock:
                    owed, self._pending = self._pending, {}
                commands = [f"add map {self.name} {n} 1" if s else f"del map {self.name} {n}" for n, s in owed.items()]
                runtime.run(commands)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(5)  # a backlog of deletes ends with HAProxy, stopped next


@dataclass
class Change:
    host: str
    served: bool
    applied: float
    seen: float | None = None
    superseded: bool = False  # changed again before it was seen: not counted


@dataclass
class Flow:
    """Changes applied to the index at a steady rate, handed to a keeper; a share of them asked."""

    index: Index
    mirror: Mirror
    keeper: HaproxyMap | Deleting
    port: int
    rnd: random.Random = field(default_factory=lambda: random.Random(11))
    version: int = 1
    changes: list[Change] = field(default_factory=list)
    frozen: set[str] = field(default_factory=set)  # names no change touches any more
    asked: dict[str, Change] = field(default_factory=dict)  # the last change asked of each name

    def one(self, asked: bool) -> None:
        cancelled = sorted(self.mirror.cancelled - self.frozen) if len(self.mirror.cancelled) > 50 else []
        if cancelled and self.rnd.random() < 0.5:  # restore one cancelled before
            name = self.rnd.choice(cancelled)
            self.mirror.cancelled.discard(name)
            state = ("active", "active", "")
        else:
            while True:
                i = self.rnd.randrange(1, self.mirror.websites + 1)
                name = mirror.ascii_name(i)
                if name not in self.mirror.cancelled and name not in self.frozen:
                    break
            self.mirror.cancelled.add(name)
            state = ("active", "ended", AccessEnded.CANCELLED)
        website = int(name.removeprefix("site").removeprefix("example-").split(".")[0])
        self.version += 1
        applied = self.index.apply(
            [Website(website, self.version, *state[:2], access_ended_reason=state[2])],
            {website: [name]},
            self.mirror,
            version=self.version,
        )
        self.keeper.served(applied)
        if (last := self.asked.get(name)) is not None and last.seen is None:
            last.superseded = True
        if asked:
            self.asked[name] = change = Change(f"www.{name}", state[1] == "active", time.perf_counter())
            self.changes.append(change)

    def run(self, rate: float, seconds: float) -> float:
        stop = threading.Event()
        asker = threading.Thread(target=self._ask, args=(stop,), name="bench-asker")
        asker.start()
        began = time.perf_counter()
        total = int(rate * seconds)
        try:
            for k in range(total):
                wait = began + k / rate - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
                self.one(k % SAMPLE == 0)
        finally:
            made = total / (time.perf_counter() - began)
            stop.set()
            asker.join()
        return made

    def _ask(self, stop: threading.Event) -> None:
        asker = fleet.Asker(self.port)
        while True:
            pending = [
                c
                for c in list(self.changes)
                if c.seen is None and not c.superseded and time.perf_counter() - c.applied < DEADLINE
            ]
            if stop.is_set() and not pending:
                return
            for c in pending:
                if asker.served(c.host) == c.served:
                    c.seen = time.perf_counter()
            time.sleep(0.002)


class Haproxy:
    def __init__(self, tmp: Path, binary: str, *, trimming: bool = False):
        self.tmp, self.binary = tmp, binary
        self.port, self.bare = edge_bench.free_port(), edge_bench.free_port()
        self.map, self.sock = tmp / "beian-served.map", tmp / "admin.sock"
        config = fleet.haproxy_config(port=self.port, bare_port=self.bare, map_path=self.map, sock=self.sock)
        if trimming:  # the baseline of --trimming-baseline: HAProxy's malloc_trim after a commit, as before
            if "    no-memory-trimming\n" not in config:
                raise SystemExit("deploy/haproxy/beian-edge.cfg no longer has no-memory-trimming: update this bench")
            config = config.replace("    no-memory-trimming\n", "")
        (tmp / "haproxy.cfg").write_text(config)
        self.proc: subprocess.Popen | None = None

    def start(self, probe: str) -> None:
        log = (self.tmp / "haproxy.log").open("w")
        self.proc = subprocess.Popen([self.binary, "-db", "-f", str(self.tmp / "haproxy.cfg")], stdout=log, stderr=log)
        deadline = time.monotonic() + 900
        while not fleet.Asker(self.port).served(probe):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"HAProxy did not come up:\n{(self.tmp / 'haproxy.log').read_text()}")
            time.sleep(0.2)
        fleet.pin(self.proc.pid, {1} if (os.cpu_count() or 1) > 1 else {0})

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(60)


def delays(changes: list[Change]) -> tuple[list[float], int]:
    seen = sorted(c.seen - c.applied for c in changes if c.seen is not None)
    return seen, sum(1 for c in changes if c.seen is None and not c.superseded)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms" if seconds >= 0.01 else f"{seconds * 1000:.1f} ms"


def summary(values: list[float]) -> str:
    if not values:
        return "none seen"
    p50, p99 = edge_bench.percentile(values, 0.5), edge_bench.percentile(values, 0.99)
    return f"p50 {ms(p50)}, p99 {ms(p99)}, max {ms(values[-1])}"


def decisions_while(port: int, hosts: dict[str, bool], until) -> tuple[list[float], int, int]:
    """Decisions asked back to back over one keep-alive connection until `until()`: their
    latencies, how many answers were wrong, and how many did not come within 5 s."""
    asker = fleet.Asker(port)
    took, wrong, unanswered = [], 0, 0
    names = list(hosts)
    k = 0
    while not until():
        host = names[k % len(names)]
        k += 1
        began = time.perf_counter()
        answer = asker.served(host)
        took.append(time.perf_counter() - began)
        if answer is None:
            unanswered += 1  # no answer within the connection's 5 s
        else:
            wrong += answer != hosts[host]
    return sorted(took), wrong, unanswered


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench haproxy-runtime")
    parser.add_argument("--domains", type=int, default=1_000_000, help="served domains (default 1 million)")
    parser.add_argument("--rate", type=float, default=100.0, help="changes a second")
    parser.add_argument("--seconds", type=float, default=30.0, help="how long changes flow, each way")
    parser.add_argument("--chunk", type=int, default=20_000, help="names added to the new version a pass")
    parser.add_argument("--no-baseline", action="store_true", help="the agent's way only")
    parser.add_argument(
        "--trimming-baseline",
        action="store_true",
        help="the agent's way twice: first with HAProxy's memory trimming on (the baseline), then as configured",
    )
    args = parser.parse_args(argv)
    binary = edge_bench.tool("haproxy", "haproxy")
    print(f"haproxy-runtime: {fleet.machine_line()}; {args.domains:,} served domains", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="beian-haproxy-runtime-"))
    try:
        names = [mirror.ascii_name(i) for i in range(1, args.domains + 1)]
        probe = f"www.{mirror.ascii_name(1)}"
        results = {}
        ways = ("ended map",) if args.no_baseline else ("del map (baseline)", "ended map")
        if args.trimming_baseline:
            ways = ("ended map, memory trimming on (baseline)", *ways)
        for way in ways:
            flow_mirror = Mirror(args.domains)
            began = time.perf_counter()
            index = Index()
            index.load(flow_mirror)
            print(f"  {way}: the agent's index of {args.domains:,} names built in {time.perf_counter() - began:.0f} s")
            haproxy = Haproxy(tmp, binary, trimming="trimming on" in way)
            write_atomically(haproxy.map, map_body(names, index.version))
            if way.startswith("ended map"):
                keeper: HaproxyMap | Deleting = HaproxyMap(
                    haproxy.map, haproxy.sock, file_interval=3600, chunk=args.chunk
                )
                keeper.use(index)
                keeper.file.write()  # as the agent does before HAProxy starts; not again unless changes come
            else:
                write_atomically(haproxy.map.with_name("beian-ended.map"), ["# empty\n"])
                keeper = Deleting(str(haproxy.map), haproxy.sock)
            began = time.perf_counter()
            haproxy.start(probe)
            up = time.perf_counter() - began
            keeper.start()
            flow = Flow(index, flow_mirror, keeper, haproxy.port)
            load = os.getloadavg()[0]
            made = flow.run(args.rate, args.seconds)
            time.sleep(1.0)
            seen, lost = delays(flow.changes)
            results[way] = (seen, lost, made, load)
            print(
                f"  {way}: HAProxy up in {up:.0f} s; {made:.0f} changes/s for {args.seconds:.0f} s,"
                f" {len(flow.changes)} asked: {summary(seen)}"
                + (f"; {lost} not seen within {DEADLINE:.0f} s" if lost else "")
                + f" (load average {load:.1f})",
                flush=True,
            )
            if isinstance(keeper, HaproxyMap):
                compaction(keeper, flow, haproxy, args, tmp, way)
            keeper.stop()
            haproxy.stop()
        new, old = results["ended map"], results.get("del map (baseline)", ([], 0, 0.0, 0.0))
        p99 = edge_bench.percentile(new[0], 0.99) if new[0] else float("nan")
        print(
            f"HAProxy change → decision at {len(names):,} domains: {summary(new[0])}"
            f" (target p99 ≤ 1 s: {'met' if p99 <= 1.0 and not new[1] else 'MISSED'});"
            f" baseline, del map on the one map: {summary(old[0])}"
            + (f", {old[1]} not seen within {DEADLINE:.0f} s" if old[1] else "")
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def wrk_round(tmp: Path, port: int, seconds: float) -> tuple[float, float, int, int]:
    """One wrk run over the Host mix, pinned to core 0 (HAProxy is on core 1): p99, max (ms),
    requests, and requests not answered within 5 s."""
    args = ["wrk", "-t1", "-c20", f"-d{seconds:g}s", "--latency", "--timeout", "5s", "-s", str(tmp / "rotate-host.lua")]
    args += [f"http://127.0.0.1:{port}/", "--", str(tmp / "hosts.txt"), "/"]
    if (os.cpu_count() or 1) > 1:
        args = ["taskset", "-c", "0", *args]
    out = subprocess.run(args, capture_output=True, text=True, timeout=seconds + 60).stdout
    latency = re.search(r"Latency\s+(\S+)\s+(\S+)\s+(\S+)", out)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    requests = re.search(r"(\d+) requests in", out)
    timeouts = re.search(r"timeout (\d+)", out)
    if not (latency and p99 and requests):
        raise SystemExit(f"wrk failed:\n{out}")
    return edge_bench._ms(p99[1]), edge_bench._ms(latency[3]), int(requests[1]), int(timeouts[1]) if timeouts else 0


def compaction(keeper: HaproxyMap, flow: Flow, haproxy: Haproxy, args, tmp: Path, way: str) -> None:
    """The served map made whole again while changes flow, wrk asks HAProxy for decisions (its
    latency, from a process of its own) and this process asks for answers it knows."""
    # Hosts whose answer is known and that no change below touches: names cancelled, restored,
    # never changed, and unfiled ones.
    changed = list(flow.asked)[-40:]
    hosts = {f"www.{name}": name not in flow.mirror.cancelled for name in changed}
    hosts |= {f"www.{mirror.ascii_name(i)}": mirror.ascii_name(i) not in flow.mirror.cancelled for i in range(1, 21)}
    hosts |= {f"www.unfiled{k}.cn": False for k in range(20)}
    flow.frozen |= {host.removeprefix("www.") for host in hosts}
    (tmp / "hosts.txt").write_text("\n".join(fleet.host_mix(args.domains, edge_bench.HOST_LINES)) + "\n")
    (tmp / "rotate-host.lua").write_text(edge_bench.WRK_SCRIPT)
    before = [wrk_round(tmp, haproxy.port, 2.0) for _ in range(3)]
    assert haproxy.proc is not None
    resyncs, cpu0, began = keeper.resyncs, mirror.cpu_of(haproxy.proc.pid), time.perf_counter()
    keeper.compact()
    stop = threading.Event()

    def changes() -> None:
        while not stop.is_set():
            flow.one(False)
            stop.wait(1 / args.rate)

    def done() -> bool:
        return keeper.resyncs > resyncs or time.perf_counter() - began > 1800

    wrong = [0, 0]
    slowest = [0.0]

    def answers() -> None:
        took, bad, unanswered = decisions_while(haproxy.port, hosts, lambda: stop.is_set())
        wrong[:] = [bad, unanswered]
        slowest[0] = took[-1] if took else 0.0

    threads = [threading.Thread(target=changes, name="bench-changes"), threading.Thread(target=answers)]
    for thread in threads:
        thread.start()
    during = []
    committing: list[bool] = []  # whether each wrk run saw the commit (and HAProxy's purge) under way

    def at_commit() -> bool:
        rebuild = keeper._rebuild
        return rebuild is not None and rebuild.committing

    try:
        while not done():
            before_run = at_commit()
            during.append(wrk_round(tmp, haproxy.port, 2.0))
            committing.append(before_run or at_commit() or keeper.resyncs > resyncs)
    finally:
        took, cpu = time.perf_counter() - began, mirror.cpu_of(haproxy.proc.pid) - cpu0
        stop.set()
        for thread in threads:
            thread.join()
    if not during:
        during, committing = [wrk_round(tmp, haproxy.port, 1.0)], [True]
    adding = [d[1] for d, c in zip(during, committing, strict=True) if not c]
    at_the_commit = [d[1] for d, c in zip(during, committing, strict=True) if c]
    print(
        f"  {way}: compaction of the served map ({keeper.chunk:,} names a pass), {args.rate:.0f} changes/s flowing:"
        f" {took:.1f} s, HAProxy's CPU {cpu:.1f} s; asked meanwhile: {wrong[0]} wrong answers,"
        f" {wrong[1]} not given within 5 s, the slowest answer {slowest[0] * 1000:,.0f} ms;"
        f" wrk meanwhile ({len(during)} runs of 2 s): p99 up to {max(d[0] for d in during):,.1f} ms,"
        f" max {max(d[1] for d in during):,.0f} ms, {sum(d[2] for d in during) / (2 * len(during)):,.0f} req/s,"
        f" {sum(d[3] for d in during)} not answered within 5 s"
        f" (max {max(adding, default=0):,.0f} ms in the {len(adding)} runs while names were added,"
        f" {max(at_the_commit, default=0):,.0f} ms in the {len(at_the_commit)} at the commit);"
        f" baseline, 3 runs just before: p99 up to {max(b[0] for b in before):,.1f} ms,"
        f" max {max(b[1] for b in before):,.0f} ms, {sum(b[2] for b in before) / 6:,.0f} req/s"
        f" (load average {os.getloadavg()[0]:.1f})",
        flush=True,
    )


if __name__ == "__main__":
    main()
