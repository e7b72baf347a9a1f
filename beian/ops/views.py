"""`/healthz`, `/readyz` and `/metrics` (docs/deploy.md says what watches which)."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from beian.ops import health, metrics


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """Alive: the process answers. Touches no database, so a load balancer does not take every
    web process out when the database blinks (that is what /readyz is for)."""
    return JsonResponse({"ok": True})


@never_cache
@require_safe
def readyz(request: HttpRequest) -> JsonResponse:
    ready, report = health.readiness()
    return JsonResponse({"ok": ready, **report}, status=200 if ready else 503)


metrics_view = never_cache(require_safe(metrics.view))
