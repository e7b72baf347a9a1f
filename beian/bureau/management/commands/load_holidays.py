"""`python -m beian load_holidays FILE [--dry-run]`: take in published holiday arrangements without
a release (the file format is in beian/bureau/holidays.py and docs/calendar.md)."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from beian.bureau import holidays


class Command(BaseCommand):
    help = "Load holiday arrangements (days off and make-up working days) from FILE; each year in it is replaced."

    def add_arguments(self, parser):
        parser.add_argument("file", help="the arrangements, one day or run of days a line ('-' for stdin)")
        parser.add_argument("--dry-run", action="store_true", help="check and report, change nothing")

    def handle(self, *args, file: str, dry_run: bool, **options):
        if file == "-":
            import sys

            text, source = sys.stdin.read(), "stdin"
        else:
            path = Path(file)
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise CommandError(f"cannot read {file}: {exc}") from None
            source = path.name
        try:
            arrangements = holidays.parse(text)
        except holidays.BadFile as exc:
            raise CommandError(f"{file} is not loaded:\n{exc}") from None
        for arrangement in arrangements:
            self.stdout.write(
                f"{arrangement.year}: {len(arrangement.holidays)} days off, "
                f"{len(arrangement.workdays)} make-up working days"
            )
        report = holidays.load(arrangements, source=f"file:{source}", by="system:load_holidays", dry_run=dry_run)
        for line in report.lines():
            self.stdout.write(line)
        if dry_run:
            self.stdout.write("dry run: nothing was changed")
