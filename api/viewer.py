"""The web page: ``/`` (order, watch, view and compare mosaics), its files under ``/static``.

``GET /`` is content-negotiated by `api.stac`: browsers get this page (`index_page`), JSON
clients the STAC landing page.

The page is plain HTML, CSS and JavaScript modules shipped inside the package
(``api/static``, declared as package data), with Leaflet vendored under
``static/vendor/leaflet``: it needs no build step and loads nothing from the internet but the
basemap's tiles, so it works offline like the rest of the service. The basemap is the
operator's tile URL (``L3A_BASEMAP_URL``, OpenStreetMap by default); without one, or when its
tiles fail (no internet), the page draws Natural Earth's countries from
``static/vendor/world-atlas``. It talks to the API with relative URLs, so it also works behind
a proxy that serves the service under a path.

``/viewer/config.json`` gives the page its defaults: an area inside the demo catalogue and
its month, so that one click orders a demo mosaic, and the basemap's URL and attribution.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from api.settings import Settings

STATIC_DIR = Path(str(files("api") / "static"))
#: Size of the prefilled area, degrees (about 5 x 4 km): a demo order done in seconds.
DEFAULT_AREA_DEG = (0.06, 0.04)


def register_viewer(app: FastAPI, settings: Settings) -> None:
    """Serve the page's files at ``/static`` and its defaults (the page: `index_page`).

    Args:
        app: the service's app.
        settings: the service's settings (the default catalogue, shown on the page).

    """
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    config = viewer_config(settings)

    @app.get("/viewer/config.json", include_in_schema=False)
    def viewer_defaults() -> dict[str, Any]:
        return config


def index_page() -> FileResponse:
    """Return the page itself; ``GET /`` (`api.stac`) answers it to browsers."""
    # no-cache: the browser revalidates (ETag), so a new version of the page is seen.
    # Vary: the same URL answers JSON clients the STAC landing page.
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html",
                        headers={"Cache-Control": "no-cache", "Vary": "Accept"})


def viewer_config(settings: Settings) -> dict[str, Any]:
    """Return the page's defaults: a small demo area, its month, the basemap's tiles.

    The basemap's ``url`` is empty when the operator wants no online basemap: the page then
    draws its offline one only.
    """
    from catalog.demo import DEMO_BBOX, DEMO_PERIOD

    west, south, east, north = DEMO_BBOX
    cx, cy = (west + east) / 2, (south + north) / 2
    dx, dy = DEFAULT_AREA_DEG[0] / 2, DEFAULT_AREA_DEG[1] / 2
    return {
        "bbox": [round(cx - dx, 4), round(cy - dy, 4), round(cx + dx, 4), round(cy + dy, 4)],
        "period": DEMO_PERIOD,
        "resolution": 20,
        "demo_bbox": list(DEMO_BBOX),
        "source": settings.source,
        "basemap": {"url": settings.basemap_url, "attribution": settings.basemap_attribution},
    }
