"""The inputs stage: an order's items checked and described, before anything is read.

Which items fall in the period, in which order; their mask flavour and the mask chain it
allows; the bands to load (the ordered ones, the method's extras, the chain's tests');
acquisitions split across tiles, merged; and per merged observation its scale and offset,
its distance in days to the period's central date, and per item the AOT's scale. The
pipeline builds its block context from this and reads nothing to get it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from catalog.model import MaskFlavour, NormalizedItem
from catalog.normalize import BOA_OFFSET, MAJA_NODATA
from catalog.normalize import REFLECTANCE_SCALE as L2A_REFLECTANCE_SCALE
from engine.acquisitions import acquisition_groups
from engine.errors import InvalidParameter, NoObservations
from engine.masks import chain as mask_chain
from engine.methods.base import Method
from engine.period import Period


@dataclass(frozen=True)
class Inputs:
    """An order's observations, described: what the loads read and the blocks reduce."""

    items: tuple[NormalizedItem, ...]  # in (datetime, id) order
    flavour: MaskFlavour
    chain: mask_chain.MaskChain
    bands: tuple[str, ...]  # loaded: the ordered bands first, then the extras
    groups: tuple[tuple[int, ...], ...]  # item indices of each acquisition
    scale: np.ndarray  # (T, B) per acquisition: reflectance = DN * scale + offset
    offset: np.ndarray  # (T, B)
    days: np.ndarray  # (T,) days from the period's central date
    aot_scale: np.ndarray | None  # (T_items,) DN -> AOT, NaN where an item has none

    @property
    def has_aot(self) -> bool:
        """Whether any item has an AOT raster."""
        return self.aot_scale is not None


def select_observations(items: Sequence[NormalizedItem], period: Period) -> list[NormalizedItem]:
    """Items inside the period's window, in the deterministic (datetime, id) order."""
    first, last = period.window_start, period.window_end
    chosen = [item for item in items if first <= item.datetime.date() <= last]
    return sorted(chosen, key=lambda item: item.sort_key)


def prepare(items: Sequence[NormalizedItem], period: Period, bands: Sequence[str],
            cloud_mask: str, method: Method) -> Inputs:
    """Check the order's bands and mask chain against its items; describe them.

    Raises:
        NoObservations: no item in the period's window.
        InvalidParameter: mixed mask flavours, a band no item has, a chain the items cannot
            take.

    """
    chosen = select_observations(items, period)
    if not chosen:
        raise NoObservations(f"no scene in the window of {period.label} over the bbox")
    flavour = _flavour(chosen)
    chain = mask_chain.resolve(cloud_mask, flavour)
    loaded = _bands_to_load(chosen, bands, method, chain)
    groups = acquisition_groups([item.acquisition_key for item in chosen])
    scale, offset = _scale_offset(chosen, groups, loaded, flavour)
    days = np.array([period.days_from_central(chosen[g[0]].datetime) for g in groups],
                    dtype=np.float32)
    has_aot = any(item.aot is not None for item in chosen)
    aot_scale = np.array([item.aot.scale if item.aot else np.nan for item in chosen],
                         dtype=np.float32) if has_aot else None
    return Inputs(tuple(chosen), flavour, chain, loaded, tuple(tuple(g) for g in groups),
                  scale, offset, days, aot_scale)


def _flavour(items: Sequence[NormalizedItem]) -> MaskFlavour:
    flavours = {item.masks.flavour for item in items}
    if len(flavours) > 1:
        raise InvalidParameter("source", "the items mix mask flavours (Sen2Cor and MAJA)")
    return flavours.pop()


def _bands_to_load(items: Sequence[NormalizedItem], bands: Sequence[str], method: Method,
                   chain: mask_chain.MaskChain) -> tuple[str, ...]:
    available = {band for item in items for band in item.bands}
    missing = [band for band in bands if band not in available]
    if missing:
        raise InvalidParameter("bands", f"no scene of the order has {', '.join(missing)}")
    # Extra bands help a method choose (the composite's indices); a source without them
    # loads what it has, unless the method cannot work without them.
    lacking = [band for band in method.required_bands if band not in available]
    if lacking:
        raise InvalidParameter(
            "method", f"the {method.name} needs the bands {', '.join(lacking)}, which no scene "
            "of the order has")
    extra = [band for band in method.extra_bands if band in available]
    for source, (needed, optional) in chain.bands_read().items():
        lacking = [band for band in needed if band not in available]
        if lacking:
            raise InvalidParameter(mask_chain.FIELD,
                                   f"{source} needs {', '.join(lacking)}, which no scene has")
        extra += [band for band in (*needed, *optional) if band in available]
    return tuple(dict.fromkeys((*bands, *extra)))


def _scale_offset(
    items: Sequence[NormalizedItem], groups: list[list[int]], bands: Sequence[str],
    flavour: MaskFlavour,
) -> tuple[np.ndarray, np.ndarray]:
    scale = np.full((len(groups), len(bands)), L2A_REFLECTANCE_SCALE, dtype=np.float32)
    offset = np.zeros((len(groups), len(bands)), dtype=np.float32)
    for g, members in enumerate(groups):
        item = items[members[0]]  # one acquisition, one processing baseline
        for b, band in enumerate(bands):
            asset = item.bands.get(band)
            if flavour is MaskFlavour.MAJA:
                offset[g, b] = BOA_OFFSET  # DN were shifted by +1000: `maja_to_offset_dn`
            elif asset is not None:
                scale[g, b], offset[g, b] = asset.scale, asset.offset
    return scale, offset


def maja_to_offset_dn(dn: np.ndarray) -> np.ndarray:
    """MAJA DN moved into the uint16 "DN + 1000" form of baseline >= 04.00 (0: nodata).

    One code path then serves both flavours.
    """
    shifted = np.clip(dn.astype(np.int32) + 1000, 1, 65535).astype(np.uint16)
    shifted[dn == MAJA_NODATA] = 0
    return shifted
