"""The catalogue's exceptions and warnings: one small typed hierarchy.

The API maps these classes to HTTP problems in one table (a source that cannot be reached is
a 502, a source that is too slow a 504, an unknown source name a 400 ...), so each class
carries the fields a user needs to act on it (``source``, ``item_id``, ``asset``) both as
attributes and in its message. ``engine.errors`` is separate on purpose: the engine never
talks to a catalogue.

Hierarchy::

    CatalogError
    +-- UnknownSource        (also ValueError) not a preset, an http(s) URL or an existing file
    +-- InvalidQuery         (also ValueError) bbox / period / max_cloud out of their domain
    +-- SourceError          the source as a whole failed
    |   +-- SourceUnreachable    connection refused, DNS failure, network down
    |   +-- SourceTimeout        no answer within the timeout (after the retries)
    |   +-- InvalidResponse      HTTP error status, not JSON, not a STAC API / item file
    +-- ItemError            one item cannot be used (search() skips it with a warning)
        +-- MalformedItem        no id, no datetime, no assets ...
        +-- MissingAsset         a required asset (red, green, blue, a mask) is absent
"""

from __future__ import annotations


def item_prefix(source: str, item_id: str | None = None) -> str:
    """``"<source>: item '<id>'"``, leaving out what is unknown."""
    parts = []
    if source:
        parts.append(source)
    if item_id is not None:
        parts.append(f"item {item_id!r}")
    return ": ".join(parts)


def _join(prefix: str, message: str) -> str:
    return f"{prefix}: {message}" if prefix else message


class CatalogError(Exception):
    """Base of every error the catalogue raises on purpose."""


class UnknownSource(CatalogError, ValueError):
    """The source is neither a preset name, an http(s) URL nor an existing local file."""

    def __init__(self, source: str, known: tuple[str, ...] = ()) -> None:
        self.source = source
        self.known = known
        names = ", ".join(known) if known else "none"
        super().__init__(
            f"unknown source {source!r}: not a preset ({names}), an http(s) STAC API URL "
            "or an existing .json / .geojson / .ndjson file"
        )


class InvalidQuery(CatalogError, ValueError):
    """A search parameter is out of its domain; ``field`` names it for the user."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


class SourceError(CatalogError):
    """The source as a whole failed to answer usefully. ``source`` names it."""

    def __init__(self, source: str, message: str) -> None:
        self.source = source
        super().__init__(_join(source, message))


class SourceUnreachable(SourceError):
    """No connection could be made (refused, DNS failure, network unreachable)."""


class SourceTimeout(SourceError):
    """The source accepted the connection but did not answer within the timeout."""

    def __init__(self, source: str, timeout: float, message: str = "") -> None:
        self.timeout = timeout
        detail = f"no answer within {timeout:g} s"
        super().__init__(source, f"{detail} ({message})" if message else detail)


class InvalidResponse(SourceError):
    """The source answered, but with an HTTP error or content that is not STAC."""

    def __init__(self, source: str, message: str, status_code: int | None = None) -> None:
        self.status_code = status_code
        super().__init__(source, message)


class ItemError(CatalogError):
    """One item cannot be normalized. ``search`` skips such items with a warning."""

    def __init__(self, source: str, item_id: str | None, message: str) -> None:
        self.source = source
        self.item_id = item_id
        self.reason = message
        super().__init__(_join(item_prefix(source, item_id), message))


class MalformedItem(ItemError):
    """The item lacks what every STAC item must have here (id, datetime, assets, bbox)."""


class MissingAsset(ItemError):
    """A required asset is absent; ``asset`` is the common name asked for (``red``, ``scl``)."""

    def __init__(self, source: str, item_id: str | None, asset: str, hint: str = "") -> None:
        self.asset = asset
        message = f"missing required asset {asset!r}"
        super().__init__(source, item_id, f"{message} ({hint})" if hint else message)


class CatalogWarning(UserWarning):
    """Base of the catalogue's warnings."""


class SkippedItemWarning(CatalogWarning):
    """An item of a search result was left out because it could not be normalized."""


class SkippedAssetWarning(CatalogWarning):
    """An optional asset of an item was left out (present but unusable); the item is kept."""


class TruncatedResultsWarning(CatalogWarning):
    """A search hit its item limit: later items were not fetched."""
