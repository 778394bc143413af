"""S2GM-style best-available-pixel composite: one real observation per pixel.

Unlike a synthesis, which averages, the composite picks one observation per pixel, so every
output spectrum was really measured on one date (written in the ``date`` layer). The choice
follows the S2GM ATBD v1.3.3 (docs/algorithms.md, "Composite"):

- valid observations: SCL in {2, 4, 5, 6, 11} ("weak_1"), with snow kept only when it looks
  like snow (NDSI > 0.6 and TCB > 0.36), and a value in every band;
- 4 or more valid observations: the medoid;
- 2 or 3: the short-term composite rules (:func:`short_term_composite`);
- 1: that observation; 0: nodata.

Everything is vectorised over pixels; Python loops run over observations and bands only.
"""

from __future__ import annotations

from enum import IntEnum
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from engine.contract import COMPOSITE_DATE_NODATA, METHODS, QUALITY, QualityLayer
from engine.methods import medoid_kernel
from engine.methods.base import F32, Observations, Reduction, dn_to_reflectance
from engine.methods.indices import (
    BLUE,
    GREEN,
    NIR,
    NIR08,
    RED,
    REDEDGE2,
    SWIR16,
    SWIR22,
    Bool,
    complete_spectra,
    mndwi,
    ndsi,
    ndvi,
    tcb,
)

Index = npt.NDArray[np.intp]
_G = TypeVar("_G", bound=np.generic)

#: SCL classes valid for the composite (S2GM "weak_1"): dark area, vegetation, not vegetated,
#: water, snow. Cloud shadow (3), unclassified (7) and clouds (8, 9, 10) are out.
VALID_SCL = (2, 4, 5, 6, 11)
SNOW_SCL = 11
#: A snow-classified observation is kept only when it is bright and snow-like.
SNOW_MIN_NDSI = 0.6
SNOW_MIN_TCB = 0.36
#: Bands of the medoid distance (B02, B03, B04, B06, B08, B11, B12), those loaded are used.
MEDOID_BANDS = (BLUE, GREEN, RED, REDEDGE2, NIR, SWIR16, SWIR22)
#: Bands the indices need; without them neither the snow test nor the STC can run.
INDEX_BANDS = (BLUE, GREEN, RED, NIR, NIR08, SWIR16, SWIR22)
#: Fewest valid observations for the medoid; 2 up to this minus 1 use the STC rules.
MEDOID_MIN_COUNT = 4

DATE_NODATA = COMPOSITE_DATE_NODATA
#: Below this share of medoid pixels, the medoid gathers those pixels; above, it runs on all.
_MEDOID_GATHER_SHARE = 0.5
#: Elements of one chunk of the medoid's (T, Bm, pixels) float32 features: 21 MiB, 65,536
#: pixels of 12 dates x 7 bands. The chunk's pixels shrink as dates grow (a fixed number of
#: pixels held 169 MB per thread at 92 dates).
_MEDOID_CHUNK_ELEMENTS = 12 * 7 * (1 << 16)


class CompositeMethod(IntEnum):
    """Values of the ``method`` quality layer: how the pixel's observation was chosen."""

    NONE = 0
    SINGLE = 1
    STC = 2
    MEDOID = 3


class StcRule(IntEnum):
    """Which short-term-composite rule decided a pixel (numbered as in the ATBD)."""

    NONE = 0
    DRY_MAX_NDVI = 1
    WATER_MAX_MNDWI = 2
    VEGETATION_MAX_NDVI = 3
    LOWEST_TCB = 4
    TOO_BRIGHT = 5
    SNOW = 6


def snow_like(ndsi_: F32, tcb_: F32) -> Bool:
    """S2GM snow test: NDSI > 0.6 and TCB > 0.36 (False where either is NaN)."""
    return (ndsi_ > SNOW_MIN_NDSI) & (tcb_ > SNOW_MIN_TCB)


