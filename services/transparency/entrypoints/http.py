"""The public page: server-rendered HTML (Indonesian first, English by `?lang=en`),
downloads (CSV, JSON) and the live-update stream. No token: everything here is public,
and the read model holds nothing personal."""

from __future__ import annotations

import asyncio
import csv
import io
import math
import statistics
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi import Path as PathParameter
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from fastapi.templating import Jinja2Templates

from services.transparency.adapters.repository import ReadModel
from services.transparency.domain.facts import Allocation
from services.transparency.domain.figures import CityFigures, Figures, city_figures
from services.transparency.domain.proposals import WIB, ProposalView
from services.transparency.entrypoints import svg
from services.transparency.entrypoints.i18n import Words, language
from services.transparency.entrypoints.shapes import PublishedProposal
from services.transparency.settings import TransparencySettings
from shared.clock import format_timestamp, utc_now
from shared.contracts.types import FIRST_FISCAL_YEAR, LAST_FISCAL_YEAR
from shared.reference.areas import area_register
from shared.web.app import ServiceDatabase
from shared.web.problems import REF

HERE = Path(__file__).parent
STATIC = HERE / "static"
TEMPLATES = Jinja2Templates(directory=HERE / "templates")
LATEST_SHOWN = 20
# A kecamatan page lists (and maps) this many proposals at a time.
PAGE_SIZE = 100

Lang = Annotated[str | None, Query(max_length=2, description="`en` for English")]
Year = Annotated[int | None, Query(ge=FIRST_FISCAL_YEAR, le=LAST_FISCAL_YEAR)]
Kecamatan = Annotated[str, Query(max_length=120)]
PageNumber = Annotated[int, Query(ge=1, le=10_000, description="which 100 proposals to list")]
KecamatanName = Annotated[str, PathParameter(max_length=120)]

Answers = dict[int | str, dict[str, Any]]
ERROR_BODY = f"{REF}ErrorBody"


def _error(why: str) -> dict[str, Any]:
    """An error answer as the shared document helper states them: ErrorBody, in JSON
    (whatever the route's own media type)."""
    return {"description": why, "content": {"application/json": {"schema": {"$ref": ERROR_BODY}}}}


# The shared helper (shared/web/problems.py: document_errors) adds the error answers
# (413, 422, 429 when limited, 503), keeping the 404 descriptions given here.
def _or_not_found(why: str) -> Answers:
    return {404: _error(why)}


# Each event /live sends, as OpenAPI 3.1 describes an event stream (`schema`: one event).
LIVE_EVENT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "event": {"enum": ["hello", "change"], "description": "`change`: reload the figures"},
        "data": {"type": "string", "description": "the read model's version"},
        "retry": {"type": "integer", "description": "milliseconds before reconnecting"},
    },
    "required": ["event", "data"],
}


class CsvResponse(Response):
    """A download in CSV (`text/csv; charset=utf-8`), so documented."""

    media_type = "text/csv"


class EventStream(StreamingResponse):
    """Server-sent events, so documented."""

    media_type = "text/event-stream"


