"""What the customer must do next with an application, and by when (DESIGN §5): computed here, once.

`of(app)` says it as a code and its parameters; the portal's pages draw that (the template
provider/portal/_next_step.html) and the JSON API says it in words (`message`), so the two can
differ in how much they show but never in what the step is, its deadline, its link or its window.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from django.conf import settings

from beian.core.catalogue import Principal
from beian.core.clock import CHINA
from beian.provider import review, rules
from beian.provider.models import Application

S = Application.State


@dataclass(frozen=True)
class Window:
    """When the bureau expects to decide, as it said."""

    earliest: date
    latest: date
    calendar_provisional: bool  # a year's holiday calendar is not published yet: the dates may move


@dataclass(frozen=True)
class NextStep:
    # complete_and_submit, fix_returned_fields, wait_provider_review, wait_delivery, verify_sms,
    # wait_bureau_review, done, copy_and_resubmit, none
    code: str
    # Why an application ended (rejected, expired, withdrawn, abandoned): the customer is told
    # differently, and may start again from a copy or not.
    outcome: str = ""
    deadline: datetime | None = None  # by when the customer must act
    expected_by: date | None = None  # by when the provider's review usually ends
    link: str = ""  # where to act: the bureau's SMS verification page
    verify: tuple[Principal, ...] = ()  # whose SMS codes the bureau waits for (and will wait for)
    fields: list[dict] = field(default_factory=list)  # what to fix, by field, from the last return
    reason: str = ""  # the return's or the rejection's reason for the whole
    window: Window | None = None
    review_days: tuple[int, int] = (1, 20)  # the catalogue's, when the bureau has not said yet
    numbers: tuple[str, ...] = ()  # the filing numbers issued
    password_sent: bool = False  # a new entity's filing password went to its principal (R2)
    has_details: bool = True  # a draft has details to fill in, not only a number to confirm


def verification_link(app: Application) -> str:
    """The bureau's page where the principals enter their SMS codes for this operation."""
    if not app.bureau_operation_id:
        return ""
    return f"{settings.BEIAN_BUREAU_PUBLIC_URL}/bureau/verify/?operation={app.bureau_operation_id}"


def window(app: Application) -> Window | None:
    if app.window_earliest is None or app.window_latest is None:
        return None
    return Window(app.window_earliest, app.window_latest, app.window_provisional)


def of(app: Application) -> NextStep:
    kind = rules.operation_type(app.type)
    state = app.state
    if state in (S.DRAFT, S.RETURNED):
        if app.field_reasons or app.reason:
            return NextStep("fix_returned_fields", fields=list(app.field_reasons), reason=app.reason)
        return NextStep("complete_and_submit", has_details=kind.has_details)
    if state in (S.SUBMITTED, S.PROVIDER_REVIEW):
        return NextStep("wait_provider_review", expected_by=review.due(app))
    if state == S.DELIVERED:
        return NextStep("wait_delivery", verify=kind.verify)
    if state == S.AWAITING_VERIFICATION:
        return NextStep(
            "verify_sms", deadline=app.verification_deadline, link=verification_link(app), verify=kind.verify
        )
    if state == S.BUREAU_REVIEW:
        return NextStep("wait_bureau_review", window=window(app), review_days=kind.review_days)
    if state == S.APPROVED:
        return NextStep(
            "done",
            numbers=tuple(n for n in (app.entity_number, app.website_number) if n),
            # It filed a new entity, which the bureau gives a password where the rule set has one.
            password_sent=kind.target is None and rules.current().filing_password,
        )
    if state in (S.REJECTED, S.EXPIRED):
        return NextStep("copy_and_resubmit", outcome=state, reason=app.reason)
    return NextStep("none", outcome=state)


# ---------------------------------------------------------------- in words, for the API


def _local(moment: datetime) -> str:
    return moment.astimezone(CHINA).strftime("%Y-%m-%d %H:%M")


