"""A worker's gauge is counted at most once per interval, however busy the loop."""

from __future__ import annotations

import time

import pytest

from shared.workers import Every


def test_due_the_first_time_then_not_again_within_the_interval(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [100.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    every = Every(1.0)
    seen = []
    for step in (0.0, 0.3, 0.6, 0.99, 1.0, 1.5, 2.2):
        now[0] = 100.0 + step
        seen.append(every.due())
    assert seen == [True, False, False, False, True, False, True]
