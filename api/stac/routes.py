"""The STAC API routes: landing page (or the viewer), collections, items, search."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import FileResponse, JSONResponse

from api.problems import PROBLEM_RESPONSE, NotFound
from api.routes.landing import CONFORMANCE, OPENAPI_TYPE
from api.services import BaseUrl, ServicesDep
from api.stac import params
from api.stac.index import (
    SENTINEL_LICENSE,
    Entry,
    by_collection,
    check_collections,
    collection_ids,
    describe,
    entries,
    extent,
    page,
)
from api.tiles.deps import product_catalogue
from api.viewer import index_page
from api.views import GEOJSON, JSON, OGC_REL, public_item
from api.views import collection_id as collection_of

router = APIRouter(tags=["STAC"])

STAC_VERSION = "1.0.0"
CATALOG_ID = "l3a"
_JSON_TYPES = ("application/json", "application/geo+json")
_HTML_TYPES = ("text/html", "application/xhtml+xml")
_VARY = {"Vary": "Accept"}
#: Query parameters stay short enough for any URL of a search, percent-encoded (up to 9
#: bytes a character), to fit the server's 16 KiB request head: uvicorn (h11) resets the
#: connection beyond it. Large geometries and id lists go in a POST.
MAX_GET_GEOMETRY, MAX_GET_IDS, MAX_GET_COLLECTIONS, MAX_GET_TOKEN = 600, 400, 200, 256

Limit = Annotated[int, Query(ge=1, le=params.MAX_LIMIT, description="Items per page.")]
BboxQuery = Annotated[str | None, Query(
    max_length=100, description="west,south,east,north (WGS 84); west > east crosses the "
    "antimeridian.", examples=["1.3,43.6,1.5,43.7"])]
DatetimeQuery = Annotated[str | None, Query(
    max_length=100, description="RFC 3339 instant, or START/END with '..' for an open end.",
    examples=["2024-07-01T00:00:00Z/.."])]
TokenQuery = Annotated[str | None, Query(max_length=MAX_GET_TOKEN,
                                         description="Paging token, from a `next` link.")]


class GeoJSONResponse(JSONResponse):
    """JSON with the GeoJSON media type (items and item collections)."""

    media_type = GEOJSON


def prefers_json(accept: str | None) -> bool:
    """Whether an ``Accept`` header prefers JSON to HTML (ties, as ``*/*``, go to JSON).

    No header at all means JSON too: browsers always send one naming ``text/html`` when they
    load a page, while programs often send none (pystac's reader, resolving an item's
    ``root`` link, sends none; requests, hence pystac-client and OWSLib, send ``*/*``).
    """
    if not accept or not accept.strip():
        return True
    ranges: list[tuple[str, float]] = []
    for part in accept.split(","):
        media, *options = (p.strip() for p in part.split(";"))
        q = 1.0
        for option in options:
            name, _, value = option.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = min(max(float(value), 0.0), 1.0)
                except ValueError:
                    q = 0.0
        if media:
            ranges.append((media.lower(), q))

    def quality(types: Sequence[str]) -> float:
        best = 0.0
        for media_type in types:
            major = media_type.split("/")[0]
            found = [(3 if r == media_type else 2 if r == f"{major}/*" else 1, q)
                     for r, q in ranges if r in (media_type, f"{major}/*", "*/*")]
            if found:
                best = max(best, max(found)[1])
        return best

    json_q = quality(_JSON_TYPES)
    return json_q > 0 and json_q >= quality(_HTML_TYPES)


@router.get(
    "/", summary="Landing page (STAC Catalog) or the web viewer",
    response_model=None,
    responses={200: {"content": {JSON: {}, "text/html": {}},
                     "description": "the STAC landing page (JSON clients) or the web viewer "
                     "(browsers)"}})
def landing(
    request: Request,
    services: ServicesDep,
    base: BaseUrl,
    f: Annotated[Literal["json", "html"] | None, Query(
        description="Force the format: json (the STAC Catalog) or html (the viewer).")] = None,
    accept: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> JSONResponse | FileResponse:
    """Answer the STAC landing page to JSON clients, the web viewer to browsers.

    The landing page is a STAC Catalog linking the collections, the item search and the
    OGC API - Processes endpoints (processes, jobs).
    """
    if f == "html" or (f is None and not prefers_json(accept)):
        return index_page()
    found = entries(services.store, product_catalogue(request))
    links: list[dict[str, Any]] = [
        {"rel": "self", "href": f"{base}/", "type": JSON, "title": "this page"},
        {"rel": "root", "href": f"{base}/", "type": JSON},
        {"rel": "alternate", "href": f"{base}/?f=html", "type": "text/html",
         "title": "web viewer"},
        {"rel": "service-desc", "href": f"{base}/openapi.json", "type": OPENAPI_TYPE,
         "title": "OpenAPI"},
        {"rel": "service-doc", "href": f"{base}/docs", "type": "text/html",
         "title": "API documentation"},
        {"rel": "conformance", "href": f"{base}/conformance", "type": JSON,
         "title": "conformance classes"},
        {"rel": f"{OGC_REL}/conformance", "href": f"{base}/conformance", "type": JSON,
         "title": "conformance classes"},
        {"rel": "data", "href": f"{base}/collections", "type": JSON, "title": "collections"},
        {"rel": "search", "href": f"{base}/search", "type": GEOJSON, "method": "GET",
         "title": "item search"},
        {"rel": "search", "href": f"{base}/search", "type": GEOJSON, "method": "POST",
         "title": "item search"},
        {"rel": f"{OGC_REL}/processes", "href": f"{base}/processes", "type": JSON,
         "title": "processes (OGC API - Processes)"},
        {"rel": f"{OGC_REL}/job-list", "href": f"{base}/jobs", "type": JSON,
         "title": "jobs"},
    ]
    links += [{"rel": "child", "href": f"{base}/collections/{cid}", "type": JSON,
               "title": describe(cid)[0]} for cid in collection_ids(found)]
    return JSONResponse({
        "type": "Catalog", "stac_version": STAC_VERSION, "id": CATALOG_ID, "title": "l3a",
        "description": "Sentinel-2 Level-3A mosaics on demand: order them with OGC API - "
        "Processes (process 'mosaic'), find the products with the STAC API.",
        "conformsTo": CONFORMANCE, "links": links,
    }, headers=_VARY)


@router.get("/collections", summary="The collections (one per mosaicking method)")
def list_collections(request: Request, services: ServicesDep, base: BaseUrl
                     ) -> dict[str, Any]:
    """List the STAC collections of products: one per mosaicking method."""
    found = entries(services.store, product_catalogue(request))
    return {
        "collections": [_collection(cid, members, base)
                        for cid, members in by_collection(found)],
        "links": [{"rel": "self", "href": f"{base}/collections", "type": JSON},
                  {"rel": "root", "href": f"{base}/", "type": JSON},
                  {"rel": "parent", "href": f"{base}/", "type": JSON}],
    }


@router.get("/collections/{collection_id}", summary="A collection",
            responses={404: PROBLEM_RESPONSE})
def get_collection(collection_id: str, request: Request, services: ServicesDep,
                   base: BaseUrl) -> dict[str, Any]:
    """Return a STAC collection: its products' extent, links to its items."""
    found = entries(services.store, product_catalogue(request))
    check_collections([collection_id], collection_ids(found), field="collection_id")
    return _collection(collection_id, [e for e in found if e.collection == collection_id],
                       base)


