"""Growing clouds by a distance: masks miss cloud edges, and users ask for a margin."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from engine.methods.base import ObsClass

U8 = npt.NDArray[np.uint8]


def dilate_clouds(classes: U8, radius_px: int) -> U8:
    """Grow the CLOUD class by a disc of ``radius_px`` pixels over valid observations.

    Nodata stays nodata. Blocks must carry ``radius_px`` pixels of overlap for the result not
    to depend on the chunking.
    """
    if radius_px <= 0:
        return classes
    from scipy import ndimage  # a tenth of a second of start-up, for orders that dilate

    yy, xx = np.mgrid[-radius_px:radius_px + 1, -radius_px:radius_px + 1]
    disc = (yy * yy + xx * xx) <= radius_px * radius_px
    out = classes.copy()
    for t in range(classes.shape[0]):
        grown = ndimage.binary_dilation(classes[t] == ObsClass.CLOUD, structure=disc)
        out[t][grown & (classes[t] != ObsClass.NODATA)] = ObsClass.CLOUD
    return out