def build_router() -> APIRouter:
    router = APIRouter(tags=["public page"])

    @router.get("/", response_class=HTMLResponse, summary="The city overview")
    async def overview(
        request: Request, db: ServiceDatabase, lang: Lang = None, year: Year = None
    ) -> HTMLResponse:
        model = ReadModel(db)
        version = await model.last_change()  # before the reads: a change after shows
        chosen = await _year(model, year)
        return overview_page(
            request,
            request.app.state.settings,
            Shown(lang, chosen, await _years(model, chosen), version),
            await model.public_views(year=chosen),
            await model.allocations(chosen),
        )

    @router.get(
        "/kecamatan/{name}",
        response_class=HTMLResponse,
        responses=_or_not_found("no kecamatan of that name in Kota Jambi"),
        summary="One kecamatan",
    )
    async def kecamatan(
        request: Request,
        db: ServiceDatabase,
        name: KecamatanName,
        lang: Lang = None,
        year: Year = None,
        page: PageNumber = 1,
    ) -> HTMLResponse:
        if name not in _kecamatan_names():
            raise HTTPException(404, f"no kecamatan {name!r} in Kota Jambi")
        model = ReadModel(db)
        version = await model.last_change()
        chosen = await _year(model, year)
        return kecamatan_page(
            request,
            request.app.state.settings,
            Shown(lang, chosen, await _years(model, chosen), version),
            name,
            await model.public_views(year=chosen, kecamatan=name),
            await model.allocations(chosen),
            page,
        )

    @router.get(
        "/usulan/{proposal_id}",
        response_class=HTMLResponse,
        responses=_or_not_found("no published proposal with this id"),
        summary="One proposal",
    )
    async def proposal(
        request: Request, db: ServiceDatabase, proposal_id: uuid.UUID, lang: Lang = None
    ) -> HTMLResponse:
        model = ReadModel(db)
        version = await model.last_change()
        view = await model.public_view(proposal_id)
        if view is None:
            raise HTTPException(404, "no published proposal with this id")
        shown = Shown(lang, view.year, await _years(model, view.year), version)
        return _render(
            request,
            request.app.state.settings,
            "proposal.html",
            shown,
            lambda link: _proposal_places([view], link),
            view=view,
        )

    @router.get("/data/figures.json", summary="The figures per kecamatan, as JSON")
    async def figures_json(db: ServiceDatabase, year: Year = None) -> CityFigures:
        return await _figures(ReadModel(db), year)

    @router.get(
        "/data/figures.csv",
        response_class=CsvResponse,
        summary="The figures per kecamatan, as CSV",
    )
    async def figures_csv(db: ServiceDatabase, year: Year = None) -> CsvResponse:
        figures = await _figures(ReadModel(db), year)
        return _csv(f"berdaya-figures-{figures.year}.csv", _figure_rows(figures))

    @router.get("/data/proposals.json", summary="The published proposals, as JSON")
    async def proposals_json(
        db: ServiceDatabase, year: Year = None, kecamatan: Kecamatan | None = None
    ) -> list[PublishedProposal]:
        model = ReadModel(db)
        views = await model.public_views(year=await _year(model, year), kecamatan=kecamatan)
        return [PublishedProposal.of(view) for view in views]

    @router.get(
        "/data/proposals.csv",
        response_class=CsvResponse,
        summary="The published proposals, as CSV",
    )
    async def proposals_csv(
        db: ServiceDatabase, year: Year = None, kecamatan: Kecamatan | None = None
    ) -> CsvResponse:
        model = ReadModel(db)
        chosen = await _year(model, year)
        views = await model.public_views(year=chosen, kecamatan=kecamatan)
        return _csv(f"berdaya-proposals-{chosen}.csv", _proposal_rows(views))

    @router.get(
        "/live",
        response_class=EventStream,
        responses={200: {"content": {"text/event-stream": {"schema": LIVE_EVENT}}}},
        summary="Server-sent events: `change` whenever the figures change",
    )
    async def live(request: Request, db: ServiceDatabase) -> EventStream:
        settings: TransparencySettings = request.app.state.settings
        return EventStream(
            _changes(request, ReadModel(db), settings),
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    return router


async def _changes(
    request: Request, model: ReadModel, settings: TransparencySettings
) -> AsyncIterator[str]:
    """A `change` whenever the read model's last change moves (checked in the database,
    so it works whichever replica handled the event); ends after a while, and the
    browser opens a new one (`retry`)."""
    ends = time.monotonic() + settings.transparency_live_max_seconds
    seen = await model.last_change()
    yield f"retry: 3000\nevent: hello\ndata: {seen}\n\n"
    while time.monotonic() < ends and not await request.is_disconnected():
        await asyncio.sleep(settings.transparency_live_poll_seconds)
        now = await model.last_change()
        if now != seen:
            seen = now
            yield f"event: change\ndata: {now}\n\n"


def _kecamatan_names() -> list[str]:
    return area_register().kecamatan


async def _year(model: ReadModel, given: int | None) -> int:
    """The year asked for; else the newest with data; else this year."""
    if given is not None:
        return given
    years = await model.years()
    return years[0] if years else utc_now().astimezone(WIB).year


async def _figures(model: ReadModel, year: int | None) -> CityFigures:
    chosen = await _year(model, year)
    views = await model.public_views(year=chosen)
    return city_figures(views, await model.allocations(chosen), chosen, _kecamatan_names())


async def _years(model: ReadModel, year: int) -> list[int]:
    """The years the page offers: those with data, and the one shown."""
    return sorted({year, *await model.years()}, reverse=True)


@dataclass(frozen=True)
class Shown:
    """What every page is rendered for: the language asked for, the year shown, the
    years offered and the read model's version (for the live updates)."""

    lang: str | None
    year: int
    years: list[int]
    version: str


Link = Callable[..., str]


def overview_page(
    request: Request,
    settings: TransparencySettings,
    shown: Shown,
    views: list[ProposalView],
    allocations: list[Allocation],
) -> HTMLResponse:
    """The city overview of `views` (the year's public proposals). Its map has one
    point per kecamatan, so the page's size does not grow with the proposals."""
    figures = city_figures(views, allocations, shown.year, _kecamatan_names())
    latest = sorted(views, key=lambda v: v.last_step_at, reverse=True)[:LATEST_SHOWN]
    return _render(
        request,
        settings,
        "overview.html",
        shown,
        lambda link: _kecamatan_places(views, link),
        figures=figures,
        area=figures.city,
        latest=latest,
    )


def kecamatan_page(
    request: Request,
    settings: TransparencySettings,
    shown: Shown,
    name: str,
    views: list[ProposalView],
    allocations: list[Allocation],
    page: int = 1,
) -> HTMLResponse:
    """One kecamatan: its figures from all of `views`; its proposals — in the table
    and on the map — `PAGE_SIZE` at a time (`?page=`), so the page stays small."""
    figures = city_figures(views, allocations, shown.year, [name])
    area = next(f for f in figures.kecamatan if f.kecamatan == name)
    pages = max(1, math.ceil(len(views) / PAGE_SIZE))
    page = min(page, pages)
    listed = views[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    return _render(
        request,
        settings,
        "kecamatan.html",
        shown,
        lambda link: _proposal_places(listed, link),
        area=area,
        name=name,
        views=listed,
        paging=Pagination(
            page=page,
            pages=pages,
            first=(page - 1) * PAGE_SIZE + 1,
            last=(page - 1) * PAGE_SIZE + len(listed),
            total=len(views),
        ),
    )


@dataclass(frozen=True)
class Pagination:
    """What the page shows of its place in a kecamatan's list (100 proposals a page)."""

    page: int
    pages: int
    first: int  # the first listed, counting from 1
    last: int
    total: int


def _proposal_places(views: list[ProposalView], link: Link) -> list[svg.Place]:
    return [
        svg.Place(
            lat=v.location.lat,
            lng=v.location.lng,
            label=v.title or str(v.proposal_id),
            href=link(f"/usulan/{v.proposal_id}"),
            done=v.done,
        )
        for v in views
        if v.location is not None
    ]


def _kecamatan_places(views: list[ProposalView], link: Link) -> list[svg.Place]:
    """One place per kecamatan with located jobs: at the mean of their coordinates,
    counting them (and those done), linking to the kecamatan's page."""
    located: dict[str, list[ProposalView]] = {}
    for v in views:
        if v.location is not None:
            located.setdefault(v.area.kecamatan, []).append(v)
    places = []
    for name, jobs in sorted(located.items()):
        done = sum(1 for v in jobs if v.done)
        places.append(
            svg.Place(
                lat=statistics.fmean(v.location.lat for v in jobs if v.location),
                lng=statistics.fmean(v.location.lng for v in jobs if v.location),
                label=name,
                href=link(f"/kecamatan/{name}"),
                done=done == len(jobs),
                count=len(jobs),
                done_count=done,
            )
        )
    return places


def _render(
    request: Request,
    settings: TransparencySettings,
    template: str,
    shown: Shown,
    places: Callable[[Link], list[svg.Place]],
    **context: Any,
) -> HTMLResponse:
    lang = language(shown.lang)
    words = Words(lang)
    year = shown.year

    def link(path: str, **params: object) -> str:
        """`path` in the page's language (and year, unless given)."""
        wanted: dict[str, object] = {"year": year, **params}
        if lang != "id":
            wanted["lang"] = lang
        query = urlencode({k: v for k, v in wanted.items() if v is not None})
        return f"{quote(path)}?{query}" if query else quote(path)

    def switched() -> str:
        other = "id" if lang == "en" else "en"
        params = dict(request.query_params)
        params["lang"] = other
        if other == "id":
            params.pop("lang")
        query = urlencode(params)
        return f"{request.url.path}?{query}" if query else request.url.path

    picture = svg.map_of(
        places(link),
        settings.transparency_map_tiles_url,
        settings.transparency_map_tiles_attribution,
    )
    return TEMPLATES.TemplateResponse(
        request,
        template,
        {
            **_charts(words, context, link),
            "web_link": web_link,
            "wib": WIB,
            "t": words,
            "lang": lang,
            "year": year,
            "years": shown.years,
            "version": shown.version,
            "link": link,
            "switched": switched(),
            "map": picture,
            "bar_chart": svg.bar_chart,
            "kecamatan_names": _kecamatan_names(),
            "format_timestamp": format_timestamp,
            **context,
        },
        headers={"Content-Language": lang, "Cache-Control": "no-cache"},
    )


def _charts(words: Words, context: dict[str, Any], link: Any) -> dict[str, svg.BarChart]:
    """The charts of the area the page shows (states, materials) and, on the overview,
    each kecamatan's budget against its ceiling."""
    charts: dict[str, svg.BarChart] = {}
    area: Figures | None = context.get("area")
    if area is not None:
        charts["state_chart"] = svg.bar_chart(
            [(words.state(s), n, words.number(n), None, None) for s, n in area.by_state.items()]
        )
        charts["materials_chart"] = svg.bar_chart(
            [
                row
                for f in area.materials
                for row in (
                    (
                        f"{words.item(f.item)} · {words('dispatched')}",
                        f.dispatched / (f.bill or 1),
                        f"{words.quantity(f.dispatched)} / {words.quantity(f.bill)} {f.unit}",
                        None,
                        1.0,
                    ),
                    (
                        f"{words.item(f.item)} · {words('delivered')}",
                        f.delivered / (f.bill or 1),
                        f"{words.quantity(f.delivered)} / {words.quantity(f.bill)} {f.unit}",
                        None,
                        1.0,
                    ),
                )
            ]
        )
    figures: CityFigures | None = context.get("figures")
    if figures is not None:
        charts["budget_chart"] = svg.bar_chart(
            [
                (
                    k.kecamatan or "",
                    float(k.approved_budget_idr),
                    f"{words.percent(k.budget_share)}" if k.ceiling_idr else words("no_ceiling"),
                    link(f"/kecamatan/{k.kecamatan}"),
                    float(k.ceiling_idr) if k.ceiling_idr else None,
                )
                for k in figures.kecamatan
            ]
        )
    return charts


def web_link(reference: str) -> bool:
    """Only http(s) references become links (never a `javascript:` one)."""
    return reference.startswith(("https://", "http://"))


# ---- downloads ---------------------------------------------------------------------------

FIGURE_COLUMNS = (
    "year",
    "kecamatan",
    "proposals",
    "ceiling_idr",
    "approved_budget_idr",
    "jobs_completed",
    "jobs_validated",
    "volunteers",
    "labour_days",
    "median_days_to_approval",
    "median_days_to_completion",
)


def _figure_rows(figures: CityFigures) -> list[list[object]]:
    states = list(figures.city.by_state)
    rows: list[list[object]] = [[*FIGURE_COLUMNS, *(f"state_{s}" for s in states)]]
    for area in (*figures.kecamatan, figures.city):
        values = area.model_dump()
        values["kecamatan"] = area.kecamatan or "Kota Jambi"
        rows.append(
            [*(values[c] for c in FIGURE_COLUMNS), *(area.by_state.get(s, 0) for s in states)]
        )
    return rows


PROPOSAL_COLUMNS = (
    "proposal_id",
    "year",
    "kecamatan",
    "kelurahan",
    "rt",
    "title",
    "work_type",
    "state",
    "budget_idr",
    "percent",
    "volunteers",
    "labour_days",
    "submitted_at",
    "approved_at",
    "completed_at",
    "validated_at",
    "lat",
    "lng",
)


def _proposal_rows(views: list[ProposalView]) -> list[list[object]]:
    rows: list[list[object]] = [list(PROPOSAL_COLUMNS)]
    for v in views:
        at = {
            name: format_timestamp(value) if value else ""
            for name, value in (
                ("submitted_at", v.submitted_at),
                ("approved_at", v.approved_at),
                ("completed_at", v.completed_at),
                ("validated_at", v.validated_at),
            )
        }
        rows.append(
            [
                v.proposal_id,
                v.year,
                v.area.kecamatan,
                v.area.kelurahan,
                v.area.rt,
                v.title or "",
                v.work_type or "",
                v.state,
                v.budget_idr,
                v.percent,
                v.volunteers,
                v.labour_days,
                *at.values(),
                v.location.lat if v.location else "",
                v.location.lng if v.location else "",
            ]
        )
    return rows


def _csv(filename: str, rows: list[list[object]]) -> CsvResponse:
    out = io.StringIO()
    writer = csv.writer(out)
    for row in rows:
        writer.writerow([_cell(value) for value in row])
    return CsvResponse(
        out.getvalue(),
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _cell(value: object) -> object:
    """Text a spreadsheet would take for a formula is written as text (CSV injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
