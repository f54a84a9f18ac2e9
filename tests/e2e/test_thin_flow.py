"""The thin flow through the three services running as real processes:
submit → review → approve → bill of materials → shipment → receipt → work → done,
with the RT head notified of every step.

The broker is set up as production sets it up: the definitions of deploy/broker loaded
into a vhost of its own, the set-up step run as its own process and user, each service
connected as its own user with `BERDAYA_BROKER_TOPOLOGY=verify` — so the flow proves
that least privilege lets every service do its part, and every consumer trusted what
the broker vouched for (nothing dead-lettered)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.broker_access import least_privilege_system
from tests.support.flow import road_journey, until
from tests.support.infrastructure import Infrastructure
from tests.support.notifications import RT_HEAD_ENTRY, SmtpSink
from tests.support.processes import ServiceProcess, metric

# What the RT head is e-mailed at once: every step he did not take himself.
RT_HEAD_EMAILS = [
    "[Berdaya] Usulan diperiksa kelurahan",
    "[Berdaya] Usulan didukung kecamatan",
    "[Berdaya] Usulan disetujui",
    "[Berdaya] Material disiapkan",
    "[Berdaya] Material dikirim",
    "[Berdaya] Semua material lengkap",
]


@pytest.fixture
def system(
    infra: Infrastructure, namespace: str, tmp_path: Path, smtp: SmtpSink
) -> Iterator[dict[str, ServiceProcess]]:
    mail = {"BERDAYA_SMTP_HOST": "127.0.0.1", "BERDAYA_SMTP_PORT": str(smtp.port)}
    with least_privilege_system(infra, namespace, tmp_path, {"notifications": mail}) as services:
        yield services


def test_a_road_goes_from_proposal_to_completion_across_three_services(
    system: dict[str, ServiceProcess], smtp: SmtpSink
) -> None:
    road_journey(system["proposals"].url, system["materials"].url, system["notifications"].url)

    # … and e-mailed at once of each step someone else took, once each
    until(lambda: len(smtp.to(RT_HEAD_ENTRY["email"])), lambda n: n >= len(RT_HEAD_EMAILS))
    mails = smtp.to(RT_HEAD_ENTRY["email"])
    assert sorted(m["Subject"] for m in mails) == sorted(RT_HEAD_EMAILS)
    assert len({m["Message-ID"] for m in mails}) == len(RT_HEAD_EMAILS)
    for service in system.values():  # every event came from the user the broker vouched for
        assert metric(service.url, "berdaya_dead_lettered_total") == 0, service.log_tail()
