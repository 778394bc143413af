"""The synthesis's weighted sums over the land observations, compiled: one pass over a block.

A block holds every observation and band of a window (12 x 10 x 512^2 uint16 is 63 MB), more
than any CPU cache. In numpy the reduction was some twenty passes over each observation's
planes (a minimum over the bands, the masks, the weight, a multiply and an add per band), so it
was bound by memory traffic, and on a busy machine it also slowed the decoding threads that
share the memory bus. Compiled with numba, each row of each observation is read once, its
weight computed and its bands accumulated while the row is in the L1 cache.

Each operation is the float32 operation the numpy formulation does, in the same order (numba
compiles without fast-math, so nothing is reassociated or fused), so the results are
bit-identical to it; `tests/engine/test_synthesis.py` compares them with a pixel-by-pixel
implementation of docs/algorithms.md, "Synthesis".

It is compiled when the module is imported (see `engine.compiled`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from engine.compiled import inputs, kernel, outputs, types

F32 = npt.NDArray[np.float32]

#: Weights below this (the smallest normal float32) count as 0: 1 / w would overflow.
SMALLEST_WEIGHT = float(np.finfo(np.float32).tiny)


def _accumulate(
    dn: Any, classes: Any, has_cloud_weight: bool, cloud_weight: Any, has_aot: bool,
    aot_weight: Any, w_date: Any, days: Any, scale: Any, offset: Any, uniform: Any, red: int,
    green: int, land_code: int,
    reflectance: Any, weight: Any, date: Any, flag: Any, count: Any, complete: Any,
) -> None:
    """Weighted means of a block's usable land observations, and which observations are complete.

    Args:
        dn: uint16 (T, B, Y, X), C-contiguous; 0 is nodata.
        classes: uint8 (T, Y, X) ObsClass codes.
        has_cloud_weight: false when there is no W_cloud (1 everywhere).
        cloud_weight: float32 (T, Y, X) W_cloud (any shape without it).
        has_aot: false when no observation has AOT (W_aot is then 1).
        aot_weight: float32 (T, Y, X) W_aot (`synthesis.aot_weight`; any shape without it).
        w_date: float32 (T,) W_date; an observation with 0 is outside the window.
        days: float32 (T,) days from the central date.
        scale: float32 (T, B); reflectance = dn * scale + offset.
        offset: float32 (T, B).
        uniform: bool (B,), true where every observation shares the band's scale and offset:
            then the sum is of w * dn, scaled once at the end.
        red: index of the band that must not be negative on a land observation, -1 if none.
        green: the same for green.
        land_code: the ObsClass code of land.
        reflectance: float32 (B, Y, X) output: the weighted mean reflectance where ``weight``
            is positive; elsewhere the offset (the caller's fallbacks overwrite it).
        weight: float32 (Y, X) output, the sum of the weights.
        date: float32 (Y, X) output, the weighted mean of ``days`` (0 without weight).
        flag: uint8 (Y, X) output, ``land_code`` where ``weight`` is positive, else 0.
        count: uint8 (Y, X) output, the land observations averaged, at most 255.
        complete: bool (T, Y, X) output, true where an observation inside the window has data
            in every band: what the fallbacks may choose from.

    """
    n_t, n_b, ny, nx = dn.shape
    f32 = np.float32
    smallest = f32(SMALLEST_WEIGHT)
    low = np.empty(nx, dtype=np.uint16)  # lowest DN over the bands
    w = np.empty(nx, dtype=np.float32)
    n_land = np.empty(nx, dtype=np.uint16)
    for y in range(ny):
        weight_row, date_row, n_land[:] = weight[y], date[y], 0
        weight_row[:] = 0.0
        date_row[:] = 0.0
        reflectance[:, y] = 0.0
        for t in range(n_t):
            w_t = w_date[t]
            complete_row = complete[t, y]
            if not w_t > 0:  # outside the window: not even a fallback
                complete_row[:] = False
                continue
            low[:] = dn[t, 0, y]
            for b in range(1, n_b):
                band = dn[t, b, y]
                for x in range(nx):
                    low[x] = min(low[x], band[x])
            class_row = classes[t, y]
            red_row, green_row = dn[t, max(red, 0), y], dn[t, max(green, 0), y]
            red_scale, red_offset = scale[t, max(red, 0)], offset[t, max(red, 0)]
            green_scale, green_offset = scale[t, max(green, 0)], offset[t, max(green, 0)]
            day = days[t]
            for x in range(nx):
                # A half-empty observation would leave NaN in some bands and not others.
                ok = low[x] > 0
                complete_row[x] = ok
                land = ok & (class_row[x] == land_code)
                if red >= 0:
                    land &= f32(red_row[x]) * red_scale + red_offset >= 0
                if green >= 0:
                    land &= f32(green_row[x]) * green_scale + green_offset >= 0
                w_x = cloud_weight[t, y, x] * w_t if has_cloud_weight else w_t
                if has_aot:
                    w_x = w_x * aot_weight[t, y, x]
                # A weight below the smallest normal float32 counts as 0 (its reciprocal would
                # overflow), and a NaN one fails the test: it never reaches the sums.
                land &= w_x >= smallest
                w_x = w_x if land else f32(0.0)
                w[x] = w_x
                weight_row[x] += w_x
                n_land[x] += land
                date_row[x] += w_x * day
            for b in range(n_b):
                band, sums = dn[t, b, y], reflectance[b, y]
                if uniform[b]:
                    for x in range(nx):
                        sums[x] += f32(band[x]) * w[x]
                else:
                    s, o = scale[t, b], offset[t, b]
                    for x in range(nx):
                        sums[x] += (f32(band[x]) * s + o) * w[x]
        # Means: times 1 / sum w where the sum is positive, times 0 elsewhere, so that nothing
        # is ever divided by zero. A uniform band's sum is of w * dn: scale it, add the offset.
        flag_row, count_row = flag[y], count[y]
        for x in range(nx):
            total = weight_row[x]
            inverse = f32(1.0) / total if total > 0 else f32(0.0)
            w[x] = inverse
            date_row[x] *= inverse
            count_row[x] = min(n_land[x], 255)
            flag_row[x] = land_code if total > 0 else 0
        for b in range(n_b):
            sums = reflectance[b, y]
            if uniform[b]:
                s, o = scale[0, b], offset[0, b]
                for x in range(nx):
                    sums[x] *= w[x] * s
                if o != 0:
                    for x in range(nx):
                        sums[x] += o
            else:
                for x in range(nx):
                    sums[x] *= w[x]




_compiled = kernel(
    inputs(types.uint16, 4), inputs(types.uint8, 3), types.boolean, inputs(types.float32, 3),
    types.boolean, inputs(types.float32, 3), inputs(types.float32, 1), inputs(types.float32, 1),
    inputs(types.float32, 2), inputs(types.float32, 2), inputs(types.boolean, 1),
    types.int64, types.int64, types.int64,
    outputs(types.float32, 3), outputs(types.float32, 2), outputs(types.float32, 2),
    outputs(types.uint8, 2), outputs(types.uint8, 2), outputs(types.boolean, 3),
)(_accumulate)
_ABSENT = np.zeros((0, 0, 0), dtype=np.float32)


def accumulate(
    dn: npt.NDArray[np.uint16], classes: npt.NDArray[np.uint8], cloud_weight: F32 | None,
    aot_weight: F32 | None, w_date: F32, days: F32, scale: F32, offset: F32,
    uniform: npt.NDArray[np.bool_], red: int, green: int, land_code: int,
    reflectance: F32, weight: F32, date: F32, flag: npt.NDArray[np.uint8],
    count: npt.NDArray[np.uint8], complete: npt.NDArray[np.bool_],
) -> None:
    """Run the compiled `_accumulate`; None for a missing ``cloud_weight`` or ``aot_weight``.

    Inputs are made C-contiguous in their compiled dtypes (no copy when they already are);
    the outputs must be.
    """
    def c(array: npt.NDArray[Any], dtype: type[np.generic]) -> npt.NDArray[Any]:
        return np.ascontiguousarray(array, dtype=dtype)

    _compiled(
        c(dn, np.uint16), c(classes, np.uint8),
        cloud_weight is not None, _ABSENT if cloud_weight is None else c(cloud_weight, np.float32),
        aot_weight is not None, _ABSENT if aot_weight is None else c(aot_weight, np.float32),
        c(w_date, np.float32), c(days, np.float32), c(scale, np.float32), c(offset, np.float32),
        c(uniform, np.bool_), red, green, land_code,
        reflectance, weight, date, flag, count, complete,
    )
