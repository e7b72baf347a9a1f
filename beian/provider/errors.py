"""The provider side's error type: stable codes, Chinese and English, field-level errors."""

from __future__ import annotations

from beian.core.errors import Problem

CODES: dict[str, tuple[int, str, str]] = {
    "malformed_request": (400, "请求格式不正确", "The request is malformed"),
    "unauthorized": (401, "请先登录", "Sign in first"),
    "forbidden": (403, "无权执行此操作", "Not allowed"),
    "not_found": (404, "未找到", "Not found"),
    "transition_not_allowed": (409, "当前状态不允许此操作", "Not allowed in the current state"),
    "application_changed": (409, "申请已被同时修改，请刷新后重试", "The application changed meanwhile; reload"),
    "delivery_in_progress": (409, "申请正在提交管局，请稍后再试", "The application is being delivered; retry shortly"),
    "payload_too_large": (413, "请求内容过大", "The request body is too large"),
    "validation_failed": (422, "提交的信息有误", "Some fields are invalid"),
    "bureau_unavailable": (503, "管局系统暂不可用，请稍后重试", "The bureau is unavailable; retry later"),
}


class ProviderError(Problem):
    CODES = CODES
