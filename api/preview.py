"""Preview tiles served without an order: searches and rendered tiles kept, bounded.

The science is `engine.preview` (a tile computed with the engine's own methods); this module
finds the tile's scenes, keeps what is worth keeping, and draws the layers as the products'
tiles are drawn (`api.tiles.styles`):

- a search per period and area (the tile's ancestor at the preview's minimum zoom, so a map
  view's tiles share one), kept ``L3A_PREVIEW_SEARCH_TTL_S`` seconds;
- rendered tiles in a bounded LRU keyed by the scenes the tile was made of (their ids, dates
  and files: the catalogue's state), the parameters and the tile;
- the synthesis' cloud fields of blocks of about 28 km (`engine.preview.FieldCache`), so
  that neighbouring tiles, and the zooms of one place, read the masks of a margin once;
- at most one tile computed per core at once: a map asks for a dozen tiles together, and
  the service's other requests must still be answered.

The engine is imported on the first preview, not at start-up: a service whose users never
preview does not load dask and numba's kernels (`tests/engine/test_contract.py`).
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from cachetools import LRUCache, TTLCache

from api.jobs import sources
from api.settings import Settings
from api.tiles.styles import PRESETS, REFLECTANCE, Preset, Stretch, legend
from engine.contract import METHODS, QUALITY
from engine.errors import InvalidParameter
from engine.period import Period

if TYPE_CHECKING:
    from catalog.model import NormalizedItem
    from engine.preview import FieldCache, Tile

Format = Literal["png", "webp"]
MEDIA = {"png": "image/png", "webp": "image/webp"}
#: Reflectance is drawn as the products' ``rgb`` layers are: DN of scale 1e-4.
REFLECTANCE_DN = 10_000.0
#: Searches kept at most (one per period and area): a client roaming the world must not grow
#: the service's memory for the searches' time to live.
MAX_SEARCHES = 256
#: Fixed stretches of the preview (a product's come from its own statistics, which a preview
#: does not have): reflectance x 10000 from 0 to 0.3, medoid distances 0 to 0.1.
REFLECTANCE_RANGE = (0.0, 3000.0)
DISTANCE_RANGE = (0.0, 0.1)
#: Days between two observations of a pixel where Sentinel-2A and 2B orbits overlap (5 days
#: each, two relative orbits): the top of the count and weight stretches.
OBSERVATION_INTERVAL_DAYS = 2.5


@dataclass(frozen=True)
class PreviewRequest:
    """What a preview tile shows: checked parameters, hashable for the caches."""

    period: Period
    method: str
    layer: str
    cloud_mask: str
    size: int
    fmt: Format

    @property
    def preset(self) -> Preset:
        """The layer, drawn as the products' layer of the same name."""
        return PRESETS[self.layer]

    @property
    def bands(self) -> tuple[str, ...]:
        """The reflectance bands the engine computes: the layer's, or red for a quality one."""
        bands = tuple(a for a in self.preset.assets if a in REFLECTANCE)
        return bands or ("red",)


def check_request(period: Period, method: str, layer: str, cloud_mask: str, size: int,
                  fmt: str) -> PreviewRequest:
    """The parameters of a preview, or the input at fault.

    Raises:
        InvalidParameter: naming ``method``, ``layer``, ``tilesize`` or ``format``.

    """
    if method not in METHODS:
        raise InvalidParameter("method", f"{method!r} is not one of {', '.join(METHODS)}")
    if layer not in PRESETS:
        raise InvalidParameter("layer", f"{layer!r} is not one of {', '.join(PRESETS)}")
    quality = {q.key for q in QUALITY[method]}
    missing = [a for a in PRESETS[layer].assets if a not in REFLECTANCE and a not in quality]
    if missing:
        raise InvalidParameter("layer", f"{layer!r} is not a layer of the {method}: choose "
                               f"a band, rgb, falsecolor or one of {', '.join(sorted(quality))}")
    if size not in (256, 512):
        raise InvalidParameter("tilesize", f"{size} is not 256 or 512")
    known: dict[str, Format] = {"png": "png", "webp": "webp"}
    if fmt not in known:
        raise InvalidParameter("format", f"{fmt!r} is not one of {', '.join(MEDIA)}")
    return PreviewRequest(period, method, layer, cloud_mask, size, known[fmt])


