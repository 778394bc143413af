"""The ground: land-cover parcels, their spectra, textures and phenology.

The landscape imitates the Garonne valley north-west of Toulouse in July: the river crossing
the area from south-east to north-west with its riparian woods and gravel-pit lakes, a town
in the south-east corner (Blagnac) and villages, woodlots on the terraces, and a mosaic of
fields whose state changes during the month:

- winter cereals harvested on a date of their own (ripe straw -> bright stubble in a day),
- summer crops (maize, soy) greening up, each field on its own schedule,
- sunflowers past their peak, drying,
- meadows slowly drying out,
- bare, ploughed soils, some of them very bright (the calcareous terraces): the surfaces
  Sen2Cor mistakes for clouds.

Each pixel is a linear mixture of endmember spectra (green canopy, dry vegetation, the field's
soil), with a field-level gain and a pixel-level texture, so that within-parcel variance and
between-date changes are both physically plausible. Parcels are Voronoi cells of jittered
seeds (straight field borders, like a cadastre), their borders slightly warped by noise.
Sizes are in metres, converted to pixels with the resolution, and positions of the river and
the town are relative to the extent, so that small test builds still hold every cover.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import numpy.typing as npt
from scipy.spatial import cKDTree

from catalog.demo.noise import F32, fractal_noise, logistic, ramp
from catalog.demo.scenes import HALF_WINDOW_DAYS


class Cover(IntEnum):
    """Land-cover codes of ``truth/landcover.tif``."""

    WATER = 1
    FOREST = 2
    URBAN = 3
    CEREAL_HARVEST = 4  # winter cereals, harvested during the window
    SUMMER_CROP = 5  # maize, soy: greening up
    SUNFLOWER = 6  # drying after its peak
    MEADOW = 7  # slowly drying grassland
    BARE_SOIL = 8  # ploughed fields, some very bright


#: Covers whose reflectance does not change during the month.
STATIC_COVERS = (Cover.WATER, Cover.FOREST, Cover.URBAN, Cover.BARE_SOIL)

# Endmember spectra, bands in the order of `scenes.BANDS`:
#            blue   green  red    re1    re2    re3    nir    nir08  swir16 swir22
_GREEN = [0.030, 0.075, 0.035, 0.110, 0.320, 0.420, 0.470, 0.480, 0.240, 0.110]
_DRY = [0.065, 0.095, 0.125, 0.165, 0.220, 0.255, 0.285, 0.300, 0.400, 0.310]
_STRAW = [0.090, 0.125, 0.160, 0.195, 0.235, 0.255, 0.275, 0.290, 0.400, 0.320]
_FOREST = [0.022, 0.050, 0.025, 0.075, 0.230, 0.300, 0.340, 0.350, 0.160, 0.070]
_SOIL_DARK = [0.055, 0.075, 0.100, 0.120, 0.135, 0.145, 0.155, 0.160, 0.220, 0.190]
_SOIL = [0.085, 0.120, 0.165, 0.195, 0.220, 0.235, 0.250, 0.260, 0.340, 0.290]
_SOIL_BRIGHT = [0.165, 0.215, 0.275, 0.305, 0.325, 0.335, 0.350, 0.360, 0.440, 0.380]
_RIVER = [0.050, 0.065, 0.045, 0.035, 0.018, 0.014, 0.012, 0.010, 0.005, 0.003]
_LAKE = [0.035, 0.050, 0.025, 0.018, 0.010, 0.008, 0.007, 0.006, 0.004, 0.003]
_ROOFS = [0.085, 0.100, 0.140, 0.160, 0.180, 0.190, 0.200, 0.205, 0.250, 0.220]  # brick
_BRIGHT_ROOFS = [0.210, 0.230, 0.245, 0.255, 0.265, 0.270, 0.275, 0.280, 0.300, 0.270]

GREEN = np.array(_GREEN, dtype=np.float32)
DRY = np.array(_DRY, dtype=np.float32)
STRAW = np.array(_STRAW, dtype=np.float32)

_PARCEL_M = 420.0  # mean field size (Lauragais / Garonne terraces: 10-25 ha)
_COVER_SHARES = {  # shares of the agricultural parcels
    Cover.CEREAL_HARVEST: 0.27,
    Cover.SUMMER_CROP: 0.27,
    Cover.SUNFLOWER: 0.16,
    Cover.MEADOW: 0.14,
    Cover.BARE_SOIL: 0.16,
}


@dataclass(frozen=True)
class Landscape:
    """Everything needed to compute the surface reflectance on any date.

    Reflectance of band b at pixel p on day t (days from the central date)::

        texture[p] * (static[b, p] + g(t) * GREEN[b] + d(t) * DRY[b] + s(t) * STRAW[b]
                      + (1 - g - d - s)(t) * soil[b, p])

    where the green, dry and straw fractions g, d, s follow the phenology of the pixel's
    parcel (`fractions`) and are 0 on static covers.

    Attributes:
        cover: `Cover` code per pixel, uint8 (Y, X).
        parcel: parcel index per pixel, int32 (Y, X).
        static: reflectance of the time-invariant part, float32 (B, Y, X) (0 on crops).
        soil: the soil spectrum under each crop pixel, float32 (B, Y, X).
        texture: multiplicative pixel texture times the parcel gain, float32 (Y, X).
        vigour: relative growth anomaly within a field, float32 (Y, X) (~ +-10 %).
        parcel_cover: `Cover` of each parcel, (P,).
        parcel_t0: date of the parcel's transition, days from the central date, (P,).
        parcel_tau: duration of the transition, days, (P,).
        parcel_level: maximum green fraction (crops) or its initial value (meadows), (P,).

    """

    cover: npt.NDArray[np.uint8]
    parcel: npt.NDArray[np.int32]
    static: F32
    soil: F32
    texture: F32
    vigour: F32
    parcel_cover: npt.NDArray[np.uint8]
    parcel_t0: npt.NDArray[np.float64]
    parcel_tau: npt.NDArray[np.float64]
    parcel_level: npt.NDArray[np.float64]

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, cols)."""
        return (int(self.cover.shape[0]), int(self.cover.shape[1]))


