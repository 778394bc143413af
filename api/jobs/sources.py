"""The catalogue an order names: checked against the service's settings, resolved once.

An order (over HTTP or from ``l3a build``) names its catalogue: ``demo``, a preset of
`catalog.presets`, a name the settings map to a URL or a file (``L3A_SOURCES``), or, where
allowed, a STAC API URL. `resolve` is the one place that turns that name into a `Source`: what
`catalog.search` is given, and what is known of the items before any search (their mask
flavour and bands, so an order they cannot serve is refused at once rather than failing later).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from api.settings import Settings
from catalog.model import MaskFlavour
from catalog.presets import PRESETS
from engine.errors import InvalidParameter

DEMO = "demo"
FIELD = "source"

# Generating the demo catalogue is not safe to run twice at once in one data dir.
_demo_lock = threading.Lock()


@dataclass(frozen=True)
class Source:
    """A catalogue as an order names it, and what is known of its items before searching."""

    #: The name as stored with the order (and hashed with it).
    name: str
    #: What `catalog.search` is given: a preset name, an http(s) URL or an item file; the
    #: embedded demo stays ``demo`` until `searchable` generates it.
    target: str

    @property
    def flavour(self) -> MaskFlavour | None:
        """The items' mask flavour when known before searching, else None.

        Known: the embedded demo (`catalog.demo.ensure_demo` writes its default, Sen2Cor,
        flavour) and the presets (every one is a Sen2Cor archive). A STAC API URL or an item
        file may hold either: the engine checks the order against the items it finds.
        """
        if self.target == DEMO or self.target in PRESETS:
            return MaskFlavour.SCL
        return None

    @property
    def bands(self) -> tuple[str, ...] | None:
        """The reflectance bands the items carry when known before searching, else None.

        Known: the embedded demo (`catalog.demo.scenes.BANDS`: no ``coastal`` nor ``nir09``).
        The presets carry every band; a URL or a file says so only in its items, and the
        engine names a missing band when it plans.
        """
        if self.target == DEMO:
            from catalog.demo.scenes import BANDS

            return BANDS
        return None

    def searchable(self, data_dir: Path) -> str:
        """What `catalog.search` takes; the demo catalogue is generated on first use."""
        if self.target != DEMO:
            return self.target
        # Imported here: the demo's generator is not what a build over another source needs.
        from catalog.demo import ensure_demo

        with _demo_lock:
            return str(ensure_demo(Path(data_dir)))


def resolve(name: str | None, settings: Settings, *, local_user: bool = False) -> Source:
    """The catalogue ``name`` designates (None: the service's default).

    Args:
        name: as the order gives it.
        settings: the service's sources (``L3A_SOURCE``, ``L3A_SOURCES``) and whether clients
            may name a STAC API URL (``L3A_ALLOW_CLIENT_URLS``).
        local_user: the name comes from ``l3a build`` or ``l3a search`` on the user's own
            machine, which may name any preset, STAC API URL or item file; an HTTP client may
            name only what the settings allow (no endpoint reads a path a client gives).

    Raises:
        InvalidParameter: ``source``, a name this caller may not use.

    """
    allowed = settings.allowed_sources()
    if name is None:
        name = settings.source
    if name in allowed:
        return Source(name, allowed[name])
    if local_user or (settings.allow_client_urls
                      and name.lower().startswith(("https://", "http://"))):
        return Source(name, name)
    hint = " or an http(s) STAC API URL" if settings.allow_client_urls else ""
    raise InvalidParameter(
        FIELD, f"unknown source {name!r}: choose from {', '.join(sorted(allowed))}{hint}"
    )
