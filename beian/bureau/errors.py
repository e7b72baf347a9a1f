"""One error type with stable codes (as Boulder has). It becomes an HTTP problem document only at
the edge; the service layer raises it and changes nothing."""

from __future__ import annotations

from beian.core.errors import FieldError, Problem

# code → (HTTP status, 中文, English)
CODES: dict[str, tuple[int, str, str]] = {
    "malformed_request": (400, "请求格式不正确", "The request is malformed"),
    "unauthorized": (401, "缺少或无效的接入商凭据", "Missing or invalid provider credentials"),
    "forbidden": (403, "无权执行此操作", "Not allowed"),
    "not_accessed_here": (403, "该网站未在本接入商接入", "The website is not accessed with this provider"),
    "filing_password_wrong": (403, "备案密码不正确", "The filing password is wrong"),
    "not_found": (404, "未找到", "Not found"),
    "entity_busy": (409, "该主体有正在办理的备案操作（主办者冲突）", "The entity has an open operation"),
    "domain_busy": (409, "域名有正在办理的备案操作（域名冲突）", "A domain has an open operation"),
    "idempotency_key_reused": (
        409,
        "幂等键已用于另一内容不同的请求",
        "The idempotency key was already used for a different request",
    ),
    "transition_not_allowed": (409, "当前状态不允许此操作", "Not allowed in the current state"),
    "operation_changed": (
        409,
        "操作已被同时修改，请刷新后重试",
        "The operation changed meanwhile; reload and retry",
    ),
    # miit2020: the rule set has no filing password, so there is none to recover (S23).
    "no_filing_password": (
        410,
        "当前规则下没有备案密码，无需找回；转入备案和注销以短信核验确认",
        "These rules have no filing password, so there is none to recover; transfer-in and cancellations "
        "are confirmed by SMS verification",
    ),
    # Claims of filings already accessed here (`beian.bureau.claims`).
    "claim_expired": (410, "认领核验码已过期", "The claim's code has expired"),
    "claim_locked": (423, "认领已锁定", "The claim is locked"),
    "claims_exhausted": (429, "认领核验码发送次数已达上限", "Too many claim codes were sent"),
    "payload_too_large": (413, "请求内容过大", "The request body is too large"),
    "unsupported_media_type": (415, "请求须为 JSON", "The request body must be JSON"),
    "validation_failed": (422, "提交的信息有误", "Some fields are invalid"),
    "filing_password_locked": (
        429,
        "备案密码错误次数过多，请稍后再试或找回密码",
        "Too many wrong filing passwords; try later or recover the password",
    ),
    "rate_limited": (429, "请求过于频繁，请稍后再试", "Too many requests; try again later"),
    "bureau_unavailable": (503, "管局系统暂不可用，请稍后重试", "The bureau is unavailable; retry later"),
    "simulation_disabled": (404, "模拟接口未启用", "The simulation interface is not enabled"),
}


class BureauError(Problem):
    CODES = CODES


def field_error(code: str, field: str, field_code: str, message: str, message_en: str) -> BureauError:
    return BureauError(
        code,
        detail=message,
        detail_en=message_en,
        errors=[FieldError(field, field_code, message, message_en)],
    )
