"""The public page rendered from a built read model (no database): small at a city's
volume — the overview maps one point per kecamatan, a kecamatan lists its proposals
by pages — the budget chart's bars link to their kecamatan, and the map draws its
points with or without tiles."""

from __future__ import annotations

import random
import re
import uuid

from starlette.requests import Request

from services.transparency.domain.facts import Place
from services.transparency.domain.proposals import ProposalView, view_of
from services.transparency.entrypoints import http, svg
from services.transparency.settings import TransparencySettings
from shared.contracts.types import Location
from shared.reference.areas import area_register
from tests.unit.test_transparency_figures import facts_of_a_road

KB = 1000
LIMIT = 100 * KB
TILES = "https://tiles.example.org/{z}/{x}/{y}.png"
SHOWN = http.Shown(lang=None, year=2026, years=[2027, 2026], version="v1")


def proposals(count: int, kecamatan: str | None = None, seed: int = 13) -> list[ProposalView]:
    """`count` public proposals spread over the city's kecamatan (or all in one), each
    at its own place, with long-ish titles: a year at a city's volume."""
    road = view_of(facts_of_a_road(uuid.uuid4()))
    names = area_register().kecamatan
    chance = random.Random(seed)
    return [
        road.model_copy(
            update={
                "proposal_id": uuid.UUID(int=chance.getrandbits(128)),
                "area": Place(
                    kecamatan=kecamatan or names[index % len(names)],
                    kelurahan="Kelurahan Simpang Tiga Sipin",
                    rt=f"{index % 40 + 1:03d}",
                ),
                "location": Location(
                    lat=-1.69 + chance.random() * 0.14,
                    lng=103.53 + chance.random() * 0.14,
                    description="Gang Mawar",
                ),
                "title": f"Rabat beton Gang Mawar {index} sampai ke ujung gang",
                "state": chance.choice(["approved", "in_progress", "completed", "validated"]),
            }
        )
        for index in range(count)
    ]


def request(path: str, query: str = "") -> Request:
    return Request(
        {
            "type": "http",
            "method": "GET",
            "scheme": "http",
            "server": ("transparency", 80),
            "root_path": "",
            "path": path,
            "query_string": query.encode(),
            "headers": [],
        }
    )


def overview(views: list[ProposalView], settings: TransparencySettings | None = None) -> str:
    page = http.overview_page(request("/"), settings or TransparencySettings(), SHOWN, views, [])
    return bytes(page.body).decode()


def kecamatan(name: str, views: list[ProposalView], page: int = 1) -> str:
    rendered = http.kecamatan_page(
        request(f"/kecamatan/{name}"), TransparencySettings(), SHOWN, name, views, [], page
    )
    return bytes(rendered.body).decode()


def test_the_overview_of_a_thousand_proposals_stays_under_100_kb() -> None:
    views = proposals(1000)
    for lang in (None, "en"):
        shown = http.Shown(lang=lang, year=2026, years=[2026], version="v1")
        page = http.overview_page(request("/"), TransparencySettings(), shown, views, [])
        assert len(page.body) < LIMIT, (lang, len(page.body))
    text = overview(views)
    # the map: one point per kecamatan, with its number of jobs, linking to its page
    names = area_register().kecamatan
    assert text.count("<circle") == len(names)
    for name in names:
        jobs = sum(1 for v in views if v.area.kecamatan == name)
        point = re.search(rf'<a href="([^"]+)" aria-label="[^"]*" data-kecamatan="{name}">', text)
        assert point is not None, name
        assert point[1].startswith("/kecamatan/") and "year=2026" in point[1]
        assert f"Kecamatan {name}: {jobs} pekerjaan," in text
    # no proposal's own point: the latest ones are linked from their table only
    assert text.count("/usulan/") == http.LATEST_SHOWN


def test_a_kecamatan_point_sits_at_the_mean_of_its_jobs() -> None:
    views = proposals(40, "Telanaipura")
    (point,) = svg.map_of(http._kecamatan_places(views, lambda path, **_: path)).points
    (alone,) = svg.map_of(
        [
            svg.Place(
                lat=sum(v.location.lat for v in views if v.location) / len(views),
                lng=sum(v.location.lng for v in views if v.location) / len(views),
                label="mean",
                href="/",
                done=False,
            )
        ]
    ).points
    assert (point.x, point.y) == (alone.x, alone.y)
    assert point.count == 40 and point.href == "/kecamatan/Telanaipura"
    assert point.done_count == sum(1 for v in views if v.done)
    assert point.radius > svg.radius_of(None)