def _parcels(
    rng: np.random.Generator, shape: tuple[int, int], resolution: float
) -> npt.NDArray[np.int32]:
    """Voronoi parcels of jittered seeds, elongated along the valley: parcel index per pixel."""
    rows, cols = shape
    spacing = _PARCEL_M / resolution
    # Work in a "field space" rotated along the valley and squeezed across it: isotropic
    # Voronoi cells there are fields ~1.7 times longer than wide on the ground.
    theta = np.deg2rad(rng.uniform(20.0, 40.0))
    squeeze = 1.3
    # Warp pixel coordinates a little before the nearest-seed search: field borders stay
    # almost straight (cadastre) but never perfectly so.
    warp_px = 25.0 / resolution
    wx = fractal_noise(rng, shape, beta=3.0, outer_px=800.0 / resolution) * warp_px
    wy = fractal_noise(rng, shape, beta=3.0, outer_px=800.0 / resolution) * warp_px
    yy, xx = np.mgrid[0:rows, 0:cols].astype(np.float32)
    xx += wx
    yy += wy
    fx = (xx * np.cos(theta) + yy * np.sin(theta)) / squeeze
    fy = (-xx * np.sin(theta) + yy * np.cos(theta)) * squeeze
    x0, y0 = float(fx.min()) - spacing, float(fy.min()) - spacing
    nx = int(np.ceil((float(fx.max()) - x0) / spacing)) + 2
    ny = int(np.ceil((float(fy.max()) - y0) / spacing)) + 2
    gy, gx = np.meshgrid(
        np.arange(ny, dtype=np.float64), np.arange(nx, dtype=np.float64), indexing="ij"
    )
    seeds = np.stack([gx.ravel(), gy.ravel()], axis=1) + rng.uniform(0.1, 0.9, (ny * nx, 2))
    seeds = seeds * spacing + np.array([x0, y0])
    points = np.stack([fx.ravel(), fy.ravel()], axis=1)
    _, index = cKDTree(seeds).query(points, k=1, workers=1)
    # Renumber the parcels that exist on the grid, 0..P-1, in order of first pixel.
    _, first, inverse = np.unique(index, return_index=True, return_inverse=True)
    order = np.argsort(np.argsort(first))
    return order[inverse].reshape(shape).astype(np.int32)


