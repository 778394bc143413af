"""Earth Search (Element 84): its own word on the BOA offset, and Collection 1.

Earth Search's keys (``red``, ``red_20m``, ``red-jp2``) are read by the shared key grammar in
`catalog.normalize.assets`; what is Earth Search's own is how its items' offset must be read,
rules 2 and 3 of `catalog.normalize.scale_offset.reflectance_scale_offset`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from catalog.normalize.baseline import BOA_OFFSET, offset_of_baseline

#: Earth Search v1 ``sentinel-2-l2a`` item property: were the COGs written offset-free?
BOA_OFFSET_APPLIED = "earthsearch:boa_offset_applied"
#: Earth Search Collection 1: the whole archive reprocessed with baseline >= 05.00.
COLLECTION_1 = "sentinel-2-c1-l2a"


def applied_offset(properties: Mapping[str, Any], baseline: tuple[int, int] | None) -> float | None:
    """Rule 2: the offset ``earthsearch:boa_offset_applied`` implies; None if it says nothing.

    Earth Search v1 `sentinel-2-l2a`: its raster:bands say offset -0.1 for every baseline
    >= 04.00 item, but when `earthsearch:boa_offset_applied` is true the COGs were written with
    the 1000 already subtracted, so the pixels are plain reflectance x 10000: applying -0.1
    again would make dark surfaces negative (checked on the 33TWL pixels). When false, the DN
    are ESA's: -0.1 from baseline 04.00 on, nothing before.
    """
    applied = properties.get(BOA_OFFSET_APPLIED)
    if not isinstance(applied, bool):
        return None
    if applied:
        return 0.0
    # No baseline on an Earth Search item: None, so the caller falls through to what the
    # item declares.
    return offset_of_baseline(baseline)


def collection1_offset(collection: str | None) -> float | None:
    """Rule 3: `BOA_OFFSET` for Earth Search ``sentinel-2-c1-l2a`` items, else None.

    Collection 1 was reprocessed with baseline >= 05.00 and never shifted, so the offset
    always applies, even if an item lacks raster:bands.
    """
    return BOA_OFFSET if collection == COLLECTION_1 else None
