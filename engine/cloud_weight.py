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

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from engine.errors import InvalidParameter

F32 = npt.NDArray[np.float32]
Mask = npt.NDArray[np.bool_] | npt.NDArray[np.uint8]

#: Size of the coarse cells in metres (WASP works at 240 m).
COARSE_CELL_M = 240
#: Standard deviations of the two Gaussian blurs, in coarse cells (480 m and 2.4 km).
SIGMA_SMALL = 2.0
SIGMA_LARGE = 10.0
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
        InvalidParameter: when 240 m is not a whole number of pixels.

    """
    if not resolution > 0:
        raise InvalidParameter("resolution", f"{resolution} m is not positive")
    factor = COARSE_CELL_M / resolution
    rounded = round(factor)
    if rounded < 1 or abs(factor - rounded) > 1e-9:
        raise InvalidParameter(
            "resolution", f"{resolution} m does not divide the {COARSE_CELL_M} m cloud cells"
        )
    return int(rounded)


def _block_sums(mask: npt.NDArray[np.bool_], factor: int) -> npt.NDArray[np.uint32]:
    """Count the true pixels of each factor x factor cell on the last two axes."""
    ny, nx = mask.shape[-2:]
    # reduceat handles the partial cells of the bottom and right edges without padding a copy
    # of the full-resolution mask. The first pass runs along the contiguous last axis (2.4x
    # faster than along rows) and already shrinks the data factor times; uint16 holds the at
    # most 24 pixels of a cell's row.
    cols = np.add.reduceat(mask.view(np.uint8), np.arange(0, nx, factor), axis=-1,
                           dtype=np.uint16)
    return np.add.reduceat(cols, np.arange(0, ny, factor), axis=-2, dtype=np.uint32)


def _cell_sizes(n: int, factor: int) -> npt.NDArray[np.uint32]:
    """Pixels of each coarse cell along one axis of n pixels (the last one may be partial)."""
    sizes = np.full(-(-n // factor), factor, dtype=np.uint32)
    sizes[-1] = n - factor * (sizes.size - 1)
    return sizes


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
    if factor < 1:
        raise InvalidParameter("factor", f"{factor} is not a positive number of pixels")
    cloud_b = np.asarray(cloud).astype(np.bool_, copy=False)
    ny, nx = cloud_b.shape[-2:]
    if ny == 0 or nx == 0:
        raise InvalidParameter("cloud", "the mask is empty")
    if valid is None:
        n_valid = np.outer(_cell_sizes(ny, factor), _cell_sizes(nx, factor))
        n_cloud = _block_sums(cloud_b, factor)
    else:
        valid_b = np.asarray(valid).astype(np.bool_, copy=False)
        if valid_b.shape != cloud_b.shape:
            raise InvalidParameter("valid", f"shape {valid_b.shape} is not {cloud_b.shape}")
        n_valid = _block_sums(valid_b, factor)
        n_cloud = _block_sums(cloud_b & valid_b, factor)
    n_valid_b = np.broadcast_to(n_valid, n_cloud.shape)
    fraction = np.zeros(n_cloud.shape, dtype=np.float32)
    np.divide(n_cloud, n_valid_b, out=fraction, where=n_valid_b > 0, casting="unsafe")
    return fraction


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
        raise InvalidParameter("fraction", f"expected (T, Yc, Xc), got shape {frac.shape}")
    binary = (frac >= CLOUD_FRACTION_THRESHOLD).astype(np.float32)
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


def _interpolate(
    field: F32,
    rows: tuple[npt.NDArray[np.intp], npt.NDArray[np.intp], npt.NDArray[np.float32]],
    cols: tuple[npt.NDArray[np.intp], npt.NDArray[np.intp], npt.NDArray[np.float32]],
    out: F32,
) -> None:
    """Bilinear interpolation of one (Yc, Xc) field into ``out`` (Y, X), rows then columns."""
    r_lo, r_hi, r_f = rows
    c_lo, c_hi, c_f = cols
    # Along Y on the coarse columns first: (Y, Xc) is factor times smaller than the output.
    top = field[r_lo, :]
    by_rows = top + (field[r_hi, :] - top) * r_f[:, None]
    # Along X, the neighbour indices are non-decreasing runs (one run per coarse cell), so a
    # repeat of the coarse columns gives the same values as a gather at half the cost.
    left = _expand(by_rows, c_lo)
    np.subtract(_expand(by_rows, c_hi), left, out=out)
    out *= c_f[None, :]
    out += left


def _expand(values: F32, index: npt.NDArray[np.intp]) -> F32:
    """``values[:, index]`` for a non-decreasing ``index`` whose steps are 0 or 1."""
    first = int(index[0])
    counts = np.bincount(index - first)
    expanded: F32 = np.repeat(values[:, first:first + counts.size], counts, axis=1)
    return expanded


def cloud_weight_block(
    gs: F32,
    gl: F32,
    factor: int,
    y0: int,
    x0: int,
    shape: tuple[int, int],
    cloud_here: npt.NDArray[np.bool_] | None,
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

    Returns:
        float32 (T, Y, X) in [0, 1], never NaN: ``(1 - Gs) * (1 - Gl)`` interpolated from the
        coarse cell centres, at least :data:`W_CLOUD_FLOOR`, and 0 where ``cloud_here``.

    """
    if gs.shape != gl.shape or gs.ndim != 3:
        raise InvalidParameter("gs", f"shapes {gs.shape} and {gl.shape} differ or are not 3-D")
    ny, nx = int(shape[0]), int(shape[1])
    _, n_yc, n_xc = gs.shape
    rows = _lerp_axis(n_yc, y0, ny, factor)
    cols = _lerp_axis(n_xc, x0, nx, factor)
    # 1 - G, interpolated: interpolating (1 - G) is exactly 1 - interpolated G up to rounding,
    # and working on it directly saves a pass over the full-resolution array.
    weight = np.empty((gs.shape[0], ny, nx), dtype=np.float32)
    if cloud_here is not None and cloud_here.shape != weight.shape:
        raise InvalidParameter("cloud_here", f"shape {cloud_here.shape} is not {weight.shape}")
    large = np.empty((ny, nx), dtype=np.float32)
    # One date at a time, so the temporaries are (Y, X) and not (T, Y, X).
    y_cells = slice(int(rows[0][0]), int(rows[1][-1]) + 1)
    x_cells = slice(int(cols[0][0]), int(cols[1][-1]) + 1)
    for t in range(gs.shape[0]):
        if not gl[t, y_cells, x_cells].any():
            # No cloud within reach of the block on this date: Gl is 0 on every cell the block
            # interpolates from, and so is Gs (its kernel is narrower). The interpolation
            # would give exactly 1.
            weight[t] = 1.0
            continue
        _interpolate(1.0 - gs[t], rows, cols, out=weight[t])
        _interpolate(1.0 - gl[t], rows, cols, out=large)
        weight[t] *= large
    np.clip(weight, W_CLOUD_FLOOR, 1.0, out=weight)
    if cloud_here is not None:
        np.copyto(weight, np.float32(0.0), where=cloud_here)
    return weight


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
        raise InvalidParameter("cloud", f"expected (T, Y, X), got shape {cloud_b.shape}")
    factor = coarse_factor(resolution)
    gs, gl = blurred_cloud_fields(coarse_cloud_fraction(cloud_b, valid, factor))
    ny, nx = cloud_b.shape[-2:]
    return cloud_weight_block(gs, gl, factor, 0, 0, (ny, nx), cloud_b)
