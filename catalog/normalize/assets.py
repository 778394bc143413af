"""Asset keys -> roles: which asset is which band or mask, and the best one per role.

Every catalogue names Sentinel-2 L2A assets its own way; one key grammar reads them all,
whatever the source (no catalogue needs to be told apart to read its keys):

- Earth Search: common names ``red`` ..., with ``red_20m`` (old collections) and ``red-jp2``
  (JPEG 2000 duplicates) variants;
- Planetary Computer: band numbers ``B04``, ``B8A``;
- Copernicus Data Space (CDSE): band numbers with a resolution, ``B04_10m``, ``SCL_20m``;
- Theia MAJA: ``FRE_B4`` / ``SRE_B4`` reflectance, ``CLM_R1`` / ``MG2_R1`` / ``ATB_R1``
  masks (R1 = 10 m, R2 = 20 m).

Roles are ``band:<common name>``, ``scl``, ``aot`` (Sen2Cor) and ``clm``, ``mg2``, ``atb``
(MAJA).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from catalog.model import BAND_ID
from catalog.normalize.raster import asset_resolution

#: Bands an item must have to be usable at all (plus a cloud mask, SCL or CLM).
REQUIRED_BANDS: tuple[str, ...] = ("red", "green", "blue")

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


def classify(key: str, asset: Mapping[str, Any]) -> tuple[str, int] | None:
    """Classify an asset: ``band:red``, ``scl``, ``aot``, ``clm``, ``mg2`` or ``atb``.

    Returns the role and a variant rank (0 preferred; Theia SRE ranks after FRE), or None for
    assets that are neither a band nor a mask (previews, metadata, water vapour ...).

    The asset key is trusted before ``eo:bands``: Planetary Computer labels B8A with common
    name ``rededge`` and Earth Search labels B05-B07 ``rededge`` too, so common names are
    ambiguous, while a key naming a band (``B8A``, ``nir08``, ``B04_10m``) never is. eo:bands /
    STAC 1.1 ``bands`` decide only for keys we do not know.
    """
    stem = split_key(key)[0].lower()
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


def split_key(key: str) -> tuple[str, bool, int | None]:
    """``(stem, is_jp2_duplicate, resolution from the key)`` of an asset key."""
    stem, jp2 = key, False
    if stem.lower().endswith(_JP2_SUFFIX):
        stem, jp2 = stem[: -len(_JP2_SUFFIX)], True
    if m := _METRE_SUFFIX.match(stem):
        return m["stem"], jp2, int(m["res"])
    if m := _THEIA_SUFFIX.match(stem.lower()):
        return stem[: len(m["stem"])], jp2, 10 if m["r"] == "1" else 20
    return stem, jp2, None


def choose_assets(
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
        classified = classify(key, asset)
        if classified is None:
            continue
        role, variant = classified
        if not isinstance(asset.get("href"), str) or not asset["href"].strip():
            unusable.setdefault(role, key)
            continue
        _, jp2, key_resolution = split_key(key)
        resolution = key_resolution if key_resolution is not None else asset_resolution(asset)
        rank = (jp2, key_resolution is not None, resolution or math.inf, variant, key)
        if role not in best or rank < best[role][0]:
            best[role] = (rank, key, asset)
    chosen = {role: (key, asset) for role, (_, key, asset) in best.items()}
    return chosen, {role: key for role, key in unusable.items() if role not in chosen}


def band_hint(name: str) -> str:
    """The keys looked for a band, for the message when none was found."""
    return f"looked for keys {name!r}, {BAND_ID[name]!r}, '{BAND_ID[name]}_10m' or eo:bands"
