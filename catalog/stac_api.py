"""Items from a STAC API, through pystac-client, with bounded retries and typed errors.

Why the details below:

- Items are taken as dicts (``items_as_dicts``), never as pystac objects: pystac migrates
  ``proj:epsg`` to ``proj:code`` and we normalize the item as its catalogue wrote it.
- Cloud cover is filtered on the server only when the landing page's ``conformsTo`` advertises
  the query (or filter) extension. ``rustac serve``'s memory backend, for one, does not
  advertise it and answers a search with ``query`` or ``filter`` with *no items at all*; the
  caller filters the answer client-side anyway (`catalog.query.SearchQuery.matches`).
- Retries: urllib3's ``Retry`` inside pystac-client's ``StacApiIO`` retries connection
  failures, read timeouts and 429/502/503/504 with exponential backoff
  (``backoff_factor * 2**(n-1)`` seconds, at most `BACKOFF_MAX`), on POST too (a search is
  idempotent). ``Retry-After`` is not honoured so that the total time stays bounded: about
  ``(max_retries + 1) * timeout`` plus the backoff sum per request. ``timeout`` is requests'
  per-socket-operation timeout (connect, then each read), not a deadline for a whole answer.
- pystac-client turns every transport failure into ``APIError(str(exc))``; the original
  exception survives as ``__context__``. `_as_catalog_error` walks that chain to tell a refused
  connection (`SourceUnreachable`) from a silent server (`SourceTimeout`).
"""

from __future__ import annotations

import json
import logging
import socket
import warnings
from collections.abc import Iterator, Sequence
from typing import Any, Literal

import requests
import urllib3.exceptions
from pystac_client import Client
from pystac_client.exceptions import APIError
from pystac_client.stac_api_io import StacApiIO
from pystac_client.warnings import PystacClientWarning
from urllib3.util.retry import Retry

from catalog.errors import (
    CatalogError,
    InvalidQuery,
    InvalidResponse,
    SourceTimeout,
    SourceUnreachable,
    TruncatedResultsWarning,
)
from catalog.presets import ItemSigner
from catalog.query import SearchQuery

logger = logging.getLogger(__name__)

#: Items asked per page. Earth Search and CDSE cap pages at 100 or more; 100 is safe everywhere.
PAGE_SIZE = 100
#: Longest single backoff sleep between retries, seconds.
BACKOFF_MAX = 10.0
#: Transient HTTP statuses worth retrying (throttling, gateway trouble). 500 is not: it is
#: usually a deterministic server bug (rustac answers 500 to some GET parameters).
RETRY_STATUSES = frozenset({429, 502, 503, 504})

ServerFilter = Literal["query", "filter"]


def retry_policy(max_retries: int, backoff_factor: float) -> Retry:
    """Build the urllib3 retry policy of every request to a STAC API.

    Args:
        max_retries: retries after the first attempt (0 = a single attempt).
        backoff_factor: first backoff sleep in seconds, doubled at each retry.

    Raises:
        InvalidQuery: negative retries or backoff.

    """
    if max_retries < 0:
        raise InvalidQuery("max_retries", f"{max_retries} is negative")
    if backoff_factor < 0:
        raise InvalidQuery("backoff_factor", f"{backoff_factor} is negative")
    return Retry(
        total=max_retries,
        connect=max_retries,
        read=max_retries,
        status=max_retries,
        other=0,
        allowed_methods=None,  # retry POST searches too: they change nothing on the server
        status_forcelist=RETRY_STATUSES,
        backoff_factor=backoff_factor,
        backoff_max=BACKOFF_MAX,
        raise_on_status=False,  # after the last retry, the error response itself is reported
        respect_retry_after_header=False,  # a server's Retry-After could exceed any deadline
    )


def server_filter(conforms_to: Sequence[str]) -> ServerFilter | None:
    """Which cloud-cover filter the server advertises: the query extension, CQL2, or none."""
    if any(uri.endswith("/item-search#query") for uri in conforms_to):
        return "query"
    if any(
        uri.endswith("/item-search#filter") or "/ogcapi-features-3/" in uri for uri in conforms_to
    ):
        return "filter"
    return None


