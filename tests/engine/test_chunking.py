"""Blocks follow the inputs' tiles: 1024 px tiles load in 1024 px blocks, within a budget.

A window that cuts an input tile decodes the whole tile: 1024-tiled inputs (Earth Search's)
read in 512 px blocks are decoded four times. The chunk is a performance choice only: a
product must be byte-identical whatever chunk it was computed in.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

import engine.load
import engine.pipeline
from catalog.model import Grid, NormalizedItem
from engine.contract import Order
from engine.load import CHUNK, chunk_for
from engine.period import parse_period
from engine.pipeline import build_product, plan
from tests.benchmarks import workload as wl
from tests.folders import folder_files

SIZE = 1536
BANDS = ("blue", "green", "red", "nir")  # the bands every item must have
N_DATES = 3


@pytest.fixture(scope="module")
def tiled_1024(tmp_path_factory: pytest.TempPathFactory) -> list[NormalizedItem]:
    path = wl.workload(SIZE, tile=1024, n_dates=N_DATES, bands=BANDS,
                       root=tmp_path_factory.mktemp("workload"))
    return wl.items(path, SIZE)


@pytest.fixture(scope="module")
def tiled_512(tmp_path_factory: pytest.TempPathFactory) -> list[NormalizedItem]:
    path = wl.workload(1024, tile=512, n_dates=N_DATES, bands=BANDS,
                       root=tmp_path_factory.mktemp("workload"))
    return wl.items(path, 1024)


def grid(resolution: float, size: int = SIZE) -> Grid:
    x0, y1 = wl.ORIGIN
    return Grid(wl.EPSG, (size, size), (resolution, 0.0, x0, 0.0, -resolution, y1))


def test_inputs_tiled_in_1024_load_in_1024_blocks(tiled_1024: list[NormalizedItem]) -> None:
    assert len(tiled_1024) == N_DATES
    assert chunk_for(tiled_1024, grid(10), [*BANDS, "scl"]) == 1024


def test_inputs_tiled_in_512_keep_512(tiled_512: list[NormalizedItem]) -> None:
    assert chunk_for(tiled_512, grid(10, 1024), list(BANDS)) == CHUNK == 512


def test_a_coarser_grid_sees_smaller_tiles(tiled_1024: list[NormalizedItem]) -> None:
    # 1024 pixels of 10 m are 512 of 20 m: one 512 block already holds a whole tile.
    assert chunk_for(tiled_1024, grid(20, SIZE // 2), list(BANDS)) == 512


def test_the_block_budget_caps_the_chunk(tiled_1024: list[NormalizedItem],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    block_1024 = N_DATES * len(BANDS) * 2 * 1024**2  # uint16
    monkeypatch.setattr(engine.load, "BLOCK_BUDGET", block_1024)
    assert chunk_for(tiled_1024, grid(10), list(BANDS)) == 1024
    monkeypatch.setattr(engine.load, "BLOCK_BUDGET", block_1024 - 1)
    assert chunk_for(tiled_1024, grid(10), list(BANDS)) == 512


def test_many_observations_shrink_the_chunk(tiled_1024: list[NormalizedItem]) -> None:
    # An annual order holds 70-150 observations: the block shrinks to stay within the limit
    # (the reader's cache keeps the smaller blocks from decoding tiles again).
    # A method whose reduction holds more (`Method.memory_factor`) passes a lower limit.
    block_512 = N_DATES * len(BANDS) * 2 * 512**2
    assert chunk_for(tiled_1024, grid(10), list(BANDS), limit=block_512 - 1) == 256
    assert chunk_for(tiled_1024, grid(10), list(BANDS),
                     limit=block_512 // 16) == engine.load.MIN_CHUNK == 128


def test_an_unreadable_input_falls_back_to_the_default(tiled_1024: list[NormalizedItem],
                                                       tmp_path: Path) -> None:
    first = tiled_1024[0]
    missing = dataclasses.replace(first.bands["blue"], href=str(tmp_path / "missing.tif"))
    broken = dataclasses.replace(first, bands={**first.bands, "blue": missing})
    assert chunk_for([broken, *tiled_1024[1:]], grid(10), list(BANDS)) == CHUNK


@pytest.mark.parametrize("method", ["synthesis", "median"])
def test_the_chunk_does_not_change_the_product(tiled_1024: list[NormalizedItem], tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch,
                                               method: str) -> None:
    order = Order(bbox=wl.lonlat_bbox(SIZE), period=parse_period(wl.PERIOD), method=method,
                  bands=BANDS, resolution=10, epsg=wl.EPSG, bounds=wl.bounds(SIZE))
    assert plan(order, tiled_1024, mask_cache=tmp_path / "m").chunk == 1024
    in_1024 = build_product(order, tiled_1024, tmp_path / "1024", product_id="p")
    monkeypatch.setattr(engine.pipeline, "chunk_for", lambda *args, **kwargs: 512)
    assert plan(order, tiled_1024, mask_cache=tmp_path / "m").chunk == 512
    in_512 = build_product(order, tiled_1024, tmp_path / "512", product_id="p")
    assert folder_files(in_1024) == folder_files(in_512)
