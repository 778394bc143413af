"""A multi-temporal cloud and shadow screen: land observations that differ from their neighbours.

Sen2Cor's SCL misses haze, thin clouds and cloud rims, and the shadows they cast. Like the
multi-temporal test of MAJA, this screen compares each land observation of a pixel with the
land observations of the same pixel nearest to it in time: haze and clouds make the blue
brighter than most of them, shadows make the near and short-wave infrared darker. A real
change of the surface (a harvest, a flood, a fire) also differs from its past, but it
persists: it is seen again on a nearby date, and a cloud is not. `temporal_screen` turns the
transient outliers into clouds and leaves everything else as it was.

The rules, each with its parameter in `TemporalParams`:

1. Only LAND observations with a blue and a near-infrared value are tested, and only they serve
   as references. Cloud, snow, water and nodata observations are never changed and never
   compared with.
2. The references of an observation are the ``neighbours`` other land observations of its
   pixel nearest to it in time. With fewer than ``min_references``, it is kept.
3. It is *bright* (cloud, haze) when its blue exceeds that of more than ``majority`` of its
   references by more than a threshold, and *dark* (shadow) when its near infrared, and its
   short-wave infrared when given, are below those of more than ``majority`` of its
   references by more than a threshold. Both thresholds grow with the gap in days between the
   two dates: the surface itself changes more over months than over days.
4. A bright or dark observation is kept when one of its references *confirms* it: shows the
   same surface (blue, near and short-wave infrared within tolerances). Otherwise it becomes
   CLOUD (the class of cloud shadows too).

All decisions are taken on the input classes, in one pass: an observation flagged here still
serves as a reference for the others. The result does not depend on any processing order, and
flagging one observation can never change the verdict on another. The price is that a
majority of undetected hazy observations among a pixel's references can make a clear one look
dark: the screen is a complement to the source masks, not a replacement.

It runs as one compiled kernel over a block's pixels (see `engine.compiled`): per pixel, its
land observations are gathered into small buffers and each is compared with at most
``neighbours`` others, so the cost grows linearly with the number of observations, and no
(T, T, Y, X) array is ever built.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np
import numpy.typing as npt

from engine.compiled import inputs, kernel, outputs, types
from engine.masks.series import checked_days
from engine.methods.base import ObsClass

F32 = npt.NDArray[np.float32]
U8 = npt.NDArray[np.uint8]

_LAND = int(ObsClass.LAND)
_CLOUD = int(ObsClass.CLOUD)
#: How many of each pixel's lowest blues and highest nirs the kernel keeps for its bounds.
_ORDER = 4


@dataclass(frozen=True)
class TemporalParams:
    """Thresholds of the multi-temporal screen; reflectances are 0-1, gaps in days.

    The defaults are starting points, to be tuned on a quality benchmark.

    Attributes:
        neighbours: how many land observations, nearest in time, each observation is compared
            with. Equal gaps before and after: the earlier date first; several observations of
            one date: the one nearer in the sequence first.
        min_references: an observation with fewer references than this is kept untested.
        majority: an observation is an outlier when it is brighter (or darker) than more
            than this fraction of its references; 0.5 means "more than half".
        blue_threshold: observation t is brighter than reference s when
            ``blue[t] - blue[s] > blue_threshold + blue_per_day * |days[t] - days[s]|``.
        blue_per_day: the growth of the blue threshold per day of gap.
        dark_threshold: t is darker than s when
            ``nir[t] - nir[s] < -(dark_threshold + dark_per_day * gap)``, and the same holds
            for swir16 when it is given and both have a value.
        dark_per_day: the growth of the dark threshold per day of gap.
        confirm_blue: a reference s confirms an outlier t, that is shows the same surface,
            when ``|blue[t] - blue[s]| <= confirm_blue``, and the same for the near infrared
            with ``confirm_nir`` and the short-wave infrared (when given and both have a
            value) with ``confirm_swir``. The tolerances are absolute, not relative: the
            errors of the atmospheric correction are roughly absolute, and a relative
            tolerance would make a change to a dark surface (flooded, burnt) almost
            impossible to confirm.
        confirm_nir: tolerance of the near infrared.
        confirm_swir: tolerance of the short-wave infrared.
        confirm_by_earlier: whether an earlier reference may confirm, as well as a later
            one. With False only a later date confirms (MAJA's "the change persists"), and
            the last date of every real change that lasts until the end of the period is
            flagged, since nothing comes after it; with True a change is kept as soon as
            two dates near each other show it, at whichever end of the period.

    """

    neighbours: int = 6
    min_references: int = 2
    majority: float = 0.5
    blue_threshold: float = 0.04
    blue_per_day: float = 0.0005
    dark_threshold: float = 0.04
    dark_per_day: float = 0.0005
    confirm_blue: float = 0.02
    confirm_nir: float = 0.04
    confirm_swir: float = 0.04
    confirm_by_earlier: bool = True

    def __post_init__(self) -> None:
        if self.neighbours < 1:
            raise ValueError(f"neighbours must be at least 1, not {self.neighbours}")
        if self.min_references < 1:
            raise ValueError(f"min_references must be at least 1, not {self.min_references}")
        if not 0 <= self.majority < 1:
            raise ValueError(f"majority must be in [0, 1), not {self.majority}")
        for name in ("blue_threshold", "blue_per_day", "dark_threshold", "dark_per_day",
                     "confirm_blue", "confirm_nir", "confirm_swir"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be finite and not negative, not {value}")


def _screen(
    classes: Any, days: Any, blue: Any, nir: Any, has_swir: bool, swir: Any,
    neighbours: int, min_references: int, majority: float,
    blue_threshold: float, blue_per_day: float, dark_threshold: float, dark_per_day: float,
    confirm_blue: float, confirm_nir: float, confirm_swir: float, confirm_by_earlier: bool,
    out: Any,
) -> None:
    """Set to CLOUD in ``out`` the land observations that are transient outliers.

    Args:
        classes: uint8 (T, Y, X) ObsClass codes.
        days: float32 (T,), non-decreasing.
        blue: float32 (T, Y, X), NaN without data; so are ``nir`` and ``swir``.
        nir: float32 (T, Y, X).
        has_swir: false when there is no swir (``swir`` then has any shape).
        swir: float32 (T, Y, X).
        neighbours: as in `TemporalParams`, and so are the arguments up to
            ``confirm_by_earlier``.
        min_references: see `TemporalParams`.
        majority: see `TemporalParams`.
        blue_threshold: see `TemporalParams`.
        blue_per_day: see `TemporalParams`.
        dark_threshold: see `TemporalParams`.
        dark_per_day: see `TemporalParams`.
        confirm_blue: see `TemporalParams`.
        confirm_nir: see `TemporalParams`.
        confirm_swir: see `TemporalParams`.
        confirm_by_earlier: see `TemporalParams`.
        out: uint8 (T, Y, X), a copy of ``classes``; only flagged observations are written.

    Differences, gaps and thresholds are computed in float64, where the difference of two
    float32 values is exact: a reflectance is compared with the threshold, not a rounding.

    Speed: most observations are nowhere near an outlier, and a bound proves it without
    looking at their references. A bright observation needs ``need`` references (more than
    ``majority`` of m) whose blue is lower than its own by more than ``blue_threshold`` (the
    threshold at gap 0, the smallest). With ``low`` the k-th lowest blue of all the pixel's
    land observations (k = min(need, _ORDER)), at most k - 1 lie below it, so
    ``blue - low <= blue_threshold`` rules the observation out (differences are monotonic
    under rounding, so the bound holds in floating point too); the k-th highest near
    infrared rules out a shadow the same way. A first pass over each row of the planes, in
    memory order and vectorised, counts each pixel's land observations and keeps these order
    statistics; a second marks the pixels with an observation the bounds do not rule out, and
    transposes the row so that each pixel's T values lie side by side (the planes are a power
    of two apart in memory: read from them directly, a pixel's values all compete for the same
    cache sets, which made the gathering three times slower than everything else). Only the
    marked pixels are then gathered, and only their unexcluded observations compared with
    their references.

    """
    n_t, ny, nx = classes.shape
    when = days.astype(np.float64)
    f32 = np.float32
    # Per pixel of a row: its land observations, and its ``most`` lowest blues and highest
    # nirs, sorted from the extreme. ``most`` is the largest ``need``, up to _ORDER: the
    # k-th lowest for any k <= need is a bound too, if a looser one.
    most = min(math.floor(majority * neighbours) + 1, _ORDER)
    count = np.empty(nx, dtype=np.int64)
    lowest = np.empty((most, nx), dtype=np.float32)
    highest = np.empty((most, nx), dtype=np.float32)
    vb = np.empty(nx, dtype=np.float32)
    vn = np.empty(nx, dtype=np.float32)
    low = np.empty(nx, dtype=np.float64)  # the need-th lowest blue
    high = np.empty(nx, dtype=np.float64)  # the need-th highest nir
    suspect = np.empty(nx, dtype=np.bool_)
    # One pixel's valid land observations, in time order: index, days, reflectances.
    where = np.empty(n_t, dtype=np.int64)
    d = np.empty(n_t, dtype=np.float64)
    b = np.empty(n_t, dtype=np.float64)
    n = np.empty(n_t, dtype=np.float64)
    s = np.empty(n_t, dtype=np.float64)
    refs = np.empty(neighbours, dtype=np.int64)
    pixel_blue = np.empty((nx, n_t), dtype=np.float32)
    pixel_nir = np.empty((nx, n_t), dtype=np.float32)
    pixel_swir = np.empty((nx, n_t if has_swir else 0), dtype=np.float32)
    for y in range(ny):
        count[:] = 0
        lowest[:] = np.inf
        highest[:] = -np.inf
        for t in range(n_t):
            class_row, blue_row, nir_row = classes[t, y], blue[t, y], nir[t, y]
            for x in range(nx):
                # Branch-free, so that the loops over x are vectorised (NaN != NaN).
                ok = ((class_row[x] == _LAND) & (blue_row[x] == blue_row[x])
                      & (nir_row[x] == nir_row[x]))
                count[x] += ok
                vb[x] = blue_row[x] if ok else f32(np.inf)
                vn[x] = nir_row[x] if ok else f32(-np.inf)
            # Insertion into the sorted lists, as a sorting network does it.
            for k in range(most - 1, 0, -1):
                above, below = lowest[k], lowest[k - 1]
                for x in range(nx):
                    v = vb[x] if vb[x] > below[x] else below[x]
                    above[x] = v if v < above[x] else above[x]
                above, below = highest[k], highest[k - 1]
                for x in range(nx):
                    v = vn[x] if vn[x] < below[x] else below[x]
                    above[x] = v if v > above[x] else above[x]
            extreme_low, extreme_high = lowest[0], highest[0]
            for x in range(nx):
                extreme_low[x] = vb[x] if vb[x] < extreme_low[x] else extreme_low[x]
                extreme_high[x] = vn[x] if vn[x] > extreme_high[x] else extreme_high[x]
        for x in range(nx):
            m = min(neighbours, count[x] - 1)
            if m < min_references:  # untested: bounds that rule every observation out
                low[x], high[x] = np.inf, -np.inf
            else:
                need = math.floor(majority * m) + 1
                k = min(need, most) - 1
                low[x], high[x] = lowest[k, x], highest[k, x]
            suspect[x] = False
        for t in range(n_t):
            class_row, blue_row, nir_row = classes[t, y], blue[t, y], nir[t, y]
            for x in range(nx):
                suspect[x] |= (class_row[x] == _LAND) & (
                    (np.float64(blue_row[x]) - low[x] > blue_threshold)
                    | (np.float64(nir_row[x]) - high[x] < -dark_threshold))
            # The row transposed, each pixel's T values side by side: the planes are a power
            # of two apart in memory, so that a pixel's values read from them directly all
            # compete for the same cache sets (three times slower than the whole screen).
            # Blue is NaN where the class is not land: both make an observation unusable.
            for x in range(nx):
                pixel_blue[x, t] = blue_row[x] if class_row[x] == _LAND else f32(np.nan)
                pixel_nir[x, t] = nir_row[x]
            if has_swir:
                swir_row = swir[t, y]
                for x in range(nx):
                    pixel_swir[x, t] = swir_row[x]
        for x in range(nx):
            if suspect[x]:
                _judge_pixel(
                    when, pixel_blue, pixel_nir, has_swir, pixel_swir, x,
                    neighbours, majority, blue_threshold, blue_per_day, dark_threshold,
                    dark_per_day, confirm_blue, confirm_nir, confirm_swir, confirm_by_earlier,
                    low[x], high[x], where, d, b, n, s, refs, out, y)


@numba.njit(nogil=True, cache=True, error_model="numpy")
def _judge_pixel(
    when: Any, blue: Any, nir: Any, has_swir: bool, swir: Any, x: int,
    neighbours: int, majority: float,
    blue_threshold: float, blue_per_day: float, dark_threshold: float, dark_per_day: float,
    confirm_blue: float, confirm_nir: float, confirm_swir: float, confirm_by_earlier: bool,
    low: float, high: float, where: Any, d: Any, b: Any, n: Any, s: Any, refs: Any, out: Any,
    y: int,
) -> None:
    """Judge the land observations of one pixel of `_screen` against their references.

    The pixel is ``x`` of the row's transposed ``blue``, ``nir`` and ``swir`` (X, T), with
    NaN blues where the observation is not land, and (y, x) of ``out``; ``low`` and
    ``high`` are its bounds; ``where`` to ``refs`` are scratch buffers, ``where``,
    ``d``, ``b``, ``n``, ``s`` of T values (the pixel's land observations) and ``refs`` of
    ``neighbours``.
    """
    n_t = blue.shape[1]
    c = 0
    for t in range(n_t):
        # Written whether valid or not, and kept only if: no branch to mispredict.
        bt, nt = blue[x, t], nir[x, t]
        where[c], d[c], b[c], n[c] = t, when[t], bt, nt
        s[c] = swir[x, t] if has_swir else np.nan
        c += (bt == bt) & (nt == nt)
    m = min(neighbours, c - 1)
    need = np.int64(math.floor(majority * m)) + 1
    for i in range(c):
        bi, ni, si, di = b[i], n[i], s[i], d[i]
        if not (bi - low > blue_threshold or ni - high < -dark_threshold):
            continue  # provably neither bright nor dark
        lo, hi = i - 1, i + 1
        bright, dark = 0, 0
        for k in range(m):
            # The nearer of the next earlier and the next later; the earlier on a tie.
            if lo >= 0 and (hi >= c or di - d[lo] <= d[hi] - di):
                j = lo
                lo -= 1
            else:
                j = hi
                hi += 1
            refs[k] = j
            gap = abs(di - d[j])
            limit = dark_threshold + dark_per_day * gap
            if bi - b[j] > blue_threshold + blue_per_day * gap:
                bright += 1
            # A NaN swir (none, or no value on either date) fails no test.
            if ni - n[j] < -limit and (
                    np.isnan(si) or np.isnan(s[j]) or si - s[j] < -limit):
                dark += 1
        if bright < need and dark < need:
            continue
        confirmed = False
        for k in range(m):
            j = refs[k]
            if j < i and not confirm_by_earlier:
                continue
            if (abs(bi - b[j]) <= confirm_blue and abs(ni - n[j]) <= confirm_nir
                    and (np.isnan(si) or np.isnan(s[j]) or abs(si - s[j]) <= confirm_swir)):
                confirmed = True
                break
        if not confirmed:
            out[where[i], y, x] = _CLOUD


_compiled = kernel(
    inputs(types.uint8, 3), inputs(types.float32, 1), inputs(types.float32, 3),
    inputs(types.float32, 3), types.boolean, inputs(types.float32, 3),
    types.int64, types.int64, types.float64,
    types.float64, types.float64, types.float64, types.float64,
    types.float64, types.float64, types.float64, types.boolean,
    outputs(types.uint8, 3),
)(_screen)
_ABSENT = np.zeros((0, 0, 0), dtype=np.float32)


def temporal_screen(
    classes: npt.NDArray[np.integer[Any]],
    days: npt.NDArray[np.floating[Any]],
    blue: npt.NDArray[np.floating[Any]],
    nir: npt.NDArray[np.floating[Any]],
    swir: npt.NDArray[np.floating[Any]] | None,
    params: TemporalParams = TemporalParams(),  # frozen: safe to share
) -> U8:
    """The classes with the transient land outliers of each pixel turned into CLOUD.

    The rules are those of the module docstring, with the thresholds of ``params``. An
    outlier is kept when a reference confirms it: a change of the surface is seen on at least
    two dates. A change seen only on the last date of the period therefore cannot be
    confirmed and is flagged (and, with ``confirm_by_earlier`` false, so is the last date of
    any change): a synthesis then rests on the earlier dates, which is the safe side, as
    averaging a cloud in would be worse than missing the newest state of the surface.

    Args:
        classes: ObsClass codes (T, Y, X) after the source masks, observations in time order.
        days: (T,) signed days from the central date, non-decreasing.
        blue: surface reflectance (T, Y, X), NaN without data.
        nir: near-infrared reflectance (T, Y, X), NaN without data.
        swir: swir16 reflectance (T, Y, X), NaN without data, or None when not loaded: then
            shadows are found by the near infrared alone.
        params: the thresholds.

    Returns:
        New uint8 classes (T, Y, X): LAND where the screen flags an observation becomes
        CLOUD; every other value is the input's. The inputs are not modified; they may be
        of any float dtype and memory order (they are cast to C-contiguous float32).

    Raises:
        ValueError: shapes that do not match, or days that are not finite and
            non-decreasing.

    """
    named = {"blue": blue, "nir": nir} | ({} if swir is None else {"swir": swir})
    when = checked_days(classes, days, named)

    def c(array: npt.NDArray[Any]) -> F32:
        return np.ascontiguousarray(array, dtype=np.float32)

    codes = np.ascontiguousarray(classes, dtype=np.uint8)
    out = codes.copy()
    p = params
    _compiled(
        codes, when, c(blue), c(nir), swir is not None, _ABSENT if swir is None else c(swir),
        p.neighbours, p.min_references, p.majority,
        p.blue_threshold, p.blue_per_day, p.dark_threshold, p.dark_per_day,
        p.confirm_blue, p.confirm_nir, p.confirm_swir, p.confirm_by_earlier,
        out,
    )
    return out