def search_items(
    url: str,
    query: SearchQuery,
    *,
    source: str,
    timeout: float,
    max_retries: int,
    backoff_factor: float,
    max_items: int,
    signer: ItemSigner | None = None,
) -> list[dict[str, Any]]:
    """Search a STAC API and return the raw item dicts (signed if a signer is given).

    Args:
        url: the API landing page.
        query: what to search; ``query.collection`` (if any) is sent as ``collections``.
        source: the source's name for messages (preset name or URL).
        timeout: seconds per socket operation.
        max_retries: retries per request after the first attempt.
        backoff_factor: first backoff sleep between retries, in seconds.
        max_items: the most items fetched; a `TruncatedResultsWarning` says when it is hit.
        signer: applied to every item dict (Planetary Computer SAS tokens).

    Returns:
        The items, in the server's order (the caller sorts).

    Raises:
        SourceUnreachable: no connection could be made.
        SourceTimeout: the server did not answer in time, retries included.
        InvalidResponse: an HTTP error status, or an answer that is not a STAC API.

    """
    if timeout <= 0:
        raise InvalidQuery("timeout", f"{timeout} is not a positive number of seconds")
    if max_items < 1:
        raise InvalidQuery("max_items", f"{max_items} is not a positive count")
    stac_io = StacApiIO(timeout=timeout, max_retries=retry_policy(max_retries, backoff_factor))
    with warnings.catch_warnings():
        # pystac-client warns about conformance it lacks; we decide from conformsTo ourselves.
        warnings.simplefilter("ignore", PystacClientWarning)
        try:
            # timeout again here: Client.open hands it to stac_io.update(), which would
            # otherwise reset the timeout set above to None (wait forever).
            client = Client.open(url, stac_io=stac_io, timeout=timeout)
            parameters = _search_parameters(query, server_filter(client.get_conforms_to()))
            logger.debug("searching %s with %s", source, parameters)
            search = client.search(max_items=max_items, limit=PAGE_SIZE, **parameters)
            items = list(search.items_as_dicts())
        except CatalogError:
            raise
        except Exception as exc:
            raise _as_catalog_error(exc, source, timeout) from exc
        finally:
            stac_io.session.close()
    if len(items) >= max_items:
        warnings.warn(
            f"{source}: the search stopped at max_items={max_items}; later items were not "
            "fetched (narrow the bbox or period, or raise max_items)",
            TruncatedResultsWarning,
            stacklevel=3,
        )
    if signer is not None:
        items = [signer(item) if isinstance(item, dict) else item for item in items]
    return items


def _search_parameters(query: SearchQuery, supported: ServerFilter | None) -> dict[str, Any]:
    parameters: dict[str, Any] = {
        "bbox": list(query.bbox),
        "datetime": (query.start, query.end),
    }
    if query.collection is not None:
        parameters["collections"] = [query.collection]
    if query.max_cloud is not None:
        if supported == "query":
            parameters["query"] = {"eo:cloud_cover": {"lt": query.max_cloud}}
        elif supported == "filter":
            parameters["filter"] = {
                "op": "<",
                "args": [{"property": "eo:cloud_cover"}, query.max_cloud],
            }
            parameters["filter_lang"] = "cql2-json"
        # else: the server would ignore it, or worse (rustac returns nothing): client-side.
    return parameters


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """Yield the exception and all it wraps: __cause__, __context__, urllib3 reasons, args."""
    seen: set[int] = set()
    stack = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        wrapped: list[BaseException | None] = [current.__cause__, current.__context__]
        wrapped.append(getattr(current, "reason", None))  # urllib3 MaxRetryError
        wrapped.extend(a for a in current.args if isinstance(a, BaseException))
        stack.extend(w for w in wrapped if isinstance(w, BaseException))


def _as_catalog_error(exc: Exception, source: str, timeout: float) -> CatalogError:
    """Map a failure of pystac-client / requests / urllib3 to its typed catalogue error."""
    causes = list(_causes(exc))
    # urllib3's NewConnectionError subclasses its ConnectTimeoutError for historical reasons:
    # a refused connection must be checked before timeouts.
    refused = (urllib3.exceptions.NewConnectionError, ConnectionRefusedError, socket.gaierror)
    if any(isinstance(c, refused) for c in causes):
        return SourceUnreachable(source, f"cannot connect ({_short(causes, refused)})")
    timeouts = (requests.exceptions.Timeout, urllib3.exceptions.TimeoutError, TimeoutError)
    if any(isinstance(c, timeouts) for c in causes):
        return SourceTimeout(source, timeout)
    if any(isinstance(c, requests.exceptions.ConnectionError) for c in causes):
        return SourceUnreachable(source, f"connection failed ({_short(causes)})")
    if isinstance(exc, APIError):
        status = getattr(exc, "status_code", None)
        text = " ".join(str(exc).split())[:300]
        if status is not None:
            return InvalidResponse(source, f"HTTP {status}: {text}", status_code=status)
        return InvalidResponse(source, text)
    if isinstance(exc, json.JSONDecodeError):
        return InvalidResponse(source, f"answer is not JSON ({exc})")
    return InvalidResponse(source, f"not a usable STAC API ({type(exc).__name__}: {exc})")


def _short(
    causes: Sequence[BaseException],
    kinds: tuple[type[BaseException], ...] = (Exception,),
) -> str:
    """Describe the innermost matching cause on one line."""
    for cause in reversed(causes):
        if isinstance(cause, kinds):
            text = " ".join(str(cause).split())
            return f"{type(cause).__name__}: {text}"[:300]
    return type(causes[0]).__name__
