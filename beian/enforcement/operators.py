"""The operators' page at /enforcement/: what this provider serves, and why a given Host is or is
not served. Operators (group `operators`) run the edges; this is where they check a complaint
("my site shows 网站未备案") against the same decision the edges get."""

from __future__ import annotations

from functools import wraps

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from beian.enforcement import fleet, mirror
from beian.enforcement.views import WHY
from beian.provider.models import FiledWebsite
from beian.provider.review import is_operator

RECENT = 30


def operator_required(view):
    @wraps(view)
    def guarded(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), "/console/login/")
        if not is_operator(request.user):
            return render(request, "enforcement/operators_forbidden.html", status=403)
        return view(request, *args, **kwargs)

    return guarded


@require_safe
@operator_required
def serving(request: HttpRequest) -> HttpResponse:
    host = request.GET.get("host", "").strip()[:300]
    verdict = mirror.decide(host) if host else None
    counts = FiledWebsite.objects.aggregate(
        served=Count("pk", filter=Q(status="active", access_state__in=mirror.SERVED_ACCESS)),
        provisional=Count("pk", filter=Q(status="active", access_state="provisional")),
        cancelled=Count("pk", filter=Q(status="active", access_state="ended")),
        shells=Count("pk", filter=Q(status="active", shell_since__isnull=False)),
        deregistered=Count("pk", filter=~Q(status="active")),
    )
    recent = FiledWebsite.objects.select_related("entity").prefetch_related("domains").order_by("-version")[:RECENT]
    return render(
        request,
        "enforcement/serving.html",
        {
            "host": host,
            "verdict": verdict,
            "why": WHY.get(verdict.reason) if verdict else None,
            "served_domains": mirror.served_domains().count(),
            "counts": counts,
            "recent": recent,
            "edges": fleet.rows(),
            "stale_after": settings.BEIAN_FLEET_STALE_SECONDS,
        },
    )
