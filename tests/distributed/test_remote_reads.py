"""Builds over HTTP read plain http(s) COGs with async-tiff, and give the local build's bytes.

`engine.remote_cog` reads remote COGs without GDAL's HEAD and with a file's tiles fetched in
one call; GDAL's /vsicurl reads them when its own HTTP settings are given
(`test_gdal_options`). Either way the product must be the in-process one from local files.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

from engine.contract import Order
from engine.pipeline import build_product
from tests.distributed.conftest import PRODUCT_ID, assert_same_product, demo_order
from tests.distributed.support import DaskProcesses, RangeServer
from tests.distributed.test_gdal_options import http_demo


def test_a_build_over_http_reads_without_head_and_equals_the_local_build(
    demo_items_path: Path, cluster: DaskProcesses, reference: Callable[[Order], Path],
    tmp_path: Path,
) -> None:
    order = demo_order("synthesis", 20)
    with RangeServer(demo_items_path.parent) as server:
        items = http_demo(demo_items_path, server, "async", tmp_path)
        built = build_product(order, items, tmp_path / "async" / PRODUCT_ID,
                              product_id=PRODUCT_ID, scheduler=cluster.address)
        requests = list(server.log)

    assert requests, "no read went through the HTTP server"
    # /vsicurl sends a HEAD before a file's first GET; async-tiff does not.
    assert {r.method for r in requests} == {"GET"}
    assert {r.status for r in requests} == {206}
    headers = Counter(r.path for r in requests if r.headers.get("range", "").startswith(
        "bytes=0-"))
    # A header is read once a process (the client's plan and each worker), not once a read.
    assert max(headers.values()) <= 3, headers.most_common(3)
    assert_same_product(built, reference(order))
