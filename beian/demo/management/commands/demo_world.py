from datetime import date

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from beian.bureau import simulation
from beian.bureau.models import Operation
from beian.core import clock
from beian.demo import world


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise CommandError(f"--at {text!r}: expected a date as YYYY-MM-DD") from None


class Command(BaseCommand):
    help = "Create the demo world (providers, filings, personas) unless it exists."

    def add_arguments(self, parser):
        parser.add_argument(
            "--at",
            type=_day,
            default=None,
            help="start the simulated clock on this day (YYYY-MM-DD) before creating the world; "
            "default BEIAN_SIM_START, or today",
        )

    def handle(self, *args, at: date | None = None, **options):
        day = at or settings.BEIAN_SIM_START
        if day is not None and not Operation.objects.exists():
            if not settings.BEIAN_SIMULATION:
                raise CommandError("--at moves the simulated clock: it needs BEIAN_SIMULATION on")
            moment = simulation.start_at(day)
            self.stdout.write(f"simulated clock starts at {moment.astimezone(clock.CHINA):%Y-%m-%d %H:%M}")
        elif at is not None:
            raise CommandError("the demo world exists already: its clock only runs forward (delete var/ to start anew)")
        for line in world.create():
            self.stdout.write(line)
