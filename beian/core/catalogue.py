"""The operation catalogue (DESIGN §3): one table, read by the bureau and the provider alike.

A rule set is a table, not a branch in code. `faq` follows the seed FAQ (the filing password in
use); `miit2020` is the MIIT as it has been since 2020-08-17 (no filing password; SMS verification
for cancellations; one domain per website).

Each row says everything either side needs to know about an operation type: what its data holds
(`sections`), which filing it names and who may submit it (`hosting`), the password and SMS
verification it needs, whether it can be withdrawn, what it does to serving, and how long the
bureau takes. The nine types form a grid, `verb` × `subject`: new, change or cancel an entity, a
website or an access. What is left for code is only what an approval writes into the registry
(`beian.bureau.operations`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from types import MappingProxyType


class Serving(StrEnum):
    """What an operation does to serving at the provider that submits it."""

    AFTER_APPROVAL = "after_approval"  # served once the bureau approves
    FROM_SUBMISSION = "from_submission"  # served as soon as it is submitted; undone if not approved
    UNCHANGED = "unchanged"  # keeps being served throughout
    STOPS_AT_APPROVAL = "stops_at_approval"
    STOPS_AT_SUBMISSION = "stops_at_submission"

    @property
    def stops(self) -> bool:
        return self in (Serving.STOPS_AT_APPROVAL, Serving.STOPS_AT_SUBMISSION)


class Principal(StrEnum):
    ENTITY = "entity"  # 主体负责人
    WEBSITE = "website"  # 网站负责人


class Verb(StrEnum):
    NEW = "new"  # 新增: file it, or bring it here
    CHANGE = "change"  # 变更
    CANCEL = "cancel"  # 注销 / 取消接入


class Subject(StrEnum):
    ENTITY = "entity"
    WEBSITE = "website"
    ACCESS = "access"


class Hosting(StrEnum):
    """What the submitting provider must have of the filing the operation names."""

    NONE = "none"  # nothing is filed yet: anyone may submit it
    REQUIRED = "required"  # only a provider that hosts it now (an active access)
    NOT_HERE = "not_here"  # a provider that does not host it yet (it moves here)


class Section(StrEnum):
    """What one key of an operation's data holds."""

    ENTITY_NUMBER = "entity_number"  # names a filed entity
    WEBSITE_NUMBER = "website_number"  # names a filed website
    ENTITY = "entity"  # a whole entity, with its principal
    WEBSITE = "website"  # a whole website, with its domains and principal
    ACCESS = "access"  # the server IPs at the submitting provider
    ENTITY_CHANGES = "entity_changes"  # only the entity's fields that change
    WEBSITE_CHANGES = "website_changes"  # only the website's fields that change

    @property
    def names_filing(self) -> bool:
        return self in (Section.ENTITY_NUMBER, Section.WEBSITE_NUMBER)


class AccessEnded(StrEnum):
    """Why an access ended, as the bureau records it and tells the provider in its feed."""

    CANCELLED = "cancel_access"  # the provider cancelled it (R10)
    # The provisional access of an operation served from submission that was then not approved
    # (a transfer-in rejected, expired or withdrawn): it was never this provider's for good.
    NOT_APPROVED = "transfer_in_not_approved"
    DEREGISTERED = "deregistered"  # the website's filing was deregistered


@dataclass(frozen=True)
class OperationType:
    code: str
    name: str  # 中文
    name_en: str
    verb: Verb
    subject: Subject
    # The keys of the operation's data, in the order a form shows them, and what each holds.
    sections: Mapping[str, Section] = field(hash=False)
    hosting: Hosting
    password: bool  # the entity's filing password must accompany the submission
    verify: tuple[Principal, ...]  # whose SMS verification review waits for
    irreversible: bool  # cannot be withdrawn once submitted
    serving: Serving
    # Working days the bureau takes to decide: the earliest and the latest (the province's own
    # limit may be longer, never shorter).
    review_days: tuple[int, int]
    # Cancel-access takes effect at submission and the bureau only records it: nothing is left to
    # refuse, so a reviewer can approve it but not reject it.
    rejectable: bool = True
    # R4: fields that may change but are delicate: the customer is told to consult a specialist.
    consult_on: tuple[str, ...] = ()
    # When to choose this type, in one line, for the forms that offer it.
    help: str = ""
    help_en: str = ""
    # Filled in from `sections`: the key that names the filing acted on, and what it names.
    target_key: str | None = field(init=False)
    target: Section | None = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sections", MappingProxyType(dict(self.sections)))
        named = [(key, kind) for key, kind in self.sections.items() if kind.names_filing]
        if len(named) > 1:
            raise ValueError(f"{self.code}: an operation names at most one filing")
        key, kind = named[0] if named else (None, None)
        object.__setattr__(self, "target_key", key)
        object.__setattr__(self, "target", kind)
        if (self.hosting is Hosting.NONE) != (kind is None):
            raise ValueError(f"{self.code}: an operation names a filing exactly when a host is asked of it")

    @property
    def has_details(self) -> bool:
        """Whether its data holds anything beyond the number of the filing it acts on."""
        return any(not kind.names_filing for kind in self.sections.values())

    def as_dict(self) -> dict:
        """The row as JSON, for the APIs that publish the catalogue."""
        return {
            "code": self.code,
            "name": self.name,
            "name_en": self.name_en,
            "verb": self.verb.value,
            "subject": self.subject.value,
            "sections": {key: kind.value for key, kind in self.sections.items()},
            "hosting": self.hosting.value,
            "password": self.password,
            "verify": [p.value for p in self.verify],
            "irreversible": self.irreversible,
            "serving": self.serving.value,
            "review_days": list(self.review_days),
            "rejectable": self.rejectable,
            "consult_on": list(self.consult_on),
            "help": self.help,
            "help_en": self.help_en,
        }


