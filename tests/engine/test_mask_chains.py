"""Mask chains through the pipeline: each source only adds clouds, CNN masks are cached."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from catalog.demo import DEMO_BBOX, DEMO_EPSG, DEMO_PERIOD, demo_grid, write_demo
from catalog.model import NormalizedItem
from catalog.search import search
from engine.blocks import screen_observations
from engine.contract import Order
from engine.errors import InvalidParameter
from engine.masks import chain
from engine.masks.scl import SCL_ADDED_CLOUD, SCL_THIN_CLOUD
from engine.methods.base import ObsClass
from engine.period import parse_period
from engine.pipeline import build_product, compute_layers, compute_masks, plan
from tests.folders import folder_files

SIZE = 128
CHAINS = ("scl", "scl+cnn", "scl+temporal", "scl+haze", "scl+cnn+temporal",
          "scl+cnn+temporal+haze")


def _items(folder: Path, flavour: str) -> list[NormalizedItem]:
    path = write_demo(folder, size_px=SIZE, flavour=flavour, cloud_regime="half")
    return list(search(str(path), DEMO_BBOX, *parse_period(DEMO_PERIOD).search_interval()))


@pytest.fixture(scope="module")
def items(tmp_path_factory: pytest.TempPathFactory) -> list[NormalizedItem]:
    return _items(tmp_path_factory.mktemp("demo"), "scl")


@pytest.fixture(scope="module")
def maja_items(tmp_path_factory: pytest.TempPathFactory) -> list[NormalizedItem]:
    return _items(tmp_path_factory.mktemp("demo-maja"), "maja")


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("masks")


def order(cloud_mask: str, method: str = "median",
          bands: tuple[str, ...] = ("blue", "green", "red", "nir")) -> Order:
    return Order(bbox=DEMO_BBOX, period=parse_period(DEMO_PERIOD), method=method, bands=bands,
                 resolution=20, epsg=DEMO_EPSG, bounds=demo_grid(SIZE, 20).bounds,
                 cloud_mask=cloud_mask)


def _counts(items: list[NormalizedItem], cloud_mask: str, cache: Path,
            method: str = "median") -> np.ndarray:
    keys, layers, _ = compute_layers(order(cloud_mask, method), items, mask_cache=cache)
    return layers[keys.index("count")]


@pytest.mark.parametrize("method", ["median", "synthesis"])
def test_every_source_only_removes_observations(items: list[NormalizedItem], cache: Path,
                                                method: str) -> None:
    counts = {c: _counts(items, c, cache, method) for c in CHAINS}
    for name in CHAINS[1:]:
        assert (counts[name] <= counts["scl"]).all(), name
        assert (counts[name] < counts["scl"]).any(), f"{name} found no cloud Sen2Cor missed"
    # The screen only removes what the masks before it left; but with fewer references it
    # tests fewer observations, so scl+cnn+temporal is not bounded by scl+temporal.
    assert (counts["scl+cnn+temporal"] <= counts["scl+cnn"]).all()
    # The haze test judges the same classes as the screen, and their clouds are united.
    assert (counts["scl+cnn+temporal+haze"] <= counts["scl+cnn+temporal"]).all()


def test_cnn_masks_are_computed_once_then_read_from_the_cache(items: list[NormalizedItem],
                                                              tmp_path: Path) -> None:
    first = plan(order("scl+cnn"), items, mask_cache=tmp_path)
    assert compute_masks(first, None) == len(first.items)
    files = sorted(tmp_path.rglob("*.tif"))
    assert len(files) == len(first.items)
    # Another period and method over the same area: the same scenes' masks, none computed.
    again = plan(order("cnn", "synthesis"), items, mask_cache=tmp_path)
    assert compute_masks(again, None) == 0
    assert sorted(tmp_path.rglob("*.tif")) == files


def test_products_are_the_same_whether_masks_were_cached_or_not(
        items: list[NormalizedItem], tmp_path: Path) -> None:
    cache = tmp_path / "masks"
    same = order("scl+cnn+temporal", "synthesis")
    cold = build_product(same, items, tmp_path / "cold", product_id="p", mask_cache=cache)
    warm = build_product(same, items, tmp_path / "warm", product_id="p", mask_cache=cache)
    scratch = build_product(same, items, tmp_path / "tmp", product_id="p")
    assert folder_files(cold) == folder_files(warm) == folder_files(scratch)


def test_the_item_records_the_asked_and_the_resolved_chain(items: list[NormalizedItem],
                                                           tmp_path: Path) -> None:
    out = build_product(order("auto"), items, tmp_path / "p", mask_cache=tmp_path / "m")
    parameters = json.loads((out / "item.json").read_text())["properties"]["l3a:parameters"]
    assert parameters["cloud_mask"] == "auto"
    assert parameters["cloud_mask_chain"] == chain.AUTO[items[0].masks.flavour]


def test_the_temporal_screen_loads_the_bands_it_reads(items: list[NormalizedItem],
                                                      cache: Path) -> None:
    p = plan(order("scl+temporal", bands=("red",)), items, mask_cache=cache)
    assert {"blue", "nir", "swir16"} <= set(p.context.bands)
    assert p.layer_keys[0] == "red" and "blue" not in p.layer_keys
    keys, layers, _ = compute_layers(order("scl+temporal", bands=("red",)), items)
    assert keys[0] == "red" and np.isfinite(layers[0]).mean() > 0.9


def test_the_haze_test_loads_the_bands_it_reads(items: list[NormalizedItem],
                                               cache: Path) -> None:
    p = plan(order("scl+haze", bands=("nir",)), items, mask_cache=cache)
    assert {"blue", "red"} <= set(p.context.bands)
    assert p.layer_keys[0] == "nir" and "red" not in p.layer_keys


def test_the_haze_tests_clouds_are_thin_and_the_temporal_screens_thick(
        items: list[NormalizedItem], cache: Path) -> None:
    # One pixel column per case, every date land and clear (blue 0.05, red 0.06, nir 0.30),
    # but: column 0 hazy on date 3 (blue 0.13: the haze test and the temporal screen), column
    # 1 a shadow on date 3 (nir 0.10, swir16 0.05: the temporal screen only).
    ctx = plan(order("scl+temporal+haze", bands=("red",)), items, mask_cache=cache).context
    n_t = len(ctx.days)
    reflectance = {"blue": 0.05, "green": 0.07, "red": 0.06, "nir": 0.30, "swir16": 0.20}
    dn = np.empty((n_t, len(ctx.bands), 1, 3), np.uint16)
    for b, band in enumerate(ctx.bands):
        dn[:, b] = np.round((reflectance[band] - ctx.offset[:, b, None, None])
                            / ctx.scale[:, b, None, None])
    blue, nir = ctx.bands.index("blue"), ctx.bands.index("nir")
    dn[3, blue, 0, 0] += round(0.08 / ctx.scale[3, blue])
    dn[3, nir, 0, 1] -= round(0.20 / ctx.scale[3, nir])
    swir = ctx.bands.index("swir16")
    dn[3, swir, 0, 1] -= round(0.15 / ctx.scale[3, swir])
    classes = np.full((n_t, 1, 3), ObsClass.LAND, np.uint8)
    scl = np.full((n_t, 1, 3), 4, np.uint8)
    screened, out_scl = screen_observations(classes, scl, dn, ctx)
    assert screened[3, 0, 0] == screened[3, 0, 1] == ObsClass.CLOUD
    assert (screened[:, 0, 2] == ObsClass.LAND).all()
    assert (np.delete(screened, 3, axis=0) == ObsClass.LAND).all()
    # The hazy date is also a temporal outlier: thick wins, as a shadow may be one.
    assert out_scl[3, 0, 0] == SCL_ADDED_CLOUD and out_scl[3, 0, 1] == SCL_ADDED_CLOUD
    haze_only = plan(order("scl+haze", bands=("red",)), items, mask_cache=cache).context
    screened, out_scl = screen_observations(classes, scl, dn, haze_only)
    assert screened[3, 0, 0] == ObsClass.CLOUD and out_scl[3, 0, 0] == SCL_THIN_CLOUD
    assert screened[3, 0, 1] == ObsClass.LAND  # a shadow is not haze


def test_maja_items_take_maja_chains_and_refuse_scl(maja_items: list[NormalizedItem],
                                                    cache: Path) -> None:
    maja = _counts(maja_items, "maja", cache)
    screened = _counts(maja_items, "temporal", cache)
    assert (screened <= maja).all()
    with pytest.raises(InvalidParameter) as raised:
        plan(order("scl+cnn"), maja_items, mask_cache=cache)
    assert raised.value.field == "cloud_mask"


def test_maja_on_sen2cor_items_is_refused_at_plan(items: list[NormalizedItem]) -> None:
    with pytest.raises(InvalidParameter) as raised:
        plan(order("maja"), items)
    assert raised.value.field == "cloud_mask" and "scl" in raised.value.message
