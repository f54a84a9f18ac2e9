"""The public transparency page after a real flow through the services as processes,
walked in a real browser (Playwright driving Debian's chromium: deploy/local/browser.sh
installs it): the figures, the pages, the English switch, and a new event appearing
without a reload. The screenshots it takes are the README's (see SCREENSHOTS)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
from playwright.sync_api import Page, expect, sync_playwright

from shared.contracts import new_envelope
from tests.support.events import budget_allocated
from tests.support.flow import road_journey
from tests.support.infrastructure import Infrastructure
from tests.support.people import SUPERVISOR, auth
from tests.support.processes import ServiceProcess, running_system, start_service, wait_ready
from tests.support.runtime import publish_envelope

CHROMIUM = "/usr/bin/chromium"
REPO = Path(__file__).resolve().parents[2]
# The README's screenshots come from this test: BERDAYA_SCREENSHOTS=docs/screenshots
# writes them there; by default they go under .run/, so a test run leaves the tree clean.
SCREENSHOTS = REPO / os.environ.get("BERDAYA_SCREENSHOTS", ".run/screenshots")
T = TypeVar("T")


@pytest.fixture
def system(
    infra: Infrastructure, namespace: str, tmp_path: Path
) -> Iterator[dict[str, ServiceProcess]]:
    with running_system(infra, namespace, tmp_path) as services:
        # started before the flow: its queues exist before the first event is published
        page = start_service("transparency", infra, namespace, tmp_path)
        try:
            wait_ready(page)
            yield {**services, "transparency": page}
        finally:
            page.stop()


def in_a_thread(work: Callable[[], T]) -> T:
    """Run `work` in a thread of its own: this one has an event loop running (the
    session's), which neither `asyncio.run` nor Playwright's sync API accepts."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(work).result()


def in_a_browser(walk: Callable[[Page], None]) -> None:
    if not Path(CHROMIUM).exists():
        raise AssertionError(f"no {CHROMIUM}: run deploy/local/browser.sh first")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            walk(browser.new_page(viewport={"width": 1200, "height": 900}))
        finally:
            browser.close()


def test_the_page_shows_a_real_flow_and_a_new_event_without_a_reload(
    system: dict[str, ServiceProcess], infra: Infrastructure, namespace: str
) -> None:
    # the city's finance system sets Telanaipura's 2026 ceiling
    pagu = budget_allocated(ceiling_idr=500_000_000, reference="DPA-2026-TLP")
    envelope = new_envelope(pagu, producer="city-finance", correlation_id="pagu-2026")
    in_a_thread(lambda: asyncio.run(publish_envelope(infra, namespace, envelope)))
    proposal_id = road_journey(
        system["proposals"].url, system["materials"].url, system["notifications"].url
    )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    in_a_thread(lambda: in_a_browser(lambda page: walk(page, system, proposal_id)))


def walk(page: Page, system: dict[str, ServiceProcess], proposal_id: str) -> None:
    base = system["transparency"].url

    # the overview: Indonesian first, the flow's figures, small
    overview = httpx.get(f"{base}/", timeout=10)
    assert len(overview.content) < 100_000
    page.goto(f"{base}/")
    expect(page.locator("html")).to_have_attribute("lang", "id")
    telanaipura = page.locator('tr[data-kecamatan="Telanaipura"]')
    expect(telanaipura.locator('[data-figure="jobs_completed"]')).to_have_text("1", timeout=30_000)
    expect(telanaipura.locator('[data-figure="approved_budget"]')).to_have_text("Rp 150.000.000")
    expect(telanaipura.locator('[data-figure="ceiling"]')).to_have_text("Rp 500.000.000")
    expect(page.locator('dd[data-figure="volunteers"]')).to_have_text("35")
    expect(page.locator('tr[data-item="cement"] [data-figure="delivered"]')).to_have_text("493")
    expect(page.locator("svg circle")).to_have_count(1)  # the job on the map
    page.screenshot(path=str(SCREENSHOTS / "overview.png"), full_page=True)

    # English, by the switch a keyboard reaches
    page.get_by_role("link", name="English").focus()
    page.keyboard.press("Enter")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(telanaipura.locator('[data-figure="approved_budget"]')).to_have_text("Rp 150,000,000")
    page.screenshot(path=str(SCREENSHOTS / "overview-en.png"), full_page=True)

    # the kecamatan, then the proposal with its timeline and photos' references
    page.goto(f"{base}/kecamatan/Telanaipura")
    expect(page.locator("h1")).to_contain_text("Telanaipura")
    expect(page.locator(f'tr[data-proposal="{proposal_id}"]')).to_contain_text("Selesai dikerjakan")
    page.screenshot(path=str(SCREENSHOTS / "kecamatan.png"), full_page=True)
    page.locator(f'tr[data-proposal="{proposal_id}"] a').click()
    expect(page.locator('[data-figure="state"]')).to_have_text("Selesai dikerjakan")
    expect(page.locator('li[data-step="work.completed"]')).to_have_count(1)
    expect(page.locator("a[href='https://photos.example.org/day-3.jpg']").first).to_be_visible()
    assert "rt-head" not in page.content() and "city-officer-sari" not in page.content()

    # a supervisor validates the job: the open page shows it without being reloaded
    page.evaluate("window.notReloaded = true")
    validated = httpx.post(
        f"{system['proposals'].url}/proposals/{proposal_id}/validate",
        json={},
        headers=auth(SUPERVISOR),
        timeout=10,
    )
    assert validated.status_code == 200, validated.text
    expect(page.locator('[data-figure="state"]')).to_have_text(
        "Divalidasi dan diserahkan", timeout=30_000
    )
    expect(page.locator('li[data-step="work.validated"]')).to_have_count(1)
    assert page.evaluate("window.notReloaded") is True
    expect(page.locator("#live-status")).to_have_text("Data diperbarui.")
    page.screenshot(path=str(SCREENSHOTS / "proposal.png"), full_page=True)

    # the downloads
    csv = httpx.get(f"{base}/data/proposals.csv", params={"year": 2026}, timeout=10)
    assert proposal_id in csv.text and "validated" in csv.text and "rt-head" not in csv.text
