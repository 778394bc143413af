"""STAC item dict -> `NormalizedItem`: asset aliases, scale/offset, masks, grids, acquisition.

Every catalogue names and scales Sentinel-2 L2A assets its own way. This module settles all of
it once, from the raw item dict (never a pystac object: pystac >= 1.12 rewrites projection
fields when it reads an item, see docs/design.md, "Known traps"):

- **Bands** by common name (``blue`` ... ``swir22``), whatever the asset key: Earth Search
  ``red`` (and ``red_20m`` / ``red-jp2`` variants), Planetary Computer ``B04``, CDSE
  ``B04_10m``, Theia ``FRE_B4``. See `_classify`.
- **Scale and offset** of reflectance, the science-critical part: see
  `reflectance_scale_offset`, one function with one documented rule per catalogue quirk.
- **Masks**: Sen2Cor SCL or MAJA CLM + MG2, and the aerosol optical thickness (Sen2Cor AOT or
  MAJA ATB band 2) in physical units.
- **Grid** per asset from the projection extension (v1 ``proj:epsg`` or v2 ``proj:code``).
- **Acquisition key**: one value for the overlapping MGRS tiles of one satellite pass.
"""

from __future__ import annotations

import math
import os
import re
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urljoin

from catalog.errors import MalformedItem, MissingAsset, SkippedAssetWarning, item_prefix
from catalog.model import BAND_ID, Grid, MaskFlavour, Masks, NormalizedItem, RasterAsset

#: Bands an item must have to be usable at all (plus a cloud mask, SCL or CLM).
REQUIRED_BANDS: tuple[str, ...] = ("red", "green", "blue")

#: Surface reflectance quantification of Sen2Cor and MAJA: reflectance = DN / 10000.
REFLECTANCE_SCALE = 1e-4
#: BOA_ADD_OFFSET (-1000 DN) of processing baseline >= 04.00, in reflectance units.
BOA_OFFSET = -0.1
#: The first processing baseline whose L2A DN carry the +1000 offset.
OFFSET_BASELINE: tuple[int, int] = (4, 0)
#: Baseline 04.00 went operational on this day. Only used when an item says nothing else.
OFFSET_BASELINE_DATE = datetime(2022, 1, 25, tzinfo=UTC)
#: Sen2Cor AOT quantification: AOT at 550 nm = DN / 1000.
SEN2COR_AOT_SCALE = 1e-3
#: MAJA FRE/SRE nodata value (int16).
MAJA_NODATA = -10000
#: MAJA ATB: AOT is band 2, AOT = DN / 200 (band 1 is water vapour, DN / 20 g/cm2).
MAJA_AOT_BAND = 2
MAJA_AOT_SCALE = 1.0 / 200.0

#: Item property a producer (the project's demo) may set to name its mask flavour.
FLAVOUR_PROPERTY = "l3a:flavour"

_COMMON_NAMES = frozenset(BAND_ID)
_NAME_OF_ID = {band_id: name for name, band_id in BAND_ID.items()}

# Asset keys: optional Theia FRE_/SRE_ prefix, band number "B4" / "B04" / "B8A".
_BAND_NUMBER = re.compile(r"^(?:(?P<kind>fre|sre)_)?b(?P<num>\d{1,2})(?P<a>a?)$")
# Resolution suffixes: CDSE "B04_10m", old Earth Search "red_20m", Theia "CLM_R1" (10 m).
_METRE_SUFFIX = re.compile(r"^(?P<stem>.+)_(?P<res>\d+)m$")
_THEIA_SUFFIX = re.compile(r"^(?P<stem>.+)_r(?P<r>[12])$")
_JP2_SUFFIX = "-jp2"
# Roles and keys of assets that are never a band or a mask (RGB previews, metadata).
_SKIPPED_ROLES = frozenset({"thumbnail", "overview", "visual", "metadata", "tiles"})
# Processing baseline as written in product names ("_N0509_") and datatake ids ("_N05.09").
_BASELINE_IN_NAME = re.compile(r"_N(\d{2})\.?(\d{2})(?:_|$)")
_BASELINE_VALUE = re.compile(r"^(\d{1,2})\.(\d{1,2})$")
_RELATIVE_ORBIT_IN_NAME = re.compile(r"_R(\d{3})_")
_PLATFORM_IN_ID = re.compile(r"^S2([A-D])_", re.IGNORECASE)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


