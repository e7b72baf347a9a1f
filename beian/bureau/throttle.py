"""Fixed-window rate limits for the public endpoints, counted in the bureau's database so that
every process of a deployment shares them."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import F

from beian.bureau.errors import BureauError
from beian.bureau.models import Throttle
from beian.core import clock


def hit(scope: str, key: str, *, per_minute: int) -> None:
    now = clock.now()
    window = now.replace(second=0, microsecond=0)
    with transaction.atomic(using="bureau"):
        updated = Throttle.objects.filter(scope=scope, key=key, window=window).update(count=F("count") + 1)
        if not updated:
            try:
                with transaction.atomic(using="bureau"):
                    Throttle.objects.create(scope=scope, key=key, window=window, count=1)
            except IntegrityError:
                Throttle.objects.filter(scope=scope, key=key, window=window).update(count=F("count") + 1)
        count = Throttle.objects.get(scope=scope, key=key, window=window).count
    if count > per_minute:
        raise BureauError("rate_limited", retry_after=60 - now.second)
