"""Edge tokens for the served-set feed (DESIGN §9): `beian_edge_<key id>_<secret>`, made once with
`python -m beian edge_token create NAME` (the whole token is printed then and never again), revoked
with `edge_token revoke NAME`. The key id (64 random bits, hex) finds the row; the secret (256
random bits) is kept only as a keyed digest (beian.digests), compared in constant time, as
personal API tokens are."""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q

from beian import digests
from beian.core import clock
from beian.enforcement.models import Edge
from beian.issued import Kind, issue

log = logging.getLogger("beian.enforcement")

PREFIX = "beian_edge_"
_TOKEN = re.compile(r"beian_edge_([0-9a-f]{16})_([A-Za-z0-9_-]{43})")
_SALT = "beian.enforcement.edges"
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,59}")
# Contact is for the operators' view of the fleet, not a log: one write every few seconds an edge.
TOUCH_EVERY = timedelta(seconds=5)


REVOKED = (
    "该边缘节点的令牌已撤销，请用 edge_token create 为它创建新的令牌",
    "This edge's token has been revoked; make a new one with edge_token create",
)


class EdgeRefused(Exception):
    """A token that does not let an edge in; `code` says why (token_invalid, token_revoked)."""

    def __init__(self, code: str, detail: str, detail_en: str) -> None:
        super().__init__(code)
        self.code, self.detail, self.detail_en = code, detail, detail_en


@dataclass(frozen=True)
class Issued:
    edge: Edge
    token: str  # shown once


def digest(token: str, key: str | None = None) -> str:
    return digests.digest(token, purpose=_SALT, key=key)


def create(name: str) -> Issued:
    """A new edge and its token. The name is the operators' (a host name, say): letters, digits,
    dot, dash and underscore, at most 60, unique."""
    if not NAME.fullmatch(name or ""):
        raise ValueError("an edge's name is 1 to 60 letters, digits, '.', '-' or '_', starting with a letter or digit")
    if Edge.objects.filter(name=name).exists():
        raise ValueError(f"an edge named {name!r} exists already (revoke it, or choose another name)")
    for _attempt in range(3):
        key_id = secrets.token_hex(8)
        token = issue(Kind.EDGE_TOKEN, f"{PREFIX}{key_id}_{secrets.token_urlsafe(32)}")
        try:
            with transaction.atomic():
                edge = Edge.objects.create(name=name, key_id=key_id, digest=digest(token), created_at=clock.now())
        except IntegrityError:
            if Edge.objects.filter(name=name).exists():
                raise ValueError(f"an edge named {name!r} exists already") from None
            continue  # a key id drawn twice in 2**64: draw again
        log.info("edge %s made (token %s…)", name, f"{PREFIX}{key_id}_")
        return Issued(edge, token)
    raise RuntimeError("three key ids in a row were taken: the random source is broken")


def revoke(name: str) -> Edge:
    """The edge's token stops working at once; revoking again keeps the first time."""
    edge = Edge.objects.get(name=name)
    if Edge.objects.filter(pk=edge.pk, revoked_at__isnull=True).update(revoked_at=clock.now()):
        log.info("edge %s revoked", name)
    edge.refresh_from_db()
    return edge


def authenticate(presented: str) -> Edge:
    match = _TOKEN.fullmatch(presented or "")
    edge = Edge.objects.filter(key_id=match[1]).first() if match else None
    if edge is None or not _matches(edge, presented):
        raise EdgeRefused(
            "token_invalid",
            "边缘节点令牌无效：请检查 Authorization: Bearer 后的令牌是否完整",
            "The edge token is not valid: check that the whole token follows `Authorization: Bearer`",
        )
    if edge.revoked_at is not None:
        raise EdgeRefused("token_revoked", *REVOKED)
    return edge


def _matches(edge: Edge, presented: str) -> bool:
    matched, rekeyed = digests.check(edge.digest, presented, purpose=_SALT)
    if rekeyed:
        Edge.objects.filter(pk=edge.pk, digest=edge.digest).update(digest=rekeyed)
    return matched


def touch(edge: Edge, *, version: int, address: str, now: datetime | None = None) -> None:
    """Note what the edge last asked for, at most every TOUCH_EVERY: an edge in step asks after
    every change, and a write for each would make a hundred edges a load on the database."""
    now = now or clock.now()
    if edge.last_seen_at is not None and now - edge.last_seen_at < TOUCH_EVERY:
        return
    # Conditional, so that of an edge's requests on several web processes at once only one writes.
    stale = Q(last_seen_at__isnull=True) | Q(last_seen_at__lte=now - TOUCH_EVERY)
    Edge.objects.filter(stale, pk=edge.pk).update(last_seen_at=now, last_version=version, last_address=address[:45])
    edge.last_seen_at = now  # a stream of changes touches the same object again (feed_views.changes)
