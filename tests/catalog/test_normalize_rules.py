"""Normalization rules on synthetic items: flavours no real item here covers, and edge cases.

Each case writes its item by hand in the shape of one catalogue (CDSE, Theia MAJA, the
project's demo, Planetary Computer) and states the expected result literally.
"""

from __future__ import annotations

import copy
import warnings
from datetime import UTC, datetime
from typing import Any

import pytest

from catalog.errors import MalformedItem, MissingAsset, SkippedAssetWarning
from catalog.model import MaskFlavour
from catalog.normalize import (
    normalize_item,
    parse_datetime,
    processing_baseline,
    reflectance_scale_offset,
    resolve_href,
)
from tests.catalog._support import C1_ITEM, TWL_NDJSON, read_json, twl_item

SQUARE = {
    "type": "Polygon",
    "coordinates": [[[10.0, 45.0], [11.0, 45.0], [11.0, 46.0], [10.0, 46.0], [10.0, 45.0]]],
}


def item(assets: dict[str, Any], item_id: str = "S2A_TEST", **properties: Any) -> dict[str, Any]:
    """A minimal valid item with the given assets and properties."""
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "id": item_id,
        "collection": properties.pop("collection", "test"),
        "bbox": [10.0, 45.0, 11.0, 46.0],
        "geometry": SQUARE,
        "properties": {"datetime": "2023-08-15T10:00:00Z", **properties},
        "assets": assets,
        "links": [],
    }


def asset(href: str, **fields: Any) -> dict[str, Any]:
    return {"href": href, "type": "image/tiff", "roles": ["data"], **fields}


# --------------------------------------------------------------------------------------------
# The scale/offset rule, as a table
# --------------------------------------------------------------------------------------------

BEFORE = datetime(2021, 6, 1, tzinfo=UTC)  # before baseline 04.00 went operational
AFTER = datetime(2023, 6, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("flavour", "collection", "properties", "declared", "baseline", "acquired", "offset"),
    [
        pytest.param(MaskFlavour.MAJA, None, {}, None, (5, 9), AFTER, 0.0, id="maja-never"),
        pytest.param(MaskFlavour.MAJA, None, {}, -0.05, None, AFTER, -0.05, id="maja-declared"),
        pytest.param(MaskFlavour.SCL, "sentinel-2-l2a",
                     {"earthsearch:boa_offset_applied": True}, -0.1, (5, 9), AFTER, 0.0,
                     id="es-applied-true-ignores-raster-bands"),
        pytest.param(MaskFlavour.SCL, "sentinel-2-l2a",
                     {"earthsearch:boa_offset_applied": False}, -0.1, (4, 0), AFTER, -0.1,
                     id="es-applied-false-baseline-04"),
        pytest.param(MaskFlavour.SCL, "sentinel-2-l2a",
                     {"earthsearch:boa_offset_applied": False}, 0.0, (3, 1), BEFORE, 0.0,
                     id="es-applied-false-baseline-03"),
        pytest.param(MaskFlavour.SCL, "sentinel-2-c1-l2a", {}, None, None, BEFORE, -0.1,
                     id="c1-always-even-undeclared"),
        pytest.param(MaskFlavour.SCL, "sentinel-2-l2a", {}, -0.1, (5, 10), AFTER, -0.1,
                     id="cdse-declared"),
        pytest.param(MaskFlavour.SCL, "sentinel-2-l2a", {}, 0.0, (5, 10), AFTER, 0.0,
                     id="declared-zero-is-trusted"),
        pytest.param(MaskFlavour.SCL, "sentinel-2-l2a", {}, None, (4, 0), AFTER, -0.1,
                     id="pc-baseline-04"),
        pytest.param(MaskFlavour.SCL, "sentinel-2-l2a", {}, None, (2, 12), AFTER, 0.0,
                     id="pc-baseline-02"),
        pytest.param(MaskFlavour.SCL, None, {}, None, None, AFTER, -0.1, id="unknown-after"),
        pytest.param(MaskFlavour.SCL, None, {}, None, None, BEFORE, 0.0, id="unknown-before"),
    ],
)  # fmt: skip
def test_reflectance_offset_rule(
    flavour: MaskFlavour,
    collection: str | None,
    properties: dict[str, Any],
    declared: float | None,
    baseline: tuple[int, int] | None,
    acquired: datetime,
    offset: float,
) -> None:
    scale, got = reflectance_scale_offset(
        flavour=flavour,
        collection=collection,
        properties=properties,
        declared_scale=None,
        declared_offset=declared,
        baseline=baseline,
        acquired=acquired,
    )
    assert scale == 1e-4
    assert got == pytest.approx(offset, abs=1e-12)


