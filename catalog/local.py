"""Items from a local file: a STAC ItemCollection (FeatureCollection), one Item, or ndjson.

This is the embedded default source (the project's demo and test data need no server). The
file is read whole: item files of a few thousand items are a few MB. Filtering is the same
`SearchQuery.matches` an API's answer goes through.
"""

from __future__ import annotations

import json
import os
from typing import Any

from catalog.errors import InvalidResponse

#: File name endings read as newline-delimited JSON (one item a line).
NDJSON_SUFFIXES = (".ndjson", ".jsonl", ".geojsonl")


def read_items(path: str, *, source: str | None = None) -> list[dict[str, Any]]:
    """Every item dict in a local file, in file order.

    Args:
        path: a ``.json`` / ``.geojson`` file holding a FeatureCollection or a Feature, or an
            ``.ndjson`` file with one Feature a line. Another ending is sniffed: a single JSON
            document, else ndjson.
        source: the name used in error messages (defaults to ``path``).

    Returns:
        The items as dicts. Entries that are not JSON objects are returned as they are, so that
        normalization reports them as malformed items instead of failing the whole file.

    Raises:
        InvalidResponse: the file cannot be read, is not JSON / ndjson, or holds no items
            (a STAC Catalog or Collection, for example).

    """
    name = source or path
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidResponse(name, f"cannot read the file: {exc}") from exc
    if path.lower().endswith(NDJSON_SUFFIXES):
        return _ndjson(text, name)
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        # Several JSON documents one after the other: ndjson under another name.
        if exc.msg == "Extra data":
            return _ndjson(text, name)
        raise InvalidResponse(name, f"not JSON: {exc}") from exc
    return _items_of(document, name)


def _ndjson(text: str, name: str) -> list[dict[str, Any]]:
    items: list[Any] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            items.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise InvalidResponse(name, f"line {number} is not JSON: {exc}") from exc
    return items


def _items_of(document: Any, name: str) -> list[Any]:
    if isinstance(document, dict):
        kind = document.get("type")
        if kind == "FeatureCollection":
            features = document.get("features")
            if not isinstance(features, list):
                raise InvalidResponse(name, "FeatureCollection without a features list")
            return features
        if kind == "Feature":
            return [document]
        raise InvalidResponse(
            name,
            f"a JSON object of type {kind!r}, not a STAC ItemCollection or Item "
            "(catalogs and collections are not walked; export their items to ndjson)",
        )
    if isinstance(document, list):  # a bare list of items, as some tools write
        return document
    raise InvalidResponse(name, f"JSON {type(document).__name__}, not an item collection")


def is_local_file(source: str) -> bool:
    """Whether ``source`` names an existing regular file (``~`` and ``file://`` accepted)."""
    return os.path.isfile(local_path(source))


def local_path(source: str) -> str:
    """Return the absolute filesystem path of a local source."""
    path = source[len("file://") :] if source.startswith("file://") else source
    return os.path.abspath(os.path.expanduser(path))
