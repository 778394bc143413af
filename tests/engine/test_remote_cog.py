"""Remote COGs read by async-tiff (`engine.remote_cog`): what GDAL reads, in fewer requests.

Served over loopback by the benchmarks' range server, which counts HEADs and GETs. The
real Earth Search crop (`tests/data`, 64 px tiles: a cached unit is 4 x 4 of them) and
COGs written here with edge tiles, predictors, signed and float types are each compared,
metadata and every pixel, with rasterio's read of the same file.
"""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from affine import Affine

from catalog.model import Grid
from engine import readers, remote_cog
from engine.load import gdal_env
from tests.benchmarks.range_server import RangeServer
from tests.data import TWL as REAL_CROP

ENV = gdal_env({})


def grid_of(path: Path) -> Grid:
    """The grid of a raster of the crop, as an order on its own pixels would have it."""
    with rasterio.open(path) as dataset:
        return Grid(epsg=32633, shape=dataset.shape, transform=tuple(dataset.transform)[:6])


def assert_reads_as_gdal(path: Path, url: str) -> None:
    cog = remote_cog.open_cog(url, ENV)
    assert cog is not None, path
    gdal = readers._Source(str(path))
    try:
        assert cog.info == gdal.info
        height, width = cog.info.shape
        units = readers.units_of(cog.info, (0, height), (0, width))
        decoded = remote_cog.submit(lambda: cog.decode_units(units)).result()
        for unit, (array, stored) in zip(units, decoded, strict=True):
            expected = readers._decode_unit("test", str(path), gdal, gdal.info, *unit)
            assert array.dtype == expected.dtype
            np.testing.assert_array_equal(array, expected)
            rows, cols = unit[0] * cog.info.unit[0], unit[1] * cog.info.unit[1]
            assert stored == readers._stored_bytes(gdal, gdal.info, rows, rows + array.shape[0],
                                                   cols, cols + array.shape[1])
    finally:
        gdal.close()
        readers.end_session("test")


def test_the_real_crop_reads_as_gdal_reads_it_in_two_requests_a_file() -> None:
    files = sorted(REAL_CROP.glob("*/*.tif"))
    assert len(files) >= 20
    with RangeServer(REAL_CROP, delay=0.0) as server:
        for path in files:
            assert_reads_as_gdal(path, server.url_for(str(path.relative_to(REAL_CROP))))
        stats = server.stats
    assert stats.heads == 0
    # The header (one prefetch), then the file's 4 tiles in one call: coalesced, being
    # neighbours in the file.
    assert stats.gets == 2 * len(files)


PROFILES: dict[str, dict[str, Any]] = {
    "uint16 deflate, predictor 2, edge tiles": dict(
        dtype="uint16", nodata=0, compress="DEFLATE", predictor=2, blocksize=128),
    "int16 LZW, MAJA's nodata": dict(dtype="int16", nodata=-10000, compress="LZW",
                                     blocksize=256),
    "float32 ZSTD, no nodata": dict(dtype="float32", nodata=None, compress="ZSTD",
                                    blocksize=512),
    "uint8 uncompressed": dict(dtype="uint8", nodata=255, compress="NONE", blocksize=64),
}


@pytest.mark.parametrize("name", PROFILES)
def test_written_cogs_read_as_gdal_reads_them(name: str, tmp_path: Path) -> None:
    profile = PROFILES[name]
    rng = np.random.default_rng(7)
    shape = (700, 530)  # not a multiple of any tile: partial tiles on two edges
    data = rng.integers(0, 200, shape).astype(profile["dtype"])
    if np.issubdtype(data.dtype, np.floating):
        data += rng.random(shape, dtype=np.float32)
    path = tmp_path / "band.tif"
    with rasterio.open(path, "w", driver="COG", width=shape[1], height=shape[0], count=1,
                       crs="EPSG:32631", transform=Affine(20, 0, 300000, 0, -20, 4900020),
                       **profile) as dst:
        dst.write(data, 1)
    with RangeServer(tmp_path, delay=0.0) as server:
        assert_reads_as_gdal(path, server.url_for("band.tif"))


