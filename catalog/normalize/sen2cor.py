"""Sen2Cor (ESA) L2A, as Earth Search, Planetary Computer and CDSE serve it.

What is Sen2Cor's own and not a catalogue's: the SCL scene classification mask, the AOT
band's quantification, and the reflectance bands' nodata and data type when an item does not
declare them. The offset of its reflectance depends on the processing baseline (see
`catalog.normalize.baseline`) and on each catalogue's word on it.
"""

from __future__ import annotations

from catalog.model import MaskFlavour, Masks, RasterAsset
from catalog.normalize.context import ItemContext
from catalog.normalize.raster import declared_band
from catalog.normalize.values import pick

#: Sen2Cor AOT quantification: AOT at 550 nm = DN / 1000.
SEN2COR_AOT_SCALE = 1e-3
#: Reflectance bands without raster metadata: uint16 DN, 0 = nodata.
BAND_NODATA: float = 0.0
BAND_DTYPE = "uint16"


def masks(ctx: ItemContext) -> Masks:
    """The SCL mask of an item; `MissingAsset` when it has none."""
    if "scl" not in ctx.chosen:
        raise ctx.missing("scl", "Sen2Cor scene classification (scl, SCL, SCL_20m)")
    # SCL: uint8 classes, 0 = nodata.
    return Masks(MaskFlavour.SCL, scl=ctx.asset("scl", nodata=0.0, dtype="uint8"))


def aot(ctx: ItemContext) -> RasterAsset | None:
    """The Sen2Cor AOT asset in physical units; None when absent (it is optional)."""
    if "aot" not in ctx.chosen:
        return None
    # Sen2Cor AOT: uint16, AOT = DN / 1000, 0 = nodata (c1 declares scale 0.001 too).
    declared = declared_band(ctx.chosen["aot"][1])
    return ctx.asset(
        "aot",
        scale=pick(declared.scale, SEN2COR_AOT_SCALE),
        offset=pick(declared.offset, 0.0),
        nodata=pick(declared.nodata, 0.0),
        dtype=declared.dtype or "uint16",
    )
