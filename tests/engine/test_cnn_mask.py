"""The CNN cloud mask (ukis-csmask) on real pixels, and its cache."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import pytest
import rasterio

from catalog.model import NormalizedItem
from engine.grid import output_grid
from engine.masks import cnn
from engine.methods.base import ObsClass
from tests import real_tile

#: A 12 x 12 km window of the 33TWL tile with the cloud field of 08-10 and 08-18 in it (with
#: the CNN's margin, inside the crop of the tile in the test data in tests/data).
BBOX = (16.05, 45.80, 16.20, 45.91)


@pytest.fixture(scope="module")
def items() -> dict[str, NormalizedItem]:
    return {item.id.split("_")[2]: item for item in real_tile.items()}


@pytest.fixture(scope="module")
def window() -> cnn.CnnWindow:
    return cnn.window_for(output_grid(BBOX, 60))


def _read(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read(1)


def test_window_is_aligned_with_the_output_grid_and_carries_a_margin() -> None:
    grid = output_grid(BBOX, 10)
    window = cnn.window_for(grid)
    assert window.factor == 3 and window.grid.resolution == 30
    height, width = grid.shape
    assert window.grid.shape == (-(-height // 3) + 2 * cnn.MARGIN, -(-width // 3) + 2 * cnn.MARGIN)
    # The output grid's corner is a corner of a coarse pixel, MARGIN pixels in.
    assert window.grid.transform[2] == grid.transform[2] - cnn.MARGIN * 30
    assert window.grid.transform[5] == grid.transform[5] + cnn.MARGIN * 30
    assert cnn.window_for(output_grid(BBOX, 20)).factor == 2
    assert cnn.window_for(output_grid(BBOX, 60)).factor == 1


def test_network_finds_the_clouds_sen2cor_finds_and_none_on_the_clear_date(
        items: dict[str, NormalizedItem], window: cnn.CnnWindow, tmp_path: Path) -> None:
    scl_of = {}
    from engine.load import load_assets
    for day in ("20230810", "20230815"):
        item = items[day]
        path = cnn.mask_item(item, window, tmp_path / f"{day}.tif")
        mask = _read(path)
        assert mask.shape == window.grid.shape and mask.dtype == np.uint8
        assert set(np.unique(mask)) <= {cnn.CLEAR, cnn.CLOUD, cnn.SHADOW, cnn.NODATA}
        scl_of[day] = load_assets([item], window.grid, ["scl"], dtype="uint8").compute()[0, 0]
        flagged = (mask == cnn.CLOUD) | (mask == cnn.SHADOW)
        sen2cor_cloud = np.isin(scl_of[day], [8, 9, 10])
        if day == "20230815":  # nearly clear: the network must not invent clouds
            assert flagged[scl_of[day] > 0].mean() < 0.02
        else:  # 68 % cloudy: the thick clouds Sen2Cor sees, the network sees too
            assert sen2cor_cloud.mean() > 0.2
            assert flagged[sen2cor_cloud].mean() > 0.9


def test_classes_gain_the_networks_clouds_over_land_and_water_only() -> None:
    classes = np.array([[ObsClass.LAND, ObsClass.WATER, ObsClass.SNOW, ObsClass.NODATA,
                         ObsClass.LAND, ObsClass.CLOUD]], dtype=np.uint8)
    network = np.array([[cnn.CLOUD, cnn.SHADOW, cnn.CLOUD, cnn.CLOUD, cnn.CLEAR, cnn.CLEAR]],
                       dtype=np.uint8)
    added = cnn.add_cnn_clouds(classes, network)
    assert added.tolist() == [[ObsClass.CLOUD, ObsClass.CLOUD, ObsClass.SNOW, ObsClass.NODATA,
                               ObsClass.LAND, ObsClass.CLOUD]]


def test_a_cached_mask_is_read_not_computed_again(items: dict[str, NormalizedItem],
                                                  window: cnn.CnnWindow, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    item = items["20230813"]
    path = cnn.cache_path(tmp_path, item, window, cnn.model_bands(item))
    assert not cnn.is_readable(path)  # a miss
    cnn.mask_item(item, window, path)
    written = path.stat().st_mtime_ns
    first = _read(path)

    def refuse(*args: object, **kwargs: object) -> np.ndarray:
        raise AssertionError("a cached mask was computed again")

    monkeypatch.setattr(cnn, "classify", refuse)
    assert cnn.mask_item(item, window, path) == path  # a hit
    assert path.stat().st_mtime_ns == written
    np.testing.assert_array_equal(_read(path), first)
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".partial")]


@pytest.mark.parametrize("change", ["href", "updated", "scale", "window"])
def test_the_cache_key_changes_with_what_the_mask_depends_on(
        items: dict[str, NormalizedItem], window: cnn.CnnWindow, tmp_path: Path,
        change: str) -> None:
    item = items["20230813"]
    bands = cnn.model_bands(item)
    before = cnn.cache_path(tmp_path, item, window, bands)
    other_window = window
    if change == "href":
        red = dataclasses.replace(item.bands["red"], href=item.bands["red"].href + "?v=2")
        item = dataclasses.replace(item, bands={**item.bands, "red": red})
    elif change == "updated":
        item = dataclasses.replace(item, properties={**item.properties,
                                                      "updated": "2030-01-01T00:00:00Z"})
    elif change == "scale":
        red = dataclasses.replace(item.bands["red"], offset=-0.1)
        item = dataclasses.replace(item, bands={**item.bands, "red": red})
    else:
        other_window = cnn.window_for(output_grid((16.05, 45.80, 16.21, 45.91), 60))
    assert cnn.cache_path(tmp_path, item, other_window, bands) != before


def test_a_damaged_cached_mask_is_computed_again(items: dict[str, NormalizedItem],
                                                 window: cnn.CnnWindow,
                                                 tmp_path: Path) -> None:
    item = items["20230820"]
    path = cnn.cache_path(tmp_path, item, window, cnn.model_bands(item))
    path.parent.mkdir(parents=True)
    path.write_bytes(b"II*\x00 not a tiff")
    assert not cnn.is_readable(path)
    cnn.mask_item(item, window, path)
    assert cnn.is_readable(path) and _read(path).shape == window.grid.shape


def test_an_item_without_the_visible_bands_is_refused_naming_the_field(
        items: dict[str, NormalizedItem]) -> None:
    item = items["20230820"]
    item = dataclasses.replace(item, bands={k: v for k, v in item.bands.items() if k != "nir"})
    from engine.errors import InvalidParameter
    with pytest.raises(InvalidParameter) as raised:
        cnn.model_bands(item)
    assert raised.value.field == "cloud_mask" and "nir" in str(raised.value)


def test_masks_are_written_readable_by_others(items: dict[str, NormalizedItem],
                                              window: cnn.CnnWindow, tmp_path: Path) -> None:
    item = items["20230815"]
    path = cnn.mask_item(item, window, tmp_path / "mask.tif")
    assert os.access(path, os.R_OK)
    with rasterio.open(path) as src:
        assert src.crs.to_epsg() == window.grid.epsg
        assert tuple(src.transform)[:6] == window.grid.transform
        assert src.nodata == cnn.NODATA


@pytest.mark.parametrize("bands", [cnn.BANDS_4, cnn.BANDS_6, cnn.BANDS_6[::-1]])
def test_classes_are_those_of_ukis_csmask_itself(bands: tuple[str, ...]) -> None:
    import warnings

    from ukis_csmask.mask import CSmask

    rng = np.random.default_rng(7)
    reflectance = rng.uniform(0.0, 0.6, (len(bands), 300, 280)).astype(np.float32)
    reflectance[:, :40, :] = 0.45  # a bright flat patch, so that some class is not clear
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = CSmask(np.moveaxis(reflectance, 0, -1).copy(), list(bands),
                           product_level="l2a", invalid_buffer=1).csm[..., 0]
    # Ours also grows clouds and shadows by BUFFER pixels: grow CSmask's the same way.
    from scipy import ndimage
    ring = ndimage.binary_dilation(reference != cnn.CLEAR, iterations=cnn.BUFFER) & (
        reference == cnn.CLEAR)
    reference = np.where(ring, cnn.CLOUD, reference)
    assert len(np.unique(reference)) > 1
    np.testing.assert_array_equal(cnn.classify(reflectance, bands), reference)
