"""MAJA's masks (CLM, MG2) as Sen2Cor-like scene classes."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from engine.masks.scl import SCL_SNOW, SCL_WATER

U8 = npt.NDArray[np.uint8]


def scl_from_maja(clm: npt.NDArray[np.integer], mg2: npt.NDArray[np.integer]) -> U8:
    """A Sen2Cor-equivalent class from MAJA masks: 9 cloud, 6 water, 11 snow, 4 land.

    CLM bit 0 flags every cloud but the thinnest, and every shadow; MG2 bit 0 is water and bit
    2 snow. Cloud wins over water and snow, as in MAJA's own products. MAJA masks do not tell
    where there is no data (0 is also "clear"): that comes from the reflectance.
    """
    scl = np.full(clm.shape, 4, dtype=np.uint8)
    scl[(mg2 & 0b100) != 0] = SCL_SNOW
    scl[(mg2 & 0b001) != 0] = SCL_WATER
    scl[(clm & 0b001) != 0] = 9
    return scl
