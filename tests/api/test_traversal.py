"""Client input never reaches the filesystem as a path: traversal attempts are 404s.

Requests go through `http.client`, which sends the path byte for byte (httpx would
normalise ``..`` segments away before they reached the server).
"""

from __future__ import annotations

import http.client

import httpx
import pytest

from tests.api.support import EXECUTE, Server, order, small_bbox, wait_final


@pytest.fixture(scope="module")
def product_id(api: httpx.Client) -> str:
    response = api.post(EXECUTE, json=order(bbox=small_bbox(4), bands=["red"]))
    job = wait_final(api, response.json()["jobID"])
    assert job["status"] == "successful", job
    return str(job["jobID"])


def raw_get(server: Server, path: str) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


PRODUCT_PATHS = [
    "/products/../../../../etc/passwd",
    "/products/..%2f..%2f..%2fetc%2fpasswd",
    "/products/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/products/%2e%2e",
    "/products/..",
    "/products/..%5c..%5cjobs.sqlite3",
    "/products/%2fetc%2fpasswd",
    "/products//etc/passwd",
    "/products/.build-x",
    "/products/%2e%2e/assets/red",
    "/products/..%2fdemo/assets/red",
]
ASSET_KEYS = [
    "..%2fitem.json",
    "%2e%2e%2fitem.json",
    "..%2f..%2fjobs.sqlite3",
    "..%5c..%5cjobs.sqlite3",
    "%2fetc%2fpasswd",
    "item.json",
    "red.tif",
    "..",
    "%2e%2e",
]


@pytest.mark.parametrize("path", PRODUCT_PATHS)
def test_product_paths_outside_the_store_are_404(server: Server, path: str) -> None:
    status, body = raw_get(server, path)
    assert status == 404, (path, body[:200])
    assert b"root:" not in body


@pytest.mark.parametrize("key", ASSET_KEYS)
def test_asset_keys_outside_the_item_are_404(server: Server, product_id: str,
                                             key: str) -> None:
    status, body = raw_get(server, f"/products/{product_id}/assets/{key}")
    assert status == 404, (key, body[:200])
    assert b"SQLite" not in body and b'"assets"' not in body


def test_the_real_asset_is_served(server: Server, product_id: str) -> None:
    status, body = raw_get(server, f"/products/{product_id}/assets/red")
    assert status == 200 and body[:2] in (b"II", b"MM")