def test_declared_scale_is_used() -> None:
    scale, _ = reflectance_scale_offset(
        flavour=MaskFlavour.SCL, collection=None, properties={}, declared_scale=2e-4,
        declared_offset=0.0, baseline=None, acquired=AFTER,
    )  # fmt: skip
    assert scale == 2e-4


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"properties": {"s2:processing_baseline": "04.00"}}, (4, 0)),
        ({"properties": {"sentinel2:processing_baseline": "05.09"}}, (5, 9)),
        ({"properties": {"processing:version": "05.11"}}, (5, 11)),
        ({"properties": {"s2:datatake_id": "GS2A_20230815T095031_042547_N05.09"}}, (5, 9)),
        ({"properties": {"sentinel:product_id": "S2A_MSIL2A_20200714T115221_N0214_R123_T28QCH"
                                                "_20200714T191310"}}, (2, 14)),
        ({"id": "S2C_MSIL2A_20250906T104621_N0511_R051_T32VNM_20250906T150000",
          "properties": {}}, (5, 11)),
        ({"id": "S2A_33TWL_20230815_0_L2A", "properties": {}}, None),
    ],
)  # fmt: skip
def test_processing_baseline_is_found_wherever_written(
    raw: dict[str, Any], expected: tuple[int, int] | None
) -> None:
    assert processing_baseline(raw) == expected


# --------------------------------------------------------------------------------------------
# Catalogue flavours
# --------------------------------------------------------------------------------------------


def cdse_item(with_raster: bool, item_id: str) -> dict[str, Any]:
    """A CDSE-shaped item: ``B04_10m`` keys, STAC 1.1 ``bands``, asset-level raster fields."""
    radiometry = {"raster:scale": 0.0001, "raster:offset": -0.1, "nodata": 0} if with_raster else {}

    def band(key: str, name: str, common: str | None, gsd: int) -> dict[str, Any]:
        bands = [{"name": name, **({"eo:common_name": common} if common else {})}]
        return asset(f"s3://eodata/x/{key}.jp2", gsd=gsd, bands=bands, **radiometry)

    assets: dict[str, Any] = {}
    for name, common, resolutions in [
        ("B01", "coastal", (20, 60)),
        ("B02", "blue", (10, 20, 60)),
        ("B03", "green", (10, 20, 60)),
        ("B04", "red", (10, 20, 60)),
        ("B05", "rededge", (20, 60)),
        ("B08", "nir", (10,)),
        ("B8A", "nir08", (20, 60)),
    ]:
        for res in resolutions:
            assets[f"{name}_{res}m"] = band(f"{name}_{res}m", name, common, res)
    assets["SCL_20m"] = asset("s3://eodata/x/SCL_20m.jp2", gsd=20)
    assets["SCL_60m"] = asset("s3://eodata/x/SCL_60m.jp2", gsd=60)
    assets["AOT_10m"] = asset("s3://eodata/x/AOT_10m.jp2", gsd=10)
    assets["AOT_20m"] = asset("s3://eodata/x/AOT_20m.jp2", gsd=20)
    assets["TCI_10m"] = asset("s3://eodata/x/TCI_10m.jp2", roles=["visual"])
    raw = item(assets, item_id=item_id, collection="sentinel-2-l2a", **{"proj:code": "EPSG:32632"})
    raw["stac_version"] = "1.1.0"
    return raw


