"""Lazy loading of normalized items onto the output grid: a dask array per set of assets.

`load_assets` takes normalized items and returns a plain dask array (T, A, Y, X), one task
per spatial block that reads every item and asset of the block through a `BlockReader`
(`engine.readers`: each input tile decoded once per build, the tiles of a block fetched
concurrently). What a load reads is a frozen `LoadParams`, and its graph keys are tokens of
it, so the same order gives the same graph; which build's cache and counters the reads use
is the read session, an argument apart.

Rasters on a lattice simply related to the output grid (`engine.lattice`: the usual case, a
band of a tile in its own UTM zone, at 10, 20 or 60 m) are read at their own resolution and
repeated or decimated in numpy; 20 m bands and the SCL are never warped onto the 10 m grid.
Anything else (a neighbouring UTM zone) goes through GDAL's warper. stackstac's reader did
every read at first; what of it is left lives in `engine.readers`.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import rasterio.errors

from catalog.model import Grid, NormalizedItem, RasterAsset
from engine.readers import (
    BlockReader,
    TiledReader,
    expect_reads,
    lattice_plan,
    source_info,
    source_infos,
    source_window,
    units_of,
)

if TYPE_CHECKING:
    # dask.array (and the xarray and pandas it imports when installed) only for the lazy
    # arrays of a cluster's graph: a local build reads blocks directly.
    import dask.array as da

#: Spatial chunk of the reduction. Tiles are decoded whole and cached, so a block may cut
#: them; a multiple of 512 still lets an aligned order use each tile in one block. 12 dates x
#: 10 bands x 512^2 uint16 is 63 MB a block. `chunk_for` doubles it for inputs tiled
#: coarser, within `BLOCK_BUDGET`, and halves it for long periods, within `BLOCK_LIMIT`.
CHUNK = 512
#: Largest input block, in bytes, that `chunk_for` chooses a larger chunk for: a month of 12
#: dates in 4 bands at 1024^2. Every thread holds a block and its temporaries, so the peak
#: grows with it: measured here on 12 dates x 4 bands of 2048^2 tiled in 1024 px, 2 threads,
#: the synthesis peaked at 0.84-0.88 GiB against 0.52-0.57 in 512 px blocks, and took 1.4-1.5 s
#: against 2.5 s.
BLOCK_BUDGET = 12 * 4 * 2 * 1024**2
#: Largest input block, in bytes, before `chunk_for` halves the chunk below `CHUNK`: a block
#: of 12 dates x 11 assets at 512^2 is 69 MB; an annual order of 150 dates would be 865 MB a
#: block, times the threads and their temporaries.
BLOCK_LIMIT = 24 * 11 * 2 * 512**2
#: The smallest chunk `chunk_for` goes down to.
MIN_CHUNK = 128
#: Chunk of the cloud-field pass, which reads the masks only: a multiple of the 240 m cell at
#: 10, 20 and 60 m (24, 12 and 4 pixels), so blocks reduce to whole cells, and of 256-pixel
#: tiles. It cuts some 512-pixel tiles, which are then decoded twice, but masks decode fast
#: and nine blocks share two cores better than 1536's four of 9, 3, 3 and 1 parts (measured
#: on 12 dates at 2048^2: the pass in 0.16 s against 0.19 s).
CLOUD_CHUNK = 768

# GDAL settings for reading COGs, local or over HTTP. Each one is here for a reason:
GDAL_ENV: dict[str, Any] = {
    # A COG carries its own metadata: listing the folder of every file on open costs one
    # request per file over HTTP (and S3 LIST calls) for nothing.
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    # CPL_VSIL_CURL_USE_HEAD stays on (GDAL's default): without the HEAD, /vsicurl learns a
    # file's size from a GET of the whole file that it cuts off after the headers. Measured
    # on 132 opens over loopback with 20 ms a request: 2.2x slower (0.42-0.52 s against
    # 1.07-1.14 s), 712 KB sent per open, and the cut connection cannot be reused.
    # Only these extensions are expected over /vsicurl; others are not probed.
    "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".tif,.tiff,.TIF,.jp2,.vrt",
    # Merge adjacent byte ranges into one request: COG tiles of a window are contiguous.
    "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
    "GDAL_HTTP_MULTIPLEX": "YES",
    # Transient 5xx / throttling from object stores: retry a few times with a delay.
    "GDAL_HTTP_MAX_RETRY": "3",
    "GDAL_HTTP_RETRY_DELAY": "1",
    # GDAL waits for ever by default: a host that accepts a connection and never answers
    # (or stops sending half-way) would hold a build, and its worker, until killed. A
    # connection gets 10 s; a transfer slower than 1 byte/s for 30 s is given up (then
    # retried as above), without bounding the time a large read may take.
    "GDAL_HTTP_CONNECTTIMEOUT": "10",
    "GDAL_HTTP_LOW_SPEED_TIME": "30",
    "GDAL_HTTP_LOW_SPEED_LIMIT": "1",
    # Tiles are read whole and cached by l3a (`engine.readers`); GDAL's block cache (5 % of
    # RAM by default) would hold the same tiles a second time, and it is what made the
    # process peak grow with the number of inputs.
    "GDAL_CACHEMAX": 64,  # MB
    # stackstac opens with VSI_CACHE on (so that each thread's re-open of a URL is served
    # from cache). The cache belongs to the file handle and keeps up to VSI_CACHE_SIZE (25 MB
    # by default) of it: with one handle per input and thread, that grew this process by
    # ~1 GB on 12 dates x 11 assets. A COG header needs well under 1 MB.
    "VSI_CACHE_SIZE": 1024 * 1024,
}


@dataclass(frozen=True)
class LoadParams:
    """Everything a load reads, hashable: equal parameters give equal graph keys."""

    hrefs: tuple[tuple[str | None, ...], ...]  # (T, A), None where an item lacks the asset
    assets: tuple[str, ...]  # the A axis: loader names (`asset_of`)
    grid: Grid
    dtype: str
    fill_value: int
    resampling: str
    env: tuple[tuple[str, Any], ...]  # GDAL settings, sorted

    def reader(self, session: str) -> BlockReader:
        """The reader of these parameters in a read session."""
        return TiledReader(session, self.grid, self.env, self.resampling, self.fill_value)


def _read_block(params: LoadParams, session: str,
                block_info: dict[Any, Any] | None = None) -> npt.NDArray[Any]:
    """One spatial block of every item and asset: (T, A, rows, cols)."""
    assert block_info is not None
    _, _, (r0, r1), (c0, c1) = block_info[None]["array-location"]
    return read(params, session, (r0, r1, c0, c1))


def _href(asset: RasterAsset) -> str:
    # Reads take band 1 (stackstac's reader accepts single-band files only); a band of a
    # multi-band file (MAJA's ATB holds water vapour in band 1 and AOT in band 2) is exposed
    # as one through GDAL's vrt:// connection.
    if asset.band_index != 1:
        return f"vrt://{asset.href}?bands={asset.band_index}"
    return asset.href


def asset_of(item: NormalizedItem, name: str) -> RasterAsset | None:
    """The asset behind a loader name: a band, ``scl``, ``clm``, ``mg2``, ``cnn``, ``aot``."""
    if name in item.bands:
        return item.bands[name]
    if name == "aot":
        return item.aot
    return getattr(item.masks, name, None) if name in ("scl", "clm", "mg2", "cnn") else None


def chunk_for(items: Sequence[NormalizedItem], grid: Grid, assets: Sequence[str], *,
              dtype: str = "uint16", gdal_options: Mapping[str, Any] | None = None,
              limit: int = BLOCK_LIMIT,
              load: str | None = None) -> int:
    """The spatial chunk to load these assets in: `CHUNK`, or a multiple the inputs' tiles ask.

    A window that cuts an input tile decodes the whole tile, once per window: inputs tiled in
    1024 px (Earth Search's Sentinel-2 COGs) read in 512 px chunks are decoded four times,
    and the build takes twice as long. The chunk doubles while it still fits in the first
    asset's tiles (seen on the output grid) and the block of every item and asset stays
    within `BLOCK_BUDGET`. One file is opened to find out (through the pool of ``load``, so
    the reads use it again); if it cannot be, the chunk is `CHUNK`. On a long period the
    chunk halves instead, down to `MIN_CHUNK`, while that block exceeds ``limit`` bytes.
    """
    href = next((_href(asset) for item in items for name in assets
                 if (asset := asset_of(item, name)) is not None), None)
    block_bytes = len(items) * len(assets) * np.dtype(dtype).itemsize
    chunk = CHUNK
    # Many observations (a year: 70-150): the block shrinks so that it stays within budget;
    # tiles are cached (`engine.readers`), so smaller blocks do not decode them again.
    while chunk > MIN_CHUNK and block_bytes * chunk**2 > limit:
        chunk //= 2
    if href is None or chunk < CHUNK:
        return chunk
    env = gdal_env(gdal_options)
    try:
        info = source_info(load or new_load_key(), href, env)
    except rasterio.errors.RasterioError:
        return CHUNK  # the reads will say what is wrong with it
    if info.epsg != grid.epsg:
        return CHUNK  # warped: its tiles do not map onto the output's blocks
    tile = info.tile * abs(info.transform[0]) / grid.resolution
    while 2 * chunk <= tile and block_bytes * (2 * chunk) ** 2 <= BLOCK_BUDGET:
        chunk *= 2
    return chunk


def read(params: LoadParams, session: str, window: tuple[int, int, int, int],
         halo: int = 0) -> npt.NDArray[Any]:
    """Every item and asset on an output ``window`` (row0, row1, col0, col1): (T, A, Y, X).

    With a ``halo``, the window grows by that many pixels a side; outside the grid they are
    0 (what the cloud dilation reads as "no cloud", as ``dask.array.overlap`` pads). A read
    announced to the session (`announce_reads`) must be made with the same ``halo``.
    """
    r0, r1, c0, c1 = window
    if not halo:
        # Not np.full: most slots are read whole, filling them first would cost a write.
        out = np.empty((len(params.hrefs), len(params.assets), r1 - r0, c1 - c0), params.dtype)
        params.reader(session).read_block(out, params.hrefs, (r0, c0, r1 - r0, c1 - c0))
        return out
    inner = _grown(window, halo, params.grid.shape)
    out = np.zeros((len(params.hrefs), len(params.assets), r1 - r0 + 2 * halo,
                    c1 - c0 + 2 * halo), params.dtype)
    y0, y1, x0, x1 = inner
    top, left = y0 - (r0 - halo), x0 - (c0 - halo)
    out[..., top:top + y1 - y0, left:left + x1 - x0] = read(params, session, inner)
    return out


def prefetch(params: LoadParams, session: str, window: tuple[int, int, int, int],
             halo: int = 0, budget: int | None = None) -> None:
    """Start the remote reads of `read` on ``window`` without waiting (the same ``halo``).

    Up to ``budget`` bytes of tiles, when given (`TiledReader.prefetch`).
    """
    r0, r1, c0, c1 = _grown(window, halo, params.grid.shape)
    reader = params.reader(session)
    if isinstance(reader, TiledReader):
        reader.prefetch(params.hrefs, (r0, c0, r1 - r0, c1 - c0), budget)


def _grown(window: tuple[int, int, int, int], halo: int,
           shape: tuple[int, int]) -> tuple[int, int, int, int]:
    """``window`` (row0, row1, col0, col1) grown by ``halo`` a side, within ``shape``."""
    r0, r1, c0, c1 = window
    return (max(r0 - halo, 0), min(r1 + halo, shape[0]), max(c0 - halo, 0),
            min(c1 + halo, shape[1]))


def announce_reads(params: LoadParams, windows: Iterable[tuple[int, int, int, int]],
                   session: str, halo: int = 0) -> None:
    """Tell the session's tile cache how many of these windows read each input tile.

    A tile then leaves the cache when its last window has read it; ``halo`` as in `read`.
    CNN masks are not counted: they are written after the plan (`engine.masks.cnn`), and
    are small; their tiles stay for as long as the cache's budget lets them.
    """
    columns = [a for a, name in enumerate(params.assets) if name != "cnn"]
    read_hrefs = [href for row in params.hrefs for a in columns if (href := row[a]) is not None]
    infos = source_infos(session, read_hrefs, params.env)
    counts: Counter[tuple[str, int, int]] = Counter()
    for output_window in windows:
        y0, y1, x0, x1 = _grown(output_window, halo, params.grid.shape)
        window = (y0, x0, y1 - y0, x1 - x0)
        for href in read_hrefs:
            plan = lattice_plan(infos[href], params.grid, window)
            where = source_window(plan) if plan is not None else None
            if where is not None:
                counts.update((href, *unit) for unit in units_of(infos[href], *where))
    expect_reads(session, counts)


def new_load_key() -> str:
    """A key for `load_assets` that no earlier load used."""
    return uuid.uuid4().hex


def load_params(items: Sequence[NormalizedItem], grid: Grid, assets: Sequence[str], *,
                dtype: str = "uint16", fill_value: int = 0, resampling: str = "nearest",
                gdal_options: Mapping[str, Any] | None = None) -> LoadParams:
    """What a load of these assets reads (arguments as `load_assets`)."""
    hrefs = tuple(
        tuple(_href(asset) if (asset := asset_of(item, name)) is not None else None
              for name in assets)
        for item in items
    )
    return LoadParams(hrefs, tuple(assets), grid, np.dtype(dtype).str, fill_value, resampling,
                      gdal_env(gdal_options))


def gdal_env(gdal_options: Mapping[str, Any] | None) -> tuple[tuple[str, Any], ...]:
    """`GDAL_ENV` with the operator's options over it, as a sorted (hashable) tuple.

    Options come from settings as strings; rasterio wants an integer for GDAL_CACHEMAX (a
    string raises TypeError inside every read), so integer strings become integers. GDAL
    reads every option as text anyway.
    """
    options = {name: int(value) if isinstance(value, str) and value.strip().isdigit()
               else value for name, value in (gdal_options or {}).items()}
    return tuple(sorted({**GDAL_ENV, **options}.items()))


def load_assets(
    items: Sequence[NormalizedItem],
    grid: Grid,
    assets: Sequence[str],
    *,
    dtype: str = "uint16",
    fill_value: int = 0,
    resampling: str = "nearest",
    chunk: int = CHUNK,
    gdal_options: Mapping[str, Any] | None = None,
    load: str | None = None,
    announce: bool = False,
) -> da.Array:
    """Stack the assets of the items on the grid, lazily: a dask array (T, A, Y, X).

    Args:
        items: the observations, already in their final (datetime, id) order.
        grid: the output grid.
        assets: loader names (see `asset_of`), in the order of the A axis.
        dtype: the raw DN type. Integers are kept until the reduction: uint16 is a quarter of
            the float64 stackstac would give by default.
        fill_value: the DN of missing data (0 for Sentinel-2 L2A, -10000 for MAJA).
        resampling: ``nearest`` for masks (classes must not be averaged), ``average`` for
            reflectance when the output is coarser than the band.
        chunk: spatial chunk in pixels; each block holds every item and asset.
        gdal_options: GDAL configuration options layered over `GDAL_ENV` (operators tune
            HTTP retries or caches for their object store). They travel inside the graph,
            so they reach dask workers on other machines.
        load: the read session (`engine.readers`), by default one of its own. Loads of one
            build share one: open files, decoded tiles and counters. A new session never
            meets a dataset opened on a file since rewritten at the same path.
        announce: tell the session's tile cache, now, how many blocks will read each tile
            (`announce_reads`). Only for a load whose every block will be computed in this
            process (it opens every input now).

    Returns:
        The DN as stored, ``fill_value`` where an item has no data or no such asset.

    """
    import dask.array as da
    from dask.array.core import normalize_chunks

    params = load_params(items, grid, assets, dtype=dtype, fill_value=fill_value,
                         resampling=resampling, gdal_options=gdal_options)
    shape = (len(items), len(assets), *grid.shape)
    chunks = normalize_chunks(  # type: ignore[no-untyped-call]
        (len(items), len(assets), chunk, chunk), shape=shape)
    session = load or new_load_key()
    if announce:
        starts = [np.cumsum((0, *c)) for c in chunks[2:]]
        announce_reads(params, [(int(starts[0][i]), int(starts[0][i + 1]), int(starts[1][j]),
                                 int(starts[1][j + 1]))
                                for i in range(len(chunks[2])) for j in range(len(chunks[3]))],
                       session)
    # The session is not part of the name: the same order gives the same graph. It is not
    # the name either: a string argument equal to a graph key reads as that key.
    from dask.base import tokenize

    data: da.Array = da.map_blocks(  # type: ignore[no-untyped-call]
        _read_block, params, session,
        chunks=chunks, dtype=np.dtype(dtype), meta=np.empty((0, 0, 0, 0), dtype=dtype),
        name=f"read-{tokenize(params, chunks)}",
    )
    return data
