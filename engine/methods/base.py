"""What every reduction method sees and returns: numpy arrays of one spatial block.

Methods are pure functions of arrays. The pipeline maps them over dask blocks that hold every
observation and every band of a window of pixels, so a method never needs dask itself, and
the same call serves numpy tests and dask runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from engine.contract import QualityLayer

F32 = npt.NDArray[np.float32]
U8 = npt.NDArray[np.uint8]
U16 = npt.NDArray[np.uint16]


class ObsClass(IntEnum):
    """Per-observation pixel class, from the item's mask driver. Also the synthesis FLG codes."""

    NODATA = 0  # no data, defective, saturated or an invalid mask value
    CLOUD = 1  # cloud or cloud shadow (SCL 3, 8, 9, 10; MAJA CLM bit 0)
    SNOW = 2
    WATER = 3
    LAND = 4


def dn_to_reflectance(dn: npt.ArrayLike, scale: npt.ArrayLike,
                      offset: float | npt.NDArray[np.floating[Any]],
                      out: F32 | None = None) -> F32:
    """``DN x scale + offset`` in float32: the one conversion every method uses.

    Multiplied, then added, each rounded to float32: whatever the method gathers or sorts
    first, an output pixel then has exactly its observation's reflectance. DN 0 (nodata) is
    converted like any DN; callers mask it.
    """
    rho: F32 = np.multiply(dn, scale, out=out, dtype=np.float32)
    rho += offset
    return rho


@dataclass(frozen=True)
class Observations:
    """Every observation of one block of pixels, sorted by (datetime, id).

    Attributes:
        dn: raw digital numbers, uint16 (T, B, Y, X); 0 is nodata.
        scale: per observation and band, float32 (T, B): reflectance = dn * scale + offset.
        offset: float32 (T, B).
        bands: common names of the B bands, in order.
        classes: ObsClass codes, uint8 (T, Y, X).
        scl: Sen2Cor scene classes, uint8 (T, Y, X); for MAJA items, an equivalent built
            from its masks (4 land, 6 water, 9 cloud, 11 snow, 0 nodata).
        days: float32 (T,), signed days of each observation from the central date.
        aot: aerosol optical thickness at 550 nm, float32 (T, Y, X), NaN where unknown;
            None when no item has AOT.
        cloud_weight: W_cloud of the synthesis, float32 (T, Y, X), computed by the pipeline
            at coarse resolution over the whole order; None for methods that do not use it.

    """

    dn: U16
    scale: F32
    offset: F32
    bands: tuple[str, ...]
    classes: U8
    scl: U8
    days: F32
    aot: F32 | None = None
    cloud_weight: F32 | None = None

    def reflectance(self, band: str) -> F32:
        """Surface reflectance of one band for every observation, float32 (T, Y, X), NaN nodata."""
        b = self.bands.index(band)
        dn = self.dn[:, b]
        rho = dn_to_reflectance(dn, self.scale[:, b, None, None], self.offset[:, b, None, None])
        rho[dn == 0] = np.nan
        return rho

    def shares_scale(self, b: int) -> bool:
        """Whether every observation of band ``b`` has one scale and one offset.

        The usual case (one processing baseline); false with no observation.
        """
        scale, offset = self.scale[:, b], self.offset[:, b]
        return bool(scale.size and (scale == scale[0]).all() and (offset == offset[0]).all())

    @property
    def shape(self) -> tuple[int, int]:
        """(Y, X) of the block."""
        return (int(self.dn.shape[-2]), int(self.dn.shape[-1]))


@dataclass(frozen=True)
class Reduction:
    """What a method returns for one block.

    Attributes:
        reflectance: float32 (B, Y, X), NaN where the pixel has no value.
        quality: per quality key, an array (Y, X) in any numeric dtype; the writer casts it to
            the layer's dtype.

    """

    reflectance: F32
    quality: dict[str, npt.NDArray[np.generic]]


class Method(Protocol):
    """A mosaicking method: a name, its quality layers, and a pure block reduction."""

    name: str
    description: str
    quality: tuple[QualityLayer, ...]
    #: True when the pipeline must compute ``Observations.cloud_weight`` for it.
    needs_cloud_weight: bool
    #: Bands the method needs to choose, loaded even when the order does not ask for them
    #: (the composite's medoid and indices); they are not written unless ordered.
    extra_bands: tuple[str, ...]
    #: Bands of ``extra_bands`` the method cannot work without: an order whose scenes lack
    #: one is refused before anything is read.
    required_bands: tuple[str, ...]
    #: Memory of the reduction's temporaries per observation, relative to the synthesis's
    #: (1): a method of 2 gets blocks half the size on a long period (`engine.load.chunk_for`)
    #: and stays within the same memory.
    memory_factor: int

    def reduce(self, obs: Observations) -> Reduction:
        """Reduce the observations of a block to one value per pixel and band."""
        ...
