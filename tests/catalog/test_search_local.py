"""`search` over local files: formats, filters, order, skipped items, errors."""

from __future__ import annotations

import json
import os
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from catalog.errors import (
    InvalidQuery,
    InvalidResponse,
    SkippedItemWarning,
    UnknownSource,
)
from catalog.query import SearchQuery
from catalog.search import search
from tests.catalog._support import (
    AUGUST,
    PC_SITE2,
    STAC_ITEMS,
    TWL,
    TWL_BBOX,
    TWL_IDS,
    TWL_NDJSON,
    twl_items,
    write_ndjson,
)


def ids(items: list[Any]) -> list[str]:
    return [item.id for item in items]


def test_ndjson_with_relative_hrefs() -> None:
    items = search(str(TWL_NDJSON), TWL_BBOX, *AUGUST)
    assert ids(items) == TWL_IDS  # the file lists 08-15 first: the result is sorted
    for item in items:
        for band in (*item.bands.values(), item.masks.scl):
            assert band is not None and os.path.isabs(band.href) and os.path.exists(band.href)
        assert item.source == str(TWL_NDJSON)
    assert set(items[0].bands) == {"blue", "green", "red", "nir"}


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"max_cloud": 50}, [TWL_IDS[1], TWL_IDS[2], TWL_IDS[3], TWL_IDS[4]]),
        ({"max_cloud": 5}, [TWL_IDS[1], TWL_IDS[2]]),
        ({"max_cloud": 0.1}, []),
        ({"collection": "sentinel-2-l2a"}, TWL_IDS),
        ({"collection": "sentinel-2-c1-l2a"}, []),
    ],
)
def test_local_filters(kwargs: dict[str, Any], expected: list[str]) -> None:
    assert ids(search(str(TWL_NDJSON), TWL_BBOX, *AUGUST, **kwargs)) == expected


@pytest.mark.parametrize(
    ("bbox", "start", "end", "expected"),
    [
        # 08-13 and 08-15 only; naive datetimes are UTC.
        (TWL_BBOX, datetime(2023, 8, 12), datetime(2023, 8, 16), TWL_IDS[1:3]),
        # An end equal to an acquisition instant includes it.
        (TWL_BBOX, datetime(2023, 8, 1), datetime(2023, 8, 10, 9, 58, 11, 590000), TWL_IDS[:1]),
        ((0.0, 0.0, 1.0, 1.0), *AUGUST, []),  # far away
        # Touching the north-east corner of the smallest item bbox: edges are included.
        ((16.417598602579513, 46.05356373815542, 17.0, 47.0), *AUGUST, TWL_IDS),
        ((16.4176, 46.0536, 17.0, 47.0), *AUGUST, []),  # just beyond it
        ((-179.0, 45.0, 15.1, 46.0), *AUGUST, TWL_IDS),  # wide
        ((170.0, 45.0, 15.1, 46.0), *AUGUST, TWL_IDS),  # across the antimeridian
        ((170.0, 45.0, -170.0, 46.0), *AUGUST, []),  # across the antimeridian, elsewhere
    ],
)
def test_local_bbox_and_period(
    bbox: tuple[float, float, float, float], start: datetime, end: datetime, expected: list[str]
) -> None:
    assert ids(search(str(TWL_NDJSON), bbox, start, end)) == expected


def test_order_does_not_depend_on_the_file_and_duplicates_go(tmp_path: Path) -> None:
    items = twl_items()
    reordered = write_ndjson(tmp_path / "items.ndjson", [*reversed(items), items[2]])
    # Relative hrefs are relative to the file: give the copy its own asset folders.
    for item in items:
        (tmp_path / item["id"]).symlink_to(TWL / item["id"])
    result = search(str(reordered), TWL_BBOX, *AUGUST)
    assert ids(result) == TWL_IDS  # sorted, and the repeated 08-10 line counted once
    assert all(item.bands["red"].href.startswith(str(tmp_path)) for item in result)


