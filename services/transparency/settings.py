"""The transparency service's settings: the shared ones, plus the page's own (each an
environment variable prefixed `BERDAYA_`)."""

from __future__ import annotations

from pydantic import Field

from shared.settings import ServiceSettings


class TransparencySettings(ServiceSettings):
    service_name: str = "transparency"

    # Map tiles behind the jobs' points, e.g. https://tile.openstreetmap.org/{z}/{x}/{y}.png
    # (the page then loads images from that server; respect its usage policy). Empty:
    # the points alone, on the city's outline of coordinates — the page needs nothing
    # from outside.
    transparency_map_tiles_url: str = Field(default="", pattern=r"^(https?://\S+)?$")
    transparency_map_tiles_attribution: str = "© OpenStreetMap contributors"
    # How often an open page's live connection looks for a change of the figures.
    transparency_live_poll_seconds: float = Field(default=1.0, gt=0, le=60)
    # A live connection ends after this (the browser opens a new one by itself), so
    # that a stop never waits for it.
    transparency_live_max_seconds: float = Field(default=300.0, gt=0)
    # The rebuild reads the event history from this stream (empty: the namespace's
    # history stream, shared/messaging/topology.py) until nothing comes for this long.
    transparency_history_stream: str = ""
    transparency_rebuild_idle_seconds: float = Field(default=2.0, gt=0)
