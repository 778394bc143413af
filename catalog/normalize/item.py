"""`normalize_item`: one raw STAC item dict -> `NormalizedItem`, step by step.

Validate, build the context (the chosen asset per role), scale and offset each band, read the
masks, assemble the result. Each step's rules live in their own module.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from catalog.errors import MalformedItem
from catalog.model import BAND_ID, MaskFlavour, NormalizedItem, RasterAsset
from catalog.normalize import maja, sen2cor
from catalog.normalize.acquisition import (
    acquisition_datetime,
    acquisition_key,
    platform_name,
    sun_azimuth,
    sun_elevation,
)
from catalog.normalize.assets import REQUIRED_BANDS, band_hint, choose_assets
from catalog.normalize.baseline import format_baseline, processing_baseline
from catalog.normalize.context import ItemContext
from catalog.normalize.footprint import required_bbox
from catalog.normalize.hrefs import item_url, self_href
from catalog.normalize.masks import item_aot, item_masks, mask_flavour
from catalog.normalize.raster import declared_band, epsg_of, first_epsg
from catalog.normalize.scale_offset import reflectance_scale_offset
from catalog.normalize.values import finite_float, pick


def normalize_item(
    item: dict[str, Any], *, source: str = "", base_href: str | None = None
) -> NormalizedItem:
    """Normalize one STAC item dict of any supported flavour.

    Args:
        item: the item as parsed JSON (not a pystac object).
        source: the catalogue it came from, used in error messages and kept on the result.
        base_href: path or URL of the file (or API page) the item was read from; relative
            asset hrefs are resolved against it. Without it, the item's absolute ``self`` link
            is used; relative hrefs stay relative when neither exists.

    Returns:
        The normalized item: bands by common name with their effective scale/offset, masks,
        AOT, grids and acquisition key.

    Raises:
        MalformedItem: no id, no properties, no (parsable) datetime, no assets, no footprint.
        MissingAsset: red, green or blue is absent, or there is no cloud mask (SCL or CLM).

    """
    item_id, properties, assets = _checked(item, source)
    acquired = acquisition_datetime(properties, source, item_id)
    bbox = required_bbox(item, source, item_id)
    collection = item.get("collection") if isinstance(item.get("collection"), str) else None
    baseline = processing_baseline(item)

    # Context: one asset per role, and what relative hrefs are relative to.
    chosen, unusable = choose_assets(assets)
    ctx = ItemContext(
        source=source,
        item_id=item_id,
        base=base_href if base_href is not None else self_href(item),
        properties=properties,
        chosen=chosen,
        unusable=unusable,
    )
    flavour = mask_flavour(ctx)

    # Reflectance bands with their effective scale and offset.
    bands: dict[str, RasterAsset] = {}
    for name in BAND_ID:  # wavelength order, so that iteration order is the same everywhere
        if f"band:{name}" in ctx.chosen:
            bands[name] = _band(
                ctx, name, flavour, collection=collection, baseline=baseline, acquired=acquired
            )
    for name in REQUIRED_BANDS:
        if name not in bands:
            raise ctx.missing(name, band_hint(name), role=f"band:{name}")

    # Masks and aerosols.
    masks = item_masks(flavour, ctx)
    aot = item_aot(flavour, ctx)
    ctx.warn_unusable()  # here, so that the warning points at our caller

    platform = platform_name(properties, item_id)
    return NormalizedItem(
        id=item_id,
        collection=collection,
        datetime=acquired,
        bbox=bbox,
        bands=bands,
        masks=masks,
        acquisition_key=acquisition_key(item, platform, acquired),
        source=source,
        platform=platform,
        processing_baseline=format_baseline(baseline),
        cloud_cover=finite_float(properties.get("eo:cloud_cover")),
        aot=aot,
        epsg=epsg_of(properties) or first_epsg(bands),
        sun_azimuth=sun_azimuth(properties),
        sun_elevation=sun_elevation(properties),
        properties=dict(properties),
        href=item_url(item),
    )


def _checked(item: Any, source: str) -> tuple[str, Mapping[str, Any], Mapping[str, Any]]:
    """The item's id, properties and assets; `MalformedItem` when one is missing."""
    if not isinstance(item, Mapping):
        raise MalformedItem(source, None, f"not a JSON object but {type(item).__name__}")
    item_id = item.get("id")
    if not isinstance(item_id, str) or not item_id:
        raise MalformedItem(source, None, "no id")
    properties = item.get("properties")
    if not isinstance(properties, Mapping):
        raise MalformedItem(source, item_id, "no properties")
    assets = item.get("assets")
    if not isinstance(assets, Mapping) or not assets:
        raise MalformedItem(source, item_id, "no assets")
    return item_id, properties, assets


def _band(
    ctx: ItemContext,
    name: str,
    flavour: MaskFlavour,
    *,
    collection: str | None,
    baseline: tuple[int, int] | None,
    acquired: datetime,
) -> RasterAsset:
    """The chosen asset of band ``name`` with its effective scale, offset, nodata and type."""
    role = f"band:{name}"
    declared = declared_band(ctx.chosen[role][1])
    scale, offset = reflectance_scale_offset(
        flavour=flavour,
        collection=collection,
        properties=ctx.properties,
        declared_scale=declared.scale,
        declared_offset=declared.offset,
        baseline=baseline,
        acquired=acquired,
    )
    # What the item does not declare, the processor's file format says.
    if flavour is MaskFlavour.MAJA:
        nodata, dtype = maja.BAND_NODATA, maja.BAND_DTYPE
    else:
        nodata, dtype = sen2cor.BAND_NODATA, sen2cor.BAND_DTYPE
    return ctx.asset(
        role,
        scale=scale,
        offset=offset,
        nodata=pick(declared.nodata, nodata),
        dtype=declared.dtype or dtype,
    )
