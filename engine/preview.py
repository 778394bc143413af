"""Preview tiles: the engine's own methods on one web-map tile, computed when it is asked for.

A preview tile is a tiny order whose grid is the tile itself (Web Mercator, 256 or 512 px):
each observation is read already warped onto the tile by rio-tiler, from the overview GDAL
picks for the tile's pixel size (one decoded COG tile or two per band at low zoom, where an
order at full resolution would decode a hundred), and the block goes through the same
functions as a product's blocks (`engine.blocks.reduce_block`: classes, same-acquisition
merge, temporal screen and haze test, W_cloud, the method's reduction).

What differs from the ordered product, and why the two agree only "up to resampling":

- pixels are sampled by nearest neighbour from the tile's overview, not on the product's
  UTM lattice;
- W_cloud's cells are the tile's pixels times a whole ``factor`` (about 240 m on the ground,
  as in a product, but not the same cells), and its cloud field is computed from the SCL read
  at three samples a cell side over the tile's block (`field_block`) and a margin of
  `MARGIN_CELLS` cells (three sigmas of the large Gaussian: a cloud further away weighs
  about 1 % of a cloud next to the pixel), where a product counts every pixel of its own
  area; the AOT is one sample a cell of the same area;
- the CNN mask is not run (about 3 s a megapixel): a chain with ``cnn`` is previewed without
  it, and says so (`preview_chain`).

`tests/engine/test_preview.py` measures the difference against an ordered product.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

import morecantile
import numpy as np
import numpy.typing as npt
import rasterio
from cachetools import LRUCache
from rasterio.crs import CRS
from rio_tiler.errors import TileOutsideBounds
from rio_tiler.io import Reader

from catalog.model import MaskFlavour, NormalizedItem
from catalog.normalize import MAJA_NODATA
from engine import cloud_weight
from engine.blocks import BlockContext, coarse_cloud_block, reduce_block
from engine.load import gdal_env
from engine.masks import chain as mask_chain
from engine.methods import get_method
from engine.methods.base import F32
from engine.observations import maja_to_offset_dn, prepare
from engine.period import Period

WEB_MERCATOR = CRS.from_epsg(3857)
_QUAD = morecantile.tms.get("WebMercatorQuad")
#: Cells of cloud field read around a block of tiles: 3 sigmas of the large Gaussian. Against
#: 4, the field's reads shrink by a quarter and the agreement with the product measured the
#: same (`tests/engine/test_preview.py`).
MARGIN_CELLS = int(3 * cloud_weight.SIGMA_LARGE)
#: SCL samples per cell side for the cloud field: the share of cloud of a cell in ninths. Four
#: (sixteenths) agreed with the product no better and cost 1.8 times the pixels; two did not
#: agree (99th percentile 5.4e-3).
SAMPLES_PER_CELL = 3
#: Tiles share the cloud field of their ancestor at this zoom (about 28 km at 45 degrees, a
#: few input scenes at most), so that neighbours, and the zooms of one place, read the
#: margin's masks once...
FIELD_ZOOM = 10
#: ... from this zoom on, where the cells can be the same metres at every zoom.
FACTOR_ZOOM = 11
#: Reads in flight at once: GDAL releases the GIL while it reads and decodes.
READ_THREADS = 8
#: Equatorial circumference of the Web Mercator sphere, metres.
_WORLD = 2 * math.pi * 6378137.0


@dataclass(frozen=True)
class Tile:
    """An XYZ tile of the Web Mercator quad and its size in pixels."""

    z: int
    x: int
    y: int
    size: int = 256

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(west, south, east, north) in EPSG:3857 metres."""
        b = _QUAD.xy_bounds(morecantile.Tile(self.x, self.y, self.z))
        return b.left, b.bottom, b.right, b.top

    @property
    def lonlat_bounds(self) -> tuple[float, float, float, float]:
        """(west, south, east, north) in degrees."""
        b = _QUAD.bounds(morecantile.Tile(self.x, self.y, self.z))
        return b.left, b.bottom, b.right, b.top

    def ancestor(self, zoom: int) -> Tile:
        """The tile containing this one at ``zoom`` (itself when it is not deeper)."""
        if self.z <= zoom:
            return self
        shift = self.z - zoom
        return Tile(zoom, self.x >> shift, self.y >> shift, self.size)

    @property
    def pixel(self) -> float:
        """Pixel size in Web Mercator metres."""
        return float(_WORLD / 2**self.z / self.size)

    @property
    def cos_lat(self) -> float:
        """Cosine of the tile's centre latitude: ground metres per Web Mercator metre."""
        _, south, _, north = self.lonlat_bounds
        return math.cos(math.radians((south + north) / 2))



