"""`python -m bench.name_plans --before /work/main [--count 300] [--text 京市海淀 …]`: the public query
by name, statement by statement, as the code before and after a change would run it, on one loaded
registry in one run (issue 10).

Each checkout (its own .venv) prints the statement its `query.by_name` would send for each text and
how it chose (the window, or the bigram; nothing is run there). This process runs every statement once under
`EXPLAIN (ANALYZE, BUFFERS)` with the settings each checkout's bureau connections make (JIT off, …),
and then as it is `--runs` times, its backend's CPU counted (in ticks of 10 ms: a text's own figure means something
with 20 runs, the mean over all texts with one). The two checkouts have connections of their own and
take turns, each first for every other text (what one reads, the other may find in the cache). Read
only: nothing is written to the registry. The texts are those of bench/scale.py's `samples()` (the
same seed), plus any given. Printed: execution time and buffers (hit + read: the work, whatever is
cached) at p50 / p90 / p99 / max and mean, the backend's CPU, how each checkout chose, the texts
slowest either way and those the change made read most buffers more.

Database: BEIAN_BUREAU_DATABASE_URL (and BEIAN_DATABASE_URL, which the checkouts' Django reads).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote

import psycopg

from bench.scale import ROOT, samples

CHILD = """
import json, sys
from beian.bureau import query
texts = json.loads(sys.stdin.read())
sent, sizes, out = [], [], []
real = query.fetch
def fetch(sql, params, **kwargs):
    # The bigrams' statistics are read for real (the window depends on them); the page's statement
    # is only kept, to be run by the parent.
    if "pg_stats" in sql:
        return real(sql, params, **kwargs)
    sent.append((sql, params))
    return []
query.fetch = fetch
# How the checkout chose: the window it read in id order before the index (None: the index alone),
# or, since the bigram table (migration 0015), the bigram whose entities it read.
if hasattr(query, "window"):
    chosen = query.window
    def window(pieces, want, stats):
        sizes.append(chosen(pieces, want, stats))
        return sizes[-1]
    query.window = window
else:
    chosen = query.rarest
    def rarest(pieces, stats):
        sizes.append(chosen(pieces, stats))
        return sizes[-1]
    query.rarest = rarest
for text in texts:
    sent.clear(); sizes.clear()
    query.by_name(text)
    out.append([text, sent[0][0], sent[0][1], sizes[0] if sizes else None] if sent else [text, None, None, None])
