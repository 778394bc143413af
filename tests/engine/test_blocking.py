"""Blocks on the inputs' tiles, computed tile by tile, gathered back into the writer's cells."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from catalog.model import Grid
from engine.blocking import Lattice, Reblocker, aligned_chunks, lattice_of, plan_blocks
from engine.source_info import SourceInfo


def info(transform: tuple[float, ...], unit: int, epsg: int = 32631) -> SourceInfo:
    return SourceInfo(epsg=epsg, transform=transform, shape=(10980, 10980),  # type: ignore[arg-type]
                      nodata=0, dtype="uint16", unit=(unit, unit), block=(unit, unit))


GRID = Grid(32631, (1900, 2000), (10.0, 0.0, 301230.0, 0.0, -10.0, 4899010.0))
TILE_10M = info((10.0, 0.0, 300000.0, 0.0, -10.0, 4900020.0), 1024)
TILE_20M = info((20.0, 0.0, 300000.0, 0.0, -20.0, 4900020.0), 1024)


def test_chunks_fall_on_the_lattice() -> None:
    assert aligned_chunks(1900, -101, 512) == (411, 512, 512, 465)
    assert aligned_chunks(1024, 0, 512) == (512, 512)
    assert aligned_chunks(300, -101, 512) == (300,)
    assert sum(aligned_chunks(10980, -7, 256)) == 10980


def test_the_lattice_of_earth_search_bands_seen_from_an_unaligned_grid() -> None:
    lattice = lattice_of([TILE_10M, TILE_20M], GRID)
    assert lattice == Lattice(origin=(-101.0, -123.0), tiles=(2048.0, 1024.0))
    # Another CRS has no lattice on this grid.
    assert lattice_of([info(TILE_10M.transform, 1024, epsg=32632)], GRID) is None


def test_blocks_start_on_input_tiles_and_run_tile_by_tile() -> None:
    lattice = lattice_of([TILE_10M, TILE_20M], GRID)
    blocks = plan_blocks(GRID, 512, lattice)
    windows = blocks.windows()
    assert sorted(windows) == sorted({w for w in windows})  # each block once
    covered = np.zeros(GRID.shape, np.int8)
    for r0, r1, c0, c1 in windows:
        covered[r0:r1, c0:c1] += 1
        # Every block lies inside one tile of every input, 10 m and 20 m.
        for size in (1024, 2048):
            assert (r0 + 101) // size == (r1 - 1 + 101) // size
            assert (c0 + 123) // size == (c1 - 1 + 123) // size
    assert (covered == 1).all()
    # All the blocks of a 2048 px (20 m) tile are computed before the next tile's.
    tiles = [((r0 + 101) // 2048, (c0 + 123) // 2048) for r0, _, c0, _ in windows]
    assert tiles == sorted(tiles)


def test_without_a_lattice_blocks_start_at_the_grid_origin() -> None:
    blocks = plan_blocks(GRID, 512, None)
    assert blocks.rows == (512, 512, 512, 364) and blocks.cols == (512, 512, 512, 464)
    assert blocks.windows()[:2] == [(0, 512, 0, 512), (0, 512, 512, 1024)]


def test_the_reblocker_hands_on_each_cell_whole_once() -> None:
    shape, cell = (700, 900), 256
    truth = np.random.default_rng(0).random((3, *shape), dtype=np.float32)
    written: dict[tuple[int, int], np.ndarray] = {}
    lock = threading.Lock()

    def write(rows: slice, cols: slice, block: np.ndarray) -> None:
        assert rows.start % cell == 0 and cols.start % cell == 0
        with lock:
            assert (rows.start, cols.start) not in written
            written[(rows.start, cols.start)] = block.copy()

    reblocker = Reblocker(shape, cell, 3, write)
    blocks = plan_blocks(Grid(32631, shape, (10.0, 0, 0, 0, -10.0, 0)), 200,
                         Lattice(origin=(-37.0, -91.0), tiles=(400.0, 200.0)))
    for r0, r1, c0, c1 in blocks.windows():
        reblocker.put((r0, r1, c0, c1), truth[:, r0:r1, c0:c1])
    assert reblocker.waiting == 0
    assert len(written) == 3 * 4
    for (r0, c0), block in written.items():
        np.testing.assert_array_equal(block, truth[:, r0:r0 + block.shape[1],
                                                   c0:c0 + block.shape[2]])


@pytest.mark.parametrize("chunk", [128, 512])
def test_blocks_cover_odd_grids(chunk: int) -> None:
    grid = Grid(32631, (333, 1001), (10.0, 0.0, 301230.0, 0.0, -10.0, 4899010.0))
    blocks = plan_blocks(grid, chunk, lattice_of([TILE_10M], grid))
    assert sum(blocks.rows) == 333 and sum(blocks.cols) == 1001
    assert max(blocks.rows) <= chunk and max(blocks.cols) <= chunk