def build_landscape(
    rng: np.random.Generator, shape: tuple[int, int], resolution: float
) -> Landscape:
    """Draw the demo landscape on a grid.

    Args:
        rng: generator dedicated to the landscape (the same for every regime and flavour).
        shape: (rows, cols).
        resolution: pixel size in metres.

    Returns:
        The `Landscape`.

    """
    rows, cols = shape
    res = float(resolution)
    extent = max(rows, cols) * res
    parcel = _parcels(rng, shape, res)
    n_parcels = int(parcel.max()) + 1
    pixels_per_parcel = np.bincount(parcel.ravel(), minlength=n_parcels).astype(np.float64)

    def parcel_mean(field: npt.NDArray[np.floating]) -> npt.NDArray[np.float64]:
        return (
            np.bincount(parcel.ravel(), weights=field.ravel(), minlength=n_parcels)
            / pixels_per_parcel
        )

    yy, xx = np.mgrid[0:rows, 0:cols].astype(np.float32)
    u, v = xx / cols, yy / rows  # relative position, 0..1 (v grows southward)

    # --- The river: meanders around the SE -> NW diagonal, ~110 m wide. -------------------
    along = (u + v) / 2.0  # 0 at the NW corner, 1 at the SE corner
    across = (u - v) * extent / np.sqrt(2.0)  # metres from the NW-SE diagonal (+: north-east)
    phase = rng.uniform(0, 2 * np.pi)
    meander = 900.0 * np.sin(2 * np.pi * along * extent / 9000.0 + phase) + 300.0 * np.sin(
        2 * np.pi * along * extent / 3100.0 + 2 * phase
    )
    wiggle = fractal_noise(rng, shape, beta=3.5, outer_px=3000.0 / res) * 120.0
    centre_offset = 0.08 * extent  # the river passes a little south-west of the diagonal
    distance_river = np.abs(across + centre_offset - meander * min(1.0, extent / 8000.0) - wiggle)
    half_width = 75.0 + 15.0 * fractal_noise(rng, shape, beta=3.0, outer_px=2000.0 / res)
    river = distance_river < half_width
    riparian_width = 70.0 + 50.0 * fractal_noise(rng, shape, beta=2.5, outer_px=1500.0 / res)
    riparian = ~river & (distance_river < half_width + np.maximum(riparian_width, 20.0))

    # --- Gravel-pit lakes in the flood plain, 250..1200 m from the river. ------------------
    lakes = np.zeros(shape, dtype=bool)
    plain = np.flatnonzero((distance_river > 250.0) & (distance_river < 1200.0))
    n_lakes = max(2, round(6 * (extent / 20000.0) ** 2)) if plain.size else 0
    for centre in rng.choice(plain, size=n_lakes, replace=False) if n_lakes else []:
        cy, cx = divmod(int(centre), cols)
        a = rng.uniform(120.0, 380.0) / res
        b = a * rng.uniform(0.4, 0.9)
        theta = rng.uniform(0, np.pi)
        dx, dy = xx - cx, yy - cy
        r1 = (dx * np.cos(theta) + dy * np.sin(theta)) / a
        r2 = (-dx * np.sin(theta) + dy * np.cos(theta)) / b
        # Rounded rectangles (x^4 + y^4 < 1): pits are dug with straight banks.
        lakes |= (r1**4 + r2**4) < 1.0
    lakes &= ~river

    # --- The town (SE corner) and villages, with noisy edges. -----------------------------
    town_noise = fractal_noise(rng, shape, beta=2.6, outer_px=2000.0 / res)
    town = np.hypot(u - 0.88, v - 0.86) / 0.22 + 0.18 * town_noise < 1.0
    for _ in range(max(1, round(3 * (extent / 20000.0) ** 2))):
        vx, vy = rng.uniform(0.1, 0.9, 2)
        radius = rng.uniform(250.0, 450.0) / extent
        town |= np.hypot(u - vx, v - vy) / radius + 0.25 * town_noise < 1.0
    urban = town & ~river & ~lakes

    # --- Parcels: woodlots (more on the terraces away from the river) or crops. -----------
    zone = fractal_noise(rng, shape, beta=3.2, outer_px=6000.0 / res)
    woodiness = parcel_mean(zone + 1.2 * ramp(distance_river, 1500.0, 6000.0))
    parcel_cover = np.empty(n_parcels, dtype=np.uint8)
    crops = list(_COVER_SHARES)
    probabilities = np.array([_COVER_SHARES[c] for c in crops])
    parcel_cover[:] = rng.choice(np.array(crops, dtype=np.uint8), size=n_parcels, p=probabilities)
    parcel_cover[woodiness > np.quantile(woodiness, 0.86)] = Cover.FOREST

    cover = parcel_cover[parcel]
    cover[riparian] = Cover.FOREST
    cover[urban] = Cover.URBAN
    cover[river | lakes] = Cover.WATER

    # --- Phenology parameters per parcel (days from 2024-07-15). --------------------------
    t0 = np.zeros(n_parcels)
    tau = np.ones(n_parcels)
    level = np.ones(n_parcels)
    pc = parcel_cover
    n = n_parcels
    harvest = pc == Cover.CEREAL_HARVEST
    t0[harvest] = rng.uniform(-28.0, 18.0, n)[harvest]  # harvest day
    tau[harvest] = 0.6  # a field is harvested within a day or two
    summer = pc == Cover.SUMMER_CROP
    t0[summer] = rng.uniform(-22.0, 14.0, n)[summer]  # mid green-up
    tau[summer] = rng.uniform(4.0, 8.0, n)[summer]
    level[summer] = rng.uniform(0.85, 0.97, n)[summer]
    sunflower = pc == Cover.SUNFLOWER
    t0[sunflower] = rng.uniform(-6.0, 26.0, n)[sunflower]  # mid senescence
    tau[sunflower] = rng.uniform(4.0, 7.0, n)[sunflower]
    level[sunflower] = rng.uniform(0.75, 0.9, n)[sunflower]
    meadow = pc == Cover.MEADOW
    level[meadow] = rng.uniform(0.45, 0.8, n)[meadow]  # green fraction on 06-22
    tau[meadow] = rng.uniform(0.1, 0.35, n)[meadow]  # loss of green fraction over the window

    # --- Soils: per-field brightness; about 1 field in 4 on bright calcareous soil. ------
    brightness = rng.beta(2.0, 2.0, n)
    bright_fields = rng.uniform(size=n) < 0.25
    brightness[bright_fields] = rng.uniform(0.8, 1.0, n)[bright_fields]
    dark, mid, bright = (np.array(s, dtype=np.float32) for s in (_SOIL_DARK, _SOIL, _SOIL_BRIGHT))
    lo = np.clip(brightness * 2.0, 0.0, 1.0)[:, None]
    hi = np.clip(brightness * 2.0 - 1.0, 0.0, 1.0)[:, None]
    parcel_soil = np.where(
        brightness[:, None] < 0.5, dark + (mid - dark) * lo, mid + (bright - mid) * hi
    ).astype(np.float32)  # (P, B)
    soil = np.ascontiguousarray(np.moveaxis(parcel_soil[parcel], -1, 0))
    # Soil under town/forest/water pixels is irrelevant (their g, d, s are 0).

    # --- Static spectra: water, forest, town, bare soil. ----------------------------------
    nb = len(_GREEN)
    static = np.zeros((nb, rows, cols), dtype=np.float32)
    fine = fractal_noise(rng, shape, beta=2.0, outer_px=400.0 / res)
    for b in range(nb):
        layer = static[b]
        layer[river] = _RIVER[b]
        layer[lakes] = _LAKE[b]
        layer[cover == Cover.FOREST] = _FOREST[b]
        bare = cover == Cover.BARE_SOIL
        layer[bare] = soil[b][bare]
    # Towns: brick roofs, bright flat roofs (warehouses, the airport) and gardens.
    green_share = np.clip(0.25 + 0.12 * fine + 0.1 * town_noise, 0.03, 0.6)
    spots = fractal_noise(rng, shape, beta=1.6, outer_px=150.0 / res)
    bright_roofs = ramp(spots, 1.3, 1.8)
    for b in range(nb):
        built = _ROOFS[b] + (_BRIGHT_ROOFS[b] - _ROOFS[b]) * bright_roofs
        town_b = (1.0 - green_share) * built + green_share * 0.85 * _GREEN[b]
        static[b][urban] = town_b[urban]

    # --- Texture: field gain x pixel texture (stronger in woods and towns). ---------------
    gain = rng.normal(1.0, 0.06, n).astype(np.float32)
    amplitude = np.full(shape, 0.045, dtype=np.float32)
    amplitude[cover == Cover.FOREST] = 0.08
    amplitude[cover == Cover.URBAN] = 0.10
    amplitude[cover == Cover.WATER] = 0.03
    texture = np.clip(1.0 + amplitude * fine, 0.6, 1.4) * gain[parcel]
    texture[cover == Cover.WATER] = np.clip(1.0 + 0.03 * fine, 0.9, 1.1)[cover == Cover.WATER]
    vigour = np.clip(0.08 * fractal_noise(rng, shape, beta=2.4, outer_px=300.0 / res), -0.2, 0.2)
    return Landscape(
        cover=cover.astype(np.uint8),
        parcel=parcel,
        static=static,
        soil=soil,
        texture=texture.astype(np.float32),
        vigour=vigour.astype(np.float32),
        parcel_cover=parcel_cover,
        parcel_t0=t0,
        parcel_tau=tau,
        parcel_level=level,
    )


