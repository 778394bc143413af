"""The medoid's pair loop, compiled: every pair of observations in one pass over a strip.

The medoid scores each valid observation by its summed distance to the others, so it visits
T (T - 1) / 2 pairs per pixel: 4,186 at 92 dates. In numpy each pair was seven passes over
a strip of pixels (a subtract, a square, a sum over the bands, a square root, two weights,
two adds), each a ufunc call; an annual composite spent most of its time there. Compiled,
a pair is one loop over the strip's pixels, in the L1 cache, with no call per pair.

Each operation is the float32 operation of the numpy formulation, in the same order: the
squared differences summed band after band from 0, the square root, the two weights (1 or 0)
multiplied in, and each score adding its distances in ascending pair order (numba compiles
without fast-math, so nothing is reassociated or fused). The scores are bit-identical to it,
which `tests/engine/test_composite.py` checks; so identical spectra still get identical
scores and argmin's tie still goes to the earliest observation.

It is compiled when the module is imported (see `engine.compiled`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.compiled import inputs, kernel, outputs, types

#: Pixels of one strip: the strip's features (T x B x 256 float32: 660 KB at 92 dates of 7
#: bands) stay in a core's L2 cache while its pairs are visited.
STRIP = 256


def _scores(features: Any, valid: Any, score: Any) -> None:
    """Summed distance of each valid observation to every other valid one; +inf if invalid.

    features: float32 (T, B, P); valid: bool (T, P); score: float32 (T, P), written.
    """
    t_count, band_count, pixels = features.shape
    strip = np.empty((t_count, band_count, STRIP), dtype=np.float32)
    weight = np.empty((t_count, STRIP), dtype=np.float32)
    total = np.empty(STRIP, dtype=np.float32)
    zero, one = np.float32(0.0), np.float32(1.0)
    for p0 in range(0, pixels, STRIP):
        n = min(STRIP, pixels - p0)
        # Invalid observations become 0, as in numpy: no NaN of nodata reaches a sum, and a
        # pair is masked by two multiplications.
        for t in range(t_count):
            for p in range(n):
                ok = valid[t, p0 + p]
                weight[t, p] = one if ok else zero
                score[t, p0 + p] = zero
            for b in range(band_count):
                for p in range(n):
                    strip[t, b, p] = features[t, b, p0 + p] if valid[t, p0 + p] else zero
        for i in range(t_count):
            for j in range(i + 1, t_count):
                for p in range(n):
                    total[p] = zero
                for b in range(band_count):
                    for p in range(n):
                        diff = strip[i, b, p] - strip[j, b, p]
                        total[p] += diff * diff
                # Three loops, not one: each then writes one row, which the compiler can
                # vectorize (score's rows i and j might be one row, as far as it knows).
                for p in range(n):
                    total[p] = np.sqrt(total[p]) * weight[i, p] * weight[j, p]
                for p in range(n):
                    score[i, p0 + p] += total[p]
                for p in range(n):
                    score[j, p0 + p] += total[p]
        for t in range(t_count):
            for p in range(n):
                if not valid[t, p0 + p]:
                    score[t, p0 + p] = np.inf


scores = kernel(inputs(types.float32, 3), inputs(types.boolean, 2),
                outputs(types.float32, 2))(_scores)
