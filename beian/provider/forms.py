"""The words and forms of the provider's HTML pages (/portal/ and /console/).

Forms check what a person typed field by field with the same validators the bureau uses
(`beian.core.validators`), so every error is said next to its field, in Chinese; the rules of a
whole application stay in `beian.core.filing.check` and the service modules, whose field errors are
mapped back onto the form by their dotted path (`website.domains.0` → the field `website-domains`).

A form field's name is the data path with dashes: `entity-principal-mobile` is
`data["entity"]["principal"]["mobile"]`. The same rule names the reason boxes of the console
(`reason-website-name`) and the ids of the data rows on the pages (`field-website-name`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django import forms
from django.conf import settings
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.models import User
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from beian.core import filing, numbers, provinces
from beian.core import validators as v
from beian.core.catalogue import OPERATION_CODES, rule_set
from beian.core.errors import FieldError, Invalid, ValidationFailed
from beian.provider import review
from beian.provider.models import Application, FiledEntity, FiledWebsite

S = Application.State

# ---------------------------------------------------------------- words


def english() -> bool:
    return (get_language() or "").startswith("en")


def say(error) -> str:
    """A core or service error (an `Invalid`, a `FieldError` or its dict) in the page's language."""
    if isinstance(error, dict):
        zh, en = str(error.get("message") or ""), str(error.get("message_en") or "")
    else:
        zh, en = getattr(error, "message", "") or "", getattr(error, "message_en", "") or ""
    return (en or zh) if english() else (zh or en)


def named(item) -> str:
    """A core table entry (unit type, certificate type, province, operation type) by its name."""
    return item.name_en if english() else item.name


STATE_LABELS = {
    S.DRAFT: _("待完善信息"),
    S.SUBMITTED: _("待初审"),
    S.PROVIDER_REVIEW: _("初审中"),
    S.RETURNED: _("初审驳回待修改"),
    S.DELIVERED: _("待提交管局"),
    S.AWAITING_VERIFICATION: _("待短信核验"),
    S.BUREAU_REVIEW: _("管局审核中"),
    S.APPROVED: _("已备案"),
    S.REJECTED: _("管局驳回"),
    S.WITHDRAWN: _("已撤回"),
    S.ABANDONED: _("已放弃"),
    S.EXPIRED: _("已过期"),
}

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

TYPE_NAMES = {
    "new_filing": _("首次备案"),
    "new_website": _("新增网站"),
    "transfer_in": _("转入备案"),
    "change_entity": _("变更主体"),
    "change_website": _("变更网站"),
    "change_access": _("变更接入"),
    "cancel_entity": _("注销主体"),
    "cancel_website": _("注销网站"),
    "cancel_access": _("取消接入"),
}

# One line each: when to choose this type.
TYPE_HELP = {
    "new_filing": _("主体和网站都从未备案过：第一次办理备案，同时备案主体和一个网站"),
    "new_website": _("主体已有备案号：为它再备案一个新网站（新域名）"),
    "transfer_in": _("网站已在其他接入商处备案：把接入转到本平台，备案号不变"),
    "change_entity": _("主体信息有变化，如通信地址、负责人；名称或证件号码变更前请先咨询备案专员"),
    "change_website": _("网站信息有变化，如网站名称、负责人、首页地址，或删除域名"),
    "change_access": _("网站仍在本平台，但服务器 IP 等接入信息有变化"),
    "cancel_entity": _("注销主体及其下所有网站的备案，备案号作废且不可恢复"),
    "cancel_website": _("注销一个网站的备案，主体和其他网站不受影响，备案号作废且不可恢复"),
    "cancel_access": _("网站不再由本平台接入，提交即停止访问；备案号保留，可在其他接入商处接入"),
}

TYPE_GROUPS = (
    (_("新增备案"), ("new_filing", "new_website", "transfer_in")),
    (_("变更备案"), ("change_entity", "change_website", "change_access")),
    (_("注销备案与取消接入"), ("cancel_entity", "cancel_website", "cancel_access")),
)

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
FILING_STATUSES = {"active": _("已备案"), "deregistered": _("已注销")}

ENTITY_KEYS = ("unit_type", "name", "cert_type", "cert_number", "province", "address")
WEBSITE_KEYS = ("name", "domains", "home_url")
ACCESS_KEYS = ("ips",)
PRINCIPAL_KEYS = ("name", "id_type", "id_number", "mobile", "email")
_KEYS = {"entity": ENTITY_KEYS, "website": WEBSITE_KEYS, "access": ACCESS_KEYS}


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


