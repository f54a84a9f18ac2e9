"""The outbox lease is renewed several times before it lapses."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.settings import ServiceSettings


def test_the_default_lease_is_short_and_renewed_four_times() -> None:
    settings = ServiceSettings()
    assert settings.outbox_lease_seconds == 2.0
    assert settings.outbox_heartbeat_seconds * 4 == settings.outbox_lease_seconds


@pytest.mark.parametrize(("lease", "heartbeat"), [(2.0, 1.5), (1.0, 0.6), (30.0, 30.0)])
def test_a_heartbeat_longer_than_half_the_lease_is_refused(lease: float, heartbeat: float) -> None:
    with pytest.raises(ValidationError) as refused:
        ServiceSettings(outbox_lease_seconds=lease, outbox_heartbeat_seconds=heartbeat)
    assert "at most half of BERDAYA_OUTBOX_LEASE_SECONDS" in str(refused.value)


def test_a_heartbeat_of_half_the_lease_is_accepted() -> None:
    settings = ServiceSettings(outbox_lease_seconds=1.0, outbox_heartbeat_seconds=0.5)
    assert settings.outbox_heartbeat_seconds == 0.5
