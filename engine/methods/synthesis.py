"""WASP-style synthesis: a weighted average of the clear land observations of each pixel.

Per observation ``w_t = W_cloud * W_aot * W_date`` (W_sensor is 1 for Sentinel-2). Land pixels
get ``R_b = sum_t w_t rho_t,b / sum_t w_t``; pixels without a usable land observation fall back
to the latest water, then the latest snow, then the least cloudy observation (a thin cloud
before a thick one, then the lowest blue), flagged, with a weight sum of 0. See
docs/algorithms.md, section "Synthesis".

The reduction is a pure function of one block of numpy arrays. The weighted sums, the bulk of
the work, run in one compiled pass (`engine.methods.synthesis_kernel`), in float32 and in
place: nothing of shape (T, B, Y, X) is allocated, nothing is computed in float64. The
fallbacks then work on the few pixels without a land observation, in numpy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from engine.contract import METHODS, QUALITY, QualityLayer
from engine.methods.base import (
    F32,
    ObsClass,
    Observations,
    Reduction,
    dn_to_reflectance,
)
from engine.methods.synthesis_kernel import accumulate

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
#: Bands, in order of preference, whose lowest value picks the least cloudy observation.
_BRIGHTNESS_BANDS = ("blue", "green", "red")
#: Bands that must not be negative for a land observation to count (dark shadows, bad AC).
_NONNEGATIVE_BANDS = ("red", "green")

#: Sen2Cor's "thin cirrus", which the haze test also gives its clouds (`engine.masks.scl`):
#: the surface seen through a veil, which the cloud-only fallback prefers to thick clouds and
#: shadows, whatever their blue.
THIN_CLOUD_SCL = 10

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
        ValueError: when H is not positive.

    """
    if not half_window > 0:
        raise ValueError(f"half_window_days: {half_window} is not positive")
    distance = np.abs(np.asarray(days, dtype=np.float64))
    weight = 1.0 - np.minimum(distance / half_window, 1.0) * (1.0 - W_MIN_DATE)
    # NaN days (unknown dates) fail the comparison too: such observations are not used.
    inside = distance <= half_window + DATE_EDGE_MARGIN_DAYS
    return np.where(inside, weight, 0.0).astype(np.float32)


def _check(obs: Observations) -> None:
    """Reject inconsistent shapes up front rather than fail deep inside numpy."""
    if obs.dn.ndim != 4:
        raise ValueError(f"observations: dn must be (T, B, Y, X), not {obs.dn.shape}")
    n_t, n_b, ny, nx = obs.dn.shape
    if len(obs.bands) != n_b or n_b == 0:
        raise ValueError(f"observations: {len(obs.bands)} band names for {n_b} bands")
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
            raise ValueError(f"observations: {name} has shape {got}, expected {want}")


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
    description: str = METHODS["synthesis"]
    needs_cloud_weight: bool = True
    extra_bands: tuple[str, ...] = ()
    required_bands: tuple[str, ...] = ()
    memory_factor: int = 1
    quality: tuple[QualityLayer, ...] = QUALITY["synthesis"]

    def __init__(self, half_window_days: float) -> None:
        if not half_window_days > 0:
            raise ValueError(f"half_window_days: {half_window_days} is not positive")
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
        n_t, n_b = obs.dn.shape[:2]
        ny, nx = obs.shape
        w_date = date_weight(obs.days, self.half_window_days)
        days = np.asarray(obs.days, dtype=np.float32)

        reflectance = np.empty((n_b, ny, nx), dtype=np.float32)
        weight = np.empty((ny, nx), dtype=np.float32)
        date = np.empty((ny, nx), dtype=np.float32)
        flag = np.empty((ny, nx), dtype=np.uint8)
        count = np.empty((ny, nx), dtype=np.uint8)
        # Observations inside the window with data in every band (DN 0 is nodata): what the
        # fallbacks may choose from.
        complete = np.empty((n_t, ny, nx), dtype=np.bool_)
        # Decided from the (T, B) scale and offset, which are the same for every block of an
        # order, so every block takes the same path and blocks agree with the full array.
        uniform = np.array([obs.shares_scale(b) for b in range(n_b)], dtype=np.bool_)
        red, green = (obs.bands.index(b) if b in obs.bands else -1 for b in _NONNEGATIVE_BANDS)
        w_aot = None if obs.aot is None else aot_weight(obs.aot)
        accumulate(obs.dn, obs.classes, obs.cloud_weight, w_aot, w_date, days, obs.scale,
                   obs.offset, uniform, red, green, _LAND, reflectance, weight, date, flag, count,
                   complete)
        others = np.flatnonzero(flag.reshape(-1) != _LAND)
        if others.size:
            flat = _Outputs(reflectance.reshape(n_b, ny * nx), date.reshape(-1),
                            flag.reshape(-1))
            _fallback(obs, others, complete.reshape(n_t, ny * nx), days, flat)
        quality: dict[str, npt.NDArray[np.generic]] = {
            "weight": weight,
            "date": date,
            "flag": flag,
            "count": count,
        }
        return Reduction(reflectance=reflectance, quality=quality)