def type_name(code: str) -> str:
    return str(TYPE_NAMES.get(code, code))


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


# ---------------------------------------------------------------- an application's data as rows


@dataclass
class Row:
    """One field of an application's data, with what was said about it."""

    path: str
    value: str
    reasons: list[str] = field(default_factory=list)  # from a return, by the specialist or the bureau
    errors: list[str] = field(default_factory=list)  # from the last submission attempt

    @property
    def label(self) -> str:
        return label_of(self.path)

    @property
    def dom_id(self) -> str:
        return "field-" + form_name(self.path)

    @property
    def reason_name(self) -> str:
        return "reason-" + form_name(self.path)

    @property
    def flagged(self) -> bool:
        return bool(self.reasons or self.errors)


def data_rows(op_type: str, data: dict) -> list[Row]:
    """Every field of the operation's sections, in the form's order. A full section lists every
    field, given or not; a change section lists only what changes."""
    rows: list[Row] = []
    data = data if isinstance(data, dict) else {}
    for key, kind in filing.SECTIONS.get(op_type, {}).items():
        section = data.get(key)
        if kind in ("entity_number", "website_number"):
            rows.append(Row(key, display_value(key, section)))
            continue
        section = section if isinstance(section, dict) else {}
        base = kind.removesuffix("_changes")
        changes = kind.endswith("_changes")
        keys = list(_KEYS[base])
        if changes:
            keys = [k for k in keys if section.get(k) not in (None, "", [])]
            keys += [k for k in section if k not in _KEYS[base] and k != "principal" and section[k] is not None]
        for k in keys:
            rows.append(Row(f"{key}.{k}", display_value(k, section.get(k))))
        if base != "access":
            person = section.get("principal")
            if not changes or isinstance(person, dict):
                person = person if isinstance(person, dict) else {}
                for k in PRINCIPAL_KEYS:
                    rows.append(Row(f"{key}.principal.{k}", display_value(k, person.get(k))))
    return rows


def attach(rows: list[Row], items, *, to: str = "reasons") -> list[str]:
    """Put each field reason (or error) on its row; returns those that match no row, labelled."""
    by_path = {row.path: row for row in rows}
    loose: list[str] = []
    for item in items or []:
        path = item.get("field", "") if isinstance(item, dict) else getattr(item, "field", "")
        text = say(item)
        row = by_path.get(stripped(path))
        if row is not None:
            getattr(row, to).append(text)
        elif path:
            loose.append(f"{label_of(path)}：{text}")
        else:
            loose.append(text)
    return loose


def subject(data: dict) -> str:
    """What an application is about, in a few words: a number, a domain or a name."""
    data = data if isinstance(data, dict) else {}
    for key in ("website_number", "entity_number"):
        if isinstance(data.get(key), str) and data[key]:
            return data[key]
    site = data.get("website") if isinstance(data.get("website"), dict) else {}
    if isinstance(site.get("domains"), list) and site["domains"]:
        return "、".join(str(d) for d in site["domains"][:3])
    entity = data.get("entity") if isinstance(data.get("entity"), dict) else {}
    return str(entity.get("name") or "")


# ---------------------------------------------------------------- whose filings an application may act on


def own_entities(owner):
    return FiledEntity.objects.filter(owner=owner, status="active").order_by("number")


def own_websites(owner):
    return (
        FiledWebsite.objects.filter(entity__owner=owner, status="active")
        .select_related("entity")
        .prefetch_related("domains")
        .order_by("number")
    )


def _entity_choices(owner) -> list[tuple[str, str]]:
    return [(e.number, f"{e.number} {e.name}") for e in own_entities(owner)]


def _website_choices(owner) -> list[tuple[str, str]]:
    return [(w.number, f"{w.number} {w.name}") for w in own_websites(owner)]


# Operations that act on an access this provider has: the website must be served here now.
NEEDS_ACCESS_HERE = ("change_access", "cancel_access")
LIVE_ACCESS = ("active", "provisional")


