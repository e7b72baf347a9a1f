import csv
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from beian.provider import imports


class Command(BaseCommand):
    help = (
        "Import the provider's customer list: a CSV of (account, entity number) rows that gives the filings "
        "the mirror holds for nobody to existing accounts. Prints one line per row (row, outcome, reason in "
        "Chinese and English) as CSV; with --dry-run nothing is applied. Running it again changes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path, help="CSV (UTF-8 or GBK): account, entity_number")
        parser.add_argument("--dry-run", action="store_true", help="decide every row, apply none")

    def handle(self, *args, file: Path, dry_run: bool, **options):
        try:
            raw = file.read_bytes()
        except OSError as exc:
            raise CommandError(f"cannot read {file}: {exc}") from None
        try:
            report = imports.run(raw, dry_run=dry_run, actor="system:import_customers", source=file.name)
        except imports.Unreadable as exc:
            raise CommandError(f"{exc.message} / {exc.message_en}") from None
        writer = csv.writer(self.stdout)
        writer.writerow(["row", "account", "entity_number", "outcome", "reason", "reason_en"])
        for row in report.rows:
            writer.writerow([row.row, row.account, row.entity_number, row.outcome, row.reason, row.reason_en])
        counts = ", ".join(f"{k} {v}" for k, v in report.counts.items())
        self.stderr.write(f"{'dry run: nothing applied; ' if dry_run else ''}{counts}")