# --------------------------------------------------------------------------------------------
# Public entry
# --------------------------------------------------------------------------------------------


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

    acquired = _acquisition_datetime(properties, source, item_id)
    bbox = _bbox(item, source, item_id)
    collection = item.get("collection") if isinstance(item.get("collection"), str) else None
    baseline = processing_baseline(item)
    chosen, unusable = _choose_assets(assets)
    ctx = _Context(
        source=source,
        item_id=item_id,
        base=base_href if base_href is not None else _self_href(item),
        properties=properties,
        chosen=chosen,
        unusable=unusable,
    )
    flavour = _mask_flavour(ctx)

    bands: dict[str, RasterAsset] = {}
    for name in BAND_ID:  # wavelength order, so that iteration order is the same everywhere
        role = f"band:{name}"
        if role not in ctx.chosen:
            continue
        declared = _declared(ctx.chosen[role][1])
        scale, offset = reflectance_scale_offset(
            flavour=flavour,
            collection=collection,
            properties=properties,
            declared_scale=declared.scale,
            declared_offset=declared.offset,
            baseline=baseline,
            acquired=acquired,
        )
        maja = flavour is MaskFlavour.MAJA
        bands[name] = ctx.asset(
            role,
            scale=scale,
            offset=offset,
            nodata=_pick(declared.nodata, MAJA_NODATA if maja else 0.0),
            dtype=declared.dtype or ("int16" if maja else "uint16"),
        )
    for name in REQUIRED_BANDS:
        if name not in bands:
            raise ctx.missing(name, _band_hint(name), role=f"band:{name}")
    masks = _masks(flavour, ctx)
    aot = _aot(flavour, ctx)
    ctx.warn_unusable()

    platform = _platform(properties, item_id)
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
        processing_baseline=_format_baseline(baseline),
        cloud_cover=_float(properties.get("eo:cloud_cover")),
        aot=aot,
        epsg=_epsg(properties) or _first_epsg(bands),
        sun_azimuth=_sun_azimuth(properties),
        sun_elevation=_sun_elevation(properties),
        properties=dict(properties),
        href=_item_url(item),
    )


def _item_url(item: dict[str, Any]) -> str | None:
    """The item's ``self`` link when it is an http(s) URL, which a product may cite.

    (A local path or an s3:// location says nothing to the product's readers.)
    """
    href = _self_href(item)
    return href if href is not None and href.startswith(("https://", "http://")) else None


@dataclass(frozen=True)
class _Context:
    """What building the assets of one item needs: where it came from, its chosen assets."""

    source: str
    item_id: str
    base: str | None  # what relative hrefs are relative to
    properties: Mapping[str, Any]
    chosen: Mapping[str, tuple[str, Mapping[str, Any]]]  # role -> (key, asset dict)
    unusable: Mapping[str, str]  # role -> key of an asset without a usable href

    def asset(self, role: str, **fields: Any) -> RasterAsset:
        """Build the `RasterAsset` of a chosen role: href resolved, grid read."""
        key, asset = self.chosen[role]
        return RasterAsset(
            key=key,
            href=resolve_href(str(asset["href"]), self.base),
            grid=_grid(asset, self.properties),
            **fields,
        )

    def missing(self, asset: str, hint: str, role: str | None = None) -> MissingAsset:
        """Return the error for a missing required asset of this item."""
        key = self.unusable.get(role or asset)
        if key is not None:
            hint = f"asset {key!r} has no usable href"
        return MissingAsset(self.source, self.item_id, asset, hint)

    def warn_unusable(self) -> None:
        """Warn about optional assets left out because they have no usable href.

        Optional assets that are simply absent are normal (collections publish different
        bands) and pass silently; an asset that is there but broken is worth a word.
        """
        for role, key in sorted(self.unusable.items()):
            name = role.removeprefix("band:")
            warnings.warn(
                f"{item_prefix(self.source, self.item_id)}: optional asset {key!r} ({name}) "
                "skipped: no usable href",
                SkippedAssetWarning,
                stacklevel=3,
            )


