"""The engine benchmark's workload: 12 acquisitions x 10 bands + SCL as local DEFLATE COGs.

Generated once per size into a cache folder, in the Earth Search ``sentinel-2-c1-l2a``
layout, so l3a reads it through its normal catalogue path. Pixel content is smooth fields
plus sensor-like noise (it compresses like real reflectance, not like white noise), and the
SCL has cloud blobs covering 0-70 % per date, so masks and weights do real work.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import rasterio
from rasterio.transform import from_origin
from scipy import ndimage

if TYPE_CHECKING:
    from catalog.model import NormalizedItem
    from engine.pipeline import Order

BANDS = ("blue", "green", "red", "rededge1", "rededge2", "rededge3", "nir", "nir08",
         "swir16", "swir22")
N_DATES = 12
EPSG = 32631
ORIGIN = (300000.0, 4900020.0)  # the corner of MGRS tile 31TCJ
RESOLUTION = 10.0
PERIOD = "2024-07"
CACHE = Path(os.environ.get("L3A_BENCH_CACHE", Path.home() / ".cache" / "l3a-bench"))


def _smooth(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    coarse = rng.random((cells, cells), dtype=np.float32)
    return ndimage.zoom(coarse, size / cells, order=1)[:size, :size]


def _write(path: Path, data: np.ndarray, nodata: int, tile: int) -> None:
    size = data.shape[0]
    profile = {
        "driver": "COG", "width": size, "height": size, "count": 1, "dtype": data.dtype.name,
        "crs": f"EPSG:{EPSG}", "transform": from_origin(*ORIGIN, RESOLUTION, RESOLUTION),
        "nodata": nodata, "compress": "DEFLATE", "blocksize": tile,
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)


def workload(size: int = 2048, *, tile: int = 512, n_dates: int = N_DATES,
             bands: tuple[str, ...] = BANDS, root: Path = CACHE) -> Path:
    """The items.ndjson of the workload of ``size`` x ``size`` pixels (generated if missing).

    The benchmark's is the default; tests make smaller ones (fewer dates and bands, in their
    own ``root``), and ``tile`` gives the COGs' internal tile size (Earth Search's are 1024).
    """
    tiling = "" if tile == 512 else f"-tiled{tile}"
    folder = root / f"s2-{n_dates}x{len(bands)}-{size}{tiling}"
    items_path = folder / "items.ndjson"
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
        scl = np.where(cloud, 9, 4).astype(np.uint8)
        _write(folder / item_id / "scl.tif", scl, 0, tile)
        assets = {"scl": {"href": f"./{item_id}/scl.tif", "type": "image/tiff",
                          "roles": ["data"], "raster:bands": [{"nodata": 0,
                                                               "data_type": "uint8"}]}}
        for b in bands:
            rho = base[b] + np.where(cloud, 0.4, 0.0) + rng.normal(0, 0.004, (size, size))
            dn = np.clip(np.rint(rho * 10000) + 1000, 1, 65535).astype(np.uint16)
            _write(folder / item_id / f"{b}.tif", dn, 0, tile)
            assets[b] = {"href": f"./{item_id}/{b}.tif", "type": "image/tiff",
                         "roles": ["data", "reflectance"],
                         "eo:bands": [{"name": b, "common_name": b}],
                         "raster:bands": [{"nodata": 0, "data_type": "uint16",
                                           "scale": 0.0001, "offset": -0.1}]}
        for asset in assets.values():
            asset["proj:shape"] = [size, size]
            asset["proj:transform"] = [RESOLUTION, 0, ORIGIN[0], 0, -RESOLUTION, ORIGIN[1]]
        lines.append(json.dumps({
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
        }))
    tmp = items_path.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.rename(items_path)
    return items_path


def lonlat_bbox(size: int, shrink: float = 0.0) -> tuple[float, float, float, float]:
    """The lon/lat bbox of the workload grid, optionally shrunk by a margin in metres."""
    from pyproj import Transformer

    to_lonlat = Transformer.from_crs(EPSG, 4326, always_xy=True)
    x0, y1 = ORIGIN
    x1, y0 = x0 + size * RESOLUTION, y1 - size * RESOLUTION
    west, south, east, north = to_lonlat.transform_bounds(x0 + shrink, y0 + shrink,
                                                          x1 - shrink, y1 - shrink)
    return (west, south, east, north)


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
    from engine.period import parse_period
    from engine.pipeline import Order

    return Order(bbox=lonlat_bbox(size), period=parse_period(PERIOD), method=method,
                 bands=BANDS, resolution=10, epsg=EPSG, bounds=bounds(size),
                 cloud_mask=cloud_mask)
