"""Whether a proposal is public, from the latest step of it that was published.

The proposals service publishes a proposal from the kelurahan's check
(`proposal.verified`) on; one still with its RT (submitted, resubmitted, returned) or
withdrawn by it is not public — not even its existence. Every proposal event states it
from v2 on (`public`, set by its producer from the proposal's state); consumers read
that. This rule is what v1 events, which did not say, are upcast with, and what a
consumer applies to a step it recorded before v2 (`public_after`).
"""

from __future__ import annotations

# The steps after which a proposal is not public: the proposals service's states of the
# same names (a resubmitted proposal is `submitted` again) and the events announcing them.
UNPUBLISHED_STEPS = frozenset({"submitted", "resubmitted", "returned", "withdrawn"})
UNPUBLISHED_AFTER = frozenset(f"proposal.{step}" for step in UNPUBLISHED_STEPS)


def published_after(event_type: str | None) -> bool:
    """True when a proposal whose latest step was `event_type` is public (None: no step
    recorded yet, so not public)."""
    return event_type is not None and event_type not in UNPUBLISHED_AFTER


def public_after(event_type: str | None, stated: bool | None) -> bool:
    """Whether a proposal is public after its latest step: as the step stated, or, for a
    step recorded before events stated it (`stated` None), by the rule above."""
    return published_after(event_type) if stated is None else stated
