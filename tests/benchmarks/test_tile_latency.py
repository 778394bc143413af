"""Warm tile latency: l3a's product tiles against titiler's plain COG tiler on the same file.

One app holds both: the service's (``create_app``, tiles at ``/products/{id}/tiles``) and,
mounted here only, titiler's stock ``TilerFactory`` with its default ``?url=`` path
dependency at ``/cog``. Both draw the same tiles of the same COG with the same stretch and
colormap (the outputs are asserted byte-identical, so they do the same work); l3a adds its
product lookup, its layer presets and rio-tiler's multi-asset reader. The figure is the
ratio of the medians, measured interleaved so that machine noise hits both alike.

Run: ``pytest tests/benchmarks/test_tile_latency.py --run-benchmarks -s``.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from typing import Any

import morecantile
import pytest
from fastapi.testclient import TestClient
from titiler.core.factory import TilerFactory

from api.app import create_app
from api.settings import Settings
from catalog.demo import DEMO_BBOX, DEMO_PERIOD, ensure_demo
from catalog.search import search
from engine.contract import Order
from engine.period import parse_period
from engine.pipeline import build_product
from tests.benchmarks.workload import CACHE

pytestmark = pytest.mark.benchmark

#: About 10 x 9 km at 10 m (~800 x 900 px, with overviews): a product of realistic shape.
BBOX = (DEMO_BBOX[0] + 0.03, DEMO_BBOX[1] + 0.03, DEMO_BBOX[0] + 0.15, DEMO_BBOX[1] + 0.11)
PRODUCT_ID = "bench"
ROUNDS = 40
TARGET_RATIO = 1.2
#: layer -> titiler options drawing the same picture from the plain COG.
CASES: dict[str, str] = {
    "red": "",  # a reflectance band, grey, stretched
    "count": "&colormap_name=viridis&nodata=0",  # a quality layer through a colormap
}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    data_dir = tmp_path_factory.mktemp("tile-bench")
    demo = ensure_demo(CACHE)  # generated once, kept between runs
    (data_dir / "demo").symlink_to(demo.parent, target_is_directory=True)
    period = parse_period(DEMO_PERIOD)
    items = search(str(demo), BBOX, *period.search_interval())
    build_product(Order(bbox=BBOX, period=period, method="synthesis", resolution=10),
                  items, data_dir / "products" / PRODUCT_ID)
    app = create_app(Settings(data_dir=data_dir))
    plain = TilerFactory(router_prefix="/cog")  # the baseline: never mounted by the service
    app.include_router(plain.router, prefix="/cog")
    # `with`: one event loop and one worker-thread pool for the whole run, as under uvicorn
    # (a client per request would start fresh threads, and GDAL contexts, every time).
    with TestClient(app) as test_client:
        yield test_client


def tiles_of(client: TestClient) -> list[morecantile.Tile]:
    """The 3 x 3 tiles around the product's centre at its native zoom."""
    tilejson = client.get(f"/products/{PRODUCT_ID}/tiles/WebMercatorQuad/tilejson.json").json()
    west, south, east, north = tilejson["bounds"]
    centre = morecantile.tms.get("WebMercatorQuad").tile(
        (west + east) / 2, (south + north) / 2, tilejson["maxzoom"])
    return [morecantile.Tile(centre.x + dx, centre.y + dy, centre.z)
            for dy in (-1, 0, 1) for dx in (-1, 0, 1)]


def timed_get(client: TestClient, url: str) -> float:
    start = time.perf_counter()
    response = client.get(url)
    elapsed = time.perf_counter() - start
    assert response.status_code == 200, response.text
    return elapsed


def measure(client: TestClient, layer: str, extra: str) -> dict[str, Any]:
    layers = client.get(f"/products/{PRODUCT_ID}/tiles/layers").json()["layers"]
    low, high = next(x for x in layers if x["id"] == layer)["legend"]["rescale"]
    cog = client.app.state.settings.products_dir / PRODUCT_ID / f"{layer}.tif"  # type: ignore[attr-defined]
    pairs = []
    for tile in tiles_of(client):
        xyz = f"tiles/WebMercatorQuad/{tile.z}/{tile.x}/{tile.y}.png"
        ours = f"/products/{PRODUCT_ID}/tiles/{xyz}?layer={layer}"
        theirs = f"/cog/{xyz}?url={cog}&rescale={low},{high}{extra}"
        # Warm both (and check they draw the same picture).
        assert client.get(ours).content == client.get(theirs).content
        pairs.append((ours, theirs))
    l3a: list[float] = []
    plain: list[float] = []
    for i in range(ROUNDS):
        for ours, theirs in pairs:
            # Alternate who goes first: caches and CPU frequency favour neither.
            if i % 2:
                plain.append(timed_get(client, theirs))
                l3a.append(timed_get(client, ours))
            else:
                l3a.append(timed_get(client, ours))
                plain.append(timed_get(client, theirs))
    p50_l3a, p50_plain = statistics.median(l3a) * 1e3, statistics.median(plain) * 1e3
    return {"layer": layer, "n": len(l3a), "l3a_ms": p50_l3a, "plain_ms": p50_plain,
            "ratio": p50_l3a / p50_plain}


@pytest.fixture(scope="module")
def figures(client: TestClient) -> dict[str, dict[str, Any]]:
    results = {layer: measure(client, layer, extra) for layer, extra in CASES.items()}
    print("\nwarm tile p50 (256 px PNG, same COG, same tiles, same app):")
    for r in results.values():
        print(f"  {r['layer']:<6} l3a {r['l3a_ms']:6.2f} ms   titiler ?url= {r['plain_ms']:6.2f} ms"
              f"   ratio {r['ratio']:.2f}   (n={r['n']})")
    rgb = [timed_get(client, f"/products/{PRODUCT_ID}/tiles/tiles/WebMercatorQuad/"
                             f"{t.z}/{t.x}/{t.y}.png") for t in tiles_of(client) * 5]
    print(f"  rgb    l3a {statistics.median(rgb) * 1e3:6.2f} ms   (three COGs; no single-file "
          "baseline)")
    return results


@pytest.mark.parametrize("layer", list(CASES))
def test_product_tiles_cost_at_most_20_percent_more_than_plain_titiler(
        figures: dict[str, dict[str, Any]], layer: str) -> None:
    assert figures[layer]["ratio"] <= TARGET_RATIO, figures[layer]
