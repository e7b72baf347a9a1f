"""The edges that follow the served-set feed (beian.enforcement.feed), each with its own token."""

from __future__ import annotations

from django.db import models

from beian.core import clock


def _now():
    return clock.now()


class Edge(models.Model):
    """An edge machine allowed to read the served-set feed, with `Authorization: Bearer
    beian_edge_<key_id>_<secret>`. As for a personal API token (beian.provider.tokens), the secret
    is never stored: `digest` is a keyed digest of the whole token (beian.enforcement.edges), and
    `key_id` finds the row. A revoked edge keeps its row; what it last asked is for the operators'
    view of the fleet (written at most every few seconds, not on every request)."""

    name = models.CharField("名称", max_length=60, unique=True)
    key_id = models.CharField("令牌 ID", max_length=16, unique=True)
    digest = models.CharField(max_length=64)
    created_at = models.DateTimeField("创建时间", default=_now)
    revoked_at = models.DateTimeField("撤销时间", null=True, blank=True)
    last_seen_at = models.DateTimeField("最后联系", null=True, blank=True)
    # The version the edge said it had in its last request (its `after`), and where it came from.
    last_version = models.PositiveBigIntegerField("最后版本", default=0)
    last_address = models.CharField("最后地址", max_length=45, blank=True)

    class Meta:
        verbose_name = verbose_name_plural = "边缘节点"

    def __str__(self) -> str:
        return f"{self.name} (beian_edge_{self.key_id}_…)"
