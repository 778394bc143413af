"""The products as STAC: which there are, which match a search, and their collections.

Products are the successful jobs of the job store whose folder the app's
`api.tiles.products.ProductCatalogue` can read (one ``stat`` per product when its item is
cached). They are listed newest first by (finished, id), a key that a paging token carries:
a product finished after a search started comes before its pages, so following ``next``
links never repeats nor skips one.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from shapely.geometry import box, shape
from shapely.geometry.base import BaseGeometry

from api.jobs.store import JobStore
from api.problems import NotFound
from api.stac.params import Search, SortKey, item_interval
from api.tiles.products import Product, ProductCatalogue
from api.views import collection_id
from catalog.normalize import item_bbox
from engine.contract import METHODS

#: Jobs read from the store per query while listing every product.
_CHUNK = 1000
_SHAPE = "stac:geometry"
#: The Copernicus Sentinel data terms, which the products (modified Sentinel data) carry.
SENTINEL_LICENSE = "https://sentinel.esa.int/documents/247904/690755/Sentinel_Data_Legal_Notice"


@dataclass(frozen=True)
class Entry:
    """A product, where it sorts, and its collection."""

    key: SortKey
    product: Product
    collection: str


def entries(store: JobStore, catalogue: ProductCatalogue) -> list[Entry]:
    """Return every readable product, newest first."""
    found: dict[str, Entry] = {}
    offset = 0
    while True:
        jobs, total = store.products(_CHUNK, offset)
        for job in jobs:
            pid = job.product_id or job.id
            if pid in found:
                continue
            try:
                product = catalogue.get(pid)
            except NotFound:  # removed from disk behind the service's back
                continue
            found[pid] = Entry((job.finished or "", pid), product,
                               collection_id(product.item))
        offset += _CHUNK
        if not jobs or offset >= total:
            break
    return sorted(found.values(), key=lambda e: e.key, reverse=True)


def collection_ids(all_entries: Sequence[Entry]) -> list[str]:
    """Every collection: one per method of the engine, and any other the products name."""
    ids = dict.fromkeys(f"l3a-{method}" for method in METHODS)
    ids.update(dict.fromkeys(e.collection for e in all_entries))
    return list(ids)


def check_collections(wanted: Sequence[str] | None, known: Sequence[str],
                      field: str = "collections") -> None:
    """Refuse a search naming a collection that does not exist (404 naming the field)."""
    for cid in wanted or ():
        if cid not in known:
            raise NotFound(f"no collection {cid!r}; collections: {', '.join(known)}",
                           field=field)


def matches(entry: Entry, query: Search) -> bool:
    """Return whether a product matches every filter of a search (paging aside)."""
    if query.collections is not None and entry.collection not in query.collections:
        return False
    if query.ids is not None and entry.product.id not in query.ids:
        return False
    if query.has_datetime:
        span = item_interval(entry.product.properties)
        if span is None:
            return False
        if query.start is not None and span[1] < query.start:
            return False
        if query.end is not None and span[0] > query.end:
            return False
    if query.geometry is not None:
        footprint = geometry_of(entry.product)
        if footprint is None:
            return False
        try:
            return bool(query.geometry.intersects(footprint))
        except Exception:  # a topology error of GEOS on a degenerate shape: no match
            return False
    return True


def page(all_entries: Sequence[Entry], query: Search) -> tuple[list[Entry], int, bool]:
    """Return a page of the matching products, how many match in all, and if more follow."""
    matched = [e for e in all_entries if matches(e, query)]
    rest = [e for e in matched if query.after is None or e.key < query.after]
    return rest[:query.limit], len(matched), len(rest) > query.limit


def geometry_of(product: Product) -> BaseGeometry | None:
    """Return a product's footprint (its geometry, else its bbox), cached with its version."""
    if _SHAPE not in product.memo:
        product.memo[_SHAPE] = _footprint(product.item)
    geometry: BaseGeometry | None = product.memo[_SHAPE]
    return geometry


def _footprint(item: Any) -> BaseGeometry | None:
    try:
        geometry = shape(item["geometry"])
        if not geometry.is_valid:
            geometry = geometry.buffer(0)
        if not geometry.is_empty:
            return geometry
    except Exception:  # an item of ours always has one; a hand-made one may not
        pass
    bbox = item_bbox(item) if isinstance(item, dict) else None
    return box(*bbox) if bbox is not None else None


def extent(members: Sequence[Entry]) -> dict[str, Any]:
    """Return a collection's extent: the union of its items' bboxes and time spans."""
    boxes, starts, ends = [], [], []
    for entry in members:
        bbox = item_bbox(entry.product.item)
        if bbox is not None and all(math.isfinite(v) for v in bbox):
            boxes.append(bbox)
        span = item_interval(entry.product.properties)
        if span is not None:
            starts.append(span[0])
            ends.append(span[1])
    if boxes:
        spatial = [min(b[0] for b in boxes), min(b[1] for b in boxes),
                   max(b[2] for b in boxes), max(b[3] for b in boxes)]
    else:
        spatial = [-180.0, -90.0, 180.0, 90.0]
    interval: list[str | None] = [None, None]
    if starts:
        interval = [_rfc3339(min(starts)), _rfc3339(max(ends))]
    return {"spatial": {"bbox": [spatial]}, "temporal": {"interval": [interval]}}


def _rfc3339(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def describe(cid: str) -> tuple[str, str]:
    """Return a collection's title and description."""
    method = cid.removeprefix("l3a-")
    what = METHODS.get(method, "products of other methods")
    return (f"Sentinel-2 Level-3A mosaics: {method}",
            f"Cloud-free Sentinel-2 mosaics made on demand by this service with the "
            f"'{method}' method: {what}. Contains modified Copernicus Sentinel data.")


def by_collection(all_entries: Sequence[Entry]) -> Iterator[tuple[str, list[Entry]]]:
    """Return each collection with its products."""
    for cid in collection_ids(all_entries):
        yield cid, [e for e in all_entries if e.collection == cid]