def preview_chain(cloud_mask: str, flavour: MaskFlavour) -> mask_chain.MaskChain:
    """The chain a preview applies for an order's ``cloud_mask``: the same, without the CNN.

    Raises:
        InvalidParameter: ``cloud_mask`` the items cannot take (as an order would be refused).

    """
    return replace(mask_chain.resolve(cloud_mask, flavour), cnn=False)


def items_over(items: Sequence[NormalizedItem], tile: Tile) -> list[NormalizedItem]:
    """The items whose footprint box meets the tile's."""
    west, south, east, north = tile.lonlat_bounds
    return [item for item in items
            if item.bbox[0] < east and item.bbox[2] > west
            and item.bbox[1] < north and item.bbox[3] > south]


def field_block(tile: Tile) -> Tile:
    """The block of tiles whose cloud field ``tile`` shares: its ancestor at `FIELD_ZOOM`.

    Tiles coarser than `FACTOR_ZOOM` (or than `FIELD_ZOOM`) have a field of their own.
    """
    if _fine_zoom(tile) < FACTOR_ZOOM or tile.z < FIELD_ZOOM:
        return tile
    return tile.ancestor(FIELD_ZOOM)


def cell_factor(tile: Tile) -> int:
    """Tile pixels per cloud cell: about 240 m on the ground, the same cells at every zoom.

    From `FACTOR_ZOOM` down, the factor is the one of `FACTOR_ZOOM` doubled at each zoom, so
    that the cells of a block are the same metres whatever the zoom: one field then serves
    the block's tiles at every zoom (a user zooming in reads no mask twice). The cell is
    within 15 % of 240 m wherever Sentinel-2 flies.
    """
    block = field_block(tile)
    fine = _fine_zoom(tile)
    if fine < FACTOR_ZOOM or block is tile:
        return max(1, round(cloud_weight.COARSE_CELL_M / (tile.pixel * tile.cos_lat)))
    base_pixel = _WORLD / 2**FACTOR_ZOOM / 256
    base = max(1, round(cloud_weight.COARSE_CELL_M / (base_pixel * block.cos_lat)))
    return int(base) << (fine - FACTOR_ZOOM)


