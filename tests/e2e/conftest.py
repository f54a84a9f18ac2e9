"""What the end-to-end tests share: a real SMTP server to count the e-mails."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.notifications import SmtpSink, smtp_sink


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    with smtp_sink() as sink:
        yield sink
