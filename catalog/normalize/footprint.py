"""Where an item is: its GeoJSON positions, lon/lat bbox and centre longitude."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from catalog.errors import MalformedItem


def coordinates(geometry: Any) -> Iterator[tuple[float, float]]:
    """Every (lon, lat) position of a GeoJSON geometry."""
    if not isinstance(geometry, Mapping):
        return
    if geometry.get("type") == "GeometryCollection":
        for part in geometry.get("geometries") or []:
            yield from coordinates(part)
        return

    def walk(node: Any) -> Iterator[tuple[float, float]]:
        if isinstance(node, Sequence) and node and isinstance(node[0], (int, float)):
            if len(node) >= 2:
                yield float(node[0]), float(node[1])
        elif isinstance(node, Sequence):
            for child in node:
                yield from walk(child)

    yield from walk(geometry.get("coordinates"))


def item_bbox(item: Mapping[str, Any]) -> tuple[float, float, float, float] | None:
    """An item's lon/lat bbox: its ``bbox`` (2D or 3D), else its geometry's extent, else None."""
    bbox = item.get("bbox")
    if isinstance(bbox, list) and len(bbox) in (4, 6):
        try:
            values = [float(v) for v in bbox]
        except (TypeError, ValueError):
            values = []
        if values:
            if len(values) == 6:  # 3D bbox: minx, miny, minz, maxx, maxy, maxz
                values = [values[0], values[1], values[3], values[4]]
            return (values[0], values[1], values[2], values[3])
    points = list(coordinates(item.get("geometry")))
    if not points:
        return None
    lons, lats = zip(*points, strict=True)
    return (min(lons), min(lats), max(lons), max(lats))


def required_bbox(
    item: Mapping[str, Any], source: str, item_id: str
) -> tuple[float, float, float, float]:
    """`item_bbox`, or `MalformedItem` when the item has no footprint at all."""
    bbox = item_bbox(item)
    if bbox is None:
        raise MalformedItem(source, item_id, "no bbox and no geometry")
    return bbox


def centre_longitude(item: Mapping[str, Any]) -> float:
    """Longitude of the item's centre, right across the antimeridian.

    A circular mean of the footprint's vertices: a tile straddling 180 deg has vertices near
    -179 and +179 whose plain mean (0 deg) would put its solar day half a day off.
    """
    properties = item.get("properties") or {}
    centroid = properties.get("proj:centroid") if isinstance(properties, Mapping) else None
    if isinstance(centroid, Mapping) and isinstance(centroid.get("lon"), (int, float)):
        return float(centroid["lon"])
    points = list(coordinates(item.get("geometry")))
    if not points:
        bbox = item.get("bbox")
        if isinstance(bbox, list) and len(bbox) >= 4:
            west, east = float(bbox[0]), float(bbox[-2])
            points = [(west, 0.0), (east, 0.0)]
    if not points:
        return 0.0
    x = sum(math.cos(math.radians(lon)) for lon, _ in points)
    y = sum(math.sin(math.radians(lon)) for lon, _ in points)
    return math.degrees(math.atan2(y, x))
