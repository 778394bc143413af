"""Per-band percentiles of the valid observations: the median and first-quartile baselines.

What Sentinel Hub's cloudless mosaic and the CDSE quarterly mosaics do, so users can compare
with what they know. np.nanpercentile is slow (it sorts pixel by pixel through a generic
path); here a sorting network sorts every pixel of a band at once, invalid values last (see
`_Sorter`), and the two order statistics around the percentile are picked per pixel with the
pixel's own count: numpy's default 'linear' method, in float32.
"""

from __future__ import annotations

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
from engine.methods.indices import Bool, complete_spectra
from engine.methods.sorting import sort_columns

#: Observation classes used: clear land, water and snow (clouds and nodata are out). Classes
#: rather than SCL codes, so MAJA items, whose SCL is only an approximation, are read from
#: their own masks.
VALID_CLASSES = (ObsClass.LAND, ObsClass.WATER, ObsClass.SNOW)


def lerp(a: F32, b: F32, t: F32) -> F32:
    """Interpolate a + t (b - a) linearly, written as numpy's percentile writes it.

    For t >= 0.5 numpy computes b - (b - a)(1 - t), which is exact at t = 1 and symmetric;
    copying it keeps results equal to np.percentile's to the last bit in most cases.
    """
    diff = b - a
    out = a + diff * t
    np.subtract(b, diff * (np.float32(1) - t), out=out, where=t >= 0.5)
    return out


class Percentile:
    """The q-th percentile of each band over the valid observations of each pixel.

    An observation is valid when its class is land, water or snow and it has a value in
    every band: every band's percentile is drawn from the same observations, so ``count``
    holds for all bands. Pixels without a valid observation are NaN.
    """

    needs_cloud_weight: bool = False
    extra_bands: tuple[str, ...] = ()
    required_bands: tuple[str, ...] = ()
    memory_factor: int = 1
    quality: tuple[QualityLayer, ...] = QUALITY["median"]

    def __init__(self, name: str, q: float) -> None:
        """Name the method and set its percentile.

        Args:
            name: the method's registry name.
            q: percentile in [0, 100] (50 is the median).

        Raises:
            ValueError: q outside [0, 100].

        """
        if not 0 <= q <= 100:
            raise ValueError(f"percentile must be within [0, 100], got {q}")
        self.name: str = name
        self.q = float(q)
        self.description: str = METHODS.get(
            name, f"per-band {self.q:g}th percentile of valid observations")

    def __repr__(self) -> str:
        return f"Percentile({self.name!r}, {self.q:g})"

    def valid(self, obs: Observations) -> Bool:
        """Tell the valid observations, bool (T, Y, X): a valid class and every band."""
        valid_class = np.zeros(256, dtype=bool)
        valid_class[list(VALID_CLASSES)] = True
        return valid_class[obs.classes] & complete_spectra(obs)

    def reduce(self, obs: Observations) -> Reduction:
        """Per-band q-th percentile of the valid observations.

        Args:
            obs: the observations of one block.

        Returns:
            Reflectance float32 (B, Y, X), NaN where no observation is valid, and ``count``.

        """
        valid = self.valid(obs)
        n = valid.sum(axis=0, dtype=np.int32)
        # numpy 'linear': virtual index h = (n - 1) q / 100 into the n sorted valid values,
        # lo = floor(h), hi = min(lo + 1, n - 1), interpolated by h - lo.
        h = np.maximum(n - 1, 0).astype(np.float32) * np.float32(self.q / 100)
        lo_f = np.floor(h)
        t = h - lo_f
        lo = lo_f.astype(np.intp)
        hi = np.minimum(lo + 1, np.maximum(n - 1, 0)).astype(np.intp)
        empty = n == 0

        out = np.empty((len(obs.bands), *obs.shape), dtype=np.float32)
        if obs.dn.shape[0] == 0:
            out.fill(np.nan)
            return Reduction(reflectance=out, quality={"count": n.astype(np.uint8)})
        sorter = _Sorter(obs, valid)
        # Flat positions of each pixel's two order statistics in a sorted (T, P) band.
        pixels = np.arange(n.size)
        at_lo = lo.reshape(-1) * n.size + pixels
        at_hi = hi.reshape(-1) * n.size + pixels
        for b in range(len(obs.bands)):
            by_obs, are_dn = sorter.sorted_band(b)
            a, c = by_obs.reshape(-1)[at_lo], by_obs.reshape(-1)[at_hi]
            if are_dn:  # reflectance of the two picked only
                a = dn_to_reflectance(a, obs.scale[0, b], obs.offset[0, b])
                c = dn_to_reflectance(c, obs.scale[0, b], obs.offset[0, b])
            # Pixels without a valid observation picked two +inf: inf - inf is NaN there (and
            # made NaN anyway below), which is no error.
            with np.errstate(invalid="ignore"):
                out[b] = lerp(a, c, t.reshape(-1)).reshape(obs.shape)
        out[:, empty] = np.nan
        return Reduction(reflectance=out, quality={"count": np.minimum(n, 255).astype(np.uint8)})