# --------------------------------------------------------------------------------------------
# Scale and offset: the science-critical rule
# --------------------------------------------------------------------------------------------


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
    shifted = BOA_OFFSET  # the DN carry +1000: subtract it
    raw = 0.0  # the DN are plain reflectance x 10000

    # Rule 1, MAJA: Theia's FRE/SRE are int16 reflectance x 10000 with no added offset, at
    # every baseline (the +1000 is a Sen2Cor/ESA convention). Trust a declared offset only
    # (our demo declares 0); the ESA baseline says nothing about MAJA.
    if flavour is MaskFlavour.MAJA:
        return scale, declared_offset if declared_offset is not None else raw

    # Rule 2, Earth Search v1 `sentinel-2-l2a`: its raster:bands say offset -0.1 for every
    # baseline >= 04.00 item, but when `earthsearch:boa_offset_applied` is true the COGs were
    # written with the 1000 already subtracted, so the pixels are plain reflectance x 10000:
    # applying -0.1 again would make dark surfaces negative (checked on the 33TWL pixels).
    # When false, the DN are ESA's: -0.1 from baseline 04.00 on, nothing before.
    applied = properties.get("earthsearch:boa_offset_applied")
    if isinstance(applied, bool):
        if applied:
            return scale, raw
        if baseline is not None:
            return scale, shifted if baseline >= OFFSET_BASELINE else raw
        # No baseline on an Earth Search item: fall through to what the item declares.

    # Rule 3, Earth Search `sentinel-2-c1-l2a` (Collection 1): reprocessed with baseline
    # >= 05.00 and never shifted, so the offset always applies, even if an item lacks
    # raster:bands.
    if collection == "sentinel-2-c1-l2a":
        return scale, shifted

    # Rule 4, a declared offset (CDSE, Earth Search `sentinel-s2-l2a`, any generic catalogue
    # with raster metadata): the producer knows how it wrote its files.
    if declared_offset is not None:
        return scale, declared_offset

    # Rule 5, the baseline (Planetary Computer has no raster metadata but always has
    # `s2:processing_baseline`; other catalogues name it in the product id): ESA's own rule.
    if baseline is not None:
        return scale, shifted if baseline >= OFFSET_BASELINE else raw

    # Rule 6, nothing at all (e.g. Earth Search v0 `sentinel-s2-l2a-cogs` whose product id was
    # lost): the baseline in production at the acquisition date. Reprocessed archives carry
    # their baseline, so this only guesses for items that say nothing about themselves.
    return scale, shifted if acquired >= OFFSET_BASELINE_DATE else raw


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


def _format_baseline(baseline: tuple[int, int] | None) -> str | None:
    return None if baseline is None else f"{baseline[0]:02d}.{baseline[1]:02d}"


# --------------------------------------------------------------------------------------------
# Asset keys -> roles
# --------------------------------------------------------------------------------------------


