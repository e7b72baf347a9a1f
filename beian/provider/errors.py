"""The provider side's error type: stable codes, Chinese and English, field-level errors."""

from __future__ import annotations

from beian.core.errors import Problem

CODES: dict[str, tuple[int, str, str]] = {
    "malformed_request": (400, "请求格式不正确", "The request is malformed"),
    "unauthorized": (401, "请先登录", "Sign in first"),
    "token_invalid": (401, "API 令牌无效", "The API token is not valid"),
    "token_revoked": (401, "API 令牌已撤销", "The API token has been revoked"),
    "token_expired": (401, "API 令牌已过期", "The API token has expired"),
    "account_inactive": (401, "账户已停用", "The account is disabled"),
    "forbidden": (403, "无权执行此操作", "Not allowed"),
    "not_found": (404, "未找到", "Not found"),
    "transition_not_allowed": (409, "当前状态不允许此操作", "Not allowed in the current state"),
    "application_changed": (409, "申请已被同时修改，请刷新后重试", "The application changed meanwhile; reload"),
    "token_limit_reached": (409, "API 令牌数量已达上限", "Too many API tokens"),
    "delivery_in_progress": (409, "申请正在提交管局，请稍后再试", "The application is being delivered; retry shortly"),
    "payload_too_large": (413, "请求内容过大", "The request body is too large"),
    "validation_failed": (422, "提交的信息有误", "Some fields are invalid"),
    "rate_limited": (429, "请求过于频繁，请稍后再试", "Too many requests; retry later"),
    "bureau_unavailable": (503, "管局系统暂不可用，请稍后重试", "The bureau is unavailable; retry later"),
}


class ProviderError(Problem):
    CODES = CODES
