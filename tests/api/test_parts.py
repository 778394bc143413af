"""A product built in parts, through the service: one item, mosaics over HTTP, tiles across seams.

A server with ``L3A_PART_SIZE=512`` builds an order of about 950 x 950 px at 20 m in 2 x 2
parts. The same order built in one part by the engine is put beside it in the products
folder, so that both are served by the same tiler and compared.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import morecantile
import numpy as np
import pytest
import rasterio
from PIL import Image
from pyproj import Transformer

from catalog.demo import DEMO_PERIOD, ensure_demo
from catalog.search import search
from engine.contract import Order
from engine.parts import PART_FIELD, VRT_TYPE
from engine.period import parse_period
from engine.pipeline import build_product
from tests.api.support import EXECUTE, LARGE_BBOX, Server, order, wait_final
from tests.stac_schemas import schema_map

PART = 512
WEB_MERCATOR = morecantile.tms.get("WebMercatorQuad")


@pytest.fixture(scope="module")
def parts_server(make_server: type[Server]) -> Server:
    return make_server("parts", part_size=str(PART)).start()


@pytest.fixture(scope="module")
def client(parts_server: Server) -> Iterator[httpx.Client]:
    with parts_server.client() as http:
        yield http


@pytest.fixture(scope="module")
def ordered(client: httpx.Client) -> dict[str, Any]:
    """The served item of the order in parts."""
    response = client.post(EXECUTE, json=order(bbox=LARGE_BBOX, resolution=20,
                                                method="synthesis"))
    assert response.status_code == 201, response.text
    job_id = response.json()["jobID"]
    done = wait_final(client, job_id, timeout=300)
    assert done["status"] == "successful", done
    return dict(client.get(f"/products/{job_id}").json())


@pytest.fixture(scope="module")
def one_part(parts_server: Server, ordered: dict[str, Any], demo: Path) -> str:
    """The same order built in one part, in the server's products folder; its id."""
    red = ordered["assets"]["red"]
    height, width = red["proj:shape"]
    a, _, c, _, e, f = red["proj:transform"][:6]
    epsg = int(ordered["properties"]["proj:code"].split(":")[1])
    period = parse_period(DEMO_PERIOD)
    engine_order = Order(bbox=tuple(LARGE_BBOX), period=period, method="synthesis",
                         resolution=20, epsg=epsg, cloud_mask="scl",
                         bounds=(c, f + e * height, c + a * width, f))
    items = search(str(ensure_demo(demo.parent)), tuple(LARGE_BBOX), *period.search_interval())
    build_product(engine_order, items, parts_server.products / "onepart",
                  product_id="onepart")
    return "onepart"


def test_the_product_is_one_item_with_a_mosaic_per_layer_and_its_parts(
        ordered: dict[str, Any]) -> None:
    assets = ordered["assets"]
    mosaics = {k: a for k, a in assets.items() if PART_FIELD not in a}
    pieces = {k: a for k, a in assets.items() if PART_FIELD in a}
    assert {"red", "green", "blue", "nir", "count", "weight"} <= set(mosaics)
    assert all(a["type"] == VRT_TYPE for a in mosaics.values())
    assert {a[PART_FIELD] for a in pieces.values()} == {"r0c0", "r0c1", "r1c0", "r1c1"}
    assert len(pieces) == 4 * len(mosaics)


def test_stac_validator_finds_the_item_valid(parts_server: Server,
                                             ordered: dict[str, Any]) -> None:
    from stac_validator.stac_validator import StacValidate

    validator = StacValidate(f"{parts_server.url}/products/{ordered['id']}",
                             schema_map=schema_map())
    assert validator.run(), validator.message


#: A user's own Python reading a mosaic over HTTP with rasterio (GDAL's /vsicurl): its whole
#: extent, its overview list and its coarsest level, saved for the test to compare.
GDAL_CLIENT = """
import sys, numpy as np, rasterio
with rasterio.open("/vsicurl/" + sys.argv[1]) as ds:
    factor = ds.overviews(1)[-1]
    shape = (-(-ds.height // factor), -(-ds.width // factor))
    np.savez(sys.argv[2], full=ds.read(1), level=ds.read(1, out_shape=shape),
             overviews=np.array(ds.overviews(1)))
"""


