"""The STAC item of a product: what it is, how it was made, and every asset."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, time
from typing import Any

from pyproj import CRS, Transformer

from catalog.model import BAND_ID, BAND_WAVELENGTH, Grid, NormalizedItem
from engine.contract import QualityLayer
from engine.parts import PART_FIELD, VRT_TYPE, mosaic_file, part_file
from engine.period import Period
from engine.write import REFLECTANCE_DTYPE, REFLECTANCE_NODATA, REFLECTANCE_SCALE

STAC_EXTENSIONS = [
    "https://stac-extensions.github.io/projection/v2.0.0/schema.json",
    "https://stac-extensions.github.io/eo/v1.1.0/schema.json",
    "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
    "https://stac-extensions.github.io/classification/v1.1.0/schema.json",
]
COG_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"


def _footprint(grid: Grid) -> tuple[list[float], dict[str, Any]]:
    minx, miny, maxx, maxy = grid.bounds
    to_lonlat = Transformer.from_crs(CRS.from_epsg(grid.epsg), "EPSG:4326", always_xy=True)
    west, south, east, north = to_lonlat.transform_bounds(minx, miny, maxx, maxy, densify_pts=21)
    bbox = [round(v, 7) for v in (west, south, east, north)]
    ring = [[bbox[0], bbox[1]], [bbox[2], bbox[1]], [bbox[2], bbox[3]], [bbox[0], bbox[3]],
            [bbox[0], bbox[1]]]
    return bbox, {"type": "Polygon", "coordinates": [ring]}


def _parted(assets: dict[str, Any], parts: Sequence[tuple[str, Grid]]) -> dict[str, Any]:
    """The assets of a product built in parts: each layer's mosaic, then every part's COG."""
    mosaics = {key: {**asset, "href": f"./{mosaic_file(key)}", "type": VRT_TYPE,
                     "title": f"{asset['title']}: mosaic of {len(parts)} parts (GDAL VRT)"}
               for key, asset in assets.items()}
    pieces = {f"{key}.{name}": {
        **asset, "href": f"./{part_file(key, name)}", "title": f"{asset['title']}, part {name}",
        PART_FIELD: name, "proj:shape": list(grid.shape), "proj:transform": list(grid.transform)}
        for key, asset in assets.items() for name, grid in parts}
    return {**mosaics, **pieces}


def _utc(day: Any, at: time) -> str:
    return datetime.combine(day, at, tzinfo=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def product_item(
    *,
    product_id: str,
    grid: Grid,
    period: Period,
    method: str,
    bands: Sequence[str],
    quality: Sequence[QualityLayer],
    inputs: Sequence[NormalizedItem],
    parameters: dict[str, Any],
    extra_properties: dict[str, Any] | None = None,
    geometry: dict[str, Any] | None = None,
    parts: Sequence[tuple[str, Grid]] = (),
) -> dict[str, Any]:
    """A STAC item (dict) for a product whose assets are ``<key>.tif`` beside it.

    No creation timestamp is written: equal inputs must give byte-identical files.
    ``geometry`` (lon/lat) replaces the grid's footprint when the order was a polygon.
    ``parts`` (name, grid) of a product built in parts (`engine.parts`): each layer's asset is
    then its mosaic ``<key>.vrt``, over the whole grid, and each part's COG is an asset
    ``<key>.<part>`` with an ``l3a:part`` field.
    """
    bbox, grid_footprint = _footprint(grid)
    geometry = geometry or grid_footprint
    shape = list(grid.shape)
    common = {"proj:shape": shape, "proj:transform": list(grid.transform)}
    assets: dict[str, Any] = {}
    entry: dict[str, Any]
    for band in bands:
        assets[band] = {
            "href": f"./{band}.tif",
            "type": COG_TYPE,
            "title": f"{band} surface reflectance ({method})",
            "roles": ["data", "reflectance"],
            "eo:bands": [{"name": BAND_ID.get(band, band), "common_name": band,
                          "center_wavelength": BAND_WAVELENGTH.get(band)}],
            "raster:bands": [{"data_type": REFLECTANCE_DTYPE, "nodata": REFLECTANCE_NODATA,
                              "scale": REFLECTANCE_SCALE, "offset": 0.0,
                              "spatial_resolution": grid.resolution}],
            **common,
        }
    for layer in quality:
        entry = {
            "href": f"./{layer.key}.tif",
            "type": COG_TYPE,
            "title": layer.description,
            "roles": ["quality"],
            "raster:bands": [{"data_type": layer.dtype, "spatial_resolution": grid.resolution,
                              **({"nodata": layer.nodata} if layer.nodata is not None
                                 and layer.nodata == layer.nodata else {})}],
            **common,
        }
        if layer.classes:
            entry["classification:classes"] = [
                {"value": value, "name": name,
                 "description": layer.class_descriptions[value]}
                for value, name in sorted(layer.classes.items())
            ]
        assets[layer.key] = entry
    if parts:
        assets = _parted(assets, parts)
    dates = sorted({item.datetime.date().isoformat() for item in inputs})
    properties: dict[str, Any] = {
        "datetime": _utc(period.central, time(12)),
        "start_datetime": _utc(period.start, time.min),
        "end_datetime": _utc(period.end, time(23, 59, 59)),
        "proj:code": f"EPSG:{grid.epsg}",
        "gsd": grid.resolution,
        "constellation": "sentinel-2",
        "l3a:method": method,
        "l3a:period": period.label,
        "l3a:central_date": period.central.isoformat(),
        "l3a:half_window_days": period.half_window_days,
        "l3a:input_dates": dates,
        "l3a:input_ids": [item.id for item in inputs],
        "l3a:parameters": parameters,
        **(extra_properties or {}),
    }
    # Inputs are cited by URL where their catalogue has one (Earth Search, Planetary
    # Computer...); a local item file's have none, and a bare id is no link: those are
    # named in l3a:input_ids only.
    links = [
        {"rel": "derived_from", "href": item.href, "title": item.id,
         "type": "application/geo+json"}
        for item in inputs if item.href is not None
    ]
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "stac_extensions": STAC_EXTENSIONS,
        "id": product_id,
        "bbox": bbox,
        "geometry": geometry,
        "properties": properties,
        "assets": assets,
        "links": links,
    }
