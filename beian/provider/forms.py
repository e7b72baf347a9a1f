"""The forms of the provider's pages: a new application (its type and target), the guided form of
one application, the submission, and the specialist's return with reasons.

A form builds the draft from what was typed and asks `beian.core.filing` whether it is right (the
same rules the API and the bureau apply); it only maps the core's field errors back onto its
fields by their dotted path (`website.domains.0` → the field `website-domains`). What is its own
is what a page is made of: which fields, their labels and choices, and how many lines a box takes.

A form field's name is the data path with dashes: `entity-principal-mobile` is
`data["entity"]["principal"]["mobile"]`.
"""

from __future__ import annotations

from dataclasses import dataclass

from django import forms
from django.utils.translation import gettext_lazy as _

from beian.core import filing, provinces
from beian.core import validators as v
from beian.core.catalogue import OPERATION_CODES, Hosting, OperationType, Section
from beian.core.errors import Errors, FieldError, Invalid, ValidationFailed
from beian.provider import filings, holders, rules
from beian.provider.models import Application, FiledEntity, FiledWebsite
from beian.provider.rows import ENTITY_KEYS, PRINCIPAL_KEYS, Row
from beian.provider.words import (
    LABELS,
    PRINCIPAL_LABELS,
    PRINCIPAL_TITLES,
    SECTION_TITLES,
    english,
    form_name,
    label_of,
    named,
    say,
    type_name,
)


def text_field(label, max_length: int, **kwargs) -> forms.CharField:
    """A text field with the pages' own words for what is missing or too long."""
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


# Made per form, in the page's language (the core tables carry their English names).
def unit_choices() -> list[tuple[str, str]]:
    return [(u.code, named(u)) for u in v.UNIT_TYPES.values()]


def cert_choices() -> list[tuple[str, str]]:
    return [(c.code, named(c)) for c in v.CERT_TYPES.values()]


def person_id_choices() -> list[tuple[str, str]]:
    return [(code, named(v.CERT_TYPES[code])) for code in v.PERSON_ID_TYPES]


def province_choices() -> list[tuple[str, str]]:
    return [(p.code, named(p) if english() else f"{p.name}（{p.short}）") for p in provinces.PROVINCES]


# unit type → the certificate types it files with, for the page's select filter.
UNIT_CERT_TYPES = {u.code: list(u.cert_types) for u in v.UNIT_TYPES.values()}
LINES_MAX = 50  # lines of a box of domains or IPs
TRANSFER_NUMBER_HELP = _("网站在其他接入商处的备案号，如 粤ICP备2024012345号-1")
TARGET_MISSING = {
    "entity": _("请选择要办理此业务的主体"),
    "website": _("请选择要办理此业务的网站"),
    "transfer_number": _("请填写要转入的网站备案号"),
}


def _canonical(domains: list[str]) -> set[str]:
    """The domains as the registry writes them, for telling whether a list changed; a wrong one is
    left as typed (the core's check says what is wrong with it)."""
    found = set()
    for line in domains:
        try:
            found.add(v.domain(line))
        except Invalid:
            found.add(line)
    return found


def _number_from_elsewhere(kind: OperationType, text: str) -> tuple[str | None, list[FieldError]]:
    """A filing number typed by hand (a transfer-in names a website filed elsewhere): canonical,
    or the core's errors."""
    errors = Errors()
    number = filing.filing_number(errors, kind.target_key or "", text, website=kind.target is Section.WEBSITE_NUMBER)
    return number, errors.items


# ---------------------------------------------------------------- new application: the type and its target


