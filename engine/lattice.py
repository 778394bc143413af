"""How a window of the output grid maps onto an input raster's own pixels, when it maps simply.

Sentinel-2 rasters are north-up UTM grids whose origins are multiples of 60 m, at 10, 20 or
60 m; l3a's output grids are snapped to their resolution. An order in the raster's own CRS
therefore sees each band on a lattice that differs from the output's by an integer factor
and whole (or, upsampled, whole-subpixel) offsets. Such a window is read with a plain
windowed read and resampled by repetition or decimation, which gives the values GDAL's
warper would (nearest: the source pixel holding the output pixel's centre; average: the
mean of the whole source pixels of the output pixel, nodata excluded) at a fraction of its
cost. Any other case (another CRS, a rotation, a fractional factor, a misaligned origin) is
left to the warper: `plan_window` returns None.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

#: Tolerance on pixel coordinates, in source pixels (transforms carry float rounding).
_EPS = 1e-6


@dataclass(frozen=True)
class WindowPlan:
    """What to read from the source for one output window, and how to resample it.

    ``rows``/``cols`` are the source pixel range to read (inside the raster); the resampled
    result fills ``out_rows``/``out_cols`` of the output window, the rest stays fill.
    """

    rows: tuple[int, int]
    cols: tuple[int, int]
    out_rows: tuple[int, int]
    out_cols: tuple[int, int]
    up: int  # source pixel = up x up output pixels (1: no upsampling)
    down: int  # output pixel = down x down source pixels (1: no decimation)
    skip: tuple[int, int]  # output pixels to drop at the start of the upsampled read


def _integer(value: float) -> int | None:
    nearest = round(value)
    return int(nearest) if abs(value - nearest) < _EPS else None


def _axis(start: float, out_size: int, ratio: float, length: int,
          ) -> tuple[tuple[int, int], tuple[int, int], int, int, int] | None:
    """One axis: source start (in source pixels), output size, output/source pixel ratio.

    Returns (source range, output range, up, down, skip), or None when not a simple mapping.
    """
    if ratio >= 1:  # output pixels as large as or larger than the source's
        down, first = _integer(ratio), _integer(start)
        if down is None or first is None:
            return None
        # Output pixel i covers source pixels [first + i down, first + (i + 1) down): keep
        # those wholly inside the raster. One that straddles the raster's edge would average
        # a part of a cell, which the warper weighs by area: leave that case to it.
        lo = min(out_size, max(0, -(first // down)))
        hi = max(lo, min(out_size, (length - first) // down))
        straddles_start = first < 0 and first % down and lo > 0
        straddles_end = (length - first) % down and hi < out_size and first + hi * down < length
        if straddles_start or straddles_end:
            return None
        return (first + lo * down, first + hi * down), (lo, hi), 1, down, 0
    up = _integer(1 / ratio)
    if up is None or _integer(start * up) is None:
        return None
    # Output pixel i has its centre at start + (i + 0.5) / up source pixels.
    lo = max(0, math.ceil(-start * up - _EPS))
    hi = min(out_size, math.floor((length - start) * up + _EPS))
    if hi <= lo:
        return (0, 0), (0, 0), up, 1, 0
    first = math.floor(start + lo / up + _EPS)
    last = math.floor(start + (hi - 1) / up + _EPS) + 1
    skip = round((start + lo / up - first) * up)
    return (first, last), (lo, hi), up, 1, skip


def plan_window(
    source_transform: tuple[float, ...],
    source_shape: tuple[int, int],
    out_transform: tuple[float, ...],
    window: tuple[int, int, int, int],
) -> WindowPlan | None:
    """The read of output ``window`` (row, col, height, width) from a raster in the same CRS.

    Args:
        source_transform: the raster's affine (a, b, c, d, e, f).
        source_shape: the raster's (height, width).
        out_transform: the output grid's affine.
        window: the output window.

    Returns:
        The plan, or None when the lattices are not related simply (use the warper).

    """
    sa, sb, sc, sd, se, sf = source_transform[:6]
    oa, ob, oc, od, oe, of = out_transform[:6]
    if sb or sd or ob or od or sa <= 0 or oa <= 0 or se >= 0 or oe >= 0:
        return None
    row, col, height, width = window
    x_start = (oc + col * oa - sc) / sa
    y_start = (of + row * oe - sf) / se
    cols = _axis(x_start, width, oa / sa, source_shape[1])
    rows = _axis(y_start, height, oe / se, source_shape[0])
    if cols is None or rows is None or (cols[2], cols[3]) != (rows[2], rows[3]):
        return None
    return WindowPlan(rows=rows[0], cols=cols[0], out_rows=rows[1], out_cols=cols[1],
                      up=cols[2], down=cols[3], skip=(rows[4], cols[4]))


def resample_into(data: npt.NDArray[np.generic], plan: WindowPlan, resampling: str,
                  nodata: float | None, out: npt.NDArray[np.generic]) -> None:
    """Bring the source pixels read for ``plan`` onto the output window ``out``."""
    if plan.up > 1:
        _upsample_into(data, plan.up, plan.skip, out)
    elif plan.down == 1:
        out[...] = data
    else:
        out[...] = _decimate(data, plan.down, out.shape, resampling, nodata)


def _upsample_into(data: npt.NDArray[np.generic], up: int, skip: tuple[int, int],
                   out: npt.NDArray[np.generic]) -> None:
    """Each source pixel repeated ``up`` x ``up`` times, written straight into ``out``.

    Output pixel (r, c) takes source pixel ((skip_r + r) // up, (skip_c + c) // up). The
    output pixels of one phase (r % up, c % up) take consecutive source pixels, so the write
    is up^2 strided copies of ``data``: one pass over the output, where ``np.repeat`` twice
    made two full-size temporaries first (a third of the reading threads' time on Earth
    Search's 20 m bands).
    """
    height, width = out.shape
    for q in range(min(up, height)):
        first_row = (skip[0] + q) // up
        rows = len(range(q, height, up))
        for p in range(min(up, width)):
            first_col = (skip[1] + p) // up
            cols = len(range(p, width, up))
            out[q::up, p::up] = data[first_row:first_row + rows, first_col:first_col + cols]


def _decimate(data: npt.NDArray[np.generic], k: int, shape: tuple[int, ...], resampling: str,
              nodata: float | None) -> npt.NDArray[np.generic]:
    """Output pixels of ``k`` x ``k`` source pixels: nearest (the centre's) or average."""
    height, width = shape
    if resampling == "nearest":  # the source pixel that holds the output pixel's centre
        return data[k // 2::k, k // 2::k]
    cells = data.reshape(height, k, width, k).astype(np.float64)
    valid = cells != nodata if nodata is not None else np.ones(cells.shape, dtype=bool)
    count = valid.sum(axis=(1, 3))
    total = np.where(valid, cells, 0.0).sum(axis=(1, 3))
    # Rounded half up, as GDAL's warper rounds an average into an integer type.
    mean = np.where(count > 0, np.floor(total / np.maximum(count, 1) + 0.5), nodata or 0)
    result: npt.NDArray[np.generic] = mean.astype(data.dtype)
    return result