_CROPS = (Cover.CEREAL_HARVEST, Cover.SUMMER_CROP, Cover.SUNFLOWER, Cover.MEADOW)


def fractions(land: Landscape, day: float) -> tuple[F32, F32, F32, F32]:
    """Abundances of the endmembers in every pixel on ``day`` (days from the central date).

    Returns:
        (green canopy, dry vegetation, straw, soil), float32 (Y, X) each, zero on static
        covers, summing to 1 on crops.

    """
    pc = land.parcel_cover
    t0, tau, level = land.parcel_t0, land.parcel_tau, land.parcel_level
    n = pc.shape[0]
    g = np.zeros(n)
    d = np.zeros(n)
    s = np.zeros(n)
    k = logistic((day - t0) / tau)  # progress of each parcel's transition, 0 -> 1
    # Ripe cereals (dry canopy over a little soil) -> stubble: straw over soil, in a day.
    harvest = pc == Cover.CEREAL_HARVEST
    g[harvest] = 0.06 * (1.0 - k[harvest])
    d[harvest] = 0.82 * (1.0 - k[harvest])
    s[harvest] = 0.40 * k[harvest]
    # Summer crops green up along a logistic curve to their own maximum cover.
    summer = pc == Cover.SUMMER_CROP
    g[summer] = 0.08 + (level[summer] - 0.08) * k[summer]
    # Sunflowers lose green cover to dry heads and leaves.
    sunflower = pc == Cover.SUNFLOWER
    g[sunflower] = level[sunflower] - 0.65 * k[sunflower]
    d[sunflower] = 0.05 + 0.6 * k[sunflower]
    # Meadows dry out linearly over the window.
    meadow = pc == Cover.MEADOW
    g[meadow] = level[meadow] - tau[meadow] * (day + HALF_WINDOW_DAYS) / (2 * HALF_WINDOW_DAYS)
    d[meadow] = 0.9 - g[meadow]
    crop = np.isin(land.cover, _CROPS)
    green = (np.clip(g[land.parcel] * (1.0 + land.vigour), 0.0, 0.98) * crop).astype(np.float32)
    dry = (d[land.parcel] * crop).astype(np.float32)
    straw = (s[land.parcel] * crop).astype(np.float32)
    soil = (np.clip(1.0 - green - dry - straw, 0.0, 1.0) * crop).astype(np.float32)
    return green, dry, straw, soil


def surface(land: Landscape, day: float) -> F32:
    """Compute the true surface reflectance on ``day`` (days from 07-15), float32 (B, Y, X)."""
    green, dry, straw, soil = fractions(land, day)
    out = np.empty_like(land.static)
    for b in range(out.shape[0]):
        band = land.static[b] + green * GREEN[b]
        band += dry * DRY[b]
        band += straw * STRAW[b]
        band += soil * land.soil[b]
        band *= land.texture
        out[b] = band
    return out
