"""Scale and offset of reflectance, the science-critical rule: one function, one rule per quirk.

The rule chain is here, in order; each catalogue's own rule lives in its flavour module
(`catalog.normalize.maja`, `catalog.normalize.earthsearch`) and ESA's baseline rule in
`catalog.normalize.baseline`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from catalog.model import MaskFlavour
from catalog.normalize import earthsearch, maja
from catalog.normalize.baseline import offset_at_date, offset_of_baseline

#: Surface reflectance quantification of Sen2Cor and MAJA: reflectance = DN / 10000.
REFLECTANCE_SCALE = 1e-4


def reflectance_scale_offset(
    *,
    flavour: MaskFlavour,
    collection: str | None,
    properties: Mapping[str, Any],
    declared_scale: float | None,
    declared_offset: float | None,
    baseline: tuple[int, int] | None,
    acquired: datetime,
) -> tuple[float, float]:
    """Effective ``(scale, offset)`` of a reflectance band: ``rho = DN * scale + offset``.

    Since processing baseline 04.00 (2022-01-25) ESA's L2A DN carry +1000 (BOA_ADD_OFFSET =
    -1000), so ``rho = (DN - 1000) / 10000``: offset -0.1 with scale 1e-4. Catalogues disagree
    on whether they say so, and one of them says so wrongly. Rules, first match wins:

    1. MAJA (Theia) reflectance never carries the ESA offset.
    2. Earth Search ``sentinel-2-l2a`` (v1) items with ``earthsearch:boa_offset_applied``.
    3. Earth Search ``sentinel-2-c1-l2a``: always -0.1.
    4. An offset declared by the item (``raster:bands`` or STAC 1.1 ``raster:offset``).
    5. The processing baseline (Planetary Computer, CDSE without raster metadata).
    6. Nothing known: the acquisition date against the 04.00 switch-over.

    Args:
        flavour: the item's L2A processor (mask flavour).
        collection: the item's collection id.
        properties: the item properties (for ``earthsearch:boa_offset_applied``).
        declared_scale: the asset's declared scale, if any.
        declared_offset: the asset's declared offset, if any.
        baseline: the processing baseline as (major, minor), if known.
        acquired: the acquisition time (UTC).

    Returns:
        (scale, offset) in reflectance units.

    """
    scale = declared_scale if declared_scale is not None else REFLECTANCE_SCALE

    # Rule 1, MAJA: no ESA offset at any baseline, only a declared one (`maja`).
    if flavour is MaskFlavour.MAJA:
        return scale, maja.reflectance_offset(declared_offset)

    # Rule 2, Earth Search v1 `sentinel-2-l2a`: `earthsearch:boa_offset_applied` overrides its
    # own raster:bands (`earthsearch`).
    offset = earthsearch.applied_offset(properties, baseline)
    if offset is not None:
        return scale, offset

    # Rule 3, Earth Search `sentinel-2-c1-l2a` (Collection 1): always shifted (`earthsearch`).
    offset = earthsearch.collection1_offset(collection)
    if offset is not None:
        return scale, offset

    # Rule 4, a declared offset (CDSE, Earth Search `sentinel-s2-l2a`, any generic catalogue
    # with raster metadata): the producer knows how it wrote its files.
    if declared_offset is not None:
        return scale, declared_offset

    # Rule 5, the baseline (Planetary Computer has no raster metadata but always has
    # `s2:processing_baseline`; other catalogues name it in the product id): ESA's own rule.
    offset = offset_of_baseline(baseline)
    if offset is not None:
        return scale, offset

    # Rule 6, nothing at all (e.g. Earth Search v0 `sentinel-s2-l2a-cogs` whose product id was
    # lost): the baseline in production at the acquisition date. Reprocessed archives carry
    # their baseline, so this only guesses for items that say nothing about themselves.
    return scale, offset_at_date(acquired)