def _target_errors(op_type: str, owner, number: str) -> str | None:
    """Why the customer's chosen website cannot be the target of this type, if it cannot."""
    if op_type in NEEDS_ACCESS_HERE:
        live = FiledWebsite.objects.filter(number=number, entity__owner=owner, access_state__in=LIVE_ACCESS).exists()
        if not live:
            return str(_("该网站当前未在本平台接入，不能办理此业务"))
    return None


def _text(label, max_length: int, **kwargs) -> forms.CharField:
    kwargs.setdefault("required", False)
    return forms.CharField(
        label=label,
        max_length=max_length,
        error_messages={
            "required": _("此项为必填项"),
            "max_length": _("内容过长（最多 %(limit_value)d 个字符）"),
        },
        **kwargs,
    )


def _choice(label, choices, *, blank=None, **kwargs) -> forms.ChoiceField:
    kwargs.setdefault("required", False)
    return forms.ChoiceField(
        label=label,
        choices=([("", blank)] if blank is not None else []) + list(choices),
        error_messages={"required": _("请选择"), "invalid_choice": _("请从列表中选择")},
        **kwargs,
    )


def _lines(text: str | None) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


UNIT_CHOICES = [(u.code, u.name) for u in v.UNIT_TYPES.values()]
CERT_CHOICES = [(c.code, c.name) for c in v.CERT_TYPES.values()]
PERSON_ID_CHOICES = [(code, v.CERT_TYPES[code].name) for code in v.PERSON_ID_TYPES]
PROVINCE_CHOICES = [(p.code, f"{p.name}（{p.short}）") for p in provinces.PROVINCES]
# unit type → the certificate types it files with, for the page's select filter.
UNIT_CERT_TYPES = {u.code: list(u.cert_types) for u in v.UNIT_TYPES.values()}
LINES_MAX = 50


# ---------------------------------------------------------------- new application: the type and its target


class NewApplicationForm(forms.Form):
    """Step 1: which of the nine types, and for changes and cancellations which of the customer's
    own filings. The draft starts with that number in its data."""

    type = forms.ChoiceField(
        label=_("申请类型"),
        choices=[(code, TYPE_NAMES[code]) for code in OPERATION_CODES],
        error_messages={"required": _("请选择申请类型"), "invalid_choice": _("请选择有效的申请类型")},
    )
    entity = _choice(_("备案主体"), [], blank=_("请选择您名下的主体"))
    website = _choice(_("备案网站"), [], blank=_("请选择您名下的网站"))
    transfer_number = _text(
        _("网站备案号"),
        60,
        help_text=_("网站在其他接入商处的备案号，如 粤ICP备2024012345号-1"),
        widget=forms.TextInput(attrs={"placeholder": "粤ICP备2024012345号-1"}),
    )

    def __init__(self, *args, owner, **kwargs):
        kwargs.setdefault("auto_id", "new-%s")
        super().__init__(*args, **kwargs)
        self.owner = owner
        self.fields["entity"].choices = [("", _("请选择您名下的主体")), *_entity_choices(owner)]
        self.fields["website"].choices = [("", _("请选择您名下的网站")), *_website_choices(owner)]
        self.draft_data: dict = {}

    def clean(self):
        data = super().clean()
        op_type = data.get("type")
        if not op_type:
            return data
        sections = filing.SECTIONS[op_type]
        if "entity_number" in sections:
            if not data.get("entity"):
                self.add_error("entity", _("请选择要办理此业务的主体"))
            else:
                self.draft_data = {"entity_number": data["entity"]}
        elif "website_number" in sections and op_type == "transfer_in":
            text = data.get("transfer_number", "").strip()
            if not text:
                self.add_error("transfer_number", _("请填写要转入的网站备案号"))
            else:
                try:
                    parsed = numbers.parse(text)
                except Invalid as exc:
                    self.add_error("transfer_number", say(exc))
                else:
                    if parsed.website is None:
                        self.add_error("transfer_number", _("请填写网站备案号（带 -N），而不是主体备案号"))
                    else:
                        self.draft_data = {"website_number": str(parsed)}
        elif "website_number" in sections:
            number = data.get("website")
            if not number:
                self.add_error("website", _("请选择要办理此业务的网站"))
            elif (problem := _target_errors(op_type, self.owner, number)) is not None:
                self.add_error("website", problem)
            else:
                self.draft_data = {"website_number": number}
        return data


# ---------------------------------------------------------------- the guided form of one application


@dataclass
class Group:
    key: str
    title: str
    names: list[str]
    note: str = ""