class _Sorter:
    """Each band's values of a block sorted per pixel, invalid observations last: (T, P).

    Sorting is most of this method's time; `sort_columns` sorts all pixels at once. Where a
    band's observations share one scale and one offset (one processing baseline: the usual
    period), reflectance orders like the DN, and the DN themselves are sorted (half the bytes
    of float32); the two picked DN are then turned into reflectance by the same float32
    operations as `Observations.reflectance`. Other bands sort their float32 reflectance.
    """

    def __init__(self, obs: Observations, valid: Bool) -> None:
        self.obs = obs
        self.valid = valid.reshape(valid.shape[0], -1)
        self._buffers: dict[str, npt.NDArray[Any]] = {}

    def sorted_band(self, b: int) -> tuple[npt.NDArray[Any], bool]:
        """Band ``b`` sorted per pixel (T, P), and whether those values are DN.

        Otherwise they are reflectance. The array is reused by the next call.
        """
        obs = self.obs
        dn = obs.dn[:, b].reshape(self.valid.shape)
        # A positive scale keeps the DN in the order of their reflectance.
        if obs.shares_scale(b) and obs.scale[0, b] > 0 and dn.dtype.kind in "ui":
            key = self._buffer("dn", dn.dtype)
            # Invalid observations become the dtype's largest value (sorted last; a valid
            # value equal to it changes nothing) in one np.maximum pass.
            np.maximum(dn, self._floor(dn.dtype), out=key)
            sort_columns(key)
            return key, True
        rho = self._buffer("rho", np.dtype(np.float32))
        dn_to_reflectance(dn, obs.scale[:, b, None], obs.offset[:, b, None], out=rho)
        # Adding +inf where invalid and 0 elsewhere masks a band in one fast pass (a where=
        # copy or a boolean assignment is ten times slower). Not NaN: minimum and maximum
        # would spread it.
        rho += self._inf_mask()
        sort_columns(rho)
        return rho, False

    def _buffer(self, name: str, dtype: np.dtype[Any]) -> npt.NDArray[Any]:
        # One buffer of each kind for every band: a fresh allocation per band costs page
        # faults.
        if name not in self._buffers:
            self._buffers[name] = np.empty(self.valid.shape, dtype=dtype)
        return self._buffers[name]

    def _floor(self, dtype: np.dtype[Any]) -> npt.NDArray[Any]:
        if "floor" not in self._buffers:
            info = np.iinfo(dtype)
            self._buffers["floor"] = np.where(self.valid, dtype.type(info.min),
                                              dtype.type(info.max))
        return self._buffers["floor"]

    def _inf_mask(self) -> F32:
        if "mask" not in self._buffers:
            self._buffers["mask"] = np.where(self.valid, np.float32(0), np.float32(np.inf))
        return self._buffers["mask"]


MEDIAN = Percentile("median", 50)
Q25 = Percentile("q25", 25)
