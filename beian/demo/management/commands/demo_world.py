from django.core.management.base import BaseCommand

from beian.demo import world


class Command(BaseCommand):
    help = "Create the demo world (providers, filings, personas) unless it exists."

    def handle(self, *args, **options):
        for line in world.create():
            self.stdout.write(line)
