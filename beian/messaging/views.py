"""The sandbox at /messages/: a shared phone and inbox showing everything the sandbox backends
kept. Read-only, no login, served only when settings.BEIAN_SIMULATION is on."""

from __future__ import annotations

from functools import wraps

from django.conf import settings
from django.db.models import Count, Max, OuterRef, Subquery
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from beian.core import clock
from beian.sealing import digest

from . import addresses
from .models import Message

PAGE_LIMIT = 200


def simulation_only(view):
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not settings.BEIAN_SIMULATION:
            raise Http404
        return view(request, *args, **kwargs)

    return wrapper


def _wants_json(request: HttpRequest, suffix: bool) -> bool:
    return suffix or request.GET.get("format") == "json"


def _iso(moment) -> str:
    return moment.astimezone(clock.CHINA).isoformat()


def _whole_recipient(query: str) -> str:
    """The canonical recipient a search names in full (a whole mobile number or address), or ""."""
    for strict in (addresses.phone, addresses.email_address):
        try:
            return strict(query)
        except ValueError:
            continue
    return ""


@require_safe
@never_cache
@simulation_only
def index(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("to", "").strip()
    fragment = addresses.search_fragment(query)
    # Recipients are sealed (beian.sealing): an inbox is grouped by its digest and its address read
    # from its latest message. A search looks among the opened addresses, which the sandbox (a
    # simulation's phones and inboxes, never a deployment's store) can afford.
    latest = Message.objects.filter(recipient_digest=OuterRef("recipient_digest")).order_by("-created_at", "-id")
    groups = Message.objects.values("recipient_digest").annotate(count=Count("id"), last_at=Max("created_at"))
    groups = groups.annotate(
        address=Subquery(latest.values("recipient")[:1]),
        last_channel=Subquery(latest.values("channel")[:1]),
        last_subject=Subquery(latest.values("subject")[:1]),
        last_body=Subquery(latest.values("body")[:1]),
    ).order_by("-last_at", "recipient_digest")
    if fragment:
        found = [{**g, "recipient": g["address"]} for g in groups if fragment in g["address"]]
        total, rows = len(found), found[:PAGE_LIMIT]
    else:
        total = groups.count()
        rows = [{**g, "recipient": g["address"]} for g in groups[:PAGE_LIMIT]]
    rows.sort(key=lambda r: (-r["last_at"].timestamp(), r["recipient"]))
    if request.GET.get("format") == "json":
        return JsonResponse(
            {
                "recipients": [
                    {"recipient": r["recipient"], "count": r["count"], "last_at": _iso(r["last_at"])} for r in rows
                ]
            },
            json_dumps_params={"ensure_ascii": False},
        )
    return render(
        request,
        "messaging/index.html",
        {
            "rows": [{**r, "is_email": addresses.is_email(r["recipient"])} for r in rows],
            "total": total,
            "limited": total > PAGE_LIMIT,
            "limit": PAGE_LIMIT,
            "query": query,
            "exact": _whole_recipient(query),
        },
    )


@require_safe
@never_cache
@simulation_only
def thread(request: HttpRequest, recipient: str, suffix: bool = False) -> HttpResponse:
    canonical = addresses.normalise(recipient)
    messages = Message.objects.filter(recipient_digest=digest("recipient", canonical)).order_by("-created_at", "-id")
    if _wants_json(request, suffix):
        return JsonResponse(
            {
                "recipient": canonical,
                "messages": [
                    {
                        "channel": m.channel,
                        "sender": m.sender,
                        "subject": m.subject,
                        "body": m.body,
                        "created_at": _iso(m.created_at),
                    }
                    for m in messages
                ],
            },
            json_dumps_params={"ensure_ascii": False},
        )
    total = messages.count()
    return render(
        request,
        "messaging/thread.html",
        {
            "recipient": canonical,
            "is_email": addresses.is_email(canonical),
            "messages": list(messages[:PAGE_LIMIT]),
            "total": total,
            "limited": total > PAGE_LIMIT,
            "limit": PAGE_LIMIT,
        },
    )
