"""Lazy loading of normalized items onto the output grid: the only module that knows stackstac.

`load_assets` takes normalized items and returns a plain dask array (T, A, Y, X), one task
per spatial block that reads every item and asset of the block. Each read takes one of two
paths:

- the raster is in the output's CRS on a lattice related to it simply (`engine.lattice`):
  the usual case, a band of a tile in its own UTM zone. A windowed rasterio read, then
  repetition or decimation in numpy;
- anything else (a neighbouring UTM zone): stackstac's reader, which warps through a GDAL
  WarpedVRT onto the output grid.

Why not stackstac for every read, as at first: it wraps every read in a rasterio
environment, allocates and copies each window once more, and warps even a 20 m band onto a
10 m grid it could repeat. Measured on the speed benchmark's workload (12 dates x 11 assets,
2048^2): the reads alone took 2.1-2.5 s with stackstac, 1.8 s read directly, against a
decode floor of 1.4 s. stackstac is in maintenance mode: what of it is left lives here.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

import dask.array as da
import numpy as np
import numpy.typing as npt
import rasterio
import rasterio.enums
import rasterio.errors
import stackstac
from dask.array.core import normalize_chunks
from rasterio.windows import Window
from stackstac.raster_spec import RasterSpec
from stackstac.rio_reader import AutoParallelRioReader

from catalog.model import Grid, NormalizedItem, RasterAsset
from engine.lattice import WindowPlan, plan_window, resample

#: Spatial chunk of the reduction. COG tiles are 256, 512 or 1024 pixels: a window that cuts a
#: tile decodes it once per window, so chunks are multiples of 512 (measured here: 504-pixel
#: chunks read 1.7x slower than 512). 12 dates x 10 bands x 512^2 uint16 is 63 MB a block.
#: `chunk_for` doubles it for inputs tiled coarser, within `BLOCK_BUDGET`.
CHUNK = 512
#: Largest input block, in bytes, that `chunk_for` chooses a larger chunk for: a month of 12
#: dates in 4 bands at 1024^2. Every thread holds a block and its temporaries, so the peak
#: grows with it: measured here on 12 dates x 4 bands of 2048^2 tiled in 1024 px, 2 threads,
#: the synthesis peaked at 0.84-0.88 GiB against 0.52-0.57 in 512 px blocks, and took 1.4-1.5 s
#: against 2.5 s.
BLOCK_BUDGET = 12 * 4 * 2 * 1024**2
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
    # Only these extensions are expected over /vsicurl; others are not probed.
    "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".tif,.tiff,.TIF,.jp2,.vrt",
    # Merge adjacent byte ranges into one request: COG tiles of a window are contiguous.
    "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
    "GDAL_HTTP_MULTIPLEX": "YES",
    # Transient 5xx / throttling from object stores: retry a few times with a delay.
    "GDAL_HTTP_MAX_RETRY": "3",
    "GDAL_HTTP_RETRY_DELAY": "1",
    # Windows are aligned to COG tiles, so a decoded tile is never read twice; GDAL's block
    # cache (5 % of RAM by default) would only hold dead tiles of every open dataset, and it
    # is what makes the process peak grow with the number of inputs.
    "GDAL_CACHEMAX": 64,  # MB
    # stackstac opens with VSI_CACHE on (so that each thread's re-open of a URL is served
    # from cache). The cache belongs to the file handle and keeps up to VSI_CACHE_SIZE (25 MB
    # by default) of it: with one handle per input and thread, that grew this process by
    # ~1 GB on 12 dates x 11 assets. A COG header needs well under 1 MB.
    "VSI_CACHE_SIZE": 1024 * 1024,
}
#: Idle open datasets kept by the process (least recently used closed first): every block
#: reads every input, so the next block needs them again.
OPEN_DATASETS = 512


class _DNReader(AutoParallelRioReader):  # type: ignore[misc]  # stackstac is untyped
    """stackstac's warping reader, reading DN without a mask.

    stackstac reads ``masked=True`` and fills the mask afterwards; for a band with a nodata
    value GDAL derives that mask by decoding the band a second time. Sentinel-2 DN carry
    their nodata (0, or -10000 for MAJA) in the values and our fill value is that nodata,
    so the mask is redundant: skipping it halves the decoding.
    """

    def read(self, window: Window, **kwargs: Any) -> npt.NDArray[Any]:
        data = self.dataset.read(window=window, indexes=1, out_dtype=self.dtype, masked=False)
        result: npt.NDArray[Any] = np.asarray(data)
        return result


class _Source:
    """An open dataset and what every read of it asks: its EPSG code, transform, shape, nodata.

    Read once at open: rasterio builds these objects anew on every access, and the EPSG
    lookup alone cost 5 % of the reads' time (one lookup per read, thousands per build).
    """

    def __init__(self, href: str) -> None:
        self.dataset = rasterio.open(href)
        crs = self.dataset.crs
        self.epsg: int | None = crs.to_epsg() if crs is not None else None
        self.transform = tuple(self.dataset.transform)[:6]
        self.shape: tuple[int, int] = self.dataset.shape
        self.nodata: float | None = self.dataset.nodata
        #: The smaller side of its internal tiles (or strips), in its own pixels.
        self.tile = min(self.dataset.block_shapes[0])

    def close(self) -> None:
        self.dataset.close()


class _Pool:
    """Open sources and warping readers of this process, by (load, href), shared by threads.

    A handle is used by one thread at a time (GDAL datasets are not thread-safe): `take`
    hands out an idle one or opens another, `give` returns it. Shared rather than one per
    thread, each input is opened about once per build instead of once per thread (an open
    costs about 1 ms, as much as decoding a tile). The least recently returned handles are
    closed beyond ``limit``.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._idle: OrderedDict[tuple[str, str], list[Any]] = OrderedDict()
        self._count = 0
        self._lock = threading.Lock()

    def take(self, key: tuple[str, str], make: Any) -> Any:
        with self._lock:
            idle = self._idle.get(key)
            if idle:
                self._count -= 1
                handle = idle.pop()
                if not idle:
                    del self._idle[key]
                return handle
        return make()

    def give(self, key: tuple[str, str], handle: Any) -> None:
        with self._lock:
            self._idle.setdefault(key, []).append(handle)
            self._idle.move_to_end(key)
            self._count += 1
            while self._count > self.limit:
                oldest, idle = next(iter(self._idle.items()))
                idle.pop(0).close()
                self._count -= 1
                if not idle:
                    del self._idle[oldest]