@router.get("/collections/{collection_id}/items", response_class=GeoJSONResponse,
            summary="A collection's items",
            responses={200: {"content": {GEOJSON: {}}, "description": "a page of items"},
                       404: PROBLEM_RESPONSE})
def collection_items(
    collection_id: str, request: Request, services: ServicesDep, base: BaseUrl,
    limit: Limit = params.DEFAULT_LIMIT, bbox: BboxQuery = None,
    datetime: DatetimeQuery = None, token: TokenQuery = None,
) -> GeoJSONResponse:
    """Return a page of a collection's items, newest first (filters: bbox, datetime)."""
    found = entries(services.store, product_catalogue(request))
    check_collections([collection_id], collection_ids(found), field="collection_id")
    query = params.search(bbox=params.bbox_numbers(bbox), datetime=datetime,
                          collections=[collection_id], limit=limit, token=token)
    path = f"/collections/{collection_id}/items"
    items, matched, more = page(found, query)
    links = [
        {"rel": "self", "href": _get_href(base, path, request), "type": GEOJSON},
        {"rel": "root", "href": f"{base}/", "type": JSON},
        {"rel": "parent", "href": f"{base}/collections/{collection_id}", "type": JSON},
        {"rel": "collection", "href": f"{base}/collections/{collection_id}", "type": JSON},
    ]
    if more:
        links.append({"rel": "next", "type": GEOJSON, "method": "GET",
                      "href": _get_href(base, path, request, _token(items))})
    return _features(items, matched, links, base)


