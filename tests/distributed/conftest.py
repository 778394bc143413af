"""Fixtures of the distributed tests: a small demo, reference products, a subprocess cluster.

The demo is 520 x 520 px at 20 m: at 20 m an order is 2 x 2 blocks of 512 (two of them
8 px wide, so edge blocks are covered), at 10 m 3 x 3 blocks, enough for a job to be
interrupted with work left. References are built the engine's default way, without a
scheduler address (dask's threaded scheduler in this process); the tests build the same
orders on dask worker processes and compare bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from catalog.demo import DEMO_BBOX, DEMO_EPSG, DEMO_PERIOD, demo_grid, write_demo
from catalog.model import NormalizedItem
from catalog.search import search
from engine.contract import Order
from engine.period import parse_period
from engine.pipeline import build_product
from tests.distributed.support import DaskProcesses, close_engine_client, dask_processes
from tests.folders import folder_files

#: Pixels of the demo grid at 20 m (see the module docstring).
DEMO_SIZE = 520
#: Product id given to every build, so that item.json files compare equal.
PRODUCT_ID = "l3a-distributed-test"


def demo_order(method: str, resolution: int, **extra: float) -> Order:
    """An order on the exact demo grid (bounds given, so no snapping differs)."""
    return Order(bbox=DEMO_BBOX, period=parse_period(DEMO_PERIOD), method=method,
                 bands=("blue", "green", "red", "nir"), resolution=resolution, epsg=DEMO_EPSG,
                 bounds=demo_grid(DEMO_SIZE, 20).bounds, **extra)


def assert_same_product(built: Path, reference: Path) -> None:
    """Byte-for-byte equality of two product folders, naming the first file that differs."""
    ours, theirs = folder_files(built), folder_files(reference)
    assert sorted(ours) == sorted(theirs)
    assert any(name.endswith(".tif") for name in ours)
    for name in theirs:
        assert ours[name] == theirs[name], f"{name} differs from the in-process build"


@pytest.fixture(scope="session")
def demo_items_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo catalogue's items.ndjson (about 9 s to generate)."""
    return write_demo(tmp_path_factory.mktemp("demo"), size_px=DEMO_SIZE)


@pytest.fixture(scope="session")
def demo_items(demo_items_path: Path) -> list[NormalizedItem]:
    """The demo's normalized items, from the catalogue's search."""
    start, end = parse_period(DEMO_PERIOD).search_interval()
    return search(str(demo_items_path), DEMO_BBOX, start, end)


@pytest.fixture(scope="session")
def reference(tmp_path_factory: pytest.TempPathFactory, demo_items: list[NormalizedItem]
              ) -> Callable[..., Path]:
    """The product of an order built without a scheduler address (once per order), in one
    part, or in parts of ``part_size`` px when given."""
    built: dict[tuple[Order, int | None], Path] = {}
    root = tmp_path_factory.mktemp("reference")

    def get(order: Order, part_size: int | None = None) -> Path:
        if (order, part_size) not in built:
            out = root / f"p{len(built)}" / PRODUCT_ID
            built[order, part_size] = build_product(order, demo_items, out,
                                                    product_id=PRODUCT_ID,
                                                    part_size=part_size)
        return built[order, part_size]

    return get


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaskProcesses]:
    """A scheduler and two single-threaded workers, each its own process, for the session."""
    with dask_processes(tmp_path_factory.mktemp("cluster")) as processes:
        try:
            yield processes
        finally:
            close_engine_client(processes.address)