def medoid_scores(features: F32, valid: Bool) -> F32:
    """Sum of Euclidean distances of each valid observation to every other valid one.

    Memory stays at the (T, ...) scores: the pairs i < j are visited once and d_ij is added
    to both scores, never building a (T, T, ...) array (`engine.methods.medoid_kernel`,
    compiled; strips of pixels keep the pair loop in cache).

    Args:
        features: float32 (T, B, *S) reflectances, S any spatial shape ((Y, X) or (P,));
            values of invalid observations are ignored (they may be NaN).
        valid: bool (T, *S).

    Returns:
        float32 (T, *S): sum_j ||x_j - x_i|| over valid j for a valid i, +inf for an
        invalid i (so that np.argmin never picks it). Each score sums its d_ij in ascending
        j, as a loop over j would: identical spectra get bit-identical scores, and argmin's
        tie goes to the earliest.

    """
    t_count, band_count = features.shape[:2]
    spatial = features.shape[2:]
    if not spatial or spatial[0] == 0:
        return np.zeros((t_count, *spatial), dtype=np.float32)
    flat = np.ascontiguousarray(features, dtype=np.float32).reshape(t_count, band_count, -1)
    score = np.empty((t_count, flat.shape[2]), dtype=np.float32)
    medoid_kernel.scores(flat, np.ascontiguousarray(valid, dtype=np.bool_).reshape(t_count, -1),
                         score)
    return score.reshape(t_count, *spatial)


def _take(values: npt.NDArray[_G], index: Index) -> npt.NDArray[_G]:
    """Pick values[index[s], s] from a (T, *S) array with an (*S) index."""
    picked: npt.NDArray[_G] = np.take_along_axis(values, index[None], axis=0)[0]
    return picked


