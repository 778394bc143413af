"""A pixel's observations in time order: the inputs the temporal screen and the haze test take.

Both take (T, Y, X) planes of classes and reflectance and the (T,) days of the observations,
and check them the same way. (Both also walk a pixel's observations outwards in time, nearest
first; that loop is written out in each kernel: as a shared numba function it was not
inlined, and both kernels ran 1.7x slower.)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]


def checked_days(classes: Any, days: Any, bands: Mapping[str, Any]) -> F32:
    """``days`` as C-contiguous float32, once the shapes and the time order are checked.

    Raises:
        ValueError: ``classes`` not (T, Y, X), a band of another shape, or days that are not
            (T,), finite and non-decreasing.

    """
    shape = np.shape(classes)
    if len(shape) != 3:
        raise ValueError(f"classes must be (T, Y, X), not {shape}")
    for name, band in bands.items():
        if np.shape(band) != shape:
            raise ValueError(f"{name} has shape {np.shape(band)}, classes {shape}")
    when = np.ascontiguousarray(days, dtype=np.float32)
    if when.shape != shape[:1]:
        raise ValueError(f"days has shape {when.shape}, expected ({shape[0]},)")
    if not (np.isfinite(when).all() and (np.diff(when) >= 0).all()):
        raise ValueError("days must be finite and non-decreasing (observations in time order)")
    return when
