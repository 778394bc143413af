"""Files: COGs, Earth Search-like (or MAJA-like) STAC items, the collection.

Items imitate Earth Search's ``sentinel-2-c1-l2a`` collection field by field (see the real
item in tests/data/stac-items/earthsearch-c1): asset keys by common name, ``raster:bands``
with scale 0.0001 and offset -0.1 on DN carrying +1000 (processing baseline >= 04.00),
``proj:epsg`` on the
item (and ``proj:code``), ``proj:shape``/``proj:transform`` on each asset, ``eo:bands``,
``s2:*`` properties and ``file:checksum``. Two deliberate differences: every raster is written
on the demo grid (20 m by default), which ``proj:*`` and ``raster:bands`` state truthfully,
and hrefs are relative to ``items.ndjson`` (``./<item-id>/red.tif``), so a demo folder can be
moved or served as it is. Like the real collection, B05..B07 carry the common name
``rededge`` in ``eo:bands`` while their asset keys are ``rededge1..3``: readers must key bands
by asset key or band id, not by that common name.

Everything written is a function of the arguments only (no wall-clock time, sorted inputs),
so two builds with the same arguments are byte-identical.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import rasterio
from pyproj import Transformer
from rasterio.crs import CRS
from rasterio.transform import Affine

from catalog.demo.scenes import BANDS, TILE, Acquisition, DemoGrid
from catalog.model import BAND_ID, BAND_RESOLUTION, BAND_WAVELENGTH

#: Earth Search's collection for Sentinel-2 Collection 1 L2A.
SCL_COLLECTION = "sentinel-2-c1-l2a"
#: The demo's own collection for the MAJA flavour.
MAJA_COLLECTION = "l3a-demo-maja"
PROCESSING_BASELINE = "05.10"
#: L2A DN = reflectance * 10000 + 1000 since baseline 04.00: scale and offset to undo it.
SCALE = 0.0001
OFFSET = -0.1

_COG = "image/tiff; application=geotiff; profile=cloud-optimized"
_FWHM = {
    "blue": 0.098,
    "green": 0.045,
    "red": 0.038,
    "rededge1": 0.019,
    "rededge2": 0.018,
    "rededge3": 0.028,
    "nir": 0.145,
    "nir08": 0.033,
    "swir16": 0.143,
    "swir22": 0.242,
}
_TITLES = {
    "blue": "Blue",
    "green": "Green",
    "red": "Red",
    "rededge1": "Red Edge 1",
    "rededge2": "Red Edge 2",
    "rededge3": "Red Edge 3",
    "nir": "NIR 1",
    "nir08": "NIR 2",
    "swir16": "SWIR 1.6μm",
    "swir22": "SWIR 2.2μm",
}
_EXTENSIONS = [
    "https://stac-extensions.github.io/eo/v1.1.0/schema.json",
    "https://stac-extensions.github.io/file/v2.1.0/schema.json",
    "https://stac-extensions.github.io/grid/v1.1.0/schema.json",
    "https://stac-extensions.github.io/mgrs/v1.0.0/schema.json",
    "https://stac-extensions.github.io/processing/v1.1.0/schema.json",
    "https://stac-extensions.github.io/projection/v1.1.0/schema.json",
    "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
    "https://stac-extensions.github.io/sentinel-2/v1.0.0/schema.json",
    "https://stac-extensions.github.io/view/v1.0.0/schema.json",
]


def write_cog(
    path: Path,
    data: npt.NDArray[Any],
    grid: DemoGrid,
    *,
    nodata: float | None,
    resampling: str = "average",
) -> None:
    """Write a (bands, Y, X) or (Y, X) array as a DEFLATE COG with 256 px blocks and overviews.

    Args:
        path: destination file.
        data: the pixels; their dtype is the file's.
        grid: the demo grid (CRS and transform).
        nodata: nodata value, or None.
        resampling: overview resampling ("average" for reflectance, "nearest" for classes).

    """
    array = data[None] if data.ndim == 2 else data
    profile: dict[str, Any] = {
        "driver": "COG",
        "dtype": str(array.dtype),
        "count": int(array.shape[0]),
        "height": int(array.shape[1]),
        "width": int(array.shape[2]),
        "crs": CRS.from_epsg(grid.epsg),
        "transform": Affine(*grid.transform),
        "nodata": nodata,
        "compress": "DEFLATE",
        # Level 1: writing dominates a build; higher levels cost ~25 % more time for files
        # no smaller (sensor noise does not compress).
        "level": 1,
        "blocksize": 256,
        "overview_resampling": resampling,
    }
    if array.dtype.kind in "iu":
        profile["predictor"] = 2  # horizontal differencing: smaller integer rasters
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(array)


def to_l2a_dn(
    reflectance: npt.NDArray[np.float32], valid: npt.NDArray[np.bool_]
) -> npt.NDArray[np.uint16]:
    """Encode reflectance as Sen2Cor DN: round(rho * 1e4) + 1000, clipped to 1..65535, 0 outside."""
    dn: npt.NDArray[np.uint16] = np.clip(
        np.rint(reflectance * 10000.0) + 1000.0, 1.0, 65535.0
    ).astype(np.uint16)
    dn[..., ~valid] = 0
    return dn


def to_maja_dn(
    reflectance: npt.NDArray[np.float32], valid: npt.NDArray[np.bool_]
) -> npt.NDArray[np.int16]:
    """Encode reflectance as MAJA FRE DN: round(rho * 10000) as int16, -10000 outside."""
    dn: npt.NDArray[np.int16] = np.clip(np.rint(reflectance * 10000.0), -9999.0, 32767.0).astype(
        np.int16
    )
    dn[..., ~valid] = -10000
    return dn


def _checksum(path: Path) -> str:
    """Multihash (sha2-256) of a file, as in ``file:checksum``."""
    return "1220" + hashlib.sha256(path.read_bytes()).hexdigest()


def _grid_fields(grid: DemoGrid) -> dict[str, Any]:
    return {"proj:shape": list(grid.shape), "proj:transform": list(grid.transform)}


def _file_fields(path: Path) -> dict[str, Any]:
    return {"file:checksum": _checksum(path), "file:size": path.stat().st_size}


def footprint(grid: DemoGrid, valid_edge: tuple[float, float] | None) -> list[list[float]]:
    """Return the data footprint as a closed lon/lat ring, from the grid or the swath edge.

    Args:
        grid: the demo grid.
        valid_edge: (column at the top row, column at the bottom row) of the swath edge, or
            None when the whole grid has data.

    """
    x0, y0 = grid.x0, grid.y0
    res, n = float(grid.resolution), grid.size_px
    top, bottom = valid_edge if valid_edge is not None else (0.0, 0.0)
    corners = [(top, 0.0), (n, 0.0), (n, n), (bottom, n), (top, 0.0)]
    to_lonlat = Transformer.from_crs(f"EPSG:{grid.epsg}", "EPSG:4326", always_xy=True)
    ring = []
    for col, row in corners:
        lon, lat = to_lonlat.transform(x0 + col * res, y0 - row * res)
        ring.append([round(float(lon), 7), round(float(lat), 7)])
    return ring


def _bbox(ring: Sequence[Sequence[float]]) -> list[float]:
    lons = [p[0] for p in ring]
    lats = [p[1] for p in ring]
    return [round(min(lons), 6), round(min(lats), 6), round(max(lons), 6), round(max(lats), 6)]


def _band_asset(name: str, href: str, grid: DemoGrid, path: Path, maja: bool) -> dict[str, Any]:
    native = BAND_RESOLUTION[name]
    # Earth Search's c1 items say "rededge" for B05, B06 and B07 (kept, see module doc).
    common = "rededge" if name.startswith("rededge") else name
    raster: dict[str, Any] = (
        {
            "nodata": -10000,
            "data_type": "int16",
            "spatial_resolution": grid.resolution,
            "scale": SCALE,
            "offset": 0.0,
        }
        if maja
        else {
            "nodata": 0,
            "data_type": "uint16",
            "spatial_resolution": grid.resolution,
            "scale": SCALE,
            "offset": OFFSET,
        }
    )
    return {
        "href": href,
        "type": _COG,
        "title": f"{_TITLES[name]} - {native}m",
        "eo:bands": [
            {
                "name": BAND_ID[name],
                "common_name": common,
                "center_wavelength": BAND_WAVELENGTH[name],
                "full_width_half_max": _FWHM[name],
            }
        ],
        "gsd": native,
        **_grid_fields(grid),
        "raster:bands": [raster],
        **_file_fields(path),
        "roles": ["data", "reflectance"],
    }


def _plain_asset(
    key: str, title: str, folder: Path, grid: DemoGrid, bands: list[dict[str, Any]],
    roles: list[str],
) -> dict[str, Any]:
    """The asset of ``<folder>/<key>.tif``, its href relative to the catalogue."""
    return {
        "href": f"./{folder.name}/{key}.tif",
        "type": _COG,
        "title": title,
        "gsd": grid.resolution,
        **_grid_fields(grid),
        "raster:bands": bands,
        **_file_fields(folder / f"{key}.tif"),
        "roles": roles,
    }


def _band_assets(folder: Path, grid: DemoGrid, maja: bool) -> dict[str, Any]:
    """The reflectance assets of every band, ``<folder>/<band>.tif``."""
    return {name: _band_asset(name, f"./{folder.name}/{name}.tif", grid,
                              folder / f"{name}.tif", maja=maja) for name in BANDS}


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def scl_item_id(acq: Acquisition) -> str:
    """Earth Search c1 id: ``S2A_T31TCJ_20240623T105621_L2A`` (sensing start)."""
    return f"S2{acq.letter}_T{TILE}_{acq.when:%Y%m%dT%H%M%S}_L2A"


def maja_item_id(acq: Acquisition) -> str:
    """Theia id: ``SENTINEL2A_20240623-105621-000_L2A_T31TCJ_C_V3-1``."""
    return f"SENTINEL2{acq.letter}_{acq.when:%Y%m%d-%H%M%S}-000_L2A_T{TILE}_C_V3-1"


def datatake_id(acq: Acquisition) -> str:
    """``GS2A_20240623T105621_047000_N05.10``: one per pass, shared by the tiles of a pass."""
    return (
        f"GS2{acq.letter}_{acq.when:%Y%m%dT%H%M%S}_{acq.absolute_orbit:06d}_N{PROCESSING_BASELINE}"
    )


def _scl_percentages(scl: npt.NDArray[np.uint8]) -> dict[str, float]:
    """Compute the ``s2:*_percentage`` properties Sen2Cor reports from the SCL counts."""
    counts = np.bincount(scl.ravel(), minlength=256).astype(np.float64)
    total = float(scl.size)
    valid = max(total - float(counts[0]), 1.0)

    def share(*classes: int) -> float:
        return round(100.0 * float(sum(float(counts[c]) for c in classes)) / valid, 6)

    return {
        "s2:degraded_msi_data_percentage": 0.0,
        "s2:nodata_pixel_percentage": round(100.0 * float(counts[0]) / total, 6),
        "s2:saturated_defective_pixel_percentage": share(1),
        "s2:dark_area_pixel_percentage": share(2),
        "s2:cloud_shadow_percentage": share(3),
        "s2:vegetation_percentage": share(4),
        "s2:not_vegetated_percentage": share(5),
        "s2:water_percentage": share(6),
        "s2:unclassified_percentage": share(7),
        "s2:medium_proba_clouds_percentage": share(8),
        "s2:high_proba_clouds_percentage": share(9),
        "s2:thin_cirrus_percentage": share(10),
        "s2:snow_ice_percentage": share(11),
    }


def _reflectance_conversion(when: datetime) -> float:
    """Sun-Earth distance correction d^-2 of the day (Sentinel-2 U factor)."""
    doy = when.timetuple().tm_yday
    return round(1.0 / (1.0 - 0.01673 * math.cos(0.0172 * (doy - 4))) ** 2, 12)


def _common_properties(acq: Acquisition, grid: DemoGrid, cloud_cover: float) -> dict[str, Any]:
    generated = acq.when + timedelta(hours=1, minutes=7)
    return {
        "created": _iso(generated + timedelta(minutes=40)),
        "platform": acq.platform,
        "constellation": "sentinel-2",
        "instruments": ["msi"],
        "eo:cloud_cover": round(cloud_cover, 6),
        "proj:epsg": grid.epsg,
        "proj:code": f"EPSG:{grid.epsg}",
        "mgrs:utm_zone": int(TILE[:2]),
        "mgrs:latitude_band": TILE[2],
        "mgrs:grid_square": TILE[3:],
        "grid:code": f"MGRS-{TILE}",
        "view:azimuth": acq.view_azimuth,
        "view:incidence_angle": acq.view_incidence,
        "view:sun_azimuth": acq.sun_azimuth,
        "view:sun_elevation": acq.sun_elevation,
        "s2:datatake_id": datatake_id(acq),
        "s2:relative_orbit": acq.relative_orbit,
        "s2:generation_time": _iso(generated),
        "datetime": _iso(acq.when),
        "updated": _iso(generated + timedelta(minutes=40)),
    }


def scl_item(
    acq: Acquisition,
    grid: DemoGrid,
    folder: Path,
    ring: list[list[float]],
    scl: npt.NDArray[np.uint8],
) -> dict[str, Any]:
    """Build the Earth Search c1-like item of an acquisition whose COGs are in ``folder``.

    Args:
        acq: the acquisition.
        grid: the demo grid.
        folder: ``<out_dir>/<item-id>``, holding ``<band>.tif``, ``scl.tif`` and ``aot.tif``.
        ring: lon/lat footprint (closed ring).
        scl: the scene classification, for the ``s2:*_percentage`` and ``eo:cloud_cover``.

    """
    item_id = folder.name
    percentages = _scl_percentages(scl)
    cloud_cover = (
        percentages["s2:medium_proba_clouds_percentage"]
        + percentages["s2:high_proba_clouds_percentage"]
        + percentages["s2:thin_cirrus_percentage"]
    )
    stamp = f"{acq.when:%Y%m%dT%H%M%S}"
    gen = f"{acq.when + timedelta(hours=1, minutes=7):%Y%m%dT%H%M%S}"
    letter = acq.letter
    properties = _common_properties(acq, grid, cloud_cover)
    properties.update(
        {
            "s2:tile_id": f"S2{letter}_OPER_MSI_L2A_TL_2{letter}PS_{gen}_A{acq.absolute_orbit:06d}"
            f"_T{TILE}_N{PROCESSING_BASELINE}",
            **percentages,
            "s2:product_type": "S2MSI2A",
            "s2:processing_baseline": PROCESSING_BASELINE,
            "s2:product_uri": f"S2{letter}_MSIL2A_{stamp}_N0510_R{acq.relative_orbit:03d}"
            f"_T{TILE}_{gen}.SAFE",
            "s2:datatake_type": "INS-NOBS",
            "s2:datastrip_id": f"S2{letter}_OPER_MSI_L2A_DS_2{letter}PS_{gen}_S{stamp}"
            f"_N{PROCESSING_BASELINE}",
            "s2:reflectance_conversion_factor": _reflectance_conversion(acq.when),
            "processing:software": {"l3a-demo": "1"},
        }
    )
    assets = _band_assets(folder, grid, maja=False)
    assets["scl"] = _plain_asset(
        "scl",
        "Scene classification map (SCL)",
        folder,
        grid,
        [{"nodata": 0, "data_type": "uint8", "spatial_resolution": grid.resolution}],
        ["data"],
    )
    assets["aot"] = _plain_asset(
        "aot",
        "Aerosol optical thickness (AOT)",
        folder,
        grid,
        [
            {
                "nodata": 0,
                "data_type": "uint16",
                "spatial_resolution": grid.resolution,
                "scale": 0.001,
                "offset": 0,
            }
        ],
        ["data"],
    )
    return _feature(item_id, SCL_COLLECTION, properties, ring, assets)


def maja_item(
    acq: Acquisition,
    grid: DemoGrid,
    folder: Path,
    ring: list[list[float]],
    clm: npt.NDArray[np.uint8],
    valid: npt.NDArray[np.bool_],
) -> dict[str, Any]:
    """Build a Theia MAJA-like item (FRE reflectances, CLM, MG2, ATB) for an acquisition."""
    item_id = folder.name
    n_valid = max(int(valid.sum()), 1)
    cloud_cover = 100.0 * float(((clm & 0b10) != 0)[valid].sum()) / n_valid
    properties = _common_properties(acq, grid, cloud_cover)
    properties.update(
        {
            "l3a:flavour": "maja",
            "theia:product_level": "L2A",
            "theia:nodata_pixel_percentage": round(100.0 * (1.0 - valid.mean()), 6),
            "processing:software": {"MAJA": "4.5", "l3a-demo": "1"},
        }
    )
    assets = _band_assets(folder, grid, maja=True)
    assets["clm"] = _plain_asset(
        "clm",
        "Cloud mask (CLM): bit 0 cloud or shadow, 1 cloud, 2 shadow, 4 cirrus",
        folder,
        grid,
        [{"data_type": "uint8", "spatial_resolution": grid.resolution}],
        ["data", "cloud"],
    )
    assets["mg2"] = _plain_asset(
        "mg2",
        "Geophysical mask (MG2): bit 0 water, 1 cloud or shadow, 2 snow, 3 shadow",
        folder,
        grid,
        [{"data_type": "uint8", "spatial_resolution": grid.resolution}],
        ["data"],
    )
    assets["atb"] = _plain_asset(
        "atb",
        "Atmospheric and biophysical parameters (ATB): water vapour, AOT",
        folder,
        grid,
        [
            {
                "name": "water_vapour",
                "nodata": 0,
                "data_type": "uint8",
                "scale": 0.05,
                "offset": 0,
                "unit": "g/cm2",
                "spatial_resolution": grid.resolution,
            },
            {
                "name": "aot",
                "nodata": 0,
                "data_type": "uint8",
                "scale": 0.005,
                "offset": 0,
                "spatial_resolution": grid.resolution,
            },
        ],
        ["data"],
    )
    return _feature(item_id, MAJA_COLLECTION, properties, ring, assets)


def _feature(
    item_id: str,
    collection: str,
    properties: dict[str, Any],
    ring: list[list[float]],
    assets: dict[str, Any],
) -> dict[str, Any]:
    return {
        "type": "Feature",
        "stac_version": "1.1.0",
        "stac_extensions": _EXTENSIONS,
        "id": item_id,
        "collection": collection,
        "geometry": {"type": "Polygon", "coordinates": [ring]},
        "bbox": _bbox(ring),
        "properties": properties,
        "links": [
            {"rel": "collection", "href": "./collection.json", "type": "application/json"},
            {"rel": "parent", "href": "./collection.json", "type": "application/json"},
            {"rel": "root", "href": "./collection.json", "type": "application/json"},
        ],
        "assets": assets,
    }


def collection(
    collection_id: str, items: Sequence[dict[str, Any]], grid: DemoGrid, maja: bool
) -> dict[str, Any]:
    """Build a STAC collection describing the demo items (extent, summaries, item assets)."""
    bboxes = np.array([item["bbox"] for item in items])
    spatial = [
        float(bboxes[:, 0].min()),
        float(bboxes[:, 1].min()),
        float(bboxes[:, 2].max()),
        float(bboxes[:, 3].max()),
    ]
    times = sorted(item["properties"]["datetime"] for item in items)
    flavour = "MAJA (Theia) layout" if maja else "Earth Search sentinel-2-c1-l2a layout"
    first = items[0]["assets"]
    item_assets = {
        key: {k: v for k, v in asset.items() if k not in ("href", "file:checksum", "file:size")}
        for key, asset in first.items()
    }
    return {
        "type": "Collection",
        "stac_version": "1.1.0",
        "stac_extensions": [
            "https://stac-extensions.github.io/item-assets/v1.0.0/schema.json",
        ],
        "id": collection_id,
        "title": f"l3a demo: synthetic Sentinel-2 L2A near Toulouse, July 2024 ({flavour})",
        "description": (
            "Synthetic Sentinel-2 L2A acquisitions over the Garonne valley north-west of "
            "Toulouse (tile 31TCJ), generated by catalog.demo with a known truth: the surface "
            "reflectance on 2024-07-15 and the true cloud masks of every date are in truth/."
        ),
        "license": "CC0-1.0",
        "keywords": ["sentinel-2", "l2a", "demo", "synthetic"],
        "providers": [{"name": "l3a", "roles": ["producer", "processor", "host"]}],
        "extent": {
            "spatial": {"bbox": [spatial]},
            "temporal": {"interval": [[times[0], times[-1]]]},
        },
        "summaries": {
            "platform": sorted({item["properties"]["platform"] for item in items}),
            "constellation": ["sentinel-2"],
            "instruments": ["msi"],
            "gsd": [grid.resolution],
            "proj:epsg": [grid.epsg],
        },
        "item_assets": item_assets,
        "links": [
            {"rel": "root", "href": "./collection.json", "type": "application/json"},
            {"rel": "items", "href": "./items.ndjson", "type": "application/x-ndjson"},
        ],
    }


def dumps(document: dict[str, Any]) -> str:
    """JSON text of a document, deterministic (key order as built, no NaN)."""
    return json.dumps(document, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
