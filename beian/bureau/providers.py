"""Registering providers and issuing their API keys."""

from __future__ import annotations

from django.db import transaction

from beian.bureau import holidays, secrets
from beian.bureau.models import FeedCounter, Provider


def register(*, slug: str, name: str, rotate: bool = False, key: str | None = None) -> tuple[Provider, str]:
    """Create (or, with rotate, re-key) a provider. `key` fixes the key instead of drawing one
    (the demo world prints documented keys); returns the provider and its key in clear, once."""
    if key is None:
        key_id, key = secrets.new_api_key()
    else:
        parts = secrets.split_api_key(key)
        if parts is None:
            raise ValueError("a key reads <key_id>.<secret>")
        key_id = parts[0]
    existing = Provider.objects.filter(slug=slug).first()
    if existing is not None and not rotate:
        raise ValueError(f"provider {slug} exists; use --rotate for a new key")
    if existing is None:
        with transaction.atomic(using="bureau"):
            provider = Provider.objects.create(
                slug=slug, name=name, key_id=key_id, key_digest=secrets.api_key_digest(key)
            )
            FeedCounter.objects.create(provider=provider)
            # A new provider's feed starts with the working-day calendar it counts its deadlines in.
            holidays.publish([provider])
    else:
        Provider.objects.filter(pk=existing.pk).update(name=name, key_id=key_id, key_digest=secrets.api_key_digest(key))
        provider = Provider.objects.get(pk=existing.pk)
    return provider, key
