"""Names of catalogues the service and CLI accept, resolved to what `catalog.search` takes."""

from __future__ import annotations

from pathlib import Path

from catalog.model import MaskFlavour
from catalog.presets import PRESETS

DEMO = "demo"


def resolve_source(name: str, data_dir: Path) -> str:
    """``demo`` becomes the embedded demo catalogue (generated on first use); others pass."""
    if name == DEMO:
        # Imported here: the demo's generator is not what a build over another source needs.
        from catalog.demo import ensure_demo

        return str(ensure_demo(Path(data_dir)))
    return name


def source_flavour(target: str) -> MaskFlavour | None:
    """The mask flavour of a catalogue's items when it is known before searching, else None.

    ``target`` is what `catalog.search` is given (after `api.orders.source_target`). Known:
    the embedded demo (`ensure_demo` writes its default, Sen2Cor, flavour) and the presets
    (every one is a Sen2Cor archive, `catalog.presets`). A STAC API URL or an item file may
    hold either flavour: None, and the engine checks the order against the items it finds.
    """
    if target == DEMO or target in PRESETS:
        return MaskFlavour.SCL
    return None


def source_bands(target: str) -> tuple[str, ...] | None:
    """The reflectance bands a catalogue's items carry when known before searching, else None.

    Known: the embedded demo (`catalog.demo.scenes.BANDS`: no ``coastal`` nor ``nir09``). The
    presets carry every band; a STAC API URL or an item file says so only in its items, and
    the engine names a missing band when it plans.
    """
    if target == DEMO:
        from catalog.demo.scenes import BANDS

        return BANDS
    return None