def test_cdse_keys_finest_resolution_and_declared_radiometry() -> None:
    normalized = normalize_item(
        cdse_item(True, "S2C_MSIL2A_20250906T104621_N0511_R051_T32VNM_20250906T150000")
    )
    keys = {name: band.key for name, band in normalized.bands.items()}
    assert keys == {
        "coastal": "B01_20m", "blue": "B02_10m", "green": "B03_10m", "red": "B04_10m",
        "rededge1": "B05_20m", "nir": "B08_10m", "nir08": "B8A_20m",
    }  # fmt: skip
    assert all(
        b.offset == pytest.approx(-0.1) and b.scale == 1e-4 for b in normalized.bands.values()
    )
    assert normalized.masks.scl is not None and normalized.masks.scl.key == "SCL_20m"
    assert normalized.aot is not None and normalized.aot.key == "AOT_10m"
    assert normalized.epsg == 32632
    assert normalized.processing_baseline == "05.11"  # from the product id


@pytest.mark.parametrize(
    ("item_id", "offset"),
    [
        ("S2A_MSIL2A_20240613T100031_N0510_R122_T33UVR_20240613T140000", -0.1),
        ("S2A_MSIL2A_20210613T100031_N0300_R122_T33UVR_20210613T140000", 0.0),
    ],
)
def test_cdse_without_raster_metadata_falls_back_to_the_baseline(
    item_id: str, offset: float
) -> None:
    normalized = normalize_item(cdse_item(False, item_id))
    assert normalized.bands["red"].offset == pytest.approx(offset, abs=1e-12)


def theia_item() -> dict[str, Any]:
    """A Theia MAJA item: FRE/SRE reflectance, CLM/MG2/ATB at R1 (10 m) and R2 (20 m)."""
    assets = {
        f"{kind}_{band}": asset(f"/theia/{kind}_{band}.tif")
        for kind in ("FRE", "SRE")
        for band in ("B2", "B3", "B4", "B8", "B8A", "B11")
    }
    for mask in ("CLM", "MG2", "ATB"):
        for r in ("R1", "R2"):
            assets[f"{mask}_{r}"] = asset(f"/theia/{mask}_{r}.tif")
    return item(assets, item_id="SENTINEL2A_20230815-100000-000_L2A_T33TWL_C_V3-1")


def test_theia_maja_item() -> None:
    normalized = normalize_item(theia_item())
    assert normalized.masks.flavour is MaskFlavour.MAJA
    assert {n: b.key for n, b in normalized.bands.items()} == {
        "blue": "FRE_B2", "green": "FRE_B3", "red": "FRE_B4", "nir": "FRE_B8",
        "nir08": "FRE_B8A", "swir16": "FRE_B11",
    }  # fmt: skip
    red = normalized.bands["red"]
    assert (red.scale, red.offset, red.nodata, red.dtype) == (1e-4, 0.0, -10000.0, "int16")
    assert normalized.masks.scl is None
    assert normalized.masks.clm is not None and normalized.masks.clm.key == "CLM_R1"
    assert normalized.masks.clm.nodata is None  # 0 is "clear", not nodata
    assert normalized.masks.mg2 is not None and normalized.masks.mg2.key == "MG2_R1"
    aot = normalized.aot
    assert aot is not None and aot.key == "ATB_R1"
    assert (aot.band_index, aot.scale, aot.nodata) == (2, pytest.approx(1 / 200), 0.0)


def demo_maja_item() -> dict[str, Any]:
    """What the project's demo writes in MAJA flavour: simple keys, l3a:flavour."""
    reflectance = {
        "raster:bands": [{"data_type": "int16", "nodata": -10000, "scale": 0.0001, "offset": 0.0}]
    }
    assets = {name: asset(f"./{name}.tif", **reflectance) for name in ("blue", "green", "red")}
    assets["clm"] = asset("./clm.tif")
    assets["mg2"] = asset("./mg2.tif")
    assets["atb"] = asset(
        "./atb.tif",
        **{"raster:bands": [{"data_type": "uint8", "scale": 0.05},
                            {"data_type": "uint8", "scale": 0.005, "nodata": 0}]},
    )  # fmt: skip
    return item(assets, item_id="demo-maja-0", **{"l3a:flavour": "maja"})


def test_demo_maja_item_with_simple_keys() -> None:
    normalized = normalize_item(demo_maja_item(), base_href="/demo/items.ndjson")
    assert normalized.masks.flavour is MaskFlavour.MAJA
    assert normalized.masks.clm is not None and normalized.masks.clm.href == "/demo/clm.tif"
    assert normalized.masks.mg2 is not None and normalized.masks.mg2.key == "mg2"
    assert normalized.bands["red"].nodata == -10000 and normalized.bands["red"].offset == 0
    aot = normalized.aot
    assert aot is not None and (aot.band_index, aot.scale) == (2, 0.005)


