"""The fleet as the operators see it on /enforcement/: each edge with the version it last asked
after, how far behind that is, and since when it has not been heard from. An edge is flagged when
it has not been heard from, or its data lacks a change, for longer than BEIAN_FLEET_STALE_SECONDS:
in a long poll an edge in step asks again at least every 25 s, so a minute of silence means it is
cut off or stuck, and serving from stale data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings

from beian.core import clock
from beian.enforcement.models import Edge
from beian.provider.models import FiledWebsite

BEHIND_MAX = 10_000  # websites counted behind an edge; past that the page says "more than"


@dataclass(frozen=True)
class EdgeRow:
    edge: Edge
    revoked: bool
    behind: int  # websites changed after the edge's version (at most BEHIND_MAX + 1)
    lag_seconds: float | None  # since the oldest change the edge lacks; None if it lacks none
    silent_seconds: float | None  # since its last contact; None if never
    stale: bool

    @property
    def behind_more(self) -> bool:
        return self.behind > BEHIND_MAX


def rows(now: datetime | None = None) -> list[EdgeRow]:
    now = now or clock.now()
    threshold = settings.BEIAN_FLEET_STALE_SECONDS
    found = []
    for edge in Edge.objects.order_by("revoked_at", "name"):
        newer = FiledWebsite.objects.filter(version__gt=edge.last_version)
        oldest = newer.order_by("version").values_list("updated_at", flat=True).first()
        behind = newer.order_by()[: BEHIND_MAX + 1].count() if oldest is not None else 0
        lag = max(0.0, (now - oldest).total_seconds()) if oldest is not None else None
        silent = max(0.0, (now - edge.last_seen_at).total_seconds()) if edge.last_seen_at else None
        revoked = edge.revoked_at is not None
        stale = not revoked and (silent is None or silent > threshold or (lag is not None and lag > threshold))
        found.append(EdgeRow(edge, revoked, behind, lag, silent, stale))
    return found