class ApplicationForm(forms.Form):
    """Every section of one application type (`filing.SECTIONS`), field by field. In a draft any
    field may still be empty, but what is filled in must be right: a wrong value is refused with
    its reason and nothing is saved. `check_complete()` then asks `filing.check` whether the whole
    application is ready to submit."""

    # Which button: "save" keeps a draft; "review" also checks that the application is complete.
    action = forms.CharField(required=False, max_length=20)

    def __init__(self, *args, app: Application, **kwargs):
        kwargs.setdefault("auto_id", "%s")  # ids are the field names: `website-name`
        super().__init__(*args, **kwargs)
        self.app = app
        self.owner = app.owner
        self.layout = filing.SECTIONS[app.type]
        self.max_domains = rule_set(settings.BEIAN_RULE_SET).max_domains_per_website
        self.groups: list[Group] = []
        self.data_out: dict = {}
        for key, kind in self.layout.items():
            getattr(self, f"_add_{kind}")(key)
        self.initial.update(self._initial(app.data if isinstance(app.data, dict) else {}))
        self.reasons: dict[str, list[str]] = {}
        self.loose_reasons: list[str] = []
        for item in app.field_reasons or []:
            name = form_name(item.get("field", ""))
            if name in self.fields:
                self.reasons.setdefault(name, []).append(say(item))
            else:
                self.loose_reasons.append(f"{label_of(item.get('field', ''))}：{say(item)}")

    # ------------------------------------------------------------ fields

    def _add(self, group: Group, name: str, form_field: forms.Field) -> None:
        self.fields[name] = form_field
        group.names.append(name)

    def _group(self, key: str, title, note="") -> Group:
        group = Group(key, str(title), [], str(note))
        self.groups.append(group)
        return group

    def _add_entity_number(self, key: str) -> None:
        group = self._group(key, SECTION_TITLES[key])
        self._add(group, key, _choice(LABELS[key], _entity_choices(self.owner), blank=_("请选择您名下的主体")))

    def _add_website_number(self, key: str) -> None:
        group = self._group(key, SECTION_TITLES[key])
        if self.app.type == "transfer_in":
            self._add(
                group,
                key,
                _text(
                    LABELS[key],
                    60,
                    help_text=_("网站在其他接入商处的备案号，如 粤ICP备2024012345号-1"),
                ),
            )
        else:
            self._add(group, key, _choice(LABELS[key], _website_choices(self.owner), blank=_("请选择您名下的网站")))

    def _add_entity(self, key: str, *, changes: bool = False) -> None:
        note = _("只填写需要变更的项目，未填写的保持不变；主体所在省份不能变更（需注销后重新备案）") if changes else ""
        group = self._group(key, SECTION_TITLES[key], note)
        keep = _("不变更") if changes else _("请选择")
        current = self._target_entity() if changes else None
        self._add(group, f"{key}-unit_type", _choice(LABELS["entity.unit_type"], UNIT_CHOICES, blank=keep))
        self._add(
            group,
            f"{key}-name",
            _text(
                LABELS["entity.name"],
                120,
                help_text=(
                    _("当前：%(value)s") % {"value": current.name} if current else _("单位全称或个人姓名，与证件一致")
                ),
            ),
        )
        self._add(group, f"{key}-cert_type", _choice(LABELS["entity.cert_type"], CERT_CHOICES, blank=keep))
        self._add(group, f"{key}-cert_number", _text(LABELS["entity.cert_number"], 40))
        if not changes:
            self._add(group, f"{key}-province", _choice(LABELS["entity.province"], PROVINCE_CHOICES, blank=keep))
        self._add(group, f"{key}-address", _text(LABELS["entity.address"], 250))
        self._add_principal(key, changes=changes)

    def _add_entity_changes(self, key: str) -> None:
        self._add_entity(key, changes=True)

    def _add_principal(self, key: str, *, changes: bool = False, same: bool = False) -> None:
        note = _("如需变更负责人，请完整填写新负责人的全部信息") if changes else ""
        group = self._group(f"{key}.principal", PRINCIPAL_TITLES[key], note)
        if same:
            self._add(
                group,
                f"{key}-principal-same",
                forms.BooleanField(label=_("网站负责人与主体负责人相同"), required=False),
            )
        p = f"{key}-principal"
        self._add(group, f"{p}-name", _text(PRINCIPAL_LABELS["name"], 40))
        self._add(group, f"{p}-id_type", _choice(PRINCIPAL_LABELS["id_type"], PERSON_ID_CHOICES, blank=_("请选择")))
        self._add(group, f"{p}-id_number", _text(PRINCIPAL_LABELS["id_number"], 40))
        self._add(
            group,
            f"{p}-mobile",
            _text(PRINCIPAL_LABELS["mobile"], 20, help_text=_("管局的短信核验码和备案密码将发送到此号码")),
        )
        self._add(group, f"{p}-email", _text(PRINCIPAL_LABELS["email"], 254))

    def _add_website(self, key: str, *, changes: bool = False) -> None:
        current = self._target_website() if changes else None
        note = _("只填写需要变更的项目，未填写的保持不变") if changes else ""
        group = self._group(key, SECTION_TITLES[key], note)
        limit = self.max_domains

        def now(value):
            return _("当前：%(value)s") % {"value": value} if current else ""

        self._add(
            group,
            f"{key}-name",
            _text(
                LABELS["website.name"],
                60,
                help_text=now(current.name if current else "")
                or _("能说明网站内容的中文名称，不能是域名或纯英文、数字"),
            ),
        )
        domains_help = (
            _("每行一个。变更时只能删除域名，不能新增或替换（新增域名请办理新增网站）；当前：%(value)s")
            % {"value": "、".join(self._current_domains())}
            if current
            else _("每行一个注册域名，如 example.cn；其子域名随之备案")
        )
        if limit and not current:
            domains_help = f"{domains_help}{_('（每个网站最多 %(n)d 个）') % {'n': limit}}"
        self._add(
            group,
            f"{key}-domains",
            _text(LABELS["website.domains"], 5000, help_text=domains_help, widget=forms.Textarea(attrs={"rows": 3})),
        )
        self._add(
            group,
            f"{key}-home_url",
            _text(
                LABELS["website.home_url"],
                300,
                help_text=now(current.home_url if current else "")
                or _("如 https://www.example.cn/；留空则为第一个域名的首页"),
            ),
        )
        self._add_principal(key, changes=changes, same=not changes and "entity" in self.layout)

    def _add_website_changes(self, key: str) -> None:
        self._add_website(key, changes=True)

    def _add_access(self, key: str) -> None:
        group = self._group(key, SECTION_TITLES[key])
        current = self._target_website() if self.app.type == "change_access" else None
        help_text = _("每行一个公网 IP（IPv4 或 IPv6）")
        if current is not None and current.ips:
            help_text = f"{help_text}；{_('当前：%(value)s') % {'value': '、'.join(current.ips)}}"
        self._add(
            group,
            f"{key}-ips",
            _text(LABELS["access.ips"], 2000, help_text=help_text, widget=forms.Textarea(attrs={"rows": 2})),
        )

    # ------------------------------------------------------------ the application's target in the mirror

    def _target_number(self, source: dict | None = None) -> tuple[str, str]:
        """(entity number, website number) the application acts on, as far as known."""
        if source is None:
            source = self.data if self.is_bound else self.app.data
            source = {k: source.get(k) for k in ("entity_number", "website_number")}
        entity = str(source.get("entity_number") or "")
        website = str(source.get("website_number") or "")
        return entity, website

    def _target_entity(self) -> FiledEntity | None:
        entity, website = self._target_number()
        if website:
            found = FiledWebsite.objects.filter(number=website, entity__owner=self.owner).select_related("entity")
            site = found.first()
            return site.entity if site else None
        if entity:
            return FiledEntity.objects.filter(number=entity, owner=self.owner).first()
        return None

    def _target_website(self) -> FiledWebsite | None:
        _, website = self._target_number()
        if not website:
            return None
        return FiledWebsite.objects.filter(number=website, entity__owner=self.owner).first()

    def _current_domains(self) -> list[str]:
        site = self._target_website()
        return sorted(site.domains.values_list("name", flat=True)) if site else []

    def target_unit_type(self) -> str | None:
        entity = self._target_entity()
        return entity.unit_type if entity else None

    # ------------------------------------------------------------ initial values from stored data

    def _initial(self, data: dict) -> dict:
        initial: dict = {}

        def put(name: str, value) -> None:
            if name in self.fields and value not in (None, ""):
                initial[name] = "\n".join(str(x) for x in value) if isinstance(value, list) else str(value)

        for key, kind in self.layout.items():
            section = data.get(key)
            if kind in ("entity_number", "website_number"):
                put(key, section)
                continue
            if not isinstance(section, dict):
                section = {}
            for k, value in section.items():
                if k == "principal" and isinstance(value, dict):
                    for pk, pv in value.items():
                        put(f"{key}-principal-{pk}", pv)
                else:
                    put(f"{key}-{k}", value)
        if "website-principal-same" in self.fields:
            entity_p = (data.get("entity") or {}).get("principal") if isinstance(data.get("entity"), dict) else None
            site_p = (data.get("website") or {}).get("principal") if isinstance(data.get("website"), dict) else None
            same = (not site_p) or (bool(entity_p) and site_p == entity_p)
            initial["website-principal-same"] = same
            if same:
                for k in PRINCIPAL_KEYS:
                    initial.pop(f"website-principal-{k}", None)
        return initial

    # ------------------------------------------------------------ cleaning

    def _valid(self, name: str, check, *args, **kwargs):
        value = self.cleaned_data.get(name)
        if value in (None, ""):
            return None
        try:
            return check(value, *args, **kwargs)
        except Invalid as exc:
            self.add_error(name, say(exc))
            return None

    def _check_certificate(self, type_name: str, number_name: str, unit) -> None:
        cert_type = self.cleaned_data.get(type_name)
        number = self.cleaned_data.get(number_name)
        if cert_type and unit is not None and cert_type not in unit.cert_types:
            allowed = "、".join(named(v.CERT_TYPES[c]) for c in unit.cert_types)
            self.add_error(
                type_name,
                _("单位性质为%(unit)s时，证件类型只能是：%(allowed)s") % {"unit": named(unit), "allowed": allowed},
            )
            return
        if number and not cert_type:
            self.add_error(type_name, _("请选择证件类型"))
            return
        if number and cert_type:
            self._valid(number_name, lambda text: v.certificate(cert_type, text, unit_type=unit.code if unit else None))

    def _principal(self, key: str) -> dict:
        p = f"{key}-principal"
        self._valid(f"{p}-name", v.person_name)
        self._check_certificate(f"{p}-id_type", f"{p}-id_number", None)
        self._valid(f"{p}-mobile", v.mobile)
        self._valid(f"{p}-email", v.email)
        return {k: self.cleaned_data.get(f"{p}-{k}") for k in PRINCIPAL_KEYS if self.cleaned_data.get(f"{p}-{k}")}

    def _clean_entity_number(self, key: str) -> None:
        if self.cleaned_data.get(key):
            self.data_out[key] = self.cleaned_data[key]

    def _clean_website_number(self, key: str) -> None:
        value = self.cleaned_data.get(key)
        if not value:
            return
        if self.app.type != "transfer_in":
            problem = _target_errors(self.app.type, self.owner, value)
            if problem is not None:
                self.add_error(key, problem)
                return
            self.data_out[key] = value
            return
        try:
            parsed = numbers.parse(value)
        except Invalid as exc:
            self.add_error(key, say(exc))
            return
        if parsed.website is None:
            self.add_error(key, _("请填写网站备案号（带 -N），而不是主体备案号"))
            return
        self.data_out[key] = str(parsed)

    def _clean_entity(self, key: str, *, changes: bool = False) -> None:
        c = self.cleaned_data
        current = self._target_entity() if changes else None
        unit_code = c.get(f"{key}-unit_type") or (current.unit_type if current else None)
        unit = v.UNIT_TYPES.get(unit_code or "")
        if unit is not None:
            self._valid(f"{key}-name", v.person_name if unit.individual else v.organisation_name)
        self._check_certificate(f"{key}-cert_type", f"{key}-cert_number", unit)
        address = c.get(f"{key}-address")
        if address and not 4 <= len(address) <= 200:
            self.add_error(f"{key}-address", _("通信地址应为 4 至 200 个字符"))
        section = {k: c.get(f"{key}-{k}") for k in ENTITY_KEYS if c.get(f"{key}-{k}")}
        if current is not None:
            # Only what changes: a value equal to the filing's is no change.
            if section.get("name") == current.name:
                section.pop("name")
            if section.get("unit_type") == current.unit_type:
                section.pop("unit_type")
        principal = self._principal(key)
        if principal:
            section["principal"] = principal
        if section:
            self.data_out[key] = section

    def _clean_entity_changes(self, key: str) -> None:
        self._clean_entity(key, changes=True)

    def _website_unit_type(self) -> str:
        if self.layout.get("entity") == "entity":
            chosen = self.cleaned_data.get("entity-unit_type")
        else:
            chosen = self.target_unit_type()
        return chosen if chosen in v.UNIT_TYPES else "enterprise"

    def _domains(self, name: str) -> list[str] | None:
        """The typed domains, each checked; None when one of them is wrong."""
        lines = _lines(self.cleaned_data.get(name))
        if len(lines) > LINES_MAX:
            self.add_error(name, _("最多填写 %(n)d 行") % {"n": LINES_MAX})
            return None
        found: list[str] = []
        ok = True
        for line in lines:
            try:
                domain = v.domain(line)
            except Invalid as exc:
                self.add_error(name, f"{line}：{say(exc)}")
                ok = False
                continue
            if domain in found:
                self.add_error(name, _("%(domain)s：域名重复填写") % {"domain": line})
                ok = False
            found.append(domain)
        return found if ok else None

    def _clean_website(self, key: str, *, changes: bool = False) -> None:
        c = self.cleaned_data
        current = self._target_website() if changes else None
        self._valid(f"{key}-name", v.website_name, unit_type=self._website_unit_type())
        lines = _lines(c.get(f"{key}-domains"))
        domains = self._domains(f"{key}-domains")
        if domains and self.max_domains is not None and len(domains) > self.max_domains and not changes:
            self.add_error(f"{key}-domains", _("每个网站最多 %(n)d 个域名") % {"n": self.max_domains})
        if current is not None and domains:
            now = set(current.domains.values_list("name", flat=True))
            if not set(domains) <= now:
                self.add_error(
                    f"{key}-domains",
                    _("变更网站时只能删除域名，不能新增或替换；新增域名请办理「新增网站」"),
                )
            elif set(domains) == now:
                lines = []  # unchanged
        home = c.get(f"{key}-home_url")
        on = domains or (sorted(current.domains.values_list("name", flat=True)) if current else None)
        if home and on:
            self._valid(f"{key}-home_url", filing.home_url, on)
        section: dict = {}
        if c.get(f"{key}-name") and not (current and c[f"{key}-name"] == current.name):
            section["name"] = c[f"{key}-name"]
        if lines:
            section["domains"] = lines
        if home and not (current and home == current.home_url):
            section["home_url"] = home
        if c.get(f"{key}-principal-same"):
            entity = self.data_out.get("entity") or {}
            principal = dict(entity.get("principal") or {})
        else:
            principal = self._principal(key)
        if principal:
            section["principal"] = principal
        if section:
            self.data_out[key] = section

    def _clean_website_changes(self, key: str) -> None:
        self._clean_website(key, changes=True)

    def _clean_access(self, key: str) -> None:
        name = f"{key}-ips"
        lines = _lines(self.cleaned_data.get(name))
        if len(lines) > LINES_MAX:
            self.add_error(name, _("最多填写 %(n)d 行") % {"n": LINES_MAX})
            return
        for line in lines:
            try:
                v.ip_address(line)
            except Invalid as exc:
                self.add_error(name, say(exc))
        if lines:
            self.data_out[key] = {"ips": lines}

    def clean(self):
        data = super().clean()
        self.data_out = {}
        # Numbers first: the other sections are checked against the filing they point to.
        order = sorted(self.layout.items(), key=lambda item: item[1] not in ("entity_number", "website_number"))
        for key, kind in order:
            getattr(self, f"_clean_{kind}")(key)
        # Keep the sections in the catalogue's order.
        self.data_out = {key: self.data_out[key] for key in self.layout if key in self.data_out}
        return data

    # ------------------------------------------------------------ the whole application

    def add_service_errors(self, errors: list[FieldError]) -> None:
        same = bool(self.cleaned_data.get("website-principal-same")) if hasattr(self, "cleaned_data") else False
        for item in errors:
            name = form_name(item.field)
            if same and name.startswith("website-principal"):
                continue  # the entity's principal, already said there
            if name in self.fields:
                self.add_error(name, say(item))
            else:
                self.add_error(None, f"{label_of(item.field)}：{say(item)}")

    def check_complete(self) -> bool:
        """Is the application ready to submit? Every missing or wrong field becomes a form error."""
        try:
            filing.check(
                self.app.type,
                self.data_out,
                unit_type=self.target_unit_type(),
                max_domains=self.max_domains,
            )
        except ValidationFailed as exc:
            self.add_service_errors(exc.errors)
            return False
        return True

    def sections(self) -> list[dict]:
        """The groups of bound fields with what was said about each, for the template."""
        return [
            {
                "key": group.key,
                "dom_id": "section-" + group.key.replace(".", "-"),
                "title": group.title,
                "note": group.note,
                "fields": [{"field": self[name], "reasons": self.reasons.get(name, [])} for name in group.names],
            }
            for group in self.groups
        ]


