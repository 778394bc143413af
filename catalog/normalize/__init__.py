"""STAC item dict -> `NormalizedItem`: asset aliases, scale/offset, masks, grids, acquisition.

Every catalogue names and scales Sentinel-2 L2A assets its own way. This package settles all
of it once, from the raw item dict (never a pystac object: pystac >= 1.12 rewrites projection
fields when it reads an item, see docs/design.md, "Known traps"). `normalize_item` is the entry;
the rules are in one module per job:

- ``item``: `normalize_item`, step by step (context, bands, masks, result).
- ``assets``: **bands** by common name (``blue`` ... ``swir22``), whatever the asset key:
  Earth Search ``red`` (and ``red_20m`` / ``red-jp2`` variants), Planetary Computer ``B04``,
  CDSE ``B04_10m``, Theia ``FRE_B4``; and the best asset per role.
- ``scale_offset``: **scale and offset** of reflectance, the science-critical part: one
  function with one documented rule per catalogue quirk, drawing on
  ``baseline`` (ESA's processing baseline, wherever a catalogue writes it, and the 04.00
  offset), ``earthsearch`` (``earthsearch:boa_offset_applied``, Collection 1) and ``maja``.
- ``masks``: the **mask** flavour; ``sen2cor`` (SCL, AOT / 1000) and ``maja`` (CLM + MG2,
  ATB band 2 / 200, nodata -10000) build each flavour's masks and aerosol optical thickness.
- ``raster``: declared raster metadata and the **grid** per asset from the projection
  extension (v1 ``proj:epsg`` or v2 ``proj:code``).
- ``acquisition``: datetime, platform, sun and the **acquisition key**, one value for the
  overlapping MGRS tiles of one satellite pass; ``footprint``: bbox and positions.
- ``hrefs``: relative asset hrefs; ``context``: one item's chosen assets; ``values``: numbers.

The names below are the public API; import them from here.
"""

from __future__ import annotations

from catalog.normalize.acquisition import acquisition_key, parse_datetime
from catalog.normalize.assets import REQUIRED_BANDS
from catalog.normalize.baseline import (
    BOA_OFFSET,
    OFFSET_BASELINE,
    OFFSET_BASELINE_DATE,
    processing_baseline,
)
from catalog.normalize.footprint import coordinates, item_bbox
from catalog.normalize.hrefs import resolve_href
from catalog.normalize.item import normalize_item
from catalog.normalize.maja import MAJA_AOT_BAND, MAJA_AOT_SCALE, MAJA_NODATA
from catalog.normalize.masks import FLAVOUR_PROPERTY
from catalog.normalize.scale_offset import REFLECTANCE_SCALE, reflectance_scale_offset
from catalog.normalize.sen2cor import SEN2COR_AOT_SCALE

__all__ = [
    "BOA_OFFSET",
    "FLAVOUR_PROPERTY",
    "MAJA_AOT_BAND",
    "MAJA_AOT_SCALE",
    "MAJA_NODATA",
    "OFFSET_BASELINE",
    "OFFSET_BASELINE_DATE",
    "REFLECTANCE_SCALE",
    "REQUIRED_BANDS",
    "SEN2COR_AOT_SCALE",
    "acquisition_key",
    "coordinates",
    "item_bbox",
    "normalize_item",
    "parse_datetime",
    "processing_baseline",
    "reflectance_scale_offset",
    "resolve_href",
]
