"""GDAL options given to `build_product` are in effect on the workers' reads.

The COGs are served over HTTP by a server that, like a bucket without credentials, answers
403 to any request lacking one header. The header is set only through ``gdal_options``
(``GDAL_HTTP_HEADERS``): the worker processes do not have it in their own GDAL
configuration or environment, and the client process reads no pixel. So a build on the
worker processes succeeds only if the option travelled inside the graph to their reads.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import rasterio.env

from catalog.demo import DEMO_BBOX, DEMO_PERIOD
from catalog.model import NormalizedItem
from catalog.search import search
from engine.contract import Order
from engine.period import parse_period
from engine.pipeline import build_product
from tests.distributed.conftest import PRODUCT_ID, assert_same_product, demo_order
from tests.distributed.support import DaskProcesses, RangeServer, http_items

HEADER = "X-L3A-Test-Token"


def gdal_headers_option() -> str | None:
    """This process's GDAL ``GDAL_HTTP_HEADERS`` outside any rasterio.Env (run on workers)."""
    value: str | None = rasterio.env.get_gdal_config("GDAL_HTTP_HEADERS")
    return value


def http_demo(items_path: Path, server: RangeServer, prefix: str, folder: Path
              ) -> list[NormalizedItem]:
    """The demo's items with hrefs on ``server`` under ``prefix``, through the catalogue."""
    path = http_items(items_path, f"{server.url}/{prefix}", folder / f"{prefix}.ndjson")
    start, end = parse_period(DEMO_PERIOD).search_interval()
    items = search(str(path), DEMO_BBOX, start, end)
    assert items and all(a.href.startswith(server.url) for i in items
                         for a in i.bands.values())
    return items


def test_gdal_options_reach_reads_on_worker_processes(
    demo_items_path: Path, cluster: DaskProcesses, reference: Callable[[Order], Path],
    tmp_path: Path,
) -> None:
    token = uuid.uuid4().hex
    order = demo_order("composite", 20)
    from distributed import Client

    with Client(cluster.address, set_as_default=False) as client:
        assert set(client.run(gdal_headers_option).values()) == {None}
    with RangeServer(demo_items_path.parent, required_header=(HEADER, token)) as server:
        # Without the option: the reads are refused, and the build says so.
        refused = http_demo(demo_items_path, server, "without", tmp_path)
        with pytest.raises(Exception, match="403") as failure:
            build_product(order, refused, tmp_path / "without" / PRODUCT_ID,
                          product_id=PRODUCT_ID, scheduler=cluster.address)
        assert not (tmp_path / "without" / PRODUCT_ID).exists(), failure.value
        served_before = len(server.log)

        # With it: every read carries the header, and the product is the in-process one.
        items = http_demo(demo_items_path, server, "with", tmp_path)
        built = build_product(order, items, tmp_path / "with" / PRODUCT_ID,
                              product_id=PRODUCT_ID, scheduler=cluster.address,
                              gdal_options={"GDAL_HTTP_HEADERS": f"{HEADER}: {token}"})
        requests = server.log[served_before:]

    assert requests, "no read went through the HTTP server"
    assert {r.status for r in requests} <= {200, 206}, [r for r in requests if r.status == 403][:5]
    assert all(r.headers.get(HEADER.lower()) == token for r in requests)
    # Same bytes as the in-process build from local files: only the hrefs of the inputs differ, and
    # they are not in the product (item.json names inputs by id).
    assert_same_product(built, reference(order))
