"""W_cloud of the synthesis: a weight that grows with the distance to clouds, as WASP does.

The cloud mask is averaged down to 240 m cells, thresholded, blurred with two Gaussians
(sigma 2 and 10 cells, about 480 m and 2.4 km) and brought back to the output grid
bilinearly: ``W_cloud = (1 - Gs) * (1 - Gl)``, and 0 on the cloudy pixels themselves. Masks
miss cloud edges and haze, so an observation close to a big cloud is trusted less.

The pipeline runs it in two passes so memory stays bounded:

1. :func:`coarse_cloud_fraction` then :func:`blurred_cloud_fields` over the whole order. The
   coarse arrays are small (a 110 km tile is 458 x 458 cells per date), and the blur must see
   the whole order: a block alone would not know about a cloud just past its edge.
2. :func:`cloud_weight_block` per dask block, which only interpolates the coarse fields. Every
   output pixel depends only on its position in the full grid, so the result does not depend
   on how the grid is cut into blocks.

:func:`cloud_weight` does both on one numpy array; it is the reference for the blockwise path.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from engine.compiled import inputs, kernel, outputs, types

F32 = npt.NDArray[np.float32]
Mask = npt.NDArray[np.bool_] | npt.NDArray[np.uint8]

#: Size of the coarse cells in metres (WASP works at 240 m).
COARSE_CELL_M = 240
#: Standard deviations of the two Gaussian blurs, in coarse cells (480 m and 2.4 km).
SIGMA_SMALL = 2.0
SIGMA_LARGE = 10.0
#: Cells a blurred cell depends on, each side: scipy's Gaussian kernels reach ``int(4 sigma
#: + 0.5)`` cells (``truncate=4``). A part of an order computes its fields over itself and
#: this margin (`engine.part_tasks.part_cloud_fields`).
FIELD_MARGIN_CELLS = int(4.0 * SIGMA_LARGE + 0.5)
#: A coarse cell is cloud when at least this share of its valid pixels is cloud.
CLOUD_FRACTION_THRESHOLD = 0.5
#: Smallest weight of a pixel that is not itself cloud. Deep inside a large cloud field the
#: blurred fields reach exactly 1.0 in float32 and (1 - Gs)(1 - Gl) underflows to 0; a clear
#: pixel seen only in such gaps would then have no usable observation at all and fall back to a
#: cloudy one. The floor keeps such observations usable, at a weight so small that any
#: observation away from clouds still dominates the average. WASP has no such floor.
W_CLOUD_FLOOR = 1e-6


def coarse_factor(resolution: float) -> int:
    """Return the number of output pixels per coarse cell along each axis.

    Args:
        resolution: output pixel size in metres.

    Returns:
        240 / resolution: 24 at 10 m, 12 at 20 m, 4 at 60 m.

    Raises:
        ValueError: when 240 m is not a whole number of pixels.

    """
    if not resolution > 0:
        raise ValueError(f"resolution: {resolution} m is not positive")
    factor = COARSE_CELL_M / resolution
    rounded = round(factor)
    if rounded < 1 or abs(factor - rounded) > 1e-9:
        raise ValueError(
            f"resolution: {resolution} m does not divide the {COARSE_CELL_M} m cloud cells"
        )
    return int(rounded)


def _cell_fractions(codes: Any, factor: int, cloud: int, nodata: int, out: Any) -> None:
    """Share of ``cloud`` among the pixels not ``nodata``, per factor x factor cell.

    One pass over the codes (T, Y, X) without temporaries; ``out`` is (T, Yc, Xc). Cells of
    the bottom and right edges may be partial. A cell without a valid pixel gets 0. The share
    is computed in float64 and rounded to float32, as numpy divides two integer counts.
    """
    n_t, ny, nx = codes.shape
    n_xc = out.shape[2]
    valid = np.zeros(n_xc, dtype=np.uint32)
    cloudy = np.zeros(n_xc, dtype=np.uint32)
    for t in range(n_t):
        for cy in range(out.shape[1]):
            valid[:] = 0
            cloudy[:] = 0
            for y in range(cy * factor, min((cy + 1) * factor, ny)):
                row = codes[t, y]
                for cx in range(n_xc):
                    n_valid, n_cloud = 0, 0
                    for x in range(cx * factor, min((cx + 1) * factor, nx)):
                        n_valid += row[x] != nodata
                        n_cloud += row[x] == cloud
                    valid[cx] += n_valid
                    cloudy[cx] += n_cloud
            for cx in range(n_xc):
                share = np.float64(cloudy[cx]) / np.float64(valid[cx]) if valid[cx] else 0.0
                out[t, cy, cx] = np.float32(share)


_fractions = kernel(inputs(types.uint8, 3), types.int64, types.int64, types.int64,
                    outputs(types.float32, 3))(_cell_fractions)


def coarse_class_fraction(classes: npt.NDArray[np.uint8], factor: int, cloud: int,
                          nodata: int) -> F32:
    """Share of cloud among the valid pixels of each coarse cell, from class codes.

    Args:
        classes: uint8 (Y, X) or (T, Y, X) codes.
        factor: output pixels per coarse cell (:func:`coarse_factor`).
        cloud: the code of cloud.
        nodata: the code of pixels without data, which do not count.

    Returns:
        float32 (..., ceil(Y / factor), ceil(X / factor)), as `coarse_cloud_fraction`.

    """
    if factor < 1:
        raise ValueError(f"factor: {factor} is not a positive number of pixels")
    ny, nx = classes.shape[-2:]
    if ny == 0 or nx == 0:
        raise ValueError("cloud: the mask is empty")
    codes = np.ascontiguousarray(classes, dtype=np.uint8).reshape(-1, ny, nx)
    out = np.empty((codes.shape[0], -(-ny // factor), -(-nx // factor)), dtype=np.float32)
    _fractions(codes, factor, cloud, nodata, out)
    return out.reshape(*classes.shape[:-2], *out.shape[-2:])


def coarse_cloud_fraction(cloud: Mask, valid: Mask | None, factor: int) -> F32:
    """Share of cloud among the valid pixels of each coarse cell.

    Cells are aligned on the top-left corner of the arrays. A block whose offsets in the full
    grid are multiples of ``factor`` therefore gives exactly the cells of the full array, so
    the pipeline may compute this pass blockwise with factor-aligned chunks.

    Args:
        cloud: cloud mask (1 = cloud), bool or uint8, (Y, X) or (T, Y, X).
        valid: same shape, true where the pixel has data; None when every pixel has.
        factor: output pixels per coarse cell (:func:`coarse_factor`).

    Returns:
        float32 (..., ceil(Y / factor), ceil(X / factor)) in [0, 1]. Cells at the right and
        bottom edges may cover fewer pixels; their share is over the pixels they have. A cell
        with no valid pixel gets 0: no data is no evidence of cloud, and calling it cloud would
        lower the weights along every swath edge and nodata border of every observation.

    """
    codes = np.asarray(cloud).astype(np.bool_).view(np.uint8)  # 1 cloud, 0 clear
    if valid is not None:
        valid_b = np.asarray(valid).astype(np.bool_, copy=False)
        if valid_b.shape != codes.shape:
            raise ValueError(f"valid: shape {valid_b.shape} is not {codes.shape}")
        codes[~valid_b] = 2
    return coarse_class_fraction(codes, factor, cloud=1, nodata=2)


def blurred_cloud_fields(fraction: F32) -> tuple[F32, F32]:
    """Threshold the coarse cloud share and blur it at the two scales.

    The blur runs per date on the last two axes with mode ``'nearest'``: the cloud state at
    the edge of the order is assumed to continue past it. The alternatives are worse: a zero
    border ('constant') would pretend the unknown outside is clear and overweight pixels near
    a cloud cut by the edge, and 'reflect'/'mirror' invent structure. Only the border region
    of about 4 sigma (40 cells, 9.6 km for Gl) is affected by this choice.

    Args:
        fraction: float32 (T, Yc, Xc) share of cloud per coarse cell
            (:func:`coarse_cloud_fraction`).

    Returns:
        (Gs, Gl): float32 (T, Yc, Xc) in [0, 1], the binary cloud map blurred with sigma
        :data:`SIGMA_SMALL` and :data:`SIGMA_LARGE` cells.

    """
    frac = np.asarray(fraction)
    if frac.ndim != 3:
        raise ValueError(f"fraction: expected (T, Yc, Xc), got shape {frac.shape}")
    binary = (frac >= CLOUD_FRACTION_THRESHOLD).astype(np.float32)
    from scipy import ndimage  # the synthesis only: a tenth of a second of every start-up

    fields: list[F32] = []
    for sigma in (SIGMA_SMALL, SIGMA_LARGE):
        # A sigma of 0 on the date axis: each date is blurred on its own.
        blurred = ndimage.gaussian_filter(
            binary, sigma=(0.0, sigma, sigma), mode="nearest", output=np.float32
        )
        # The kernel sums to 1 only up to rounding: clip so that 1 - G is never negative.
        np.clip(blurred, 0.0, 1.0, out=blurred)
        fields.append(blurred)
    return fields[0], fields[1]


def _lerp_axis(
    n_coarse: int, start: int, count: int, factor: int
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp], npt.NDArray[np.float32]]:
    """Neighbour cells and weights that interpolate pixels start..start+count-1 on one axis.

    Pixel i (in the full grid) has its centre at (i + 0.5) / factor - 0.5 in coarse-cell
    coordinates (cell c has its centre at c). Outside the first and last cell centres the
    coordinate is clamped, as ``map_coordinates(order=1, mode='nearest')`` does. Everything
    is a function of the global index i only, which makes blocks agree with the full array.
    """
    pos = (np.arange(start, start + count, dtype=np.float64) + 0.5) / factor - 0.5
    np.clip(pos, 0.0, n_coarse - 1, out=pos)
    lo = np.floor(pos).astype(np.intp)
    hi = np.minimum(lo + 1, n_coarse - 1)
    frac = (pos - lo).astype(np.float32)
    return lo, hi, frac


def _clear_by_rows(
    field: F32, rows: tuple[npt.NDArray[np.intp], npt.NDArray[np.intp], npt.NDArray[np.float32]],
) -> F32:
    """``1 - field`` (T, Yc, Xc') interpolated along Y to the block's rows: (T, Y, Xc').

    This first step works on coarse columns, factor times fewer than the block's.
    Interpolating 1 - G is exactly 1 - interpolated G up to rounding, and saves a pass over the
    full-resolution weights.
    """
    r_lo, r_hi, r_f = rows
    clear = np.float32(1.0) - field
    top = clear[:, r_lo, :]
    by_rows = top + (clear[:, r_hi, :] - top) * r_f[None, :, None]
    return np.ascontiguousarray(by_rows, dtype=np.float32)


def _expand_and_combine(
    small: Any, large: Any, starts: Any, lows: Any, highs: Any, c_f: Any, near_cloud: Any,
    floor: Any, has_cloud: bool, cloud_here: Any, weight: Any,
) -> None:
    """Interpolate both fields along X, multiply, clamp, and zero the cloudy pixels.

    Pixels between the same two coarse cell centres form a run: its two neighbours, and their
    difference, are read once, and the loop over its pixels has no gather.

    Args:
        small: float32 (T, Y, Xc') the small-scale 1 - Gs along the block's rows.
        large: the same for 1 - Gl.
        starts: int64 (R + 1,) first pixel of each run, then the block's width.
        lows: int64 (R,) left neighbour column of each run in ``small``.
        highs: int64 (R,) its right neighbour column.
        c_f: float32 (X,) interpolation weight of the right neighbour, per pixel.
        near_cloud: bool (T,), false where no cloud is within reach of the block: the weight
            is then exactly 1, and this skips the arithmetic.
        floor: float32 (1,), W_CLOUD_FLOOR.
        has_cloud: whether ``cloud_here`` is given.
        cloud_here: bool (T, Y, X), true on the cloudy pixels (any shape without it).
        weight: float32 (T, Y, X) output.

    """
    n_t, ny, nx = weight.shape
    lowest, one, zero = floor[0], np.float32(1.0), np.float32(0.0)
    for t in range(n_t):
        for y in range(ny):
            row_s, row_l, out = small[t, y], large[t, y], weight[t, y]
            if near_cloud[t]:
                for r in range(lows.size):
                    left_s, left_l = row_s[lows[r]], row_l[lows[r]]
                    step_s, step_l = row_s[highs[r]] - left_s, row_l[highs[r]] - left_l
                    for x in range(starts[r], starts[r + 1]):
                        w_s = step_s * c_f[x] + left_s
                        w_l = step_l * c_f[x] + left_l
                        out[x] = min(max(w_s * w_l, lowest), one)
            else:
                out[:] = one
            if has_cloud:
                cloudy = cloud_here[t, y]
                for x in range(nx):
                    out[x] = zero if cloudy[x] else out[x]


_combine = kernel(
    inputs(types.float32, 3), inputs(types.float32, 3), inputs(types.int64, 1),
    inputs(types.int64, 1), inputs(types.int64, 1), inputs(types.float32, 1),
    inputs(types.boolean, 1),
    inputs(types.float32, 1), types.boolean, inputs(types.boolean, 3), outputs(types.float32, 3),
)(_expand_and_combine)
_NO_CLOUD = np.zeros((0, 0, 0), dtype=np.bool_)
_FLOOR = np.array([W_CLOUD_FLOOR], dtype=np.float32)


def cloud_weight_block(
    gs: F32,
    gl: F32,
    factor: int,
    y0: int,
    x0: int,
    shape: tuple[int, int],
    cloud_here: npt.NDArray[np.bool_] | None,
    origin: tuple[int, int] = (0, 0),
    cells: tuple[int, int] | None = None,
) -> F32:
    """W_cloud of one block of the output grid.

    Args:
        gs: float32 (T, Yc, Xc), the small-scale blurred cloud field of the whole order.
        gl: float32 (T, Yc, Xc), the large-scale one.
        factor: output pixels per coarse cell.
        y0: row of the block's top-left pixel in the full output grid.
        x0: column of the block's top-left pixel in the full output grid.
        shape: (Y, X) of the block.
        cloud_here: bool (T, Y, X), true where the pixel itself is cloud (weight 0); None when
            no pixel is.
        origin: (row, column) of the first cell of ``gs`` and ``gl`` in the order's field,
            when they are a crop of it (`crop_window`).
        cells: (rows, columns) of the order's whole field; None: the fields are whole.

    Returns:
        float32 (T, Y, X) in [0, 1], never NaN: ``(1 - Gs) * (1 - Gl)`` interpolated from the
        coarse cell centres, at least :data:`W_CLOUD_FLOOR`, and 0 where ``cloud_here``.

    """
    if gs.shape != gl.shape or gs.ndim != 3:
        raise ValueError(f"gs: shapes {gs.shape} and {gl.shape} differ or are not 3-D")
    ny, nx = int(shape[0]), int(shape[1])
    n_t = gs.shape[0]
    n_yc, n_xc = cells if cells is not None else gs.shape[1:]
    weight = np.empty((n_t, ny, nx), dtype=np.float32)
    if cloud_here is not None and cloud_here.shape != weight.shape:
        raise ValueError(f"cloud_here: shape {cloud_here.shape} is not {weight.shape}")
    r_lo, r_hi, r_f = _lerp_axis(n_yc, y0, ny, factor)
    c_lo, c_hi, c_f = _lerp_axis(n_xc, x0, nx, factor)
    # Only the coarse cells the block interpolates from: a block of a 110 km order needs a few
    # dozen of its 458^2.
    y_cells = slice(int(r_lo[0]) - origin[0], int(r_hi[-1]) + 1 - origin[0])
    x_cells = slice(int(c_lo[0]) - origin[1], int(c_hi[-1]) + 1 - origin[1])
    if (y_cells.start < 0 or x_cells.start < 0 or y_cells.stop > gs.shape[1]
            or x_cells.stop > gs.shape[2]):
        raise ValueError(f"the block at ({y0}, {x0}) needs cells outside the cropped field")
    first_row, first_col = int(r_lo[0]), int(c_lo[0])
    rows = (r_lo - first_row, r_hi - first_row, r_f)
    small = _clear_by_rows(gs[:, y_cells, x_cells], rows)
    large = _clear_by_rows(gl[:, y_cells, x_cells], rows)
    # Where Gl is 0 on every cell the block interpolates from, so is Gs (its kernel is
    # narrower), and the weight is exactly 1.
    near_cloud = gl[:, y_cells, x_cells].reshape(n_t, -1).any(axis=1)
    # Runs of pixels with the same neighbours (c_lo is non-decreasing, by steps of 0 or 1).
    starts = np.flatnonzero(np.diff(c_lo, prepend=-1)).astype(np.int64)
    lows = (c_lo[starts] - first_col).astype(np.int64)
    highs = (c_hi[starts] - first_col).astype(np.int64)
    _combine(small, large, np.append(starts, nx), lows, highs, c_f, near_cloud, _FLOOR,
             cloud_here is not None,
             _NO_CLOUD if cloud_here is None else np.ascontiguousarray(cloud_here, np.bool_),
             weight)
    return weight


def crop_window(window: tuple[int, int, int, int], factor: int,
                cells: tuple[int, int]) -> tuple[slice, slice]:
    """The cells of an order's field that the blocks of a window of pixels interpolate from.

    A part of a large order carries only these (`cloud_weight_block`'s ``origin``): the
    field was blurred over the whole order, so the part's weights are the one-part build's.
    """
    r0, r1, c0, c1 = window
    rows = _lerp_axis(cells[0], r0, r1 - r0, factor)
    cols = _lerp_axis(cells[1], c0, c1 - c0, factor)
    return (slice(int(rows[0][0]), int(rows[1][-1]) + 1),
            slice(int(cols[0][0]), int(cols[1][-1]) + 1))


def cloud_weight(cloud: Mask, valid: Mask | None, resolution: float) -> F32:
    """W_cloud of a whole (T, Y, X) cloud mask in one call; the reference for the blocks.

    Args:
        cloud: cloud mask (1 = cloud), bool or uint8, (T, Y, X).
        valid: same shape, true where the pixel has data; None when every pixel has.
        resolution: output pixel size in metres.

    Returns:
        float32 (T, Y, X) in [0, 1]; 0 on cloudy pixels, 1 far from any cloud.

    """
    cloud_b = np.asarray(cloud).astype(np.bool_, copy=False)
    if cloud_b.ndim != 3:
        raise ValueError(f"cloud: expected (T, Y, X), got shape {cloud_b.shape}")
    factor = coarse_factor(resolution)
    gs, gl = blurred_cloud_fields(coarse_cloud_fraction(cloud_b, valid, factor))
    ny, nx = cloud_b.shape[-2:]
    return cloud_weight_block(gs, gl, factor, 0, 0, (ny, nx), cloud_b)