@router.get("/collections/{collection_id}/items/{item_id}", response_class=GeoJSONResponse,
            summary="An item",
            responses={200: {"content": {GEOJSON: {}}, "description": "a STAC item"},
                       404: PROBLEM_RESPONSE})
def collection_item(collection_id: str, item_id: str, request: Request,
                    services: ServicesDep, base: BaseUrl) -> GeoJSONResponse:
    """Return one product's STAC item, in its collection."""
    job = services.store.product_job(item_id)
    if job is None or job.product_id is None:
        raise NotFound(f"no item {item_id!r}", field="item_id")
    product = product_catalogue(request).get(job.product_id)
    entry = Entry((job.finished or "", product.id), product, collection_of(product.item))
    if entry.collection != collection_id:
        raise NotFound(f"no item {item_id!r} in collection {collection_id!r}",
                       field="item_id")
    return GeoJSONResponse(_item(entry, base))


@router.get("/search", response_class=GeoJSONResponse, summary="Search items (GET)",
            responses={200: {"content": {GEOJSON: {}}, "description": "a page of items"},
                       404: PROBLEM_RESPONSE})
def search_get(
    request: Request, services: ServicesDep, base: BaseUrl,
    limit: Limit = params.DEFAULT_LIMIT, bbox: BboxQuery = None,
    intersects: Annotated[str | None, Query(
        max_length=MAX_GET_GEOMETRY,
        description="A GeoJSON geometry (JSON text); not with bbox. A large one: POST.")
    ] = None,
    datetime: DatetimeQuery = None,
    ids: Annotated[str | None, Query(max_length=MAX_GET_IDS,
                                     description="Item ids, comma-separated.")] = None,
    collections: Annotated[str | None, Query(
        max_length=MAX_GET_COLLECTIONS, description="Collection ids, comma-separated.")] = None,
    token: TokenQuery = None,
) -> GeoJSONResponse:
    """Search products across collections, newest first."""
    query = params.search(
        bbox=params.bbox_numbers(bbox), intersects=intersects, datetime=datetime,
        ids=params.split_list(ids, "ids"),
        collections=params.split_list(collections, "collections"), limit=limit, token=token)
    found = entries(services.store, product_catalogue(request))
    check_collections(query.collections, collection_ids(found))
    items, matched, more = page(found, query)
    links = [{"rel": "self", "href": _get_href(base, "/search", request), "type": GEOJSON},
             {"rel": "root", "href": f"{base}/", "type": JSON}]
    if more:
        links.append({"rel": "next", "type": GEOJSON, "method": "GET",
                      "href": _get_href(base, "/search", request, _token(items))})
    return _features(items, matched, links, base)


