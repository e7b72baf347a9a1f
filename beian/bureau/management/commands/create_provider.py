from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from beian.bureau import audit, providers


class Command(BaseCommand):
    help = "Register a provider with the bureau and print its API key (shown once, kept only as a hash)."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("name")
        parser.add_argument("--rotate", action="store_true", help="issue a new key for an existing provider")

    def handle(self, *args, slug: str, name: str, rotate: bool, **options):
        with transaction.atomic(using="bureau"):
            try:
                provider, key = providers.register(slug=slug, name=name, rotate=rotate)
            except ValueError as exc:
                raise CommandError(str(exc)) from None
            audit.append(actor="cli", action="provider_key_issued", subject=f"provider:{provider.slug}")
        self.stdout.write(f"{provider.slug}: {key}")
