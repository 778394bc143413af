"""The build child: lower CPU priority than the server, same product as in-process."""

from __future__ import annotations

import multiprocessing as mp
import os
from pathlib import Path

import pytest

from api.job_process import build_in_process
from catalog.demo import DEMO_BBOX, DEMO_EPSG, DEMO_PERIOD, demo_grid, write_demo
from catalog.model import NormalizedItem
from catalog.search import search
from engine.period import parse_period
from engine.pipeline import Order

SIZE = 96


@pytest.fixture(scope="module")
def items(tmp_path_factory: pytest.TempPathFactory) -> list[NormalizedItem]:
    path = write_demo(tmp_path_factory.mktemp("demo"), size_px=SIZE)
    return list(search(str(path), DEMO_BBOX, *parse_period(DEMO_PERIOD).search_interval()))


def test_the_build_runs_niced_and_publishes_its_product(items: list[NormalizedItem],
                                                        tmp_path: Path) -> None:
    order = Order(bbox=DEMO_BBOX, period=parse_period(DEMO_PERIOD), bands=("red",),
                  resolution=60, epsg=DEMO_EPSG, bounds=demo_grid(SIZE, 20).bounds)
    seen: list[int] = []

    def progress(fraction: float, message: str) -> None:
        # Called in this process while the child computes: look at the child's priority.
        seen.extend(os.getpriority(os.PRIO_PROCESS, child.pid or 0)
                    for child in mp.active_children() if child.name.startswith("l3a-job-"))

    mine = os.getpriority(os.PRIO_PROCESS, 0)
    out = build_in_process(order, items, tmp_path / "p", product_id="p", scheduler=None,
                           gdal_options=None, progress=progress, cancelled=lambda: False,
                           nice=7)
    assert seen and set(seen) == {min(mine + 7, 19)}
    assert (out / "item.json").is_file() and (out / "red.tif").is_file()
