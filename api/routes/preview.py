"""Preview tiles: see a period's mosaic before ordering it (`api.preview`, `engine.preview`).

- ``GET /preview/tilejson.json?period=...&method=...&layer=...``: a TileJSON 3.0.0 whose tiles
  are computed on the fly from the service's catalogue, with the engine's own methods;
- ``GET /preview/tiles/{z}/{x}/{y}.png`` (or ``.webp``): one tile; 204 with an
  ``X-L3A-Preview`` header below the minimum zoom (``L3A_PREVIEW_MIN_ZOOM``) or where the
  period has no scene;
- ``GET /preview/layers``: the layers a method's preview can be drawn as, with legends.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

import anyio.from_thread
from fastapi import APIRouter, FastAPI, Path, Query, Request
from fastapi.responses import Response

from api.preview import (
    MEDIA,
    Abandoned,
    BelowMinZoom,
    NothingHere,
    PreviewRequest,
    PreviewService,
    preview_legend,
)
from api.preview import check_request as check_preview
from api.services import BaseUrl
from api.settings import Settings
from api.tiles.styles import PRESETS, REFLECTANCE
from engine.contract import DEFAULT_METHOD, METHODS, QUALITY
from engine.errors import InvalidParameter
from engine.masks import chain
from engine.period import parse_period

router = APIRouter(prefix="/preview", tags=["Preview"])
#: The header that says why a preview tile is empty.
REASON = "X-L3A-Preview"
#: Web Mercator's latitude limit.
_MAX_LAT = 85.0511287798066
_SERVICE = "preview_service"

Period = Annotated[str, Query(min_length=1, max_length=64, description=(
    "YYYY-MM (month), YYYY-Qn (quarter), YYYY (year) or START/END (ISO dates), as in an order"))]
Method = Annotated[str, Query(json_schema_extra={"enum": list(METHODS)},
                              description="Mosaicking method, as in an order")]
Layer = Annotated[str, Query(json_schema_extra={"enum": list(PRESETS)},
                             description="What to draw: rgb, falsecolor, a band or a quality "
                             "layer of the method (as the products' ?layer=)")]
CloudMask = Annotated[str, Query(max_length=64, description=(
    "The order's cloud_mask; the preview applies it without the CNN (too slow per tile)"))]
TileSize = Annotated[int, Query(description="256 or 512 pixels")]


def register_preview(app: FastAPI, settings: Settings) -> None:
    """Mount the preview's routes, with its caches, on ``app``."""
    setattr(app.state, _SERVICE, PreviewService(settings))
    app.include_router(router)


def preview_service(request: Request) -> PreviewService:
    """The service's preview caches (`register_preview`)."""
    service: PreviewService = getattr(request.app.state, _SERVICE)
    return service


def _request(period: str, method: str, layer: str, cloud_mask: str, tilesize: int,
             fmt: str) -> PreviewRequest:
    try:
        canonical = chain.canonical(cloud_mask)
    except InvalidParameter as exc:
        raise InvalidParameter("cloud_mask", exc.message) from None
    return check_preview(parse_period(period), method, layer, canonical, tilesize, fmt)


@router.get("/tilejson.json", summary="TileJSON of a preview",
            responses={200: {"description": "TileJSON 3.0.0"}})
def preview_tilejson(
    request: Request, base: BaseUrl, period: Period, method: Method = DEFAULT_METHOD,
    layer: Layer = "rgb", cloud_mask: CloudMask = chain.DEFAULT, tilesize: TileSize = 256,
    format: Annotated[str, Query(json_schema_extra={"enum": list(MEDIA)})] = "png",
) -> dict[str, Any]:
    """What an order of this period and method would give, as web map tiles, before ordering."""
    checked = _request(period, method, layer, cloud_mask, tilesize, format)
    settings = request.app.state.settings
    extent = preview_service(request).extent(checked.period)
    query = urlencode({"period": checked.period.label, "method": method, "layer": layer,
                       "cloud_mask": checked.cloud_mask, "tilesize": tilesize})
    return {
        "tilejson": "3.0.0",
        "name": f"l3a preview: {method} of {checked.period.label} ({layer})",
        "description": f"{METHODS[method]}; computed per tile from the catalogue, cloud mask "
        f"{checked.cloud_mask} without the CNN. Order the product for the exact values.",
        "tiles": [f"{base}/preview/tiles/{{z}}/{{x}}/{{y}}.{format}?{query}"],
        "minzoom": settings.preview_min_zoom,
        "maxzoom": 18,
        "bounds": list(extent or (-180.0, -_MAX_LAT, 180.0, _MAX_LAT)),
        "tileSize": tilesize,
    }


@router.get("/layers", summary="The layers of a method's preview, with legends")
def preview_layers(request: Request, period: Period, method: Method = DEFAULT_METHOD
                   ) -> dict[str, Any]:
    """The ``layer`` values a method's preview can be drawn as, and how each is drawn."""
    parsed = parse_period(period)
    quality = {q.key for q in QUALITY.get(method, ())}
    layers = []
    for name, preset in PRESETS.items():
        if all(a in REFLECTANCE or a in quality for a in preset.assets):
            checked = check_preview(parsed, method, name, chain.DEFAULT, 256, "png")
            layers.append({"id": name, "title": preset.title, "assets": list(preset.assets),
                           "legend": preview_legend(checked)})
    return {"method": method, "default": "rgb", "layers": layers}


@router.get(
    "/tiles/{z}/{x}/{y}.{format}", summary="A preview tile", response_class=Response,
    responses={200: {"content": {media: {} for media in MEDIA.values()},
                     "description": "the tile"},
               204: {"description": f"no tile: below the minimum zoom, or no scene of the "
                                    f"period here ({REASON} says which)"}},
)
def preview_tile(
    request: Request,
    z: Annotated[int, Path(ge=0, le=24)],
    x: Annotated[int, Path(ge=0)],
    y: Annotated[int, Path(ge=0)],
    format: Annotated[str, Path(json_schema_extra={"enum": list(MEDIA)})],
    period: Period, method: Method = DEFAULT_METHOD, layer: Layer = "rgb",
    cloud_mask: CloudMask = chain.DEFAULT, tilesize: TileSize = 256,
) -> Response:
    """One tile of the preview, computed on first request and kept (bounded)."""
    checked = _request(period, method, layer, cloud_mask, tilesize, format)
    if x >= 2**z or y >= 2**z:
        raise InvalidParameter("x" if x >= 2**z else "y", f"outside the zoom {z} grid")
    def still_wanted() -> bool:
        # This route runs on a worker thread: ask the event loop whether the client is there.
        return not anyio.from_thread.run(request.is_disconnected)

    try:
        image = preview_service(request).tile(checked, z, x, y, still_wanted)
    except (BelowMinZoom, NothingHere, Abandoned) as exc:
        return Response(status_code=204, headers={REASON: str(exc)})
    return Response(image, media_type=MEDIA[checked.fmt],
                    headers={"Cache-Control": "public, max-age=600"})
