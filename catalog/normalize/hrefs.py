"""Asset and item hrefs: relative hrefs resolved against where the item came from.

Local item files, STAC API pages and items with only a ``self`` link all name their assets
relative to something; this module decides what.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urljoin

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def resolve_href(href: str, base: str | None) -> str:
    """Return an absolute path or URL for ``href``, resolved against ``base`` if relative.

    Args:
        href: the asset href as written in the item.
        base: the path or URL of the file the item came from (its directory is the base).

    Returns:
        ``href`` unchanged when it has a scheme (``https://``, ``s3://`` ...) or is an absolute
        path, or when there is no base; otherwise the joined, normalized path or URL.

    """
    if _SCHEME.match(href) or os.path.isabs(href) or href.startswith("/vsi") or not base:
        return href
    if _SCHEME.match(base):
        return urljoin(base, href)
    return os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(base)), href))


def self_href(item: Mapping[str, Any]) -> str | None:
    """Return the item's own absolute location, the STAC base of its relative hrefs."""
    links = item.get("links")
    if not isinstance(links, list):
        return None
    for link in links:
        if isinstance(link, Mapping) and link.get("rel") == "self":
            href = link.get("href")
            if isinstance(href, str) and (_SCHEME.match(href) or os.path.isabs(href)):
                return href
    return None


def item_url(item: Mapping[str, Any]) -> str | None:
    """The item's ``self`` link when it is an http(s) URL, which a product may cite.

    (A local path or an s3:// location says nothing to the product's readers.)
    """
    href = self_href(item)
    return href if href is not None and href.startswith(("https://", "http://")) else None
