"""`python -m bench [--domains N] [--seconds S]`: the enforcement decision, measured by hand.

Builds an index of N synthetic served domains (no database: an in-memory mirror fed in chunks,
so the only memory left is the index's), then reports the resident memory per served domain and
the decisions per second on this one core (CPU time, so a busy machine distorts it less) for a
mix of Host values: the domain itself, `www.` in front, a two-label prefix, upper case with a
port, and unfiled names.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import time

from beian.enforcement.index import FILED, Index, Website


def _rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def name_of(i: int) -> str:
    return f"site{i}.com.cn" if i % 2 else f"example-{i}.cn"


class SyntheticMirror:
    def __init__(self, domains: int, chunk: int = 5000):  # as OrmMirror reads the database
        self.domains, self.chunk = domains, chunk

    def max_version(self) -> int:
        return self.domains

    def all_websites(self):
        for start in range(1, self.domains + 1, self.chunk):
            ids = range(start, min(start + self.chunk, self.domains + 1))
            yield [Website(i, i, "active", "active") for i in ids], {i: [name_of(i)] for i in ids}

    def changed(self, after, limit):
        return [], {}

    def served_now(self, names):
        return set(names)


KINDS = {
    "domain": lambda name, rnd: name,
    "www.domain": lambda name, rnd: f"www.{name}",
    "a.b.domain": lambda name, rnd: f"static.img.{name}",
    "UPPER:port": lambda name, rnd: f"WWW.{name.upper()}:443",
    "unfiled": lambda name, rnd: f"www.unfiled{rnd.randrange(10**9)}.cn",
}
MIX = {"domain": 0.35, "www.domain": 0.45, "a.b.domain": 0.1, "UPPER:port": 0.02, "unfiled": 0.08}


def hosts_of(kind: str, domains: int, count: int, seed: int = 7) -> list[bytes]:
    rnd = random.Random(seed)
    make = KINDS[kind]
    return [make(name_of(rnd.randrange(1, domains + 1)), rnd).encode() for _ in range(count)]


def hosts_mix(domains: int, count: int) -> list[bytes]:
    rnd = random.Random(11)
    mixed = [h for kind, share in MIX.items() for h in hosts_of(kind, domains, int(count * share))]
    rnd.shuffle(mixed)
    return mixed


def rate(reason, hosts: list[bytes], seconds: float) -> float:
    """Decisions per second of CPU time, best of several rounds."""
    best, spent = 0.0, 0.0
    while spent < seconds:
        start = time.process_time()
        for host in hosts:
            reason(host)
        took = time.process_time() - start
        spent += took
        best = max(best, len(hosts) / took)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--domains", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()

    gc.collect()
    before = _rss()
    began = time.perf_counter()
    index = Index()
    index.load(SyntheticMirror(args.domains))
    built = time.perf_counter() - began
    gc.collect()
    per_domain = (_rss() - before) / args.domains
    print(f"index: {index.served_count():,} served domains in {built:.1f} s, {per_domain:.0f} bytes/domain (RSS)")

    for kind in KINDS:
        print(f"  {kind:<12} {rate(index.reason, hosts_of(kind, args.domains, 100_000), args.seconds / 6):>12,.0f}/s")
    mix = hosts_mix(args.domains, 200_000)
    served = sum(index.reason(h) == FILED for h in mix) / len(mix)
    print(f"decisions: {rate(index.reason, mix, args.seconds):,.0f}/s on one core for the mix ({served:.0%} served)")


if __name__ == "__main__":
    main()
