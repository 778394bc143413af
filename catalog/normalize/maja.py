"""MAJA (Theia) L2A: reflectance without the ESA offset, CLM + MG2 masks, ATB aerosols.

Theia publishes ``FRE_B4`` / ``SRE_B4`` reflectance (int16, reflectance x 10000, nodata
-10000) and ``CLM_R1`` / ``MG2_R1`` / ``ATB_R1`` masks; the project's demo writes the same
flavour with plain keys and ``l3a:flavour: maja``. The keys are read by the shared grammar in
`catalog.normalize.assets`; this module holds what MAJA's files mean.
"""

from __future__ import annotations

from catalog.model import MaskFlavour, Masks, RasterAsset
from catalog.normalize.context import ItemContext
from catalog.normalize.raster import band_entries, declared_band
from catalog.normalize.values import pick

#: MAJA FRE/SRE nodata value (int16).
MAJA_NODATA = -10000
#: MAJA ATB: AOT is band 2, AOT = DN / 200 (band 1 is water vapour, DN / 20 g/cm2).
MAJA_AOT_BAND = 2
MAJA_AOT_SCALE = 1.0 / 200.0
#: Reflectance bands without raster metadata: int16 DN, `MAJA_NODATA` = nodata.
BAND_NODATA: float = MAJA_NODATA
BAND_DTYPE = "int16"


def reflectance_offset(declared_offset: float | None) -> float:
    """Rule 1 of `catalog.normalize.scale_offset.reflectance_scale_offset`: no ESA offset.

    Theia's FRE/SRE are int16 reflectance x 10000 with no added offset, at every baseline (the
    +1000 is a Sen2Cor/ESA convention). Trust a declared offset only (our demo declares 0);
    the ESA baseline says nothing about MAJA.
    """
    return declared_offset if declared_offset is not None else 0.0


def masks(ctx: ItemContext) -> Masks:
    """The CLM mask (required) and MG2 mask (optional) of an item."""
    if "clm" not in ctx.chosen:
        raise ctx.missing("clm", "MAJA cloud mask (clm, CLM_R1, CLM_R2)")
    # CLM and MG2 are bit fields where 0 is a valid value (clear, land): no nodata value.
    clm = ctx.asset("clm", nodata=None, dtype="uint8")
    mg2 = ctx.asset("mg2", nodata=None, dtype="uint8") if "mg2" in ctx.chosen else None
    return Masks(MaskFlavour.MAJA, clm=clm, mg2=mg2)


def aot(ctx: ItemContext) -> RasterAsset | None:
    """The AOT band of the ATB asset in physical units; None when there is no ATB."""
    if "atb" not in ctx.chosen:
        return None
    # MAJA ATB: two bands (water vapour, AOT). AOT is band 2, DN / 200, 0 = nodata. A file
    # declared with a single band is taken to hold the AOT alone.
    asset = ctx.chosen["atb"][1]
    band = 1 if len(band_entries(asset)) == 1 else MAJA_AOT_BAND
    declared = declared_band(asset, band)
    return ctx.asset(
        "atb",
        scale=pick(declared.scale, MAJA_AOT_SCALE),
        offset=pick(declared.offset, 0.0),
        nodata=pick(declared.nodata, 0.0),
        dtype=declared.dtype or "uint8",
        band_index=band,
    )
