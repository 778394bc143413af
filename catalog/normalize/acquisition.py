"""When and by what an item was acquired: datetime, platform, sun angles, acquisition key.

The acquisition key gives one value to the overlapping MGRS tiles of one satellite pass.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from catalog.errors import MalformedItem
from catalog.normalize.footprint import centre_longitude
from catalog.normalize.values import finite_float

_RELATIVE_ORBIT_IN_NAME = re.compile(r"_R(\d{3})_")
_PLATFORM_IN_ID = re.compile(r"^S2([A-D])_", re.IGNORECASE)


def parse_datetime(text: str) -> datetime:
    """Parse an RFC 3339 timestamp to a UTC-aware datetime (``Z``, offsets, 0-9 digit fractions).

    Raises:
        ValueError: when the text is not a timestamp.

    """
    value = text.strip().replace("z", "Z")
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    # Python reads at most 6 fraction digits; STAC APIs may write nanoseconds.
    value = re.sub(r"(\.\d{6})\d+", r"\1", value)
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)  # STAC datetimes are UTC
    return parsed.astimezone(UTC)


def acquisition_datetime(properties: Mapping[str, Any], source: str, item_id: str) -> datetime:
    """The item's acquisition time (UTC); `MalformedItem` when it has none or no valid one."""
    # A STAC item may have datetime null with a start/end range; S2 items never do, but a
    # range's start is the sensing start, the closest thing to an acquisition time.
    text = properties.get("datetime") or properties.get("start_datetime")
    if not isinstance(text, str):
        raise MalformedItem(source, item_id, "no datetime")
    try:
        return parse_datetime(text)
    except ValueError as exc:
        raise MalformedItem(source, item_id, f"datetime {text!r} is not RFC 3339") from exc


def platform_name(properties: Mapping[str, Any], item_id: str) -> str | None:
    """``sentinel-2a`` style, whatever the catalogue's capitalization; else from the id."""
    value = properties.get("platform")
    if isinstance(value, str) and value.strip():
        return value.strip().lower().replace(" ", "-")
    if m := _PLATFORM_IN_ID.match(item_id):
        return f"sentinel-2{m[1].lower()}"
    return None


def _relative_orbit(item: Mapping[str, Any]) -> int | None:
    properties = item.get("properties") or {}
    for key in ("sat:relative_orbit", "s2:relative_orbit", "sentinel2:relative_orbit_number"):
        value = properties.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    for key in ("s2:product_uri", "sentinel:product_id", "sentinel2:product_title"):
        name = properties.get(key)
        if isinstance(name, str) and (m := _RELATIVE_ORBIT_IN_NAME.search(name)):
            return int(m[1])
    item_id = item.get("id")
    if isinstance(item_id, str) and (m := _RELATIVE_ORBIT_IN_NAME.search(item_id)):
        return int(m[1])
    return None


def acquisition_key(item: Mapping[str, Any], platform: str | None, acquired: datetime) -> str:
    """One value for all the MGRS tiles of one satellite pass.

    Adjacent MGRS tiles overlap by about 10 km, so one pass seen in two tiles must be
    recognised as one observation, or the overlap counts twice in a synthesis.

    - ``s2:datatake_id`` when present, without its ``_Nxx.yy`` baseline suffix: tiles of one
      datatake processed with different baselines are still the same observation.
    - Otherwise platform + *solar* day (+ relative orbit when known). The solar day is the UTC
      date shifted by longitude / 15 hours of the item centre. Sentinel-2 passes at about
      10:30 local solar time, so a pass never crosses local midnight, while it does cross
      UTC midnight (around 157 E, where 10:30 local is 00:00 UTC): the UTC date would split
      such a pass between two adjacent tiles, the solar day does not.

    Known limit of the fallback: the solar day jumps by one day at the antimeridian itself (the
    date line), so tiles of one pass on both sides of 180 deg get different keys. Only items
    without ``s2:datatake_id`` are affected (Earth Search v0, ``sentinel-s2-l2a``).

    Args:
        item: the raw item (for properties, geometry, id).
        platform: the normalized platform name.
        acquired: the acquisition datetime (UTC).

    """
    properties = item.get("properties") or {}
    datatake = properties.get("s2:datatake_id") if isinstance(properties, Mapping) else None
    if isinstance(datatake, str) and datatake.strip():
        return re.sub(r"_N\d{2}\.\d{2}$", "", datatake.strip())
    solar_day = (acquired + timedelta(hours=centre_longitude(item) / 15.0)).date()
    key = f"{platform or 'unknown'}_{solar_day.isoformat()}"
    orbit = _relative_orbit(item)
    return f"{key}_R{orbit:03d}" if orbit is not None else key


def sun_azimuth(properties: Mapping[str, Any]) -> float | None:
    """Mean sun azimuth (deg), from the view extension or Sentinel-2 properties."""
    for key in ("view:sun_azimuth", "s2:mean_solar_azimuth"):
        value = finite_float(properties.get(key))
        if value is not None:
            return value
    return None


def sun_elevation(properties: Mapping[str, Any]) -> float | None:
    """Mean sun elevation (deg): the view extension's, else 90 - Sentinel-2's mean zenith."""
    value = finite_float(properties.get("view:sun_elevation"))
    if value is not None:
        return value
    zenith = finite_float(properties.get("s2:mean_solar_zenith"))
    return None if zenith is None else 90.0 - zenith
