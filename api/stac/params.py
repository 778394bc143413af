"""Search parameters: parsed once, for GET (query strings) and POST (JSON bodies) alike.

Every bad value is an `engine.errors.InvalidParameter` naming its parameter (a 422 problem,
`api.problems`), never a 500: a bbox of 3 numbers, a south above the north, a malformed
datetime, a geometry shapely cannot read, a paging token not of this service.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import shapely
from pydantic import BaseModel, ConfigDict, Field
from shapely.geometry import box, shape
from shapely.geometry.base import BaseGeometry

from catalog.normalize import parse_datetime
from engine.errors import InvalidParameter

#: Page sizes: the STAC API default, and the most one page may hold.
DEFAULT_LIMIT, MAX_LIMIT = 10, 1000
#: Paging tokens and list parameters are short; longer is not ours.
MAX_TOKEN, MAX_LIST = 512, 1000
GEOMETRY_TYPES = {"Point", "MultiPoint", "LineString", "MultiLineString", "Polygon",
                  "MultiPolygon", "GeometryCollection"}
#: The shapes accepted: an RFC 3339 date-time (no zone means UTC; Python's own ISO parser
#: would take more, such as week dates), or a date alone (the whole day).
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_INSTANT = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})?")

#: A product's position in a listing: (finished, id), listed in decreasing order.
SortKey = tuple[str, str]


class SearchBody(BaseModel):
    """The body of ``POST /search`` (STAC API - Item Search)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    bbox: Annotated[list[float], Field(min_length=4, max_length=6)] | None = Field(
        None, description="[west, south, east, north] (or 6 numbers with heights), WGS 84; "
        "west > east crosses the antimeridian.")
    intersects: dict[str, Any] | None = Field(
        None, description="A GeoJSON geometry the items must intersect (not with bbox).")
    datetime: str | None = Field(
        None, max_length=100, description="RFC 3339 instant, or interval START/END where "
        "either end may be '..' (open).", examples=["2024-07-01T00:00:00Z/.."])
    ids: Annotated[list[Annotated[str, Field(max_length=256)]],
                   Field(max_length=MAX_LIST)] | None = None
    collections: Annotated[list[Annotated[str, Field(max_length=256)]],
                           Field(max_length=MAX_LIST)] | None = None
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT,
                       description="Items per page.")
    token: str | None = Field(None, max_length=MAX_TOKEN,
                              description="Paging token, from a `next` link.")


@dataclass(frozen=True)
class Search:
    """A parsed search: every filter None when not asked for."""

    geometry: BaseGeometry | None = None
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    has_datetime: bool = False
    ids: frozenset[str] | None = None
    collections: tuple[str, ...] | None = None
    limit: int = DEFAULT_LIMIT
    after: SortKey | None = None


def search(*, bbox: Sequence[float] | None = None, intersects: Any = None,
           datetime: str | None = None, ids: Sequence[str] | None = None,
           collections: Sequence[str] | None = None, limit: int = DEFAULT_LIMIT,
           token: str | None = None) -> Search:
    """Parse the parameters of a search (GET or POST alike).

    Raises:
        InvalidParameter: a parameter is malformed (its name is the error's field).

    """
    if bbox is not None and intersects is not None:
        raise InvalidParameter("intersects", "give bbox or intersects, not both")
    geometry = None
    if bbox is not None:
        geometry = bbox_geometry(bbox)
    elif intersects is not None:
        geometry = intersects_geometry(intersects)
    start = end = None
    if datetime is not None:
        start, end = parse_interval(datetime)
    return Search(
        geometry=geometry, start=start, end=end, has_datetime=datetime is not None,
        ids=frozenset(ids) if ids is not None else None,
        collections=tuple(dict.fromkeys(collections)) if collections is not None else None,
        limit=limit, after=decode_token(token) if token is not None else None,
    )


def split_list(text: str | None, field: str) -> list[str] | None:
    """Return the entries of a comma-separated query parameter (None when absent)."""
    if text is None:
        return None
    values = [v.strip() for v in text.split(",") if v.strip()]
    if len(values) > MAX_LIST:
        raise InvalidParameter(field, f"at most {MAX_LIST} values")
    return values


def bbox_numbers(text: str | None) -> list[float] | None:
    """Return the numbers of a ``bbox=w,s,e,n`` query parameter (None when absent)."""
    if text is None:
        return None
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise InvalidParameter("bbox", "4 or 6 comma-separated numbers expected") from None


