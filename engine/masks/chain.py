"""Which masks say "cloud": an order's ``cloud_mask``, parsed and checked against its source.

A chain names mask sources joined by ``+``. A pixel of an observation is clear only where
every source of the chain calls it clear (their clouds are united). The source's own mask
(``scl`` for Sen2Cor items, ``maja`` for MAJA items) is always part of the chain: it is also
what says where there is water, snow or no data, and the other sources only add clouds, as
measured on real data (a CNN alone at coarse resolution was worse than Sen2Cor's SCL; the two
together were better than either). So ``cnn`` and ``scl+cnn`` name the same chain.

Sources:
    scl: Sen2Cor's scene classification (clouds: SCL 3, 8, 9, 10).
    maja: MAJA's CLM bit 0.
    cnn: a convolutional network's cloud and cloud-shadow mask computed from the
        observation's own reflectance (`engine.masks.cnn`).
    temporal: a multi-temporal screen of each pixel's observations (`engine.masks.temporal`).
    haze: a haze test on each observation's blue and red, the haze optimized transform
        (`engine.masks.haze`).
    auto: the best chain measured for the source's flavour (`AUTO`).
"""

from __future__ import annotations

from dataclasses import dataclass

from catalog.model import MaskFlavour
from engine.errors import InvalidParameter

FIELD = "cloud_mask"
NATIVE = {MaskFlavour.SCL: "scl", MaskFlavour.MAJA: "maja"}
ADDED = ("cnn", "temporal", "haze")
SOURCES = (*NATIVE.values(), *ADDED)
#: The chain ``auto`` stands for, per mask flavour (docs/quality.md has the figures).
AUTO = {MaskFlavour.SCL: "scl+cnn+temporal+haze", MaskFlavour.MAJA: "maja"}
DEFAULT = "auto"
#: The bands each reflectance test reads: those it needs, and those it also uses where the
#: items have them (the temporal screen tests shadows in swir16 too).
BANDS_READ = {"temporal": (("blue", "nir"), ("swir16",)), "haze": (("blue", "red"), ())}


@dataclass(frozen=True)
class MaskChain:
    """A resolved chain: the items' own mask and the sources that add clouds to it."""

    flavour: MaskFlavour
    cnn: bool = False
    temporal: bool = False
    haze: bool = False

    @property
    def name(self) -> str:
        """The canonical spelling: the native mask first, then the added sources in order."""
        added = [s for s in ADDED if getattr(self, s)]
        return "+".join((NATIVE[self.flavour], *added))

    def bands_read(self) -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
        """(needed, optional) bands of each reflectance test of the chain (`BANDS_READ`)."""
        return {source: bands for source, bands in BANDS_READ.items() if getattr(self, source)}


def choices() -> tuple[str, ...]:
    """Every canonical value a client may send, ``auto`` first."""
    combos = [""]
    for source in ADDED:
        combos += [f"{c}+{source}" for c in combos]
    named = [f"{native}{combo}" for native in NATIVE.values() for combo in combos]
    return (DEFAULT, *named, *(c.lstrip("+") for c in combos if c))


def parse(value: str) -> frozenset[str]:
    """The sources of a ``cloud_mask`` value, checked for spelling only.

    Raises:
        InvalidParameter: an unknown source, a repeated one, both native masks, or ``auto``
            with anything else.

    """
    names = [part.strip().lower() for part in value.split("+")]
    if names == [DEFAULT]:
        return frozenset(names)
    unknown = [n for n in names if n not in SOURCES]
    if unknown or not names:
        raise InvalidParameter(
            FIELD, f"unknown source {unknown or [value]}; use auto or sources from "
            f"{', '.join(SOURCES)} joined by '+'")
    if len(set(names)) != len(names):
        raise InvalidParameter(FIELD, f"{value!r} names a source twice")
    if len(set(names) & set(NATIVE.values())) > 1:
        raise InvalidParameter(FIELD, "scl and maja are the masks of different sources")
    return frozenset(names)


def canonical(value: str) -> str:
    """The canonical spelling of a value without knowing the source (``auto`` stays)."""
    names = parse(value)
    if DEFAULT in names:
        return DEFAULT
    native = [n for n in NATIVE.values() if n in names]
    return "+".join((*native, *(s for s in ADDED if s in names)))


def resolve(value: str, flavour: MaskFlavour) -> MaskChain:
    """The chain a value means for items of this mask flavour.

    Raises:
        InvalidParameter: a spelling error, or a native mask the items do not have
            (``maja`` on Sen2Cor items, ``scl`` on MAJA items).

    """
    names = parse(value)
    if DEFAULT in names:
        names = parse(AUTO[flavour])
    wrong = [n for n in NATIVE.values() if n in names and n != NATIVE[flavour]]
    if wrong:
        raise InvalidParameter(
            FIELD, f"{wrong[0]} masks are not in this source: its items carry "
            f"{NATIVE[flavour]} masks")
    return MaskChain(flavour, cnn="cnn" in names, temporal="temporal" in names,
                     haze="haze" in names)
