"""The normalized scale/offset on real pixels: 33TWL, August 2023, Earth Search v1.

The pixels are the crop of the tile in the test data in tests/data (128 x 128 px of 120 m).

These items say ``raster:bands`` offset -0.1 but carry ``earthsearch:boa_offset_applied:
true``: their DN are already plain reflectance x 10000. Applied again, -0.1 would put the
blue of clear vegetation around -0.05 and make nearly every such pixel negative, so these
assertions fail if the offset rule is wrong.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
import rasterio

from catalog.local import read_items
from catalog.model import RasterAsset
from catalog.normalize import normalize_item
from tests.catalog._support import TWL_NDJSON

VEGETATION = 4  # Sen2Cor SCL class


def read(asset: RasterAsset) -> npt.NDArray[np.generic]:
    with rasterio.open(asset.href) as dataset:
        data: npt.NDArray[np.generic] = dataset.read(asset.band_index)
        return data


def reflectance(asset: RasterAsset, where: npt.NDArray[np.bool_]) -> npt.NDArray[np.float64]:
    dn = read(asset)
    valid = where & (dn != asset.nodata)
    return dn[valid].astype(np.float64) * asset.scale + asset.offset


ITEMS = read_items(str(TWL_NDJSON))


@pytest.mark.parametrize("raw", ITEMS, ids=[item["id"] for item in ITEMS])
def test_clear_vegetation_reflectance_is_physical(raw: dict[str, object]) -> None:
    item = normalize_item(raw, source="33TWL", base_href=str(TWL_NDJSON))
    assert item.masks.scl is not None
    clear_land = read(item.masks.scl) == VEGETATION
    # The crop of the test data is 128 x 128 = 16 384 pixels: the medians below must stand
    # on thousands of them (an eighth of the crop), even on the 08-10 date, cloudy at 68 %.
    assert clear_land.size == 128 * 128 and clear_land.sum() > 2_000

    blue = reflectance(item.bands["blue"], clear_land)
    red = reflectance(item.bands["red"], clear_land)
    nir = reflectance(item.bands["nir"], clear_land)
    # Vegetation is dark in the blue (a few percent) and bright in the near infrared.
    assert 0.01 <= float(np.median(blue)) <= 0.06
    assert 0.01 <= float(np.median(red)) <= 0.08
    assert 0.2 <= float(np.median(nir)) <= 0.6
    for band in (blue, red):
        assert float(np.mean(band < 0)) < 0.005  # nearly never negative on clear land


def test_applying_the_declared_offset_again_would_be_caught() -> None:
    # The same check with the raster:bands offset taken at face value fails: the test above
    # really discriminates the rule.
    raw = ITEMS[0]
    item = normalize_item(raw, base_href=str(TWL_NDJSON))
    assert item.masks.scl is not None
    declared = raw["assets"]["blue"]["raster:bands"][0]["offset"]  # type: ignore[index]
    assert declared == -0.1
    clear_land = read(item.masks.scl) == VEGETATION
    wrong = reflectance(item.bands["blue"], clear_land) + declared
    assert float(np.median(wrong)) < 0.0
    assert float(np.mean(wrong < 0)) > 0.5
