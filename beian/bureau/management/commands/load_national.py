"""`python -m beian load_national --entities N --websites M [--seed S] [--provider SLUG]`."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from beian.bureau import bulkload


def _positive(text: str) -> int:
    value = int(text.replace("_", "").replace(",", ""))
    if value < 1:
        raise ValueError
    return value


class Command(BaseCommand):
    help = (
        "Fill the bureau with a synthetic national registry that passes every rule (issue 10). "
        "Simulation only: the principals' phone numbers look real."
    )

    def add_arguments(self, parser):
        parser.add_argument("--entities", type=_positive, required=True, help="entities (备案主体) to add")
        parser.add_argument("--websites", type=_positive, required=True, help="websites to add (at least one each)")
        parser.add_argument("--seed", type=int, default=0, help="same seed, same registry: same rows")
        parser.add_argument(
            "--provider",
            default="nat-selected",
            help="the provider that gets about a tenth of the websites and their feed events (created if absent)",
        )
        parser.add_argument("--batch", type=_positive, default=bulkload.BATCH, help="entities per transaction")
        parser.add_argument("--jobs", type=int, default=None, help="worker processes that build batches (0: none)")

    def handle(self, *args, entities, websites, seed, provider, batch, jobs, **options):
        if not settings.BEIAN_SIMULATION:
            # Synthetic principals have real-looking mobiles: a real SMS gateway would text strangers.
            raise CommandError("load_national runs only in simulation mode (BEIAN_SIMULATION=true)")
        if websites < entities:
            raise CommandError("--websites must be at least --entities: every entity has a website")
        quiet = options["verbosity"] == 0
        bar = tqdm(total=entities, unit=" entities", unit_scale=True, disable=quiet, dynamic_ncols=True)
        try:
            result = bulkload.load(
                entities=entities,
                websites=websites,
                seed=seed,
                provider=provider,
                batch=batch,
                jobs=jobs,
                progress=lambda b: bar.update(b.counts["bureau_entity"]),
            )
        except bulkload.LoadError as exc:
            raise CommandError(str(exc)) from None
        finally:
            bar.close()
        if result.provider_key:
            self.stdout.write(f"{result.provider}: {result.provider_key}  (its API key, shown once)")
        size = f"{result.database_bytes / 2**30:.2f} GiB" if result.database_bytes else "unknown"
        self.stdout.write(
            f"loaded {result.entities:,} entities, {result.websites:,} websites, {result.domains:,} domains, "
            f"{result.accesses:,} accesses and {result.events:,} feed events for {result.provider} "
            f"in {result.batches} batches, {result.seconds:.1f} s "
            f"({result.websites / result.seconds:,.0f} websites/s); bureau database {size}"
        )
        if options["verbosity"] >= 2:
            # Where the loader's time went: waiting for workers, each table's COPY, commits, indexes.
            self.stdout.write("phases (s): " + ", ".join(f"{k} {v:.1f}" for k, v in sorted(result.phases.items())))
