"""The tile reader: each input tile decoded once per build, whatever the bbox; a bounded cache."""

from __future__ import annotations

import logging
import re
import threading
from concurrent.futures import Future
from pathlib import Path

import numpy as np
import pytest
import rasterio

from catalog.model import NormalizedItem
from engine.contract import Order
from engine.period import parse_period
from engine.pipeline import build_product
from engine.readers import TileCache
from tests.benchmarks import workload as wl

SIZE = 1536
BANDS = ("blue", "green", "red", "nir")
N_DATES = 3


def tile(value: int, side: int = 4) -> np.ndarray:
    return np.full((side, side), value, dtype=np.uint16)  # 32 bytes


def decode_now(cache: TileCache, key: str, value: int) -> Future[np.ndarray]:
    futures, missing = cache.claim([key])
    if missing:
        cache.fill(key, futures[0], tile(value))
    return futures[0]


def test_a_tile_asked_twice_is_decoded_once() -> None:
    cache = TileCache(budget=1024)
    first, missing = cache.claim(["a", "b"])
    assert missing == [0, 1]
    again, missing_again = cache.claim(["a"])
    assert missing_again == [] and again[0] is first[0]  # the second asker waits
    cache.fill("a", first[0], tile(1))
    assert again[0].result()[0, 0] == 1


def test_an_announced_tile_leaves_after_its_last_read() -> None:
    cache = TileCache(budget=1024)
    cache.expect({"a": 2})
    decode_now(cache, "a", 1)
    cache.release("a")
    assert cache.used == 32
    cache.release("a")
    assert cache.used == 0
    assert cache.claim(["a"])[1] == [0]  # asked again: decoded again


def test_over_budget_unannounced_tiles_go_first_then_newcomers_are_not_kept() -> None:
    cache = TileCache(budget=64)  # two tiles
    cache.expect({"a": 1, "b": 1, "c": 1})
    decode_now(cache, "x", 0)  # nobody announced it
    decode_now(cache, "a", 1)
    decode_now(cache, "b", 2)  # over budget: x leaves
    assert cache.claim(["x"])[1] == [0]
    cache.fill("x", cache.claim(["x"])[0][0], tile(0))  # x not kept again: a, b stay
    assert cache.claim(["a", "b"])[1] == []
    c = decode_now(cache, "c", 3)  # a and b are announced: c is served, not kept
    assert c.result()[0, 0] == 3
    assert cache.used == 64 and cache.claim(["c"])[1] == [0]


def test_unannounced_tiles_leave_least_recently_used_first_and_announced_ones_stay() -> None:
    cache = TileCache(budget=96)  # three tiles
    for key, value in (("x", 0), ("y", 1), ("z", 2)):
        decode_now(cache, key, value)
    assert cache.claim(["x"])[1] == []  # x used again: y, then z, are now the oldest
    cache.expect({"y": 1})  # y announced once in memory: it may no longer leave
    decode_now(cache, "w", 3)  # over budget: z leaves, not y (older, announced) nor x
    assert cache.claim(["y", "x", "w"])[1] == []
    assert cache.claim(["z"])[1] == [0]


def test_a_failed_decode_reaches_its_waiters_and_is_retried() -> None:
    cache = TileCache(budget=1024)
    futures, _ = cache.claim(["a"])
    cache.fill("a", futures[0], None, OSError("404"))
    with pytest.raises(OSError, match="404"):
        futures[0].result()
    assert cache.claim(["a"])[1] == [0]


