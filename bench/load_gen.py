"""`python -m bench.load_gen [--websites 100000] [--sqlite] [--seed 1]`: the national generator's own CPU
per website (docs/performance.md, "Load"): one batch built in this process as a worker builds it
(`bulkload._prepare`: the rows, sealing, and for PostgreSQL the COPY text), no database touched. The
default, 50,000 entities and 100,000 websites, is the size of one of the loader's batches.
Run from another checkout's directory (`cd ../main && python /path/to/bench/load_gen.py`) it measures
that checkout's generator: the baseline in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--websites", type=int, default=100_000)
    parser.add_argument("--sqlite", action="store_true")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--profile", action="store_true", help="print cProfile's top functions")
    parser.add_argument("--no-gc", action="store_true", help="the cyclic garbage collector off while building")
    args = parser.parse_args()
    sys.path.insert(0, str(Path.cwd()))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "beian.settings")
    os.environ.setdefault("BEIAN_SIMULATION", "true")
    import django

    django.setup()
    from beian.bureau import bulkload, national
    from beian.core import provinces

    entities = args.websites // 2
    now = national.epoch_of(datetime(2026, 12, 1, 8, tzinfo=UTC))
    counts = national.province_years(entities, args.seed, 0, 2026)
    spec = national.Spec(
        seed=args.seed,
        index=0,
        entities=entities,
        websites=args.websites,
        now=now,
        serials={key: list(range(1, n + 1)) for key, n in counts.items()},
        provinces_short={p.code: p.short for p in provinces.PROVINCES},
        first_entity_id=1,
        first_website_id=1,
        first_domain_id=1,
        first_access_id=1,
        selected_provider=1,
        other_providers=tuple((i + 2, w) for i, (_, _, w) in enumerate(national.OTHER_PROVIDERS)),
        dialect=national.SQLITE if args.sqlite else national.POSTGRES,
    )
    began = time.process_time()
    bulkload._warm(args.seed)
    warm = time.process_time() - began
    if args.profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.enable()
    if args.no_gc:
        import gc

        gc.disable()
    began = time.process_time()
    batch, payloads = bulkload._prepare(spec)
    spent = time.process_time() - began
    if args.profile:
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    print(
        json.dumps(
            {
                "websites": args.websites,
                "database": spec.dialect.name,
                "warm_cpu_s": round(warm, 2),
                "batch_cpu_s": round(spent, 2),
                "cpu_us_a_website": round(spent / args.websites * 1e6, 1),
                "counts": batch.counts,
                "payload_mib": round(sum(map(len, payloads.values())) / 2**20, 1) if payloads else None,
                "load_average": os.getloadavg(),
            }
        )
    )


if __name__ == "__main__":
    main()