def test_declared_maja_flavour_without_clm_is_missing_clm() -> None:
    raw = demo_maja_item()
    del raw["assets"]["clm"]
    with pytest.raises(MissingAsset, match=r"demo-maja-0.*'clm'") as info:
        normalize_item(raw, source="demo")
    assert info.value.asset == "clm" and info.value.item_id == "demo-maja-0"


def test_unknown_flavour_is_malformed() -> None:
    raw = demo_maja_item()
    raw["properties"]["l3a:flavour"] = "fmask"
    with pytest.raises(MalformedItem, match=r"l3a:flavour is 'fmask'"):
        normalize_item(raw)


def test_jp2_only_when_no_cog() -> None:
    raw = item(
        {
            "red-jp2": asset("s3://b/B04.jp2"),
            "green": asset("https://b/B03.tif"),
            "green-jp2": asset("s3://b/B03.jp2"),
            "blue": asset("https://b/B02.tif"),
            "scl": asset("https://b/SCL.tif"),
        }
    )
    normalized = normalize_item(raw)
    assert normalized.bands["red"].key == "red-jp2"
    assert normalized.bands["green"].key == "green"


def test_unknown_key_named_by_eo_bands() -> None:
    raw = item(
        {
            "band_a": asset("/a.tif", **{"eo:bands": [{"name": "B04"}]}),
            "band_b": asset("/b.tif", **{"eo:bands": [{"name": "x", "common_name": "green"}]}),
            "band_c": asset("/c.tif", **{"eo:bands": [{"name": "x", "common_name": "rededge"}]}),
            "blue": asset("/blue.tif"),
            "SCL": asset("/scl.tif"),
        }
    )
    normalized = normalize_item(raw)
    assert {n: b.key for n, b in normalized.bands.items()} == {
        "blue": "blue", "green": "band_b", "red": "band_a",
    }  # fmt: skip  # "rededge" alone is ambiguous (B05, B06 or B07): not used


# --------------------------------------------------------------------------------------------
# Grids, hrefs, times, acquisitions
# --------------------------------------------------------------------------------------------


def test_grid_from_projection_v2_and_nine_element_transform() -> None:
    raw = twl_item("20230815")
    red = raw["assets"]["red"]
    red["proj:code"] = "EPSG:32633"
    red["proj:transform"] = [*red["proj:transform"], 0.0, 0.0, 1.0]
    del raw["properties"]["proj:epsg"]
    normalized = normalize_item(raw)
    grid = normalized.bands["red"].grid
    assert grid is not None
    assert grid.epsg == 32633
    # The crop of the test data: 128 x 128 px of 120 m, 664 columns and 112 rows into the
    # full tile's grid, which starts at (499980, 5100000): 499980 + 664 x 120 = 579660,
    # 5100000 - 112 x 120 = 5086560, and 128 x 120 = 15360 m a side.
    assert grid.transform == (120.0, 0.0, 579660.0, 0.0, -120.0, 5086560.0)
    assert grid.shape == (128, 128)
    assert grid.bounds == (579660.0, 5071200.0, 595020.0, 5086560.0)
    assert normalized.bands["blue"].grid is None  # no CRS at all for it any more
    assert normalized.epsg == 32633  # from the red band


def test_item_level_grid_only_for_assets_on_that_grid() -> None:
    raw = item(
        {
            "red": asset("/r.tif", **{"raster:bands": [{"spatial_resolution": 10}]}),
            "green": asset("/g.tif"),  # says nothing: the item's grid
            "blue": asset("/b.tif", gsd=10),
            "rededge1": asset("/re1.tif", gsd=20),  # a 20 m band: not the item's 10 m grid
            "scl": asset("/scl.tif", **{"raster:bands": [{"spatial_resolution": 20}]}),
        },
        **{
            "proj:epsg": 32633,
            "proj:shape": [10980, 10980],
            "proj:transform": [10, 0, 499980, 0, -10, 5100000],
        },
    )
    normalized = normalize_item(raw)
    expected = (10.0, 0.0, 499980.0, 0.0, -10.0, 5100000.0)
    for name in ("red", "green", "blue"):
        grid = normalized.bands[name].grid
        assert grid is not None and grid.transform == expected and grid.shape == (10980, 10980)
    assert normalized.bands["rededge1"].grid is None
    assert normalized.masks.scl is not None and normalized.masks.scl.grid is None


