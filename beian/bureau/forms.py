"""The forms of the bureau's HTML pages (/bureau/). They check the shape of what a person typed
and say what is wrong next to the field, in Chinese; the rules themselves stay in the service
modules, whose `BureauError` / `ValidationFailed` are mapped back onto the fields by `add_errors`."""

from __future__ import annotations

import re

from django import forms
from django.utils.translation import gettext_lazy as _

from beian.bureau import query
from beian.bureau.errors import BureauError
from beian.core import clock, numbers, provinces
from beian.core import validators as v
from beian.core.errors import FieldError, Invalid, ValidationFailed
from beian.language import english, say

PROVINCE_CODES = frozenset(p.code for p in provinces.PROVINCES)


def province_choices() -> list[tuple[str, str]]:
    return [(p.code, p.name_en if english() else f"{p.name}（{p.short}）") for p in provinces.PROVINCES]


def _province_choices_or_none() -> list[tuple[str, str]]:
    return [("", _("请选择省份")), *province_choices()]


def _text(max_length: int, label, **kwargs) -> forms.CharField:
    return forms.CharField(
        label=label,
        max_length=max_length,
        error_messages={
            "required": _("此项为必填项"),
            "max_length": _("内容过长（最多 %(limit_value)d 个字符）"),
        },
        **kwargs,
    )


def _entity_number(value: str) -> str:
    """A filing number as people type it → the entity number it belongs to."""
    try:
        return numbers.parse(value).entity_number
    except Invalid as exc:
        raise forms.ValidationError(say(exc.message, exc.message_en), code=exc.code) from None


def add_errors(form: forms.Form, exc: BureauError | ValidationFailed, *, fields: dict[str, str] | None = None) -> None:
    """Put a service error on the form: each field error next to its field (`fields` maps a service
    field path to a form field where the names differ), anything else at the top of the form."""
    fields = fields or {}
    items: list[FieldError] = list(exc.errors)
    for item in items:
        name = fields.get(item.field, item.field)
        if name in form.fields:
            form.add_error(name, forms.ValidationError(say(item.message, item.message_en), code=item.code))
        else:
            form.add_error(None, forms.ValidationError(say(item.message, item.message_en), code=item.code))
    if not items:
        detail = say(exc.detail, exc.detail_en) if isinstance(exc, BureauError) else str(exc)
        form.add_error(None, forms.ValidationError(detail, code=getattr(exc, "code", "invalid")))


# ---------------------------------------------------------------- public


class QueryForm(forms.Form):
    KINDS = (
        ("domain", _("域名")),
        ("number", _("备案号")),
        ("name", _("主办单位名称")),
    )

    kind = forms.ChoiceField(
        label=_("查询方式"),
        choices=KINDS,
        initial="domain",
        error_messages={"required": _("请选择查询方式"), "invalid_choice": _("请选择有效的查询方式")},
    )
    q = _text(
        300,
        _("查询内容"),
        widget=forms.TextInput(attrs={"placeholder": _("如 example.cn、粤ICP备2024012345号 或单位名称")}),
    )
    # The keyset of the next page, as the previous page's link carries it.
    after = _text(40, _("翻页"), required=False, widget=forms.HiddenInput)

    def clean(self):
        data = super().clean()
        kind, text = data.get("kind"), (data.get("q") or "").strip()
        if not kind or not text:
            return data
        if kind == "domain" and v.registrable_domain(text) is None:
            self.add_error("q", _("请填写有效的域名，如 example.cn（不含 http:// 和路径）"))
        elif kind == "number":
            try:
                numbers.parse(text)
            except Invalid as exc:
                self.add_error("q", say(exc.message, exc.message_en))
        elif kind == "name":
            try:
                text = query.name_text(text)
            except Invalid:
                self.add_error("q", _("按名称查询请至少填写 2 个字"))
        data["q"] = text
        return data


_LAST6 = re.compile(r"[0-9A-Z]{6}")
_CODE = re.compile(r"[0-9]{6}")


class OneTimeCodeInput(forms.TextInput):
    """An SMS code is typed, never rendered back: a page that refused it must not carry it (the
    provider's claim page has the same widget; found by tests/secretscan.py)."""

    def format_value(self, value):
        return None


