"""Where and when: the demo grid, the acquisition schedule, sun angles and cloud regimes.

The area lies on the Garonne north-west of Toulouse (Blagnac to Grenade), the region of the
source text, inside MGRS tile 31TCJ (UTM 31N, origin x=300000, y=4900020). Its grid origin is
a multiple of 60 m like every Sentinel-2 grid, so outputs at 10, 20 or 60 m stay on the
pixel grid of real 31TCJ products.

The schedule is fixed (it does not depend on the seed): 12 acquisitions every 4 days from
2024-06-23 to 2024-08-06, inside the monthly window 2024-06-22..2024-08-07 around the central
date 2024-07-15, none of them on the central date itself (a synthesis has to interpolate).
Platforms alternate Sentinel-2A/2B and relative orbits R051/R008, like a tile seen from two
adjacent orbits. The seed and the cloud regime only decide the weather.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np

#: EPSG code of the demo grid (WGS 84 / UTM zone 31N).
DEMO_EPSG = 32631
#: The month the demo covers.
DEMO_PERIOD = "2024-07"
#: The central date of the month: the truth is the surface on this day.
CENTRAL_DATE = date(2024, 7, 15)
#: Half window of a monthly synthesis, in days (WASP / Theia L3A).
HALF_WINDOW_DAYS = 23
#: Centre of the area in UTM 31N metres (between Blagnac and Grenade, on the Garonne).
CENTRE_XY = (364000.0, 4842000.0)
#: Origin of the Sentinel-2 tile the area lies in (31TCJ), whose pixel lattice we keep.
TILE_ORIGIN_XY = (300000.0, 4900020.0)
TILE = "31TCJ"
#: Lon/lat bbox (west, south, east, north) of the default demo (1000 x 1000 px at 20 m).
DEMO_BBOX: tuple[float, float, float, float] = (1.184855, 43.626846, 1.43809, 43.810514)

#: Reflectance bands by common name, in wavelength order (B02..B12 without B01, B09, B10).
BANDS: tuple[str, ...] = (
    "blue",
    "green",
    "red",
    "rededge1",
    "rededge2",
    "rededge3",
    "nir",
    "nir08",
    "swir16",
    "swir22",
)

#: Mean cloud cover per regime (share of pixels the SCL calls cloud, before commission).
REGIMES = ("clear", "mixed", "half", "overcast")

_FIRST_DATE = date(2024, 6, 23)
_N_DATES = 12
_STEP_DAYS = 4
_LAT, _LON = 43.7287, 1.3007  # centre of the area, for sun angles


@dataclass(frozen=True)
class DemoGrid:
    """The pixel grid of one demo build (north-up, square pixels)."""

    epsg: int
    size_px: int
    resolution: int
    x0: float  # west edge
    y0: float  # north edge

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, cols)."""
        return (self.size_px, self.size_px)

    @property
    def transform(self) -> tuple[float, float, float, float, float, float]:
        """GDAL-order affine (a, b, c, d, e, f)."""
        r = float(self.resolution)
        return (r, 0.0, self.x0, 0.0, -r, self.y0)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(minx, miny, maxx, maxy) in UTM metres."""
        extent = self.size_px * self.resolution
        return (self.x0, self.y0 - extent, self.x0 + extent, self.y0)


def demo_grid(size_px: int, resolution: int) -> DemoGrid:
    """Return the grid of ``size_px`` square pixels of ``resolution`` metres on the area.

    The origin is snapped to the 60 m lattice of tile 31TCJ (every Sentinel-2 band grid shares
    it), so that 10, 20 and 60 m outputs never resample by a fraction of a pixel.
    """
    half = size_px * resolution / 2.0
    tx, ty = TILE_ORIGIN_XY
    x0 = tx + math.floor((CENTRE_XY[0] - half - tx) / 60.0) * 60.0
    y0 = ty - math.floor((ty - (CENTRE_XY[1] + half)) / 60.0) * 60.0
    return DemoGrid(DEMO_EPSG, size_px, resolution, x0, y0)


@dataclass(frozen=True)
class Acquisition:
    """One overpass: when, by whom, the sun, and the weather drawn for it.

    Attributes:
        index: position in the schedule (0..11), also the seed stream of its weather.
        when: sensing time (UTC).
        platform: "sentinel-2a" or "sentinel-2b".
        relative_orbit: 51 or 8.
        absolute_orbit: the platform's orbit counter (approximate, for identifiers).
        sun_azimuth: degrees clockwise from north.
        sun_elevation: degrees above the horizon.
        view_incidence: mean viewing incidence angle, degrees.
        view_azimuth: mean viewing azimuth, degrees.
        cover: target share of pixels with clouds thick enough for Sen2Cor (0..1).
        detect_alpha: cloud opacity above which Sen2Cor labels a pixel cloud this day.
        haze: blue path reflectance of the broad thin haze layer at its thickest.
        cirrus: reflectance of thin cirrus streaks at their thickest (0: none).
        cloud_height_m: cloud base height, which sets how far shadows fall from clouds.
        aot_mean: scene-mean aerosol optical thickness at 550 nm.
        commission_blue: blue reflectance above which Sen2Cor calls a bright, non-vegetated
            clear pixel cloud this day (high: no commission).
        swath_edge: True when the tile is at the edge of this orbit's swath (a nodata strip).

    """

    index: int
    when: datetime
    platform: str
    relative_orbit: int
    absolute_orbit: int
    sun_azimuth: float
    sun_elevation: float
    view_incidence: float
    view_azimuth: float
    cover: float
    detect_alpha: float
    haze: float
    cirrus: float
    cloud_height_m: float
    aot_mean: float
    commission_blue: float
    swath_edge: bool

    @property
    def days_from_central(self) -> float:
        """Signed days from the central date (noon UTC)."""
        central = datetime(2024, 7, 15, 12, tzinfo=UTC)
        return (self.when - central).total_seconds() / 86400.0

    @property
    def letter(self) -> str:
        """Return the platform letter, "A" or "B"."""
        return self.platform[-1].upper()


def sun_position(when: datetime, lat: float, lon: float) -> tuple[float, float]:
    """Solar azimuth and elevation (degrees) by the NOAA approximation (error < 0.1 deg).

    Shadows are cast from this direction, so cloud shadows land where they would in a real
    acquisition at this place and time (north-north-west of clouds at 10:50 UTC in July).
    """
    doy = when.timetuple().tm_yday
    hour = when.hour + when.minute / 60.0 + when.second / 3600.0
    g = 2.0 * math.pi / 365.0 * (doy - 1 + (hour - 12.0) / 24.0)
    eqtime = 229.18 * (
        0.000075
        + 0.001868 * math.cos(g)
        - 0.032077 * math.sin(g)
        - 0.014615 * math.cos(2 * g)
        - 0.040849 * math.sin(2 * g)
    )
    decl = (
        0.006918
        - 0.399912 * math.cos(g)
        + 0.070257 * math.sin(g)
        - 0.006758 * math.cos(2 * g)
        + 0.000907 * math.sin(2 * g)
        - 0.002697 * math.cos(3 * g)
        + 0.00148 * math.sin(3 * g)
    )
    true_solar_min = hour * 60.0 + eqtime + 4.0 * lon
    hour_angle = math.radians(true_solar_min / 4.0 - 180.0)
    phi = math.radians(lat)
    cos_zen = math.sin(phi) * math.sin(decl) + math.cos(phi) * math.cos(decl) * math.cos(hour_angle)
    zen = math.acos(max(-1.0, min(1.0, cos_zen)))
    az = math.degrees(
        math.atan2(
            math.sin(hour_angle),
            math.cos(hour_angle) * math.sin(phi) - math.tan(decl) * math.cos(phi),
        )
    )
    return (az + 180.0) % 360.0, 90.0 - math.degrees(zen)


def _covers(rng: np.random.Generator, regime: str) -> list[float]:
    """Target cloud cover of each date for a regime (mean ~0.05 / 0.5 / 0.8; mixed: a spread)."""
    n = _N_DATES
    if regime == "clear":
        covers = rng.uniform(0.0, 0.09, n) * (rng.uniform(size=n) < 0.6)
    elif regime == "half":
        covers = np.clip(rng.normal(0.5, 0.15, n), 0.2, 0.8)
        covers = np.clip(covers - covers.mean() + 0.5, 0.15, 0.85)
    elif regime == "overcast":
        covers = np.clip(rng.normal(0.8, 0.1, n), 0.55, 0.97)
        covers = np.clip(covers - covers.mean() + 0.8, 0.5, 0.97)
    elif regime == "mixed":
        # From clear to overcast: two clear dates (a synthesis always has good data), a fully
        # overcast one (a pixel may be cloudy on every date but one), the rest in between.
        covers = np.array([0.0, 0.0, 0.03, 0.08, 0.15, 0.25, 0.35, 0.5, 0.65, 0.8, 0.9, 0.97])
        covers = covers[rng.permutation(n)]
    else:
        raise ValueError(f"cloud_regime must be one of {REGIMES}, not {regime!r}")
    return [float(c) for c in covers]


def schedule(seed: int, regime: str) -> list[Acquisition]:
    """List the 12 acquisitions of the demo with their weather, deterministic in the seed.

    Args:
        seed: the demo's seed.
        regime: one of `REGIMES`.

    Returns:
        Acquisitions sorted by time.

    """
    regime_code = REGIMES.index(regime) if regime in REGIMES else -1
    covers = _covers(np.random.default_rng([seed, 7, regime_code + 1]), regime)
    rng = np.random.default_rng([seed, 8])  # weather other than cover: same for every regime
    # On half of the dates Sen2Cor's brightness test fires on bright bare soils and roofs:
    # "white dots" of false clouds on clear, bright pixels (the source text).
    commission_dates = {int(i) for i in rng.choice(_N_DATES, size=_N_DATES // 2, replace=False)}
    acquisitions = []
    for i in range(_N_DATES):
        day = _FIRST_DATE + timedelta(days=_STEP_DAYS * i)
        orbit = 51 if i % 2 == 0 else 8
        # R051 passes over 31TCJ around 10:56 UTC, R008 (one orbit east) ~10 min earlier.
        minute = 56 if orbit == 51 else 46
        when = datetime(day.year, day.month, day.day, 10, minute, 21 + i, tzinfo=UTC)
        platform = "sentinel-2a" if i % 2 == 0 else "sentinel-2b"
        days_since = (day - date(2024, 7, 1)).days
        absolute = (47021 if platform == "sentinel-2a" else 38224) + round(days_since * 14.3)
        az, el = sun_position(when, _LAT, _LON)
        cover = covers[i]
        height = float(rng.uniform(900.0, 2800.0))
        detect = float(rng.uniform(0.28, 0.42))
        # Haze comes with clouds (humid air, cloud debris) but some clear days are hazy too.
        hazy_day = rng.uniform() < 0.25
        haze = float(0.012 + 0.05 * min(1.0, 1.6 * cover) + (0.03 if hazy_day else 0.0))
        if regime == "clear":
            haze *= 0.5
        # Draw every value whatever the outcome, so that the other weather of a date does not
        # depend on the regime.
        cirrus_drawn, cirrus_day = float(rng.uniform(0.03, 0.07)), rng.uniform() < 0.3
        cirrus = cirrus_drawn if cirrus_day and cover > 0 else 0.0
        aot = float(np.clip(rng.lognormal(np.log(0.14), 0.5), 0.06, 0.4))
        low = float(rng.uniform(0.145, 0.17))
        commission = low if i in commission_dates else low + 0.1
        acquisitions.append(
            Acquisition(
                index=i,
                when=when,
                platform=platform,
                relative_orbit=orbit,
                absolute_orbit=int(absolute),
                sun_azimuth=round(az, 6),
                sun_elevation=round(el, 6),
                view_incidence=round(float(rng.uniform(2.0, 9.0)), 6),
                view_azimuth=104.2 if orbit == 51 else 287.6,
                cover=cover,
                detect_alpha=detect,
                haze=haze,
                cirrus=cirrus,
                cloud_height_m=height,
                aot_mean=aot,
                commission_blue=commission,
                swath_edge=i in (3, 9),
            )
        )
    return acquisitions
