"""The demo catalogue: deterministic, laid out like Earth Search c1 (or MAJA), with a truth
that shows the Sen2Cor mask errors the source text describes."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from rio_cogeo.cogeo import cog_validate
from scipy import ndimage

import catalog.demo.build as demo_build
from catalog.demo import (
    BANDS,
    DEMO_BBOX,
    DEMO_EPSG,
    DEMO_PERIOD,
    STATIC_COVERS,
    TRUTH_CLEAR,
    TRUTH_CLOUD,
    TRUTH_NODATA,
    TRUTH_THIN,
    Cover,
    demo_grid,
    ensure_demo,
    read_landcover,
    read_truth,
    read_truth_clouds,
    write_demo,
)
from catalog.demo.landscape import build_landscape, surface
from catalog.demo.writer import footprint
from tests.folders import folder_files

SIZE = 200  # px: 4 km at 20 m, every cover still present, a build takes ~2 s
SMALL = 96  # px: for tests that only compare builds
SCL_CLEAR = (2, 4, 5, 6)  # what an S2GM-like composite takes as a valid observation
SCL_CLOUD = (8, 9)
REFLECTANCE_KEYS = set(BANDS)
SCL_KEYS = REFLECTANCE_KEYS | {"scl", "aot"}
MAJA_KEYS = REFLECTANCE_KEYS | {"clm", "mg2", "atb"}


def _items(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _read(folder: Path, item: dict[str, Any], key: str, band: int = 1) -> np.ndarray:
    href = item["assets"][key]["href"]
    with rasterio.open(folder / href) as src:
        return src.read(band)


@pytest.fixture(scope="module")
def scl_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_demo(tmp_path_factory.mktemp("scl"), size_px=SIZE)


@pytest.fixture(scope="module")
def maja_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_demo(tmp_path_factory.mktemp("maja"), flavour="maja", size_px=SIZE)


def _masks(demo: Path, key: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """(mask asset ``key``, truth clouds) of every date."""
    return [(_read(demo.parent, item, key), read_truth_clouds(demo.parent, item["id"]))
            for item in _items(demo)]


@pytest.fixture(scope="module")
def scl_masks(scl_demo: Path) -> list[tuple[np.ndarray, np.ndarray]]:
    return _masks(scl_demo, "scl")


@pytest.fixture(scope="module")
def maja_masks(maja_demo: Path) -> list[tuple[np.ndarray, np.ndarray]]:
    return _masks(maja_demo, "clm")


# --- determinism --------------------------------------------------------------------------


def test_same_arguments_give_byte_identical_files_and_another_seed_differs(tmp_path: Path) -> None:
    first = write_demo(tmp_path / "a", seed=3, size_px=SMALL).parent
    second = write_demo(tmp_path / "b", seed=3, size_px=SMALL).parent
    other = write_demo(tmp_path / "c", seed=4, size_px=SMALL).parent

    a, b, c = folder_files(first), folder_files(second), folder_files(other)
    assert a.keys() == b.keys()
    assert [name for name in a if a[name] != b[name]] == []
    assert a.keys() == c.keys()  # the schedule does not depend on the seed ...
    assert a["truth/blue.tif"] != c["truth/blue.tif"]  # ... the landscape does
    assert a["items.ndjson"] != c["items.ndjson"]


# --- layout -------------------------------------------------------------------------------


def test_items_follow_the_earth_search_c1_layout(scl_demo: Path) -> None:
    items = _items(scl_demo)
    grid = demo_grid(SIZE, 20)
    start, end = datetime(2024, 6, 22), datetime(2024, 8, 8)

    assert len(items) == 12
    assert len({item["properties"]["s2:datatake_id"] for item in items}) == 12
    platforms = [item["properties"]["platform"] for item in items]
    assert platforms == ["sentinel-2a", "sentinel-2b"] * 6
    for item in items:
        props = item["properties"]
        assert item["collection"] == "sentinel-2-c1-l2a"
        assert props["s2:processing_baseline"] == "05.10"
        assert props["proj:epsg"] == DEMO_EPSG and props["proj:code"] == f"EPSG:{DEMO_EPSG}"
        assert start <= datetime.fromisoformat(props["datetime"][:19]) < end
        assert 0.0 <= props["eo:cloud_cover"] <= 100.0
        assert 50.0 < props["view:sun_elevation"] < 75.0  # July, 10:50 UTC, 43.7 N
        assert 100.0 < props["view:sun_azimuth"] < 180.0
        assert set(item["assets"]) == SCL_KEYS
        for key, asset in item["assets"].items():
            assert asset["href"] == f"./{item['id']}/{key}.tif"
            assert (scl_demo.parent / asset["href"]).is_file()
            assert asset["proj:shape"] == [SIZE, SIZE]
            assert asset["proj:transform"] == list(grid.transform)
        for key in BANDS:
            (raster,) = item["assets"][key]["raster:bands"]
            assert (raster["scale"], raster["offset"], raster["nodata"]) == (0.0001, -0.1, 0)
            assert raster["data_type"] == "uint16"
            assert item["assets"][key]["eo:bands"][0]["center_wavelength"] > 0
        assert item["assets"]["aot"]["raster:bands"][0]["scale"] == 0.001
    collection = json.loads((scl_demo.parent / "collection.json").read_text())
    assert collection["type"] == "Collection" and collection["id"] == "sentinel-2-c1-l2a"


def test_every_raster_is_a_valid_cog_on_the_demo_grid(scl_demo: Path, maja_demo: Path) -> None:
    grid = demo_grid(SIZE, 20)
    for root in (scl_demo.parent, maja_demo.parent):
        for path in sorted(root.rglob("*.tif")):
            valid, errors, _ = cog_validate(str(path), quiet=True)
            assert valid, (path, errors)
            with rasterio.open(path) as src:
                assert src.crs.to_epsg() == DEMO_EPSG
                assert tuple(src.transform)[:6] == grid.transform
                assert src.compression.name.lower() == "deflate"


def test_default_grid_is_on_the_31tcj_pixel_lattice_near_toulouse() -> None:
    grid = demo_grid(1000, 20)
    assert grid.shape == (1000, 1000)
    assert (grid.x0 - 300000) % 60 == 0 and (4900020 - grid.y0) % 60 == 0
    minx, miny, maxx, maxy = grid.bounds
    assert minx >= 300000 and maxx <= 409800  # inside tile 31TCJ
    assert miny >= 4790220 and maxy <= 4900020
    ring = footprint(grid, None)
    lons, lats = [p[0] for p in ring], [p[1] for p in ring]
    assert (min(lons), min(lats), max(lons), max(lats)) == pytest.approx(DEMO_BBOX, abs=1e-6)
    assert DEMO_BBOX[0] < 1.444 + 0.1 and DEMO_BBOX[1] < 43.604 + 0.1  # Toulouse's doorstep
    assert DEMO_PERIOD == "2024-07"


def test_dn_with_scale_and_offset_returns_the_truth_on_clear_static_pixels(scl_demo: Path) -> None:
    # Water, woods, towns and bare fields do not change in July: on a clear date their
    # reflectance is the truth up to noise and the small AOT residual.
    root = scl_demo.parent
    items = _items(root / "items.ndjson")
    clearest = min(items, key=lambda item: item["properties"]["eo:cloud_cover"])
    truth = read_truth(root)
    static = np.isin(read_landcover(root), STATIC_COVERS)
    clear = (read_truth_clouds(root, clearest["id"]) == TRUTH_CLEAR) & static
    assert clear.sum() > 0.3 * static.sum()
    for b, band in enumerate(BANDS):
        (raster,) = clearest["assets"][band]["raster:bands"]
        dn = _read(root, clearest, band)
        rho = dn.astype(np.float32) * raster["scale"] + raster["offset"]
        diff = (rho - truth[b])[clear]
        assert abs(float(diff.mean())) < 0.01, band
        assert 0.001 < float(diff.std()) < 0.008, band


def test_truth_has_plausible_spectra_per_cover(scl_demo: Path) -> None:
    truth = read_truth(scl_demo.parent)
    cover = read_landcover(scl_demo.parent)
    assert truth.shape == (len(BANDS), SIZE, SIZE) and truth.dtype == np.float32
    blue, red, nir, swir16 = (truth[BANDS.index(n)] for n in ("blue", "red", "nir", "swir16"))
    assert set(np.unique(cover)) == {int(c) for c in Cover}

    def mean(band: np.ndarray, c: Cover) -> float:
        return float(band[cover == c].mean())

    assert 0.3 < mean(nir, Cover.FOREST) < 0.4 and mean(red, Cover.FOREST) < 0.035
    assert mean(nir, Cover.WATER) < 0.03 and mean(swir16, Cover.WATER) < 0.01
    assert 0.08 < mean(blue, Cover.BARE_SOIL) < 0.16 and mean(swir16, Cover.BARE_SOIL) > 0.3
    assert 0.07 < mean(blue, Cover.URBAN) < 0.15


def test_crops_change_during_the_month_and_static_covers_do_not() -> None:
    land = build_landscape(np.random.default_rng([0, 1]), (SMALL, SMALL), 20.0)
    early, late = surface(land, -20.0), surface(land, 20.0)
    red, nir = BANDS.index("red"), BANDS.index("nir")

    def ndvi(rho: np.ndarray) -> np.ndarray:
        return (rho[nir] - rho[red]) / (rho[nir] + rho[red])

    change = ndvi(late) - ndvi(early)
    assert change[land.cover == Cover.SUMMER_CROP].mean() > 0.15  # green-up
    assert change[land.cover == Cover.SUNFLOWER].mean() < -0.1  # drying
    static = np.isin(land.cover, STATIC_COVERS)
    assert np.array_equal(early[:, static], late[:, static])


def test_swath_edge_dates_have_a_nodata_strip_everywhere(scl_demo: Path) -> None:
    root = scl_demo.parent
    edged = [i for i in _items(scl_demo) if i["properties"]["s2:nodata_pixel_percentage"] > 0]
    assert 1 <= len(edged) <= 2
    for item in edged:
        scl = _read(root, item, "scl")
        outside = scl == 0
        assert 0.03 < outside.mean() < 0.2 and outside[:, 0].all() and not outside[:, -1].any()
        assert (_read(root, item, "red")[outside] == 0).all()
        assert (_read(root, item, "aot")[outside] == 0).all()
        assert (read_truth_clouds(root, item["id"])[outside] == TRUTH_NODATA).all()


# --- what the masks get wrong ------------------------------------------------------------


def _omission(masks: list[tuple[np.ndarray, np.ndarray]], clear: Any) -> float:
    """Share of truly cloudy or hazy pixels that a mask calls clear."""
    cloudy = missed = 0
    for mask, truth in masks:
        contaminated = np.isin(truth, (TRUTH_THIN, TRUTH_CLOUD))
        cloudy += int(contaminated.sum())
        missed += int((contaminated & clear(mask)).sum())
    return missed / cloudy


def test_scl_misses_a_share_of_haze_and_cloud_rims(scl_masks: list) -> None:
    omission = _omission(scl_masks, lambda scl: np.isin(scl, SCL_CLEAR))
    assert 0.02 < omission < 0.5
    thin_missed = sum(int((np.isin(s, SCL_CLEAR) & (t == TRUTH_THIN)).sum()) for s, t in scl_masks)
    thick_missed = sum(
        int((np.isin(s, SCL_CLEAR) & (t == TRUTH_CLOUD)).sum()) for s, t in scl_masks
    )
    assert thin_missed > thick_missed  # the misses are the thin parts


def test_scl_calls_some_clear_bright_soils_cloud(scl_demo: Path, scl_masks: list) -> None:
    root = scl_demo.parent
    cover = read_landcover(root)
    # Bare in July: soils, towns, harvested cereals, and summer crops before green-up.
    bare = np.isin(cover, (Cover.BARE_SOIL, Cover.URBAN, Cover.CEREAL_HARVEST, Cover.SUMMER_CROP))
    total = dates = 0
    for item, (scl, truth) in zip(_items(scl_demo), scl_masks, strict=True):
        false_clouds = np.isin(scl, SCL_CLOUD) & (truth == TRUTH_CLEAR)
        if not false_clouds.any():
            continue
        total += int(false_clouds.sum())
        dates += 1
        blue, red, nir = (_read(root, item, b) * 1e-4 - 0.1 for b in ("blue", "red", "nir"))
        ndvi = (nir - red) / (nir + red)
        assert blue[false_clouds].mean() > 0.14  # bright ...
        assert (ndvi[false_clouds] < 0.31).all()  # ... and not vegetated (DN rounding)
        assert bare[false_clouds].mean() > 0.9
    assert total > 50 and dates >= 2


def test_maja_cloud_mask_misses_fewer_clouds_and_spares_bright_soils(
    scl_masks: list, maja_masks: list
) -> None:
    scl_omission = _omission(scl_masks, lambda scl: np.isin(scl, SCL_CLEAR))
    maja_omission = _omission(maja_masks, lambda clm: (clm & 1) == 0)
    assert maja_omission < scl_omission / 2
    # MAJA dilates its clouds, so it flags clear pixels next to clouds, never far from them.
    for clm, truth in maja_masks:
        contaminated = np.isin(truth, (1, 2, 3))
        far = ~ndimage.binary_dilation(contaminated, iterations=4) & (truth == TRUTH_CLEAR)
        assert not ((clm & 1) != 0)[far].any()


@pytest.mark.parametrize("regime", ["clear", "half", "overcast"])
def test_regimes_reach_their_mean_cloud_cover(tmp_path: Path, regime: str) -> None:
    items = _items(write_demo(tmp_path, size_px=SMALL, cloud_regime=regime))
    mean_cover = float(np.mean([item["properties"]["eo:cloud_cover"] for item in items]))
    low, high = {"clear": (0.0, 10.0), "half": (40.0, 65.0), "overcast": (72.0, 90.0)}[regime]
    assert low <= mean_cover < high


# --- MAJA flavour ------------------------------------------------------------------------


def test_maja_flavour_holds_the_same_scenes_in_theia_layout(
    scl_demo: Path, maja_demo: Path
) -> None:
    scl_items, maja_items = _items(scl_demo), _items(maja_demo)
    assert [i["properties"]["datetime"] for i in scl_items] == [
        i["properties"]["datetime"] for i in maja_items
    ]
    for scl_item, maja_item in zip(scl_items, maja_items, strict=True):
        assert maja_item["collection"] == "l3a-demo-maja"
        assert maja_item["properties"]["l3a:flavour"] == "maja"
        assert set(maja_item["assets"]) == MAJA_KEYS
        (raster,) = maja_item["assets"]["red"]["raster:bands"]
        assert (raster["data_type"], raster["nodata"], raster["offset"]) == ("int16", -10000, 0.0)
        assert len(maja_item["assets"]["atb"]["raster:bands"]) == 2
        fre = _read(maja_demo.parent, maja_item, "red").astype(np.int32)
        l2a = _read(scl_demo.parent, scl_item, "red").astype(np.int32)
        valid = l2a != 0
        assert np.array_equal(fre[valid], l2a[valid] - 1000)  # same reflectance, other encoding
        assert (fre[~valid] == -10000).all()
        aot = _read(maja_demo.parent, maja_item, "atb", band=2)[valid] / 200.0
        scl_aot = _read(scl_demo.parent, scl_item, "aot")[valid] / 1000.0
        assert np.abs(aot - scl_aot).max() <= 0.0025 + 0.0005 + 1e-9  # half a step of each
        water_vapour = _read(maja_demo.parent, maja_item, "atb", band=1)[valid] / 20.0
        assert water_vapour.min() >= 0.5 and water_vapour.max() <= 5.0


# --- normalization (catalog.normalize) -----------------------------------------------------


@pytest.mark.parametrize("flavour", ["scl", "maja"])
def test_every_demo_item_normalizes(flavour: str, scl_demo: Path, maja_demo: Path) -> None:
    normalize = pytest.importorskip("catalog.normalize")
    from catalog.model import MaskFlavour

    path = scl_demo if flavour == "scl" else maja_demo
    expected_offset = -0.1 if flavour == "scl" else 0.0
    for item in _items(path):
        normalized = normalize.normalize_item(item, source="demo", base_href=str(path))
        assert tuple(normalized.bands) == BANDS
        assert all(a.offset == pytest.approx(expected_offset) for a in normalized.bands.values())
        assert all(a.scale == pytest.approx(0.0001) for a in normalized.bands.values())
        assert normalized.masks.flavour is MaskFlavour(flavour)
        assert Path(normalized.bands["red"].href).is_file()
        assert normalized.epsg == DEMO_EPSG
        assert normalized.aot is not None
        assert normalized.acquisition_key


# --- ensure_demo ----------------------------------------------------------------------------


def test_ensure_demo_builds_once_even_when_called_concurrently(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = demo_build.write_demo
    calls: list[Path] = []
    barrier = threading.Barrier(2)

    def small_demo(out_dir: str | Path, **kwargs: Any) -> Path:
        calls.append(Path(out_dir))
        barrier.wait(timeout=30)  # both builds run before either renames: a real race
        return real(out_dir, size_px=48, **kwargs)

    monkeypatch.setattr(demo_build, "write_demo", small_demo)
    results: list[Path] = []
    threads = [threading.Thread(target=lambda: results.append(ensure_demo(tmp_path))) for _ in "ab"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    expected = tmp_path / "demo" / "items.ndjson"
    assert results == [expected, expected] and len(calls) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo"]  # no temporary leftovers
    assert len(_items(expected)) == 12
    before = expected.stat().st_mtime_ns
    assert ensure_demo(tmp_path) == expected and len(calls) == 2  # reused, not rebuilt
    assert expected.stat().st_mtime_ns == before


@pytest.mark.parametrize(
    "kwargs",
    [{"flavour": "force"}, {"cloud_regime": "stormy"}, {"resolution": 30}, {"size_px": 8}],
)
def test_bad_arguments_are_rejected(tmp_path: Path, kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        write_demo(tmp_path, **kwargs)


def test_acquisitions_cover_the_monthly_window_without_the_central_day(scl_demo: Path) -> None:
    times = [datetime.fromisoformat(i["properties"]["datetime"][:19]) for i in _items(scl_demo)]
    central = datetime(2024, 7, 15, 12)
    offsets = [(t - central) / timedelta(days=1) for t in times]
    assert min(offsets) > -23.5 and max(offsets) < 23.5
    assert min(abs(o) for o in offsets) > 1.0  # a synthesis must interpolate
    assert times == sorted(times)