def bbox_geometry(values: Sequence[float]) -> BaseGeometry:
    """Return a bbox as a shape (two boxes when it crosses the antimeridian)."""
    if len(values) not in (4, 6):
        raise InvalidParameter("bbox", f"4 or 6 numbers expected, got {len(values)}")
    if not all(isinstance(v, int | float) and math.isfinite(v) for v in values):
        raise InvalidParameter("bbox", "numbers expected")
    west, south, east, north = (values[0], values[1], values[3], values[4]) if len(
        values) == 6 else values
    if not (-180 <= west <= 180 and -180 <= east <= 180):
        raise InvalidParameter("bbox", "longitudes must be within [-180, 180]")
    if not (-90 <= south <= 90 and -90 <= north <= 90):
        raise InvalidParameter("bbox", "latitudes must be within [-90, 90]")
    if south > north:
        raise InvalidParameter("bbox", f"south ({south}) is north of north ({north})")
    if west > east:  # crosses the antimeridian (STAC, RFC 7946 section 5.2)
        return shapely.union(box(west, south, 180, north), box(-180, south, east, north))
    return box(west, south, east, north)


def intersects_geometry(value: Any) -> BaseGeometry:
    """Return a GeoJSON geometry (a dict, or its JSON text from a query string) as a shape."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise InvalidParameter("intersects", "a GeoJSON geometry (JSON) expected") from None
    if not isinstance(value, dict) or value.get("type") not in GEOMETRY_TYPES:
        raise InvalidParameter("intersects", "a GeoJSON geometry expected, of type "
                               + ", ".join(sorted(GEOMETRY_TYPES)))
    try:
        geometry = shape(value)
        finite = bool(geometry.is_empty or math.isfinite(sum(geometry.bounds)))
        if not geometry.is_valid:
            geometry = shapely.make_valid(geometry)
    except Exception:  # shapely raises many kinds on malformed coordinates: all are input's
        raise InvalidParameter("intersects", "not a valid GeoJSON geometry") from None
    if geometry.is_empty or not finite:
        raise InvalidParameter("intersects", "the geometry is empty or not finite")
    return geometry


def parse_interval(text: str) -> tuple[dt.datetime | None, dt.datetime | None]:
    """Return an RFC 3339 instant or interval as (start, end), None for an open end."""
    parts = text.split("/")
    if len(parts) == 1:
        if parts[0].strip() in ("", ".."):
            raise InvalidParameter("datetime", "an instant or an interval expected")
        return _instant(parts[0], end=False), _instant(parts[0], end=True)
    if len(parts) != 2:
        raise InvalidParameter("datetime", "an instant or START/END expected")
    open_start, open_end = (p.strip() in ("", "..") for p in parts)
    if open_start and open_end:
        raise InvalidParameter("datetime", "an interval may be open at one end only")
    start = None if open_start else _instant(parts[0], end=False)
    end = None if open_end else _instant(parts[1], end=True)
    if start is not None and end is not None and start > end:
        raise InvalidParameter("datetime", "the interval ends before it starts")
    return start, end


def _instant(text: str, *, end: bool) -> dt.datetime:
    """An RFC 3339 date-time (`catalog.normalize.parse_datetime`), or a date: the whole day."""
    text = text.strip()
    try:
        if _DATE.fullmatch(text):
            at = dt.time.max if end else dt.time.min
            return dt.datetime.combine(dt.date.fromisoformat(text), at, tzinfo=dt.UTC)
        if _INSTANT.fullmatch(text):
            return parse_datetime(text)
    except ValueError:  # month 13, hour 25, offset out of range...
        raise InvalidParameter("datetime", f"{text!r} is not a valid date-time") from None
    raise InvalidParameter("datetime", f"{text!r} is not an RFC 3339 date-time, e.g. "
                           "2024-07-01T00:00:00Z")


def item_interval(properties: Any) -> tuple[dt.datetime, dt.datetime] | None:
    """Return an item's time span (start/end_datetime, or its datetime), None if unreadable."""
    if not isinstance(properties, dict):
        return None
    try:
        start = properties.get("start_datetime") or properties.get("datetime")
        end = properties.get("end_datetime") or properties.get("datetime")
        return _instant(str(start), end=False), _instant(str(end), end=True)
    except InvalidParameter:
        return None


def encode_token(key: SortKey) -> str:
    """Return the paging token of the page after the product at ``key``."""
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode().rstrip("=")


def decode_token(token: str) -> SortKey:
    """Return the sort key a token carries."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        key = json.loads(raw)
    except (ValueError, binascii.Error):
        raise InvalidParameter("token", "not a paging token of this service") from None
    if not (isinstance(key, list) and len(key) == 2 and all(isinstance(k, str) for k in key)):
        raise InvalidParameter("token", "not a paging token of this service")
    return key[0], key[1]
