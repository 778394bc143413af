"""The build child: lower CPU priority than the server, same product as in-process."""

from __future__ import annotations

import multiprocessing as mp
import os
from pathlib import Path

import pytest

from api.jobs.process import build_in_process
from catalog.demo import DEMO_BBOX, DEMO_EPSG, DEMO_PERIOD, demo_grid, write_demo
from catalog.model import NormalizedItem
from catalog.search import search
from engine.contract import Order
from engine.period import parse_period

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


def test_a_cancelled_build_stuck_in_a_read_is_stopped_after_the_grace(
        items: list[NormalizedItem], tmp_path: Path) -> None:
    # Every input on a host that accepts connections and never answers (GDAL told to wait
    # for 10 minutes): the build never reaches a block boundary, where it would see the
    # cancellation. Its process is stopped after the grace period.
    import dataclasses
    import socket
    import threading
    import time

    from engine.errors import Cancelled

    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    threading.Thread(target=lambda: [held.append(listener.accept()[0]) for _ in range(10_000)],
                     daemon=True).start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/silent.tif"

    def silent(item: NormalizedItem) -> NormalizedItem:
        bands = {k: dataclasses.replace(a, href=url) for k, a in item.bands.items()}
        scl = item.masks.scl and dataclasses.replace(item.masks.scl, href=url)
        return dataclasses.replace(item, bands=bands,
                                   masks=dataclasses.replace(item.masks, scl=scl))

    order = Order(bbox=DEMO_BBOX, period=parse_period(DEMO_PERIOD), bands=("red",),
                  resolution=60, epsg=DEMO_EPSG, bounds=demo_grid(SIZE, 20).bounds,
                  cloud_mask="scl")
    start = time.monotonic()
    try:
        with pytest.raises(Cancelled, match="stopped"):
            build_in_process(order, [silent(i) for i in items], tmp_path / "p",
                             product_id="p", scheduler=None,
                             gdal_options={"GDAL_HTTP_LOW_SPEED_TIME": "600"},
                             progress=lambda f, m: None,
                             cancelled=lambda: time.monotonic() - start > 2,
                             cancel_grace=3.0)
    finally:
        listener.close()
        for connection in held:
            connection.close()
    assert held  # the child was reading from the silent host when it was stopped
    assert time.monotonic() - start < 2 + 3 + 5 + 10
    assert not [c for c in mp.active_children() if c.name.startswith("l3a-job-")]
    assert not (tmp_path / "p").exists()
