from django.conf import settings
from django.core.management.base import BaseCommand

from beian.provider import work


class Command(BaseCommand):
    help = (
        "Deliver applications to the bureau, follow its feed, send notices, prune old counts, seal the "
        "timeline (several may run)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--jobs",
            default="deliver,sync,notify,prune,seal",
            help="comma-separated: deliver, sync, notify, prune, seal",
        )
        parser.add_argument("--once", action="store_true")
        parser.add_argument("--interval", type=float, default=settings.BEIAN_WORKER_INTERVAL_SECONDS)

    def handle(self, *args, jobs: str, once: bool, interval: float, **options):
        work.run([j.strip() for j in jobs.split(",") if j.strip()], interval=interval, once=once)
