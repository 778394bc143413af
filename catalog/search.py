"""The catalogue's one public entry: `search` a source, get normalized items in a fixed order.

The flow, one step a line::

    query  = SearchQuery.create(...)          validate bbox / period / cloud cover
    raw    = <API search | local file read>    item dicts, signed for Planetary Computer
    raw    = [i for i in raw if query.matches] the same client-side filter for every source
    items  = normalize, skipping bad items     a warning names the item and the asset
    sorted by (datetime, id), duplicates out   deterministic, whatever the server's order
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from catalog import local
from catalog.errors import ItemError, SkippedItemWarning, UnknownSource
from catalog.model import NormalizedItem
from catalog.normalize import normalize_item
from catalog.presets import PRESETS, ItemSigner, Preset
from catalog.query import SearchQuery

__all__ = ["DEFAULT_MAX_ITEMS", "PRESETS", "Preset", "SourceLocation", "locate_source", "search"]

logger = logging.getLogger(__name__)

#: Upper bound on items fetched from an API by one search. A month over a few MGRS tiles is
#: tens of items; a year over a country is thousands: beyond that, split the order.
DEFAULT_MAX_ITEMS = 5000


@dataclass(frozen=True)
class SourceLocation:
    """What a ``source`` string designates: an API (url, default collection) or a file."""

    name: str  # for messages: the preset name, the URL or the path as given
    url: str | None = None  # the STAC API landing page
    path: str | None = None  # the local file, absolute
    collection: str | None = None  # the preset's collection
    signer: ItemSigner | None = None


def locate_source(source: str) -> SourceLocation:
    """Tell what a source string is: a preset name, an http(s) STAC API URL or a local file.

    The catalogue's own view of a source, for any caller; which names a service's clients
    may use, and what they stand for, is `api.jobs.sources.resolve`'s business.

    Raises:
        UnknownSource: none of these (a path that does not exist is unknown too).

    """
    if not isinstance(source, str) or not source.strip():
        raise UnknownSource(repr(source), tuple(PRESETS))
    name = source.strip()
    if name in PRESETS:
        preset = PRESETS[name]
        return SourceLocation(
            name, url=preset.url, collection=preset.collection, signer=preset.signer
        )
    if name.lower().startswith(("http://", "https://")):
        return SourceLocation(name, url=name)
    if local.is_local_file(name):
        return SourceLocation(name, path=local.local_path(name))
    raise UnknownSource(name, tuple(PRESETS))


def search(
    source: str,
    bbox: tuple[float, float, float, float],
    start: datetime,
    end: datetime,
    *,
    max_cloud: float | None = None,
    collection: str | None = None,
    timeout: float = 30.0,
    max_retries: int = 3,
    backoff_factor: float = 0.5,
    max_items: int = DEFAULT_MAX_ITEMS,
) -> list[NormalizedItem]:
    """Search a source for Sentinel-2 L2A items and normalize them.

    Args:
        source: a preset name (see `catalog.presets`), an http(s) STAC API URL, or a local
            ``.json`` (ItemCollection or Item) / ``.ndjson`` file.
        bbox: (west, south, east, north) in degrees; west > east crosses the antimeridian.
        start: first instant of the period (naive = UTC), included.
        end: last instant of the period (naive = UTC), included.
        max_cloud: keep items with ``eo:cloud_cover`` strictly below this percentage. Sent
            to the server only when it advertises the query/filter extension; always applied
            on the client too.
        collection: collection id; defaults to the preset's, and to every collection of a
            bare URL or a file.
        timeout: seconds per socket operation of each HTTP request.
        max_retries: retries of a failed request (connection, timeout, 429/502/503/504).
        backoff_factor: first sleep between retries in seconds, doubled each retry.
        max_items: the most items fetched from an API.

    Returns:
        Normalized items sorted by (datetime, id), one per (collection, id). Items that cannot
        be normalized (missing red/green/blue or mask, malformed) are left out, each with a
        `SkippedItemWarning` naming the source, the item and the asset.

    Raises:
        UnknownSource: the source is not a preset, a URL or an existing file.
        InvalidQuery: a parameter is out of its domain.
        SourceUnreachable: the API cannot be connected to.
        SourceTimeout: the API did not answer in time (after the retries).
        InvalidResponse: the API answered an HTTP error or non-STAC content, or the file is
            not an item collection.

    """
    resolved = locate_source(source)
    query = SearchQuery.create(
        bbox,
        start,
        end,
        collection if collection is not None else resolved.collection,
        max_cloud,
    )
    base_href: str | None
    if resolved.url is not None:
        # pystac-client and requests only for a STAC API: a local file needs neither.
        from catalog import stac_api

        raw = stac_api.search_items(
            resolved.url,
            query,
            source=resolved.name,
            timeout=timeout,
            max_retries=max_retries,
            backoff_factor=backoff_factor,
            max_items=max_items,
            signer=resolved.signer,
        )
        base_href = None  # API items are resolved against their own self links
    else:
        assert resolved.path is not None  # locate_source gives a url or a path
        raw = local.read_items(resolved.path, source=resolved.name)
        base_href = resolved.path
    selected = [item for item in raw if not isinstance(item, dict) or query.matches(item)]
    return _normalize_all(selected, resolved.name, base_href)


def _normalize_all(raw: Sequence[Any], source: str, base_href: str | None) -> list[NormalizedItem]:
    """Normalize every item, skipping (with a warning) the ones that cannot be used."""
    items: dict[tuple[str | None, str], NormalizedItem] = {}
    for entry in raw:
        try:
            item = normalize_item(entry, source=source, base_href=base_href)
        except ItemError as exc:
            logger.warning("skipped: %s", exc)
            warnings.warn(f"skipped {exc}", SkippedItemWarning, stacklevel=3)
            continue
        # One entry per (collection, id): paging of a changing catalogue can repeat an item.
        items.setdefault((item.collection, item.id), item)
    # (datetime, id) is the project's order; the collection only breaks ties between the same
    # id in two collections, so that the order never depends on the server's.
    return sorted(items.values(), key=lambda item: (*item.sort_key, item.collection or ""))
