"""The two state machines share their mechanics (beian.statemachine) and draw themselves: the
committed diagrams in docs/state-machines.md are what the tables say, or this test fails."""

from pathlib import Path

from beian.bureau.transitions import MACHINE as OPERATION
from beian.provider.transitions import MACHINE as APPLICATION
from beian.statemachine import GUARDS, document

PAGE = Path(__file__).resolve().parent.parent / "docs" / "state-machines.md"


def test_the_committed_diagrams_are_the_tables():
    assert PAGE.read_text(encoding="utf-8") == document([APPLICATION, OPERATION]), (
        "docs/state-machines.md no longer matches the transition tables: run `make diagrams` and commit it"
    )


def test_every_step_of_each_table_is_in_its_diagram():
    for machine in (APPLICATION, OPERATION):
        drawn = machine.mermaid().splitlines()
        for (source, action), rule in machine.table.items():
            assert any(line.strip().startswith(f"{source} --> {rule.to}: {action} (") for line in drawn)
        assert f"    [*] --> {machine.initial}" in drawn
        for state in machine.terminal:
            assert f"    {state} --> [*]" in drawn


def test_a_guard_names_a_catalogue_fact_both_sides_share():
    used = {rule.guard for machine in (APPLICATION, OPERATION) for rule in machine.table.values() if rule.guard}
    assert used <= set(GUARDS)
    # Withdrawing is guarded by the same fact on both sides (R11), said once.
    assert {rule.guard for (_, action), rule in APPLICATION.table.items() if action == "withdraw"} == {"reversible"}
    assert {rule.guard for (_, action), rule in OPERATION.table.items() if action == "withdraw"} == {"reversible"}