@pytest.mark.parametrize(
    ("href", "base", "expected"),
    [
        ("./B04.tif", "/data/tile/item.json", "/data/tile/B04.tif"),
        ("../B04.tif", "/data/tile/item.json", "/data/B04.tif"),
        ("B04.tif", "https://host/a/b/item.json", "https://host/a/b/B04.tif"),
        ("https://host/B04.tif", "/data/item.json", "https://host/B04.tif"),
        ("s3://bucket/B04.tif", "/data/item.json", "s3://bucket/B04.tif"),
        ("/abs/B04.tif", "https://host/item.json", "/abs/B04.tif"),
        ("./B04.tif", None, "./B04.tif"),
    ],
)
def test_resolve_href(href: str, base: str | None, expected: str) -> None:
    assert resolve_href(href, base) == expected


def test_self_link_is_the_base_without_an_explicit_one() -> None:
    raw = twl_item("20230815")
    raw["links"].append({"rel": "self", "href": "https://api.example/items/x.json"})
    assert normalize_item(raw).bands["red"].href == (
        "https://api.example/items/S2A_33TWL_20230815_0_L2A/B04.tif"
    )
    # An explicit base (the file the item was read from) wins over the self link.
    explicit = normalize_item(raw, base_href=str(TWL_NDJSON))
    assert explicit.bands["red"].href == str(TWL_NDJSON.parent / "S2A_33TWL_20230815_0_L2A/B04.tif")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2023-08-15T09:58:11.662000Z", datetime(2023, 8, 15, 9, 58, 11, 662000, tzinfo=UTC)),
        ("2023-08-15T09:58:11.123456789Z", datetime(2023, 8, 15, 9, 58, 11, 123456, tzinfo=UTC)),
        ("2023-08-15T11:58:11+02:00", datetime(2023, 8, 15, 9, 58, 11, tzinfo=UTC)),
        ("2023-08-15T09:58:11", datetime(2023, 8, 15, 9, 58, 11, tzinfo=UTC)),
    ],
)
def test_parse_datetime(text: str, expected: datetime) -> None:
    assert parse_datetime(text) == expected


def test_datatake_key_drops_the_baseline_suffix() -> None:
    raw = twl_item("20230815")
    first = normalize_item(raw)
    raw["properties"]["s2:datatake_id"] = "GS2A_20230815T095031_042547_N05.10"  # reprocessed
    assert normalize_item(raw).acquisition_key == first.acquisition_key
    assert first.acquisition_key == "GS2A_20230815T095031_042547"


def _no_datatake(day_time: str, lon: float, platform: str = "sentinel-2a") -> dict[str, Any]:
    raw = item(
        {"red": asset("/r.tif"), "green": asset("/g.tif"), "blue": asset("/b.tif"),
         "scl": asset("/s.tif")},
        platform=platform,
    )  # fmt: skip
    raw["properties"]["datetime"] = day_time
    raw["geometry"] = {
        "type": "Polygon",
        "coordinates": [[[lon - 0.5, 0], [lon + 0.5, 0], [lon + 0.5, 1], [lon - 0.5, 1],
                         [lon - 0.5, 0]]],
    }  # fmt: skip
    raw["bbox"] = [lon - 0.5, 0.0, lon + 0.5, 1.0]
    return raw


def test_solar_day_groups_tiles_of_one_pass_across_utc_midnight() -> None:
    # A pass near 165 E at 10:30 local solar time is at about 23:30 UTC the day before: two
    # adjacent tiles of it fall on both sides of UTC midnight, but on one solar day.
    west = normalize_item(_no_datatake("2023-08-14T23:59:50Z", 164.0))
    east = normalize_item(_no_datatake("2023-08-15T00:00:10Z", 165.5))
    assert west.acquisition_key == east.acquisition_key == "sentinel-2a_2023-08-15"
    other_platform = normalize_item(_no_datatake("2023-08-15T00:00:10Z", 165.5, "sentinel-2b"))
    assert other_platform.acquisition_key == "sentinel-2b_2023-08-15"