class VerificationForm(forms.Form):
    """短信核验. With `resend=True` only the operation and the mobile are needed."""

    operation = forms.UUIDField(
        label=_("备案业务编号"),
        error_messages={"required": _("请填写短信中的备案业务编号"), "invalid": _("备案业务编号格式不正确")},
        help_text=_("短信中链接里的编号（operation=…）"),
    )
    mobile = _text(20, _("负责人手机号码"))
    id_last6 = _text(
        20,
        _("负责人证件号码后 6 位"),
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off", "inputmode": "text"}),
    )
    code = _text(
        20,
        _("短信核验码"),
        required=False,
        widget=OneTimeCodeInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )

    def __init__(self, *args, resend: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.resend = resend

    def clean_mobile(self) -> str:
        try:
            return v.mobile(self.cleaned_data["mobile"])
        except Invalid as exc:
            raise forms.ValidationError(say(exc.message, exc.message_en), code=exc.code) from None

    def clean_id_last6(self) -> str:
        text = "".join(self.cleaned_data.get("id_last6", "").split()).upper()
        if self.resend:
            return text
        if not text:
            raise forms.ValidationError(_("请填写负责人证件号码的后 6 位"), code="required")
        if not _LAST6.fullmatch(text):
            raise forms.ValidationError(_("请填写证件号码的后 6 位（数字或字母，身份证最后一位可能是 X）"))
        return text

    def clean_code(self) -> str:
        text = "".join(self.cleaned_data.get("code", "").split())
        if self.resend:
            return text
        if not text:
            raise forms.ValidationError(_("请填写短信中的 6 位核验码"), code="required")
        if not _CODE.fullmatch(text):
            raise forms.ValidationError(_("核验码为 6 位数字"))
        return text


class RecoveryForm(forms.Form):
    """在线找回备案密码 (R3a). Only the shape is checked here: whether the details match is never
    told, so a wrong combination reveals nothing."""

    province = forms.ChoiceField(
        label=_("主体所在省份"),
        choices=_province_choices_or_none,
        error_messages={"required": _("请选择省份"), "invalid_choice": _("请选择有效的省份")},
    )
    entity_number = _text(
        60, _("主体备案号"), widget=forms.TextInput(attrs={"placeholder": _("如 粤ICP备2024012345号")})
    )
    cert_number = _text(
        40,
        _("主体证件号码"),
        help_text=_("企业等单位填写统一社会信用代码，个人填写身份证件号码"),
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )

    def clean_entity_number(self) -> str:
        return _entity_number(self.cleaned_data["entity_number"])

    def clean(self):
        data = super().clean()
        code, number = data.get("province"), data.get("entity_number")
        if code and number:
            # The abbreviation in a number names its province: say so when they disagree.
            short = numbers.parse(number).province
            if provinces.by_short(short).code != code:
                self.add_error(
                    "entity_number",
                    _("备案号中的省份简称“%(short)s”与所选省份不一致") % {"short": short},
                )
        return data


class MailProvinceForm(forms.Form):
    mail_province = forms.ChoiceField(
        label=_("主体所在省份"),
        choices=_province_choices_or_none,
        error_messages={"required": _("请选择省份"), "invalid_choice": _("请选择有效的省份")},
    )


# ---------------------------------------------------------------- console


class LoginForm(forms.Form):
    username = _text(150, _("用户名"), widget=forms.TextInput(attrs={"autocomplete": "username"}))
    password = _text(
        200, _("密码"), strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "current-password"})
    )


class DecisionForm(forms.Form):
    DECISIONS = (("approve", _("审核通过")), ("reject", _("驳回")))

    decision = forms.ChoiceField(
        choices=DECISIONS, error_messages={"required": _("请选择审核结论"), "invalid_choice": _("无效的审核结论")}
    )
    # The version the reviewer saw: a decision on a page that has gone stale is refused.
    version = forms.IntegerField(
        min_value=0,
        widget=forms.HiddenInput,
        error_messages={
            "required": _("页面已过期，请刷新后重试"),
            "invalid": _("页面已过期，请刷新后重试"),
            "min_value": _("页面已过期，请刷新后重试"),
        },
    )
    reason = _text(
        500,
        _("审核意见"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def clean(self):
        data = super().clean()
        if data.get("decision") == "reject" and not (data.get("reason") or "").strip():
            self.add_error("reason", forms.ValidationError(_("驳回须填写理由"), code="required"))
        return data


class MailedRecoveryForm(forms.Form):
    """S06: a received 《找回备案密码申请表》."""

    entity_number = _text(
        60, _("主体备案号"), widget=forms.TextInput(attrs={"placeholder": _("如 浙ICP备2024012345号")})
    )
    received_on = forms.DateField(
        label=_("收到日期"),
        widget=forms.DateInput(attrs={"type": "date"}),
        error_messages={"required": _("请填写收到申请表的日期"), "invalid": _("日期格式应为 2026-03-02")},
    )
    note = _text(500, _("备注"), required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def clean_entity_number(self) -> str:
        return _entity_number(self.cleaned_data["entity_number"])

    def clean_received_on(self):
        day = self.cleaned_data["received_on"]
        if day > clock.today():
            raise forms.ValidationError(_("收到日期不能晚于今天"))
        return day
