from django.core.management.base import BaseCommand, CommandError

from beian.provider import timeline


class Command(BaseCommand):
    help = "Recompute the provider's hash-chained application timeline from the genesis; fails at the first break."

    def handle(self, *args, **options):
        report = timeline.verify()
        if not report.ok:
            raise CommandError(f"timeline chain broken at entry {report.first_bad_seq}: {report.problem}")
        waiting = f"; {report.waiting} written and waiting for their place" if report.waiting else ""
        self.stdout.write(f"timeline chain intact: {report.records} entries{waiting}")
