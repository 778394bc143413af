"""How each layer of a product is drawn: named presets, their colormaps and their stretch.

A *preset* names the assets a layer reads and how their values become colours:

- ``rgb`` (true colour: red, green, blue) and ``falsecolor`` (nir, red, green), and one grey
  layer per reflectance band, stretched from the 2nd to the 98th percentile of the product's
  own values (one range for all the bands of a layer, so that colours stay balanced);
- one preset per quality layer: ``date`` diverging around the central date, ``count`` and
  ``weight`` on sequential colormaps, ``flag``, ``method`` and ``scl`` as one colour per class.

The stretch is computed once per product version from a decimated read (rio-tiler's
``preview``, which uses the COG overviews) and kept on the `Product`. The pixel maths takes the
read as a callable, so it is tested on plain arrays.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from rio_tiler.colormap import cmap
from rio_tiler.types import ColorMapType

from api.tiles.products import Product
from catalog.model import BAND_ID
from engine.contract import QUALITY

#: Every layer name the tiler knows. A test checks it covers `catalog.model.BAND_ID` and the
#: quality layers of every method in `engine.contract.QUALITY`.
LayerName = Literal[
    "rgb", "falsecolor",
    "coastal", "blue", "green", "red", "rededge1", "rededge2", "rededge3", "nir", "nir08",
    "nir09", "swir16", "swir22",
    "date", "count", "weight", "flag", "method", "medoid_distance", "scl",
]
REFLECTANCE = tuple(BAND_ID)
#: Percentiles of the reflectance stretch: a few very bright or dark pixels (clouds left,
#: water) must not flatten the rest.
STRETCH_PERCENTILES = (2.0, 98.0)
#: Largest side of the decimated read the statistics come from.
STATS_MAX_SIZE = 1024


class Stretch(enum.Enum):
    """How a layer's value range (the ``rescale`` of titiler) is found."""

    NONE = "none"  #: categorical: raw values go through a discrete colormap
    PERCENTILES = "percentiles"  #: 2nd-98th percentile of the layer's values
    ZERO_TO_MAX = "zero-to-max"  #: 0 to the largest value (counts)
    ZERO_TO_P98 = "zero-to-p98"  #: 0 to the 98th percentile (weights, distances)
    SYMMETRIC = "symmetric"  #: -h..h, h the period's half window in days (or the data's)


@dataclass(frozen=True)
class LayerClass:
    """One class of a categorical layer, for its colormap and its legend."""

    value: int
    name: str
    color: str  #: ``#rrggbb``


@dataclass(frozen=True)
class Preset:
    """A named way to draw some assets of a product.

    Attributes:
        name: the ``layer`` query value.
        title: a human title.
        assets: asset keys read, in band order (1 for a grey or colormapped layer, 3 for RGB).
        stretch: how the value range is found.
        colormap_name: a rio-tiler colormap for continuous single-band layers.
        classes: the classes of a categorical layer (a discrete colormap).
        nodata: a value that means "nothing here" in a file written without a nodata (a
            count of 0, flag 0): made transparent.
        unit: what the values measure, for the legend.

    """

    name: str
    title: str
    assets: tuple[str, ...]
    stretch: Stretch
    colormap_name: str | None = None
    classes: tuple[LayerClass, ...] = ()
    nodata: float | None = None
    unit: str | None = None

    def colormap(self) -> ColorMapType | None:
        """Return the colormap titiler applies (None for RGB and grey layers)."""
        if self.classes:
            # Values not listed (0 = nodata) are transparent: apply_discrete_cmap leaves
            # them at (0, 0, 0, 0).
            return {c.value: (*_rgb(c.color), 255) for c in self.classes}
        if self.colormap_name:
            colormap: ColorMapType = cmap.get(self.colormap_name)
            return colormap
        return None


def _rgb(color: str) -> tuple[int, int, int]:
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


_SCL = (
    LayerClass(1, "saturated or defective", "#ff0000"),
    LayerClass(2, "dark area pixels", "#2f2f2f"),
    LayerClass(3, "cloud shadows", "#643200"),
    LayerClass(4, "vegetation", "#00a000"),
    LayerClass(5, "not vegetated", "#ffe65a"),
    LayerClass(6, "water", "#0000ff"),
    LayerClass(7, "unclassified", "#808080"),
    LayerClass(8, "cloud medium probability", "#c0c0c0"),
    LayerClass(9, "cloud high probability", "#ffffff"),
    LayerClass(10, "thin cirrus", "#64c8ff"),
    LayerClass(11, "snow or ice", "#ff96ff"),
)

def _engine_classes(layer: str, method: str, colours: Mapping[str, str],
                    ) -> tuple[LayerClass, ...]:
    """The classes of a quality layer as the engine names them, with a colour each.

    Class 0 (nodata, or no observation) is the preset's nodata, drawn transparent.
    """
    (defined,) = (q for q in QUALITY[method] if q.key == layer)
    return tuple(LayerClass(value, name, colours[name])
                 for value, name in sorted(defined.classes.items()) if value != 0)


