"""WASP-style synthesis: a weighted average of the clear land observations of each pixel.

Per observation ``w_t = W_cloud * W_aot * W_date`` (W_sensor is 1 for Sentinel-2). Land pixels
get ``R_b = sum_t w_t rho_t,b / sum_t w_t``; pixels without a usable land observation fall back
to the latest water, then the latest snow, then the least cloudy (lowest blue) observation,
flagged, with a weight sum of 0. See docs/ALGORITHMS.md, section "Synthesis".

The reduction is a pure function of one block of numpy arrays. It is written for speed and
bounded memory: it walks the block in strips of rows, and within a strip loops over
observations and bands, accumulating in float32 in place. It never builds a (T, B, Y, X) float
array nor anything in float64; its temporaries are a few planes of one strip.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from engine.errors import InvalidParameter
from engine.methods.base import (
    F32,
    ObsClass,
    Observations,
    QualityLayer,
    Reduction,
    dn_to_reflectance,
)

#: W_aot at and above TAU_MAX.
W_MIN_AOT = 0.33
#: Aerosol optical thickness at 550 nm from which W_aot is W_MIN_AOT.
TAU_MAX = 0.8
#: W_date at the edges of the window.
W_MIN_DATE = 0.5
#: How far past the half window (in days) an observation still counts as inside it. Periods
#: are whole days and ``days`` is measured from noon of the central date, so an acquisition
#: any time on the first or last day of the window is up to H + 0.5 days away; without this
#: margin a morning pass on the first day (H + 0.06 days) would weigh 0 while one on the last
#: day weighs 0.5. Inside the margin the weight stays at W_MIN_DATE.
DATE_EDGE_MARGIN_DAYS = 0.5
#: Pixels per strip: a strip's float32 planes (256 KiB each) stay in the CPU caches while the
#: loop over observations and bands makes its passes over them.
_STRIP_PIXELS = 1 << 16
#: Bands, in order of preference, whose lowest value picks the least cloudy observation.
_BRIGHTNESS_BANDS = ("blue", "green", "red")
#: Bands that must not be negative for a land observation to count (dark shadows, bad AC).
_NONNEGATIVE_BANDS = ("red", "green")

#: Weights below this (the smallest normal float32) count as 0: 1 / w would overflow.
_SMALLEST_WEIGHT = np.finfo(np.float32).tiny

_LAND = int(ObsClass.LAND)
_WATER = int(ObsClass.WATER)
_SNOW = int(ObsClass.SNOW)
_CLOUD = int(ObsClass.CLOUD)
_NODATA = int(ObsClass.NODATA)


def aot_weight(tau: npt.ArrayLike) -> F32:
    """W_aot: lower weight for hazy observations.

    ``W_aot = Wmin + (1 - Wmin) * (1 - tau / tau_max)`` for ``tau < tau_max``, else Wmin,
    with Wmin = :data:`W_MIN_AOT` and tau_max = :data:`TAU_MAX`.

    Args:
        tau: aerosol optical thickness at 550 nm, any shape; NaN where unknown.

    Returns:
        float32, same shape, in [W_MIN_AOT, 1]; 1 where tau is unknown (no evidence of haze).
        A negative tau (a decoding error: AOT is never negative) counts as 0.

    """
    ratio = np.asarray(tau, dtype=np.float32) / np.float32(TAU_MAX)
    # fmax ignores NaN: unknown AOT (and a negative one) becomes a ratio of 0, a weight of 1.
    # Branch-free on purpose: masked assignments are several times slower on noisy masks.
    np.fmax(ratio, np.float32(0.0), out=ratio)
    np.minimum(ratio, np.float32(1.0), out=ratio)  # from tau_max on: exactly Wmin below
    np.subtract(np.float32(1.0), ratio, out=ratio)
    ratio *= np.float32(1.0 - W_MIN_AOT)
    ratio += np.float32(W_MIN_AOT)
    return ratio


def date_weight(days: npt.ArrayLike, half_window: float) -> F32:
    """W_date: a linear taper from 1 at the central date to W_MIN_DATE at the window edges.

    ``W_date = 1 - (|d| / H) * (1 - Wdmin)`` and 0 outside the window. WASP's own code
    computes ``|d| / H`` with integers, which makes the weight flat (1 inside, then 0.5 at the
    edge); we implement the intended linear taper. Days up to :data:`DATE_EDGE_MARGIN_DAYS`
    past H still belong to the window's edge days and weigh Wdmin.

    Args:
        days: (T,) signed days of each observation from the central date.
        half_window: H, the half window in days (23 for a month).

    Returns:
        float32 (T,) in {0} or [W_MIN_DATE, 1].

    Raises:
        InvalidParameter: when H is not positive.

    """
    if not half_window > 0:
        raise InvalidParameter("half_window_days", f"{half_window} is not positive")
    distance = np.abs(np.asarray(days, dtype=np.float64))
    weight = 1.0 - np.minimum(distance / half_window, 1.0) * (1.0 - W_MIN_DATE)
    # NaN days (unknown dates) fail the comparison too: such observations are not used.
    inside = distance <= half_window + DATE_EDGE_MARGIN_DAYS
    return np.where(inside, weight, 0.0).astype(np.float32)


@dataclass(frozen=True)
class _Plan:
    """What is decided once per block: band positions and the accumulation path per band."""

    nonnegative: tuple[int, ...]  # bands that must be >= 0 for a land observation
    #: True where the band's scale and offset are the same for every observation: then
    #: sum w (dn s + o) / sum w = s (sum w dn) / sum w + o, and the loop only multiplies DN by
    #: the weight (two passes per observation and band instead of four).
    uniform: tuple[bool, ...]


def _plan(obs: Observations) -> _Plan:
    bands = obs.bands
    # Decided from the (T, B) scale and offset, which are the same for every block of an
    # order, so every block takes the same path and blocks agree with the full array.
    uniform = tuple(obs.shares_scale(b) for b in range(len(bands)))
    nonnegative = tuple(bands.index(b) for b in _NONNEGATIVE_BANDS if b in bands)
    return _Plan(nonnegative, uniform)


def _check(obs: Observations) -> None:
    """Reject inconsistent shapes up front rather than fail deep inside numpy."""
    if obs.dn.ndim != 4:
        raise InvalidParameter("observations", f"dn must be (T, B, Y, X), not {obs.dn.shape}")
    n_t, n_b, ny, nx = obs.dn.shape
    if len(obs.bands) != n_b or n_b == 0:
        raise InvalidParameter("observations", f"{len(obs.bands)} band names for {n_b} bands")
    expected = {
        "scale": (obs.scale.shape, (n_t, n_b)),
        "offset": (obs.offset.shape, (n_t, n_b)),
        "classes": (obs.classes.shape, (n_t, ny, nx)),
        "days": (obs.days.shape, (n_t,)),
    }
    if obs.aot is not None:
        expected["aot"] = (obs.aot.shape, (n_t, ny, nx))
    if obs.cloud_weight is not None:
        expected["cloud_weight"] = (obs.cloud_weight.shape, (n_t, ny, nx))
    for name, (got, want) in expected.items():
        if tuple(got) != want:
            raise InvalidParameter("observations", f"{name} has shape {got}, expected {want}")


class Synthesis:
    """The WASP-style weighted average (Level-3A synthesis) as a reduction :class:`Method`.

    Quality layers:
        weight: float32, the sum of the weights of the averaged observations; 0 where the
            pixel is a fallback or nodata (0 means "no weight", so no nodata value).
        date: float32, weighted mean of the days from the central date (for a fallback, the
            days of the observation used); NaN where the pixel is nodata.
        flag: uint8, 0 nodata, 1 cloud, 2 snow, 3 water, 4 land (the :class:`ObsClass`
            codes); 0 is a class, so no nodata value.
        count: uint8, the number of land observations averaged (weight > 0), so 0 for
            fallbacks and nodata; saturates at 255.

    Attributes:
        half_window_days: H, the period's half window in days (23 for a month).

    """

    # A plain class rather than a frozen dataclass: the Method protocol declares settable
    # attributes, which a frozen dataclass does not structurally satisfy.
    name: str = "synthesis"
    description: str = (
        "WASP-style weighted average of clear observations (weights: clouds, AOT, date)"
    )
    needs_cloud_weight: bool = True
    extra_bands: tuple[str, ...] = ()
    quality: tuple[QualityLayer, ...] = (
        QualityLayer("weight", "float32", None, "Sum of the weights of the averaged observations"),
        QualityLayer("date", "float32", float("nan"), "Weighted mean days from the central date"),
        QualityLayer(
            "flag",
            "uint8",
            None,
            "Kind of observation behind the pixel",
            classes={0: "nodata", 1: "cloud", 2: "snow", 3: "water", 4: "land"},
        ),
        QualityLayer("count", "uint8", None, "Number of land observations averaged"),
    )

    def __init__(self, half_window_days: float) -> None:
        if not half_window_days > 0:
            raise InvalidParameter("half_window_days", f"{half_window_days} is not positive")
        self.half_window_days = float(half_window_days)

    def __repr__(self) -> str:
        return f"Synthesis(half_window_days={self.half_window_days})"

    def reduce(self, obs: Observations) -> Reduction:
        """Synthesize one block.

        Args:
            obs: every observation of the block, sorted by (datetime, id).

        Returns:
            float32 (B, Y, X) reflectance, NaN exactly where ``flag`` is 0, and the quality
            layers ``weight``, ``date`` (float32), ``flag`` and ``count`` (uint8), each (Y, X).

        """
        _check(obs)
        n_b = obs.dn.shape[1]
        ny, nx = obs.shape
        plan = _plan(obs)
        w_date = date_weight(obs.days, self.half_window_days)
        days = np.asarray(obs.days, dtype=np.float32)

        reflectance = np.empty((n_b, ny, nx), dtype=np.float32)
        weight = np.empty((ny, nx), dtype=np.float32)
        date = np.empty((ny, nx), dtype=np.float32)
        flag = np.empty((ny, nx), dtype=np.uint8)
        count = np.empty((ny, nx), dtype=np.uint8)

        # Flat (pixel-indexed) views of the outputs: slicing whole rows out of a C-contiguous
        # array is always a view, so the strips write straight into the outputs.
        flat = _Outputs(
            reflectance.reshape(n_b, ny * nx),
            weight.reshape(-1),
            date.reshape(-1),
            flag.reshape(-1),
            count.reshape(-1),
        )
        rows = max(1, _STRIP_PIXELS // max(nx, 1))
        for y0 in range(0, ny, rows):
            y1 = min(y0 + rows, ny)
            px = slice(y0 * nx, y1 * nx)
            strip = _Outputs(
                flat.reflectance[:, px],
                flat.weight[px],
                flat.date[px],
                flat.flag[px],
                flat.count[px],
            )
            _reduce_strip(obs, slice(y0, y1), plan, w_date, days, strip)
        quality: dict[str, npt.NDArray[np.generic]] = {
            "weight": weight,
            "date": date,
            "flag": flag,
            "count": count,
        }
        return Reduction(reflectance=reflectance, quality=quality)


@dataclass(frozen=True)
class _Outputs:
    """Flat views on the outputs of one strip, (B, P) and (P,); filled in place."""

    reflectance: F32
    weight: F32
    date: F32
    flag: npt.NDArray[np.uint8]
    count: npt.NDArray[np.uint8]


def _reduce_strip(
    obs: Observations,
    ys: slice,
    plan: _Plan,
    w_date: F32,
    days: F32,
    out: _Outputs,
) -> None:
    """Reduce the rows ``ys`` of the block into ``out`` (see :meth:`Synthesis.reduce`)."""
    n_t, n_b = obs.dn.shape[:2]
    dn = obs.dn[:, :, ys]
    classes = obs.classes[:, ys]
    cloud_w = None if obs.cloud_weight is None else obs.cloud_weight[:, ys]
    aot = None if obs.aot is None else obs.aot[:, ys]
    shape = classes.shape[1:]

    # The hot loop is branch-free: no masked assignment (np.copyto(where=), a[mask] = v),
    # which costs several times a plain arithmetic pass on a noisy mask.
    acc = out.reflectance.reshape(n_b, *shape)  # sum_t w_t dn (uniform bands) or w_t rho
    acc.fill(0.0)
    w_sum = out.weight.reshape(shape)
    w_sum.fill(0.0)
    d_sum = out.date.reshape(shape)
    d_sum.fill(0.0)
    n_land = np.zeros(shape, dtype=np.uint16)
    # Observations with data in every band (DN 0 is nodata), kept for the fallbacks; false
    # outside the window, where an observation is not even a fallback.
    complete = np.zeros((n_t, *shape), dtype=np.bool_)
    w_t = np.empty(shape, dtype=np.float32)
    tmp = np.empty(shape, dtype=np.float32)
    for t in range(n_t):
        if not w_date[t] > 0:
            continue  # outside the window
        dn_t = dn[t]
        # A half-empty observation would leave NaN in some bands of the output and not others.
        np.greater(dn_t.min(axis=0), 0, out=complete[t])
        land = classes[t] == _LAND
        land &= complete[t]
        for b in plan.nonnegative:
            dn_to_reflectance(dn_t[b], obs.scale[t, b], obs.offset[t, b], out=tmp)
            land &= tmp >= 0

        if cloud_w is None:
            w_t.fill(w_date[t])
        else:
            np.multiply(cloud_w[t], w_date[t], out=w_t)
        if aot is not None:
            w_t *= aot_weight(aot[t])
        # Only land observations with a positive weight are averaged; a weight below the
        # smallest normal float32 counts as 0, as its reciprocal would overflow. fmax turns
        # NaN (and negative) weights into 0 before the multiplication by the mask, so a NaN
        # in the inputs never reaches the sums (NaN * 0 would still be NaN).
        land &= w_t >= _SMALLEST_WEIGHT
        np.fmax(w_t, np.float32(0.0), out=w_t)
        w_t *= land
        if not land.any():
            continue
        w_sum += w_t
        n_land += land
        np.multiply(w_t, days[t], out=tmp)
        d_sum += tmp
        for b in range(n_b):
            if plan.uniform[b]:
                np.multiply(dn_t[b], w_t, out=tmp)
            else:
                dn_to_reflectance(dn_t[b], obs.scale[t, b], obs.offset[t, b], out=tmp)
                tmp *= w_t
            acc[b] += tmp

    # Weighted means: multiply by 1 / sum w where the sum is positive, by 0 elsewhere (those
    # pixels are overwritten by the fallbacks), so nothing is ever divided by zero.
    is_land = w_sum > 0
    inverse = np.zeros(shape, dtype=np.float32)
    np.divide(np.float32(1.0), w_sum, out=inverse, where=is_land)
    scaled_inverse: dict[float, F32] = {}
    for b in range(n_b):
        if plan.uniform[b]:
            scale = float(obs.scale[0, b])
            if scale not in scaled_inverse:
                scaled_inverse[scale] = inverse * np.float32(scale)
            acc[b] *= scaled_inverse[scale]
            offset = obs.offset[0, b]
            if offset != 0:
                acc[b] += offset
        else:
            acc[b] *= inverse
    d_sum *= inverse
    np.minimum(n_land, 255, out=n_land)
    out.count[...] = n_land.reshape(-1)
    np.multiply(is_land.reshape(-1), np.uint8(_LAND), out=out.flag)

    others = np.flatnonzero(~is_land)
    if others.size:
        _fallback(obs, ys, others, complete.reshape(n_t, w_sum.size), days, out)


def _fallback(
    obs: Observations,
    ys: slice,
    pixels: npt.NDArray[np.intp],
    complete: npt.NDArray[np.bool_],
    days: F32,
    out: _Outputs,
) -> None:
    """Fill the strip's ``pixels`` (flat indices) that have no land observation to average.

    The latest water observation, else the latest snow one, else the cloudy one with the
    lowest blue; else nodata. Only observations inside the window with data in every band
    (``complete``, (T, P)) qualify. Works on the gathered pixels only, and gathers only the
    class, the brightness band and finally the chosen observation's DN.
    """
    n_t, n_b = obs.dn.shape[:2]
    if n_t == 0:  # no observation at all: nodata
        out.reflectance[:, pixels] = np.nan
        out.date[pixels] = np.nan
        out.flag[pixels] = _NODATA
        return
    dn = obs.dn[:, :, ys]

    def gather(planes: npt.NDArray[Any]) -> npt.NDArray[Any]:
        """(T, y, X) -> (T, P) at the pixels; reshape is a view for row-major planes."""
        return np.take(planes.reshape(n_t, -1), pixels, axis=1)

    cls = gather(obs.classes[:, ys])
    usable = np.take(complete, pixels, axis=1)

    # Priority from low to high; a later rule overwrites an earlier one.
    flag = np.zeros(pixels.size, dtype=np.uint8)
    pick = np.zeros(pixels.size, dtype=np.intp)

    cloud = usable & (cls == _CLOUD)
    b = _brightness_band(obs)
    brightness = dn_to_reflectance(gather(dn[:, b]), obs.scale[:, b, None], obs.offset[:, b, None])
    brightness[~cloud] = np.inf
    # Running minimum and latest index over the observations rather than argmin/argmax on
    # axis 0, which numpy walks with a stride of P: several times slower on big fallbacks.
    lowest = np.full(pixels.size, np.inf, dtype=np.float32)
    least_cloudy = np.zeros(pixels.size, dtype=np.intp)
    # t + 1 of the latest water and snow observation, 0 if none.
    latest = {code: np.zeros(pixels.size, dtype=np.intp) for code in (_SNOW, _WATER)}
    for t in range(n_t):
        # Strictly lower: on a tie the earliest observation stays, deterministically.
        better = brightness[t] < lowest
        np.minimum(lowest, brightness[t], out=lowest)
        least_cloudy[better] = t
        for code, index in latest.items():
            # Observations are sorted by date, so the largest t + 1 is the latest.
            kind = cls[t] == code
            kind &= usable[t]
            np.maximum(index, kind * (t + 1), out=index)

    has = lowest < np.inf
    pick[has] = least_cloudy[has]
    flag[has] = _CLOUD
    for code in (_SNOW, _WATER):  # water last: it wins over snow
        has = latest[code] > 0
        pick[has] = latest[code][has] - 1
        flag[has] = code

    nodata = flag == _NODATA
    for b in range(n_b):
        # The chosen observation's DN, as np.take_along_axis(dn, pick) would give at these
        # pixels but without gathering every observation first.
        rho = dn_to_reflectance(dn[:, b].reshape(n_t, -1)[pick, pixels], obs.scale[pick, b],
                                obs.offset[pick, b])
        rho[nodata] = np.nan
        out.reflectance[b, pixels] = rho
    date = days[pick]
    date[nodata] = np.nan
    out.date[pixels] = date
    out.flag[pixels] = flag
    # weight and count are already 0 there.


def _brightness_band(obs: Observations) -> int:
    """Index of the band whose lowest value picks the least cloudy observation."""
    return next((obs.bands.index(b) for b in _BRIGHTNESS_BANDS if b in obs.bands), 0)