def test_concurrent_claims_decode_each_tile_once() -> None:
    cache = TileCache(budget=1 << 20)
    decoded: list[str] = []
    lock = threading.Lock()

    def reader(keys: list[str]) -> None:
        futures, missing = cache.claim(keys)
        for i in missing:
            with lock:
                decoded.append(keys[i])
            cache.fill(keys[i], futures[i], tile(i))
        for future in futures:
            future.result(timeout=5)

    keys = [f"t{i}" for i in range(50)]
    threads = [threading.Thread(target=reader, args=(keys[i:] + keys[:i],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(decoded) == sorted(keys)


@pytest.fixture(scope="module")
def tiled_1024(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[NormalizedItem]]:
    path = wl.workload(SIZE, tile=1024, n_dates=N_DATES, bands=BANDS,
                       root=tmp_path_factory.mktemp("workload"))
    return path, wl.items(path, SIZE)


def tiles_intersecting(files: list[Path], bounds: tuple[float, float, float, float]) -> int:
    """Internal tiles of the files that intersect ``bounds``."""
    count = 0
    west, south, east, north = bounds
    for path in files:
        with rasterio.open(path) as dataset:
            rows, cols = dataset.block_shapes[0]
            res, x0, y0 = dataset.transform.a, dataset.transform.c, dataset.transform.f
            r0, r1 = int((y0 - north) // (res * rows)), int(-(-(y0 - south) // (res * rows)))
            c0, c1 = int((west - x0) // (res * cols)), int(-(-(east - x0) // (res * cols)))
            count += (min(r1, -(-dataset.height // rows)) - max(r0, 0)) * \
                (min(c1, -(-dataset.width // cols)) - max(c0, 0))
    return count


@pytest.mark.parametrize("method", ["synthesis", "median"])
def test_an_unaligned_order_decodes_each_input_tile_once(
        tiled_1024: tuple[Path, list[NormalizedItem]], tmp_path: Path, method: str,
        caplog: pytest.LogCaptureFixture) -> None:
    path, items = tiled_1024
    x0, y1 = wl.ORIGIN
    # A bbox a user would type: 123 and 101 px off the 1024 px tiles, 10 m inside the last.
    bounds = (x0 + 1230.0, y1 - SIZE * 10 + 2000.0, x0 + SIZE * 10 - 10.0, y1 - 1010.0)
    order = Order(bbox=wl.lonlat_bbox(SIZE), period=parse_period(wl.PERIOD), method=method,
                  bands=BANDS, resolution=10, epsg=wl.EPSG, bounds=bounds, cloud_mask="scl")
    with caplog.at_level(logging.INFO, logger="engine.pipeline"):
        build_product(order, items, tmp_path / "product")
    line = next(r.getMessage() for r in caplog.records if r.getMessage().startswith("reads:"))
    found = re.search(r"(\d+) opens, \d+ reopens, (\d+) tiles.* (\d+) tiles decoded again",
                      line)
    assert found is not None, line
    opens, tiles, again = (int(v) for v in found.groups())
    files = [p for p in wl.files(path) if p.stem in (*BANDS, "scl")]
    assert tiles == tiles_intersecting(files, bounds) and again == 0
    # Every file opened once (opened again, it is read from GDAL's cache).
    assert opens == len(files)


@pytest.mark.parametrize("async_http", [True, False], ids=["async-tiff", "gdal"])
def test_a_host_that_never_answers_fails_the_read_instead_of_hanging(
    async_http: bool, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A server that accepts connections and then says nothing, as a stuck object store can.
    # The reader's GDAL settings give up on it, through GDAL or (`engine.remote_cog`, the
    # same settings translated) async-tiff; GDAL's defaults wait for ever.
    import socket
    import time

    from engine import remote_cog
    from engine.load import GDAL_ENV, gdal_env
    from engine.readers import end_session, source_infos

    monkeypatch.setattr(remote_cog, "ENABLED", async_http)

    assert GDAL_ENV["GDAL_HTTP_LOW_SPEED_TIME"] and GDAL_ENV["GDAL_HTTP_CONNECTTIMEOUT"]
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/B04.tif"
    assert remote_cog.handles(url, ()) is async_http
    # The same settings, shortened so that the test waits seconds, not minutes.
    env = gdal_env({"GDAL_HTTP_LOW_SPEED_TIME": "2", "GDAL_HTTP_MAX_RETRY": "0"})
    start = time.monotonic()
    try:
        with pytest.raises(RuntimeError, match=r"B04\.tif"):
            source_infos(f"silent-host-{async_http}", [url], env)
    finally:
        end_session(f"silent-host-{async_http}")
        listener.close()
        for connection in accepted:
            connection.close()
    assert accepted  # the reader did connect, and then gave up waiting
    assert time.monotonic() - start < 30


def test_a_cache_too_small_for_the_order_spills_and_decodes_each_tile_once(
        tiled_1024: tuple[Path, list[NormalizedItem]], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    # A long period in small: the stack of a tile position (3 dates x 5 assets of 2 MB),
    # which four 512 px blocks read, is larger than the cache, so what it cannot hold goes
    # to the spill, and the product is the one a cache large enough makes.
    import engine.load
    from engine import readers
    from engine.tile_buffers import TileBuffers
    from engine.tile_spill import TileSpill

    monkeypatch.setattr(engine.load, "BLOCK_BUDGET", 0)  # 512 px blocks on 1024 px tiles

    _, items = tiled_1024
    order = Order(bbox=wl.lonlat_bbox(SIZE), period=parse_period(wl.PERIOD), method="median",
                  bands=BANDS, resolution=10, epsg=wl.EPSG, cloud_mask="scl",
                  bounds=(wl.ORIGIN[0] + 1230.0, wl.ORIGIN[1] - SIZE * 10 + 2000.0,
                          wl.ORIGIN[0] + SIZE * 10 - 10.0, wl.ORIGIN[1] - 1010.0))
    products = {}
    for name, budget in (("large", 1 << 30), ("small", 8 << 20)):
        spill = TileSpill(str(tmp_path), limit=1 << 30)
        # The small build keeps no file open between reads either: each file's tiles are
        # decoded at its one open (`readers._decode_ahead`), the later ones into the spill.
        monkeypatch.setattr(readers, "_pool", readers._Pool(1 << 30 if name == "large" else 0))
        # The small cache's tiles are decoded and read back into used arrays, the large
        # one's into new ones: stale values would show in the comparison below.
        buffers = TileBuffers(16 if name == "small" else 0)
        monkeypatch.setattr(readers, "_buffers", buffers)
        monkeypatch.setattr(readers, "_tiles", readers.TileCache(
            budget, spill, counted=readers._count_spill, buffers=buffers))
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="engine.pipeline"):
            products[name] = build_product(order, items, tmp_path / name)
        line = next(r.getMessage() for r in caplog.records
                    if r.getMessage().startswith("reads:"))
        found = re.search(r"(\d+) tiles decoded again, (\d+) tiles spilled to disk and "
                          r"(\d+) read back", line)
        assert found is not None, line
        again, spilled, back = (int(v) for v in found.groups())
        assert again == 0
        opens, reopens = (int(v) for v in re.findall(r"(\d+) (?:opens|reopens)", line))
        # The plan opens each file for its header; with no file kept open, its first read
        # opens it again, and no later read does (4 tiles a file here: 45 more without).
        assert reopens <= opens if name == "small" else reopens == 0, line
        assert (spilled > 0 and back >= spilled) if name == "small" else spilled == 0
        assert spill.used == 0  # the build's end gave every slot back
        assert buffers.reused > 0 if name == "small" else buffers.reused == 0
    for path in sorted(products["large"].glob("*.tif")):
        with rasterio.open(path) as large, rasterio.open(products["small"] / path.name) as small:
            assert np.array_equal(large.read(), small.read(), equal_nan=True), path.name


def test_ending_a_session_lets_the_used_tile_arrays_go(monkeypatch: pytest.MonkeyPatch) -> None:
    # A service's worker runs builds one after another: between them it keeps no tiles.
    from engine import readers
    from engine.tile_buffers import TileBuffers

    monkeypatch.setattr(readers, "_buffers", TileBuffers(4))
    used = np.zeros((8, 8), np.uint16)
    readers._buffers.give(used)
    del used
    readers.end_session("a-build-that-ended")
    readers._buffers.take((8, 8), np.dtype(np.uint16))
    assert (readers._buffers.reused, readers._buffers.allocated) == (0, 1)  # a new array