_pool = _Pool(OPEN_DATASETS)
#: Successive multiples of it modulo 1 are spread evenly (the golden-ratio sequence).
_GOLDEN_RATIO = (5 ** 0.5 - 1) / 2


def _read_into(target: npt.NDArray[Any], load: str, href: str, grid: Grid,
               window: tuple[int, int, int, int], resampling: str, fill_value: int,
               env: dict[str, Any]) -> None:
    """Read output ``window`` of one asset into ``target``, ``fill_value`` where it has none."""
    key = (load, href)
    source: _Source = _pool.take(key, lambda: _Source(href))
    try:
        plan = None
        if source.epsg == grid.epsg:
            plan = plan_window(source.transform, source.shape, grid.transform, window)
        if plan is not None:
            _read_on_lattice(target, source, plan, resampling, fill_value)
            return
    finally:
        _pool.give(key, source)
    # A warping reader is made for one output type, resampling and fill value.
    key = (load, f"warp:{target.dtype.str}:{resampling}:{fill_value}:{href}")
    reader = _pool.take(key, lambda: _DNReader(
        url=href, spec=RasterSpec(grid.epsg, grid.bounds, (grid.resolution,) * 2),
        resampling=rasterio.enums.Resampling[resampling], dtype=target.dtype,
        fill_value=target.dtype.type(fill_value), scale_offset=(1, 0),
        gdal_env=stackstac.DEFAULT_GDAL_ENV.updated(always=env)))
    try:
        row, col, height, width = window
        target[...] = reader.read(Window(col, row, width, height))
    finally:
        _pool.give(key, reader)


def _read_on_lattice(target: npt.NDArray[Any], source: _Source, plan: WindowPlan,
                     resampling: str, fill_value: int) -> None:
    """A windowed read of a raster on a lattice simply related to the output's."""
    (r0, r1), (c0, c1) = plan.rows, plan.cols
    (o0, o1), (p0, p1) = plan.out_rows, plan.out_cols
    whole = (o0, p0, o1, p1) == (0, 0, *target.shape)
    if not whole:
        target.fill(fill_value)  # the raster does not cover the whole window
    if r1 <= r0 or c1 <= c0:
        return
    source_window = Window(c0, r0, c1 - c0, r1 - r0)
    if whole and plan.up == plan.down == 1 and target.flags.c_contiguous:
        # The usual case, a band on the output's own lattice: GDAL decodes straight into
        # the block (a copy through a temporary cost 12 % of the reads' time).
        source.dataset.read(1, window=source_window, out=target)
        return
    data = source.dataset.read(1, window=source_window, out_dtype=target.dtype)
    target[o0:o1, p0:p1] = resample(data, plan, resampling, source.nodata)


