"""Normalized Sentinel-2 L2A items: the one shape the engine ever sees.

Every source (Earth Search v1 and c1, Planetary Computer, Copernicus Data Space, a local file,
the demo) is parsed into these frozen dataclasses before any pixel is read, so that asset
aliases, scale/offset rules and mask flavours are settled in one place (`catalog.normalize`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

# The field ``NormalizedItem.datetime`` shadows the class inside that class body: annotations
# there that mean the type use this alias.
_DateTime = datetime

#: Optical bands by common name, in wavelength order, with their native resolution in metres.
BAND_RESOLUTION: dict[str, int] = {
    "coastal": 60,
    "blue": 10,
    "green": 10,
    "red": 10,
    "rededge1": 20,
    "rededge2": 20,
    "rededge3": 20,
    "nir": 10,
    "nir08": 20,
    "nir09": 60,
    "swir16": 20,
    "swir22": 20,
}

#: The Sentinel-2 band number of each common name (B8A is "nir08").
BAND_ID: dict[str, str] = {
    "coastal": "B01",
    "blue": "B02",
    "green": "B03",
    "red": "B04",
    "rededge1": "B05",
    "rededge2": "B06",
    "rededge3": "B07",
    "nir": "B08",
    "nir08": "B8A",
    "nir09": "B09",
    "swir16": "B11",
    "swir22": "B12",
}

#: Central wavelength (micrometres) of each band, for the eo:bands of products.
BAND_WAVELENGTH: dict[str, float] = {
    "coastal": 0.443,
    "blue": 0.490,
    "green": 0.560,
    "red": 0.665,
    "rededge1": 0.704,
    "rededge2": 0.740,
    "rededge3": 0.783,
    "nir": 0.842,
    "nir08": 0.865,
    "nir09": 0.945,
    "swir16": 1.610,
    "swir22": 2.190,
}


class MaskFlavour(str, Enum):  # noqa: UP042 - StrEnum would change str(member) for callers
    """Which L2A processor made the item, and so how its masks are read."""

    SCL = "scl"  # Sen2Cor scene classification
    MAJA = "maja"  # Theia MAJA: CLM (clouds/shadows) + MG2 (water, snow)


@dataclass(frozen=True)
class Grid:
    """The pixel grid of one asset: CRS, shape and affine transform (GDAL order a,b,c,d,e,f)."""

    epsg: int
    shape: tuple[int, int]
    transform: tuple[float, float, float, float, float, float]

    @property
    def resolution(self) -> float:
        """Pixel size in CRS units (metres for UTM)."""
        return abs(self.transform[0])

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(minx, miny, maxx, maxy) in the grid's CRS."""
        a, _, c, _, e, f = self.transform
        height, width = self.shape
        x0, x1 = c, c + a * width
        y0, y1 = f, f + e * height
        return (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))


@dataclass(frozen=True)
class RasterAsset:
    """One raster asset with what it takes to turn its DN into physical values.

    ``value = DN * scale + offset``; DN equal to ``nodata`` is missing.
    """

    key: str  # the asset key in the source item ("red", "B04", "B04_10m", "scl", ...)
    href: str
    scale: float = 1.0
    offset: float = 0.0
    nodata: float | None = 0
    dtype: str = "uint16"
    grid: Grid | None = None
    band_index: int = 1  # 1-based band of a multi-band file (MAJA ATB: AOT is band 2)


@dataclass(frozen=True)
class Masks:
    """The mask assets of one item, by flavour.

    SCL: ``scl`` is set. MAJA: ``clm`` (bit 0 cloud/shadow) and ``mg2`` (bit 0 water,
    bit 2 snow) are set. ``cnn`` is never set by a catalogue: the engine computes it
    (`engine.masks.cnn`) and hands the loader a copy of the item that names it.
    """

    flavour: MaskFlavour
    scl: RasterAsset | None = None
    clm: RasterAsset | None = None
    mg2: RasterAsset | None = None
    cnn: RasterAsset | None = None


@dataclass(frozen=True)
class NormalizedItem:
    """A Sentinel-2 L2A acquisition of one tile, independent of the catalogue it came from."""

    id: str
    collection: str | None
    datetime: datetime  # timezone-aware, UTC
    bbox: tuple[float, float, float, float]  # lon/lat
    bands: dict[str, RasterAsset]  # by common name: blue, green, red, nir, ...
    masks: Masks
    acquisition_key: str  # same value for overlapping tiles of one pass (datatake / solar day)
    source: str = ""  # the catalogue it came from, for messages
    platform: str | None = None
    processing_baseline: str | None = None
    cloud_cover: float | None = None
    aot: RasterAsset | None = None  # aerosol optical thickness at 550 nm, physical units
    epsg: int | None = None
    sun_azimuth: float | None = None
    sun_elevation: float | None = None
    properties: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    #: The item's own http(s) URL (its ``self`` link), when its catalogue gives one.
    href: str | None = None

    @property
    def grid(self) -> Grid | None:
        """The finest band grid of the item (its 10 m grid when 10 m bands exist)."""
        grids = [a.grid for a in self.bands.values() if a.grid is not None]
        return min(grids, key=lambda g: g.resolution) if grids else None

    @property
    def sort_key(self) -> tuple[_DateTime, str]:
        """Deterministic order used everywhere: datetime, then id."""
        return (self.datetime, self.id)
