"""The sky and the two L2A processors: clouds, shadows, haze, aerosols, noise, and masks.

One acquisition is simulated in the order light travels:

1. the surface of the day (`landscape.surface`),
2. cloud shadows: the cloud opacity field shifted away from the sun by
   ``height / tan(sun elevation)``, darkening every band (blue least: skylight still
   reaches the shadow),
3. a thin haze layer (large-scale, plus a halo around clouds: the moist air and cloud debris
   at cloud edges), adding path reflectance ~ lambda^-2 (blue most) and dimming the surface,
4. thin cirrus streaks on some dates (spectrally flat),
5. clouds: fractal opacity ``alpha`` in 0..1 mixing the surface with a white cloud spectrum
   (darker in the SWIR, where droplets absorb); the opacity rises smoothly from the cloud
   edge, so every cloud has a soft rim,
6. the residual of the atmospheric correction: a path-radiance bias proportional to the
   aerosol optical thickness (AOT), in the blue and green,
7. sensor noise (Gaussian, 0.003..0.005).

Then the masks are derived the way each processor would get them wrong:

- **Sen2Cor SCL** labels cloud (8/9) only where the opacity exceeds a per-date threshold
  (0.28..0.42), so the soft rims, the haze and the thinnest cirrus are labelled vegetation or
  bare soil: the omissions that let clouds into a weighted synthesis. On about half the dates
  its brightness test also fires on clear, bright bare soils and roofs (8/9): the "white
  dots" of false clouds of the source text. Strong shadows are 3, weaker ones 2 (dark area,
  which composites take as valid); the inner rim just below detection is 7 (unclassified);
  cirrus thicker than 0.012 is 10 (Sen2Cor sees it in B10, which the demo does not ship).
- **MAJA CLM** detects clouds from a lower opacity and from the blue increase over the
  surface (its multi-temporal test, >= 0.03), so it catches rims and most haze, dilates
  them by ~40 m, and never calls a clear bright soil cloud.

The ground truth keeps what really happened: `TRUTH_*` codes per pixel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from catalog.demo.landscape import Cover, Landscape
from catalog.demo.noise import F32, fractal_noise, ramp
from catalog.demo.scenes import BANDS, Acquisition
from catalog.model import BAND_WAVELENGTH

U8 = npt.NDArray[np.uint8]
Bool = npt.NDArray[np.bool_]

#: Codes of the truth cloud masks (``truth/cloud_<item-id>.tif``).
TRUTH_CLEAR = 0
TRUTH_THIN = 1  # thin cloud, cloud rim, haze or cirrus: blue raised by >= 0.02
TRUTH_CLOUD = 2  # cloud of opacity >= 0.25
TRUTH_SHADOW = 3  # cloud shadow darkening the surface by >= ~10 %
TRUTH_NODATA = 255  # outside the swath
#: Blue increase above which a pixel is truly contaminated (4-5 times the sensor noise).
THIN_BLUE = 0.02
#: Opacity above which a cloud is thick.
THICK_ALPHA = 0.25

#: Where the swath ends on swath-edge dates: share of the width at the top and bottom rows.
SWATH_EDGE = (0.16, 0.04)

# Spectra of the atmosphere's contributions, bands in the order of `scenes.BANDS`.
_WAVELENGTH = np.array([BAND_WAVELENGTH[band] for band in BANDS])
_CLOUD = np.array([0.62, 0.60, 0.58, 0.57, 0.57, 0.56, 0.56, 0.55, 0.42, 0.28], dtype=np.float32)
_HAZE = (_WAVELENGTH / 0.490) ** -2.0  # Rayleigh-like: thin haze is bluish
_CIRRUS = np.array([1.0, 1.0, 0.98, 0.97, 0.96, 0.95, 0.94, 0.94, 0.80, 0.60])
# Share of the direct light a full shadow removes (the rest is skylight, bluer).
_SHADOW_DEPTH = np.array([0.50, 0.58, 0.62, 0.66, 0.68, 0.68, 0.70, 0.70, 0.74, 0.76])
# Residual path reflectance per unit AOT after atmospheric correction.
_AOT_BIAS = np.array([0.020, 0.012, 0.005, 0.003, 0.002, 0.002, 0.001, 0.001, 0.0, 0.0])
_NOISE = np.array([0.003, 0.003, 0.003, 0.004, 0.004, 0.004, 0.004, 0.004, 0.005, 0.005])

_CLOUD_OUTER_M = 7000.0  # largest cloud systems
_CLOUD_INNER_M = 30.0  # no pixel-level speckle: droplets mix over tens of metres
_CLOUD_RAMP = 1.0  # noise std over which opacity rises from 0 to 1: width of soft rims
_CLOUD_GAMMA = 1.5  # opacity = ramp ** gamma: thin at the rim, quickly thick inside


@dataclass(frozen=True)
class Observation:
    """One simulated acquisition: what the L2A products contain, and the truth.

    Attributes:
        reflectance: observed surface reflectance, float32 (B, Y, X) (noisy, contaminated).
        valid: inside the swath, bool (Y, X).
        aot: aerosol optical thickness at 550 nm, float32 (Y, X).
        water_vapour: precipitable water, g/cm2, float32 (Y, X).
        truth: `TRUTH_*` code per pixel, uint8 (Y, X).
        scl: Sen2Cor scene classification, uint8 (Y, X).
        clm: MAJA cloud mask bits, uint8 (Y, X): 0 cloud or shadow, 1 cloud, 2 shadow,
            4 high thin cloud (cirrus).
        mg2: MAJA geophysical mask bits, uint8 (Y, X): 0 water, 1 cloud or shadow,
            2 snow (never here), 3 shadow.

    """

    reflectance: F32
    valid: Bool
    aot: F32
    water_vapour: F32
    truth: U8
    scl: U8
    clm: U8
    mg2: U8


def _shadow_offset_px(acq: Acquisition, resolution: float) -> tuple[int, int]:
    """(rows, cols) from a cloud to its shadow: away from the sun, height / tan(elevation)."""
    length = acq.cloud_height_m / math.tan(math.radians(acq.sun_elevation)) / resolution
    az = math.radians(acq.sun_azimuth)
    # The shadow lies towards azimuth + 180: east component -sin(az), north -cos(az); rows
    # grow southward.
    return (round(length * math.cos(az)), round(-length * math.sin(az)))


def _cloud_opacity(
    rng: np.random.Generator, acq: Acquisition, shape: tuple[int, int], resolution: float
) -> tuple[F32, F32]:
    """Cloud opacity on the grid and under the clouds casting shadows on it.

    The noise is drawn on a grid padded by the shadow length, so shadows near the edges come
    from clouds outside the image, as in a real tile. The threshold is the quantile that
    makes the share of pixels above Sen2Cor's detection opacity equal to the date's cover.
    """
    rows, cols = shape
    dr, dc = _shadow_offset_px(acq, resolution)
    pad = max(abs(dr), abs(dc)) + 2
    field = fractal_noise(
        rng,
        (rows + 2 * pad, cols + 2 * pad),
        beta=3.0,
        outer_px=_CLOUD_OUTER_M / resolution,
        inner_px=_CLOUD_INNER_M / resolution,
    )
    inside = field[pad : pad + rows, pad : pad + cols]
    if acq.cover <= 0.0:
        zero = np.zeros(shape, dtype=np.float32)
        return zero, zero.copy()
    detect_level = float(np.quantile(inside, 1.0 - acq.cover))
    start = detect_level - _CLOUD_RAMP * acq.detect_alpha ** (1.0 / _CLOUD_GAMMA)
    opacity = ramp(field, start, start + _CLOUD_RAMP) ** _CLOUD_GAMMA
    # A shadow at p comes from the cloud at p - offset (towards the sun).
    casting = opacity[pad - dr : pad - dr + rows, pad - dc : pad - dc + cols]
    return np.ascontiguousarray(opacity[pad : pad + rows, pad : pad + cols]), casting


def _swath(acq: Acquisition, shape: tuple[int, int]) -> Bool:
    """Pixels inside the swath: a slanted nodata strip on the west side on swath-edge dates."""
    rows, cols = shape
    valid = np.ones(shape, dtype=bool)
    if acq.swath_edge:
        # Descending orbits run south-south-west: the swath edge leans by ~7 degrees.
        top, bottom = SWATH_EDGE
        yy, xx = np.mgrid[0:rows, 0:cols]
        edge = cols * (top + (bottom - top) * yy / max(rows - 1, 1))
        valid = xx >= edge
    return valid


def observe(
    rng: np.random.Generator,
    land: Landscape,
    ground: F32,
    acq: Acquisition,
    resolution: float,
) -> Observation:
    """Simulate one acquisition over the surface ``ground`` of its day.

    Args:
        rng: generator of this acquisition's weather.
        land: the landscape (for the water mask).
        ground: true surface reflectance on the acquisition day, float32 (B, Y, X).
        acq: the acquisition and its weather parameters.
        resolution: pixel size in metres.

    Returns:
        The `Observation`.

    """
    shape = land.shape
    res = float(resolution)
    alpha, casting = _cloud_opacity(rng, acq, shape, res)

    # Thin haze: a broad layer plus a halo around thick clouds, reaching ~300 m out. This is
    # what masks miss and what a weighted synthesis must down-weight near clouds.
    layer = fractal_noise(rng, shape, beta=3.4, outer_px=12000.0 / res)
    haze = acq.haze * ramp(layer, 0.4, 2.2)
    if acq.cover > 0.0:
        core = (alpha >= 0.3).astype(np.float32)
        halo = ndimage.gaussian_filter(core, sigma=150.0 / res, truncate=2.5)
        haze += 0.045 * np.minimum(1.0, 2.0 * halo) * (1.0 - core)
    cirrus = np.zeros(shape, dtype=np.float32)
    if acq.cirrus > 0.0:
        angle = float(rng.uniform(0.0, 180.0))
        streaks = fractal_noise(
            rng, shape, beta=3.0, outer_px=5000.0 / res, stretch=4.0, angle_deg=angle
        )
        cirrus = acq.cirrus * ramp(streaks, 0.7, 2.5)
    aot_field = fractal_noise(rng, shape, beta=3.5, outer_px=15000.0 / res)
    aot = np.clip(acq.aot_mean * np.exp(0.25 * aot_field), 0.05, 0.6).astype(np.float32)
    wv_mean = float(rng.uniform(1.6, 3.2))
    water_vapour = np.clip(wv_mean + 0.25 * aot_field, 0.5, 5.0).astype(np.float32)
    shade = np.clip(1.6 * casting, 0.0, 1.0)

    observed = np.empty_like(ground)
    blue_increase = np.zeros(shape, dtype=np.float32)
    for b in range(ground.shape[0]):
        rho = ground[b] * (1.0 - shade * np.float32(_SHADOW_DEPTH[b]))
        before = rho.copy() if b == 0 else None
        h = haze * np.float32(_HAZE[b])
        rho = rho * (1.0 - 0.5 * h) + h
        c = cirrus * np.float32(_CIRRUS[b])
        rho = rho * (1.0 - 0.6 * c) + c
        rho = rho * (1.0 - alpha) + alpha * _CLOUD[b]
        if before is not None:
            blue_increase = rho - before
        rho += aot * np.float32(_AOT_BIAS[b])
        rho += rng.standard_normal(shape, dtype=np.float32) * np.float32(_NOISE[b])
        observed[b] = rho

    valid = _swath(acq, shape)
    truth = np.full(shape, TRUTH_CLEAR, dtype=np.uint8)
    truth[shade >= 0.15] = TRUTH_SHADOW
    truth[blue_increase >= THIN_BLUE] = TRUTH_THIN
    truth[alpha >= THICK_ALPHA] = TRUTH_CLOUD
    truth[~valid] = TRUTH_NODATA

    water = land.cover == Cover.WATER
    scl = _sen2cor(observed, acq, alpha, shade, cirrus, water, valid)
    clm, mg2 = _maja(alpha, shade, cirrus, blue_increase, water, valid, res)
    return Observation(observed, valid, aot, water_vapour, truth, scl, clm, mg2)


def _sen2cor(
    observed: F32,
    acq: Acquisition,
    alpha: F32,
    shade: F32,
    cirrus: F32,
    water: Bool,
    valid: Bool,
) -> U8:
    """Classify like Sen2Cor (SCL), with its typical omissions and commissions."""
    blue, red, nir = observed[0], observed[2], observed[6]
    ndvi = (nir - red) / np.maximum(nir + red, 1e-4)
    scl = np.where(ndvi >= 0.4, np.uint8(4), np.uint8(5))
    scl[water & (ndvi < 0.1)] = 6
    scl[(shade >= 0.3) & (shade < 0.5)] = 2  # dark area: weak shadows pass as valid
    scl[shade >= 0.5] = 3
    scl[cirrus >= 0.012] = 10
    # Commission: Sen2Cor's first cloud test is a brightness threshold; on hazy, bright days
    # it fires on clear, bright non-vegetated pixels (calcareous soils, flat roofs).
    bright = (blue >= acq.commission_blue) & (ndvi < 0.3)
    scl[bright] = 8
    scl[bright & (blue >= acq.commission_blue + 0.04)] = 9
    # The inner rim, just below detection, is often left unclassified.
    scl[(alpha >= 0.75 * acq.detect_alpha) & (alpha < acq.detect_alpha)] = 7
    scl[alpha >= acq.detect_alpha] = 8
    scl[alpha >= acq.detect_alpha + 0.3] = 9
    scl[~valid] = 0
    return scl


def _maja(
    alpha: F32,
    shade: F32,
    cirrus: F32,
    blue_increase: F32,
    water: Bool,
    valid: Bool,
    resolution: float,
) -> tuple[U8, U8]:
    """MAJA-like CLM and MG2 bit masks: sensitive to thin clouds, no bright-soil commission."""
    # MAJA compares the blue with the previous clear observation (multi-temporal test), so a
    # blue increase of 0.03 is enough, whatever the surface brightness; it then dilates.
    # Nothing is detected outside the swath: no cloud there grows into the image by dilation.
    cloud = ((alpha >= 0.08) | (blue_increase >= 0.03)) & valid
    iterations = max(1, round(40.0 / resolution))
    cloud = ndimage.binary_dilation(cloud, iterations=iterations)
    shadow = (shade >= 0.15) & ~cloud
    high = cirrus >= 0.01
    clm = (
        (cloud | shadow).astype(np.uint8)
        | (cloud.astype(np.uint8) << 1)
        | (shadow.astype(np.uint8) << 2)
        | (high.astype(np.uint8) << 4)
    )
    mg2 = (
        (water & ~cloud).astype(np.uint8)
        | ((cloud | shadow).astype(np.uint8) << 1)
        | (shadow.astype(np.uint8) << 3)
    )
    clm[~valid] = 0
    mg2[~valid] = 0
    return clm, mg2
