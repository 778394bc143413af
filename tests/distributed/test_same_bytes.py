"""An order gives the same bytes on a dask.distributed cluster as in one process.

Blocks are computed in other processes, pickled, gathered in any order and written by the
client: none of it may change a bit of the product (STYLE: equal inputs, byte-equal outputs).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from catalog.model import NormalizedItem
from engine.contract import Order
from engine.pipeline import build_product
from tests.distributed.conftest import PRODUCT_ID, assert_same_product, demo_order
from tests.distributed.support import DaskProcesses


@pytest.mark.parametrize("order", [
    # A cloud dilation makes blocks overlap their neighbours (dask's overlap), the case
    # where block order and placement could matter.
    demo_order("synthesis", 20, cloud_dilation_m=60.0),
    demo_order("composite", 20),
], ids=["synthesis", "composite"])
def test_product_on_two_worker_processes_is_byte_identical_to_in_process(
    order: Order, demo_items: list[NormalizedItem], cluster: DaskProcesses,
    reference: Callable[[Order], Path], tmp_path: Path,
) -> None:
    expected = reference(order)
    built = build_product(order, demo_items, tmp_path / PRODUCT_ID, product_id=PRODUCT_ID,
                          scheduler=cluster.address)
    assert_same_product(built, expected)
