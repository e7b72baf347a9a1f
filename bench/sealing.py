"""`python -m bench sealing [--values N] [--rounds R]`: what sealing personal data costs per value
(issue 14, beian/sealing.py), against reading the same value from a row as a baseline measured in
the same run.

For N typical values (an 18-character certificate number, an 11-digit mobile, a 25-character email
and a 1 KB operation's data as JSON), each round times: sealing (AES-256-GCM with a fresh nonce,
base64), opening, and the keyed digest (HMAC-SHA256), per value; and as the baseline, Django
building a model instance from a database row of the same values (`Model.from_db`, the work every
read does anyway). Printed: the median over the rounds, in microseconds per value, and each
operation's ratio to the baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "beian.settings")

import django

django.setup()

from beian import sealing  # noqa: E402
from beian.provider.models import Profile  # noqa: E402

VALUES = {
    "certificate": "91440300MA5F1234XY",
    "mobile": "13800138000",
    "email": "zhangwei.example@demo-tech.cn",
    "data (1 KB JSON)": json.dumps(
        {"entity": {"name": "深圳市演示科技有限公司" * 8, "x": "y" * 700}}, ensure_ascii=False
    ),
}


def per_value(work, n: int) -> float:
    started = time.perf_counter()
    work(n)
    return (time.perf_counter() - started) / n * 1e6


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench sealing")
    parser.add_argument("--values", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    n = args.values
    row = (1, 1, "13800138000", "zh-hans")
    columns = ["id", "user_id", "mobile", "language"]
    baseline = statistics.median(
        per_value(lambda k: [Profile.from_db("default", columns, row) for _ in range(k)], n) for _ in range(args.rounds)
    )
    print(f"baseline, a model instance from a row: {baseline:.2f} µs")
    for name, clear in VALUES.items():
        sealed = sealing.seal(clear, "t.c")
        figures = {
            "seal": lambda k, c=clear: [sealing.seal(c, "t.c") for _ in range(k)],
            "open": lambda k, s=sealed: [sealing.unseal(s, "t.c") for _ in range(k)],
            "digest": lambda k, c=clear: [sealing.digest("certificate", c) for _ in range(k)],
        }
        line = []
        for op, work in figures.items():
            took = statistics.median(per_value(work, n) for _ in range(args.rounds))
            line.append(f"{op} {took:.2f} µs ({took / baseline:.1f}×)")
        print(f"{name} ({len(clear)} chars → {len(sealed)}): " + ", ".join(line))
