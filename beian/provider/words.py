"""The words of the provider's pages (/portal/ and /console/): labels, names and explanations, in
Chinese through gettext (so an English catalogue can follow), and the rules that turn a stored
value or a field path into what a person reads.

Names of things that have a table elsewhere come from that table: an operation type's name from the
catalogue, a state's from the model's choices, a unit or certificate type's from the validators.
What is here is what only the pages say.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from beian import language
from beian.core import provinces
from beian.core import validators as v
from beian.core.catalogue import Serving, Subject, Verb
from beian.core.errors import Invalid
from beian.provider import rules
from beian.provider.models import Application

S = Application.State


# The page's language and a core table entry's name in it: one rule for both sides (`beian.language`).
english = language.english
named = language.named


def say(error) -> str:
    """A core or service error (an `Invalid`, a `FieldError` or its dict) in the page's language."""
    if isinstance(error, dict):
        zh, en = str(error.get("message") or ""), str(error.get("message_en") or "")
    else:
        zh, en = getattr(error, "message", "") or "", getattr(error, "message_en", "") or ""
    return language.say(zh, en)


def type_name(code: str) -> str:
    """An operation type by the catalogue's name for it."""
    try:
        return named(rules.operation_type(code))
    except KeyError:
        return code


def state_label(code: str) -> str:
    return str(S(code).label) if code in S.values else code


# The badge colour of each state: what needs the customer (warn), what went wrong (bad), done (ok).
STATE_BADGES = {
    S.DRAFT: "warn",
    S.RETURNED: "warn",
    S.AWAITING_VERIFICATION: "warn",
    S.APPROVED: "ok",
    S.REJECTED: "bad",
    S.EXPIRED: "bad",
    S.WITHDRAWN: "muted",
    S.ABANDONED: "muted",
}

# The catalogue's grid by its rows: the portal groups the nine types this way.
VERB_TITLES = {
    Verb.NEW: _("新增备案"),
    Verb.CHANGE: _("变更备案"),
    Verb.CANCEL: _("注销备案与取消接入"),
}

# What an operation that stops serving does, by when it stops and what it acts on (R11).
STOPS_SERVING = {
    (Serving.STOPS_AT_SUBMISSION, Subject.ACCESS): _(
        "提交后以下域名立即停止在本平台访问；网站备案号保留。请尽快在其他接入商处办理接入，"
        "否则网站将成为空壳网站，宽限期后会被管局注销。"
    ),
    (Serving.STOPS_AT_APPROVAL, Subject.WEBSITE): _(
        "管局审核通过后，该网站备案号被注销且不可恢复，以下域名停止访问；同一主体下的其他网站不受影响。"
    ),
    (Serving.STOPS_AT_APPROVAL, Subject.ENTITY): _(
        "管局审核通过后，该主体及其下所有网站的备案号被注销且不可恢复，以下域名全部停止访问。"
    ),
}
STOPS_SERVING_OTHERWISE = _("以下域名将停止在本平台访问。")

SECTION_TITLES = {
    "entity_number": _("备案主体"),
    "website_number": _("备案网站"),
    "entity": _("主体信息"),
    "website": _("网站信息"),
    "access": _("接入信息"),
}
PRINCIPAL_TITLES = {"entity": _("主体负责人"), "website": _("网站负责人")}
LABELS = {
    "type": _("申请类型"),
    "entity_number": _("主体备案号"),
    "website_number": _("网站备案号"),
    "entity.unit_type": _("单位性质"),
    "entity.name": _("主体名称"),
    "entity.cert_type": _("主体证件类型"),
    "entity.cert_number": _("主体证件号码"),
    "entity.province": _("所在省份"),
    "entity.address": _("通信地址"),
    "website.name": _("网站名称"),
    "website.domains": _("网站域名"),
    "website.home_url": _("首页地址"),
    "access.ips": _("服务器 IP 地址"),
    "filing_password": _("备案密码"),
    "confirm_irreversible": _("确认"),
    "reason": _("驳回说明"),
}
PRINCIPAL_LABELS = {
    "name": _("姓名"),
    "id_type": _("证件类型"),
    "id_number": _("证件号码"),
    "mobile": _("手机号码"),
    "email": _("电子邮箱"),
}

ACCESS_STATES = {
    "provisional": _("转入中"),
    "active": _("接入中"),
    "ended": _("已取消接入"),
    "": _("未在本平台接入"),
}
ACCESS_NOT_APPROVED = _("转入未获管局通过")
FILING_STATUSES = {"active": _("已备案"), "deregistered": _("已注销")}

# The lists' filters (`beian.provider.listing`): groups of application states, and filing states.
STATE_GROUP_NAMES = {
    "action": _("需要我处理"),
    "drafts": _("草稿和被退回的"),
    "open": _("进行中"),
    "finished": _("已结束"),
    "current": _("未结束"),
}
FILING_STATE_NAMES = {
    "active": _("已备案"),
    "served": _("在本平台接入中"),
    "at_risk": _("空壳风险"),
    "deregistered": _("已注销"),
}


def stripped(path: str) -> str:
    """A field path without list positions: `website.domains.0` → `website.domains`."""
    return ".".join(part for part in str(path).split(".") if part and not part.isdigit())


def form_name(path: str) -> str:
    return stripped(path).replace(".", "-")


def label_of(path: str) -> str:
    key = stripped(path)
    parts = key.split(".")
    if key in LABELS:
        return str(LABELS[key])
    if len(parts) == 3 and parts[1] == "principal" and parts[0] in PRINCIPAL_TITLES:
        return f"{PRINCIPAL_TITLES[parts[0]]} · {PRINCIPAL_LABELS.get(parts[2], parts[2])}"
    if len(parts) == 2 and parts[1] == "principal" and parts[0] in PRINCIPAL_TITLES:
        return str(PRINCIPAL_TITLES[parts[0]])
    if key in SECTION_TITLES:
        return str(SECTION_TITLES[key])
    return key or str(_("申请"))


def display_value(key: str, value) -> str:
    """A stored value as a person reads it: codes by their names, lists one per line."""
    if value is None or value == "" or value == []:
        return ""
    if isinstance(value, list):
        return "\n".join(str(item) for item in value)
    if isinstance(value, dict):
        return "；".join(f"{k}: {item}" for k, item in value.items())
    text = str(value)
    if key == "unit_type" and text in v.UNIT_TYPES:
        return named(v.UNIT_TYPES[text])
    if key in ("cert_type", "id_type") and text in v.CERT_TYPES:
        return named(v.CERT_TYPES[text])
    if key == "province":
        try:
            return named(provinces.lookup(text))
        except Invalid:
            return text
    return text