@router.post("/search", response_class=GeoJSONResponse, summary="Search items (POST)",
             responses={200: {"content": {GEOJSON: {}}, "description": "a page of items"},
                        404: PROBLEM_RESPONSE})
def search_post(body: params.SearchBody, request: Request, services: ServicesDep,
                base: BaseUrl) -> GeoJSONResponse:
    """Search products across collections, newest first (the STAC API's JSON body)."""
    query = params.search(
        bbox=body.bbox, intersects=body.intersects, datetime=body.datetime, ids=body.ids,
        collections=body.collections, limit=body.limit, token=body.token)
    found = entries(services.store, product_catalogue(request))
    check_collections(query.collections, collection_ids(found))
    items, matched, more = page(found, query)
    links: list[dict[str, Any]] = [{"rel": "root", "href": f"{base}/", "type": JSON}]
    if more:
        # STAC API - Item Search: a POST next link carries the whole body, token included.
        next_body = {**body.model_dump(exclude_none=True), "token": _token(items)}
        links.append({"rel": "next", "href": f"{base}/search", "type": GEOJSON,
                      "method": "POST", "body": next_body, "merge": False})
    return _features(items, matched, links, base)


def _token(items: Sequence[Entry]) -> str:
    return params.encode_token(items[-1].key)


def _get_href(base: str, path: str, request: Request, token: str | None = None) -> str:
    """Return this request's URL under ``base``; with ``token``, the next page's."""
    query = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
    if token is not None:
        query.append(("token", token))
    return f"{base}{path}" + (f"?{urlencode(query)}" if query else "")


def _item(entry: Entry, base: str) -> dict[str, Any]:
    return public_item(entry.product.item, base, self_href=(
        f"{base}/collections/{entry.collection}/items/{entry.product.id}"))


def _features(items: Sequence[Entry], matched: int, links: list[dict[str, Any]],
              base: str) -> GeoJSONResponse:
    return GeoJSONResponse({
        "type": "FeatureCollection", "features": [_item(e, base) for e in items],
        "numberMatched": matched, "numberReturned": len(items), "links": links,
    })


def _collection(cid: str, members: Sequence[Entry], base: str) -> dict[str, Any]:
    title, description = describe(cid)
    method = cid.removeprefix("l3a-")
    gsd = sorted({float(g) for e in members
                  if isinstance(g := e.product.properties.get("gsd"), int | float)})
    summaries: dict[str, Any] = {"constellation": ["sentinel-2"], "l3a:method": [method]}
    if gsd:
        summaries["gsd"] = gsd
    href = f"{base}/collections/{cid}"
    return {
        "type": "Collection", "stac_version": STAC_VERSION, "stac_extensions": [],
        "id": cid, "title": title, "description": description,
        "keywords": ["Sentinel-2", "Level-3A", "mosaic", "cloud-free", method],
        # Copernicus Sentinel data are free and open under the EU's terms: not an SPDX
        # licence, hence "other" and a link to the legal notice.
        "license": "other",
        "providers": [
            {"name": "European Space Agency (Copernicus Sentinel-2)",
             "roles": ["producer", "licensor"],
             "url": "https://sentinel.esa.int/web/sentinel/missions/sentinel-2"},
            {"name": "l3a", "roles": ["processor", "host"],
             "description": "Level-3A mosaics made on demand by this service."},
        ],
        "extent": extent(members),
        "summaries": summaries,
        "links": [
            {"rel": "self", "href": href, "type": JSON},
            {"rel": "root", "href": f"{base}/", "type": JSON},
            {"rel": "parent", "href": f"{base}/", "type": JSON},
            {"rel": "items", "href": f"{href}/items", "type": GEOJSON},
            {"rel": "license", "href": SENTINEL_LICENSE,
             "title": "Legal notice on the use of Copernicus Sentinel data"},
        ],
    }
