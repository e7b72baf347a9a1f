"""The provider's application timeline as a hash-chained log (DESIGN §9: every state change in an
append-only audit log whose records are hash-chained, with a command that verifies the chain).

Each `TimelineEntry` (a step of an application: who, when, what, from which state to which, why) is
written in the transaction of its step, wherever that is (the portal, the console, the API, the
feed from the bureau), and sealed after commit: `seal` runs after each commit that wrote one (the
model's `post_save`, connected in the app's `ready`) and in every round of the provider's worker,
which also seals entries written in bulk. `verify` (and `python -m beian verify_timeline_chain`)
recompute the chain from the genesis. The mechanics are beian.hashchain's, shared with the bureau.
"""

from __future__ import annotations

from datetime import UTC

from beian import hashchain
from beian.hashchain import ChainReport
from beian.provider.models import TimelineEntry, TimelineHead

__all__ = ["ChainReport", "seal", "verify"]


def _canonical_of(e: TimelineEntry) -> bytes:
    return hashchain.canonical(
        {
            "seq": e.seq,
            "at": e.at.astimezone(UTC).isoformat(),  # the database gives it back in UTC
            "application": str(e.application_id),
            "actor": e.actor,
            "action": e.action,
            "from": e.from_state,
            "to": e.to_state,
            "reason": e.reason,
            "field_reasons": e.field_reasons,
        }
    )


CHAIN = hashchain.Chain(TimelineEntry, TimelineHead, "default", _canonical_of)


def seal(batch: int = 2000) -> int:
    """Give every committed entry that has no place yet the next places of the chain."""
    return CHAIN.seal(batch)


def verify(batch: int = 2000) -> ChainReport:
    return CHAIN.verify(batch)


def written(sender, instance: TimelineEntry, created: bool, raw: bool = False, **kwargs) -> None:
    """`post_save` of a TimelineEntry: seal it once its transaction has committed."""
    if created and not raw:
        CHAIN.seal_after_commit()