print("PLANS " + json.dumps(out))
# What the checkout's bureau connections set when they open (before it had SESSION: JIT off alone).
print("SESSION " + json.dumps(getattr(query, "SESSION", {"jit": "off"})))
"""


def statements(checkout: Path, texts: list[str]) -> tuple[list[list], dict[str, str]]:
    python = checkout / ".venv" / "bin" / "python"
    done = subprocess.run(
        [str(python), "-m", "beian", "shell", "-c", CHILD],
        cwd=checkout,
        env={**os.environ, "BEIAN_LOG_LEVEL": "WARNING"},
        input=json.dumps(texts),
        capture_output=True,
        text=True,
        check=True,
    )
    lines = done.stdout.splitlines()
    plans = next(x for x in lines if x.startswith("PLANS "))
    session = next(x for x in lines if x.startswith("SESSION "))
    return json.loads(plans[len("PLANS ") :]), json.loads(session[len("SESSION ") :])


def explain(cur, sql: str, params: list) -> tuple[float, int]:
    cur.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql, params)
    plan = cur.fetchone()[0][0]
    top = plan["Plan"]
    return plan["Execution Time"], top.get("Shared Hit Blocks", 0) + top.get("Shared Read Blocks", 0)


def _ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def way(size: int | str | list | None) -> str:
    if isinstance(size, (str, list)):
        return f"bigrams {' '.join([size] if isinstance(size, str) else size)}"
    return "index" if size is None else f"window {size:,}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, required=True, help="a checkout of the code before (with its .venv)")
    parser.add_argument("--count", type=int, default=300, help="websites drawn by samples() (its texts)")
    parser.add_argument("--text", action="append", default=[], help="a text to add (repeatable)")
    parser.add_argument("--slowest", type=int, default=12)
    parser.add_argument("--runs", type=int, default=1, help="runs of each statement whose CPU is counted")
    args = parser.parse_args()

    drawn = [unquote(p.split("name=", 1)[1]) for p in samples(dict(os.environ), args.count)["name"]]
    texts = drawn + [t for t in args.text if t not in drawn]
    made = {"before": statements(args.before, texts), "after": statements(ROOT, texts)}
    plans = {code: plan for code, (plan, _) in made.items()}
    results: dict[str, list[tuple[float, int]]] = {"before": [], "after": []}
    cpu: dict[str, list[int]] = {"before": [], "after": []}
    url = os.environ["BEIAN_BUREAU_DATABASE_URL"]
    with psycopg.connect(url, autocommit=True) as one, psycopg.connect(url, autocommit=True) as two:
        conns = {"before": one, "after": two}
        # Client-side binding, as Django's cursors send the name query: planned with its values.
        curs = {code: psycopg.ClientCursor(conn) for code, conn in conns.items()}
        pids = {code: conn.execute("SELECT pg_backend_pid()").fetchone()[0] for code, conn in conns.items()}
        for code, conn in conns.items():
            for name, value in made[code][1].items():
                conn.execute(f"SET {name} = {value}")
        for i in range(len(texts)):
            order = ("before", "after") if i % 2 == 0 else ("after", "before")
            for code in order:
                _, sql, params, _ = plans[code][i]
                results[code].append(explain(curs[code], sql, params) if sql else (0.0, 0))
                # Then the statement itself, `--runs` times, its backend's CPU counted.
                start = _ticks(pids[code])
                for _ in range(args.runs if sql else 0):
                    curs[code].execute(sql, params)
                    curs[code].fetchall()
                cpu[code].append(_ticks(pids[code]) - start)
            if (i + 1) % 50 == 0:
                print(f"{i + 1}/{len(texts)} texts", file=sys.stderr, flush=True)

    load = os.getloadavg()[0]
    print(f"{len(drawn)} texts of samples() + {len(texts) - len(drawn)} given; load average {load:.1f}")
    print(
        "| code | execution ms: p50 / p90 / p99 / max (mean) | buffers: p50 / p90 / p99 / max (mean) "
        "| index / window / bigrams |"
    )
    print("| --- | --- | --- | --- |")
    for code in ("before", "after"):
        ms = [r[0] for r in results[code][: len(drawn)]]
        bufs = [r[1] for r in results[code][: len(drawn)]]
        chosen = [p[3] for p in plans[code][: len(drawn)] if p[1]]
        index = sum(1 for c in chosen if c is None)
        window = sum(1 for c in chosen if isinstance(c, int))
        print(
            f"| {code} | {' / '.join(f'{pct(ms, q):,.1f}' for q in (0.5, 0.9, 0.99))} / {max(ms):,.1f} "
            f"({sum(ms) / len(ms):,.2f}) "
            f"| {' / '.join(f'{pct(bufs, q):,.0f}' for q in (0.5, 0.9, 0.99))} / {max(bufs):,} "
            f"({sum(bufs) / len(bufs):,.0f}) "
            f"| {index} / {window} / {len(chosen) - index - window} |"
        )
    tick = os.sysconf("SC_CLK_TCK")
    print(f"\nbackend CPU a statement (ms; each text's runs after its EXPLAIN, {args.runs} a text):")
    for code in ("before", "after"):
        ms = [t / tick / args.runs * 1e3 for t in cpu[code][: len(drawn)]]
        figures = " / ".join(f"{pct(ms, q):.2f}" for q in (0.5, 0.9, 0.99))
        print(f"- {code}: p50 / p90 / p99 / max {figures} / {max(ms):.2f}, mean {sum(ms) / len(ms):.2f}")
    print("\n| text | before: way, ms, buffers | after: way, ms, buffers |")
    print("| --- | --- | --- |")
    worst = sorted(
        range(len(texts)),
        key=lambda i: -max(results["before"][i][0], results["after"][i][0]),
    )
    costlier = sorted(range(len(drawn)), key=lambda i: results["before"][i][1] - results["after"][i][1])
    shown = list(range(len(drawn), len(texts))) + [i for i in worst if i < len(drawn)][: args.slowest]
    shown += [
        i for i in costlier[: args.slowest] if i not in shown and results["after"][i][1] > results["before"][i][1]
    ]
    for i in shown:
        cells = [f"{way(plans[c][i][3])}, {results[c][i][0]:,.1f}, {results[c][i][1]:,}" for c in ("before", "after")]
        print(f"| {texts[i]} | {cells[0]} | {cells[1]} |")


if __name__ == "__main__":
    main()
