"""The mask flavour of an item (Sen2Cor SCL or MAJA CLM + MG2), and its masks and AOT.

The flavour is the L2A processor, not the catalogue: it is declared by ``l3a:flavour`` (the
project's demo) or told by the assets present. `catalog.normalize.sen2cor` and
`catalog.normalize.maja` build each flavour's masks.
"""

from __future__ import annotations

from catalog.errors import MalformedItem
from catalog.model import MaskFlavour, Masks, RasterAsset
from catalog.normalize import maja, sen2cor
from catalog.normalize.assets import REQUIRED_BANDS
from catalog.normalize.context import ItemContext

#: Item property a producer (the project's demo) may set to name its mask flavour.
FLAVOUR_PROPERTY = "l3a:flavour"


def mask_flavour(ctx: ItemContext) -> MaskFlavour:
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


def item_masks(flavour: MaskFlavour, ctx: ItemContext) -> Masks:
    """The item's cloud masks; `MissingAsset` when the flavour's required mask is absent."""
    if flavour is MaskFlavour.SCL:
        return sen2cor.masks(ctx)
    return maja.masks(ctx)


def item_aot(flavour: MaskFlavour, ctx: ItemContext) -> RasterAsset | None:
    """Aerosol optical thickness at 550 nm, in physical units; None when absent (optional)."""
    if flavour is MaskFlavour.MAJA and (atb := maja.aot(ctx)) is not None:
        return atb
    # A MAJA item without ATB may still carry an ``aot`` asset: it is read as Sen2Cor's.
    return sen2cor.aot(ctx)
