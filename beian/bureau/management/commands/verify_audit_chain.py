from django.core.management.base import BaseCommand, CommandError

from beian.bureau import audit


class Command(BaseCommand):
    help = "Recompute the bureau's audit chain from the genesis; fails at the first broken record."

    def handle(self, *args, **options):
        report = audit.verify()
        if not report.ok:
            raise CommandError(f"audit chain broken at record {report.first_bad_seq}: {report.problem}")
        waiting = f"; {report.waiting} written and waiting for their place" if report.waiting else ""
        self.stdout.write(f"audit chain intact: {report.records} records{waiting}")