def test_what_async_tiff_would_not_read_as_gdal_does_is_left_to_gdal(tmp_path: Path) -> None:
    data = np.arange(300 * 300, dtype=np.uint16).reshape(300, 300)
    common = dict(driver="GTiff", width=300, height=300, count=1, dtype="uint16",
                  crs="EPSG:32631", transform=Affine(10, 0, 300000, 0, -10, 4900020))
    with rasterio.open(tmp_path / "strips.tif", "w", **common) as dst:
        dst.write(data, 1)
    with rasterio.open(tmp_path / "point.tif", "w", tiled=True, **common) as dst:
        dst.write(data, 1)
        dst.update_tags(AREA_OR_POINT="Point")  # GDAL shifts a point raster half a pixel
    with rasterio.open(tmp_path / "point.tif") as check:
        assert check.tags()["AREA_OR_POINT"] == "Point"
    with RangeServer(tmp_path, delay=0.0) as server:
        assert remote_cog.open_cog(server.url_for("strips.tif"), ENV) is None
        assert remote_cog.open_cog(server.url_for("point.tif"), ENV) is None


@pytest.mark.parametrize(("href", "env", "expected"), [
    ("https://bucket.s3.amazonaws.com/tiles/B04.tif", (), True),
    ("http://127.0.0.1:8000/a/B04.tif", ENV, True),
    ("https://host/B04.tif?st=2024&sig=abc", (), False),  # signed: GDAL keeps the query
    ("https://host/a%20b/B04.tif", (), False),
    ("s3://bucket/B04.tif", (), False),
    ("/data/B04.tif", (), False),
    ("vrt://https://host/ATB.tif?bands=2", (), False),
    ("https://host/B04.tif", (("GDAL_HTTP_HEADERS", "Authorization: x"),), False),
    ("https://host/B04.tif", (("AWS_NO_SIGN_REQUEST", "YES"),), False),
])
def test_which_hrefs_async_tiff_reads(href: str, env: tuple[tuple[str, str], ...],
                                      expected: bool) -> None:
    assert remote_cog.handles(href, env) is expected


def test_http_timeouts_and_retries_follow_gdals_settings() -> None:
    options, retry = remote_cog.client_options(dict(gdal_env({
        "GDAL_HTTP_CONNECTTIMEOUT": "7", "GDAL_HTTP_LOW_SPEED_TIME": "30",
        "GDAL_HTTP_MAX_RETRY": "2", "GDAL_HTTP_RETRY_DELAY": "1.5"})))
    assert options["connect_timeout"] == timedelta(seconds=7)
    assert options["read_timeout"] == timedelta(seconds=30)
    assert options["timeout"] == timedelta(seconds=remote_cog.DEFAULT_TIMEOUT_S)
    assert retry == {"max_retries": 2, "backoff": {"init_backoff": timedelta(seconds=1.5)}}


def test_a_missing_remote_file_fails_naming_it(tmp_path: Path) -> None:
    with RangeServer(tmp_path, delay=0.0) as server:
        url = server.url_for("missing/B04.tif")
        with pytest.raises(RuntimeError, match=r"missing/B04\.tif.*404|404.*missing/B04\.tif"):
            readers.source_infos("missing", [url], gdal_env({"GDAL_HTTP_MAX_RETRY": "0"}))
        readers.end_session("missing")