def _field_list(reasons: list[dict]) -> tuple[str, str]:
    zh = "；".join(f"{r.get('field') or '申请'}：{r.get('message', '')}" for r in reasons)
    en = "; ".join(f"{r.get('field') or 'application'}: {r.get('message_en', '')}" for r in reasons)
    return zh, en


def message(step: NextStep, app: Application) -> tuple[str, str]:
    """The step in a sentence, in Chinese and in English."""
    kind = rules.operation_type(app.type)
    if step.code == "fix_returned_fields":
        fields_zh, fields_en = _field_list(step.fields)
        return (
            "申请被退回，请修改以下内容后重新提交："
            + (fields_zh or step.reason)
            + (f"（{step.reason}）" if fields_zh and step.reason else ""),
            "The application was returned; fix the following and submit it again: "
            + (fields_en or step.reason)
            + (f" ({step.reason})" if fields_en and step.reason else ""),
        )
    if step.code == "complete_and_submit":
        return "完善信息并提交", "Complete the details and submit"
    if step.code == "wait_provider_review":
        by = f"（预计 {step.expected_by} 前）" if step.expected_by else ""
        by_en = f" (expected by {step.expected_by})" if step.expected_by else ""
        return (
            f"等待备案专员初审，通常 1 个工作日内完成{by}，无需操作",
            f"A filing specialist reviews it, usually within one working day{by_en}; nothing to do",
        )
    if step.code == "wait_delivery":
        return (
            "初审已通过，正在提交管局，无需操作",
            "The review passed; it is being submitted to the bureau. Nothing to do",
        )
    if step.code == "verify_sms":
        when = _local(step.deadline) if step.deadline else "有效期"
        return (
            f"负责人须在 {when} 前完成短信核验（管局短信中的核验码，在管局核验页面提交），逾期申请将失效",
            f"The principals must confirm the bureau's SMS code by {when} (China time) on the "
            "bureau's verification page, or the application expires",
        )
    if step.code == "wait_bureau_review":
        low, high = step.review_days
        if step.window:
            span = f"预计于 {step.window.earliest} 至 {step.window.latest} 之间作出决定（{low}–{high} 个工作日）"
            span_en = f"a decision is expected between {step.window.earliest} and {step.window.latest} "
            span_en += f"({low}–{high} working days)"
        else:
            span = f"预计 {low}–{high} 个工作日内作出决定"
            span_en = f"a decision is expected within {low}–{high} working days"
        note = note_en = ""
        if step.window and step.window.calendar_provisional:
            note = "；相关年度的节假日安排尚未公布，日期按周末估算，可能顺延"
            note_en = "; the holiday calendar of that year is not published yet, so the dates may move"
        return (
            f"管局审核中，{span}{note}，无需操作",
            f"The bureau is reviewing it: {span_en}{note_en}. Nothing to do",
        )
    if step.code == "done":
        shown = "，".join(step.numbers)
        return (
            f"管局已通过{kind.name}申请" + (f"：{shown}" if shown else ""),
            f"The bureau approved the {kind.name_en.lower()}"
            + (f": {', '.join(step.numbers)}" if step.numbers else ""),
        )
    if step.outcome == S.REJECTED:
        return (
            f"管局驳回：{step.reason or '见驳回原因'}。可复制本申请，修改后重新提交",
            f"The bureau rejected it: {step.reason or 'see the reason'}. Copy it, fix it and submit again",
        )
    if step.outcome == S.EXPIRED:
        return (
            "未在期限内完成短信核验，申请已失效。可复制本申请后重新提交",
            "The SMS verification was not completed in time and the application expired. Copy it and submit again",
        )
    if step.outcome == S.WITHDRAWN:
        return "申请已撤回；如需办理，可复制本申请后重新提交", "Withdrawn; copy it to start again"
    if step.outcome == S.ABANDONED:
        return "申请已放弃", "Abandoned"
    return "", ""
