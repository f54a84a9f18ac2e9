"""Bounds on what one proposal keeps: progress reports, and where its photo links point."""

from __future__ import annotations

import pytest

from services.proposals.domain.lifecycle import State
from services.proposals.domain.model import MAX_PROGRESS_REPORTS, ProgressReport, Proposal
from services.proposals.domain.photos import DEVELOPMENT_PHOTO_HOSTS, PhotoPolicy
from services.proposals.settings import ProposalsSettings
from shared.errors import Conflict, Unprocessable
from tests.unit.proposals.builders import NOW, RT_HEAD, proposal_in


def report(percent: int) -> ProgressReport:
    return ProgressReport(percent=percent, note="site visit", reported_by=RT_HEAD.id, at=NOW)


def with_reports(count: int, percent: int = 50) -> Proposal:
    proposal = proposal_in(State.IN_PROGRESS)
    proposal.progress = [report(percent) for _ in range(count - len(proposal.progress))]
    return proposal


def test_a_proposal_keeps_at_most_the_cap_of_reports() -> None:
    proposal = with_reports(MAX_PROGRESS_REPORTS, percent=100)
    with pytest.raises(Conflict, match=f"the most a proposal keeps is {MAX_PROGRESS_REPORTS}"):
        proposal.report_progress(report(100), RT_HEAD)
    assert len(proposal.progress) == MAX_PROGRESS_REPORTS


def test_the_last_place_is_kept_for_the_report_of_100() -> None:
    proposal = with_reports(MAX_PROGRESS_REPORTS - 1)
    entries = len(proposal.timeline)
    with pytest.raises(Conflict, match="the last one is kept for the report of 100%"):
        proposal.report_progress(report(60), RT_HEAD)
    assert len(proposal.timeline) == entries
    assert proposal.report_progress(report(100), RT_HEAD) is True
    assert len(proposal.progress) == MAX_PROGRESS_REPORTS


def test_a_completion_with_a_final_report_checks_the_cap_before_changing_anything() -> None:
    proposal = with_reports(MAX_PROGRESS_REPORTS, percent=90)
    with pytest.raises(Conflict):
        proposal.complete(RT_HEAD, NOW, "done", final=report(100))
    assert proposal.state is State.IN_PROGRESS
    assert len(proposal.progress) == MAX_PROGRESS_REPORTS


def test_the_cap_keeps_a_full_document_far_below_16_mb() -> None:
    biggest = ProgressReport(
        percent=100,
        note="x" * 2000,
        photos=tuple(f"https://photos.example.org/{'p' * 460}{i:02}.jpg" for i in range(20)),
        volunteers=10_000,
        labour_days=100_000,
        reported_by=RT_HEAD.id,
        at=NOW,
    )
    # the report, and its timeline entry that repeats the note
    per_report = len(biggest.model_dump_json()) + 2_500
    assert MAX_PROGRESS_REPORTS * per_report < 4 * 1024 * 1024


# -- photo links -------------------------------------------------------------------------

PRODUCTION_POLICY = PhotoPolicy(hosts=("foto.jambikota.go.id",), allow_http=False)


def test_a_link_to_an_allowed_host_over_https_is_taken() -> None:
    PRODUCTION_POLICY.check(["https://foto.jambikota.go.id/2026/rt-003/a.jpg"])
    PhotoPolicy().check(["http://localhost:9000/a.jpg", "https://photos.example.org/b.jpg"])


@pytest.mark.parametrize(
    ("link", "said"),
    [
        ("http://foto.jambikota.go.id/a.jpg", "starts with https://"),
        ("ftp://foto.jambikota.go.id/a.jpg", "starts with https://"),
        ("javascript:alert(1)", "starts with https://"),
        ("https://evil.example/a.jpg", "photos are kept at foto.jambikota.go.id"),
        ("https://foto.jambikota.go.id.evil.example/a.jpg", "not at foto.jambikota.go.id.evil"),
        ("https://user:pw@foto.jambikota.go.id/a.jpg", "no user name or password"),
        ("https://evil.example@foto.jambikota.go.id/a.jpg", "no user name or password"),
        ("https://foto.jambikota.go.id:port/a.jpg", "is not a link"),
        ("photo-1.jpg", "starts with https://"),
    ],
)
def test_any_other_link_is_refused_naming_what_is_allowed(link: str, said: str) -> None:
    with pytest.raises(Unprocessable, match=r"^photo 2: ") as caught:
        PRODUCTION_POLICY.check(["https://foto.jambikota.go.id/ok.jpg", link])
    assert said in str(caught.value)


def test_http_only_in_development() -> None:
    assert ProposalsSettings(environment="development").photo_policy.allow_http
    # the photo rules alone: the rest of production's demands are tested with them
    production = ProposalsSettings.model_construct(
        environment="production", photo_hosts=("Foto.Jambikota.go.id",)
    )
    assert production.photo_policy == PRODUCTION_POLICY
    production.check_photo_hosts()


def test_production_refuses_the_development_hosts() -> None:
    production = ProposalsSettings.model_construct(
        environment="production", photo_hosts=DEVELOPMENT_PHOTO_HOSTS
    )
    with pytest.raises(ValueError, match="BERDAYA_PHOTO_HOSTS names development hosts"):
        production.check_photo_hosts()
