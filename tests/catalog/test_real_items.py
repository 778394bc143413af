"""Normalization of each real item of the test data in tests/data, against hand-written truth.

The expectations are written out per item from the rules of docs/algorithms.md, not recomputed by
the code under test:

- Earth Search v1 ``sentinel-2-l2a``: baseline < 04.00 -> offset 0; baseline >= 04.00 with
  ``earthsearch:boa_offset_applied: true`` -> 0 (the pixels already carry it, although
  raster:bands says -0.1); with ``false`` -> -0.1.
- Earth Search ``sentinel-2-c1-l2a``: always -0.1.
- Earth Search ``sentinel-s2-l2a`` (JP2, baseline 05.09, raster:bands -0.1): -0.1.
- Earth Search v0 ``sentinel-s2-l2a-cogs`` (no raster metadata; product id N0214): 0.
- Planetary Computer (no raster metadata, baseline 02.12): 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from catalog.model import MaskFlavour
from catalog.normalize import normalize_item
from tests.catalog._support import real_item_files

ALL_BANDS = {
    "coastal", "blue", "green", "red", "rededge1", "rededge2", "rededge3",
    "nir", "nir08", "nir09", "swir16", "swir22",
}  # fmt: skip
#: Asset keys of catalogues that name assets by band number (Planetary Computer, ES v0).
NUMBER_KEYS = {
    "coastal": "B01", "blue": "B02", "green": "B03", "red": "B04", "rededge1": "B05",
    "rededge2": "B06", "rededge3": "B07", "nir": "B08", "nir08": "B8A", "nir09": "B09",
    "swir16": "B11", "swir22": "B12",
}  # fmt: skip
NAME_KEYS = {name: name for name in ALL_BANDS}


@dataclass(frozen=True)
class Expect:
    """What one item must normalize to."""

    collection: str
    baseline: str
    offset: float  # of every reflectance band
    epsg: int
    keys: dict[str, str]  # band -> asset key
    scl: str  # SCL asset key
    aot: str  # AOT asset key


def earth_search(baseline: str, offset: float, epsg: int = 32633) -> Expect:
    return Expect("sentinel-2-l2a", baseline, offset, epsg, NAME_KEYS, "scl", "aot")


def planetary(epsg: int) -> Expect:
    return Expect("sentinel-2-l2a", "02.12", 0.0, epsg, NUMBER_KEYS, "SCL", "AOT")


#: Per item id. Offsets written from the rules above, one by one.
EXPECTED: dict[str, Expect] = {
    # Earth Search v1 sentinel-2-l2a, baselines 00.01 .. 03.01: no offset.
    "S2A_33TWN_20161202_0_L2A": earth_search("00.01", 0.0),
    "S2A_33TWN_20171005_0_L2A": earth_search("00.01", 0.0),
    "S2B_33TWN_20180806_0_L2A": earth_search("00.01", 0.0),
    "S2B_33TWN_20180521_1_L2A": earth_search("02.07", 0.0),
    "S2B_33TWN_20181005_0_L2A": earth_search("02.08", 0.0),
    "S2B_33TWN_20181104_0_L2A": earth_search("02.09", 0.0),
    "S2A_33TWN_20181119_0_L2A": earth_search("02.10", 0.0),
    "S2B_33TWN_20190503_0_L2A": earth_search("02.11", 0.0),
    "S2A_33TWN_20190707_1_L2A": earth_search("02.12", 0.0),
    "S2A_33TWN_20200202_0_L2A": earth_search("02.13", 0.0),
    "S2A_33TWN_20210328_0_L2A": earth_search("02.14", 0.0),
    "S2A_33TWN_20210629_0_L2A": earth_search("03.00", 0.0),
    "S2A_33TWN_20220122_0_L2A": earth_search("03.01", 0.0),
    # The two 04.00 items that disagree on earthsearch:boa_offset_applied.
    "S2B_33TWN_20220130_0_L2A": earth_search("04.00", 0.0),  # applied: true
    "S2B_33TWN_20220226_0_L2A": earth_search("04.00", -0.1),  # applied: false
    # Later baselines, offset already applied by Earth Search.
    "S2A_32TMS_20221207_0_L2A": earth_search("05.09", 0.0, epsg=32632),
    "S2A_12RWT_20240106_0_L2A": earth_search("05.10", 0.0, epsg=32612),
    # Earth Search sentinel-2-c1-l2a: always -0.1.
    "S2B_T38XNF_20250422T091553_L2A": Expect(
        "sentinel-2-c1-l2a", "05.11", -0.1, 32638, NAME_KEYS, "scl", "aot"
    ),
    # Earth Search sentinel-s2-l2a (JP2, red/red_20m/red_60m): declared -0.1, baseline 05.09.
    "S2A_OPER_MSI_L2A_TL_2APS_20230602T025701_A041483_T01WCR": Expect(
        "sentinel-s2-l2a", "05.09", -0.1, 32601, NAME_KEYS, "scl", "aot"
    ),
    # Earth Search v0 sentinel-s2-l2a-cogs: baseline only in sentinel:product_id (N0214).
    "S2A_28QCH_20200714_0_L2A": Expect(
        "sentinel-s2-l2a-cogs", "02.14", 0.0, 32628, NUMBER_KEYS, "SCL", "AOT"
    ),
    # Planetary Computer, B8A labelled "rededge" in eo:bands: still nir08 by its key.
    "S2B_MSIL2A_20190629T212529_R043_T06VVN_20201006T080531": planetary(32606),
}
#: The Planetary Computer FeatureCollections: every feature is a PC item of baseline 02.12.
EXPECTED_BY_FILE: dict[str, tuple[int, Expect]] = {
    "site1-20200606-tall-strip-africa.geojson": (9, planetary(32735)),
    "site2-2020_jun_jul-35MNM.geojson": (13, planetary(32735)),
}

CASES = list(real_item_files())


def expectation(path: Path, item: dict[str, Any]) -> Expect:
    if path.name in EXPECTED_BY_FILE:
        return EXPECTED_BY_FILE[path.name][1]
    return EXPECTED[item["id"]]


def test_every_real_item_has_an_expectation() -> None:
    single = {item["id"] for path, item in CASES if path.name not in EXPECTED_BY_FILE}
    assert single == set(EXPECTED)
    for name, (count, _) in EXPECTED_BY_FILE.items():
        assert sum(path.name == name for path, _ in CASES) == count


@pytest.mark.parametrize(
    ("path", "item"), CASES, ids=[f"{p.parent.name}/{i['id']}" for p, i in CASES]
)
def test_real_item_normalizes_with_expected_bands_scale_and_offset(
    path: Path, item: dict[str, Any]
) -> None:
    expected = expectation(path, item)
    normalized = normalize_item(item, source="stac-items", base_href=str(path))

    assert normalized.id == item["id"]
    assert normalized.collection == expected.collection
    assert normalized.processing_baseline == expected.baseline
    assert set(normalized.bands) == ALL_BANDS
    assert {name: a.key for name, a in normalized.bands.items()} == expected.keys
    for name, band in normalized.bands.items():
        assert band.scale == pytest.approx(1e-4), name
        assert band.offset == pytest.approx(expected.offset, abs=1e-12), name
        assert band.nodata == 0
        assert band.dtype == "uint16"
        assert not band.href.endswith(".jp2") or expected.collection == "sentinel-s2-l2a"
    assert normalized.masks.flavour is MaskFlavour.SCL
    assert normalized.masks.scl is not None and normalized.masks.scl.key == expected.scl
    assert normalized.masks.scl.nodata == 0
    assert normalized.aot is not None and normalized.aot.key == expected.aot
    assert normalized.aot.scale == pytest.approx(0.001)  # Sen2Cor AOT = DN / 1000
    assert normalized.aot.offset == 0
    assert normalized.epsg == expected.epsg
    red_grid = normalized.bands["red"].grid
    assert red_grid is not None and red_grid.resolution == 10 and red_grid.shape == (10980, 10980)
    assert normalized.grid == red_grid
    assert (
        normalized.datetime.tzinfo is not None
        and normalized.datetime.utcoffset().total_seconds() == 0
    )


def _by_id(item_id: str) -> tuple[Path, dict[str, Any]]:
    return next((p, i) for p, i in CASES if i["id"] == item_id)


def test_the_two_baseline_04_items_get_different_offsets() -> None:
    applied = normalize_item(_by_id("S2B_33TWN_20220130_0_L2A")[1])
    not_applied = normalize_item(_by_id("S2B_33TWN_20220226_0_L2A")[1])
    assert applied.properties["earthsearch:boa_offset_applied"] is True
    assert not_applied.properties["earthsearch:boa_offset_applied"] is False
    # Both items declare -0.1 in raster:bands; only the second one's pixels need it.
    assert applied.bands["red"].offset == 0.0
    assert not_applied.bands["red"].offset == pytest.approx(-0.1)


def test_sentinel_s2_l2a_prefers_native_resolution_keys() -> None:
    item = normalize_item(_by_id("S2A_OPER_MSI_L2A_TL_2APS_20230602T025701_A041483_T01WCR")[1])
    # red / red_20m / red_60m exist: the 10 m native one is used; nir08 over nir08_60m.
    assert item.bands["red"].href.endswith("/R10m/B04.jp2")
    assert item.bands["nir08"].href.endswith("/R20m/B8A.jp2")
    assert item.masks.scl is not None and item.masks.scl.href.endswith("/R20m/SCL.jp2")
    assert item.aot is not None and item.aot.href.endswith("/R20m/AOT.jp2")


def test_earth_search_jp2_duplicates_are_skipped_for_the_cogs() -> None:
    item = normalize_item(_by_id("S2A_32TMS_20221207_0_L2A")[1])
    for band in item.bands.values():
        assert band.href.endswith(".tif") and not band.key.endswith("-jp2")
    assert item.masks.scl is not None and item.masks.scl.key == "scl"


def test_planetary_computer_b8a_labelled_rededge_is_nir08() -> None:
    raw = _by_id("S2B_MSIL2A_20190629T212529_R043_T06VVN_20201006T080531")[1]
    assert raw["assets"]["B8A"]["eo:bands"][0]["common_name"] == "rededge"  # the quirk
    item = normalize_item(raw)
    assert item.bands["nir08"].key == "B8A"
    assert item.bands["rededge1"].key == "B05"


def test_relative_hrefs_resolve_against_the_item_file() -> None:
    path, raw = _by_id("S2A_12RWT_20240106_0_L2A")
    item = normalize_item(raw, base_href=str(path))
    assert raw["assets"]["red"]["href"] == "./B04.tif"
    assert item.bands["red"].href == str(path.parent / "B04.tif")
    # Absolute hrefs of the same item are left alone.
    assert item.bands["rededge1"].href.startswith("https://sentinel-cogs.s3.us-west-2")


@pytest.mark.parametrize(
    ("item_id", "key"),
    [
        # s2:datatake_id without its _Nxx.yy baseline suffix.
        ("S2B_33TWN_20220226_0_L2A", "GS2B_20220226T095029_025988"),
        ("S2B_T38XNF_20250422T091553_L2A", "GS2B_20250422T091559_042447"),
        # No datatake id: platform, solar day (11:55 UTC at 16.8 W is 10:48 local), orbit.
        ("S2A_28QCH_20200714_0_L2A", "sentinel-2a_2020-07-14_R123"),
    ],
)
def test_acquisition_key_of_real_items(item_id: str, key: str) -> None:
    assert normalize_item(_by_id(item_id)[1]).acquisition_key == key


def test_planetary_computer_tiles_of_one_datatake_share_the_key() -> None:
    keys = {
        normalize_item(item).acquisition_key
        for path, item in CASES
        if path.name == "site1-20200606-tall-strip-africa.geojson"
    }
    assert keys == {"GS2B_20200606T080609_016978"}


def test_sun_angles_from_view_or_s2_properties() -> None:
    earth_search_item = normalize_item(_by_id("S2A_32TMS_20221207_0_L2A")[1])
    assert earth_search_item.sun_azimuth == pytest.approx(167.805605313216)
    assert earth_search_item.sun_elevation == pytest.approx(20.004307452564007)
    pc = normalize_item(_by_id("S2B_MSIL2A_20190629T212529_R043_T06VVN_20201006T080531")[1])
    assert pc.sun_azimuth == pytest.approx(170.148039164397)
    assert pc.sun_elevation == pytest.approx(90 - 37.9128805424161)  # from the zenith
    assert normalize_item(_by_id("S2A_28QCH_20200714_0_L2A")[1]).sun_elevation is None


def test_platform_and_cloud_cover_are_normalized() -> None:
    pc = normalize_item(_by_id("S2B_MSIL2A_20190629T212529_R043_T06VVN_20201006T080531")[1])
    assert pc.platform == "sentinel-2b"  # "Sentinel-2B" in the item
    assert pc.cloud_cover == pytest.approx(0.314306)
