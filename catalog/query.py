"""A validated search query and its client-side filters on raw STAC item dicts.

Both sources apply the same `SearchQuery.matches`: a local file has no server to filter it, and
a STAC API may ignore what it was asked (``rustac serve`` ignores ``query``/``filter``, some
servers ignore ``bbox`` on GET). Filtering the API's answer again costs nothing and makes a
local file and an API holding the same items give the same result.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from catalog.errors import InvalidQuery
from catalog.normalize import item_bbox, parse_datetime

BBox = tuple[float, float, float, float]


@dataclass(frozen=True)
class SearchQuery:
    """What to search: lon/lat bbox, UTC interval (inclusive), collection, cloud cover.

    ``max_cloud`` keeps items with ``eo:cloud_cover`` strictly below it, as the STAC query
    ``{"lt": max_cloud}`` a server is sent. Items that do not state their cloud cover are kept
    by the client-side filter: their masks still apply pixel by pixel.
    """

    bbox: BBox
    start: datetime
    end: datetime
    collection: str | None = None
    max_cloud: float | None = None

    @classmethod
    def create(
        cls,
        bbox: tuple[float, float, float, float],
        start: datetime,
        end: datetime,
        collection: str | None = None,
        max_cloud: float | None = None,
    ) -> SearchQuery:
        """Validate and build a query; naive datetimes are taken as UTC.

        Raises:
            InvalidQuery: bbox not 4 finite lon/lat numbers with south <= north, start after
                end, max_cloud outside 0..100.

        """
        try:
            values = tuple(float(v) for v in bbox)
        except (TypeError, ValueError) as exc:
            raise InvalidQuery("bbox", f"{bbox!r} is not 4 numbers") from exc
        if len(values) != 4 or not all(math.isfinite(v) for v in values):
            raise InvalidQuery("bbox", f"{bbox!r} is not 4 finite numbers")
        west, south, east, north = values
        if not (-180.0 <= west <= 180.0 and -180.0 <= east <= 180.0):
            raise InvalidQuery("bbox", f"longitudes {west}, {east} outside -180..180")
        if not (-90.0 <= south <= north <= 90.0):
            raise InvalidQuery("bbox", f"latitudes {south}, {north} not ordered within -90..90")
        # west > east is allowed: a bbox crossing the antimeridian (STAC API convention).
        if not isinstance(start, datetime) or not isinstance(end, datetime):
            raise InvalidQuery("period", "start and end must be datetimes")
        start_utc, end_utc = _utc(start), _utc(end)
        if start_utc > end_utc:
            raise InvalidQuery("period", f"start {start_utc:%Y-%m-%dT%H:%M:%SZ} is after end")
        if max_cloud is not None and not (0.0 <= float(max_cloud) <= 100.0):
            raise InvalidQuery("max_cloud", f"{max_cloud} is not a percentage in 0..100")
        if collection is not None and not (isinstance(collection, str) and collection):
            raise InvalidQuery("collection", f"{collection!r} is not a collection id")
        return cls(
            (west, south, east, north),
            start_utc,
            end_utc,
            collection,
            None if max_cloud is None else float(max_cloud),
        )

    def matches(self, item: Mapping[str, Any]) -> bool:
        """Whether a raw item passes every filter.

        An item whose datetime or footprint cannot be read passes: normalization then rejects
        it with a `MalformedItem` that names what is wrong, instead of it vanishing silently.
        """
        return (
            self.matches_collection(item)
            and self.matches_time(item)
            and self.matches_bbox(item)
            and self.matches_cloud(item)
        )

    def matches_collection(self, item: Mapping[str, Any]) -> bool:
        """Tell whether the item is in the asked collection (or no collection was asked)."""
        return self.collection is None or item.get("collection") == self.collection

    def matches_cloud(self, item: Mapping[str, Any]) -> bool:
        """``eo:cloud_cover < max_cloud``; items without a cloud cover pass."""
        if self.max_cloud is None:
            return True
        properties = item.get("properties")
        value = properties.get("eo:cloud_cover") if isinstance(properties, Mapping) else None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return True
        return float(value) < self.max_cloud

    def matches_time(self, item: Mapping[str, Any]) -> bool:
        """Tell whether the item's datetime (or start/end range) meets the interval, ends in."""
        properties = item.get("properties")
        if not isinstance(properties, Mapping):
            return True
        try:
            if isinstance(properties.get("datetime"), str):
                first = last = parse_datetime(properties["datetime"])
            else:
                first = parse_datetime(properties["start_datetime"])
                last = parse_datetime(
                    properties.get("end_datetime") or properties["start_datetime"]
                )
        except (KeyError, TypeError, ValueError):
            return True
        return first <= self.end and last >= self.start

    def matches_bbox(self, item: Mapping[str, Any]) -> bool:
        """Tell whether the item's bbox (or geometry bounds) meets the query bbox, edges in."""
        box = item_bbox(item)
        if box is None:
            return True
        west, south, east, north = box
        if north < self.bbox[1] or south > self.bbox[3]:
            return False
        return any(
            a0 <= b1 and b0 <= a1
            for a0, a1 in _lon_ranges(self.bbox[0], self.bbox[2])
            for b0, b1 in _lon_ranges(west, east)
        )


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _lon_ranges(west: float, east: float) -> list[tuple[float, float]]:
    """Split a lon interval into one or two ranges (two when it crosses the antimeridian)."""
    if west <= east:
        return [(west, east)]
    return [(west, 180.0), (-180.0, east)]
