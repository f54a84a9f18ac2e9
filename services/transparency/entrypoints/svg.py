"""Geometry of the server-drawn SVG: bar charts, and the map of jobs projected from
their coordinates (Web Mercator, so that tiles, when configured, line up)."""

from __future__ import annotations

import math
from dataclasses import dataclass

# Kota Jambi's extent (lat/lng): the map shows at least this, so points keep their
# place on the page as jobs are added.
CITY_SOUTH, CITY_NORTH = -1.69, -1.55
CITY_WEST, CITY_EAST = 103.53, 103.67
MAP_WIDTH = 640
TILE = 256


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    text: str  # the value as written beside the bar
    y: float
    width: float
    href: str | None = None
    reference: float | None = None  # e.g. the ceiling, drawn as a lighter bar behind
    reference_width: float = 0.0


@dataclass(frozen=True)
class BarChart:
    bars: tuple[Bar, ...]
    height: float
    label_width: float = 240.0
    plot_width: float = 330.0
    row: float = 26.0


def bar_chart(
    rows: list[tuple[str, float, str, str | None, float | None]], row: float = 26.0
) -> BarChart:
    """Horizontal bars: (label, value, text, link, reference) per row, scaled to the
    largest value or reference."""
    plot = 330.0
    largest = max([max(v, r or 0.0) for _, v, _, _, r in rows] + [0.0])
    scale = plot / largest if largest > 0 else 0.0
    bars = tuple(
        Bar(
            label=label,
            value=value,
            text=text,
            y=index * row,
            width=max(value * scale, 0.0),
            href=href,
            reference=reference,
            reference_width=(reference or 0.0) * scale,
        )
        for index, (label, value, text, href, reference) in enumerate(rows)
    )
    return BarChart(bars=bars, height=max(len(rows), 1) * row, plot_width=plot, row=row)


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    label: str
    href: str
    done: bool
    count: int | None = None  # a group of jobs (a kecamatan's), drawn with its number
    done_count: int = 0
    radius: float = 7.0


@dataclass(frozen=True)
class Tile:
    href: str
    x: float
    y: float
    size: float


@dataclass(frozen=True)
class MapPicture:
    width: float
    height: float
    points: tuple[Point, ...]
    tiles: tuple[Tile, ...]
    attribution: str


@dataclass(frozen=True)
class Place:
    """One job at its coordinates; or, with `count`, a group of jobs (e.g. a
    kecamatan's, at the mean of their coordinates), `done_count` of them done."""

    lat: float
    lng: float
    label: str
    href: str
    done: bool
    count: int | None = None
    done_count: int = 0


def radius_of(count: int | None) -> float:
    """A job's dot; a group's grows with its number (by area), within bounds."""
    if count is None:
        return 7.0
    return round(min(30.0, 11.0 + 1.5 * math.sqrt(count)), 1)


def mercator(lat: float, lng: float) -> tuple[float, float]:
    """World coordinates at zoom 0 (0…256 each way)."""
    x = (lng + 180.0) / 360.0 * TILE
    sin = math.sin(math.radians(lat))
    y = (0.5 - math.log((1 + sin) / (1 - sin)) / (4 * math.pi)) * TILE
    return x, y


def map_of(places: list[Place], tiles_url: str = "", attribution: str = "") -> MapPicture:
    """The points placed in a `MAP_WIDTH`-wide picture of the city (and any point
    outside it), with the tiles that cover it when `tiles_url` ({z}/{x}/{y}) is set."""
    lats = [CITY_SOUTH, CITY_NORTH, *(p.lat for p in places)]
    lngs = [CITY_WEST, CITY_EAST, *(p.lng for p in places)]
    (x0, y0), (x1, y1) = mercator(max(lats), min(lngs)), mercator(min(lats), max(lngs))
    margin = (x1 - x0) * 0.04
    x0, x1, y0, y1 = x0 - margin, x1 + margin, y0 - margin, y1 + margin
    scale = MAP_WIDTH / (x1 - x0)
    height = (y1 - y0) * scale
    points = tuple(
        Point(
            x=round((mercator(p.lat, p.lng)[0] - x0) * scale, 1),
            y=round((mercator(p.lat, p.lng)[1] - y0) * scale, 1),
            label=p.label,
            href=p.href,
            done=p.done,
            count=p.count,
            done_count=p.done_count,
            radius=radius_of(p.count),
        )
        for p in places
    )
    tiles = _tiles(tiles_url, x0, y0, x1, y1, scale) if tiles_url else ()
    return MapPicture(MAP_WIDTH, round(height, 1), points, tiles, attribution if tiles else "")


def _tiles(url: str, x0: float, y0: float, x1: float, y1: float, scale: float) -> tuple[Tile, ...]:
    # the zoom whose tiles are shown at about their own size (a scale of 1 to 2)
    zoom = max(0, min(19, math.floor(math.log2(scale))))
    factor = 2**zoom
    size = TILE * scale / factor  # a tile's size on the picture
    found = []
    for tx in range(math.floor(x0 * factor / TILE), math.floor(x1 * factor / TILE) + 1):
        for ty in range(math.floor(y0 * factor / TILE), math.floor(y1 * factor / TILE) + 1):
            href = url.replace("{z}", str(zoom)).replace("{x}", str(tx)).replace("{y}", str(ty))
            found.append(
                Tile(
                    href=href,
                    x=round(tx * TILE / factor * scale - x0 * scale, 1),
                    y=round(ty * TILE / factor * scale - y0 * scale, 1),
                    size=round(size, 1),
                )
            )
    return tuple(found)
