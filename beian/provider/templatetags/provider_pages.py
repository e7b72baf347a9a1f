"""Filters of the provider's pages: states, timeline entries and durations in words."""

from __future__ import annotations

from datetime import timedelta

from django import template
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from beian.provider import words

register = template.Library()

ROLES = {
    "customer": gettext_lazy("客户"),
    "specialist": gettext_lazy("备案专员"),
    "bureau": gettext_lazy("管局"),
    "system": gettext_lazy("系统"),
}

ACTIONS = {
    "create": gettext_lazy("创建申请"),
    "submit": gettext_lazy("提交申请"),
    "claim": gettext_lazy("开始初审"),
    "approve": gettext_lazy("初审通过"),
    "return": gettext_lazy("初审驳回"),
    "release": gettext_lazy("放回队列"),
    "edit": gettext_lazy("修改申请"),
    "withdraw": gettext_lazy("撤回申请"),
    "abandon": gettext_lazy("放弃申请"),
    "delivery_retry": gettext_lazy("重新提交管局"),
    "bureau:refused": gettext_lazy("管局拒绝受理"),
    "bureau:awaiting_verification": gettext_lazy("管局受理，等待短信核验"),
    "bureau:under_review": gettext_lazy("短信核验完成，管局审核中"),
    "bureau:approved": gettext_lazy("管局审核通过"),
    "bureau:rejected": gettext_lazy("管局驳回"),
    "bureau:expired": gettext_lazy("短信核验超时，申请已过期"),
    "bureau:withdrawn": gettext_lazy("管局确认撤回"),
    "bureau:window_recomputed": gettext_lazy("节假日安排变更，管局重新计算审核期限"),
}


@register.filter
def state_label(code: str) -> str:
    return words.state_label(code or "")


@register.filter
def actor(text: str) -> str:
    """`specialist:bob` → 备案专员 bob."""
    role, _sep, who = str(text).partition(":")
    name = str(ROLES.get(role, role))
    return f"{name} {who}" if who else name


@register.filter
def action_label(code: str) -> str:
    return str(ACTIONS.get(code, code))


@register.filter
def say(item) -> str:
    return words.say(item)


@register.filter
def field_label(path: str) -> str:
    return words.label_of(path or "")


@register.filter
def age(delta: timedelta | None) -> str:
    """A waiting time as people say it: 2 天 3 小时, 5 小时 10 分钟, 3 分钟."""
    if delta is None:
        return ""
    minutes = max(int(delta.total_seconds() // 60), 0)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return _("%(d)d 天 %(h)d 小时") % {"d": days, "h": hours}
    if hours:
        return _("%(h)d 小时 %(m)d 分钟") % {"h": hours, "m": minutes}
    return _("%(m)d 分钟") % {"m": minutes}