def short_term_composite(
    valid: Bool, snow: Bool, ndvi_: F32, mndwi_: F32, tcb_: F32
) -> tuple[Index, npt.NDArray[np.uint8]]:
    """S2GM short-term composite rules for pixels with 2 or 3 valid observations.

    Arrays are (T, *S) for any spatial shape S: the composite passes the (T, P) gathered
    pixels whose count is 2 or 3 (elsewhere the answer is meaningless but harmless). Means,
    maxima and minima are over the valid observations of the pixel; ties go to the earliest
    observation (np.argmax/np.argmin return the first).

    Args:
        valid: bool (T, *S), weak_1 validity after the snow test.
        snow: bool (T, *S), SCL == 11.
        ndvi_: NDVI, float32 (T, *S).
        mndwi_: mNDWI, float32 (T, *S).
        tcb_: Tasselled Cap brightness, float32 (T, *S).

    Returns:
        The chosen observation per pixel, intp (*S), -1 for nodata (rule 5), and the rule
        that decided, uint8 (*S) with :class:`StcRule` values.

    """
    n = valid.sum(axis=0, dtype=np.int32)
    zero, inf = np.float32(0), np.float32(np.inf)

    def mean(x: F32) -> F32:
        total = np.where(valid, x, zero).sum(axis=0, dtype=np.float32)
        out: F32 = np.zeros_like(total)
        np.divide(total, n.astype(np.float32), out=out, where=n > 0)
        return out

    mean_ndvi, mean_mndwi, mean_tcb = mean(ndvi_), mean(mndwi_), mean(tcb_)
    i_max_ndvi = np.argmax(np.where(valid, ndvi_, -inf), axis=0)
    i_min_ndvi = np.argmin(np.where(valid, ndvi_, inf), axis=0)
    i_max_mndwi = np.argmax(np.where(valid, mndwi_, -inf), axis=0)
    i_min_mndwi = np.argmin(np.where(valid, mndwi_, inf), axis=0)
    i_min_tcb = np.argmin(np.where(valid, tcb_, inf), axis=0)
    max_ndvi = _take(ndvi_, i_max_ndvi)
    min_mndwi = _take(mndwi_, i_min_mndwi)

    # Rule 1: dry, bare and stable (mNDWI very negative, NDVI hardly varies): max NDVI, the
    # observation least likely to be hazy or shadowed.
    rule1 = (mean_mndwi < -0.55) & (max_ndvi - mean_ndvi < 0.05)
    # Rule 2: water, stable mNDWI: max mNDWI, the clearest water.
    rule2 = (mean_ndvi < -0.3) & (mean_mndwi - min_mndwi < 0.05)
    # Rule 3: dense dark vegetation: max NDVI, as clouds and haze lower NDVI.
    rule3 = (mean_ndvi > 0.6) & (mean_tcb < 0.45)
    # Rules 4 and 5 (our reading): rule 4 names the candidate, the lowest-TCB observation
    # (clouds are bright), to be taken if it is neither cloud nor snow. weak_1 validity has
    # already removed clouds (SCL 3, 8, 9, 10), so "not cloud or snow" is "SCL != 11", the
    # same condition as rule 5's "not snow". Rule 5 is then read as the guard on that same
    # candidate: a non-snow observation whose lowest TCB is still > 1.0 is an undetected
    # cloud, so the pixel is nodata. Hence: non-snow candidate with TCB <= 1.0 -> rule 4,
    # taken; non-snow candidate with TCB > 1.0 -> rule 5, nodata; snow candidate -> rule 6.
    candidate_snow = _take(snow, i_min_tcb).astype(bool)
    candidate_tcb = _take(tcb_, i_min_tcb)
    rule4 = ~candidate_snow & (candidate_tcb <= 1.0)
    rule5 = ~candidate_snow  # reached only when rule 4 failed: TCB > 1.0
    rule = np.select(
        [rule1, rule2, rule3, rule4, rule5],
        [
            StcRule.DRY_MAX_NDVI,
            StcRule.WATER_MAX_MNDWI,
            StcRule.VEGETATION_MAX_NDVI,
            StcRule.LOWEST_TCB,
            StcRule.TOO_BRIGHT,
        ],
        default=StcRule.SNOW,
    ).astype(np.uint8)
    # Rule 6, the candidate is snow: very negative NDVI means water or ice among the
    # observations -> max mNDWI; bright on average -> min NDVI (the snowiest); else max NDVI
    # (snow melting off vegetation: keep the vegetation).
    snow_choice = np.where(
        mean_ndvi < -0.2, i_max_mndwi, np.where(mean_tcb > 0.45, i_min_ndvi, i_max_ndvi)
    )
    index = np.select(
        [
            rule == StcRule.DRY_MAX_NDVI,
            rule == StcRule.WATER_MAX_MNDWI,
            rule == StcRule.VEGETATION_MAX_NDVI,
            rule == StcRule.LOWEST_TCB,
            rule == StcRule.SNOW,
        ],
        [i_max_ndvi, i_max_mndwi, i_max_ndvi, i_min_tcb, snow_choice],
        default=-1,
    ).astype(np.intp)
    return index, rule


