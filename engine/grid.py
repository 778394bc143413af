"""The output grid of a product: CRS, bounds snapped to the resolution, shape, transform."""

from __future__ import annotations

import math

from pyproj import CRS, Transformer

from catalog.model import Grid
from engine.contract import RESOLUTIONS
from engine.errors import InvalidParameter


def utm_epsg(lon: float, lat: float) -> int:
    """EPSG code of the WGS 84 / UTM zone containing a point (no Norway/Svalbard exceptions)."""
    zone = min(int((lon + 180.0) // 6.0) + 1, 60)
    return (32600 if lat >= 0 else 32700) + zone


def output_grid(
    bbox: tuple[float, float, float, float],
    resolution: int,
    epsg: int | None = None,
    bounds: tuple[float, float, float, float] | None = None,
) -> Grid:
    """The grid covering a lon/lat bbox at a resolution, in ``epsg`` or the centre's UTM zone.

    ``bounds`` (in the CRS of ``epsg``, which it requires) replaces the bbox's projection when
    the caller wants an exact grid, e.g. one Sentinel-2 tile.

    Bounds are snapped outwards to multiples of the resolution. Sentinel-2 tile origins are
    multiples of 60 m (x = 499980 ...), so a 10, 20 or 60 m grid snapped this way stays on the
    source pixel grid and nothing is resampled by a fraction of a pixel.
    """
    if resolution not in RESOLUTIONS:
        raise InvalidParameter("resolution", f"{resolution} is not one of {RESOLUTIONS}")
    west, south, east, north = bbox
    if epsg is None:
        epsg = utm_epsg((west + east) / 2.0, (south + north) / 2.0)
    try:
        crs = CRS.from_epsg(epsg)
    except Exception as exc:  # pyproj raises its own CRSError for unknown codes
        raise InvalidParameter("crs", f"EPSG:{epsg} is not a known CRS") from exc
    if not crs.is_projected:
        raise InvalidParameter("crs", f"EPSG:{epsg} is not a projected CRS in metres")
    if bounds is not None:
        minx, miny, maxx, maxy = bounds
    else:
        transformer = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
        minx, miny, maxx, maxy = transformer.transform_bounds(west, south, east, north,
                                                              densify_pts=21)
    res = float(resolution)
    minx, miny = math.floor(minx / res) * res, math.floor(miny / res) * res
    maxx, maxy = math.ceil(maxx / res) * res, math.ceil(maxy / res) * res
    width, height = round((maxx - minx) / res), round((maxy - miny) / res)
    return Grid(epsg, (height, width), (res, 0.0, minx, 0.0, -res, maxy))
