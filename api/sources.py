"""Names of catalogues the service and CLI accept, resolved to what `catalog.search` takes."""

from __future__ import annotations

from pathlib import Path

from catalog.demo import ensure_demo

DEMO = "demo"


def resolve_source(name: str, data_dir: Path) -> str:
    """``demo`` becomes the embedded demo catalogue (generated on first use); others pass."""
    if name == DEMO:
        return str(ensure_demo(Path(data_dir)))
    return name
