"""Cold preview tiles: l3a's per-tile synthesis against rio-tiler's median mosaic, same tiles.

What titiler-pgstac does for a mosaic of any place and period is rio-tiler's
``mosaic_reader`` with a pixel selection method over the items of the tile: the baseline here
is exactly that, with ``MedianMethod``, reading each demo item's red, green and blue COGs
(``Reader.tile``), drawn with the preview's stretch, mounted in the same app as
``/baseline/{z}/{x}/{y}.png``. l3a's ``/preview/tiles`` does more per tile: the SCL, the
AOT, the cloud field over a margin, and the method; its tile cache is off
(``L3A_PREVIEW_CACHE_TILES=0``) so every tile is computed, as a tile no one has asked for yet
is. The catalogue search is made once per area in both (the baseline is handed the items).

Tiles: up to `PER_ZOOM` distinct tiles a zoom, 11 to 14, over the demo, each asked once of
each, who goes first alternating. The figures are p50 and p95 per zoom and over all tiles;
the target (issue 16) is at most 1.5x rio-tiler's at both.

Measured here (2 cores; three runs, 26 tiles each): synthesis p50 1.15-1.21x rio-tiler's,
p95 1.38-1.45x; median 1.18-1.19x and 1.35-1.38x; composite 1.71-1.74x and 1.96-2.02x.
The synthesis' tail is the first tile of each zoom-10 block, which computes the block's
cloud field (SCL at 3 x 3 samples a ~240 m cell over the block and a 9 km margin, +0.2-0.3
s); the demo spans two such blocks, so two of the 26 tiles pay it.

Run: ``pytest tests/benchmarks/test_preview_latency.py --run-benchmarks -s``.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from typing import Any

import morecantile
import numpy as np
import pytest
from fastapi import APIRouter
from fastapi.responses import Response
from fastapi.testclient import TestClient
from rio_tiler.io import Reader
from rio_tiler.models import ImageData
from rio_tiler.mosaic import mosaic_reader
from rio_tiler.mosaic.methods import MedianMethod

from api.app import create_app
from api.preview import REFLECTANCE_RANGE
from api.settings import Settings
from catalog.demo import DEMO_BBOX, DEMO_PERIOD, ensure_demo
from catalog.model import NormalizedItem
from catalog.search import search
from engine.period import parse_period
from tests.benchmarks.workload import CACHE

pytestmark = pytest.mark.benchmark

ZOOMS = (11, 12, 13, 14)
PER_ZOOM = 8
TARGET_RATIO = 1.5
RGB = ("red", "green", "blue")
WEB_MERCATOR = morecantile.tms.get("WebMercatorQuad")


def baseline_router(items: list[NormalizedItem]) -> APIRouter:
    """rio-tiler's median mosaic of the items' RGB, as titiler-pgstac would draw it."""
    router = APIRouter()

    def read(item: NormalizedItem, x: int, y: int, z: int, **kwargs: Any) -> ImageData:
        images = []
        for band in RGB:
            with Reader(item.bands[band].href) as src:
                images.append(src.tile(x, y, z, indexes=1))
        return ImageData.create_from_list(images)

    @router.get("/baseline/{z}/{x}/{y}.png")
    def tile(z: int, x: int, y: int) -> Response:
        image, _ = mosaic_reader(items, read, x, y, z, pixel_selection=MedianMethod(),
                                 threads=8)
        image.rescale(in_range=[REFLECTANCE_RANGE] * 3)
        return Response(image.render(img_format="PNG"), media_type="image/png")

    return router


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    data_dir = tmp_path_factory.mktemp("preview-bench")
    demo = ensure_demo(CACHE)
    (data_dir / "demo").symlink_to(demo.parent, target_is_directory=True)
    period = parse_period(DEMO_PERIOD)
    items = search(str(demo), DEMO_BBOX, *period.search_interval())
    app = create_app(Settings(data_dir=data_dir, preview_cache_tiles=0))
    app.include_router(baseline_router(items))
    with TestClient(app) as test_client:
        yield test_client


def tiles() -> list[morecantile.Tile]:
    """Up to `PER_ZOOM` tiles a zoom, wholly inside the demo, spread over it."""
    chosen = []
    for z in ZOOMS:
        inside = [t for t in WEB_MERCATOR.tiles(*DEMO_BBOX, zooms=[z])
                  if _inside(WEB_MERCATOR.bounds(t), DEMO_BBOX)]
        inside = inside or list(WEB_MERCATOR.tiles(*DEMO_BBOX, zooms=[z]))
        step = max(1, len(inside) // PER_ZOOM)
        chosen += inside[::step][:PER_ZOOM]
    return chosen


def _inside(bounds: Any, box: tuple[float, float, float, float]) -> bool:
    return bool(bounds.left >= box[0] and bounds.bottom >= box[1] and bounds.right <= box[2]
                and bounds.top <= box[3])


def timed(client: TestClient, url: str) -> float:
    start = time.perf_counter()
    response = client.get(url)
    elapsed = time.perf_counter() - start
    assert response.status_code == 200, (url, response.status_code, response.text[:200])
    return elapsed


@pytest.fixture(scope="module")
def figures(client: TestClient) -> dict[str, dict[str, Any]]:
    chosen = tiles()
    # The searches (one per area at the minimum zoom) and the imports, before any timing.
    for tile in chosen:
        client.get(f"/preview/tiles/{tile.z}/{tile.x}/{tile.y}.png",
                   params={"period": DEMO_PERIOD, "method": "median"})
    results: dict[str, dict[str, Any]] = {}
    for method in ("synthesis", "median", "composite"):
        ours: dict[int, list[float]] = {z: [] for z in ZOOMS}
        theirs: dict[int, list[float]] = {z: [] for z in ZOOMS}
        # Each tile once per method: a different pyramid level of the inputs is read at
        # each zoom, and GDAL's block cache does not outlive a dataset, which both close.
        for i, tile in enumerate(chosen):
            xyz = f"{tile.z}/{tile.x}/{tile.y}.png"
            preview = f"/preview/tiles/{xyz}?period={DEMO_PERIOD}&method={method}"
            baseline = f"/baseline/{xyz}"
            if i % 2:
                theirs[tile.z].append(timed(client, baseline))
                ours[tile.z].append(timed(client, preview))
            else:
                ours[tile.z].append(timed(client, preview))
                theirs[tile.z].append(timed(client, baseline))
        results[method] = _summary(ours, theirs)
    print("\ncold preview tiles, 256 px PNG, demo July 2024 (12 scenes), ms:")
    for method, r in results.items():
        for zoom, row in r["zooms"].items():
            print(f"  {method:<9} z{zoom}  l3a p50 {row['p50'][0]:6.0f} p95 {row['p95'][0]:6.0f}"
                  f"   rio-tiler median p50 {row['p50'][1]:6.0f} p95 {row['p95'][1]:6.0f}"
                  f"   (n={row['n']})")
        print(f"  {method:<9} all  ratio p50 {r['ratio_p50']:.2f}  p95 {r['ratio_p95']:.2f}")
    return results


def _summary(ours: dict[int, list[float]], theirs: dict[int, list[float]]) -> dict[str, Any]:
    def pct(values: list[float], q: float) -> float:
        return float(np.percentile(values, q)) * 1e3

    zooms = {z: {"n": len(ours[z]), "p50": (pct(ours[z], 50), pct(theirs[z], 50)),
                 "p95": (pct(ours[z], 95), pct(theirs[z], 95))} for z in ZOOMS if ours[z]}
    all_ours = [v for z in ZOOMS for v in ours[z]]
    all_theirs = [v for z in ZOOMS for v in theirs[z]]
    return {"zooms": zooms,
            "ratio_p50": statistics.median(all_ours) / statistics.median(all_theirs),
            "ratio_p95": pct(all_ours, 95) / pct(all_theirs, 95)}


@pytest.mark.parametrize("statistic", ["ratio_p50", "ratio_p95"])
def test_a_cold_synthesis_preview_tile_costs_at_most_1_5x_rio_tiler_s_median(
        figures: dict[str, dict[str, Any]], statistic: str) -> None:
    assert figures["synthesis"][statistic] <= TARGET_RATIO, figures["synthesis"]