class SubmitForm(forms.Form):
    filing_password = _text(LABELS["filing_password"], 100, strip=False, widget=forms.PasswordInput)
    confirm_irreversible = forms.BooleanField(required=False)


# ---------------------------------------------------------------- console: return with reasons


class ReturnForm(forms.Form):
    """A reason box for every field of the application's data, and one for the whole."""

    reason = _text(LABELS["reason"], 1000, widget=forms.Textarea(attrs={"rows": 2, "id": "return-reason"}))

    def __init__(self, *args, rows: list[Row], **kwargs):
        kwargs.setdefault("auto_id", "%s")  # ids are the field names: `reason-website-name`
        super().__init__(*args, **kwargs)
        self.paths: dict[str, str] = {}
        for row in rows:
            self.fields[row.reason_name] = _text(row.label, 500)
            self.paths[row.reason_name] = row.path

    def field_reasons(self) -> dict[str, str]:
        return {
            path: self.cleaned_data[name].strip()
            for name, path in self.paths.items()
            if (self.cleaned_data.get(name) or "").strip()
        }


# ---------------------------------------------------------------- accounts

DEFAULT_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]


def password_validators():
    """Django's validators: the deployment's, or Django's four standard ones if it sets none."""
    return password_validation.get_password_validators(settings.AUTH_PASSWORD_VALIDATORS or DEFAULT_PASSWORD_VALIDATORS)