class Composite:
    """S2GM-style best-available-pixel composite (medoid / short-term composite rules)."""

    name: str = "composite"
    description: str = METHODS["composite"]
    quality: tuple[QualityLayer, ...] = QUALITY["composite"]
    needs_cloud_weight: bool = False
    extra_bands: tuple[str, ...] = (BLUE, GREEN, RED, REDEDGE2, NIR, NIR08, SWIR16, SWIR22)
    required_bands: tuple[str, ...] = INDEX_BANDS
    # Its validity, indices and the medoid's features and scores: at 92 dates in 256 px
    # blocks, the build peaked at 1,054 MiB against 866 MiB in 128 px blocks.
    memory_factor: int = 2

    def reduce(self, obs: Observations) -> Reduction:
        """Choose one valid observation per pixel and return its reflectance and quality.

        Args:
            obs: the observations of one block, sorted by (datetime, id).

        Returns:
            Reflectance float32 (B, Y, X) of the chosen observation for every band of
            ``obs.bands`` (NaN nodata) and the quality layers of :attr:`quality`.

        Raises:
            ValueError: a band the indices need was not loaded (the pipeline loads
                `extra_bands`: a bug, not a bad order).

        """
        missing = [b for b in INDEX_BANDS if b not in obs.bands]
        if missing:
            raise ValueError(
                f"bands: the composite needs the bands {', '.join(missing)} to be loaded"
            )
        t_count = obs.dn.shape[0]
        spatial = obs.shape
        if t_count == 0:
            return _nodata(len(obs.bands), spatial)

        scl = obs.scl
        valid_scl = np.zeros(256, dtype=bool)
        valid_scl[list(VALID_SCL)] = True
        valid = valid_scl[scl] & complete_spectra(obs)
        snow = scl == SNOW_SCL

        # Indices are computed only on the pixels that need them (P gathered pixels, arrays
        # (T, P)): the snow test where a valid observation is SCL snow, the STC rules where
        # the count is 2 or 3. Both are usually a small share of a block.
        snow_pixels = (valid & snow).any(axis=0)
        if snow_pixels.any():
            rho = _Spectra(obs, snow_pixels)
            # The S2GM NDSI is the mNDWI formula: snow is kept only when it looks like snow.
            looks_like_snow = snow_like(ndsi(rho[GREEN], rho[SWIR16]), rho.tcb())
            valid[:, snow_pixels] &= ~snow[:, snow_pixels] | looks_like_snow
            del rho, looks_like_snow
        n = valid.sum(axis=0, dtype=np.int32)

        index = np.zeros(spatial, dtype=np.intp)
        method = np.zeros(spatial, dtype=np.uint8)
        chosen = np.zeros(spatial, dtype=bool)
        medoid_distance = np.full(spatial, np.nan, dtype=np.float32)

        # n = 1: that observation (argmax of a bool finds the first True).
        single = n == 1
        index[single] = np.argmax(valid[:, single], axis=0)
        method[single] = CompositeMethod.SINGLE
        chosen |= single

        # n = 2 or 3: the short-term composite rules.
        stc = (n >= 2) & (n < MEDOID_MIN_COUNT)
        if stc.any():
            rho = _Spectra(obs, stc)
            stc_index, _ = short_term_composite(
                valid[:, stc],
                snow[:, stc],
                ndvi(rho[RED], rho[NIR]),
                mndwi(rho[GREEN], rho[SWIR16]),
                rho.tcb(),
            )
            del rho
            index[stc] = np.maximum(stc_index, 0)
            method[stc] = CompositeMethod.STC
            chosen[stc] = stc_index >= 0

        # n >= 4: the medoid.
        medoid = n >= MEDOID_MIN_COUNT
        if medoid.any():
            best, total = _medoid(obs, valid, medoid)
            index[medoid] = best
            medoid_distance[medoid] = total / n[medoid].astype(np.float32)
            method[medoid] = CompositeMethod.MEDOID
            chosen |= medoid

        return Reduction(
            reflectance=_gather_reflectance(obs, index, chosen),
            quality={
                "date": _gather_date(obs.days, index, chosen),
                "count": np.minimum(n, 255).astype(np.uint8),
                "method": method,
                "medoid_distance": medoid_distance,
                "scl": np.where(chosen, _take(scl, index), 0).astype(np.uint8),
            },
        )


class _Spectra:
    """Reflectance of the gathered pixels of a block, band by band, converted on demand.

    ``spectra[band]`` is float32 (T, P) for the P pixels where ``pixels`` is True, computed
    with the operations of :meth:`Observations.reflectance` (NaN where the DN is 0).
    """

    def __init__(self, obs: Observations, pixels: Bool) -> None:
        self._obs = obs
        self._pixels = pixels
        self._cache: dict[str, F32] = {}

    def __getitem__(self, band: str) -> F32:
        if band not in self._cache:
            b = self._obs.bands.index(band)
            dn = self._obs.dn[:, b][:, self._pixels]
            rho = dn_to_reflectance(dn, self._obs.scale[:, b, None], self._obs.offset[:, b, None])
            rho[dn == 0] = np.nan
            self._cache[band] = rho
        return self._cache[band]

    def tcb(self) -> F32:
        """Tasselled Cap brightness of the gathered pixels, float32 (T, P)."""
        return tcb(self[BLUE], self[GREEN], self[RED], self[NIR08], self[SWIR16], self[SWIR22])


