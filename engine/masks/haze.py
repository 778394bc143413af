"""A haze and thin-cloud test on each observation's own colour: the haze optimized transform.

The temporal screen judges an observation against the pixel's other dates, so it cannot judge
a pixel seen once or twice in the period, and that is where the synthesis' residual cloud
comes from (docs/quality.md: pixels with one or two land observations, seen through haze or
cloud that Sen2Cor and the CNN both miss). This test needs no other date to flag.

Haze and clouds scatter blue light more than red, while clear land of every kind lies near a
"clear line" in the blue-red plane. The distance above that line, the haze optimized transform
(HOT, Zhang, Guindon & Cihlar 2002), measures haze. We use Fmask's form of it (Zhu & Woodcock
2012), ``blue - 0.5 * red``: Fmask compares it with 0.08 on top-of-atmosphere reflectance,
which still holds the atmosphere's path reflectance; on surface reflectance the threshold is
lower (`HazeParams.threshold`, measured on the quality benchmark).

HOT's known false alarms are surfaces that are bright in blue by nature: roofs, bright
concrete, some sands. They are bright on every date, and haze is not: as in the temporal
screen, an observation above the threshold is kept when one of its nearest land observations
in time *confirms* it (same HOT and same blue within tolerances). Haze that covers a pixel on
its only date is flagged; a roof seen twice is not.

All decisions are taken on the input classes, in one pass: the result does not depend on any
processing order. The test is a complement to the source masks and the temporal screen, whose
clouds are united with its own (`engine.masks.chain`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from engine.compiled import inputs, kernel, outputs, types
from engine.masks.series import checked_days
from engine.methods.base import ObsClass

U8 = npt.NDArray[np.uint8]

_LAND = int(ObsClass.LAND)
_CLOUD = int(ObsClass.CLOUD)


@dataclass(frozen=True)
class HazeParams:
    """Thresholds of the haze test; reflectances are 0-1.

    Attributes:
        red_weight: HOT is ``blue - red_weight * red`` (Fmask's 0.5).
        threshold: a land observation whose HOT exceeds this is haze or cloud, unless
            confirmed.
        neighbours: how many land observations of the pixel, nearest in time, may confirm
            it (the earlier first on equal gaps, as in the temporal screen).
        confirm_hot: a reference confirms when its HOT is within this of the observation's,
        confirm_blue: and its blue within this.

    """

    red_weight: float = 0.5
    threshold: float = 0.04
    neighbours: int = 6
    confirm_hot: float = 0.015
    confirm_blue: float = 0.02

    def __post_init__(self) -> None:
        if self.neighbours < 0:
            raise ValueError(f"neighbours must not be negative, not {self.neighbours}")
        for name in ("red_weight", "threshold", "confirm_hot", "confirm_blue"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be finite and not negative, not {value}")


def _screen(
    classes: Any, days: Any, blue: Any, red: Any, red_weight: float, threshold: float,
    neighbours: int, confirm_hot: float, confirm_blue: float, out: Any,
) -> None:
    """Set to CLOUD in ``out`` the unconfirmed land observations above the threshold.

    Row by row: a first pass, in memory order and vectorised, marks the pixels with a land
    observation above the threshold (most have none); only those are gathered, their land
    observations with a value in time order, and judged against their nearest references.
    HOT is computed in float32, as numpy computes ``blue - red_weight * red``; comparisons
    are in float64, where the difference of two float32 values is exact.
    """
    n_t, ny, nx = classes.shape
    weight = np.float32(red_weight)
    suspect = np.empty(nx, dtype=np.bool_)
    where = np.empty(n_t, dtype=np.int64)
    d = np.empty(n_t, dtype=np.float64)
    hot = np.empty(n_t, dtype=np.float64)
    bright = np.empty(n_t, dtype=np.float64)
    for y in range(ny):
        suspect[:] = False
        for t in range(n_t):
            class_row, blue_row, red_row = classes[t, y], blue[t, y], red[t, y]
            for x in range(nx):
                h = np.float64(blue_row[x] - weight * red_row[x])
                suspect[x] |= (class_row[x] == _LAND) & (h > threshold)  # NaN: False
        for x in range(nx):
            if not suspect[x]:
                continue
            c = 0
            for t in range(n_t):
                h = np.float64(blue[t, y, x] - weight * red[t, y, x])
                where[c], d[c], hot[c], bright[c] = t, days[t], h, blue[t, y, x]
                c += (classes[t, y, x] == _LAND) & (h == h)
            m = min(neighbours, c - 1)
            for i in range(c):
                hi, bi, di = hot[i], bright[i], d[i]
                if not hi > threshold:
                    continue
                confirmed = False
                lo, up = i - 1, i + 1
                for _ in range(m):
                    # The nearer of the next earlier and the next later; the earlier on a tie,
                    # as in the temporal screen (`engine.masks.series`: why written twice).
                    if lo >= 0 and (up >= c or di - d[lo] <= d[up] - di):
                        j = lo
                        lo -= 1
                    else:
                        j = up
                        up += 1
                    if abs(hi - hot[j]) <= confirm_hot and abs(bi - bright[j]) <= confirm_blue:
                        confirmed = True
                        break
                if not confirmed:
                    out[where[i], y, x] = _CLOUD


_compiled = kernel(
    inputs(types.uint8, 3), inputs(types.float32, 1), inputs(types.float32, 3),
    inputs(types.float32, 3), types.float64, types.float64, types.int64, types.float64,
    types.float64, outputs(types.uint8, 3),
)(_screen)


def haze_screen(
    classes: npt.NDArray[np.integer[Any]],
    days: npt.NDArray[np.floating[Any]],
    blue: npt.NDArray[np.floating[Any]],
    red: npt.NDArray[np.floating[Any]],
    params: HazeParams = HazeParams(),  # frozen: safe to share
) -> U8:
    """The classes with the hazy land observations turned into CLOUD.

    Args:
        classes: ObsClass codes (T, Y, X) after the source masks, observations in time order.
        days: (T,) signed days from the central date, non-decreasing.
        blue: surface reflectance (T, Y, X), NaN without data.
        red: surface reflectance (T, Y, X), NaN without data.
        params: the thresholds.

    Returns:
        New uint8 classes (T, Y, X): LAND where the test flags an observation becomes CLOUD;
        every other value is the input's. The inputs are not modified.

    Raises:
        ValueError: shapes that do not match, or days that are not finite and
            non-decreasing.

    """
    when = checked_days(classes, days, {"blue": blue, "red": red})

    codes = np.ascontiguousarray(classes, dtype=np.uint8)
    out = codes.copy()
    p = params
    _compiled(codes, when, np.ascontiguousarray(blue, dtype=np.float32),
              np.ascontiguousarray(red, dtype=np.float32), p.red_weight, p.threshold,
              p.neighbours, p.confirm_hot, p.confirm_blue, out)
    return out