class SignupForm(forms.Form):
    username = _text(
        _("用户名"),
        150,
        required=True,
        validators=[UnicodeUsernameValidator()],
        help_text=_("150 个字符以内，可使用字母、数字和 @ . + - _"),
        widget=forms.TextInput(attrs={"autocomplete": "username", "autofocus": True}),
    )
    email = _text(_("电子邮箱"), 254, required=True, widget=forms.EmailInput(attrs={"autocomplete": "email"}))
    mobile = _text(
        _("手机号码"),
        20,
        required=True,
        help_text=_("用于接收备案进度通知"),
        widget=forms.TextInput(attrs={"autocomplete": "tel", "inputmode": "tel"}),
    )
    password1 = _text(
        _("密码"), 128, required=True, strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )
    password2 = _text(
        _("确认密码"),
        128,
        required=True,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean_username(self) -> str:
        name = self.cleaned_data["username"]
        if User.objects.filter(username__iexact=name).exists():
            raise ValidationError(_("该用户名已被注册"), code="username_taken")
        return name

    def clean_email(self) -> str:
        try:
            return v.email(self.cleaned_data["email"])
        except Invalid as exc:
            raise ValidationError(say(exc), code=exc.code) from None

    def clean_mobile(self) -> str:
        try:
            return v.mobile(self.cleaned_data["mobile"])
        except Invalid as exc:
            raise ValidationError(say(exc), code=exc.code) from None

    def clean(self):
        data = super().clean()
        first, second = data.get("password1"), data.get("password2")
        if first and second and first != second:
            self.add_error("password2", _("两次输入的密码不一致"))
        elif first:
            user = User(username=data.get("username") or "", email=data.get("email") or "")
            try:
                password_validation.validate_password(first, user, password_validators=password_validators())
            except ValidationError as exc:
                self.add_error("password1", exc)
        return data


class SpecialistLoginForm(AuthenticationForm):
    """The console's sign-in: the same accounts, but only the provider's staff get in (filing
    specialists, and operators, who go on to their page)."""

    def confirm_login_allowed(self, user) -> None:
        super().confirm_login_allowed(user)
        if not (review.is_specialist(user) or review.is_operator(user)):
            raise ValidationError(_("该账号不是备案专员，不能登录审核控制台"), code="not_specialist")