_E, _W = Principal.ENTITY, Principal.WEBSITE
_NEW, _CHANGE, _CANCEL = Verb.NEW, Verb.CHANGE, Verb.CANCEL
_ENTITY_NO = {"entity_number": Section.ENTITY_NUMBER}
_WEBSITE_NO = {"website_number": Section.WEBSITE_NUMBER}
_ACCESS = {"access": Section.ACCESS}
_DECIDE, _CANCEL_DAYS = (1, 20), (3, 20)  # seed Q6: cancellations take 3 to 20 working days

FAQ: dict[str, OperationType] = {
    t.code: t
    for t in (
        OperationType(
            "new_filing",
            "首次备案",
            "New filing",
            _NEW,
            Subject.ENTITY,
            {"entity": Section.ENTITY, "website": Section.WEBSITE, **_ACCESS},
            Hosting.NONE,
            password=False,
            verify=(_E, _W),
            irreversible=False,
            serving=Serving.AFTER_APPROVAL,
            review_days=_DECIDE,
            help="主体和网站都从未备案过：第一次办理备案，同时备案主体和一个网站",
            help_en="Neither the entity nor the website was ever filed: file both for the first time",
        ),
        OperationType(
            "new_website",
            "新增网站",
            "New website",
            _NEW,
            Subject.WEBSITE,
            {**_ENTITY_NO, "website": Section.WEBSITE, **_ACCESS},
            Hosting.REQUIRED,
            password=True,
            verify=(_E, _W),
            irreversible=False,
            serving=Serving.AFTER_APPROVAL,
            review_days=_DECIDE,
            help="主体已有备案号：为它再备案一个新网站（新域名）",
            help_en="The entity already has a filing number: file another website (new domains) under it",
        ),
        OperationType(
            "transfer_in",
            "转入备案",
            "Transfer in",
            _NEW,
            Subject.ACCESS,
            {**_WEBSITE_NO, **_ACCESS},
            Hosting.NOT_HERE,
            password=True,
            verify=(_W,),
            irreversible=False,
            serving=Serving.FROM_SUBMISSION,
            review_days=_DECIDE,
            help="网站已在其他接入商处备案：把接入转到本平台，备案号不变",
            help_en="The website is filed with another provider: move its access here; its number stays",
        ),
        OperationType(
            "change_entity",
            "变更主体",
            "Change entity",
            _CHANGE,
            Subject.ENTITY,
            {**_ENTITY_NO, "entity": Section.ENTITY_CHANGES},
            Hosting.REQUIRED,
            password=False,
            verify=(_E,),
            irreversible=False,
            serving=Serving.UNCHANGED,
            review_days=_DECIDE,
            consult_on=("entity.name", "entity.cert_number"),
            help="主体信息有变化，如通信地址、负责人；名称或证件号码变更前请先咨询备案专员",
            help_en=(
                "The entity's details changed, such as its address or principal; consult a filing specialist "
                "before changing its name or certificate number"
            ),
        ),
        OperationType(
            "change_website",
            "变更网站",
            "Change website",
            _CHANGE,
            Subject.WEBSITE,
            {**_WEBSITE_NO, "website": Section.WEBSITE_CHANGES},
            Hosting.REQUIRED,
            password=False,
            verify=(_W,),
            irreversible=False,
            serving=Serving.UNCHANGED,
            review_days=_DECIDE,
            help="网站信息有变化，如网站名称、负责人、首页地址，或删除域名",
            help_en="The website's details changed: its name, principal or home URL, or a domain to remove",
        ),
        OperationType(
            "change_access",
            "变更接入",
            "Change access",
            _CHANGE,
            Subject.ACCESS,
            {**_WEBSITE_NO, **_ACCESS},
            Hosting.REQUIRED,
            password=False,
            verify=(),
            irreversible=False,
            serving=Serving.UNCHANGED,
            review_days=_DECIDE,
            help="网站仍在本平台，但服务器 IP 等接入信息有变化",
            help_en="The website stays here but its access changed, such as a new server IP",
        ),
        OperationType(
            "cancel_entity",
            "注销主体",
            "Cancel entity",
            _CANCEL,
            Subject.ENTITY,
            _ENTITY_NO,
            Hosting.REQUIRED,
            password=True,
            verify=(),
            irreversible=True,
            serving=Serving.STOPS_AT_APPROVAL,
            review_days=_CANCEL_DAYS,
            help="注销主体及其下所有网站的备案，备案号作废且不可恢复",
            help_en="Deregister the entity and all its websites; the numbers are void and cannot be restored",
        ),
        OperationType(
            "cancel_website",
            "注销网站",
            "Cancel website",
            _CANCEL,
            Subject.WEBSITE,
            _WEBSITE_NO,
            Hosting.REQUIRED,
            password=False,
            verify=(),
            irreversible=True,
            serving=Serving.STOPS_AT_APPROVAL,
            review_days=_CANCEL_DAYS,
            help="注销一个网站的备案，主体和其他网站不受影响，备案号作废且不可恢复",
            help_en="Deregister one website; the entity and its other websites are untouched; its number is void",
        ),
        OperationType(
            "cancel_access",
            "取消接入",
            "Cancel access",
            _CANCEL,
            Subject.ACCESS,
            _WEBSITE_NO,
            Hosting.REQUIRED,
            password=False,
            verify=(),
            irreversible=True,
            serving=Serving.STOPS_AT_SUBMISSION,
            review_days=_CANCEL_DAYS,
            rejectable=False,
            help="网站不再由本平台接入，提交即停止访问；备案号保留，可在其他接入商处接入",
            help_en="The website leaves this provider and stops being served at once; its number stays for another",
        ),
    )
}