def _classify(key: str, asset: Mapping[str, Any]) -> tuple[str, int] | None:
    """Classify an asset: ``band:red``, ``scl``, ``aot``, ``clm``, ``mg2`` or ``atb``.

    Returns the role and a variant rank (0 preferred; Theia SRE ranks after FRE), or None for
    assets that are neither a band nor a mask (previews, metadata, water vapour ...).

    The asset key is trusted before ``eo:bands``: Planetary Computer labels B8A with common
    name ``rededge`` and Earth Search labels B05-B07 ``rededge`` too, so common names are
    ambiguous, while a key naming a band (``B8A``, ``nir08``, ``B04_10m``) never is. eo:bands /
    STAC 1.1 ``bands`` decide only for keys we do not know.
    """
    stem = _split_key(key)[0].lower()
    if stem in ("scl", "aot", "clm", "mg2", "atb"):
        return stem, 0
    if stem in _COMMON_NAMES:
        return f"band:{stem}", 0
    if m := _BAND_NUMBER.match(stem):
        name = _name_of_number(m["num"], m["a"])
        if name is None:
            return None
        return f"band:{name}", 1 if m["kind"] == "sre" else 0
    declared = _declared_band_name(asset)
    return (f"band:{declared}", 0) if declared else None


def _name_of_number(number: str, a_suffix: str) -> str | None:
    band_id = "B8A" if a_suffix else f"B{int(number):02d}"
    return _NAME_OF_ID.get(band_id)


def _declared_band_name(asset: Mapping[str, Any]) -> str | None:
    """Return the band an asset declares in eo:bands (STAC 1.0) or bands (1.1), if only one."""
    entries = asset.get("eo:bands") or asset.get("bands")
    if not isinstance(entries, list) or len(entries) != 1 or not isinstance(entries[0], dict):
        return None
    entry = entries[0]
    name = entry.get("name")
    if isinstance(name, str):
        lowered = name.lower()
        if lowered in _COMMON_NAMES:
            return lowered
        if m := _BAND_NUMBER.match(lowered):
            return _name_of_number(m["num"], m["a"])
    common = entry.get("common_name") or entry.get("eo:common_name")
    return common if isinstance(common, str) and common in _COMMON_NAMES else None


def _split_key(key: str) -> tuple[str, bool, int | None]:
    """``(stem, is_jp2_duplicate, resolution from the key)`` of an asset key."""
    stem, jp2 = key, False
    if stem.lower().endswith(_JP2_SUFFIX):
        stem, jp2 = stem[: -len(_JP2_SUFFIX)], True
    if m := _METRE_SUFFIX.match(stem):
        return m["stem"], jp2, int(m["res"])
    if m := _THEIA_SUFFIX.match(stem.lower()):
        return stem[: len(m["stem"])], jp2, 10 if m["r"] == "1" else 20
    return stem, jp2, None


def _choose_assets(
    assets: Mapping[str, Any],
) -> tuple[dict[str, tuple[str, Mapping[str, Any]]], dict[str, str]]:
    """Pick one asset per role, the best variant when several exist.

    Preference, in order: a COG over its ``-jp2`` duplicate; the unsuffixed key, which is
    the producer's native resolution (Earth Search ``red`` over ``red_20m``); the finest
    resolution among suffixed keys (CDSE ``B04_10m`` over ``B04_20m``, Theia ``CLM_R1`` over
    ``CLM_R2``); FRE over SRE; then the key, so the choice is deterministic.

    Returns:
        ``{role: (key, asset)}`` of the chosen assets, and ``{role: key}`` of the roles whose
        only assets are unusable (no href), for the messages about them.

    """
    best: dict[str, tuple[tuple[Any, ...], str, Mapping[str, Any]]] = {}
    unusable: dict[str, str] = {}
    for key, raw in assets.items():
        if not isinstance(key, str):
            continue
        asset: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        roles = asset.get("roles")
        if isinstance(roles, list) and _SKIPPED_ROLES.intersection(
            r for r in roles if isinstance(r, str)
        ):
            continue
        classified = _classify(key, asset)
        if classified is None:
            continue
        role, variant = classified
        if not isinstance(asset.get("href"), str) or not asset["href"].strip():
            unusable.setdefault(role, key)
            continue
        _, jp2, key_resolution = _split_key(key)
        resolution = key_resolution if key_resolution is not None else _resolution(asset)
        rank = (jp2, key_resolution is not None, resolution or math.inf, variant, key)
        if role not in best or rank < best[role][0]:
            best[role] = (rank, key, asset)
    chosen = {role: (key, asset) for role, (_, key, asset) in best.items()}
    return chosen, {role: key for role, key in unusable.items() if role not in chosen}


