"""From a validated request body to a normalized order, its content hash and an engine Order.

pydantic checks types and ranges (`api.models`); this module checks what needs the domain:
bbox order and area, the period (parsed by the engine, not in the future), the CRS (the
engine's own grid function, so the API never accepts an order the engine would refuse), and
the catalogue name. Every refusal is an `InvalidParameter` naming the input, answered 422.

Identical orders are recognised by a hash of the *normalized* inputs: bands lowercased (their
order kept: it is the order of the product's assets), the period label re-written by
`parse_period` (``2024-q3`` and ``2024-Q3`` are one order), the bbox rounded to 1e-6 degree
(about 0.1 m), the CRS resolved to the EPSG code the engine would pick, the cloud mask chain
spelled canonically (``CNN+scl`` is ``scl+cnn``; ``auto`` stays ``auto``: what it stands for
is the engine's to settle, and the product's item records the chain it used).

The ``cloud_mask`` is checked against the source's mask flavour when the source says it before
any search (`api.jobs.sources.Source.flavour`: ``maja`` on the Sen2Cor demo is refused at once);
for a STAC API URL or an item file the engine checks it against the items at plan time, and
the job fails with a message naming ``cloud_mask``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from typing import Any

import shapely
from pyproj import Transformer

from api.jobs import sources
from api.jobs.sources import Source
from api.models import MosaicInputs, Polygon
from api.settings import Settings
from engine.contract import Order
from engine.errors import InvalidParameter
from engine.grid import output_grid
from engine.masks import chain
from engine.period import Period, parse_period

#: Lambert's cylindrical equal-area projection on the WGS 84 ellipsoid: a lon/lat box maps to
#: a rectangle of the box's exact area, whatever its width (a geodesic polygon of the four
#: corners takes the short way round: a box spanning 360 degrees came out as 0 km²).
_EQUAL_AREA = Transformer.from_crs("EPSG:4326", "+proj=cea +ellps=WGS84 +units=m",
                                   always_xy=True)
#: A grid may hold this many times the pixels of the bbox area before the CRS is refused
#: (a CRS far from the area inflates the projected bounds without bound).
_MAX_DISTORTION = 4.0


@dataclass(frozen=True)
class NormalizedOrder:
    """An order as stored in the job store and hashed: plain values, canonical forms."""

    bbox: tuple[float, float, float, float]
    period: str
    method: str
    bands: tuple[str, ...]
    resolution: int
    epsg: int
    source: str
    max_cloud: float | None = None
    cloud_dilation: float = 0.0
    geometry: dict[str, Any] | None = None
    #: Orders stored before the field existed read as ``auto``, the engine's default then.
    cloud_mask: str = chain.DEFAULT

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-ready dict (lists, not tuples)."""
        data = asdict(self)
        data["bbox"] = list(self.bbox)
        data["bands"] = list(self.bands)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> NormalizedOrder:
        """Rebuild an order from `to_json` output."""
        values = dict(data)
        values["bbox"] = tuple(values["bbox"])
        values["bands"] = tuple(values["bands"])
        return cls(**values)

    def content_hash(self) -> str:
        """SHA-256 of the canonical JSON of the normalized inputs."""
        text = json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def engine_order(self) -> Order:
        """Return the engine's view of the order."""
        return Order(
            bbox=self.bbox, period=parse_period(self.period), method=self.method,
            bands=self.bands, resolution=self.resolution, epsg=self.epsg,
            cloud_dilation_m=self.cloud_dilation, geometry=self.geometry,
            cloud_mask=self.cloud_mask,
        )


def normalize(inputs: MosaicInputs, settings: Settings, today: date | None = None, *,
              local_user: bool = False) -> NormalizedOrder:
    """Check ``inputs`` against the domain and settle them in canonical form.

    The one validation of an order: the API's, and ``l3a build``'s with ``local_user`` (which
    may name any catalogue, `api.jobs.sources.resolve`).

    Raises:
        InvalidParameter: naming the input at fault.

    """
    bbox, geometry, area_field = _area_of_interest(inputs)
    period = _period(inputs.period, today or datetime.now(UTC).date())
    epsg = _check_area(bbox, inputs.resolution, inputs.crs, settings.max_area_km2, area_field)
    source = sources.resolve(inputs.source, settings, local_user=local_user)
    _check_bands(inputs.bands, source)
    return NormalizedOrder(
        bbox=bbox, period=period.label, method=inputs.method, bands=tuple(inputs.bands),
        resolution=inputs.resolution, epsg=epsg, source=source.name,
        max_cloud=inputs.max_cloud, cloud_dilation=float(inputs.cloud_dilation),
        geometry=geometry, cloud_mask=_cloud_mask(inputs.cloud_mask, source),
    )


def _check_area(bbox: tuple[float, float, float, float], resolution: int, crs: int | None,
               max_area_km2: float, field: str = "bbox") -> int:
    """Refuse an area larger than ``max_area_km2`` or whose grid is; the grid's EPSG code.

    `normalize` checks every order with it (the API's and ``l3a build``'s), before any search.

    Raises:
        InvalidParameter: naming ``field`` (the area) or ``crs``.

    """
    area = bbox_area_km2(bbox)
    if area > max_area_km2:
        raise InvalidParameter(
            field, f"covers {area:,.0f} km², more than the {max_area_km2:,.0f} km² this "
            "service accepts",
        )
    return _epsg(bbox, resolution, crs, area, max_area_km2)