@dataclass(frozen=True)
class _Outputs:
    """Flat (pixel-indexed) views on the outputs the fallbacks fill, (B, P) and (P,)."""

    reflectance: F32
    date: F32
    flag: npt.NDArray[np.uint8]


def _fallback(
    obs: Observations,
    pixels: npt.NDArray[np.intp],
    complete: npt.NDArray[np.bool_],
    days: F32,
    out: _Outputs,
) -> None:
    """Fill the block's ``pixels`` (flat indices) that have no land observation to average.

    The latest water observation, else the latest snow one, else the least cloudy: the
    thin cloud (SCL 10) with the lowest blue, else the cloudy one with the lowest blue; else
    nodata. Lowest blue alone would pick a cloud shadow over a roof the haze test flagged.
    Only observations inside the window with data in every band (``complete``, (T, P))
    qualify. Works on the gathered pixels only, and gathers only the class, the SCL-like
    value, the brightness band and finally the chosen observation's DN.
    """
    n_t, n_b = obs.dn.shape[:2]
    if n_t == 0:  # no observation at all: nodata
        out.reflectance[:, pixels] = np.nan
        out.date[pixels] = np.nan
        out.flag[pixels] = _NODATA
        return
    dn = obs.dn

    def gather(planes: npt.NDArray[Any]) -> npt.NDArray[Any]:
        """(T, Y, X) -> (T, P) at the pixels."""
        return np.take(planes.reshape(n_t, -1), pixels, axis=1)

    cls = gather(obs.classes)
    usable = np.take(complete, pixels, axis=1)

    # Priority from low to high; a later rule overwrites an earlier one.
    flag = np.zeros(pixels.size, dtype=np.uint8)
    pick = np.zeros(pixels.size, dtype=np.intp)

    cloud = usable & (cls == _CLOUD)
    b = _brightness_band(obs)
    brightness = dn_to_reflectance(gather(dn[:, b]), obs.scale[:, b, None], obs.offset[:, b, None])
    brightness[~cloud] = np.inf
    for candidates in (brightness, np.where(gather(obs.scl) == THIN_CLOUD_SCL, brightness,
                                            np.float32(np.inf))):
        # Every cloud, then thin clouds only: a thin cloud wins over any thick one or shadow.
        has, least_cloudy = _lowest(candidates)
        pick[has] = least_cloudy[has]
        flag[has] = _CLOUD
    # t + 1 of the latest water and snow observation, 0 if none.
    latest = {code: np.zeros(pixels.size, dtype=np.intp) for code in (_SNOW, _WATER)}
    for t in range(n_t):
        for code, index in latest.items():
            # Observations are sorted by date, so the largest t + 1 is the latest.
            kind = cls[t] == code
            kind &= usable[t]
            np.maximum(index, kind * (t + 1), out=index)

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


def _lowest(values: F32) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.intp]]:
    """Per pixel of ``values`` (T, P): whether one is finite, and the index of the lowest.

    A running minimum over the observations rather than argmin on axis 0, which numpy walks
    with a stride of P: several times slower on big fallbacks. Strictly lower: on a tie the
    earliest observation stays, deterministically.
    """
    lowest = np.full(values.shape[1], np.inf, dtype=np.float32)
    index = np.zeros(values.shape[1], dtype=np.intp)
    for t in range(values.shape[0]):
        index[values[t] < lowest] = t
        np.minimum(lowest, values[t], out=lowest)
    return lowest < np.inf, index


def _brightness_band(obs: Observations) -> int:
    """Index of the band whose lowest value picks the least cloudy observation."""
    return next((obs.bands.index(b) for b in _BRIGHTNESS_BANDS if b in obs.bands), 0)