def _band_hint(name: str) -> str:
    return f"looked for keys {name!r}, {BAND_ID[name]!r}, '{BAND_ID[name]}_10m' or eo:bands"


# --------------------------------------------------------------------------------------------
# Masks and AOT
# --------------------------------------------------------------------------------------------


def _mask_flavour(ctx: _Context) -> MaskFlavour:
    """Sen2Cor (SCL) or MAJA (CLM/MG2): declared by ``l3a:flavour``, else from the assets."""
    declared = ctx.properties.get(FLAVOUR_PROPERTY)
    if isinstance(declared, str):
        value = declared.strip().lower()
        if value == "sen2cor":
            value = MaskFlavour.SCL.value
        try:
            return MaskFlavour(value)
        except ValueError as exc:
            raise MalformedItem(
                ctx.source, ctx.item_id, f"{FLAVOUR_PROPERTY} is {declared!r}, not 'scl' or 'maja'"
            ) from exc
    if "scl" in ctx.chosen:
        return MaskFlavour.SCL
    if "clm" in ctx.chosen:
        return MaskFlavour.MAJA
    # Checked before the masks are built so that the message names both flavours' keys.
    if all(f"band:{name}" in ctx.chosen for name in REQUIRED_BANDS):
        raise ctx.missing(
            "scl",
            "no cloud mask: neither a Sen2Cor SCL (scl, SCL, SCL_20m) nor a MAJA CLM "
            "(clm, CLM_R1, CLM_R2)",
        )
    return MaskFlavour.SCL  # the missing band is reported first


def _masks(flavour: MaskFlavour, ctx: _Context) -> Masks:
    if flavour is MaskFlavour.SCL:
        if "scl" not in ctx.chosen:
            raise ctx.missing("scl", "Sen2Cor scene classification (scl, SCL, SCL_20m)")
        # SCL: uint8 classes, 0 = nodata.
        return Masks(flavour, scl=ctx.asset("scl", nodata=0.0, dtype="uint8"))
    if "clm" not in ctx.chosen:
        raise ctx.missing("clm", "MAJA cloud mask (clm, CLM_R1, CLM_R2)")
    # CLM and MG2 are bit fields where 0 is a valid value (clear, land): no nodata value.
    clm = ctx.asset("clm", nodata=None, dtype="uint8")
    mg2 = ctx.asset("mg2", nodata=None, dtype="uint8") if "mg2" in ctx.chosen else None
    return Masks(flavour, clm=clm, mg2=mg2)


def _aot(flavour: MaskFlavour, ctx: _Context) -> RasterAsset | None:
    """Aerosol optical thickness at 550 nm, in physical units; None when absent (optional)."""
    if flavour is MaskFlavour.MAJA and "atb" in ctx.chosen:
        # MAJA ATB: two bands (water vapour, AOT). AOT is band 2, DN / 200, 0 = nodata. A file
        # declared with a single band is taken to hold the AOT alone.
        asset = ctx.chosen["atb"][1]
        band = 1 if len(_band_entries(asset)) == 1 else MAJA_AOT_BAND
        declared = _declared(asset, band)
        return ctx.asset(
            "atb",
            scale=_pick(declared.scale, MAJA_AOT_SCALE),
            offset=_pick(declared.offset, 0.0),
            nodata=_pick(declared.nodata, 0.0),
            dtype=declared.dtype or "uint8",
            band_index=band,
        )
    if "aot" not in ctx.chosen:
        return None
    # Sen2Cor AOT: uint16, AOT = DN / 1000, 0 = nodata (c1 declares scale 0.001 too).
    declared = _declared(ctx.chosen["aot"][1])
    return ctx.asset(
        "aot",
        scale=_pick(declared.scale, SEN2COR_AOT_SCALE),
        offset=_pick(declared.offset, 0.0),
        nodata=_pick(declared.nodata, 0.0),
        dtype=declared.dtype or "uint16",
    )


