"""The decision contracts on the main server, answered from the database (the decision server on
:8001 answers the same paths from memory, faster), the block page and the nginx map."""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils.cache import patch_cache_control
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe

from beian.core import validators
from beian.enforcement import hosts, mirror, nginx
from beian.enforcement.index import (
    ACCESS_CANCELLED,
    DEREGISTERED,
    FILED,
    INVALID_HOST,
    NOT_FILED,
    TRANSFER_NOT_APPROVED,
    Verdict,
)

# reason → (title, title in English, explanation, explanation in English)
WHY: dict[str, tuple[str, str, str, str]] = {
    NOT_FILED: (
        "网站未备案",
        "This website is not filed",
        "该域名没有在本平台接入的有效 ICP 备案。依照《非经营性互联网信息服务备案管理办法》，未备案的网站不能提供访问。",
        "This domain has no valid ICP filing with access at this provider. A website that is not filed "
        "may not be served in mainland China.",
    ),
    ACCESS_CANCELLED: (
        "已取消接入",
        "Access cancelled",
        "该网站的备案号仍然有效，但已取消在本平台的接入。网站负责人需在新的接入服务商办理接入后才能继续访问。",
        "The website's filing number is still valid, but its access with this provider has been cancelled. "
        "Its owner needs to get access at another provider before it can be served again.",
    ),
    TRANSFER_NOT_APPROVED: (
        "转入未获通过",
        "Transfer-in not approved",
        "该网站曾申请将接入转到本平台，但管局未通过该转入备案，因此本平台不为其提供访问。网站的备案号仍然有效，"
        "可在其原接入服务商处继续访问。",
        "The website asked to move its access to this provider, but the bureau did not approve the transfer-in, "
        "so this provider does not serve it. Its filing number is still valid with the provider it came from.",
    ),
    DEREGISTERED: (
        "备案已注销",
        "Filing deregistered",
        "该网站的备案已被注销，注销的备案号不能恢复。如需继续提供服务，须重新办理备案。",
        "The website's filing has been deregistered, and a deregistered number cannot be restored. "
        "The website must be filed again before it can be served.",
    ),
    INVALID_HOST: (
        "无效的域名",
        "Invalid host name",
        "请求中的主机名不是有效的域名。",
        "The host name in the request is not a valid domain.",
    ),
    # The edge refused the Host a moment before the filing or access came back: the page says so.
    FILED: (
        "网站已备案",
        "This website is filed",
        "该域名已备案并在本平台接入，访问即将恢复，请稍后刷新。",
        "This domain is filed and accessed with this provider; access is being restored, refresh in a moment.",
    ),
}


def _header_host(request: HttpRequest) -> bytes | None:
    """X-Original-Host (set by the proxy), else Host — read raw: `request.get_host()` would check
    ALLOWED_HOSTS, and the Host being decided is rarely one of the platform's own."""
    raw = request.META.get("HTTP_X_ORIGINAL_HOST")
    if raw is None:
        raw = request.META.get("HTTP_HOST")
    return None if raw is None else _from_header(raw)


def _from_header(text: str) -> bytes:
    """A Host header's value; one that is not ASCII is no Host (RFC 9110 §7.2; browsers send
    A-labels) and is refused, as the decision server refuses it (beian.enforcement.server)."""
    return text.encode("ascii") if text.isascii() else b""


def _bytes(text: str) -> bytes:
    # WSGI hands headers over as latin-1 text: encoding back gives the bytes the client sent.
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace")


def _decision(verdict: Verdict) -> HttpResponse:
    # No body, as from the decision server: nginx can keep an auth_request's upstream connection.
    response = HttpResponse(b"", status=200 if verdict.served else 403, content_type="text/plain; charset=utf-8")
    response["X-Beian-Reason"] = verdict.reason
    patch_cache_control(response, max_age=settings.BEIAN_ENFORCEMENT_CACHE_SECONDS)
    return response


@csrf_exempt  # nginx's auth_request repeats the original method, POST included
def check(request: HttpRequest) -> HttpResponse:
    """nginx auth_request: 200 serve, 403 do not."""
    host = _header_host(request)
    return _decision(mirror.decide(host) if host else Verdict(INVALID_HOST))


@csrf_exempt
def ask(request: HttpRequest) -> HttpResponse:
    """Caddy on-demand TLS: 200 lets Caddy get a certificate for `domain`, 403 refuses one."""
    domain = request.GET.get("domain")
    return _decision(mirror.decide(_bytes(domain)) if domain else Verdict(INVALID_HOST))


def public_query_url(verdict: Verdict) -> str:
    base = f"{settings.BEIAN_BUREAU_PUBLIC_URL}/bureau/query/"
    domain = verdict.domain or (validators.registrable_domain(verdict.host) if verdict.host else None)
    return f"{base}?{urlencode({'kind': 'domain', 'q': domain})}" if domain else base


@csrf_exempt
def blocked(request: HttpRequest) -> HttpResponse:
    """The page a refused plain-HTTP request gets: why, in Chinese and English, for which domain,
    and where to look the filing up. The proxy's X-Original-Host names the Host (a visitor's own
    `?host=` must not override it); `?host=` serves links and manual checks."""
    given = request.META.get("HTTP_X_ORIGINAL_HOST")
    if given is not None:
        host = _from_header(given)
    else:
        given = request.GET.get("host")
        host = _bytes(given) if given else _header_host(request)
    verdict = mirror.decide(host) if host else Verdict(INVALID_HOST)
    title, title_en, text, text_en = WHY[verdict.reason]
    shown = hosts.display(verdict.host.encode("ascii")) if verdict.host else (given or "")[:253]
    response = render(
        request,
        "enforcement/blocked.html",
        {
            "verdict": verdict,
            "title": title,
            "title_en": title_en,
            "text": text,
            "text_en": text_en,
            "shown_host": shown,
            "query_url": public_query_url(verdict),
        },
        status=403,  # only ever reached through a refusal at the edge
    )
    response["X-Beian-Reason"] = verdict.reason
    patch_cache_control(response, max_age=settings.BEIAN_ENFORCEMENT_CACHE_SECONDS)
    return response


@require_safe
def nginx_map(request: HttpRequest) -> StreamingHttpResponse:
    """The body of an nginx `map` of the served domains."""
    response = StreamingHttpResponse(nginx.map_body(mirror.served_names()), content_type="text/plain; charset=utf-8")
    response["Cache-Control"] = "no-store"
    return response