_QUALITY: tuple[Preset, ...] = (
    Preset("date", "Days from the central date", ("date",), Stretch.SYMMETRIC,
           colormap_name="rdbu", unit="days"),
    Preset("count", "Number of observations", ("count",), Stretch.ZERO_TO_MAX,
           colormap_name="viridis", nodata=0, unit="observations"),
    Preset("weight", "Sum of the weights", ("weight",), Stretch.ZERO_TO_P98,
           colormap_name="magma", nodata=0),
    Preset("flag", "Kind of observation", ("flag",), Stretch.NONE, nodata=0,
           classes=_engine_classes("flag", "synthesis", {
               "cloud": "#d0d4da", "snow": "#7fe3ff", "water": "#2166ac", "land": "#4daf4a"})),
    Preset("method", "How the observation was chosen", ("method",), Stretch.NONE, nodata=0,
           classes=_engine_classes("method", "composite", {
               "single": "#f4a259", "stc": "#8e6cc0", "medoid": "#2aa876"})),
    Preset("medoid_distance", "Distance of the medoid to the other observations",
           ("medoid_distance",), Stretch.ZERO_TO_P98, colormap_name="inferno",
           unit="reflectance"),
    Preset("scl", "Scene class of the chosen observation", ("scl",), Stretch.NONE,
           classes=_SCL),
)

PRESETS: dict[str, Preset] = {
    "rgb": Preset("rgb", "True colour (red, green, blue)", ("red", "green", "blue"),
                  Stretch.PERCENTILES, unit="reflectance x 10000"),
    "falsecolor": Preset("falsecolor", "False colour (nir, red, green)", ("nir", "red", "green"),
                         Stretch.PERCENTILES, unit="reflectance x 10000"),
    **{band: Preset(band, f"{band} reflectance", (band,), Stretch.PERCENTILES,
                    unit="reflectance x 10000") for band in REFLECTANCE},
    **{p.name: p for p in _QUALITY},
}


def available(product: Product) -> list[Preset]:
    """Return the presets whose assets the product has, in `PRESETS` order."""
    return [p for p in PRESETS.values() if all(a in product.files for a in p.assets)]


def default_preset(product: Product) -> Preset | None:
    """Return the layer drawn when none is asked: true colour when possible."""
    presets = available(product)
    return presets[0] if presets else None


#: Reads the given assets of a product (a decimated, masked (bands, y, x) array), with an
#: optional nodata override. Given to `value_range` so the maths stays apart from the I/O.
ReadAssets = Callable[[Sequence[str], float | None], np.ma.MaskedArray]


def value_range(preset: Preset, properties: Mapping[str, Any],
                read: ReadAssets) -> tuple[float, float] | None:
    """Return the ``(min, max)`` a layer is stretched over, or None for categorical layers.

    Args:
        preset: the layer.
        properties: the product's STAC properties (for the half window of ``date``).
        read: reads the preset's assets, decimated and masked.

    Returns:
        A range with ``min < max``; a neutral one when the layer has no valid pixel.

    """
    if preset.stretch is Stretch.NONE:
        return None
    if preset.stretch is Stretch.SYMMETRIC:
        half = properties.get("l3a:half_window_days")
        if isinstance(half, int | float) and half > 0:
            return -float(half), float(half)
    data = read(preset.assets, preset.nodata)
    values = np.ma.masked_invalid(data).compressed().astype(np.float64)
    return stretch_range(preset.stretch, values)


def stretch_range(stretch: Stretch, values: np.ndarray) -> tuple[float, float]:
    """Return the value range of ``stretch`` over valid ``values`` (1-D, float64)."""
    if values.size == 0:
        return (0.0, 1.0) if stretch is not Stretch.SYMMETRIC else (-1.0, 1.0)
    low, high = (float(v) for v in np.percentile(values, STRETCH_PERCENTILES))
    if stretch is Stretch.PERCENTILES:
        lo, hi = low, high
    elif stretch is Stretch.ZERO_TO_MAX:
        lo, hi = 0.0, float(values.max())
    elif stretch is Stretch.ZERO_TO_P98:
        lo, hi = 0.0, high
    elif stretch is Stretch.SYMMETRIC:
        half = max(abs(low), abs(high))
        lo, hi = -half, half
    else:  # Stretch.NONE has no range; value_range never asks
        raise ValueError(f"no range for {stretch}")
    if not hi > lo:  # a constant layer: any range around its value
        lo, hi = lo - 1.0, lo + 1.0
    return round(lo, 4), round(hi, 4)


def legend(preset: Preset, rescale: tuple[float, float] | None) -> dict[str, Any]:
    """Return what a page needs to draw the layer's legend."""
    entry: dict[str, Any] = {"kind": "rgb" if len(preset.assets) == 3 else "grey"}
    if preset.classes:
        entry = {"kind": "classes",
                 "classes": [{"value": c.value, "name": c.name, "color": c.color}
                             for c in preset.classes]}
    elif preset.colormap_name:
        colormap = cmap.get(preset.colormap_name)
        stops = [colormap[i] for i in np.linspace(0, 255, 7).round().astype(int)]
        entry = {"kind": "colormap", "colormap_name": preset.colormap_name,
                 "stops": ["#{:02x}{:02x}{:02x}".format(*(int(v) for v in s[:3]))
                           for s in stops]}
    if rescale is not None:
        entry["rescale"] = list(rescale)
    if preset.unit:
        entry["unit"] = preset.unit
    return entry