def test_gdal_reads_a_layers_mosaic_over_http_with_its_parts(
        parts_server: Server, ordered: dict[str, Any], tmp_path: Path) -> None:
    # The mosaic names its parts and its overview levels (`<key>.ovr<factor>.vrt`) relative
    # to itself: GDAL, reading it at its asset URL, fetches them at the URLs beside it, from
    # the same asset route. In a process of its own, as a user's (this one's GDAL settings
    # are the engine's).
    href = ordered["assets"]["red"]["href"]
    assert href.startswith(parts_server.url)
    subprocess.run([sys.executable, "-c", GDAL_CLIENT, href, str(tmp_path / "red.npz")],
                   check=True, timeout=120)
    remote = np.load(tmp_path / "red.npz")
    with rasterio.open(parts_server.products / ordered["id"] / "red.vrt") as local:
        assert remote["full"].shape == local.shape == tuple(
            ordered["assets"]["red"]["proj:shape"])
        assert list(remote["overviews"]) == local.overviews(1) != []
        assert np.array_equal(remote["full"], local.read(1))
        shape = remote["level"].shape
        assert np.array_equal(remote["level"], local.read(1, out_shape=shape))


def test_a_part_downloads_as_its_cog(client: httpx.Client, parts_server: Server,
                                     ordered: dict[str, Any]) -> None:
    href = ordered["assets"]["red.r1c1"]["href"]
    response = client.get(href)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("image/tiff")
    assert response.content == (parts_server.products / ordered["id"] / "red.r1c1.tif"
                                ).read_bytes()
    by_file = client.get(f"/products/{ordered['id']}/assets/red.r1c1.tif")
    assert by_file.content == response.content
    # Only the files the mosaics name, by their plain names.
    for name in ("red.r9c9.tif", "item.json", "..%2Fjobs.sqlite3", "red.ovr3.vrt"):
        assert client.get(f"/products/{ordered['id']}/assets/{name}").status_code == 404


def seam_tile(item: dict[str, Any], zoom: int, across: str) -> tuple[morecantile.Tile, int]:
    """A tile across the seam between the first and second column (``across="columns"``) or
    row of parts, and where the seam is in it (a column, or a row, of the tile)."""
    a, _, c, _, e, f = item["assets"]["red"]["proj:transform"][:6]
    height, width = item["assets"]["red"]["proj:shape"]
    to_lonlat = Transformer.from_crs(item["properties"]["proj:code"], "EPSG:4326",
                                     always_xy=True)
    if across == "columns":
        lon, lat = to_lonlat.transform(c + a * PART, f + e * height / 4)
    else:
        lon, lat = to_lonlat.transform(c + a * width / 4, f + e * PART)
    tile = WEB_MERCATOR.tile(lon, lat, zoom)
    bounds = WEB_MERCATOR.xy_bounds(tile)
    x, y = WEB_MERCATOR.xy(lon, lat)
    if across == "columns":
        return tile, int((x - bounds.left) / (bounds.right - bounds.left) * 256)
    return tile, int((bounds.top - y) / (bounds.top - bounds.bottom) * 256)


# Zooms where the seam crosses the tile rather than running along its edge (it does, by
# chance, for the columns' seam at zooms 12 to 15).
@pytest.mark.parametrize(("zoom", "across"), [(11, "columns"), (14, "rows"), (15, "rows")])
def test_a_tile_across_a_seam_is_the_one_part_products_tile(
        client: httpx.Client, ordered: dict[str, Any], one_part: str, zoom: int,
        across: str) -> None:
    tile, seam = seam_tile(ordered, zoom, across)
    assert 8 <= seam <= 248, "the seam crosses the tile, not its edge"
    images = {}
    for product in (ordered["id"], one_part):
        # The same fixed stretch for both: the comparison is of the pixels.
        response = client.get(f"/products/{product}/tiles/tiles/WebMercatorQuad/"
                              f"{tile.z}/{tile.x}/{tile.y}.png", params={"rescale": "0,3000"})
        assert response.status_code == 200, response.text
        images[product] = np.asarray(Image.open(io.BytesIO(response.content)))
    parted, whole = images[ordered["id"]], images[one_part]
    # No gap at the seam: both sides are drawn wherever the one-part product is.
    near = parted[:, seam - 4:seam + 4] if across == "columns" else parted[seam - 4:seam + 4]
    assert (near[..., 3] == 255).mean() > 0.5
    # No gap, no double weight, no shift: the same picture.
    assert np.array_equal(parted, whole)


def test_the_served_item_says_nothing_a_one_part_item_does_not(
        ordered: dict[str, Any], parts_server: Server, one_part: str) -> None:
    single = json.loads((parts_server.products / one_part / "item.json").read_text())
    mosaics = {k for k, a in ordered["assets"].items() if PART_FIELD not in a}
    assert mosaics == set(single["assets"])
    for key in mosaics:
        ours = {k: v for k, v in ordered["assets"][key].items() if k not in ("href", "type",
                                                                              "title")}
        theirs = {k: v for k, v in single["assets"][key].items() if k not in ("href", "type",
                                                                              "title")}
        assert ours == theirs, key
