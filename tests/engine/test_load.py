"""The loader gives what stackstac's warper gives, through direct reads where lattices agree.

Reference: ``stackstac.stack`` on the same items and grid, the warping path l3a used for
every read before (GDAL's WarpedVRT). Real Earth Search rasters of tile 33TWL (120 m, the
crop of them in the test data in tests/data), onto grids that repeat, decimate, shift by half
a source pixel, run past the raster's edge, and one in another UTM zone (the warper's own path).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import rasterio.enums
import stackstac

from catalog.model import Grid, NormalizedItem
from engine.lattice import WindowPlan, plan_window
from engine.load import load_assets
from tests import real_tile
from tests.data import TWL_FULL_TRANSFORM, TWL_WINDOW

ASSETS = ["red", "nir", "scl"]
#: The rasters of the test data: the crop `TWL_WINDOW` of the full tile's 915 x 915 pixels
#: of 120 m from (499980, 5100000), EPSG:32633. (X0, Y0): the crop's corner; N: its side.
X0 = TWL_FULL_TRANSFORM[2] + 120 * TWL_WINDOW[0]
Y0 = TWL_FULL_TRANSFORM[5] - 120 * TWL_WINDOW[1]
N = TWL_WINDOW[2]
assert TWL_WINDOW[3] == N and (X0, Y0, N) == (579660.0, 5086560.0, 128)


@pytest.fixture(scope="module")
def items() -> list[NormalizedItem]:
    return real_tile.items()[:3]


def stackstac_reference(items: list[NormalizedItem], grid: Grid, assets: list[str],
                        resampling: str) -> np.ndarray:
    def asset(item: NormalizedItem, name: str) -> dict[str, Any]:
        source = item.masks.scl if name == "scl" else item.bands[name]
        assert source is not None and source.grid is not None
        return {"href": source.href, "type": "image/tiff; application=geotiff",
                "proj:epsg": source.grid.epsg, "proj:shape": list(source.grid.shape),
                "proj:transform": list(source.grid.transform)}

    dicts = [{"type": "Feature", "stac_version": "1.0.0", "id": item.id, "bbox": list(item.bbox),
              "geometry": None, "properties": {"datetime": item.datetime.isoformat(),
                                               "proj:epsg": item.epsg},
              "assets": {name: asset(item, name) for name in assets}, "links": []}
             for item in items]
    stack = stackstac.stack(dicts, assets=assets, epsg=grid.epsg, resolution=grid.resolution,
                            bounds=grid.bounds, snap_bounds=False, dtype=np.dtype("uint16"),
                            fill_value=np.uint16(0), rescale=False, sortby_date=False,
                            resampling=rasterio.enums.Resampling[resampling],
                            chunksize=(-1, -1, 256, 256))
    return np.asarray(stack.data.compute(scheduler="threads"))


def grid_at(resolution: float, x: float, y: float, size: int, epsg: int = 32633) -> Grid:
    return Grid(epsg, (size, size), (resolution, 0.0, x, 0.0, -resolution, y))


CASES = {
    # name: (grid, resampling, the direct path is taken); every grid inside the 128 px crop
    # but the one past its edge.
    "same lattice": (grid_at(120, X0 + 120 * 30, Y0 - 120 * 30, 64), "nearest", True),
    "repeated x2": (grid_at(60, X0 + 1920, Y0 - 1920, 200), "nearest", True),
    "repeated x2, half a pixel off": (grid_at(60, X0 + 1980, Y0 - 1860, 200), "nearest",
                                      True),
    "repeated x6 (20 m), average": (grid_at(20, X0 + 1200, Y0 - 1200, 600), "average",
                                    True),
    "decimated x2, nearest": (grid_at(240, X0 + 240 * 4, Y0 - 240 * 4, 56), "nearest",
                              True),
    "decimated x2, average": (grid_at(240, X0 + 240 * 4, Y0 - 240 * 4, 56), "average",
                              True),
    # 40 source pixels from (100, 110): 28 columns and 18 rows of them on the raster.
    "past the raster's edge": (grid_at(60, X0 + 120 * 100, Y0 - 120 * 110, 80), "nearest",
                               True),
    # 10.8 km inside the crop, which spans about 1045970-1060180 E, 5095900-5110110 N there.
    "another UTM zone (warped)": (grid_at(60, 1047960.0, 5108400.0, 180, epsg=32632),
                                  "nearest", False),
}


@pytest.mark.parametrize("case", CASES)
def test_direct_reads_equal_the_warper(items: list[NormalizedItem], case: str) -> None:
    grid, resampling, direct = CASES[case]
    source = items[0].bands["red"].grid
    assert source is not None
    taken = grid.epsg == source.epsg and plan_window(
        source.transform, source.shape, grid.transform, (0, 0, *grid.shape)) is not None
    assert taken == direct
    ours = load_assets(items, grid, ASSETS, resampling=resampling, chunk=256).compute(
        scheduler="threads")
    reference = stackstac_reference(items, grid, ASSETS, resampling)
    assert ours.shape == reference.shape == (len(items), len(ASSETS), *grid.shape)
    assert (ours != 0).mean() > 0.1, "the grid must see data"
    if resampling == "average" and "decimated" in case:
        # Both round a mean of four DN half up; GDAL sums in floating point and lands a
        # handful of exact halves (0.03 %) on the other side.
        assert np.abs(ours.astype(int) - reference.astype(int)).max() <= 1
        assert (ours == reference).mean() > 0.999
    else:
        assert np.array_equal(ours, reference)


def test_a_missing_asset_and_a_missing_item_are_fill(items: list[NormalizedItem]) -> None:
    grid = grid_at(120, X0, Y0, 64)
    out = load_assets(items, grid, ["red", "aot"], fill_value=7).compute(scheduler="threads")
    assert (out[:, 1] == 7).all()  # Earth Search items of the test data carry no AOT
    assert (out[:, 0] != 7).any()


def test_window_plans_on_small_lattices() -> None:
    twenty = (20.0, 0.0, 0.0, 0.0, -20.0, 0.0)
    # 10 m output starting 10 m into a 20 m raster: half a source pixel, one output to skip.
    plan = plan_window(twenty, (50, 50), (10.0, 0.0, 10.0, 0.0, -10.0, -10.0), (0, 0, 4, 4))
    assert plan is not None and (plan.up, plan.down, plan.skip) == (2, 1, (1, 1))
    assert plan.cols == (0, 3) and plan.out_cols == (0, 4)
    # 60 m output on a 20 m raster: whole cells of 3 x 3, the window running past its end.
    sixty = (60.0, 0.0, 0.0, 0.0, -60.0, 0.0)
    plan = plan_window(twenty, (51, 51), sixty, (0, 0, 20, 20))
    assert plan is not None and plan.down == 3
    assert plan.cols == (0, 51) and plan.out_cols == (0, 17)
    # A raster that ends inside a cell (50 pixels: 16 cells and a third): the warper's case.
    assert plan_window(twenty, (50, 50), sixty, (0, 0, 20, 20)) is None
    # Cells that would straddle the raster's start, or a rotation: left to the warper.
    assert plan_window(twenty, (50, 50), (60.0, 0.0, -20.0, 0.0, -60.0, 0.0),
                       (0, 0, 4, 4)) is None
    assert plan_window((20.0, 1.0, 0.0, 0.0, -20.0, 0.0), (50, 50), twenty, (0, 0, 4, 4)) is None


def _resampled(data: np.ndarray, plan: WindowPlan, resampling: str) -> list[list[int]]:
    from engine.lattice import resample_into

    out = np.full((plan.out_rows[1] - plan.out_rows[0], plan.out_cols[1] - plan.out_cols[0]),
                  99, data.dtype)
    resample_into(data, plan, resampling, 0, out)
    result: list[list[int]] = out.tolist()
    return result


def test_decimated_average_leaves_nodata_out() -> None:
    plan = WindowPlan(rows=(0, 2), cols=(0, 4), out_rows=(0, 1), out_cols=(0, 2), up=1,
                      down=2, skip=(0, 0))
    data = np.array([[0, 4, 1, 2], [6, 8, 2, 2]], np.uint16)
    assert _resampled(data, plan, "average") == [[6, 2]]  # (4 + 6 + 8) / 3; 1.75
    assert _resampled(data, plan, "nearest") == [[8, 2]]  # the centre's pixel
    assert _resampled(np.zeros((2, 4), np.uint16), plan, "average") == [[0, 0]]


@pytest.mark.parametrize("up", [2, 3, 6])
@pytest.mark.parametrize("skip", [(0, 0), (1, 0), (0, 1), (1, 1)])
@pytest.mark.parametrize("shape", [(7, 5), (1, 1), (2, 9)])
def test_upsampling_writes_what_repeating_gives(up: int, skip: tuple[int, int],
                                                shape: tuple[int, int]) -> None:
    # The reference: every source pixel repeated up x up times, the first `skip` output
    # pixels dropped, the window's size kept.
    height, width = shape
    source_rows = (skip[0] + height - 1) // up + 1
    source_cols = (skip[1] + width - 1) // up + 1
    data = np.arange(source_rows * source_cols, dtype=np.uint16).reshape(source_rows,
                                                                          source_cols) + 1
    expected = np.repeat(np.repeat(data, up, axis=0), up, axis=1)
    expected = expected[skip[0]:skip[0] + height, skip[1]:skip[1] + width]
    plan = WindowPlan(rows=(0, source_rows), cols=(0, source_cols), out_rows=(0, height),
                      out_cols=(0, width), up=up, down=1, skip=skip)
    assert _resampled(data, plan, "nearest") == expected.tolist()


class _Handle:
    def __init__(self, name: str) -> None:
        self.name, self.closed = name, False

    def close(self) -> None:
        self.closed = True


def test_pool_lends_a_handle_to_one_thread_at_a_time_and_keeps_what_it_holds() -> None:
    from engine.readers import _Pool

    pool = _Pool(limit=2)
    a = pool.take(("load", "a"), lambda: _Handle("a1"))
    # While a thread holds "a", another asking for it gets a handle of its own.
    other = pool.take(("load", "a"), lambda: _Handle("a2"))
    assert (a.name, other.name) == ("a1", "a2")
    pool.give(("load", "a"), a)
    pool.give(("load", "a"), other)  # one idle handle a file is enough
    assert other.closed and not a.closed
    assert pool.take(("load", "a"), lambda: _Handle("new")) is a
    # Returned, a handle is lent again rather than reopened. A full pool closes the handle
    # returned to it, not one it holds: files are read in cycles longer than the pool.
    b, c, d = (pool.take(("load", n), lambda n=n: _Handle(n)) for n in "bcd")
    for name, handle in zip("bcd", (b, c, d), strict=True):
        pool.give(("load", name), handle)
    assert not b.closed and not c.closed and d.closed
    assert pool.take(("load", "b"), lambda: _Handle("reopened")) is b
    assert pool.take(("load", "d"), lambda: _Handle("reopened")).name == "reopened"


def test_concurrent_blocks_read_the_same_values(items: list[NormalizedItem]) -> None:
    # Blocks read by several threads through one pool of handles equal one block read alone.
    grid = Grid(epsg=32633, shape=(N, N), transform=(120.0, 0.0, X0, 0.0, -120.0, Y0))
    whole = load_assets(items, grid, ASSETS, chunk=N).compute(scheduler="sync")
    for _ in range(3):
        parallel = load_assets(items, grid, ASSETS, chunk=24).compute(scheduler="threads")
        np.testing.assert_array_equal(parallel, whole)


def test_loads_sharing_a_session_share_open_files_and_tiles(
        items: list[NormalizedItem], monkeypatch: pytest.MonkeyPatch) -> None:
    import engine.load as load_module
    import engine.readers as readers

    opened: list[str] = []
    original = readers._Source

    def counting(href: str) -> Any:
        opened.append(href)
        return original(href)

    monkeypatch.setattr(readers, "_Source", counting)
    grid = Grid(epsg=32633, shape=(N, N), transform=(120.0, 0.0, X0, 0.0, -120.0, Y0))
    key = load_module.new_load_key()
    first = load_assets(items, grid, ["scl"], chunk=48, load=key).compute(scheduler="sync")
    decoded = readers.stats_of(key).tiles
    again = load_assets(items, grid, ["scl"], chunk=80, load=key).compute(scheduler="sync")
    np.testing.assert_array_equal(first, again)
    # Every file was opened by the first load, and the second, in other blocks, decoded
    # nothing again: its tiles were in the session's cache.
    assert set(opened) == {item.masks.scl.href for item in items if item.masks.scl}
    assert readers.stats_of(key).tiles == decoded > 0
    assert readers.stats_of(key).redecoded == 0
    counters = readers.end_session(key)
    assert counters["tiles"] == decoded and counters["opens"] == len(items)
    after_first = len(opened)
    # A load of its own opens them again.
    load_assets(items, grid, ["scl"]).compute(scheduler="sync")
    assert len(opened) >= after_first + len(items)


def test_gdal_options_from_settings_may_be_strings() -> None:
    # Settings give every option as a string; GDAL_CACHEMAX as a string made rasterio raise
    # TypeError inside every read of the build.
    from engine.load import GDAL_ENV, gdal_env

    env = dict(gdal_env({"GDAL_CACHEMAX": "32", "GDAL_HTTP_MAX_RETRY": "5",
                         "AWS_REQUEST_PAYER": "requester"}))
    assert env["GDAL_CACHEMAX"] == 32 and env["GDAL_HTTP_MAX_RETRY"] == 5
    assert env["AWS_REQUEST_PAYER"] == "requester"
    assert env["GDAL_DISABLE_READDIR_ON_OPEN"] == GDAL_ENV["GDAL_DISABLE_READDIR_ON_OPEN"]
    with rasterio.Env(**env):  # what the reader enters, per thread
        assert rasterio.env.getenv()["GDAL_CACHEMAX"] == 32
