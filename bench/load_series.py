"""`python -m bench.load_series [--rows 500000]`: whether PostgreSQL makes a loaded table's rows more
cheaply than it parses them (docs/performance.md, "Load", *Made by the database instead?*). The
same domain-shaped rows into two empty tables, by COPY of text made in Python and by
`INSERT … SELECT` from `generate_series`; the backend's CPU seconds for each, read from /proc
(the machine is shared: wall time says little). Uses a scratch database PREFIX_series, dropped at
the end.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import psycopg

from bench.scale import PG, pg_admin

HZ = os.sysconf("SC_CLK_TCK")
TABLE = (
    "CREATE TABLE {} (id bigint PRIMARY KEY, website_id bigint NOT NULL, name varchar(253) NOT NULL, "
    "active boolean NOT NULL, added_at timestamptz NOT NULL, removed_at timestamptz)"
)


def _cpu(pid: int) -> float:
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rfind(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / HZ


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--db-prefix", default="load")
    args = parser.parse_args()
    n, name = args.rows, f"{args.db_prefix}_series"
    pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    pg_admin(f'CREATE DATABASE "{name}"')
    try:
        with psycopg.connect(f"{PG}/{name}", autocommit=True) as conn:
            (pid,) = conn.execute("SELECT pg_backend_pid()").fetchone()
            conn.execute(TABLE.format("by_copy"))
            conn.execute(TABLE.format("by_series"))
            began = time.process_time()
            text = "".join(
                f"{i}\t{i}\thuaxin-{i:x}.com.cn\tt\t2020-01-0{1 + i % 9} 0{i % 10}:11:12+00\t\\N\n" for i in range(n)
            ).encode()
            python = time.process_time() - began
            for _ in range(2):
                conn.execute("TRUNCATE by_copy, by_series")
                before = _cpu(pid)
                with conn.cursor().copy("COPY by_copy FROM STDIN") as copy:
                    copy.write(text)
                by_copy = _cpu(pid) - before
                before = _cpu(pid)
                conn.execute(
                    "INSERT INTO by_series SELECT i, i, 'huaxin-' || to_hex(i) || '.com.cn', true, "
                    "timestamptz '2020-01-01 00:00:00+00' + (i % 9) * interval '1 day' + (i % 10) * interval '1 hour', "
                    f"NULL FROM generate_series(0, {n - 1}) AS i"
                )
                by_series = _cpu(pid) - before
                print(
                    f"{n:,} rows: COPY text made by Python {python:.2f} CPU s, the backend's COPY {by_copy:.2f}; "
                    f"INSERT … SELECT generate_series {by_series:.2f}; load average {os.getloadavg()[0]:.1f}"
                )
    finally:
        pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
