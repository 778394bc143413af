"""An async COG reader measured against GDAL's, before choosing one (issue 14).

``python -m tests.benchmarks.async_reader`` reads every internal tile of every input of the
loader benchmark's Earth Search workload (132 files, 276 tiles; `workload.workload`) with
async-tiff over obstore (Rust: HTTP through reqwest, tiles decoded on its thread pool,
``FILES_IN_FLIGHT`` files at a time), from the local folder and through the loopback range
server (20 ms before every answer, `range_server.RangeServer`), and prints time, requests and
bytes. It then checks that every tile equals rasterio's read of the same window. The
baseline is `loader_cases`' ``floor`` (GDAL through rasterio, 2 threads): run
``python -m tests.benchmarks.loader_cases floor earth-search local`` (and ``remote``) in
the same minutes.

Why it matters: /vsicurl sends a HEAD before each file's first GET and reads a header again
when a handle is reopened; obstore asks for the header and the tiles only (a file's tiles
of one call coalesced into one request), with no HEAD.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from async_tiff import TIFF
from obstore.store import HTTPStore, LocalStore

from tests.benchmarks import workload as wl
from tests.benchmarks.range_server import RangeServer

FILES_IN_FLIGHT = 16
DELAY = 0.02
#: Bytes read with each file's header: a COG's IFDs and tile offsets fit well within.
PREFETCH = 32768

Tiles = dict[str, list[tuple[int, int, np.ndarray]]]


def input_paths(root: Path) -> list[str]:
    """The workload's rasters, relative to its folder."""
    items = (root / "items.ndjson").read_text().splitlines()
    return sorted({asset["href"].removeprefix("./") for line in items
                   for asset in json.loads(line)["assets"].values()
                   if asset["href"].endswith(".tif")})


async def read_all(store: Any, paths: list[str]) -> Tiles:
    """Every tile of the first image of every file: (column, row, array) by path."""
    gate = asyncio.Semaphore(FILES_IN_FLIGHT)
    out: Tiles = {}

    async def one(path: str) -> None:
        async with gate:
            tiff = await TIFF.open(path, store=store, prefetch=PREFETCH)
            count = tiff.ifds[0].tile_count
            if count is None:
                raise ValueError(f"{path} is not tiled")
            columns, rows = count
            tiles = await tiff.fetch_tiles([(x, y) for y in range(rows)
                                            for x in range(columns)], 0)
            where = [(t.x, t.y) for t in tiles]
            arrays = await asyncio.gather(*(t.decode() for t in tiles))
            out[path] = [(x, y, np.asarray(a)) for (x, y), a in zip(where, arrays, strict=True)]

    await asyncio.gather(*(one(path) for path in paths))
    return out


def check_against_rasterio(root: Path, tiles: Tiles) -> int:
    """Compare every tile with rasterio's read of its window; the number compared."""
    compared = 0
    for path, found in tiles.items():
        with rasterio.open(root / path) as dataset:
            height, width = dataset.block_shapes[0]
            for x, y, array in found:
                rows = (y * height, min((y + 1) * height, dataset.height))
                cols = (x * width, min((x + 1) * width, dataset.width))
                expected = dataset.read(1, window=(rows, cols))
                got = array.reshape(array.shape[0], array.shape[1], -1)[..., 0]
                if not np.array_equal(got[:expected.shape[0], :expected.shape[1]], expected):
                    raise AssertionError(f"{path} tile ({x}, {y}) differs from rasterio's")
                compared += 1
    return compared


def main() -> None:
    """Print one line per case, then the check."""
    root = wl.items_file(2048, layout="earth-search").parent
    paths = input_paths(root)
    start = time.perf_counter()
    tiles = asyncio.run(read_all(LocalStore(str(root)), paths))
    print(f"local: {time.perf_counter() - start:.2f} s, {len(paths)} files, "
          f"{sum(len(t) for t in tiles.values())} tiles")
    with RangeServer(root, delay=DELAY, lifetime=300) as server:
        store = HTTPStore.from_url(server.url, client_options={"allow_http": True})
        start = time.perf_counter()
        tiles = asyncio.run(read_all(store, paths))
        took = time.perf_counter() - start
        stats = server.stats
        print(f"{DELAY * 1000:.0f} ms a request: {took:.2f} s, {stats.requests} requests "
              f"({stats.heads} HEAD), {stats.bytes_sent / 2**20:.0f} MiB")
    print(f"equal to rasterio: {check_against_rasterio(root, tiles)} tiles")


if __name__ == "__main__":
    main()