class BelowMinZoom(Exception):
    """A tile below the preview's minimum zoom: answered 204, with the reason."""


class NothingHere(Exception):
    """No scene of the period over the tile: answered 204, with the reason."""


class Abandoned(Exception):
    """The client left before the tile's turn came: not computed."""


class PreviewService:
    """The searches and tiles of the previews of one running service."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # The time is looked up at each call (not bound here), so that tests can move it.
        self._searches: TTLCache[tuple[Any, ...], list[NormalizedItem]] = TTLCache(
            maxsize=MAX_SEARCHES, ttl=settings.preview_search_ttl_s,
            timer=lambda: time.monotonic())
        # Rendered tiles, least recently used out (none kept with a size of 0).
        self._tiles: LRUCache[tuple[Any, ...], bytes] = LRUCache(
            maxsize=max(1, settings.preview_cache_tiles))
        self._lock = threading.Lock()
        self._computing = threading.BoundedSemaphore(max(1, os.cpu_count() or 1))
        self._fields: FieldCache | None = None  # made with the first tile
        self.computed = 0  # tiles computed since start (the cache's misses)
        self.abandoned = 0  # tiles whose client left before their turn

    def tile(self, request: PreviewRequest, z: int, x: int, y: int,
             still_wanted: Callable[[], bool] = lambda: True) -> bytes:
        """The rendered tile.

        ``still_wanted`` is asked when the tile's turn to be computed comes: a web map cancels
        the tiles that a pan or a zoom moved out of view, often before their turn, and a tile
        no one waits for must not delay the ones someone does.

        Raises:
            BelowMinZoom: ``z`` below the preview's minimum zoom.
            NothingHere: no scene of the period over the tile.
            Abandoned: ``still_wanted`` said no; nothing was computed.
            InvalidParameter: a parameter the catalogue's scenes cannot serve.

        """
        from engine.preview import Tile

        if z < self.settings.preview_min_zoom:
            raise BelowMinZoom(f"zoom {z} is below the preview's minimum zoom "
                               f"{self.settings.preview_min_zoom}: zoom in")
        tile = Tile(z, x, y, request.size)
        items = self._items(request.period, tile)
        if not items:
            raise NothingHere(f"no scene of {request.period.label} over this tile")
        key = (_state(items), request, z, x, y)
        with self._lock:
            cached = self._tiles.get(key)
        if cached is not None:
            return cached
        with self._computing:
            if not still_wanted():
                with self._lock:
                    self.abandoned += 1
                raise Abandoned("the client left before the tile's turn")
            image = self._render(request, items, tile)
        with self._lock:
            self.computed += 1
            if self.settings.preview_cache_tiles > 0:
                self._tiles[key] = image
        return image

    @property
    def cached_tiles(self) -> int:
        """Rendered tiles kept now."""
        return len(self._tiles)

    def extent(self, period: Period) -> tuple[float, float, float, float] | None:
        """Lon/lat bounds of the period's scenes when the catalogue is a local file, else None.

        An item file (the demo's) is searched whole at no cost, so the TileJSON can tell a map
        where the preview has something to show; a STAC API is not searched for the whole world.
        """
        from catalog.search import locate_source

        if locate_source(self._target()).path is None:
            return None
        items = self._search(period, "world", (-180.0, -90.0, 180.0, 90.0))
        if not items:
            return None
        return (min(i.bbox[0] for i in items), min(i.bbox[1] for i in items),
                max(i.bbox[2] for i in items), max(i.bbox[3] for i in items))

    def _items(self, period: Period, tile: Tile) -> list[NormalizedItem]:
        """The period's scenes over the tile, from a search of its area at the minimum zoom."""
        from engine.preview import items_over

        area = tile.ancestor(self.settings.preview_min_zoom)
        return items_over(self._search(period, (area.z, area.x, area.y), area.lonlat_bounds),
                          tile)

    def _search(self, period: Period, area: Any, bbox: tuple[float, float, float, float]
                ) -> list[NormalizedItem]:
        """The period's scenes over ``bbox``, searched once per period, area and TTL."""
        from catalog.search import search

        key = (self.settings.source, period.label, area)
        with self._lock:
            found = self._searches.get(key)
        if found is None:
            found = search(self._target(), bbox, *period.search_interval())
            with self._lock:
                self._searches[key] = found
        return found

    def _target(self) -> str:
        """What `catalog.search` is given for the service's catalogue."""
        return sources.resolve(None, self.settings, local_user=True).searchable(
            self.settings.data_dir)

    def _render(self, request: PreviewRequest, items: list[NormalizedItem], tile: Tile
                ) -> bytes:
        from engine.preview import FieldCache, preview_layers

        with self._lock:
            if self._fields is None:
                self._fields = FieldCache()
        keys, layers = preview_layers(items, request.period, request.method, request.bands,
                                      request.cloud_mask, tile,
                                      gdal_options=self.settings.gdal_options or None,
                                      fields=self._fields)
        preset = request.preset
        data = np.stack([layers[keys.index(a)] for a in preset.assets])
        if all(a in REFLECTANCE for a in preset.assets):
            data = data * REFLECTANCE_DN
        rescale = preview_range(preset, request)
        return render(data, preset, rescale, request.fmt)


def preview_range(preset: Preset, request: PreviewRequest) -> tuple[float, float] | None:
    """The value range a preview layer is stretched over (None: categorical)."""
    stretch = preset.stretch
    if stretch is Stretch.NONE:
        return None
    if stretch is Stretch.SYMMETRIC:
        half = request.period.half_window_days
        return -half, half
    if stretch is Stretch.PERCENTILES:
        return REFLECTANCE_RANGE
    if preset.name == "medoid_distance":
        return DISTANCE_RANGE
    # Counts and weight sums: at most one per scene. The same range on every tile (no seams
    # between tiles of different scene counts) and in the legend: the scenes a pixel may
    # see in the window, one every OBSERVATION_INTERVAL_DAYS.
    window_days = 2 * request.period.half_window_days + 1
    return 0.0, float(max(1, round(window_days / OBSERVATION_INTERVAL_DAYS)))


def preview_legend(request: PreviewRequest) -> dict[str, Any]:
    """The legend of a preview layer, in the products' form (`api.tiles.styles.legend`)."""
    return legend(request.preset, preview_range(request.preset, request))


def render(data: np.ndarray, preset: Preset, rescale: tuple[float, float] | None,
           fmt: Format) -> bytes:
    """(bands, y, x) float32 values, NaN where there is nothing, as an image of the preset."""
    from rio_tiler.models import ImageData

    invalid = ~np.isfinite(data).all(axis=0)
    if preset.nodata is not None:
        invalid |= (data == preset.nodata).all(axis=0)
    values = np.nan_to_num(data)
    if rescale is None:  # class values go through the discrete colormap as they are
        values = values.astype("uint8")
    image = ImageData(np.ma.MaskedArray(values, mask=np.broadcast_to(invalid, data.shape)))
    if rescale is not None:
        image.rescale(in_range=[rescale] * data.shape[0])
    out: bytes = image.render(img_format=fmt.upper(), colormap=preset.colormap())
    return out


def _state(items: list[NormalizedItem]) -> str:
    """The catalogue's state as far as a tile is concerned: its scenes, dates and files."""
    digest = hashlib.sha256()
    for item in items:
        hrefs = ",".join(asset.href for asset in item.bands.values())
        digest.update(f"{item.id}\t{item.datetime.isoformat()}\t{hrefs}\n".encode())
    return digest.hexdigest()
