"""What an asset declares about its pixels: raster metadata and grid.

Raster metadata is scale, offset, nodata and data type (STAC 1.0 ``raster:bands`` or 1.1
``bands``); the grid comes from the projection extension (v1 ``proj:epsg`` or v2
``proj:code``). This module only reads what the item says; what to do when it says nothing
is each flavour's business.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from catalog.model import Grid, RasterAsset
from catalog.normalize.values import finite_float


@dataclass(frozen=True)
class Declared:
    """What an asset says about one of its bands (None = not said)."""

    scale: float | None
    offset: float | None
    nodata: float | None
    dtype: str | None


def band_entries(asset: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The per-band entries of an asset: STAC 1.0 ``raster:bands`` or STAC 1.1 ``bands``."""
    for key in ("raster:bands", "bands"):
        entries = asset.get(key)
        if isinstance(entries, list) and entries:
            return [e if isinstance(e, Mapping) else {} for e in entries]
    return []


def declared_band(asset: Mapping[str, Any], band: int = 1) -> Declared:
    """Scale, offset, nodata and data type of band ``band`` (1-based) of an asset.

    Reads STAC 1.0 ``raster:bands`` (``scale``, ``offset``, ``nodata``, ``data_type``) and
    STAC 1.1 ``bands`` / asset fields (``raster:scale``, ``raster:offset``, ``nodata``,
    ``data_type``), the band entry first, the asset level second.
    """
    entries = band_entries(asset)
    entry = entries[band - 1] if len(entries) >= band else {}

    def field(*names: str) -> Any:
        for where in (entry, asset):
            for name in names:
                if where.get(name) is not None:
                    return where[name]
        return None

    dtype = field("data_type")
    return Declared(
        scale=finite_float(field("scale", "raster:scale")),
        offset=finite_float(field("offset", "raster:offset")),
        nodata=finite_float(field("nodata")),
        dtype=dtype if isinstance(dtype, str) else None,
    )


def asset_grid(asset: Mapping[str, Any], properties: Mapping[str, Any]) -> Grid | None:
    """Read the asset's pixel grid from the projection extension, asset before item fields."""
    epsg = epsg_of(asset) or epsg_of(properties)
    shape = asset.get("proj:shape")
    transform = asset.get("proj:transform")
    if shape is None and transform is None:
        # Item-level proj:shape/transform describe one grid; a Sentinel-2 item has three
        # (10, 20, 60 m). Use them only for an asset that does not say it is on another one.
        shape, transform = properties.get("proj:shape"), properties.get("proj:transform")
        own = _declared_resolution(asset)
        if own is not None and isinstance(transform, list) and transform:
            item_resolution = finite_float(transform[0])
            if item_resolution is None or abs(abs(item_resolution) - own) > 1e-6:
                return None
    if epsg is None or not isinstance(shape, list) or not isinstance(transform, list):
        return None
    # proj:transform may be the full 3x3 matrix (9 numbers); the last row is always 0, 0, 1.
    if len(shape) != 2 or len(transform) not in (6, 9):
        return None
    try:
        a, b, c, d, e, f = (float(v) for v in transform[:6])
        height, width = int(shape[0]), int(shape[1])
    except (TypeError, ValueError):
        return None
    return Grid(epsg, (height, width), (a, b, c, d, e, f))


def epsg_of(fields: Mapping[str, Any]) -> int | None:
    """EPSG code from projection v1 ``proj:epsg`` or v2 ``proj:code`` ("EPSG:32633")."""
    value = fields.get("proj:epsg")
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    code = fields.get("proj:code")
    if isinstance(code, str) and code.upper().startswith("EPSG:"):
        try:
            return int(code.split(":", 1)[1])
        except ValueError:
            return None
    return None


def first_epsg(bands: Mapping[str, RasterAsset]) -> int | None:
    """The EPSG code of the first band that has a grid (for items without an item-level one)."""
    for asset in bands.values():
        if asset.grid is not None:
            return asset.grid.epsg
    return None


def asset_resolution(asset: Mapping[str, Any]) -> float | None:
    """Pixel size of an asset: its proj:transform, else what its metadata declares."""
    transform = asset.get("proj:transform")
    if isinstance(transform, list) and transform:
        value = finite_float(transform[0])
        if value:
            return abs(value)
    return _declared_resolution(asset)


def _declared_resolution(asset: Mapping[str, Any]) -> float | None:
    # raster:bands spatial_resolution describes the file; gsd may describe the sensor (the
    # 33TWL fixture's 120 m files keep gsd 10), so it comes second.
    entries = band_entries(asset)
    if entries:
        value = finite_float(entries[0].get("spatial_resolution"))
        if value:
            return value
    gsd = finite_float(asset.get("gsd"))
    return gsd if gsd else None
