"""The public transparency page after a real flow through the services as processes,
walked in a real browser (Playwright driving Debian's chromium: deploy/local/browser.sh
installs it): the figures, the pages, the English switch, and a new event appearing
without a reload; then with JavaScript off: the same figures, the skip link first on
Tab, every form field labelled. The screenshots it takes are the README's (see
SCREENSHOTS)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

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


def in_a_browser(walk: Callable[[Browser], None]) -> None:
    if not Path(CHROMIUM).exists():
        raise AssertionError(f"no {CHROMIUM}: run deploy/local/browser.sh first")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            walk(browser)
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

    def both_walks(browser: Browser) -> None:
        walk(browser.new_page(viewport={"width": 1200, "height": 900}), system, proposal_id)
        without_javascript(browser, system["transparency"].url, proposal_id)

    in_a_thread(lambda: in_a_browser(both_walks))


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
    # the overview maps kecamatan, not jobs: one point for Telanaipura, to its page
    point = page.locator('svg a[data-kecamatan="Telanaipura"]')
    expect(point).to_have_attribute("aria-label", "Kecamatan Telanaipura: 1 pekerjaan, 1 selesai")
    assert (point.get_attribute("href") or "").startswith("/kecamatan/Telanaipura?")
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


UNLABELLED = """() => [...document.querySelectorAll("input, select, textarea")]
    .filter((field) => field.type !== "hidden")
    .filter((field) => !(field.labels && field.labels.length)
        && !field.getAttribute("aria-label") && !field.getAttribute("aria-labelledby"))
    .map((field) => field.outerHTML)"""
FIELDS = "() => document.querySelectorAll('input:not([type=hidden]), select, textarea').length"


def without_javascript(browser: Browser, base: str, proposal_id: str) -> None:
    """The pages as served, JavaScript off: the figures are there (after the
    validation the first walk saw), the first Tab stop is the skip link, which leads
    to the content, and every form field has a label."""
    context = browser.new_context(
        java_script_enabled=False, viewport={"width": 1200, "height": 900}
    )
    try:
        page = context.new_page()
        for path in ("/", "/kecamatan/Telanaipura", f"/usulan/{proposal_id}"):
            page.goto(f"{base}{path}")
            # live.js did not run: its note stays hidden; the reload hint is there
            expect(page.locator(".live-js")).to_be_hidden()
            expect(page.locator("noscript")).to_have_count(1)
            # the first Tab stop: the skip link; Enter moves on to the content
            page.keyboard.press("Tab")
            expect(page.locator("a.skip")).to_be_focused()
            expect(page.locator("a.skip")).to_be_visible()
            page.keyboard.press("Enter")
            expect(page.locator("main#main")).to_be_focused()
            assert page.evaluate(UNLABELLED) == [], path

        page.goto(f"{base}/")
        assert page.evaluate(FIELDS) >= 1  # the year's form
        row = page.locator('tr[data-kecamatan="Telanaipura"]')
        expect(row.locator('[data-figure="jobs_completed"]')).to_have_text("1")
        expect(row.locator('[data-figure="jobs_validated"]')).to_have_text("1")
        expect(row.locator('[data-figure="approved_budget"]')).to_have_text("Rp 150.000.000")
        expect(row.locator('[data-figure="ceiling"]')).to_have_text("Rp 500.000.000")
        expect(page.locator('dd[data-figure="volunteers"]')).to_have_text("35")
        expect(page.locator('tr[data-item="cement"] [data-figure="delivered"]')).to_have_text("493")
        expect(page.locator("#budget-chart-title")).to_have_count(1)
        expect(page.locator("#states-chart-title")).to_have_count(1)
        expect(page.locator('svg a[data-kecamatan="Telanaipura"] circle')).to_have_count(1)

        page.goto(f"{base}/kecamatan/Telanaipura")
        expect(page.locator('dd[data-figure="proposals"]')).to_have_text("1")
        expect(page.locator('dd[data-figure="jobs_validated"]')).to_have_text("1")
        expect(page.locator('dd[data-figure="approved_budget"]')).to_have_text("Rp 150.000.000")
        expect(
            page.locator(f'tr[data-proposal="{proposal_id}"] [data-figure="state"]')
        ).to_have_text("Divalidasi dan diserahkan")
        expect(page.locator(f'svg a[href^="/usulan/{proposal_id}"] circle')).to_have_count(1)
        expect(page.locator("#states-chart-title")).to_have_count(1)
    finally:
        context.close()
