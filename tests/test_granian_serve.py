"""The platform under granian (beian/granian_serve.py, issue 10's public query tier): a proxy's
word that a request came by HTTPS is believed from the trusted proxies alone, as gunicorn's
`forwarded_allow_ips` believes it (docs/hardening.md)."""

from __future__ import annotations

import ipaddress

import pytest

from beian import granian_serve

TRUSTED = (ipaddress.ip_network("10.0.0.0/8"),)


def scheme(environ: dict) -> str:
    seen = []
    app = granian_serve.forwarded_scheme(lambda env, start: seen.append(env["wsgi.url_scheme"]) or [], TRUSTED)
    app({"wsgi.url_scheme": "http", **environ}, lambda *a: None)
    return seen[0]


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"REMOTE_ADDR": "10.1.2.3", "HTTP_X_FORWARDED_PROTO": "https"}, "https"),
        ({"REMOTE_ADDR": "10.1.2.3", "HTTP_X_FORWARDED_PROTO": "http"}, "http"),
        ({"REMOTE_ADDR": "10.1.2.3", "HTTP_X_FORWARDED_SSL": "on"}, "https"),
        ({"REMOTE_ADDR": "10.1.2.3"}, "http"),
        ({"REMOTE_ADDR": "203.0.113.5", "HTTP_X_FORWARDED_PROTO": "https"}, "http"),  # not a trusted proxy
        ({"REMOTE_ADDR": "", "HTTP_X_FORWARDED_PROTO": "https"}, "http"),  # a Unix socket: no peer address
    ],
)
def test_https_is_believed_from_a_trusted_proxy_only(environ, expected):
    assert scheme(environ) == expected


def test_loopback_is_trusted_when_no_proxy_is_configured(monkeypatch):
    monkeypatch.delenv("BEIAN_TRUSTED_PROXIES", raising=False)
    assert granian_serve.trusted_proxies() == granian_serve.LOOPBACK
    monkeypatch.setenv("BEIAN_TRUSTED_PROXIES", "192.0.2.0/24")
    assert granian_serve.trusted_proxies() == (ipaddress.ip_network("192.0.2.0/24"),)
