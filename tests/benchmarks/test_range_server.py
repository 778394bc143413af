"""The benchmarks' slow range server: HTTP semantics GDAL relies on, its delay, counts, bounds.

A normal test (not a benchmark): it runs in CI, on a 128 px COG, in about a second.
"""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.windows import Window

from tests.benchmarks.range_server import RangeServer, parse_range

DELAY = 0.05


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("served")
    (root / "sub").mkdir()
    (root.parent / "outside.txt").write_text("not served")
    (root / "sub" / "bytes.bin").write_bytes(bytes(range(256)) * 40)  # 10,240 bytes
    data = np.arange(128 * 128, dtype=np.uint16).reshape(128, 128)
    profile = {"driver": "COG", "width": 128, "height": 128, "count": 1, "dtype": "uint16",
               "crs": "EPSG:32631", "transform": Affine(10, 0, 300000, 0, -10, 4900020),
               "compress": "DEFLATE", "blocksize": 64}
    with rasterio.open(root / "sub" / "image.tif", "w", **profile) as dst:
        dst.write(data, 1)
    return root


def fetch(url: str, method: str = "GET", range_: str | None = None
          ) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, method=method)
    if range_ is not None:
        request.add_header("Range", range_)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_ranged_get_is_206_with_the_bytes_and_waits_the_delay(folder: Path) -> None:
    expected = (folder / "sub" / "bytes.bin").read_bytes()
    with RangeServer(folder, delay=DELAY) as server:
        start = time.perf_counter()
        status, headers, body = fetch(server.url_for("sub/bytes.bin"), range_="bytes=100-299")
        elapsed = time.perf_counter() - start
        stats = server.stats
    assert status == 206
    assert headers["Content-Range"] == f"bytes 100-299/{len(expected)}"
    assert headers["Content-Length"] == "200"
    assert headers["Accept-Ranges"] == "bytes"
    assert body == expected[100:300]
    assert elapsed >= DELAY
    assert (stats.requests, stats.gets, stats.heads, stats.bytes_sent) == (1, 1, 0, 200)


def test_head_full_get_suffix_and_refusals(folder: Path) -> None:
    size = (folder / "sub" / "bytes.bin").stat().st_size
    with RangeServer(folder, delay=0.0) as server:
        url = server.url_for("sub/bytes.bin")
        status, headers, body = fetch(url, method="HEAD")
        assert (status, headers["Content-Length"], headers["Accept-Ranges"], body) == (
            200, str(size), "bytes", b"")
        status, headers, body = fetch(url)
        assert (status, len(body)) == (200, size)
        status, headers, body = fetch(url, range_="bytes=-10")
        assert (status, headers["Content-Range"], len(body)) == (
            206, f"bytes {size - 10}-{size - 1}/{size}", 10)
        status, headers, _ = fetch(url, range_="bytes=0-1,5-6")  # several ranges: refused
        assert (status, headers["Content-Range"]) == (416, f"bytes */{size}")
        assert fetch(url, range_=f"bytes={size}-")[0] == 416
        assert fetch(server.url_for("sub/missing.tif"))[0] == 404
        assert fetch(f"{server.url}/%2e%2e/outside.txt")[0] == 404  # not above the folder
        stats = server.stats
    assert (stats.requests, stats.heads, stats.gets) == (7, 1, 6)
    assert stats.bytes_sent == size + 10


def test_parse_range() -> None:
    assert parse_range(None, 100) is None
    assert parse_range("bytes=0-9", 100) == (0, 9)
    assert parse_range("bytes=90-200", 100) == (90, 99)
    assert parse_range("bytes=90-", 100) == (90, 99)
    assert parse_range("bytes=-200", 100) == (0, 99)
    for bad in ("bytes=100-", "bytes=5-4", "bytes=-0", "items=0-1", "bytes=0-1,3-4"):
        assert parse_range(bad, 100) == "unsatisfiable", bad


def test_rasterio_reads_a_window_through_vsicurl_as_from_disk(folder: Path) -> None:
    window = Window(30, 50, 70, 60)  # cuts four 64 px tiles
    with rasterio.open(folder / "sub" / "image.tif") as ds:
        local = ds.read(1, window=window)
    # A fresh URL (port) each run, so GDAL's per-process /vsicurl cache cannot answer for it.
    with RangeServer(folder, delay=0.01) as server, rasterio.Env(
            GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR"), \
            rasterio.open(server.url_for("sub/image.tif")) as ds:
        remote = ds.read(1, window=window)
        stats = server.stats
    np.testing.assert_array_equal(remote, local)
    assert stats.requests >= 2  # at least the header and the tiles
    assert stats.gets >= 1 and stats.bytes_sent > 0


def test_stops_by_itself_after_its_lifetime(folder: Path) -> None:
    server = RangeServer(folder, delay=0.0, lifetime=0.3).start()
    port = int(server.url.rsplit(":", 1)[1])
    assert fetch(server.url_for("sub/bytes.bin"))[0] == 200
    assert server.wait_stopped(3.0)
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass


def test_stops_after_its_request_budget(folder: Path) -> None:
    with RangeServer(folder, delay=0.0, max_requests=2) as server:
        url = server.url_for("sub/bytes.bin")
        assert [fetch(url, range_="bytes=0-0")[0] for _ in range(3)] == [206, 206, 503]
        assert server.wait_stopped(3.0)
