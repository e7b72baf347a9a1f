"""A state machine as a table: the mechanics the bureau's operations and the provider's applications
share (STYLE: "a hand-written transition table and one function that is the only writer of status").

Each side keeps its own table, `(state, action) → Rule`, its own model and its own history record
(the bureau's hash-chained audit and event feed, the provider's timeline). This module does what is
the same for both: it looks the move up, checks who asks and what the catalogue says of the
operation type (`GUARDS`), claims the row by compare-and-set on (state, version) so that of two
writers that meet exactly one wins, and has the side write its history in the same transaction.
Anything the table does not allow is refused with a clear error and changes nothing. A table also
draws itself as a Mermaid diagram (docs/state-machines.md, kept in step by a test).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

from django.db import models, transaction
from django.db.models import F
from django.utils import translation

from beian.core.catalogue import OperationType


@dataclass(frozen=True)
class Rule:
    to: str
    who: frozenset[str]  # the kinds of actor that may take this step
    guard: str | None = None  # a name in GUARDS


class Guard(NamedTuple):
    """A fact of the operation type's catalogue row that a step depends on, and what is said when
    the type does not have it."""

    allows: Callable[[OperationType], bool]
    message: str
    message_en: str


GUARDS: dict[str, Guard] = {
    "reversible": Guard(
        lambda t: not t.irreversible,
        "注销与取消接入提交后不可撤回",
        "Cancellations and cancel-access cannot be withdrawn once submitted",
    ),
    "rejectable": Guard(
        lambda t: t.rejectable,
        "取消接入在提交时已生效，管局只能确认",
        "Cancel-access took effect at submission; the bureau can only confirm it",
    ),
}


@dataclass(frozen=True)
class Move:
    """One step just taken, for the side to write into its history."""

    row: Any  # the model instance, refreshed after the step
    action: str
    actor: str  # "<kind>" or "<kind>:<who>"
    source: str
    target: str


class Machine:
    """One table over one model, whose `state` and `version` fields only `apply` writes."""

    def __init__(
        self,
        *,
        title: str,
        model: type[models.Model],
        table: dict[tuple[str, str], Rule],
        terminal: Iterable[str],
        kind_of: Callable[[Any], OperationType],
        refuse: Callable[..., Exception],
        changed: str,
        noun: tuple[str, str],
        using: str = "default",
    ) -> None:
        self.title = title
        self.model = model
        self.table = table
        self.terminal = frozenset(terminal)
        self.kind_of = kind_of  # the catalogue row of a row's operation type, as this side reads it
        self.refuse = refuse  # (code, detail=, detail_en=) → the side's own error
        self.changed = changed  # the side's code for "someone else moved it first"
        self.noun = noun  # what a row is called, 中文 and English: ("操作", "operation")
        self.using = using
        self.states: tuple[str, ...] = tuple(model.State.values)  # type: ignore[attr-defined]
        self.actions: tuple[str, ...] = tuple(sorted({action for _, action in table}))
        self.initial: str = model._meta.get_field("state").default

    def label(self, state: str) -> str:
        return str(self.model.State(state).label)  # type: ignore[attr-defined]

    def allowed(self, row: Any, action: str, who: str) -> bool:
        rule = self.table.get((row.state, action))
        if rule is None or who not in rule.who:
            return False
        return rule.guard is None or GUARDS[rule.guard].allows(self.kind_of(row))

    def apply(
        self,
        row: Any,
        action: str,
        *,
        actor: str,
        changes: dict[str, Any],
        history: Callable[[Move], None],
    ) -> Any:
        """Move `row` by `action`, writing `changes` with the state in the same UPDATE, and have
        `history` write the side's record of it. Runs inside the caller's transaction (opens one
        if none). Raises the side's error, and changes nothing, when the step is not allowed or
        another writer moved the row first."""
        with transaction.atomic(using=self.using):
            who = actor.split(":", 1)[0]
            rule = self.table.get((row.state, action))
            if rule is None:
                noun, noun_en = self.noun
                raise self.refuse(
                    "transition_not_allowed",
                    detail=f"{noun}处于「{self.label(row.state)}」状态，不能执行此操作",
                    detail_en=f"An {noun_en} in state {row.state} cannot {action}",
                )
            if who not in rule.who:
                raise self.refuse("forbidden", detail_en=f"{who} may not {action} an {self.noun[1]}")
            if rule.guard is not None:
                guard = GUARDS[rule.guard]
                if not guard.allows(self.kind_of(row)):
                    raise self.refuse("transition_not_allowed", detail=guard.message, detail_en=guard.message_en)
            source = row.state
            won = self.model.objects.filter(pk=row.pk, state=source, version=row.version).update(
                state=rule.to, version=F("version") + 1, **changes
            )
            if won != 1:
                raise self.refuse(self.changed)
            row.refresh_from_db()
            history(Move(row, action, actor, source, rule.to))
            return row

    def mermaid(self) -> str:
        """The table as a Mermaid state diagram: each step with who may take it and its guard."""
        lines = ["stateDiagram-v2", f"    [*] --> {self.initial}"]
        for (source, action), rule in self.table.items():
            who = ", ".join(sorted(rule.who))
            guard = f" [{rule.guard}]" if rule.guard else ""
            lines.append(f"    {source} --> {rule.to}: {action} ({who}){guard}")
        lines += [f"    {state} --> [*]" for state in self.states if state in self.terminal]
        return "\n".join(lines) + "\n"


def document(machines: Iterable[Machine]) -> str:
    """docs/state-machines.md: every machine's diagram, as its table draws it (in Chinese, the
    language the states are named in, whatever language is active)."""
    with translation.override("zh-hans"):
        return _document(machines)


def _document(machines: Iterable[Machine]) -> str:
    parts = [
        "# State machines",
        "",
        "Generated from the transition tables by `make diagrams`; a test fails when a table and this page",
        "differ. Each step reads `action (who may take it) [the catalogue guard it needs]`. The guards:",
        "",
        *(f"- `{name}`: {guard.message_en} ({guard.message})." for name, guard in GUARDS.items()),
    ]
    for machine in machines:
        states = ", ".join(f"`{s}` {machine.label(s)}" for s in machine.states)
        parts += ["", f"## {machine.title}", "", f"States: {states}.", "", "```mermaid", machine.mermaid() + "```"]
    return "\n".join(parts) + "\n"