def bbox_area_km2(bbox: tuple[float, float, float, float]) -> float:
    """Area of a lon/lat bbox (meridians and parallels for edges) on the WGS 84 ellipsoid, km²."""
    west, south, east, north = bbox
    (x0, x1), (y0, y1) = _EQUAL_AREA.transform([west, east], [south, north])
    return float(abs((x1 - x0) * (y1 - y0))) / 1e6


def _area_of_interest(inputs: MosaicInputs
                      ) -> tuple[tuple[float, float, float, float], dict[str, Any] | None, str]:
    if inputs.bbox is not None and inputs.geometry is not None:
        raise InvalidParameter("geometry", "give bbox or geometry, not both")
    if inputs.geometry is not None:
        geometry = _polygon(inputs.geometry)
        ring = geometry["coordinates"][0]
        lons, lats = [p[0] for p in ring], [p[1] for p in ring]
        return _bbox((min(lons), min(lats), max(lons), max(lats)), "geometry"), geometry, \
            "geometry"
    if inputs.bbox is None:
        raise InvalidParameter("bbox", "give the area as bbox [W, S, E, N] or as a geometry")
    west, south, east, north = inputs.bbox
    return _bbox((west, south, east, north), "bbox"), None, "bbox"


def _bbox(values: tuple[float, float, float, float], field: str
          ) -> tuple[float, float, float, float]:
    west, south, east, north = (round(float(v), 6) for v in values)
    if not (-180 <= west <= 180 and -180 <= east <= 180):
        raise InvalidParameter(field, "longitudes must be within [-180, 180]")
    if not (-90 <= south <= 90 and -90 <= north <= 90):
        raise InvalidParameter(field, "latitudes must be within [-90, 90]")
    if not (west < east and south < north):
        raise InvalidParameter(
            field, f"[{west}, {south}, {east}, {north}] is empty or inverted: it must be "
            "[west, south, east, north] with west < east and south < north (an area across "
            "the antimeridian must be ordered as two)",
        )
    return west, south, east, north


def _polygon(polygon: Polygon) -> dict[str, Any]:
    rings = []
    for ring in polygon.coordinates:
        points = [[round(p[0], 6), round(p[1], 6)] for p in ring]
        if points[0] != points[-1]:
            raise InvalidParameter("geometry", "each ring must end at its first position")
        if any(not (-180 <= x <= 180 and -90 <= y <= 90) for x, y in points):
            raise InvalidParameter("geometry", "positions must be [lon, lat] in degrees")
        rings.append(points)
    try:
        shape = shapely.Polygon(rings[0], rings[1:])
    except (ValueError, shapely.errors.GEOSException) as exc:  # fewer than 4 positions...
        raise InvalidParameter("geometry", f"not a polygon: {exc}") from None
    if not shape.is_valid:
        # A ring that crosses itself (drawn as an X) has no inside a mask can follow.
        raise InvalidParameter("geometry", f"not a valid polygon: "
                               f"{shapely.is_valid_reason(shape).lower()}")
    return {"type": "Polygon", "coordinates": rings}


def _period(text: str, today: date) -> Period:
    period = parse_period(text)
    if period.start > today:
        raise InvalidParameter(
            "period", f"{period.label} starts after today ({today.isoformat()}): no scene yet"
        )
    return period


def _epsg(bbox: tuple[float, float, float, float], resolution: int, crs: int | None,
          area_km2: float, max_area_km2: float) -> int:
    try:
        grid = output_grid(bbox, resolution, crs)
    except InvalidParameter:
        raise
    except Exception as exc:  # pyproj and the float arithmetic of far-away projections
        raise InvalidParameter("crs", f"cannot project the area into EPSG:{crs}") from exc
    pixels = grid.shape[0] * grid.shape[1]
    expected = area_km2 * 1e6 / resolution**2
    if pixels > _MAX_DISTORTION * expected + 1e4:
        raise InvalidParameter(
            "crs" if crs is not None else "bbox",
            f"EPSG:{grid.epsg} distorts this area too much (a grid of "
            f"{grid.shape[1]} x {grid.shape[0]} pixels); "
            + ("use a CRS made for the area" if crs is not None else
               "order an area that one UTM zone can hold, or give a CRS made for it"),
        )
    # The grid the engine will allocate blocks of, checked before any of them exists: the
    # area limit in pixels at this resolution, with the distortion allowed above.
    budget = _MAX_DISTORTION * max_area_km2 * 1e6 / resolution**2 + 1e4
    if pixels > budget:
        raise InvalidParameter(
            "crs" if crs is not None else "bbox",
            f"the grid would be {grid.shape[1]} x {grid.shape[0]} pixels, more than the "
            f"{budget:,.0f} this service plans at {resolution} m")
    return grid.epsg


def _check_bands(bands: list[str], source: Source) -> None:
    """Refuse bands the source is known not to carry (the job would fail after a search)."""
    known = source.bands
    missing = [band for band in bands if known is not None and band not in known]
    if missing:
        raise InvalidParameter(
            "bands", f"source {source.name!r} has no {', '.join(missing)}: choose from "
            f"{', '.join(known or ())}")


def _cloud_mask(value: str, source: Source) -> str:
    """Return ``value`` (`MosaicInputs` spelled it canonically) if the source may take it.

    Raises:
        InvalidParameter: the source's flavour is known and rules it out (``maja`` on Sen2Cor
            items).

    """
    if source.flavour is not None:
        chain.resolve(value, source.flavour)
    return value
