"""The engine benchmark's workload: 12 acquisitions x 10 bands + SCL as local DEFLATE COGs.

Generated once per size into a cache folder, in the Earth Search ``sentinel-2-c1-l2a``
item layout, so l3a reads it through its normal catalogue path. Pixel content is smooth
fields plus sensor-like noise (it compresses like real reflectance, not like white noise),
and the SCL has cloud blobs covering 0-70 % per date, so masks and weights do real work.

Two file layouts (``layout``):

- ``plain`` (the default, the engine benchmark's): every band and the SCL at 10 m, COGs
  tiled in 512 px;
- ``earth-search``: what Earth Search serves: 1024 px tiles, blue, green, red and nir at
  10 m, the other six bands and the SCL at 20 m (half the pixels, same origin), files named
  like Earth Search's (``B02.tif`` ... ``SCL.tif``) and items declaring their extensions.
  Its pixels are the plain layout's (same seed), averaged 2 x 2 (SCL: by majority) at 20 m.

`unaligned_bbox` gives the user-facing order: a lon/lat bbox typed by hand, whose UTM grid
starts and ends inside input tiles, not on their edges.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import rasterio
from rasterio.transform import from_origin
from scipy import ndimage

if TYPE_CHECKING:
    from catalog.model import NormalizedItem
    from engine.contract import Order

BANDS = ("blue", "green", "red", "rededge1", "rededge2", "rededge3", "nir", "nir08",
         "swir16", "swir22")
N_DATES = 12
EPSG = 32631
ORIGIN = (300000.0, 4900020.0)  # the corner of MGRS tile 31TCJ
RESOLUTION = 10.0
PERIOD = "2024-07"
CACHE = Path(os.environ.get("L3A_BENCH_CACHE", Path.home() / ".cache" / "l3a-bench"))
Layout = Literal["plain", "earth-search"]
LAYOUTS: tuple[Layout, ...] = ("plain", "earth-search")
#: Earth Search's internal COG tile, at every resolution.
EARTH_SEARCH_TILE = 1024
#: The bands Sentinel-2 samples at 10 m; Earth Search serves the others (and the SCL) at 20 m.
BANDS_10M = frozenset({"blue", "green", "red", "nir"})
#: Earth Search ``sentinel-2-c1-l2a`` file names, by asset key.
EARTH_SEARCH_FILES = {
    "blue": "B02", "green": "B03", "red": "B04", "rededge1": "B05", "rededge2": "B06",
    "rededge3": "B07", "nir": "B08", "nir08": "B8A", "swir16": "B11", "swir22": "B12",
    "scl": "SCL",
}
EARTH_SEARCH_EXTENSIONS = [
    "https://stac-extensions.github.io/eo/v1.1.0/schema.json",
    "https://stac-extensions.github.io/projection/v1.1.0/schema.json",
    "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
]
#: Where `unaligned_bbox` starts, east and south of the grid's top-left corner, in metres: on
#: no tile edge (tiles are multiples of 5120 m) nor on the 20 m lattice (l3a's grid of it
#: starts at 1250 m and 790 m: half-way through a 20 m pixel).
UNALIGNED_OFFSET = (1234.0, 770.0)
#: The side of the UTM square `unaligned_bbox` is inscribed in, in metres (1900 px at 10 m).
UNALIGNED_SIDE = 19000.0


def _smooth(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    coarse = rng.random((cells, cells), dtype=np.float32)
    return np.asarray(ndimage.zoom(coarse, size / cells, order=1)[:size, :size])


def _write(path: Path, data: np.ndarray, nodata: int, tile: int,
           resolution: float = RESOLUTION) -> None:
    size = data.shape[0]
    profile = {
        "driver": "COG", "width": size, "height": size, "count": 1, "dtype": data.dtype.name,
        "crs": f"EPSG:{EPSG}", "transform": from_origin(*ORIGIN, resolution, resolution),
        "nodata": nodata, "compress": "DEFLATE", "blocksize": tile,
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)


def _halve(data: np.ndarray) -> np.ndarray:
    """The 2 x 2 block means of ``data`` (float64), its 20 m version."""
    size = data.shape[0] // 2
    return np.asarray(data.reshape(size, 2, size, 2).mean(axis=(1, 3)))


def items_file(size: int = 2048, *, tile: int | None = None, n_dates: int = N_DATES,
               bands: tuple[str, ...] = BANDS, root: Path = CACHE,
               layout: Layout = "plain") -> Path:
    """Where `workload` keeps the items.ndjson of these parameters (it may not exist yet).

    One cache folder per layout, size, tiling and shape of the stack.
    """
    if tile is None:
        tile = 512 if layout == "plain" else EARTH_SEARCH_TILE
    if layout == "plain":
        tiling = "" if tile == 512 else f"-tiled{tile}"
        name = f"s2-{n_dates}x{len(bands)}-{size}{tiling}"
    else:
        tiling = "" if tile == EARTH_SEARCH_TILE else f"-tiled{tile}"
        name = f"s2-earthsearch-{n_dates}x{len(bands)}-{size}{tiling}"
    return root / name / "items.ndjson"


def _grid_fields(size: int, resolution: float) -> dict[str, Any]:
    """``proj:shape``/``proj:transform`` of a file of the workload at ``resolution``."""
    side = round(size * RESOLUTION / resolution)
    return {"proj:shape": [side, side],
            "proj:transform": [resolution, 0, ORIGIN[0], 0, -resolution, ORIGIN[1]]}


def _earth_search_asset(asset: dict[str, Any], key: str, size: int,
                        resolution: float) -> dict[str, Any]:
    """An asset as Earth Search describes it: gsd and spatial resolution, its own grid."""
    asset = {**asset, "gsd": resolution, **_grid_fields(size, resolution)}
    asset["raster:bands"] = [{**asset["raster:bands"][0], "spatial_resolution": resolution}]
    if key != "scl":
        asset["title"] = f"{key} - {resolution:g}m"
    return asset


def workload(size: int = 2048, *, tile: int | None = None, n_dates: int = N_DATES,
             bands: tuple[str, ...] = BANDS, root: Path = CACHE,
             layout: Layout = "plain") -> Path:
    """The items.ndjson of the workload of ``size`` x ``size`` pixels (generated if missing).

    The benchmark's is the default; tests make smaller ones (fewer dates and bands, in their
    own ``root``), and ``tile`` gives the COGs' internal tile size (None: the layout's own,
    512 plain, 1024 Earth Search). ``size`` is the 10 m side; an ``earth-search`` workload
    needs it even (its 20 m files are ``size // 2`` pixels).
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout {layout!r} is not one of {LAYOUTS}")
    if layout == "earth-search" and size % 2:
        raise ValueError(f"an earth-search workload needs an even size, not {size}")
    items_path = items_file(size, tile=tile, n_dates=n_dates, bands=bands, root=root,
                            layout=layout)
    if tile is None:
        tile = 512 if layout == "plain" else EARTH_SEARCH_TILE
    folder = items_path.parent
    if items_path.exists():
        return items_path
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(42)
    land = _smooth(rng, size, 32)
    base = {b: 0.02 + 0.3 * land * (i + 1) / len(BANDS) for i, b in enumerate(bands)}
    lines = []
    first = datetime(2024, 6, 24, 10, 30, tzinfo=UTC)
    for t in range(n_dates):
        when = first + timedelta(days=4 * t)
        item_id = f"S2{'AB'[t % 2]}_31TCJ_{when:%Y%m%d}_0_L2A"
        (folder / item_id).mkdir(exist_ok=True)
        cloud = _smooth(rng, size, 16) > (1.0 - 0.7 * (t % 4) / 3.0)
        writer = _FileWriter(folder, item_id, size, tile, layout)
        assets = {"scl": {"href": writer.scl(cloud), "type": "image/tiff",
                          "roles": ["data"], "raster:bands": [{"nodata": 0,
                                                               "data_type": "uint8"}]}}
        for b in bands:
            rho = base[b] + np.where(cloud, 0.4, 0.0) + rng.normal(0, 0.004, (size, size))
            assets[b] = {"href": writer.band(b, rho), "type": "image/tiff",
                         "roles": ["data", "reflectance"],
                         "eo:bands": [{"name": b, "common_name": b}],
                         "raster:bands": [{"nodata": 0, "data_type": "uint16",
                                           "scale": 0.0001, "offset": -0.1}]}
        for key, asset in assets.items():
            if layout == "plain":
                asset.update(_grid_fields(size, RESOLUTION))
            else:
                assets[key] = _earth_search_asset(asset, key, size, _resolution_of(key))
        item: dict[str, Any] = {
            "type": "Feature", "stac_version": "1.0.0", "id": item_id,
            "collection": "sentinel-2-c1-l2a",
            "bbox": list(lonlat_bbox(size)),
            "geometry": None,
            "properties": {"datetime": when.isoformat().replace("+00:00", "Z"),
                           "platform": f"sentinel-2{'ab'[t % 2]}", "proj:epsg": EPSG,
                           "s2:processing_baseline": "05.10",
                           "s2:datatake_id": f"GS2{'AB'[t % 2]}_{when:%Y%m%dT103031}_0_N05.10",
                           "eo:cloud_cover": float(cloud.mean() * 100)},
            "assets": assets, "links": [],
        }
        if layout == "earth-search":
            item = {**item, "stac_extensions": EARTH_SEARCH_EXTENSIONS}
        lines.append(json.dumps(item))
    tmp = items_path.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.rename(items_path)
    return items_path


def _resolution_of(key: str) -> float:
    """The resolution Earth Search serves an asset at."""
    return RESOLUTION if key in BANDS_10M else 2 * RESOLUTION


class _FileWriter:
    """Writes the rasters of one item in a layout; each call returns the asset's href."""

    def __init__(self, folder: Path, item_id: str, size: int, tile: int,
                 layout: Layout) -> None:
        self.folder, self.item_id, self.size = folder, item_id, size
        self.tile, self.layout = tile, layout

    def _href(self, key: str) -> str:
        name = key if self.layout == "plain" else EARTH_SEARCH_FILES[key]
        return f"./{self.item_id}/{name}.tif"

    def scl(self, cloud: np.ndarray) -> str:
        """The SCL: cloud (9) or vegetation (4); at 20 m a 2 x 2 block is cloud by majority."""
        href = self._href("scl")
        if self.layout == "plain":
            data = np.where(cloud, 9, 4).astype(np.uint8)
            _write(self.folder / href, data, 0, self.tile)
        else:
            data = np.where(_halve(cloud.astype(np.float64)) >= 0.5, 9, 4).astype(np.uint8)
            _write(self.folder / href, data, 0, self.tile, 2 * RESOLUTION)
        return href

    def band(self, key: str, rho: np.ndarray) -> str:
        """A band's DN (reflectance x 10000 + 1000), averaged 2 x 2 where served at 20 m."""
        href = self._href(key)
        resolution = RESOLUTION if self.layout == "plain" else _resolution_of(key)
        if resolution != RESOLUTION:
            rho = _halve(rho)
        dn = np.clip(np.rint(rho * 10000) + 1000, 1, 65535).astype(np.uint16)
        _write(self.folder / href, dn, 0, self.tile, resolution)
        return href


def lonlat_bbox(size: int, shrink: float = 0.0) -> tuple[float, float, float, float]:
    """The lon/lat bbox of the workload grid, optionally shrunk by a margin in metres."""
    from pyproj import Transformer

    to_lonlat = Transformer.from_crs(EPSG, 4326, always_xy=True)
    x0, y1 = ORIGIN
    x1, y0 = x0 + size * RESOLUTION, y1 - size * RESOLUTION
    west, south, east, north = to_lonlat.transform_bounds(x0 + shrink, y0 + shrink,
                                                          x1 - shrink, y1 - shrink)
    return (west, south, east, north)


def unaligned_bbox(size: int = 2048) -> tuple[float, float, float, float]:
    """A lon/lat bbox strictly inside the workload whose UTM grid edges are on no tile edge.

    What a user types: the lon/lat box inscribed in the UTM square of side `UNALIGNED_SIDE`
    whose top-left corner is `UNALIGNED_OFFSET` east and south of the grid's. Inscribed, so
    that its projection back to UTM (how l3a and odc-stac turn a bbox into a grid) stays in
    the square: the UTM grid is ~1840 px at 10 m, its edges ~30 m inside the square's (the
    grid meridians converge by ~1.7 degrees there). Checked: inside the data, and no edge of
    the grid l3a makes of it at 10 m falls on an input tile edge (multiples of 5120 m).
    """
    from pyproj import Transformer

    if size * RESOLUTION < UNALIGNED_OFFSET[0] + UNALIGNED_SIDE:
        raise ValueError(f"a workload of {size} px is too small for the unaligned bbox")
    to_lonlat = Transformer.from_crs(EPSG, 4326, always_xy=True)
    x0, y1 = ORIGIN[0] + UNALIGNED_OFFSET[0], ORIGIN[1] - UNALIGNED_OFFSET[1]
    x1, y0 = x0 + UNALIGNED_SIDE, y1 - UNALIGNED_SIDE
    inset = 5.0  # metres: the square's edges are not straight in lon/lat
    lons, lats = to_lonlat.transform([x0 + inset, x0 + inset, x1 - inset, x1 - inset],
                                     [y0 + inset, y1 - inset, y0 + inset, y1 - inset])
    bbox = (max(lons[0], lons[1]), max(lats[0], lats[2]),
            min(lons[2], lons[3]), min(lats[1], lats[3]))
    _check_unaligned(unaligned_bounds(size, bbox), size)
    return bbox


def unaligned_bounds(size: int = 2048, bbox: tuple[float, float, float, float] | None = None
                     ) -> tuple[float, float, float, float]:
    """The UTM bounds of the 10 m grid l3a builds for `unaligned_bbox` (or ``bbox``)."""
    from engine.grid import output_grid

    grid = output_grid(bbox if bbox is not None else unaligned_bbox(size), 10, EPSG)
    return grid.bounds


def _check_unaligned(box: tuple[float, float, float, float], size: int) -> None:
    data = bounds(size)
    inside = data[0] < box[0] < box[2] < data[2] and data[1] < box[1] < box[3] < data[3]
    if not inside:
        raise AssertionError(f"the unaligned grid {box} is not strictly inside {data}")
    tile_edge = 512 * RESOLUTION  # every tile edge of both layouts is a multiple of it
    offsets = (box[0] - ORIGIN[0], ORIGIN[1] - box[3], box[2] - ORIGIN[0], ORIGIN[1] - box[1])
    if any(offset % tile_edge == 0 for offset in offsets):
        raise AssertionError(f"the unaligned grid {box} has an edge on a tile edge")


def files(items_path: Path) -> list[Path]:
    """Every raster of the workload."""
    return sorted(items_path.parent.glob("*/*.tif"))


def bounds(size: int) -> tuple[float, float, float, float]:
    """The workload grid's bounds in its UTM zone."""
    x0, y1 = ORIGIN
    return (x0, y1 - size * RESOLUTION, x0 + size * RESOLUTION, y1)


def items(items_path: Path, size: int) -> list[NormalizedItem]:
    """The workload's items, through l3a's catalogue search."""
    from catalog.search import search
    from engine.period import parse_period

    return list(search(str(items_path), lonlat_bbox(size), *parse_period(PERIOD).search_interval()))


def order(size: int, method: str, cloud_mask: str = "scl") -> Order:
    """An l3a order of the whole workload grid, every band, at 10 m.

    With the items' own mask by default, the engine's speed apart from its mask chain; the
    chain's cost is a case of its own (``cloud_mask="auto"``).
    """
    from engine.contract import Order
    from engine.period import parse_period

    return Order(bbox=lonlat_bbox(size), period=parse_period(PERIOD), method=method,
                 bands=BANDS, resolution=10, epsg=EPSG, bounds=bounds(size),
                 cloud_mask=cloud_mask)
