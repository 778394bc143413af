"""The ESA processing baseline of an item, and the BOA offset it implies.

Baseline 04.00 (2022-01-25) added BOA_ADD_OFFSET to ESA's L2A products. Every Sen2Cor source
writes the baseline somewhere else: Earth Search v1 and Planetary Computer in
``s2:processing_baseline``, Earth Search ``sentinel-s2-l2a`` in
``sentinel2:processing_baseline``, CDSE in ``processing:version``, and all of them in product
names (``_N0509_``) and datatake ids (``_N05.09``). Planetary Computer declares no offset in
raster metadata, so for its items the baseline decides (rule 5 of
`catalog.normalize.scale_offset.reflectance_scale_offset`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

#: BOA_ADD_OFFSET (-1000 DN) of processing baseline >= 04.00, in reflectance units.
BOA_OFFSET = -0.1
#: The first processing baseline whose L2A DN carry the +1000 offset.
OFFSET_BASELINE: tuple[int, int] = (4, 0)
#: Baseline 04.00 went operational on this day. Only used when an item says nothing else.
OFFSET_BASELINE_DATE = datetime(2022, 1, 25, tzinfo=UTC)

# Processing baseline as written in product names ("_N0509_") and datatake ids ("_N05.09").
_BASELINE_IN_NAME = re.compile(r"_N(\d{2})\.?(\d{2})(?:_|$)")
_BASELINE_VALUE = re.compile(r"^(\d{1,2})\.(\d{1,2})$")


def processing_baseline(item: Mapping[str, Any]) -> tuple[int, int] | None:
    """Return the processing baseline of an item as (major, minor), wherever it is written.

    Looked up, in order: ``s2:processing_baseline`` (Earth Search v1, Planetary Computer),
    ``sentinel2:processing_baseline`` (Earth Search ``sentinel-s2-l2a``),
    ``processing:version`` (CDSE), then the ``_Nxxyy_`` of a product name or datatake id.
    """
    properties = item.get("properties")
    if not isinstance(properties, Mapping):
        return None
    for key in ("s2:processing_baseline", "sentinel2:processing_baseline", "processing:version"):
        value = properties.get(key)
        if isinstance(value, str) and (m := _BASELINE_VALUE.match(value.strip())):
            return int(m[1]), int(m[2])
    names = [
        properties.get(key)
        for key in (
            "s2:product_uri",
            "s2:product_id",
            "sentinel:product_id",
            "sentinel2:product_title",
            "s2:datatake_id",
            "s2:granule_id",
        )
    ]
    for name in [*names, item.get("id")]:
        if isinstance(name, str) and (m := _BASELINE_IN_NAME.search(name)):
            return int(m[1]), int(m[2])
    return None


def format_baseline(baseline: tuple[int, int] | None) -> str | None:
    """``"05.09"`` style, as ESA writes it."""
    return None if baseline is None else f"{baseline[0]:02d}.{baseline[1]:02d}"


def offset_of_baseline(baseline: tuple[int, int] | None) -> float | None:
    """ESA's rule: `BOA_OFFSET` from baseline 04.00 on, nothing before; None if unknown."""
    if baseline is None:
        return None
    return BOA_OFFSET if baseline >= OFFSET_BASELINE else 0.0


def offset_at_date(acquired: datetime) -> float:
    """The offset of the baseline in production on the acquisition date (UTC)."""
    return BOA_OFFSET if acquired >= OFFSET_BASELINE_DATE else 0.0