# --------------------------------------------------------------------------------------------
# Declared raster metadata, grids
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Declared:
    """What an asset says about one of its bands (None = not said)."""

    scale: float | None
    offset: float | None
    nodata: float | None
    dtype: str | None


def _band_entries(asset: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    for key in ("raster:bands", "bands"):
        entries = asset.get(key)
        if isinstance(entries, list) and entries:
            return [e if isinstance(e, Mapping) else {} for e in entries]
    return []


def _declared(asset: Mapping[str, Any], band: int = 1) -> _Declared:
    """Scale, offset, nodata and data type of band ``band`` (1-based) of an asset.

    Reads STAC 1.0 ``raster:bands`` (``scale``, ``offset``, ``nodata``, ``data_type``) and
    STAC 1.1 ``bands`` / asset fields (``raster:scale``, ``raster:offset``, ``nodata``,
    ``data_type``), the band entry first, the asset level second.
    """
    entries = _band_entries(asset)
    entry = entries[band - 1] if len(entries) >= band else {}

    def field(*names: str) -> Any:
        for where in (entry, asset):
            for name in names:
                if where.get(name) is not None:
                    return where[name]
        return None

    dtype = field("data_type")
    return _Declared(
        scale=_float(field("scale", "raster:scale")),
        offset=_float(field("offset", "raster:offset")),
        nodata=_float(field("nodata")),
        dtype=dtype if isinstance(dtype, str) else None,
    )


def _grid(asset: Mapping[str, Any], properties: Mapping[str, Any]) -> Grid | None:
    """Read the asset's pixel grid from the projection extension, asset before item fields."""
    epsg = _epsg(asset) or _epsg(properties)
    shape = asset.get("proj:shape")
    transform = asset.get("proj:transform")
    if shape is None and transform is None:
        # Item-level proj:shape/transform describe one grid; a Sentinel-2 item has three
        # (10, 20, 60 m). Use them only for an asset that does not say it is on another one.
        shape, transform = properties.get("proj:shape"), properties.get("proj:transform")
        own = _declared_resolution(asset)
        if own is not None and isinstance(transform, list) and transform:
            item_resolution = _float(transform[0])
            if item_resolution is None or abs(abs(item_resolution) - own) > 1e-6:
                return None
    if epsg is None or not isinstance(shape, list) or not isinstance(transform, list):
        return None
    # proj:transform may be the full 3x3 matrix (9 numbers); the last row is always 0, 0, 1.
    if len(shape) != 2 or len(transform) not in (6, 9):
        return None
    try:
        a, b, c, d, e, f = (float(v) for v in transform[:6])
        height, width = int(shape[0]), int(shape[1])
    except (TypeError, ValueError):
        return None
    return Grid(epsg, (height, width), (a, b, c, d, e, f))


def _epsg(fields: Mapping[str, Any]) -> int | None:
    """EPSG code from projection v1 ``proj:epsg`` or v2 ``proj:code`` ("EPSG:32633")."""
    value = fields.get("proj:epsg")
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    code = fields.get("proj:code")
    if isinstance(code, str) and code.upper().startswith("EPSG:"):
        try:
            return int(code.split(":", 1)[1])
        except ValueError:
            return None
    return None


def _first_epsg(bands: Mapping[str, RasterAsset]) -> int | None:
    for asset in bands.values():
        if asset.grid is not None:
            return asset.grid.epsg
    return None


def _resolution(asset: Mapping[str, Any]) -> float | None:
    """Pixel size of an asset: its proj:transform, else what its metadata declares."""
    transform = asset.get("proj:transform")
    if isinstance(transform, list) and transform:
        value = _float(transform[0])
        if value:
            return abs(value)
    return _declared_resolution(asset)


def _declared_resolution(asset: Mapping[str, Any]) -> float | None:
    # raster:bands spatial_resolution describes the file; gsd may describe the sensor (the
    # 33TWL fixture's 120 m files keep gsd 10), so it comes second.
    entries = _band_entries(asset)
    if entries:
        value = _float(entries[0].get("spatial_resolution"))
        if value:
            return value
    gsd = _float(asset.get("gsd"))
    return gsd if gsd else None


# --------------------------------------------------------------------------------------------
# Hrefs
# --------------------------------------------------------------------------------------------


def resolve_href(href: str, base: str | None) -> str:
    """Return an absolute path or URL for ``href``, resolved against ``base`` if relative.

    Args:
        href: the asset href as written in the item.
        base: the path or URL of the file the item came from (its directory is the base).

    Returns:
        ``href`` unchanged when it has a scheme (``https://``, ``s3://`` ...) or is an absolute
        path, or when there is no base; otherwise the joined, normalized path or URL.

    """
    if _SCHEME.match(href) or os.path.isabs(href) or href.startswith("/vsi") or not base:
        return href
    if _SCHEME.match(base):
        return urljoin(base, href)
    return os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(base)), href))