def test_a_kecamatan_of_three_hundred_proposals_lists_them_by_pages_under_100_kb() -> None:
    views = proposals(300, "Danau Sipin")
    pages = [kecamatan("Danau Sipin", views, page) for page in (1, 2, 3)]
    for text in pages:
        assert len(text.encode()) < LIMIT, len(text.encode())
    for number, text in enumerate(pages):
        shown = views[number * http.PAGE_SIZE : (number + 1) * http.PAGE_SIZE]
        listed = re.findall(r'<tr data-proposal="([^"]+)">', text)
        assert listed == [str(v.proposal_id) for v in shown]
        assert text.count("<circle") == len(shown)  # the map: the listed ones
        assert "Peta menunjukkan usulan yang didaftar di halaman ini." in text
        # every figure counts all 300
        assert '<dd data-figure="proposals">300</dd>' in text
    assert "Usulan 1\u2013100 dari 300" in pages[0] and 'rel="prev"' not in pages[0]
    assert 'href="/kecamatan/Danau%20Sipin?year=2026&amp;page=2" rel="next"' in pages[0]
    assert 'page=1" rel="prev"' in pages[1] and 'page=3" rel="next"' in pages[1]
    assert "Usulan 201\u2013300 dari 300" in pages[2] and 'rel="next"' not in pages[2]
    # past the last page: the last one
    assert "Usulan 201\u2013300 dari 300" in kecamatan("Danau Sipin", views, 9)


def test_a_small_kecamatan_lists_everything_on_one_page() -> None:
    views = proposals(3, "Telanaipura")
    text = kecamatan("Telanaipura", views)
    assert len(re.findall(r"<tr data-proposal=", text)) == 3
    assert text.count("<circle") == 3 and 'class="pages"' not in text
    for view in views:
        assert f'<a href="/usulan/{view.proposal_id}?year=2026"><circle' in text


def test_each_bar_of_the_budget_chart_links_to_its_kecamatan() -> None:
    text = overview(proposals(30))
    chart = text[text.index('<svg role="group" aria-labelledby="budget-chart-title"') :]
    chart = chart[: chart.index("</svg>")]
    for name in area_register().kecamatan:
        link = re.search(rf'<a href="(/kecamatan/[^"]+)" aria-label="{name}: [^"]+">\s*<g', chart)
        assert link is not None, name
        assert link[1].startswith(f"/kecamatan/{name.replace(' ', '%20')}?")
    # a chart without links stays an image
    assert '<svg role="img" aria-labelledby="states-chart-title"' in text


def place(lat: float, lng: float, done: bool = False) -> svg.Place:
    return svg.Place(lat=lat, lng=lng, label="Jalan", href="/usulan/x", done=done)


def test_the_map_with_a_tiles_template_draws_the_tiles_behind_the_points() -> None:
    picture = svg.map_of([place(-1.61, 103.59)], TILES, "© OpenStreetMap contributors")
    assert picture.tiles and picture.attribution == "© OpenStreetMap contributors"
    for tile in picture.tiles:
        found = re.fullmatch(r"https://tiles\.example\.org/(\d+)/(\d+)/(\d+)\.png", tile.href)
        assert found is not None, tile.href
        z, x, y = map(int, found.groups())
        assert 0 <= x < 2**z and 0 <= y < 2**z
        assert tile.size > 0
    # together they cover the picture
    assert min(t.x for t in picture.tiles) <= 0 and min(t.y for t in picture.tiles) <= 0
    assert max(t.x + t.size for t in picture.tiles) >= picture.width
    assert max(t.y + t.size for t in picture.tiles) >= picture.height
    (point,) = picture.points
    assert 0 < point.x < picture.width and 0 < point.y < picture.height

    settings = TransparencySettings(
        transparency_map_tiles_url=TILES,
        transparency_map_tiles_attribution="© OpenStreetMap contributors",
    )
    text = overview(proposals(12), settings)
    assert text.count('<image href="https://tiles.example.org/') == len(picture.tiles)
    figure = text[text.index('<figure class="map">') :]
    figure = figure[: figure.index("</figure>")]
    assert figure.index("<image") < figure.index("<circle")  # behind the points
    assert "© OpenStreetMap contributors</figcaption>" in figure


def test_the_map_without_tiles_still_shows_the_points() -> None:
    picture = svg.map_of([place(-1.61, 103.59), place(-1.60, 103.62, done=True)])
    assert picture.tiles == () and picture.attribution == ""
    assert len(picture.points) == 2
    assert all(0 < p.x < picture.width and 0 < p.y < picture.height for p in picture.points)
    # a point outside the city widens the picture rather than falling off it
    far = svg.map_of([place(-1.80, 103.80)])
    (outside,) = far.points
    assert 0 < outside.x < far.width and 0 < outside.y < far.height

    text = kecamatan("Telanaipura", proposals(5, "Telanaipura"))
    assert "<image" not in text and "OpenStreetMap" not in text
    assert text.count("<circle") == 5
    assert svg.map_of([], TILES).tiles  # an empty map still has its tiles
    assert "Belum ada pekerjaan dengan koordinat." in overview([])