def test_single_item_json_resolves_hrefs_next_to_it() -> None:
    path = TWL / "S2A_33TWL_20230815_0_L2A" / "S2A_33TWL_20230815_0_L2A.json"
    (item,) = search(str(path), TWL_BBOX, *AUGUST)
    assert item.bands["red"].href == str(path.parent / "B04.tif")
    assert os.path.exists(item.bands["red"].href)


def test_feature_collection_geojson_planetary_computer() -> None:
    june = (datetime(2020, 6, 1, tzinfo=UTC), datetime(2020, 6, 30, 23, 59, 59, tzinfo=UTC))
    bbox = (27.2, -8.0, 27.8, -7.5)
    assert ids(search(str(PC_SITE2), bbox, *june)) == [
        "S2A_MSIL2A_20200601T080611_R078_T35MNM_20201027T072253",
        "S2B_MSIL2A_20200606T080609_R078_T35MNM_20200826T094900",
        "S2A_MSIL2A_20200611T080611_R078_T35MNM_20200826T230619",
        "S2B_MSIL2A_20200616T080609_R078_T35MNM_20201027T073925",
        "S2A_MSIL2A_20200621T080611_R078_T35MNM_20200823T125142",
        "S2B_MSIL2A_20200626T080609_R078_T35MNM_20200824T052748",
    ]
    assert ids(search(str(PC_SITE2), bbox, *june, max_cloud=1)) == [
        "S2B_MSIL2A_20200606T080609_R078_T35MNM_20200826T094900",  # 0.97 %
        "S2B_MSIL2A_20200616T080609_R078_T35MNM_20201027T073925",  # 0.02 %
    ]


def test_item_collection_json_and_file_url(tmp_path: Path) -> None:
    path = tmp_path / "collection.json"
    items = twl_items()
    path.write_text(json.dumps({"type": "FeatureCollection", "features": items}))
    for item in items:
        (tmp_path / item["id"]).symlink_to(TWL / item["id"])
    assert ids(search(f"file://{path}", TWL_BBOX, *AUGUST)) == TWL_IDS


def test_bad_items_are_skipped_with_a_warning_naming_item_and_asset(tmp_path: Path) -> None:
    items = twl_items()
    no_red = json.loads(json.dumps(items[0]))
    no_red["id"] = "no-red"
    del no_red["assets"]["red"]
    no_date = json.loads(json.dumps(items[1]))
    no_date["id"] = "no-date"
    no_date["properties"]["datetime"] = None
    no_nir = json.loads(json.dumps(items[2]))
    no_nir["id"] = "no-nir"  # an optional band: kept, silently
    del no_nir["assets"]["nir"]
    path = write_ndjson(tmp_path / "items.ndjson", [*items, no_red, no_date, no_nir, 42])
    for item in items:
        (tmp_path / item["id"]).symlink_to(TWL / item["id"])

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = search(str(path), TWL_BBOX, *AUGUST)
    messages = sorted(str(w.message) for w in caught if w.category is SkippedItemWarning)
    assert len(caught) == 3 and len(messages) == 3
    assert any("item 'no-red': missing required asset 'red'" in m for m in messages)
    assert any("item 'no-date': no datetime" in m for m in messages)
    assert any("not a JSON object" in m for m in messages)
    assert all(m.startswith(f"skipped {path}") for m in messages)
    assert sorted(ids(result)) == sorted([*TWL_IDS, "no-nir"])
    assert "nir" not in next(i for i in result if i.id == "no-nir").bands


