"""What the customer is told, by email and (if the account has a mobile) SMS, through the one
messages interface: written to the outbox in the transaction that causes them, sent by the
provider's worker (beian/messaging/outbox.py)."""

from __future__ import annotations

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from beian.accounts import emails
from beian.core import clock
from beian.core.clock import CHINA
from beian.messaging import outbox
from beian.provider import words
from beian.provider.models import Application, OutgoingNotice, Profile

SENDER = "provider"


def _type_name(app: Application) -> str:
    return words.type_name(app.type)


def _portal_link(app: Application) -> str:
    return f"{settings.BEIAN_PUBLIC_URL}/portal/applications/{app.pk}/"


# Through gettext, so an English catalogue can follow; the Chinese is the source.
TEXTS = {
    "returned": gettext_lazy("您的{type}申请需要修改：{reason}。请登录控制台按提示修改后重新提交。"),
    "awaiting_verification": gettext_lazy(
        "您的{type}申请已提交管局。负责人将收到管局的短信核验码，请在 {deadline} 前完成短信核验，逾期申请将失效。"
    ),
    "bureau_review": gettext_lazy("您的{type}申请已进入管局审核，预计 {earliest} 至 {latest} 之间完成。"),
    "approved": gettext_lazy("您的{type}申请已通过管局审核。{numbers}"),
    "rejected": gettext_lazy("您的{type}申请被管局驳回：{reason}。您可以修改后重新提交。"),
    "expired": gettext_lazy("您的{type}申请因未在有效期内完成短信核验已失效，您可以重新提交。"),
    # S12: access stops at submission; the number stays, and the customer must find access elsewhere.
    "stopped_at_submission": gettext_lazy(
        "网站 {website} 已取消接入，本平台不再提供访问。备案号仍然有效；"
        "如需继续提供服务，请尽快在其他接入商处办理接入，否则网站将成为空壳网站并可能被注销。"
    ),
}


def tell(app: Application, what: str) -> None:
    """Write a notice about `app` to the outbox, in the language of the owner's account, in the
    transaction of the change it tells of: nothing is sent for a rolled-back change, and nothing
    is lost while the mail server or SMS gateway is down (the worker sends it, `dispatch`)."""
    # Without loading the owner: their profile, then their sealed email (the worker tells of every
    # step the bureau takes).
    profile = Profile.objects.filter(user_id=app.owner_id).values("mobile", "language").first() or {}
    with translation.override(profile.get("language") or settings.LANGUAGE_CODE):
        text, subject = _worded(app, what)
    mobile = profile.get("mobile")
    email = emails.of_many([app.owner_id]).get(app.owner_id, "")
    now = clock.now()
    notices = []
    if email:
        notices.append(OutgoingNotice(channel=OutgoingNotice.Channel.EMAIL, recipient=email, subject=subject[:200]))
    if mobile:
        notices.append(OutgoingNotice(channel=OutgoingNotice.Channel.SMS, recipient=mobile))
    for notice in notices:
        notice.body, notice.created_at, notice.next_attempt_at = text, now, now
    OutgoingNotice.objects.bulk_create(notices)


def dispatch(*, limit: int = 100) -> int:
    """Send the notices that are due (retried with backoff); returns how many were sent."""
    return outbox.dispatch(OutgoingNotice, sender=SENDER, limit=limit)


def _worded(app: Application, what: str) -> tuple[str, str]:
    """(text, email subject) in the active language; the reasons the bureau or a specialist gave
    are shown in it where they carry an English twin."""
    reasons = _("；").join(words.say(r) for r in app.field_reasons)
    text = str(TEXTS[what]).format(
        type=_type_name(app),
        reason=app.reason or reasons or _("见申请详情"),
        deadline=app.verification_deadline.astimezone(CHINA).strftime("%Y-%m-%d %H:%M")
        if app.verification_deadline
        else "",
        earliest=app.window_earliest or "",
        latest=app.window_latest or "",
        numbers=_("，").join(n for n in (app.entity_number, app.website_number) if n),
        website=app.website_number or app.data.get("website_number", ""),
    )
    text = _("【备案通知】%(text)s 详情：%(link)s") % {"text": text, "link": _portal_link(app)}
    return text, _("备案进度通知：%(type)s") % {"type": _type_name(app)}
