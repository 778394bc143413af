"""The context of one item being normalized: where it came from and its chosen assets.

Flavour modules build their masks and bands through it, so that every `RasterAsset` gets its
href resolved and its grid read the same way, and every missing asset is reported alike.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from catalog.errors import MissingAsset, SkippedAssetWarning, item_prefix
from catalog.model import RasterAsset
from catalog.normalize.hrefs import resolve_href
from catalog.normalize.raster import asset_grid


@dataclass(frozen=True)
class ItemContext:
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
            grid=asset_grid(asset, self.properties),
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

        Call it from `normalize_item` itself: the warning points at its caller.
        """
        for role, key in sorted(self.unusable.items()):
            name = role.removeprefix("band:")
            warnings.warn(
                f"{item_prefix(self.source, self.item_id)}: optional asset {key!r} ({name}) "
                "skipped: no usable href",
                SkippedAssetWarning,
                stacklevel=3,
            )