@dataclass(frozen=True)
class RuleSet:
    code: str
    name: str
    name_en: str
    operations: dict[str, OperationType]
    max_domains_per_website: int | None  # None: no limit beyond the form's
    # Whether the filing password (备案密码) exists at all: issued at an entity's first filing, sent
    # to its principal, recoverable online or by mail. Without it, nothing issues, asks for, recovers
    # or mentions one; the rows' `password` cells must then all be False.
    filing_password: bool
    # Where the rule set comes from, for docs/rules.md and the catalogue's readers.
    source: str = ""

    def __post_init__(self) -> None:
        if not self.filing_password and any(op.password for op in self.operations.values()):
            raise ValueError(f"{self.code}: a rule set without a filing password cannot ask for one")

    def as_dict(self) -> dict:
        return {
            "rule_set": self.code,
            "name": self.name,
            "name_en": self.name_en,
            "filing_password": self.filing_password,
            "max_domains_per_website": self.max_domains_per_website,
            "operations": [t.as_dict() for t in self.operations.values()],
        }


def _miit2020() -> dict[str, OperationType]:
    ops = {code: replace(op, password=False) for code, op in FAQ.items()}
    ops["cancel_entity"] = replace(ops["cancel_entity"], verify=(_E,))
    ops["cancel_website"] = replace(ops["cancel_website"], verify=(_W,))
    return ops


RULE_SETS: dict[str, RuleSet] = {
    "faq": RuleSet(
        "faq",
        "常见问题规则（备案密码）",
        "Seed FAQ rules (filing password)",
        FAQ,
        max_domains_per_website=None,
        filing_password=True,
        source="the seed FAQ (Q1–Q11)",
    ),
    "miit2020": RuleSet(
        "miit2020",
        "工信部 2020 规则（短信核验，无备案密码）",
        "MIIT 2020 rules (SMS verification, no filing password)",
        _miit2020(),
        max_domains_per_website=1,
        filing_password=False,
        source="MIIT's change of 2020-08-17: the filing password retired, SMS verification instead",
    ),
}

OPERATION_CODES: tuple[str, ...] = tuple(FAQ)


def shape(code: str) -> OperationType:
    """The row of `code` as every rule set shares it: its data and its place in the grid. What
    differs between rule sets (password, verification) is read from the rule set in force."""
    return FAQ[code]


def takes_password(code: str) -> bool:
    """Whether any rule set asks a password of this type: the request schemas admit the field for
    these, and the rule set in force says whether it is wanted."""
    return any(rules.operations[code].password for rules in RULE_SETS.values())


def rule_set(code: str) -> RuleSet:
    try:
        return RULE_SETS[code]
    except KeyError:
        raise ValueError(f"unknown rule set {code!r}; known: {', '.join(RULE_SETS)}") from None
