"""DESIGN §9: every per-client limit counts the client behind the configured trusted proxies, and
believes no one else's X-Forwarded-For (beian/clients.py)."""

from __future__ import annotations

import ipaddress

import pytest
from django.test import RequestFactory

from beian import env
from beian.clients import client_address

BALANCERS = "10.0.0.0/8, 2001:db8:ffff::/48"


@pytest.fixture
def proxies(settings):
    settings.BEIAN_TRUSTED_PROXIES = tuple(ipaddress.ip_network(n.strip()) for n in BALANCERS.split(","))


def asked(remote: str, forwarded: str | None = None) -> str:
    extra = {} if forwarded is None else {"HTTP_X_FORWARDED_FOR": forwarded}
    return client_address(RequestFactory().get("/", REMOTE_ADDR=remote, **extra))


def test_forwarded_for_from_an_untrusted_address_is_ignored(proxies):
    assert asked("198.51.100.7", "203.0.113.9") == "198.51.100.7"
    assert asked("198.51.100.7", "10.0.0.1, 203.0.113.9") == "198.51.100.7"


def test_without_trusted_proxies_no_forwarded_for_is_believed(settings):
    settings.BEIAN_TRUSTED_PROXIES = ()
    assert asked("10.0.0.5", "203.0.113.9") == "10.0.0.5"


def test_from_a_trusted_proxy_the_right_most_untrusted_address_is_the_client(proxies):
    assert asked("10.0.0.5", "203.0.113.9") == "203.0.113.9"
    # What the client wrote itself is left of what the proxies appended: never believed.
    assert asked("10.0.0.5", "1.2.3.4, 203.0.113.9") == "203.0.113.9"
    # Two trusted hops (a CDN's edge, then the balancer), each appending its peer.
    assert asked("10.0.0.5", "1.2.3.4, 203.0.113.9, 10.9.9.9") == "203.0.113.9"
    assert asked("2001:db8:ffff::1", "2001:db8:1:2::77, 10.1.1.1") == "2001:db8:1:2::/64"


def test_a_trusted_proxy_without_a_forwarded_client_counts_as_itself(proxies):
    assert asked("10.0.0.5") == "10.0.0.5"
    assert asked("10.0.0.5", "10.0.0.9") == "10.0.0.9"  # every hop inside: the innermost one seen
    # Garbage where a trusted proxy would have written an address: the last trusted hop.
    assert asked("10.0.0.5", "203.0.113.9, not-an-ip") == "10.0.0.5"


@pytest.mark.django_db(databases=["default", "bureau"])
def test_two_clients_behind_one_balancer_have_a_limit_each(proxies, settings, client):
    """The bureau's public query, 2 a minute: behind the balancer each client has its own 2; a
    client that forges the header from outside stays within its own."""
    settings.BEIAN_PUBLIC_RATE_PER_MINUTE = 2
    url = "/bureau/api/v1/query?domain=nothing-filed.cn"

    def status(remote: str, forwarded: str | None = None) -> int:
        extra = {} if forwarded is None else {"HTTP_X_FORWARDED_FOR": forwarded}
        return client.get(url, REMOTE_ADDR=remote, **extra).status_code

    assert [status("10.0.0.5", "203.0.113.1") for _ in range(3)] == [200, 200, 429]
    assert [status("10.0.0.5", "203.0.113.2") for _ in range(2)] == [200, 200]
    # From outside, a new X-Forwarded-For on every request is still one client.
    assert [status("198.51.100.7", f"203.0.113.{n}") for n in range(10, 13)] == [200, 200, 429]


def test_trusted_proxies_are_read_strictly(monkeypatch):
    monkeypatch.setenv("BEIAN_P", "10.0.0.0/8, 192.168.1.1")
    assert env.networks("BEIAN_P") == (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("192.168.1.1/32"))
    monkeypatch.setenv("BEIAN_P", "10.0.0.0/8, balancer.internal")
    with pytest.raises(env.ImproperValue, match=r"balancer\.internal"):
        env.networks("BEIAN_P")
