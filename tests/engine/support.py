"""Helpers of the method tests: observations from reflectances, dask runs, comparisons."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import dask.array as da
import numpy as np
import numpy.typing as npt

from engine.methods.base import Method, ObsClass, Observations, Reduction

#: dask.array is untyped: calls through Any keep mypy quiet under any strictness.
dask_array: Any = da

LAND, WATER, SNOW, CLOUD, NODATA = (
    ObsClass.LAND,
    ObsClass.WATER,
    ObsClass.SNOW,
    ObsClass.CLOUD,
    ObsClass.NODATA,
)

BANDS = ("blue", "green", "red", "rededge2", "nir", "nir08", "swir16", "swir22")
SCL_CLASS = {2: ObsClass.LAND, 4: ObsClass.LAND, 5: ObsClass.LAND, 6: ObsClass.WATER}
SCL_CLASS |= {11: ObsClass.SNOW, 3: ObsClass.CLOUD, 8: ObsClass.CLOUD, 9: ObsClass.CLOUD}
SCL_CLASS |= {10: ObsClass.CLOUD}


def column(values: Any) -> npt.NDArray[np.float32]:
    """A one-pixel (T, 1, 1) float32 series."""
    return np.asarray(values, dtype=np.float32).reshape(-1, 1, 1)


def make_obs(
    rho: npt.ArrayLike,
    scl: npt.ArrayLike,
    days: Sequence[float] | None = None,
    classes: npt.ArrayLike | None = None,
    bands: tuple[str, ...] = BANDS,
) -> Observations:
    """Observations from reflectances (T, B, Y, X) or spectra (T, B) for one pixel.

    DN = round((rho + 0.1) * 10000) with scale 1e-4 and offset -0.1, as a baseline >= 04.00
    item; NaN reflectance becomes DN 0 (nodata). ``scl`` is (T,) or (T, Y, X); classes are
    derived from it unless given; days default to 0, 5, 10, ...
    """
    r = np.asarray(rho, dtype=np.float64)
    if r.ndim == 2:
        r = r[:, :, None, None]
    t_count, band_count = r.shape[:2]
    dn = np.where(np.isnan(r), 0, np.round((np.nan_to_num(r) + 0.1) * 10000)).astype(np.uint16)
    s = np.asarray(scl, dtype=np.uint8)
    s = np.broadcast_to(s.reshape(s.shape + (1,) * (3 - s.ndim)), (t_count, *r.shape[2:])).copy()
    if classes is None:
        lut = np.zeros(256, dtype=np.uint8)
        for code, cls in SCL_CLASS.items():
            lut[code] = cls
        c = lut[s]
    else:
        c = np.asarray(classes, dtype=np.uint8)
        c = np.broadcast_to(c.reshape(c.shape + (1,) * (3 - c.ndim)), s.shape).copy()
    d = np.arange(t_count, dtype=np.float32) * 5 if days is None else days
    return Observations(
        dn=dn,
        scale=np.full((t_count, band_count), 1e-4, dtype=np.float32),
        offset=np.full((t_count, band_count), -0.1, dtype=np.float32),
        bands=bands,
        classes=c,
        scl=s,
        days=np.asarray(d, dtype=np.float32),
    )


def stack_reflectance(obs: Observations) -> npt.NDArray[np.float32]:
    """Every band of every observation, float32 (T, B, Y, X), via Observations.reflectance."""
    return np.stack([obs.reflectance(b) for b in obs.bands], axis=1)


def reduce_with_dask(method: Method, obs: Observations, chunk: tuple[int, int]) -> Reduction:
    """Run ``method.reduce`` through dask.array.map_blocks over Y/X chunks of ``obs``.

    Each block holds every observation and band; reflectance and quality are packed into
    one float64 array (exact for float32, int16 and uint8) and split again.
    """
    t_count, band_count = obs.dn.shape[:2]
    keys = [layer.key for layer in method.quality]
    dn = dask_array.from_array(obs.dn, chunks=(t_count, band_count, *chunk))
    scl = dask_array.from_array(obs.scl[:, None], chunks=(t_count, 1, *chunk))
    classes = dask_array.from_array(obs.classes[:, None], chunks=(t_count, 1, *chunk))

    def block(
        dn_b: npt.NDArray[np.uint16], scl_b: npt.NDArray[np.uint8], cls_b: npt.NDArray[np.uint8]
    ) -> npt.NDArray[np.float64]:
        part = replace(obs, dn=dn_b, scl=scl_b[:, 0], classes=cls_b[:, 0])
        r = method.reduce(part)
        planes = [r.reflectance.astype(np.float64)]
        planes += [np.asarray(r.quality[k], dtype=np.float64)[None] for k in keys]
        return np.concatenate(planes)

    packed = dask_array.map_blocks(
        block,
        dn,
        scl,
        classes,
        drop_axis=0,
        chunks=((band_count + len(keys),), *dn.chunks[2:]),
        dtype=np.float64,
    ).compute(scheduler="synchronous")
    ref = method.reduce(obs)
    quality = {k: packed[band_count + i].astype(ref.quality[k].dtype) for i, k in enumerate(keys)}
    return Reduction(reflectance=packed[:band_count].astype(np.float32), quality=quality)


def assert_reductions_equal(a: Reduction, b: Reduction) -> None:
    assert a.reflectance.dtype == b.reflectance.dtype == np.float32
    np.testing.assert_array_equal(a.reflectance, b.reflectance)
    assert a.quality.keys() == b.quality.keys()
    for key in a.quality:
        assert a.quality[key].dtype == b.quality[key].dtype, key
        np.testing.assert_array_equal(a.quality[key], b.quality[key], err_msg=key)