def test_skipped_items_are_logged_too(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    item = twl_items()[0]
    del item["assets"]["blue"]
    path = write_ndjson(tmp_path / "items.ndjson", [item])
    with pytest.warns(SkippedItemWarning, match=r"S2A_33TWL_20230815_0_L2A.*'blue'"):
        assert search(str(path), TWL_BBOX, *AUGUST) == []
    assert "missing required asset 'blue'" in caplog.text


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        ("{not json", "bad.json", r"bad\.json: not JSON"),
        ('{"type": "Feature"}\n{oops\n', "bad.ndjson", r"bad\.ndjson: line 2 is not JSON"),
        ('{"type": "Catalog", "id": "c"}', "catalog.json", r"type 'Catalog', not a STAC"),
        ("3", "number.json", r"JSON int, not an item collection"),
    ],
)
def test_unreadable_files(tmp_path: Path, content: str, name: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(InvalidResponse, match=message) as info:
        search(str(path), TWL_BBOX, *AUGUST)
    assert info.value.source == str(path)


def test_a_collection_file_is_not_an_item_source() -> None:
    path = STAC_ITEMS / "odc-stac" / "sentinel-2-l2a.collection.json"
    with pytest.raises(InvalidResponse, match="type 'Collection'"):
        search(str(path), TWL_BBOX, *AUGUST)


@pytest.mark.parametrize("source", ["no-such-preset", "/no/such/file.ndjson", "", "ftp://x"])
def test_unknown_source(source: str) -> None:
    with pytest.raises(UnknownSource, match=r"unknown source .*earth-search.*cdse") as info:
        search(source, TWL_BBOX, *AUGUST)
    assert isinstance(info.value, ValueError)
    assert "earth-search" in info.value.known


@pytest.mark.parametrize(
    ("bbox", "start", "end", "max_cloud", "field"),
    [
        ((15.0, 46.0, 16.0, 45.0), *AUGUST, None, "bbox"),  # south > north
        ((15.0, 45.0, 190.0, 46.0), *AUGUST, None, "bbox"),
        ((15.0, 45.0, float("nan"), 46.0), *AUGUST, None, "bbox"),
        ((15.0, 45.0, 16.0), *AUGUST, None, "bbox"),
        (TWL_BBOX, AUGUST[1], AUGUST[0], None, "period"),
        (TWL_BBOX, *AUGUST, 150.0, "max_cloud"),
        (TWL_BBOX, *AUGUST, -1.0, "max_cloud"),
    ],
)
def test_invalid_query(
    bbox: Any, start: datetime, end: datetime, max_cloud: float | None, field: str
) -> None:
    with pytest.raises(InvalidQuery, match=f"^{field}: ") as info:
        search(str(TWL_NDJSON), bbox, start, end, max_cloud=max_cloud)
    assert info.value.field == field


def test_query_keeps_items_without_cloud_cover_and_reads_ranges() -> None:
    query = SearchQuery.create(TWL_BBOX, *AUGUST, max_cloud=10)
    no_cloud = {"bbox": list(TWL_BBOX), "properties": {"datetime": "2023-08-15T10:00:00Z"}}
    assert query.matches(no_cloud)
    ranged = {
        "bbox": list(TWL_BBOX),
        "properties": {
            "datetime": None,
            "start_datetime": "2023-07-20T00:00:00Z",
            "end_datetime": "2023-08-02T00:00:00Z",
        },
    }
    assert query.matches(ranged)
    ranged["properties"]["end_datetime"] = "2023-07-31T00:00:00Z"
    assert not query.matches(ranged)


def test_the_filter_reads_footprints_as_normalization_does() -> None:
    # The client-side bbox filter and normalization share one footprint reader: a geometry
    # collection counts, and a bbox that is not numbers falls back to the geometry.
    query = SearchQuery.create((10.0, 50.0, 11.0, 51.0), *AUGUST)
    square = {"type": "Polygon", "coordinates": [[[20, 60], [21, 60], [21, 61], [20, 60]]]}
    collection = {"type": "GeometryCollection", "geometries": [square]}
    assert not query.matches_bbox({"geometry": collection})
    assert not query.matches_bbox({"bbox": ["a", "b", "c", "d"], "geometry": square})
    inside = {"type": "Point", "coordinates": [10.5, 50.5]}
    assert query.matches_bbox({"bbox": ["a", "b", "c", "d"], "geometry": inside})
