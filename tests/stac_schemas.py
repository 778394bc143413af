"""JSON Schema validation of STAC documents against the offline schemas in tests/data.

`tests/data/stac-schemas/map.tsv` maps each schema's canonical URL to its file, so an item is
validated against the STAC item schema and every extension schema it declares, with no
network. A document that declares an extension not in the folder fails: add its schema.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import jsonschema
from referencing import Registry, Resource

from tests.data import STAC_SCHEMAS as SCHEMAS

ITEM_SCHEMA = "https://schemas.stacspec.org/v1.0.0/item-spec/json-schema/item.json"
COLLECTION_SCHEMA = (
    "https://schemas.stacspec.org/v1.0.0/collection-spec/json-schema/collection.json")
CATALOG_SCHEMA = "https://schemas.stacspec.org/v1.0.0/catalog-spec/json-schema/catalog.json"


@cache
def registry() -> Registry:
    """Every schema of the folder, by its canonical URL."""
    resources = []
    for line in (SCHEMAS / "map.tsv").read_text().splitlines():
        if line.strip():
            url, path = line.split("\t")
            contents = json.loads((SCHEMAS / path).read_text())
            resources.append((url, Resource.from_contents(contents)))
    return Registry().with_resources(resources)


def schema_map() -> dict[str, str]:
    """Schema URL -> offline file, as stac-validator's ``schema_map`` takes it."""
    return {url: str(SCHEMAS / path) for url, path in (
        line.split("\t") for line in (SCHEMAS / "map.tsv").read_text().splitlines()
        if line.strip())}


def item_errors(item: dict[str, Any]) -> list[str]:
    """What is wrong with a STAC item: one line per schema error, [] when it is valid."""
    return _errors(ITEM_SCHEMA, item)


def collection_errors(collection: dict[str, Any]) -> list[str]:
    """What is wrong with a STAC collection (and the extensions it declares), [] if valid."""
    return _errors(COLLECTION_SCHEMA, collection)


def catalog_errors(catalog: dict[str, Any]) -> list[str]:
    """What is wrong with a STAC catalog (and the extensions it declares), [] if valid."""
    return _errors(CATALOG_SCHEMA, catalog)


def _errors(core: str, document: dict[str, Any]) -> list[str]:
    errors = []
    for url in (core, *document.get("stac_extensions", [])):
        schema = registry().contents(url)
        validator = jsonschema.Draft7Validator(schema, registry=registry())
        errors += [f"{url}: {'/'.join(map(str, e.absolute_path))}: {e.message}"
                   for error in validator.iter_errors(document) for e in _leaves(error)]
    return errors


def _leaves(error: jsonschema.ValidationError) -> list[jsonschema.ValidationError]:
    """The errors under an anyOf/oneOf, whose own message quotes the whole document."""
    if not error.context:
        return [error]
    return [leaf for sub in error.context for leaf in _leaves(sub)]
