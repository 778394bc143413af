"""Settings of the service and the CLI, from ``L3A_*`` environment variables.

Read when the app or a command starts (never at import time), and passed down. Structured
values (``L3A_SOURCES``, ``L3A_CORS_ORIGINS``) are JSON in the environment, as
pydantic-settings reads them: ``L3A_SOURCES='{"demo": "demo", "es": "earth-search"}'``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything an operator may set. Each field is ``L3A_<NAME>`` in the environment."""

    model_config = SettingsConfigDict(env_prefix="L3A_", extra="ignore")

    data_dir: Path = Field(
        default=Path("l3a-data"), description="Job database, products, demo data."
    )
    source: str = Field(
        default="demo",
        description="Default catalogue: 'demo' (embedded, offline), a preset such as "
        "'earth-search', a STAC API URL or a local item file.",
    )
    dask_scheduler: str | None = Field(
        default=None,
        description="Address of a dask.distributed scheduler (tcp://host:8786); unset: a "
        "local cluster sized to the machine.",
    )
    gdal_options: dict[str, str] = Field(
        default_factory=dict,
        description="GDAL configuration options for reading the input COGs, layered over the "
        "engine's defaults (engine.load.GDAL_ENV), as JSON: "
        "L3A_GDAL_OPTIONS='{\"GDAL_HTTP_MAX_RETRY\": \"5\", \"AWS_REQUEST_PAYER\": "
        "\"requester\"}'. They travel inside the task graph to every dask worker, so put no "
        "secret here: give workers credentials through their own environment.",
    )
    sources: dict[str, str] = Field(
        default_factory=lambda: {"demo": "demo"},
        description="Catalogues that HTTP clients may name in an order's 'source' input: "
        "name -> what the catalogue search takes ('demo', a preset, a STAC API URL or a "
        "local item file). The default 'source' is always allowed under its own name. "
        "Clients only ever send the names, so no client input becomes a server path.",
    )
    allow_client_urls: bool = Field(
        default=False,
        description="Also accept an http(s) STAC API URL as an order's 'source' (the "
        "service then fetches from hosts its clients choose).",
    )
    max_area_km2: float = Field(
        default=2500.0, gt=0, description="Largest bbox an order may cover, km²."
    )
    max_queue: int = Field(
        default=16, ge=1,
        description="Orders waiting for a worker beyond which a new order gets 429.",
    )
    workers: int = Field(
        default=1, ge=1,
        description="Orders computed at once, each build in its own child process.",
    )
    build_nice: int = Field(
        default=10, ge=0, le=19,
        description="Niceness of the build processes (0-19). Builds keep every core busy; "
        "a lower CPU priority lets the service answer orders and tiles at once while they "
        "compute (the kernel still gives builds all the time the service leaves idle).",
    )
    api_key: str | None = Field(
        default=None,
        description="When set, POST and DELETE requests need it in an X-API-Key header.",
    )
    cors_origins: list[str] = Field(
        default_factory=list,
        description="Origins allowed to call the API from a browser (CORS); '*' for any; "
        "empty: no CORS headers.",
    )
    db_synchronous: Literal["FULL", "NORMAL"] = Field(
        default="FULL",
        description="SQLite synchronous mode of the job store. FULL: an acknowledged order "
        "survives a power loss (each commit is fsync'd). NORMAL: it survives a crash of the "
        "service but not of the machine, and orders are answered much faster while jobs "
        "write to the same disk.",
    )
    basemap_url: str = Field(
        default="https://tile.openstreetmap.org/{z}/{x}/{y}.png",
        description="XYZ tile URL of the web page's basemap ({z}/{x}/{y}, optionally {s}), "
        "loaded by the users' browsers; empty: no online basemap. Without one, or when its "
        "tiles fail to load (offline), the page draws Natural Earth's countries and their "
        "names from files the service ships.",
    )
    basemap_attribution: str = Field(
        default="&copy; OpenStreetMap contributors",
        description="Attribution shown on the map under the basemap's tiles (HTML), as the "
        "tiles' provider requires.",
    )
    public_url: str | None = Field(
        default=None,
        description="Base URL of the service as clients see it (behind a proxy), for the "
        "absolute links of jobs and products; unset: taken from each request.",
    )
    part_size: int = Field(
        default=8192, ge=512, le=65536,
        description="An order whose output grid is wider or taller than this many pixels is "
        "built in parts of this side (rounded up to whole 512 px cells): each part is computed "
        "and written as its own COGs by the worker that computes it, into the data directory "
        "(on a cluster, a folder every worker must see), and the product presents each layer "
        "as one mosaic (a GDAL VRT) over the parts.",
    )
    preview_min_zoom: int = Field(
        default=11, ge=6, le=18,
        description="Lowest zoom of the preview tiles (/preview): below it a tile would read "
        "more scenes than a web map waits for, and is answered 204 with an X-L3A-Preview "
        "header saying why.",
    )
    preview_cache_tiles: int = Field(
        default=512, ge=0, le=100_000,
        description="Rendered preview tiles kept in memory (about 100 kB each), keyed by the "
        "catalogue's items, the parameters and the tile; 0: none kept.",
    )
    preview_search_ttl_s: float = Field(
        default=600.0, ge=0,
        description="Seconds a preview keeps a catalogue search (per period and area) before "
        "asking the catalogue again: new scenes appear in previews after at most this long.",
    )

    @property
    def products_dir(self) -> Path:
        """Where finished products live, one folder each."""
        return self.data_dir / "products"

    @property
    def masks_dir(self) -> Path:
        """Computed cloud masks (CNN), kept for later orders over the same scenes."""
        return self.data_dir / "masks"

    @property
    def jobs_db(self) -> Path:
        """The SQLite job store."""
        return self.data_dir / "jobs.sqlite3"

    def allowed_sources(self) -> dict[str, str]:
        """Source names clients may use, the default one included."""
        return {self.source: self.source, **self.sources}