class NewApplicationForm(forms.Form):
    """Step 1: which of the nine types, and for those that act on a filing which one: one of the
    customer's own, or (a transfer-in) one filed elsewhere. The draft starts with that number."""

    type = forms.ChoiceField(
        label=_("申请类型"),
        choices=[(code, type_name(code)) for code in OPERATION_CODES],
        error_messages={"required": _("请选择申请类型"), "invalid_choice": _("请选择有效的申请类型")},
    )
    entity = _choice(_("备案主体"), [], blank=_("请选择您名下的主体"))
    website = _choice(_("备案网站"), [], blank=_("请选择您名下的网站"))
    transfer_number = text_field(
        _("网站备案号"),
        60,
        help_text=TRANSFER_NUMBER_HELP,
        widget=forms.TextInput(attrs={"placeholder": "粤ICP备2024012345号-1"}),
    )

    holder = _choice(
        _("办理账号"),
        [],
        help_text=_("首次备案和转入备案由所选账号办理；变更、注销和取消接入由备案所属的账号办理"),
    )

    def __init__(self, *args, owner, **kwargs):
        kwargs.setdefault("auto_id", "new-%s")
        super().__init__(*args, **kwargs)
        self.owner = owner
        # What the person may start applications on: their own filings and their organisations'.
        self.scope = holders.reach(owner).for_(holders.Right.CHANGE)
        self.fields["type"].choices = [(code, type_name(code)) for code in OPERATION_CODES]
        self.fields["entity"].choices = [("", _("请选择您名下的主体")), *filings.entity_choices(self.scope)]
        self.fields["website"].choices = [("", _("请选择您名下的网站")), *filings.website_choices(self.scope)]
        self.fields["holder"].choices = [
            (holder.key, name) for holder, name in holders.reach(owner).holders(holders.Right.CHANGE)
        ]
        self.draft_data: dict = {}

    @property
    def organisation(self) -> int | None:
        """The organisation chosen to hold the new application, if any."""
        chosen = self.cleaned_data.get("holder") or "personal"
        return None if chosen == "personal" else int(chosen)

    @staticmethod
    def target_field(kind: OperationType) -> str:
        """Which of the form's fields names the filing: `entity`, `website`, `transfer_number`, or ""."""
        if kind.target is None:
            return ""
        if kind.hosting is Hosting.NOT_HERE:
            return "transfer_number"
        return "entity" if kind.target is Section.ENTITY_NUMBER else "website"

    def clean(self):
        data = super().clean()
        op_type = data.get("type")
        if not op_type:
            return data
        kind = rules.operation_type(op_type)
        name = self.target_field(kind)
        if not name:
            return data
        value = (data.get(name) or "").strip()
        if not value:
            self.add_error(name, TARGET_MISSING[name])
            return data
        if name == "transfer_number":
            number, problems = _number_from_elsewhere(kind, value)
            for problem in problems:
                self.add_error(name, say(problem))
            if number is not None and not problems:
                self.draft_data = {kind.target_key: number}
        elif (problem := filings.target_refused(kind, self.scope, value)) is not None:
            self.add_error(name, problem)
        else:
            self.draft_data = {kind.target_key: value}
        return data


# ---------------------------------------------------------------- the guided form of one application


@dataclass
class Group:
    key: str
    title: str
    names: list[str]
    note: str = ""


