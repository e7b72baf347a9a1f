"""The bureau's background work, run by `python -m beian bureau_worker` (and at once after the
simulation moves its clock). Each step claims its rows by compare-and-set, so several workers
may run side by side."""

from __future__ import annotations

from dataclasses import dataclass

from beian.bureau import audit, outbox, passwords, registry, review, verification


@dataclass(frozen=True)
class Done:
    expired: int
    decided: int
    shells_deregistered: int
    messages_sent: int
    password_failures_pruned: int = 0
    audit_sealed: int = 0

    @property
    def total(self) -> int:
        return (
            self.expired
            + self.decided
            + self.shells_deregistered
            + self.messages_sent
            + self.password_failures_pruned
            + self.audit_sealed
        )


def run_due() -> Done:
    return Done(
        expired=verification.expire_overdue(),
        decided=review.decide_due(),
        shells_deregistered=registry.sweep_shells(),
        messages_sent=outbox.dispatch(),
        password_failures_pruned=passwords.prune(),
        # Each commit seals its own records; this seals those of a process that died before it could.
        audit_sealed=audit.seal(),
    )
