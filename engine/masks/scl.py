"""Sen2Cor's scene classification (SCL) to the engine's pixel classes."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from engine.compiled import inputs, kernel, outputs, types
from engine.methods.base import ObsClass

U8 = npt.NDArray[np.uint8]

#: Sen2Cor SCL classes (docs/algorithms.md, "Masks"). Any other value (e.g. 12 from lossy
#: re-encoding) is invalid and treated as nodata.
SCL_CLOUD = (3, 8, 9, 10)  # cloud shadow, cloud medium/high probability, thin cirrus
SCL_NODATA = (0, 1)  # no data, saturated or defective
SCL_WATER = 6
SCL_SNOW = 11
SCL_LAND = (2, 4, 5, 7)  # dark area, vegetation, not vegetated, unclassified
#: The SCL value given to pixels that another mask source calls cloud, so that the
#: composite's S2GM rules (which read the SCL) reject them too.
SCL_ADDED_CLOUD = 9
#: Thin cirrus: Sen2Cor's thin clouds, and the SCL value given to the haze test's clouds (the
#: surface seen through a veil). The synthesis' cloud-only fallback prefers these to thick
#: clouds and shadows.
SCL_THIN_CLOUD = 10

_SCL_TO_CLASS = np.zeros(256, dtype=np.uint8)  # every unknown value -> NODATA
for _v in SCL_CLOUD:
    _SCL_TO_CLASS[_v] = ObsClass.CLOUD
for _v in SCL_LAND:
    _SCL_TO_CLASS[_v] = ObsClass.LAND
_SCL_TO_CLASS[SCL_WATER] = ObsClass.WATER
_SCL_TO_CLASS[SCL_SNOW] = ObsClass.SNOW


def _look_up(values: Any, table: Any, out: Any) -> None:
    for i in range(values.size):
        out[i] = table[values[i]]


# Compiled: five times faster than np.take on a block's SCL (0.3 against 1.5 ns a pixel).
_look_up_compiled = kernel(inputs(types.uint8, 1), inputs(types.uint8, 1),
                           outputs(types.uint8, 1))(_look_up)


def classify_scl(scl: npt.NDArray[np.integer]) -> U8:
    """ObsClass codes from Sen2Cor SCL values, by table look-up (values > 255 are nodata)."""
    if scl.dtype != np.uint8:
        scl = np.where(scl > 255, 0, scl).astype(np.uint8)
    values = np.ascontiguousarray(scl)
    classes = np.empty(values.shape, dtype=np.uint8)
    _look_up_compiled(values.reshape(-1), _SCL_TO_CLASS, classes.reshape(-1))
    return classes
