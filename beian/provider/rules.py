"""The rule set this provider works under (DESIGN §3), read in this one place.

The provider and the bureau are separate systems: the provider is configured with the rule set its
bureau applies (`BEIAN_RULE_SET`, the same table of `beian.core.catalogue` the bureau reads) and asks
it here; nothing else on the provider side reads that setting or the bureau's own configuration.
"""

from __future__ import annotations

from django.conf import settings

from beian.core.catalogue import OperationType, RuleSet, rule_set


def current() -> RuleSet:
    return rule_set(settings.BEIAN_RULE_SET)


def operation_type(code: str) -> OperationType:
    return current().operations[code]
