"""Whether a proposal is public, from the latest step of it that was published.

The one rule every consumer applies (notifications before naming a proposal to anyone
but its RT, the transparency page before showing it at all): the proposals service
publishes a proposal from the kelurahan's check (`proposal.verified`) on; one still
with its RT (submitted, resubmitted, returned) or withdrawn by it is not public — not
even its existence.
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