def test_a_block_read_over_http_equals_the_block_read_from_disk() -> None:
    # The block reader as a build uses it: headers opened by the plan, then every file's
    # tiles of a block fetched on the HTTP event loop without an I/O thread waiting.
    files = sorted(REAL_CROP.glob("*/*.tif"))
    with rasterio.open(files[0]) as first:
        transform = tuple(first.transform)[:6]
    # 60 m output over the 120 m crop, shifted by 1.5 source pixels: every source pixel
    # repeated twice, tiles cut by the block.
    a, _, c, _, e, f = transform
    grid = Grid(epsg=32633, shape=(200, 200), transform=(a / 2, 0.0, c + 1.5 * a, 0.0, e / 2,
                                                         f + 1.5 * e))
    window = (10, 20, 150, 120)
    local_hrefs = ((*(str(p) for p in files),),)
    out_local = np.zeros((1, len(files), 150, 120), dtype=np.uint16)
    out_remote = np.zeros_like(out_local)
    readers.TiledReader("local-block", grid, ENV, "nearest", 0).read_block(
        out_local, local_hrefs, window)
    with RangeServer(REAL_CROP, delay=0.01) as server:
        remote_hrefs = ((*(server.url_for(str(p.relative_to(REAL_CROP))) for p in files),),)
        reader = readers.TiledReader("remote-block", grid, ENV, "nearest", 0)
        readers.source_infos("remote-block", remote_hrefs[0], ENV)  # the plan's opens
        reader.read_block(out_remote, remote_hrefs, window)
        stats = readers.end_session("remote-block")
        served = server.stats
    readers.end_session("local-block")
    np.testing.assert_array_equal(out_remote, out_local)
    assert out_local.any()
    assert served.heads == 0
    assert stats["tiles"] > 0 and served.gets <= 2 * len(files)


def test_a_prefetched_block_is_read_from_the_cache_without_a_request_more() -> None:
    files = sorted(REAL_CROP.glob("*/*.tif"))
    grid = grid_of(files[0])
    window = (0, 0, *grid.shape)
    out = np.zeros((1, len(files), *grid.shape), dtype=np.uint16)
    with RangeServer(REAL_CROP, delay=0.01) as server:
        hrefs = ((*(server.url_for(str(p.relative_to(REAL_CROP))) for p in files),),)
        reader = readers.TiledReader("prefetched", grid, ENV, "nearest", 0)
        reader.prefetch(hrefs, window)  # opens the files, starts their tiles, returns
        deadline = time.monotonic() + 10
        while server.stats.gets < 2 * len(files) and time.monotonic() < deadline:
            time.sleep(0.01)
        before = server.stats.gets
        reader.read_block(out, hrefs, window)
        after = server.stats.gets
        stats = readers.end_session("prefetched")
    assert before == after == 2 * len(files)  # the read asked nothing more
    assert stats["tiles"] == len(files) and stats["cache_hits"] == len(files)
    for path, band in zip(files, out[0], strict=True):
        with rasterio.open(path) as dataset:
            np.testing.assert_array_equal(band, dataset.read(1))


def test_local_files_are_not_fetched_ahead() -> None:
    files = sorted(REAL_CROP.glob("*/*.tif"))[:3]
    grid = grid_of(files[0])
    reader = readers.TiledReader("local-ahead", grid, ENV, "nearest", 0)
    reader.prefetch(((*(str(p) for p in files),),), (0, 0, *grid.shape))
    stats = readers.end_session("local-ahead")
    assert stats["tiles"] == 0 and stats["opens"] == 0


def test_a_prefetch_stops_at_its_budget() -> None:
    files = sorted(REAL_CROP.glob("*/*.tif"))
    grid = grid_of(files[0])
    with RangeServer(REAL_CROP, delay=0.0) as server:
        hrefs = ((*(server.url_for(str(p.relative_to(REAL_CROP))) for p in files),),)
        infos = readers.source_infos("budget", hrefs[0], ENV)
        one_file = min(readers._unit_bytes(info) for info in infos.values())
        readers.TiledReader("budget", grid, ENV, "nearest", 0).prefetch(
            hrefs, (0, 0, *grid.shape), budget=2 * one_file)
        deadline = time.monotonic() + 10
        while readers.stats_of("budget").tiles < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.2)  # any tile beyond the budget would have come by now
        stats = readers.end_session("budget")
    assert 1 <= stats["tiles"] <= 2
