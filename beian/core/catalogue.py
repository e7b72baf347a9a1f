"""The operation catalogue (DESIGN §3): one table, read by the bureau and the provider alike.

A rule set is a table, not a branch in code. `faq` follows the seed FAQ (the filing password in
use); `miit2020` is the MIIT as it has been since 2020-08-17 (no filing password; SMS verification
for cancellations; one domain per website).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum


class Serving(StrEnum):
    """What an operation does to serving at the provider that submits it."""

    AFTER_APPROVAL = "after_approval"  # served once the bureau approves
    FROM_SUBMISSION = "from_submission"  # served as soon as it is submitted; undone if rejected
    UNCHANGED = "unchanged"  # keeps being served throughout
    STOPS_AT_APPROVAL = "stops_at_approval"
    STOPS_AT_SUBMISSION = "stops_at_submission"


class Principal(StrEnum):
    ENTITY = "entity"  # 主体负责人
    WEBSITE = "website"  # 网站负责人


@dataclass(frozen=True)
class OperationType:
    code: str
    name: str  # 中文
    name_en: str
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

    def as_dict(self) -> dict:
        """The row as JSON, for the APIs that publish the catalogue."""
        return {
            "code": self.code,
            "name": self.name,
            "name_en": self.name_en,
            "password": self.password,
            "verify": [p.value for p in self.verify],
            "irreversible": self.irreversible,
            "serving": self.serving.value,
            "review_days": list(self.review_days),
            "rejectable": self.rejectable,
        }


_E, _W = Principal.ENTITY, Principal.WEBSITE

FAQ: dict[str, OperationType] = {
    t.code: t
    for t in (
        OperationType("new_filing", "首次备案", "New filing", False, (_E, _W), False, Serving.AFTER_APPROVAL, (1, 20)),
        OperationType("new_website", "新增网站", "New website", True, (_E, _W), False, Serving.AFTER_APPROVAL, (1, 20)),
        OperationType("transfer_in", "转入备案", "Transfer in", True, (_W,), False, Serving.FROM_SUBMISSION, (1, 20)),
        OperationType("change_entity", "变更主体", "Change entity", False, (_E,), False, Serving.UNCHANGED, (1, 20)),
        OperationType("change_website", "变更网站", "Change website", False, (_W,), False, Serving.UNCHANGED, (1, 20)),
        OperationType("change_access", "变更接入", "Change access", False, (), False, Serving.UNCHANGED, (1, 20)),
        OperationType("cancel_entity", "注销主体", "Cancel entity", True, (), True, Serving.STOPS_AT_APPROVAL, (3, 20)),
        OperationType(
            "cancel_website",
            "注销网站",
            "Cancel website",
            False,
            (),
            True,
            Serving.STOPS_AT_APPROVAL,
            (3, 20),
        ),
        OperationType(
            "cancel_access",
            "取消接入",
            "Cancel access",
            False,
            (),
            True,
            Serving.STOPS_AT_SUBMISSION,
            (3, 20),
            rejectable=False,
        ),
    )
}


@dataclass(frozen=True)
class RuleSet:
    code: str
    name: str
    operations: dict[str, OperationType]
    max_domains_per_website: int | None  # None: no limit beyond the form's

    def as_dict(self) -> dict:
        return {
            "rule_set": self.code,
            "max_domains_per_website": self.max_domains_per_website,
            "operations": [t.as_dict() for t in self.operations.values()],
        }


def _miit2020() -> dict[str, OperationType]:
    ops = {code: replace(op, password=False) for code, op in FAQ.items()}
    ops["cancel_entity"] = replace(ops["cancel_entity"], verify=(_E,))
    ops["cancel_website"] = replace(ops["cancel_website"], verify=(_W,))
    return ops


RULE_SETS: dict[str, RuleSet] = {
    "faq": RuleSet("faq", "常见问题规则（备案密码）", FAQ, max_domains_per_website=None),
    "miit2020": RuleSet("miit2020", "工信部 2020 规则（短信核验，无备案密码）", _miit2020(), max_domains_per_website=1),
}

OPERATION_CODES: tuple[str, ...] = tuple(FAQ)


def rule_set(code: str) -> RuleSet:
    try:
        return RULE_SETS[code]
    except KeyError:
        raise ValueError(f"unknown rule set {code!r}; known: {', '.join(RULE_SETS)}") from None
