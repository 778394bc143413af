"""What an order is and what its product holds, in the names the API, the CLI and the engine share.

The one place that names the order's bands, resolutions and methods, describes each method
once, and lists the quality layers each method writes. It imports no numpy, dask or numba
(`tests/engine/test_contract.py` checks it): the web process learns the band list and the
methods' outputs from here without loading the engine that computes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from catalog.model import BAND_ID
from engine.errors import InvalidParameter
from engine.period import Period

DEFAULT_BANDS: tuple[str, ...] = ("blue", "green", "red", "nir")
#: Output pixel sizes in metres: the native lattices of Sentinel-2, so no output pixel
#: straddles a fraction of an input pixel.
RESOLUTIONS: tuple[int, ...] = (10, 20, 60)

#: The mosaicking methods, each described once (`engine.methods` builds them).
METHODS: dict[str, str] = {
    "synthesis": "WASP-style weighted average of cloud-free observations at the central date",
    "composite": "S2GM-style best available pixel (medoid / short-term composite), with its date",
    "median": "per-band median of valid observations (the common cloudless-mosaic baseline)",
    "q25": "per-band first quartile of valid observations (darker, fewer residual clouds)",
}
DEFAULT_METHOD = "synthesis"


@dataclass(frozen=True)
class QualityLayer:
    """A per-pixel quality output of a method, written as its own COG asset."""

    key: str
    dtype: str
    nodata: float | None
    description: str
    #: Meaning of each value of a categorical layer, for the STAC item (classification).
    classes: dict[int, str] = field(default_factory=dict)
    #: One sentence per class, which the classification extension requires with the name.
    class_descriptions: dict[int, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """A categorical layer describes every class it names, and only those."""
        if self.class_descriptions.keys() != self.classes.keys():
            raise ValueError(f"quality layer {self.key!r}: classes {sorted(self.classes)} "
                             f"but descriptions of {sorted(self.class_descriptions)}")


#: Composite's ``date`` nodata: an int16 the day offsets of a period never reach.
COMPOSITE_DATE_NODATA = -32768
_COUNT = QualityLayer("count", "uint8", None, "Number of valid observations (capped at 255).")

#: The quality layers of each method. The class values are the engine's own codes
#: (`engine.methods.base.ObsClass` for ``flag``, `engine.methods.composite.CompositeMethod`
#: for ``method``; `tests/engine/test_contract.py` holds them equal).
QUALITY: dict[str, tuple[QualityLayer, ...]] = {
    "synthesis": (
        QualityLayer("weight", "float32", None, "Sum of the weights of the averaged observations"),
        QualityLayer("date", "float32", float("nan"), "Weighted mean days from the central date"),
        QualityLayer(
            "flag", "uint8", None, "Kind of observation behind the pixel",
            classes={0: "nodata", 1: "cloud", 2: "snow", 3: "water", 4: "land"},
            class_descriptions={
                0: "No observation with data in every band in the window",
                1: "No clear observation: the least cloudy one (lowest blue reflectance)",
                2: "No clear land observation: the latest snow observation",
                3: "No clear land observation: the latest water observation",
                4: "Weighted mean of the clear land observations",
            },
        ),
        QualityLayer("count", "uint8", None, "Number of land observations averaged"),
    ),
    "composite": (
        QualityLayer("date", "int16", COMPOSITE_DATE_NODATA,
                     "Days of the chosen observation from the central date, rounded."),
        _COUNT,
        QualityLayer(
            "method", "uint8", None,
            "How the observation was chosen; stc without a value: rule 5 found only an"
            " observation too bright to be clear (TCB > 1).",
            classes={0: "none", 1: "single", 2: "stc", 3: "medoid"},
            class_descriptions={
                0: "No valid observation (or rule 5 of the short-term composite: only one too "
                   "bright to be clear)",
                1: "The only valid observation",
                2: "Chosen by the short-term composite rules (2 or 3 valid observations)",
                3: "The medoid of 4 or more valid observations",
            },
        ),
        QualityLayer("medoid_distance", "float32", float("nan"),
                     "Mean Euclidean distance of the medoid to the valid observations "
                     "(reflectance)."),
        QualityLayer("scl", "uint8", 0, "SCL class of the chosen observation."),
    ),
    "median": (_COUNT,),
    "q25": (_COUNT,),
}


@dataclass(frozen=True)
class Order:
    """What to build. Parameters only; where the items come from is the caller's business."""

    bbox: tuple[float, float, float, float]
    period: Period
    method: str = DEFAULT_METHOD
    bands: tuple[str, ...] = DEFAULT_BANDS
    resolution: int = 10
    epsg: int | None = None
    cloud_dilation_m: float = 0.0
    #: Which masks say "cloud" (`engine.masks.chain`): ``auto``, or sources joined by ``+``.
    cloud_mask: str = "auto"
    #: Exact output bounds in the CRS of ``epsg`` (optional; the bbox is then only a footprint).
    bounds: tuple[float, float, float, float] | None = None
    #: A GeoJSON Polygon in lon/lat inside the bbox: pixels outside it are nodata.
    geometry: dict[str, Any] | None = None

    def parameters(self) -> dict[str, Any]:
        """Every processing parameter, for the product's STAC item."""
        return {
            "bbox": list(self.bbox),
            "period": self.period.label,
            "method": self.method,
            "bands": list(self.bands),
            "resolution": self.resolution,
            "epsg": self.epsg,
            "cloud_dilation_m": self.cloud_dilation_m,
            "cloud_mask": self.cloud_mask,
            "bounds": list(self.bounds) if self.bounds else None,
            "geometry": self.geometry,
        }


def order_bands(names: Sequence[str]) -> tuple[str, ...]:
    """The bands of an order: Sentinel-2 common names, trimmed and lower-cased, each once.

    Raises:
        InvalidParameter: no band, an unknown name, or a band listed twice.

    """
    bands = tuple(name.strip().lower() for name in names)
    unknown = [b for b in bands if b not in BAND_ID]
    if unknown or not bands:
        raise InvalidParameter("bands", f"unknown {unknown}; choose from {', '.join(BAND_ID)}")
    if len(set(bands)) != len(bands):
        raise InvalidParameter("bands", "a band is listed twice")
    return bands