class ApplicationForm(forms.Form):
    """Every section of one application type (the catalogue's `sections`), field by field. In a
    draft any field may still be empty, but what is filled in must be right: a wrong value is
    refused with its reason and nothing is saved. `check_complete()` then asks `filing.check`
    whether the whole application is ready to submit."""

    # Which button: "save" keeps a draft; "review" also checks that the application is complete.
    action = forms.CharField(required=False, max_length=20)

    def __init__(self, *args, app: Application, **kwargs):
        kwargs.setdefault("auto_id", "%s")  # ids are the field names: `website-name`
        super().__init__(*args, **kwargs)
        self.app = app
        # The filings this application may act on: those of its holder (a person or an organisation).
        self.scope = holders.Holder.of(app)
        self.kind = rules.operation_type(app.type)
        self.layout = self.kind.sections
        self.max_domains = rules.current().max_domains_per_website
        self.groups: list[Group] = []
        self.data_out: dict = {}
        for key, section in self.layout.items():
            getattr(self, f"_add_{section.value}")(key)
        self.initial.update(self._initial(app.data if isinstance(app.data, dict) else {}))
        self.reasons: dict[str, list[str]] = {}
        self.loose_reasons: list[str] = []
        for item in app.field_reasons or []:
            name = form_name(item.get("field", ""))
            if name in self.fields:
                self.reasons.setdefault(name, []).append(say(item))
            else:
                self.loose_reasons.append(f"{label_of(item.get('field', ''))}{_('：')}{say(item)}")

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
        choices = filings.entity_choices(self.scope)
        self._add(group, key, _choice(LABELS[key], choices, blank=_("请选择您名下的主体")))

    def _add_website_number(self, key: str) -> None:
        group = self._group(key, SECTION_TITLES[key])
        if self.kind.hosting is Hosting.NOT_HERE:
            self._add(group, key, text_field(LABELS[key], 60, help_text=TRANSFER_NUMBER_HELP))
        else:
            choices = filings.website_choices(self.scope)
            self._add(group, key, _choice(LABELS[key], choices, blank=_("请选择您名下的网站")))

    def _add_entity(self, key: str, *, changes: bool = False) -> None:
        note = _("只填写需要变更的项目，未填写的保持不变；主体所在省份不能变更（需注销后重新备案）") if changes else ""
        group = self._group(key, SECTION_TITLES[key], note)
        keep = _("不变更") if changes else _("请选择")
        current = self._target_entity() if changes else None
        self._add(group, f"{key}-unit_type", _choice(LABELS["entity.unit_type"], unit_choices(), blank=keep))
        self._add(
            group,
            f"{key}-name",
            text_field(
                LABELS["entity.name"],
                120,
                help_text=(
                    _("当前：%(value)s") % {"value": current.name} if current else _("单位全称或个人姓名，与证件一致")
                ),
            ),
        )
        self._add(group, f"{key}-cert_type", _choice(LABELS["entity.cert_type"], cert_choices(), blank=keep))
        self._add(group, f"{key}-cert_number", text_field(LABELS["entity.cert_number"], 40))
        if not changes:
            self._add(group, f"{key}-province", _choice(LABELS["entity.province"], province_choices(), blank=keep))
        self._add(group, f"{key}-address", text_field(LABELS["entity.address"], 250))
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
        self._add(group, f"{p}-name", text_field(PRINCIPAL_LABELS["name"], 40))
        self._add(group, f"{p}-id_type", _choice(PRINCIPAL_LABELS["id_type"], person_id_choices(), blank=_("请选择")))
        self._add(group, f"{p}-id_number", text_field(PRINCIPAL_LABELS["id_number"], 40))
        self._add(
            group,
            f"{p}-mobile",
            text_field(
                PRINCIPAL_LABELS["mobile"],
                20,
                help_text=_("管局的短信核验码和备案密码将发送到此号码")
                if rules.current().filing_password
                else _("管局的短信核验码将发送到此号码"),
            ),
        )
        self._add(group, f"{p}-email", text_field(PRINCIPAL_LABELS["email"], 254))

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
            text_field(
                LABELS["website.name"],
                60,
                help_text=now(current.name if current else "")
                or _("能说明网站内容的中文名称，不能是域名或纯英文、数字"),
            ),
        )
        domains_help = (
            _("每行一个。变更时只能删除域名，不能新增或替换（新增域名请办理新增网站）；当前：%(value)s")
            % {"value": _("、").join(self._current_domains())}
            if current
            else _("每行一个注册域名，如 example.cn；其子域名随之备案")
        )
        if limit and not current:
            domains_help = f"{domains_help}{_('（每个网站最多 %(n)d 个）') % {'n': limit}}"
        self._add(
            group,
            f"{key}-domains",
            text_field(
                LABELS["website.domains"], 5000, help_text=domains_help, widget=forms.Textarea(attrs={"rows": 3})
            ),
        )
        self._add(
            group,
            f"{key}-home_url",
            text_field(
                LABELS["website.home_url"],
                300,
                help_text=now(current.home_url if current else "")
                or _("如 https://www.example.cn/；留空则为第一个域名的首页"),
            ),
        )
        has_entity = any(section is Section.ENTITY for section in self.layout.values())
        self._add_principal(key, changes=changes, same=not changes and has_entity)

    def _add_website_changes(self, key: str) -> None:
        self._add_website(key, changes=True)

    def _add_access(self, key: str) -> None:
        group = self._group(key, SECTION_TITLES[key])
        current = self._target_website() if filings.acts_on_access_here(self.kind) else None
        help_text = _("每行一个公网 IP（IPv4 或 IPv6）")
        if current is not None and current.ips:
            help_text = f"{help_text}{_('；')}{_('当前：%(value)s') % {'value': _('、').join(current.ips)}}"
        self._add(
            group,
            f"{key}-ips",
            text_field(LABELS["access.ips"], 2000, help_text=help_text, widget=forms.Textarea(attrs={"rows": 2})),
        )

    # ------------------------------------------------------------ the application's target in the mirror

    def _target_data(self) -> dict:
        """The number the application acts on, as the page now has it."""
        source = self.data if self.is_bound else self.app.data
        key = self.kind.target_key
        return {key: source.get(key)} if key else {}

    def _target_entity(self) -> FiledEntity | None:
        return filings.target_entity(self.kind, self.scope, self._target_data())

    def _target_website(self) -> FiledWebsite | None:
        return filings.target_website(self.kind, self.scope, self._target_data())

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

        for key, section in self.layout.items():
            value = data.get(key)
            if section.names_filing:
                put(key, value)
                continue
            if not isinstance(value, dict):
                value = {}
            for k, item in value.items():
                if k == "principal" and isinstance(item, dict):
                    for pk, pv in item.items():
                        put(f"{key}-principal-{pk}", pv)
                else:
                    put(f"{key}-{k}", item)
        if "website-principal-same" in self.fields:
            entity_p = (data.get("entity") or {}).get("principal") if isinstance(data.get("entity"), dict) else None
            site_p = (data.get("website") or {}).get("principal") if isinstance(data.get("website"), dict) else None
            same = (not site_p) or (bool(entity_p) and site_p == entity_p)
            initial["website-principal-same"] = same
            if same:
                for k in PRINCIPAL_KEYS:
                    initial.pop(f"website-principal-{k}", None)
        return initial

    # ------------------------------------------------------------ the draft from what was typed

    def _lines_of(self, name: str) -> list[str]:
        lines = _lines(self.cleaned_data.get(name))
        if len(lines) > LINES_MAX:
            self.add_error(name, _("最多填写 %(n)d 行") % {"n": LINES_MAX})
        return lines

    def _principal(self, key: str) -> dict:
        p = f"{key}-principal"
        return {k: self.cleaned_data[f"{p}-{k}"] for k in PRINCIPAL_KEYS if self.cleaned_data.get(f"{p}-{k}")}

    def _draft_entity_number(self, key: str) -> None:
        if self.cleaned_data.get(key):
            self.data_out[key] = self.cleaned_data[key]

    def _draft_website_number(self, key: str) -> None:
        value = (self.cleaned_data.get(key) or "").strip()
        if not value:
            return
        if self.kind.hosting is Hosting.NOT_HERE:
            number, problems = _number_from_elsewhere(self.kind, value)
            self.data_out[key] = number if number is not None and not problems else value
            return
        problem = filings.target_refused(self.kind, self.scope, value)
        if problem is not None:
            self.add_error(key, problem)
            return
        self.data_out[key] = value

    def _draft_entity(self, key: str, *, changes: bool = False) -> None:
        c = self.cleaned_data
        section = {k: c.get(f"{key}-{k}") for k in ENTITY_KEYS if c.get(f"{key}-{k}")}
        current = self._target_entity() if changes else None
        if current is not None:
            # Only what changes: a value equal to the filing's is no change.
            for k in ("name", "unit_type"):
                if section.get(k) == getattr(current, k):
                    section.pop(k)
        principal = self._principal(key)
        if principal:
            section["principal"] = principal
        if section:
            self.data_out[key] = section

    def _draft_entity_changes(self, key: str) -> None:
        self._draft_entity(key, changes=True)

    def _draft_website(self, key: str, *, changes: bool = False) -> None:
        c = self.cleaned_data
        current = self._target_website() if changes else None
        section: dict = {}
        name = c.get(f"{key}-name")
        if name and not (current and name == current.name):
            section["name"] = name
        lines = self._lines_of(f"{key}-domains")
        if current is not None and _canonical(lines) == set(self._current_domains()):
            lines = []  # the domains it has: no change
        if lines:
            section["domains"] = lines
        home = c.get(f"{key}-home_url")
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

    def _draft_website_changes(self, key: str) -> None:
        self._draft_website(key, changes=True)

    def _draft_access(self, key: str) -> None:
        lines = self._lines_of(f"{key}-ips")
        if lines:
            self.data_out[key] = {"ips": lines}

    def _check_options(self) -> dict:
        """What the core's checks need to know of the filing the application acts on."""
        changes_website = Section.WEBSITE_CHANGES in self.layout.values()
        return {
            "unit_type": self.target_unit_type(),
            "max_domains": self.max_domains,
            "current_domains": self._current_domains() if changes_website else None,
        }

    def clean(self):
        data = super().clean()
        self.data_out = {}
        # Numbers first: the other sections are read against the filing they point to.
        order = sorted(self.layout.items(), key=lambda item: not item[1].names_filing)
        for key, section in order:
            getattr(self, f"_draft_{section.value}")(key)
        # Keep the sections in the catalogue's order.
        self.data_out = {key: self.data_out[key] for key in self.layout if key in self.data_out}
        self.add_service_errors(filing.check_draft(self.app.type, self.data_out, **self._check_options()))
        return data

    # ------------------------------------------------------------ the core's errors on the fields

    def _typed(self, path: str) -> str:
        """What was typed on a line of a box, for `website.domains.2`: the message says which."""
        parts = path.split(".")
        if not parts[-1].isdigit():
            return ""
        value = self.data_out
        for part in parts[:-1]:
            value = value.get(part) if isinstance(value, dict) else None
        index = int(parts[-1])
        return str(value[index]) if isinstance(value, list) and index < len(value) else ""

    def add_service_errors(self, errors: list[FieldError]) -> None:
        same = bool(self.cleaned_data.get("website-principal-same")) if hasattr(self, "cleaned_data") else False
        for item in errors:
            name = form_name(item.field)
            if same and name.startswith("website-principal"):
                continue  # the entity's principal, already said there
            typed = self._typed(item.field)
            text = f"{typed}{_('：')}{say(item)}" if typed else say(item)
            if name in self.fields:
                self.add_error(name, text)
            else:
                self.add_error(None, f"{label_of(item.field)}{_('：')}{text}")

    def check_complete(self) -> bool:
        """Is the application ready to submit? Every missing or wrong field becomes a form error."""
        try:
            filing.check(self.app.type, self.data_out, **self._check_options())
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
    filing_password = text_field(LABELS["filing_password"], 100, strip=False, widget=forms.PasswordInput)
    confirm_irreversible = forms.BooleanField(required=False)


# ---------------------------------------------------------------- console: return with reasons


class ReturnForm(forms.Form):
    """A reason box for every field of the application's data, and one for the whole."""

    reason = text_field(LABELS["reason"], 1000, widget=forms.Textarea(attrs={"rows": 2, "id": "return-reason"}))

    def __init__(self, *args, rows: list[Row], **kwargs):
        kwargs.setdefault("auto_id", "%s")  # ids are the field names: `reason-website-name`
        super().__init__(*args, **kwargs)
        self.paths: dict[str, str] = {}
        for row in rows:
            self.fields[row.reason_name] = text_field(row.label, 500)
            self.paths[row.reason_name] = row.path

    def field_reasons(self) -> dict[str, str]:
        return {
            path: self.cleaned_data[name].strip()
            for name, path in self.paths.items()
            if (self.cleaned_data.get(name) or "").strip()
        }