def _fine_zoom(tile: Tile) -> int:
    """The zoom whose 256 px tiles have the tile's pixel size (a 512 px tile is one deeper)."""
    return tile.z + (tile.size // 256).bit_length() - 1


@dataclass(frozen=True)
class BlockField:
    """What the tiles of a block share: the synthesis' blurred cloud fields, and the AOT.

    ``gs``, ``gl``: (T, cells, cells) over the block and its margin. ``aot``: the items' AOT
    DN, one sample a cell over the same area, (T_items, 1, cells, cells), or None: aerosols
    vary over kilometres, so a tile takes its AOT from here rather than reading it again.
    """

    gs: F32
    gl: F32
    aot: npt.NDArray[np.uint16] | None


class FieldCache:
    """The `BlockField` of the latest blocks of tiles, shared by their tiles."""

    def __init__(self, size: int = 32) -> None:
        self._fields: LRUCache[tuple[Any, ...], BlockField] = LRUCache(maxsize=size)
        self._lock = threading.Lock()  # cachetools' caches are not thread-safe

    def get(self, key: tuple[Any, ...]) -> BlockField | None:
        """The field kept under ``key``, if any (and keep it longer)."""
        with self._lock:
            return self._fields.get(key)

    def put(self, key: tuple[Any, ...], field: BlockField) -> None:
        """Keep ``field``; forget the least recently used beyond the size."""
        with self._lock:
            self._fields[key] = field


def preview_layers(items: Sequence[NormalizedItem], period: Period, method_name: str,
                   bands: Sequence[str], cloud_mask: str, tile: Tile,
                   gdal_options: Mapping[str, Any] | None = None,
                   fields: FieldCache | None = None,
                   ) -> tuple[list[str], npt.NDArray[np.float32]]:
    """The method's layers on ``tile``: (keys, (L, size, size) float32), as a product's block.

    Args:
        items: the catalogue's items of the period around the tile (others are left out).
        period: the order's period.
        method_name: a method of `engine.contract.METHODS`.
        bands: the ordered bands, the layers' first keys.
        cloud_mask: the order's chain (`preview_chain` says what is applied).
        tile: where.
        gdal_options: GDAL settings over the engine's defaults (HTTP, credentials).
        fields: where the cloud fields of blocks of tiles are kept between tiles (the
            synthesis' field of a tile is its block's, `field_block`).

    Raises:
        NoObservations: no item in the period's window over the tile.
        InvalidParameter: a band or a chain the items cannot serve.

    """
    method = get_method(method_name, period)
    block = field_block(tile)
    # The block's scenes, not only the tile's: every tile of a block then has the
    # observations its shared cloud field was computed for (a scene off the tile is nodata).
    over = items_over(items, block)
    flavour = over[0].masks.flavour if over else MaskFlavour.SCL
    chain = preview_chain(cloud_mask, flavour)
    inputs = prepare(over, period, bands, chain.name, method)
    factor = cell_factor(tile)
    context = BlockContext(
        method=method, bands=inputs.bands,
        output_bands=tuple(inputs.bands.index(b) for b in bands),
        flavour=inputs.flavour, groups=inputs.groups, scale=inputs.scale,
        offset=inputs.offset, days=inputs.days, aot_scale=inputs.aot_scale,
        chain=inputs.chain, dilation_px=0, factor=factor,
    )
    mask_keys = ("scl",) if inputs.flavour is MaskFlavour.SCL else ("clm", "mg2")
    # The field's grid: the block and a margin of MARGIN_CELLS, in the tile's zoom pixels.
    shift = tile.z - block.z
    span_px = tile.size << shift
    row0 = (block.y << shift) * tile.size - MARGIN_CELLS * factor
    col0 = (block.x << shift) * tile.size - MARGIN_CELLS * factor
    cells = -(-(span_px + 2 * MARGIN_CELLS * factor) // factor)
    # The same cells in metres at every zoom (`cell_factor`): one field for the block's tiles.
    key = (tuple(item.id for item in inputs.items), chain.name, round(factor * tile.pixel, 3),
           block.z, block.x, block.y)
    cached = fields.get(key) if fields is not None and method.needs_cloud_weight else None
    here = _Window(tile.bounds, tile.size)
    coarse = _Window(_pixel_bounds(tile, row0, col0, cells * factor), cells * SAMPLES_PER_CELL)
    needs_field = method.needs_cloud_weight and cached is None
    with rasterio.Env(**dict(gdal_env(gdal_options))), ThreadPoolExecutor(READ_THREADS) as pool:
        maja = inputs.flavour is MaskFlavour.MAJA
        dn = pool.submit(_stack, pool, [[item.bands[b].href for b in inputs.bands]
                                        for item in inputs.items], here,
                         "int16" if maja else "uint16", MAJA_NODATA if maja else 0)
        masks = pool.submit(_stack, pool, [[_mask_href(item, k) for k in mask_keys]
                                           for item in inputs.items], here, "uint8")
        coarse_masks = (pool.submit(_stack, pool, [[_mask_href(item, k) for k in mask_keys]
                                                   for item in inputs.items], coarse, "uint8")
                        if needs_field else None)
        # Only the synthesis weighs by aerosols: the other methods would read it for nothing.
        # One AOT sample a cell: aerosols vary over kilometres (Sen2Cor estimates them on
        # large windows), so a coarse overview serves, at a sixteenth of the SCL's reads.
        coarse_aot = (pool.submit(_stack, pool, [[item.aot.href if item.aot else None]
                                                 for item in inputs.items],
                                  _Window(coarse.bounds, cells), "uint16")
                      if needs_field and inputs.has_aot else None)
        dn_block, mask_block = dn.result(), masks.result()
        if needs_field:
            assert coarse_masks is not None
            fraction = coarse_cloud_block(coarse_masks.result(),
                                          replace(context, factor=SAMPLES_PER_CELL))
            cached = BlockField(*cloud_weight.blurred_cloud_fields(fraction),
                                aot=coarse_aot.result() if coarse_aot is not None else None)
            if fields is not None:
                fields.put(key, cached)
    if inputs.flavour is MaskFlavour.MAJA:
        dn_block = maja_to_offset_dn(dn_block)
    aot_block = None
    if cached is not None:
        context = replace(context, gs=cached.gs, gl=cached.gl)
        if cached.aot is not None:
            # Each pixel of the tile takes the sample of the cell it falls in.
            rows = (tile.y * tile.size - row0 + np.arange(tile.size)) // factor
            cols = (tile.x * tile.size - col0 + np.arange(tile.size)) // factor
            aot_block = cached.aot[:, :, rows[:, None], cols[None, :]]
    y0, x0 = tile.y * tile.size - row0, tile.x * tile.size - col0
    location = {0: {"array-location": [(0, 0), (0, 0), (y0, y0 + tile.size),
                                       (x0, x0 + tile.size)]}}
    layers = reduce_block(dn_block, mask_block, aot_block, context, location)
    return [*bands, *(q.key for q in method.quality)], layers


def _pixel_bounds(tile: Tile, row: int, col: int, span: int) -> tuple[float, float, float, float]:
    """Web Mercator bounds of ``span`` x ``span`` pixels of the tile's zoom from (row, col)."""
    west = -_WORLD / 2 + col * tile.pixel
    north = _WORLD / 2 - row * tile.pixel
    return west, north - span * tile.pixel, west + span * tile.pixel, north


@dataclass(frozen=True)
class _Window:
    """Where to read, in Web Mercator, and how many pixels a side."""

    bounds: tuple[float, float, float, float]
    size: int


def _mask_href(item: NormalizedItem, key: str) -> str | None:
    asset = getattr(item.masks, key)
    return asset.href if asset is not None else None


def _stack(pool: ThreadPoolExecutor, hrefs: list[list[str | None]], window: _Window,
           dtype: str, fill: int = 0) -> npt.NDArray[Any]:
    """(T, B, size, size) of every item's assets over ``window``, read in parallel."""
    futures = [[pool.submit(_read, href, window, dtype, fill) if href else None
                for href in row] for row in hrefs]
    out = np.full((len(hrefs), len(hrefs[0]), window.size, window.size), fill, dtype=dtype)
    for t, row in enumerate(futures):
        for b, future in enumerate(row):
            if future is not None:
                out[t, b] = future.result()
    return out


def _read(href: str, window: _Window, dtype: str, fill: int) -> npt.NDArray[Any]:
    """One asset warped onto ``window`` by nearest neighbour; ``fill`` (nodata) outside it."""
    try:
        with Reader(href) as src:
            image = src.part(window.bounds, dst_crs=WEB_MERCATOR, bounds_crs=WEB_MERCATOR,
                             height=window.size, width=window.size, indexes=1,
                             resampling_method="nearest", reproject_method="nearest")
    except TileOutsideBounds:
        return np.full((window.size, window.size), fill, dtype=dtype)
    data = np.ma.filled(image.array[0], fill)
    return np.asarray(data, dtype=dtype)