def test_solar_day_of_a_tile_straddling_the_antimeridian() -> None:
    # Vertices at 179.6 E and 179.6 W: the centre is 180, not 0 (a plain mean would be off by
    # half a day). 22:30 UTC + 12 h = 10:30 on the next solar day.
    raw = _no_datatake("2023-08-14T22:30:00Z", 0.0)
    raw["geometry"]["coordinates"] = [[[179.6, 0], [-179.6, 0], [-179.6, 1], [179.6, 1],
                                       [179.6, 0]]]  # fmt: skip
    assert normalize_item(raw).acquisition_key.endswith("_2023-08-15")


def test_relative_orbit_enters_the_key_when_known() -> None:
    raw = _no_datatake("2023-08-15T10:00:00Z", 10.0)
    raw["properties"]["sat:relative_orbit"] = 79
    assert normalize_item(raw).acquisition_key == "sentinel-2a_2023-08-15_R079"


# --------------------------------------------------------------------------------------------
# Errors and optional assets
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda r: r["properties"].pop("datetime"), r"src: item '\S+': no datetime"),
        (lambda r: r["properties"].update(datetime="15/08/2023"), r"'15/08/2023' is not RFC 3339"),
        (lambda r: r.update(assets={}), r"item 'S2A_33TWL_20230815_0_L2A': no assets"),
        (lambda r: r.pop("assets"), r"no assets"),
        (lambda r: r.pop("id"), r"^src: no id$"),
        (lambda r: (r.pop("bbox"), r.pop("geometry")), r"no bbox and no geometry"),
        (lambda r: r.update(properties=None), r"no properties"),
    ],
)  # fmt: skip
def test_malformed_item(mutate: Any, message: str) -> None:
    raw = twl_item("20230815")
    mutate(raw)
    with pytest.raises(MalformedItem, match=message):
        normalize_item(raw, source="src")


@pytest.mark.parametrize("key", ["red", "green", "blue"])
def test_missing_required_band_names_source_item_and_asset(key: str) -> None:
    raw = twl_item("20230815")
    del raw["assets"][key]
    with pytest.raises(MissingAsset) as info:
        normalize_item(raw, source="my-source")
    message = str(info.value)
    assert message.startswith(f"my-source: item 'S2A_33TWL_20230815_0_L2A': missing required "
                              f"asset '{key}'")  # fmt: skip
    assert (info.value.source, info.value.item_id, info.value.asset) == (
        "my-source",
        "S2A_33TWL_20230815_0_L2A",
        key,
    )


def test_missing_mask_names_both_flavours() -> None:
    raw = twl_item("20230815")
    del raw["assets"]["scl"]
    with pytest.raises(MissingAsset, match=r"'scl'.*SCL_20m.*CLM_R1") as info:
        normalize_item(raw, source="s")
    assert info.value.asset == "scl"


def test_required_asset_without_href_is_missing_with_the_reason() -> None:
    raw = twl_item("20230815")
    raw["assets"]["red"].pop("href")
    with pytest.raises(MissingAsset, match=r"'red' \(asset 'red' has no usable href\)"):
        normalize_item(raw)


def test_missing_optional_assets_still_normalize_silently() -> None:
    raw = read_json(C1_ITEM)
    for key in ("rededge2", "aot", "swir22"):
        del raw["assets"][key]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an absent optional band is normal: no warning
        normalized = normalize_item(raw)
    assert "rededge2" not in normalized.bands and "swir22" not in normalized.bands
    assert {"rededge1", "rededge3", "red"} <= set(normalized.bands)
    assert normalized.aot is None


def test_broken_optional_asset_is_skipped_with_a_warning() -> None:
    raw = read_json(C1_ITEM)
    raw["assets"]["rededge2"]["href"] = ""
    with pytest.warns(SkippedAssetWarning, match=r"item 'S2B_T38XNF_20250422T091553_L2A': "
                                                 r"optional asset 'rededge2'"):  # fmt: skip
        normalized = normalize_item(raw)
    assert "rededge2" not in normalized.bands


def test_input_item_is_not_modified() -> None:
    raw = read_json(C1_ITEM)
    before = copy.deepcopy(raw)
    normalize_item(raw, base_href="/x/y.json")
    assert raw == before
