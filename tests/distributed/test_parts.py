"""Orders in parts on a cluster: workers write their parts; lost workers and failed parts.

The demo order at 20 m is 520 x 520 px: parts of 512 px make 4 parts (one of 512 x 512, two
thin ones, one of 8 x 8). Each part is one task that computes and writes the part's COGs
into the product's staging folder, which the workers share with the client (here the same
disk, as a shared volume in compose.yaml).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from distributed import Client

import engine.part_tasks
from catalog.model import NormalizedItem
from engine.part_tasks import PartJob, PartResult, run_part
from engine.pipeline import build_product
from tests.distributed.conftest import PRODUCT_ID, assert_same_product, demo_order
from tests.distributed.support import DaskProcesses, close_engine_client, dask_processes

PART = 512


def assert_same_pixels(parted: Path, one_part: Path) -> None:
    """Every layer's mosaic equals the one-part product's COG, pixel for pixel."""
    keys = json.loads((one_part / "item.json").read_text())["assets"]
    for key in keys:
        with rasterio.open(parted / f"{key}.vrt") as ours, \
                rasterio.open(one_part / f"{key}.tif") as theirs:
            assert np.array_equal(ours.read(1), theirs.read(1), equal_nan=True), key


def test_workers_write_the_parts_of_the_in_process_build(
    demo_items: list[NormalizedItem], cluster: DaskProcesses,
    reference: Callable[..., Path], tmp_path: Path,
) -> None:
    order = demo_order("synthesis", 20)
    seen: list[tuple[float, str]] = []
    built = build_product(order, demo_items, tmp_path / PRODUCT_ID, product_id=PRODUCT_ID,
                          scheduler=cluster.address, part_size=PART,
                          progress=lambda fraction, message: seen.append((fraction, message)))
    parts = [p.name for p in built.glob("red.*.tif")]
    assert sorted(parts) == ["red.r0c0.tif", "red.r0c1.tif", "red.r1c0.tif", "red.r1c1.tif"]
    assert_same_product(built, reference(order, PART))
    assert_same_pixels(built, reference(order))
    # The parts' blocks report through the scheduler: progress moves within a part (the
    # 512 px part is 4 of the 7 blocks), never back.
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and seen[-1] == (1.0, "done")
    part_ends = {round(0.1 + 0.87 * k / 4, 6) for k in range(5)}
    within = [f for f, m in seen if "parts" in m and round(f, 6) not in part_ends]
    assert within, seen


def test_a_worker_lost_during_the_parts_still_gives_the_whole_product(
    demo_items: list[NormalizedItem], reference: Callable[..., Path], tmp_path: Path,
) -> None:
    order = demo_order("median", 20)
    expected = reference(order, PART)
    events: list[tuple[float, str]] = []
    with dask_processes(tmp_path / "cluster") as cluster, \
            Client(cluster.address, set_as_default=False) as observer:
        pids = cluster.worker_pids(observer)
        victim: dict[str, Any] = {}

        def progress(fraction: float, message: str) -> None:
            events.append((fraction, message))
            if victim or "parts" not in message:
                return
            # When the first part is in: the worker that holds most of the others.
            address, tasks = cluster.busiest(observer, pids)
            if not tasks:
                return
            victim.update(address=address, tasks=tasks)
            cluster.kill(pids[address])

        try:
            built = build_product(order, demo_items, tmp_path / PRODUCT_ID,
                                  product_id=PRODUCT_ID, scheduler=cluster.address,
                                  progress=progress, part_size=PART)
            survivors = set(observer.scheduler_info()["workers"])
        finally:
            close_engine_client(cluster.address)
        logs = cluster.log_text()

    assert victim, f"no worker held a part when the parts started: {events}"
    assert survivors == set(pids) - {victim["address"]}, logs
    assert events[-1] == (1.0, "done")
    assert_same_product(built, expected)
    assert not list(tmp_path.glob(f".{PRODUCT_ID}.*")), "no staging folder left"


def fail_each_part_once(job: PartJob, *args: Any, **kwargs: Any) -> PartResult:
    """`run_part`, but each part's first attempt fails after writing half its work.

    The attempts are counted in a file of the product's staging folder, which every worker
    sees, so a retry on another worker still knows.
    """
    mark = job.folder / f"attempted-{job.part.part.id}"
    if not mark.exists():
        mark.touch()
        (job.folder / f"red.{job.part.part.id}.tif").write_bytes(b"half a part")
        raise OSError(f"part {job.part.part.id}: disk full (a test's failure)")
    mark.unlink()
    return run_part(job, *args, **kwargs)


def test_a_failed_part_is_run_again_and_the_product_is_whole(
    demo_items: list[NormalizedItem], cluster: DaskProcesses,
    reference: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    order = demo_order("composite", 20)
    expected = reference(order, PART)
    # Workers import this test module by name (the project root is on their PYTHONPATH).
    monkeypatch.setattr(engine.part_tasks, "run_part", fail_each_part_once)
    built = build_product(order, demo_items, tmp_path / PRODUCT_ID, product_id=PRODUCT_ID,
                          scheduler=cluster.address, part_size=PART)
    assert not list(built.glob("attempted-*"))
    assert_same_product(built, expected)


def test_a_cancelled_order_in_parts_stops_soon_and_leaves_nothing(
    demo_items: list[NormalizedItem], cluster: DaskProcesses, tmp_path: Path,
) -> None:
    import threading
    import time

    from engine.errors import Cancelled

    cancel = threading.Event()
    when: list[float] = []

    def progress(fraction: float, message: str) -> None:
        if "parts" in message and not cancel.is_set():
            when.append(time.monotonic())
            cancel.set()

    with pytest.raises(Cancelled):
        build_product(demo_order("synthesis", 10), demo_items, tmp_path / "out" / PRODUCT_ID,
                      product_id=PRODUCT_ID, scheduler=cluster.address, part_size=PART,
                      progress=progress, cancel=cancel)
    stopped = time.monotonic()
    assert when and stopped - when[0] < 5, "seen within the poll, not at the end of a part"
    assert list((tmp_path / "out").iterdir()) == []