def _read_block(load: str, hrefs: tuple[tuple[str | None, ...], ...], grid: Grid,
                dtype: str, fill_value: int, resampling: str,
                env: tuple[tuple[str, Any], ...],
                block_info: dict[Any, Any] | None = None) -> npt.NDArray[Any]:
    """One spatial block of every item and asset: (T, A, rows, cols)."""
    assert block_info is not None
    (_, _), (_, assets), (r0, r1), (c0, c1) = block_info[None]["array-location"]
    # Not np.full: most slots are read whole, filling them first would write 60 MB for naught.
    out = np.empty((len(hrefs), assets, r1 - r0, c1 - c0), dtype=dtype)
    window = (r0, c0, r1 - r0, c1 - c0)
    options = dict(env)
    # One GDAL environment per block, not per read: entering one costs as much as a read of
    # a small window.
    # Blocks read at the same time start at different inputs, far apart in the list, so that
    # they rarely want the same open dataset at once (the pool would open it a second time).
    reads = [(t, a) for t in range(len(hrefs)) for a in range(assets)]
    _, _, by, bx = block_info[None]["chunk-location"]
    block = by * block_info[None]["num-chunks"][3] + bx
    first = int(len(reads) * (block * _GOLDEN_RATIO % 1.0))
    with rasterio.Env(**options):
        for t, a in reads[first:] + reads[:first]:
            href = hrefs[t][a]
            if href is None:
                out[t, a] = fill_value
                continue
            try:
                _read_into(out[t, a], load, href, grid, window, resampling, fill_value,
                           options)
            except Exception as exc:
                raise RuntimeError(f"Error reading window {window} of the output grid "
                                   f"from {href!r}: {exc!r}") from exc
    return out


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
              load: str | None = None) -> int:
    """The spatial chunk to load these assets in: `CHUNK`, or a multiple the inputs' tiles ask.

    A window that cuts an input tile decodes the whole tile, once per window: inputs tiled in
    1024 px (Earth Search's Sentinel-2 COGs) read in 512 px chunks are decoded four times,
    and the build takes twice as long. The chunk doubles while it still fits in the first
    asset's tiles (seen on the output grid) and the block of every item and asset stays
    within `BLOCK_BUDGET`. One file is opened to find out (through the pool of ``load``, so
    the reads use it again); if it cannot be, the chunk is `CHUNK`.
    """
    href = next((_href(asset) for item in items for name in assets
                 if (asset := asset_of(item, name)) is not None), None)
    if href is None:
        return CHUNK
    key = (load or new_load_key(), href)
    try:
        with rasterio.Env(**{**GDAL_ENV, **(gdal_options or {})}):
            source: _Source = _pool.take(key, lambda: _Source(href))
    except rasterio.errors.RasterioError:
        return CHUNK  # the reads will say what is wrong with it
    _pool.give(key, source)
    if source.epsg != grid.epsg:
        return CHUNK  # warped: its tiles do not map onto the output's blocks
    tile = source.tile * abs(source.transform[0]) / grid.resolution
    block_bytes = len(items) * len(assets) * np.dtype(dtype).itemsize
    chunk = CHUNK
    while 2 * chunk <= tile and block_bytes * (2 * chunk) ** 2 <= BLOCK_BUDGET:
        chunk *= 2
    return chunk


def new_load_key() -> str:
    """A key for `load_assets` that no earlier load used."""
    return uuid.uuid4().hex


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
        load: the key under which the open datasets are shared, by default one of its own.
            Loads of one build share one (each file is then opened once for all of them);
            a new key never meets a dataset opened on a file since rewritten at the same path.

    Returns:
        The DN as stored, ``fill_value`` where an item has no data or no such asset.

    """
    hrefs = tuple(
        tuple(_href(asset) if (asset := asset_of(item, name)) is not None else None
              for name in assets)
        for item in items
    )
    shape = (len(items), len(assets), *grid.shape)
    chunks = normalize_chunks(  # type: ignore[no-untyped-call]
        (len(items), len(assets), chunk, chunk), shape=shape)
    env = tuple(sorted({**GDAL_ENV, **(gdal_options or {})}.items()))
    # The key is not the array's name: a string argument equal to a graph key reads as that key.
    load = load or new_load_key()
    data: da.Array = da.map_blocks(  # type: ignore[no-untyped-call]
        _read_block, load, hrefs, grid, np.dtype(dtype).str, fill_value, resampling, env,
        chunks=chunks, dtype=np.dtype(dtype), meta=np.empty((0, 0, 0, 0), dtype=dtype),
        name=f"read-{uuid.uuid4().hex}",
    )
    return data
