"""The rule set in force (DESIGN §3): which catalogue the bureau applies."""

from __future__ import annotations

from django.conf import settings

from beian.core.catalogue import OperationType, RuleSet, rule_set


def current() -> RuleSet:
    return rule_set(settings.BEIAN_RULE_SET)


def operation_type(code: str) -> OperationType:
    return current().operations[code]
