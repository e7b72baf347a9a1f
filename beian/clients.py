"""Who a request comes from, for every limit counted per client (DESIGN §9): one function,
`client_address`, that the bureau's public limits, its filing-password counts and the provider's
limits all ask.

Behind a load balancer every request arrives from the balancer's address; counted by
`REMOTE_ADDR`, all clients would share one limit. The balancer says whom it saw in
`X-Forwarded-For`, but anyone can send that header, so it is believed only from the proxies listed
in `BEIAN_TRUSTED_PROXIES` (addresses or CIDR blocks) and from no one else. Each proxy appends the
address it received the request from, so the header is read from the right: the right-most address
that is not a trusted proxy is the client; what lies left of it was written by the client itself
and is never believed.

An IPv6 client counts as its /64, which one host usually holds whole (so a client cannot step
around its limit by changing its interface identifier); an IPv4-mapped address as the IPv4.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _parse(raw: str) -> Address | None:
    try:
        return ipaddress.ip_address(raw.strip())
    except ValueError:
        return None


def _trusted(address: Address) -> bool:
    return any(address in network for network in settings.BEIAN_TRUSTED_PROXIES)


def peer(request: HttpRequest, address: Address) -> Address:
    """Who sent a request that reached us from `address`: `address` itself, or, if it is a trusted
    proxy, the right-most forwarded address that is not one."""
    if not _trusted(address):
        return address
    for hop in reversed((request.META.get("HTTP_X_FORWARDED_FOR") or "").split(",")):
        forwarded = _parse(hop)
        if forwarded is None:
            # A trusted proxy writes an address; anything else here was not written by one. The
            # last trusted hop is the best that is known.
            return address
        address = forwarded
        if not _trusted(address):
            return address
    return address  # every hop a trusted proxy: the request began inside


def key(address: Address) -> str:
    """The string a limit counts `address` under."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def client_address(request: HttpRequest) -> str:
    """The key every per-client limit counts this request under."""
    raw = request.META.get("REMOTE_ADDR") or ""
    address = _parse(raw)
    if address is None:  # no IP peer (a Unix socket): one key for all, as the server gave it
        return raw or "unknown"
    return key(peer(request, address))
