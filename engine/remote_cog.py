"""Remote COGs read with async-tiff over obstore's HTTP client: no HEAD, tiles fetched at once.

Why not GDAL's /vsicurl for plain http(s) hrefs (measured with
``python -m tests.benchmarks.async_reader``, 132 Earth Search-layout inputs over loopback,
20 ms before every answer): /vsicurl sends a HEAD before each file's first GET and reads a
file's tiles one request at a time, 5.3 s and 384 requests; async-tiff reads a header in
one request (no HEAD) and a file's tiles of one call concurrently, coalescing neighbours,
2.1-2.3 s and 264 requests, every tile equal to rasterio's. On local files GDAL is the
faster, so it keeps them.

GDAL also keeps what this reader would not read as GDAL does, so that a product never
depends on which reader ran: `open_cog` answers None (and the caller falls back to GDAL)
for an href with a query (signed URLs), for GDAL settings that change the transport
(credentials, headers, proxies: `_GDAL_TRANSPORT`), and for a TIFF that is not a tiled,
single-band, north-up raster in an EPSG CRS with a compression this reader decodes.
The HTTP timeouts and retries follow the same GDAL settings (`client_options`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import os
import threading
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

import numpy as np
import numpy.typing as npt

from engine.source_info import SourceInfo, unit_of

if TYPE_CHECKING:
    from obstore.store import ClientConfig, RetryConfig

T = TypeVar("T")

#: GDAL settings that change how GDAL talks HTTP; with any of them, GDAL reads.
_GDAL_TRANSPORT = ("GDAL_HTTP_HEADER", "GDAL_HTTP_USERPWD", "GDAL_HTTP_AUTH",
                   "GDAL_HTTP_BEARER", "GDAL_HTTP_PROXY", "GDAL_HTTP_COOKIE", "GDAL_HTTP_NETRC",
                   "GDAL_HTTP_UNSAFESSL", "GDAL_HTTP_SSL", "GDAL_HTTPS_PROXY", "CPL_CURL_",
                   "CURL_CA_BUNDLE", "SSL_CERT", "AWS_", "GS_", "AZURE_")
#: TIFF compressions decoded here exactly as GDAL does: none, LZW, Deflate (both codes), ZSTD.
_COMPRESSIONS = {1, 5, 8, 32946, 50000}
#: TIFF predictors: none and horizontal differencing.
_PREDICTORS = {1, 2}
#: TIFF SampleFormat to numpy kind.
_KINDS = {1: "u", 2: "i", 3: "f"}
_ADOBE_DEFLATE = 32946
_PROJECTED, _GEOGRAPHIC = 1, 2
_PIXEL_IS_POINT = 2
_USER_DEFINED = 32767
#: Bytes read with a header: a COG's IFDs and tile offsets fit well within (a 10980 px band
#: in 1024 px tiles with overviews needs under 4 kB).
PREFETCH = 32768
#: Whole-request timeout when GDAL_HTTP_TIMEOUT does not say one: a read of a few tiles.
DEFAULT_TIMEOUT_S = 120
#: Calls (an open, or a file's tiles for a block) under way at once in a process: every
#: file of a block at once where the GDAL path let 16 go, without opening hundreds of
#: connections to one host.
IN_FLIGHT = int(os.environ.get("L3A_HTTP_IN_FLIGHT", "64"))
#: Reads are off with L3A_ASYNC_HTTP=0 (all remote reads through GDAL).
ENABLED = os.environ.get("L3A_ASYNC_HTTP", "1") != "0"

_loop_lock = threading.Lock()
_loop: tuple[int, asyncio.AbstractEventLoop, asyncio.Semaphore] | None = None
_stores: dict[tuple[str, tuple[tuple[str, Any], ...]], Any] = {}


def submit(make: Callable[[], Awaitable[T]]) -> concurrent.futures.Future[T]:
    """Start awaiting ``make()`` on this process's HTTP event loop; its future.

    async-tiff's calls bind to the loop running when they are made, so they are made there.
    The future's callbacks run on the loop's thread.
    """
    global _loop
    with _loop_lock:
        # A forked child inherits the variable but not the thread running the loop.
        if _loop is None or _loop[0] != os.getpid():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="l3a-http", daemon=True).start()
            _loop = (os.getpid(), loop, asyncio.Semaphore(IN_FLIGHT))
        _, loop, gate = _loop

    async def call() -> T:
        async with gate:
            return await make()

    return asyncio.run_coroutine_threadsafe(call(), loop)


def handles(href: str, env: Sequence[tuple[str, Any]]) -> bool:
    """Whether ``href`` is read here rather than by GDAL (before looking at the file)."""
    if not ENABLED:
        return False
    parts = urlsplit(href)
    if parts.scheme not in ("http", "https") or parts.query or parts.fragment:
        return False
    if "%" in parts.path or not parts.path.strip("/"):
        return False  # obstore re-encodes paths: percent-escapes would be escaped twice
    return not any(key.upper().startswith(_GDAL_TRANSPORT) for key, _ in env)


def _seconds(value: Any) -> timedelta:
    return timedelta(seconds=float(value))


def client_options(env: Mapping[str, Any]) -> tuple[ClientConfig, RetryConfig]:
    """The client and retry options of obstore from GDAL's HTTP settings in ``env``.

    GDAL_HTTP_CONNECTTIMEOUT bounds the connection, GDAL_HTTP_LOW_SPEED_TIME a stalled read
    (obstore's read timeout: no byte for that long), GDAL_HTTP_TIMEOUT the whole request;
    GDAL_HTTP_MAX_RETRY and GDAL_HTTP_RETRY_DELAY the retries.
    """
    options: ClientConfig = {
        "allow_http": True,
        "timeout": _seconds(env.get("GDAL_HTTP_TIMEOUT", DEFAULT_TIMEOUT_S)),
    }
    if "GDAL_HTTP_CONNECTTIMEOUT" in env:
        options["connect_timeout"] = _seconds(env["GDAL_HTTP_CONNECTTIMEOUT"])
    if "GDAL_HTTP_LOW_SPEED_TIME" in env:
        options["read_timeout"] = _seconds(env["GDAL_HTTP_LOW_SPEED_TIME"])
    retry: RetryConfig = {}
    if "GDAL_HTTP_MAX_RETRY" in env:
        retry["max_retries"] = int(env["GDAL_HTTP_MAX_RETRY"])
    if "GDAL_HTTP_RETRY_DELAY" in env:
        retry["backoff"] = {"init_backoff": _seconds(env["GDAL_HTTP_RETRY_DELAY"])}
    return options, retry


def _store(origin: str, env: Sequence[tuple[str, Any]]) -> Any:
    from obstore.store import HTTPStore

    key = (origin, tuple(env))
    with _loop_lock:
        store = _stores.get(key)
        if store is None:
            options, retry = client_options(dict(env))
            store = _stores[key] = HTTPStore.from_url(origin, client_options=options,
                                                      retry_config=retry or None)
        return store


class RemoteCog:
    """One open remote COG: its `SourceInfo` and its first image's tiles."""

    def __init__(self, tiff: Any, info: SourceInfo) -> None:
        self._tiff = tiff
        self.info = info

    async def decode_units(self, units: Sequence[tuple[int, int]]
                           ) -> list[tuple[npt.NDArray[Any], int]]:
        """Decode cached units (unit row, unit column): arrays and their compressed bytes.

        Every tile of every unit is asked in one call, so the HTTP requests go out together
        (neighbouring tiles in one request) and the tiles decode on async-tiff's threads.
        A unit of one tile is that tile (read-only, as every cached tile is used).
        """
        (unit_rows, unit_cols), (tile_rows, tile_cols) = self.info.unit, self.info.block
        height, width = self.info.shape
        spans = []
        for ur, uc in units:
            r0, c0 = ur * unit_rows, uc * unit_cols
            spans.append((r0, min(r0 + unit_rows, height), c0, min(c0 + unit_cols, width)))
        wanted = sorted({(x, y) for r0, r1, c0, c1 in spans
                         for y in range(r0 // tile_rows, -(-r1 // tile_rows))
                         for x in range(c0 // tile_cols, -(-c1 // tile_cols))})
        decoded = await self._fetch(wanted)
        if (unit_rows, unit_cols) == (tile_rows, tile_cols):
            ones = [(decoded[c0 // tile_cols, r0 // tile_rows], r1 - r0, c1 - c0)
                    for r0, r1, c0, c1 in spans]
            return [(tile[:rows, :cols], size) for (tile, size), rows, cols in ones]
        dtype = np.dtype(self.info.dtype)
        out = []
        for r0, r1, c0, c1 in spans:
            unit = np.empty((r1 - r0, c1 - c0), dtype=dtype)
            stored = 0
            for y in range(r0 // tile_rows, -(-r1 // tile_rows)):
                for x in range(c0 // tile_cols, -(-c1 // tile_cols)):
                    tile, size = decoded[x, y]
                    top, left = y * tile_rows, x * tile_cols
                    rows = min(r1, top + tile_rows) - top
                    cols = min(c1, left + tile_cols) - left
                    unit[top - r0:top - r0 + rows, left - c0:left - c0 + cols] = \
                        tile[:rows, :cols]
                    stored += size
            out.append((unit, stored))
        return out

    async def _fetch(self, wanted: list[tuple[int, int]]
                     ) -> dict[tuple[int, int], tuple[npt.NDArray[Any], int]]:
        tiles = await self._tiff.fetch_tiles(wanted, 0)
        # Decoding consumes a tile: what else it tells is asked first.
        where = [(tile.x, tile.y, len(tile.compressed_bytes)) for tile in tiles]
        registry = _decoders()
        arrays = await asyncio.gather(*(tile.decode(decoder_registry=registry) for tile in tiles))
        tile_rows, tile_cols = self.info.block
        dtype = np.dtype(self.info.dtype)
        return {(x, y): (np.asarray(array).view(dtype).reshape(tile_rows, tile_cols), size)
                for (x, y, size), array in zip(where, arrays, strict=True)}


def _inflate(buffer: Any) -> bytes:
    from isal import isal_zlib

    result: bytes = isal_zlib.decompress(buffer)
    return result


@functools.cache
def _decoders() -> Any:
    """async-tiff's decoders, Deflate's through ISA-L.

    async-tiff's own inflate took 15 ms a 1024 px uint16 tile here, against GDAL's 5 ms
    (libdeflate); ISA-L's 5 ms (all 276 tiles of the loader benchmark's inputs decoded in
    1.03-1.11 s, against 1.50-1.69 s; the same values). The predictor is still async-tiff's.
    """
    from async_tiff import DecoderRegistry
    from async_tiff.enums import Compression

    return DecoderRegistry({Compression.Deflate: _inflate, _ADOBE_DEFLATE: _inflate})


def open_cog(href: str, env: Sequence[tuple[str, Any]]) -> RemoteCog | None:
    """Open ``href`` (one request for its header), or None where GDAL must read it.

    Raises what the request raised (a missing file, a host that does not answer).
    """
    from async_tiff import TIFF

    parts = urlsplit(href)
    store = _store(f"{parts.scheme}://{parts.netloc}", env)
    tiff = submit(lambda: TIFF.open(parts.path.lstrip("/"), store=store,
                                    prefetch=PREFETCH)).result()
    if str(tiff.endianness).lower().endswith("big"):
        return None  # decoded in the file's byte order; GDAL swaps
    info = _info(tiff.ifds[0])
    return None if info is None else RemoteCog(tiff, info)


def _info(ifd: Any) -> SourceInfo | None:
    """The `SourceInfo` GDAL would give, or None if this reader cannot match GDAL's read."""
    geo = ifd.geo_key_directory
    if (ifd.tile_width is None or ifd.tile_height is None or ifd.samples_per_pixel != 1
            or int(ifd.compression) not in _COMPRESSIONS
            or (ifd.predictor is not None and int(ifd.predictor) not in _PREDICTORS)
            or geo is None or ifd.model_transformation is not None
            or ifd.model_pixel_scale is None or ifd.model_tiepoint is None
            or geo.raster_type == _PIXEL_IS_POINT):
        return None
    bits, = ifd.bits_per_sample
    kind = _KINDS.get(int(ifd.sample_format[0]) if ifd.sample_format else 1)
    epsg = {_PROJECTED: geo.projected_type, _GEOGRAPHIC: geo.geographic_type}.get(geo.model_type)
    if kind is None or bits % 8 or not epsg or epsg == _USER_DEFINED:
        return None
    scale_x, scale_y, *_ = ifd.model_pixel_scale
    col, row, _, x, y, _ = ifd.model_tiepoint[:6]
    shape = (ifd.image_height, ifd.image_width)
    block = (ifd.tile_height, ifd.tile_width)
    text = (ifd.gdal_nodata or "").strip("\x00 ")
    nodata = float(text) if text else None
    return SourceInfo(
        epsg=int(epsg),
        transform=(scale_x, 0.0, x - col * scale_x, 0.0, -scale_y, y + row * scale_y),
        shape=shape, nodata=nodata, dtype=np.dtype(f"<{kind}{bits // 8}").name,
        unit=unit_of(block, shape), block=block)
