"""Product ids to product files, for the tiler: looked up, never joined from client input.

A request names a product by id. The id must match a strict pattern *and* be the name of a
folder that a scan of the products directory found; the folder's path is then the scan's,
not the client's string. Asset files come from the product's own ``item.json`` and must be
files of that folder. Anything else is `api.problems.NotFound` (404).

Both lookups are cached on the file system's own clock, so a tile request costs two
``stat`` calls, not a directory scan and a JSON parse:

- the products directory is rescanned when its mtime changes (publishing renames a folder
  into it, dismissal removes one: both change it), and when an id is not found;
- a product is re-read when its ``item.json`` changes (mtime or size).
"""

from __future__ import annotations

import copy
import json
import os
import re
import threading
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pystac

from api.problems import NotFound
from engine.parts import PART_FIELD

#: Product ids the service makes are uuid4 hex; `engine` builds may use any plain name. No
#: dot (no ``..``, no hidden staging folder), no separator, bounded length.
PRODUCT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
ITEM_FILE = "item.json"
#: A file of a product folder named by a mosaic: a plain name, no separator, no leading dot.
PRODUCT_FILE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,200}")


@dataclass(frozen=True, eq=False)
class Product:
    """A published product as the tiler reads it.

    Attributes:
        id: the product id (a folder name of the products directory).
        folder: the product folder (from a directory scan).
        item: the product's STAC item as written (relative hrefs).
        files: asset key -> COG path, each a file of ``folder``.
        stac: a copy of the item for rio-tiler's STACReader: absolute hrefs to ``files``.
        stamp: ``item.json`` (mtime_ns, size): the product's version, for caches.

    """

    id: str
    folder: Path
    item: Mapping[str, Any]
    files: Mapping[str, Path]
    stac: pystac.Item
    stamp: tuple[int, int]
    #: Per-product memo (rendering statistics); lives and dies with this version.
    memo: dict[str, Any] = field(default_factory=dict, repr=False)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    #: Files the assets name by file name, by that name: a mosaic's overview levels and
    #: parts (`engine.parts`), which a client reading the mosaic over HTTP asks for.
    named: Mapping[str, Path] = field(default_factory=dict)

    @property
    def item_path(self) -> Path:
        """The product's ``item.json``."""
        return self.folder / ITEM_FILE

    @property
    def properties(self) -> Mapping[str, Any]:
        """The STAC item's properties."""
        props: Mapping[str, Any] = self.item.get("properties", {})
        return props


class ProductCatalogue:
    """Finds products of one products directory by id (thread-safe; shared by requests)."""

    def __init__(self, products_dir: Path) -> None:
        """Serve the products of ``products_dir`` (it may not exist yet)."""
        self.products_dir = Path(products_dir)
        self._lock = threading.Lock()
        self._names: dict[str, Path] = {}
        self._names_stamp: int | None = None
        self._products: dict[str, Product] = {}

    def get(self, product_id: str) -> Product:
        """Return the product called ``product_id``.

        Raises:
            NotFound: the id is not a plain product id, or no such product folder exists,
                or its item cannot be read.

        """
        if not PRODUCT_ID.fullmatch(product_id):
            raise NotFound(f"no product {product_id!r}")
        folder = self._folders().get(product_id)
        if folder is None:
            # Rescan on a miss: a file system whose mtime ticks coarsely could publish a
            # product within the tick of the last scan.
            folder = self._folders(rescan=True).get(product_id)
        if folder is None:
            raise NotFound(f"no product {product_id!r}")
        try:
            st = os.stat(folder / ITEM_FILE)
        except OSError:  # removed since the scan, or still being written
            raise NotFound(f"no product {product_id!r}") from None
        stamp = (st.st_mtime_ns, st.st_size)
        cached = self._products.get(product_id)
        if cached is not None and cached.stamp == stamp:
            return cached
        product = _read_product(product_id, folder, stamp)
        with self._lock:
            self._products[product_id] = product
        return product

    def _folders(self, rescan: bool = False) -> dict[str, Path]:
        """Return folder name -> path of the products directory, rescanned when it changes."""
        try:
            stamp = os.stat(self.products_dir).st_mtime_ns
        except OSError:
            return {}
        if rescan or stamp != self._names_stamp:
            with self._lock:
                names: dict[str, Path] = {}
                with os.scandir(self.products_dir) as entries:
                    for entry in entries:
                        # Plain folders only: a symlink could point anywhere.
                        if PRODUCT_ID.fullmatch(entry.name) and entry.is_dir(
                                follow_symlinks=False):
                            names[entry.name] = Path(entry.path)
                self._names, self._names_stamp = names, stamp
                # Forget products whose folder went away (dismissed jobs).
                for gone in set(self._products) - set(names):
                    del self._products[gone]
        return self._names


def _read_product(product_id: str, folder: Path, stamp: tuple[int, int]) -> Product:
    try:
        item = json.loads((folder / ITEM_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise NotFound(f"product {product_id!r} is not available") from None
    try:
        files = _asset_files(folder, item)
        named = _named_files(folder, files)
        stac = _reader_item(item, files)
    except (pystac.STACError, pystac.STACTypeError, AttributeError, KeyError, TypeError,
            ValueError):
        # Not a STAC item of ours (hand-edited, or truncated): not a product to serve.
        raise NotFound(f"product {product_id!r} is not available") from None
    return Product(id=product_id, folder=folder, item=item, files=files, stac=stac,
                   stamp=stamp, named=named)


def _asset_files(folder: Path, item: Mapping[str, Any]) -> dict[str, Path]:
    """Map each asset key to its file; hrefs that leave the folder are dropped."""
    root = folder.resolve()
    files: dict[str, Path] = {}
    for key, asset in item.get("assets", {}).items():
        href = asset.get("href") if isinstance(asset, dict) else None
        if not isinstance(href, str) or "://" in href:
            continue
        path = (root / href).resolve()
        if path.parent == root and path.is_file():
            files[key] = path
    return files


def _named_files(folder: Path, files: Mapping[str, Path]) -> dict[str, Path]:
    """The files that the assets' VRTs name relative to themselves, and so on, by name.

    Only plain names of files of the folder: a VRT naming anything else names nothing here.
    """
    named: dict[str, Path] = {}
    pending = [path for path in files.values() if path.suffix == ".vrt"]
    while pending:
        try:
            root = ET.parse(pending.pop()).getroot()
        except (OSError, ET.ParseError):
            continue
        for source in root.iter("SourceFilename"):
            name = (source.text or "").strip()
            path = folder / name
            if (source.get("relativeToVRT") != "1" or name in named
                    or not PRODUCT_FILE.fullmatch(name) or not path.is_file()):
                continue
            named[name] = path
            if path.suffix == ".vrt":
                pending.append(path)
    return named


def _reader_item(item: Mapping[str, Any], files: Mapping[str, Path]) -> pystac.Item:
    """Return the pystac item STACReader reads: only the assets with a file, hrefs absolute.

    The part COGs of a product built in parts are left out: the tiler reads each layer's
    mosaic, which covers them all.

    ``raster:bands`` is dropped from this copy: rio-tiler would otherwise warn on every read
    that it carries no statistics. The rendering statistics are ours (`api.tiles.styles`).
    """
    stac = copy.deepcopy(dict(item))
    stac["links"] = []
    assets = {}
    for key, path in files.items():
        asset = dict(stac["assets"][key])
        if PART_FIELD in asset:
            continue
        asset["href"] = str(path)
        asset.pop("raster:bands", None)
        assets[key] = asset
    stac["assets"] = assets
    return pystac.Item.from_dict(stac, preserve_dict=False)