def _self_href(item: Mapping[str, Any]) -> str | None:
    """Return the item's own absolute location, the STAC base of its relative hrefs."""
    links = item.get("links")
    if not isinstance(links, list):
        return None
    for link in links:
        if isinstance(link, Mapping) and link.get("rel") == "self":
            href = link.get("href")
            if isinstance(href, str) and (_SCHEME.match(href) or os.path.isabs(href)):
                return href
    return None


# --------------------------------------------------------------------------------------------
# Time, footprint, platform, acquisition
# --------------------------------------------------------------------------------------------


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


def _acquisition_datetime(properties: Mapping[str, Any], source: str, item_id: str) -> datetime:
    # A STAC item may have datetime null with a start/end range; S2 items never do, but a
    # range's start is the sensing start, the closest thing to an acquisition time.
    text = properties.get("datetime") or properties.get("start_datetime")
    if not isinstance(text, str):
        raise MalformedItem(source, item_id, "no datetime")
    try:
        return parse_datetime(text)
    except ValueError as exc:
        raise MalformedItem(source, item_id, f"datetime {text!r} is not RFC 3339") from exc


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


def _bbox(item: Mapping[str, Any], source: str, item_id: str) -> tuple[float, float, float, float]:
    bbox = item_bbox(item)
    if bbox is None:
        raise MalformedItem(source, item_id, "no bbox and no geometry")
    return bbox


def _centre_longitude(item: Mapping[str, Any]) -> float:
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


def _platform(properties: Mapping[str, Any], item_id: str) -> str | None:
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
    solar_day = (acquired + timedelta(hours=_centre_longitude(item) / 15.0)).date()
    key = f"{platform or 'unknown'}_{solar_day.isoformat()}"
    orbit = _relative_orbit(item)
    return f"{key}_R{orbit:03d}" if orbit is not None else key


def _sun_azimuth(properties: Mapping[str, Any]) -> float | None:
    for key in ("view:sun_azimuth", "s2:mean_solar_azimuth"):
        value = _float(properties.get(key))
        if value is not None:
            return value
    return None


def _sun_elevation(properties: Mapping[str, Any]) -> float | None:
    value = _float(properties.get("view:sun_elevation"))
    if value is not None:
        return value
    zenith = _float(properties.get("s2:mean_solar_zenith"))
    return None if zenith is None else 90.0 - zenith


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


def _float(value: Any) -> float | None:
    """Return a finite float, or None (bools, strings and NaN are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    result = float(value)
    return result if math.isfinite(result) else None


def _pick(value: float | None, default: float) -> float:
    return default if value is None else value
