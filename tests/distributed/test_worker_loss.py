"""A worker lost mid-job: dask recomputes its work elsewhere and the product is unchanged.

One of two worker processes (no nanny, so it does not come back) gets SIGKILL from the
progress callback once a third of the blocks are written, while it is computing. The
scheduler sees its connection drop, puts its tasks and the results it held back in the
queue, and the other worker does them. A task is declared lost only after it took
``distributed.scheduler.allowed-failures`` (3) workers down with it; here none does, so the
expected outcome is a complete product equal to the in-process one, never an error.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from distributed import Client

from catalog.model import NormalizedItem
from engine.contract import Order
from engine.pipeline import build_product
from tests.distributed.conftest import PRODUCT_ID, assert_same_product, demo_order
from tests.distributed.support import close_engine_client, dask_processes

#: Kill once this fraction of the job is reported done (blocks are 10 % to 97 %).
KILL_AT = 0.3


def test_job_survives_a_killed_worker_with_identical_bytes(
    demo_items: list[NormalizedItem], reference: Callable[[Order], Path], tmp_path: Path,
) -> None:
    order = demo_order("synthesis", 10)  # 3 x 3 blocks
    expected = reference(order)
    events: list[tuple[float, str]] = []
    with dask_processes(tmp_path / "cluster") as cluster, \
            Client(cluster.address, set_as_default=False) as observer:
        pids = cluster.worker_pids(observer)
        victim: dict[str, object] = {}

        def progress(fraction: float, message: str) -> None:
            events.append((fraction, message))
            if fraction < KILL_AT or victim:
                return
            address, tasks = cluster.busiest(observer, pids)
            victim.update(address=address, tasks=tasks, at=fraction)
            cluster.kill(pids[address])

        try:
            built = build_product(order, demo_items, tmp_path / PRODUCT_ID,
                                  product_id=PRODUCT_ID, scheduler=cluster.address,
                                  progress=progress)
            survivors = set(observer.scheduler_info()["workers"])
        finally:
            close_engine_client(cluster.address)
        logs = cluster.log_text()

    assert victim, f"the job never reached {KILL_AT:.0%}: {events}"
    assert victim["tasks"], f"the killed worker had nothing in flight: {victim}"
    assert survivors == set(pids) - {victim["address"]}, logs
    assert events[-1] == (1.0, "done")
    assert_same_product(built, expected)
