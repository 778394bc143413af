"""Preview tiles against the ordered product: equal up to resampling, and said how close.

The whole demo is ordered at its native 20 m (so the product's cloud field sees all the
clouds the preview's margin sees) and tiles near its centre are compared pixel by pixel with
the product read onto the same tile (rio-tiler, nearest neighbour, from full resolution at
zooms 12 and up: 20 m pixels are larger than the tiles' 4.9-19 m).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import morecantile
import numpy as np
import pytest
from rio_tiler.io import Reader

from catalog.demo import DEMO_BBOX, DEMO_PERIOD
from catalog.model import MaskFlavour, NormalizedItem
from catalog.search import search
from engine.contract import Order
from engine.errors import InvalidParameter, NoObservations
from engine.period import parse_period
from engine.pipeline import build_product
from engine.preview import (
    FieldCache,
    Tile,
    cell_factor,
    field_block,
    items_over,
    preview_chain,
    preview_layers,
)

PERIOD = parse_period(DEMO_PERIOD)
BANDS = ("red", "green", "blue")
WEB_MERCATOR = morecantile.tms.get("WebMercatorQuad")
CENTRE = ((DEMO_BBOX[0] + DEMO_BBOX[2]) / 2, (DEMO_BBOX[1] + DEMO_BBOX[3]) / 2)


@pytest.fixture(scope="module")
def items(demo: Path) -> list[NormalizedItem]:
    start, end = PERIOD.search_interval()
    return search(str(demo / "items.ndjson"), DEMO_BBOX, start, end)


@pytest.fixture(scope="module")
def products(items: list[NormalizedItem], tmp_path_factory: pytest.TempPathFactory
             ) -> dict[str, Path]:
    out = {}
    for method in ("synthesis", "median"):
        folder = tmp_path_factory.mktemp(method) / "p"
        build_product(Order(bbox=DEMO_BBOX, period=PERIOD, method=method, bands=BANDS,
                            resolution=20, cloud_mask="scl"), items, folder)
        out[method] = folder
    return out


def product_on_tile(folder: Path, band: str, tile: Tile) -> np.ndarray:
    with Reader(str(folder / f"{band}.tif")) as src:
        image = src.tile(tile.x, tile.y, tile.z, indexes=1, resampling_method="nearest",
                         reproject_method="nearest")
    values = image.array[0].filled(0).astype(np.float64) * 1e-4
    values[np.ma.getmaskarray(image.array[0])] = np.nan
    return values


def central(z: int) -> Tile:
    t = WEB_MERCATOR.tile(*CENTRE, z)
    return Tile(z, t.x, t.y)


@pytest.mark.parametrize("z", [12, 13, 14])
def test_a_median_preview_equals_the_product_to_its_int16_rounding(
        items: list[NormalizedItem], products: dict[str, Path], z: int) -> None:
    tile = central(z)
    keys, layers = preview_layers(items, PERIOD, "median", BANDS, "scl", tile)
    assert keys == [*BANDS, "count"]
    for band in BANDS:
        product = product_on_tile(products["median"], band, tile)
        preview = layers[keys.index(band)].astype(np.float64)
        both = np.isfinite(product) & np.isfinite(preview)
        assert both.mean() > 0.99
        # The product stores reflectance as int16 of scale 1e-4: half a step apart at most.
        assert np.abs(product - preview)[both].max() <= 0.5e-4 + 1e-6


@pytest.mark.parametrize("z", [12, 13, 14])
def test_a_synthesis_preview_equals_the_product_up_to_its_cloud_cells(
        items: list[NormalizedItem], products: dict[str, Path], z: int) -> None:
    # The preview's W_cloud comes from cells of whole tile pixels (about 240 m, not the
    # product's) and from the SCL sampled four times a cell: measured median 1e-4 to 2e-4,
    # 99th percentile 1.1e-3 to 2.1e-3 of reflectance. The tolerances below are 2.5x that.
    tile = central(z)
    keys, layers = preview_layers(items, PERIOD, "synthesis", BANDS, "scl", tile)
    assert keys == [*BANDS, "weight", "date", "flag", "count"]
    product = product_on_tile(products["synthesis"], "red", tile)
    preview = layers[0].astype(np.float64)
    both = np.isfinite(product) & np.isfinite(preview)
    assert both.mean() > 0.99
    difference = np.abs(product - preview)[both]
    assert np.median(difference) <= 5e-4
    assert np.percentile(difference, 99) <= 5e-3


def test_a_preview_without_its_cloud_weights_would_not_pass_that_test(
        items: list[NormalizedItem], products: dict[str, Path]) -> None:
    # The tolerance above tells a synthesis from a plain median: the test can fail.
    tile = central(13)
    _, layers = preview_layers(items, PERIOD, "median", BANDS, "scl", tile)
    product = product_on_tile(products["synthesis"], "red", tile)
    both = np.isfinite(product) & np.isfinite(layers[0])
    assert np.percentile(np.abs(product - layers[0])[both], 99) > 5e-3


def test_the_cnn_is_left_out_of_a_preview_and_the_rest_of_the_chain_kept() -> None:
    assert preview_chain("auto", MaskFlavour.SCL).name == "scl+temporal+haze"
    assert preview_chain("cnn", MaskFlavour.SCL).name == "scl"
    with pytest.raises(InvalidParameter) as refused:
        preview_chain("maja", MaskFlavour.SCL)
    assert refused.value.field == "cloud_mask"


def test_a_tile_away_from_the_scenes_has_no_observation(items: list[NormalizedItem]) -> None:
    far = Tile(13, 0, 0)
    assert items_over(items, far) == []
    with pytest.raises(NoObservations):
        preview_layers(items, PERIOD, "synthesis", BANDS, "scl", far)


def test_tile_geometry() -> None:
    tile = Tile(1, 1, 0)
    assert tile.bounds == pytest.approx((0.0, 0.0, 20037508.34, 20037508.34))
    assert tile.lonlat_bounds == pytest.approx((0.0, 0.0, 180.0, 85.0511287798))
    assert Tile(14, 0, 0, 512).pixel == pytest.approx(4.777, abs=1e-3)


@pytest.mark.parametrize("other", [(14, 1, 0, 256), (12, 0, 0, 256), (13, 0, 0, 512)])
def test_the_tiles_of_a_block_share_one_cloud_field_at_every_zoom(
        items: list[NormalizedItem], other: tuple[int, int, int, int]) -> None:
    fields = FieldCache()
    first = central(14)
    z, dx, dy, size = other
    base = central(z)
    neighbour = Tile(z, base.x + dx, base.y + dy, size)
    assert field_block(first) == replace(field_block(neighbour), size=256)
    # The same cells in metres: 32 pixels of zoom 14 are 8 of zoom 12 and 16 of 13 at 512 px.
    assert cell_factor(first) * first.pixel == pytest.approx(
        cell_factor(neighbour) * neighbour.pixel)
    preview_layers(items, PERIOD, "synthesis", BANDS, "scl", first, fields=fields)
    (key,) = fields._fields  # one field, the block's
    shared = preview_layers(items, PERIOD, "synthesis", BANDS, "scl", neighbour,
                            fields=fields)[1]
    assert list(fields._fields) == [key]  # the other tile used it
    alone = preview_layers(items, PERIOD, "synthesis", BANDS, "scl", neighbour)[1]
    np.testing.assert_array_equal(shared, alone)  # and it is the field it would compute


def test_cloud_cells_stay_near_240_m_on_the_ground_from_the_equator_to_70_degrees() -> None:
    for lat in range(0, 71, 5):
        t = WEB_MERCATOR.tile(1.3, lat, 14)
        tile = Tile(14, t.x, t.y)
        ground = cell_factor(tile) * tile.pixel * field_block(tile).cos_lat
        assert 200 <= ground <= 280, (lat, ground)
