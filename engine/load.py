"""Lazy loading of normalized items onto the output grid: the only module that knows stackstac.

stackstac is in maintenance mode, so every call to it lives here, behind `load_assets`, which
takes normalized items and returns a plain dask array. Swapping the loader (odc-stac, a
rasterio reader of our own) means rewriting this module only.

Why we build the STAC dicts ourselves instead of handing stackstac the source items:
- pystac >= 1.12 migrates ``proj:epsg`` to ``proj:code``, which stackstac 0.5 does not read;
  without a CRS it ignores ``proj:transform`` and builds its grid from the lon/lat bbox, 60 m
  off the Sentinel-2 pixel grid. We always write ``proj:epsg`` and give the grid explicitly.
- asset keys differ per source (``red``, ``B04``, ``B04_10m``); the normalized items key
  them by common name, so one ``assets=[...]`` list serves every catalogue.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import dask.array as da
import numpy as np
import numpy.typing as npt
import rasterio.enums
import stackstac
from rasterio.windows import Window
from stackstac.rio_reader import AutoParallelRioReader

from catalog.model import Grid, NormalizedItem, RasterAsset

#: Spatial chunk of the reduction. COG tiles are 256, 512 or 1024 pixels: a window that cuts a
#: tile decodes it once per window, so chunks are multiples of 512 (measured here: 504-pixel
#: chunks read 1.7x slower than 512). 12 dates x 10 bands x 512^2 uint16 is 63 MB a block.
CHUNK = 512
#: Chunk of the cloud-field pass, which reads the masks only: a multiple of 512 and of the
#: 240 m cell at 10, 20 and 60 m (24, 12 and 4 pixels), so blocks reduce to whole cells.
CLOUD_CHUNK = 1536

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
# VSI_CACHE is left to stackstac's layered environment: on for opens (each thread re-opens
# the same URL), off for pixel reads (never read twice, they would evict the headers).


class _DNReader(AutoParallelRioReader):  # type: ignore[misc]  # stackstac is untyped
    """stackstac's reader, reading DN without a mask.

    stackstac reads ``masked=True`` and fills the mask afterwards; for a band with a nodata
    value GDAL derives that mask by decoding the band a second time. Sentinel-2 DN carry
    their nodata (0, or -10000 for MAJA) in the values and our fill value is that nodata,
    so the mask is redundant: skipping it halves the decoding.
    """

    def read(self, window: Window, **kwargs: Any) -> npt.NDArray[Any]:
        try:
            data = self.dataset.read(window=window, indexes=1, out_dtype=self.dtype,
                                     masked=False)
        except Exception as exc:
            raise RuntimeError(f"Error reading {window} from {self.url!r}: {exc!r}") from exc
        result: npt.NDArray[Any] = np.asarray(data)
        return result


def _href(asset: RasterAsset) -> str:
    # stackstac reads single-band files only; a band of a multi-band file (MAJA's ATB holds
    # water vapour in band 1 and AOT in band 2) is exposed through GDAL's vrt:// connection.
    if asset.band_index != 1:
        return f"vrt://{asset.href}?bands={asset.band_index}"
    return asset.href


def _asset_dict(asset: RasterAsset, epsg: int) -> dict[str, Any]:
    entry: dict[str, Any] = {"href": _href(asset), "type": "image/tiff; application=geotiff"}
    if asset.grid is not None:
        entry["proj:epsg"] = asset.grid.epsg
        entry["proj:shape"] = list(asset.grid.shape)
        entry["proj:transform"] = list(asset.grid.transform)
    else:
        entry["proj:epsg"] = epsg
    return entry


def _stac_dict(item: NormalizedItem, assets: Sequence[str], target_epsg: int) -> dict[str, Any]:
    """A minimal STAC item that stackstac reads exactly: keys are our names, proj:epsg set."""
    epsg = item.epsg or target_epsg
    table: dict[str, Any] = {}
    for name in assets:
        asset = asset_of(item, name)
        if asset is not None:
            table[name] = _asset_dict(asset, epsg)
    west, south, east, north = item.bbox
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "id": item.id,
        "bbox": list(item.bbox),
        "geometry": {
            "type": "Polygon",
            "coordinates": [[[west, south], [east, south], [east, north], [west, north],
                             [west, south]]],
        },
        "properties": {"datetime": item.datetime.isoformat(), "proj:epsg": epsg},
        "assets": table,
        "links": [],
    }


def asset_of(item: NormalizedItem, name: str) -> RasterAsset | None:
    """The asset behind a loader name: a band's common name, ``scl``, ``clm``, ``mg2``, ``aot``."""
    if name in item.bands:
        return item.bands[name]
    if name == "aot":
        return item.aot
    return getattr(item.masks, name, None) if name in ("scl", "clm", "mg2") else None


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

    Returns:
        The DN as stored, ``fill_value`` where an item has no data or no such asset.

    """
    dicts = [_stac_dict(item, assets, grid.epsg) for item in items]
    array = stackstac.stack(
        dicts,
        assets=list(assets),
        epsg=grid.epsg,
        resolution=grid.resolution,
        bounds=grid.bounds,
        snap_bounds=False,
        resampling=rasterio.enums.Resampling[resampling],
        chunksize=(-1, -1, chunk, chunk),
        # stackstac under numpy 2 wants a numpy-typed fill value matching the dtype.
        dtype=np.dtype(dtype),
        fill_value=np.dtype(dtype).type(fill_value),
        rescale=False,
        sortby_date=False,
        properties=False,
        band_coords=False,
        xy_coords="center",
        gdal_env=stackstac.DEFAULT_GDAL_ENV.updated(always={**GDAL_ENV, **(gdal_options or {})}),
        reader=_DNReader,
    )
    data: da.Array = array.data
    if data.shape[-2:] != grid.shape:
        raise RuntimeError(f"loader grid {data.shape[-2:]} differs from the order's {grid.shape}")
    return data