def _medoid(obs: Observations, valid: Bool, pixels: Bool) -> tuple[Index, F32]:
    """Medoid of the valid observations of the pixels where ``pixels`` is True.

    Works through chunks of :data:`_MEDOID_CHUNK_ELEMENTS` features, converting the
    medoid bands' DN of one chunk at a time: memory stays at a few tens of MiB whatever the
    block size, instead of a (T, Bm, Y, X) float32 copy of the block. When most pixels need
    the medoid the chunks are contiguous ranges of the block (cheap slices, the few other
    pixels computed for nothing); otherwise only the selected pixels are gathered. Both give
    bit-identical results.

    Returns:
        For the P selected pixels, in row-major order: the medoid's observation index, intp
        (P,), and its summed distance to the valid observations, float32 (P,).

    """
    t_count = obs.dn.shape[0]
    bands = [obs.bands.index(b) for b in MEDOID_BANDS if b in obs.bands]
    dn = [obs.dn[:, b].reshape(t_count, -1) for b in bands]  # views for a C-ordered block
    scale, offset = obs.scale[:, bands, None], obs.offset[:, bands, None]
    flat_valid = valid.reshape(t_count, -1)
    flat_pixels = pixels.ravel()
    selected = np.flatnonzero(flat_pixels)
    gather = selected.size < _MEDOID_GATHER_SHARE * flat_pixels.size
    size = selected.size if gather else flat_pixels.size
    best = np.empty(size, dtype=np.intp)
    total = np.empty(size, dtype=np.float32)
    chunk = max(1, _MEDOID_CHUNK_ELEMENTS // max(1, t_count * len(bands)))
    for p0 in range(0, size, chunk):
        part = slice(p0, p0 + chunk)
        where: slice | Index = selected[part] if gather else part
        features = np.empty((t_count, len(bands), len(best[part])), dtype=np.float32)
        for k in range(len(bands)):
            # DN 0 (nodata) is converted like any DN: medoid_scores ignores invalid ones.
            dn_to_reflectance(dn[k][:, where], scale[:, k], offset[:, k], out=features[:, k])
        score = medoid_scores(features, flat_valid[:, where])
        best[part] = np.argmin(score, axis=0)
        total[part] = np.take_along_axis(score, best[part][None], axis=0)[0]
    if gather:
        return best, total
    return best[flat_pixels], total[flat_pixels]


def _gather_reflectance(obs: Observations, index: Index, chosen: Bool) -> F32:
    """Reflectance of the chosen observation per pixel and band, NaN where none.

    Gathers the uint16 DN first and converts only the result (`dn_to_reflectance`, so the
    values are bit-identical to the observation's).
    """
    out = np.empty((len(obs.bands), *obs.shape), dtype=np.float32)
    for b in range(len(obs.bands)):
        dn = _take(obs.dn[:, b], index)
        rho = dn_to_reflectance(dn, obs.scale[index, b], obs.offset[index, b])
        rho[(dn == 0) | ~chosen] = np.nan
        out[b] = rho
    return out


def _gather_date(days: F32, index: Index, chosen: Bool) -> npt.NDArray[np.int16]:
    """Round the days of the chosen observation to int16 (np.rint: halves to even)."""
    rounded = np.rint(np.asarray(days, dtype=np.float32)).astype(np.int16)
    return np.where(chosen, rounded[index], np.int16(DATE_NODATA)).astype(np.int16)


def _nodata(band_count: int, spatial: tuple[int, int]) -> Reduction:
    """Return the reduction of a block without any observation."""
    return Reduction(
        reflectance=np.full((band_count, *spatial), np.nan, dtype=np.float32),
        quality={
            "date": np.full(spatial, DATE_NODATA, dtype=np.int16),
            "count": np.zeros(spatial, dtype=np.uint8),
            "method": np.zeros(spatial, dtype=np.uint8),
            "medoid_distance": np.full(spatial, np.nan, dtype=np.float32),
            "scl": np.zeros(spatial, dtype=np.uint8),
        },
    )
