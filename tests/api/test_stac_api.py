"""The products as a STAC API, used by clients no one here wrote: pystac-client, pystac, OWSLib.

The module runs its own server with three products it ordered (two syntheses, one
composite), so that a search can be checked to return exactly the products it should.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pystac
import pytest
from owslib.ogcapi.processes import Processes
from pystac_client import Client
from pystac_client.conformance import ConformanceClasses

from api.routes.landing import CONFORMANCE
from api.stac.routes import prefers_json
from tests.api.support import EXECUTE, Server, assert_problem, order, small_bbox, wait_final
from tests.stac_schemas import catalog_errors, collection_errors, item_errors, schema_map

JULY = "2024-07-01T00:00:00Z/2024-07-31T23:59:59Z"
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"
#: (name, method, area): two products of one collection, one of another, apart.
ORDERS = [("a", "synthesis", small_bbox(11)), ("b", "synthesis", small_bbox(13)),
          ("c", "composite", small_bbox(27))]


@pytest.fixture(scope="module")
def stac_server(make_server: type[Server]) -> Server:
    return make_server("stac").start()


@pytest.fixture(scope="module")
def client(stac_server: Server) -> Iterator[httpx.Client]:
    with stac_server.client() as http:
        yield http


@pytest.fixture(scope="module")
def products(client: httpx.Client) -> dict[str, dict[str, Any]]:
    """name -> the product's item (from ``/products/{id}``), every order finished."""
    jobs = {}
    for name, method, bbox in ORDERS:
        response = client.post(EXECUTE, json=order(bbox=bbox, method=method, bands=["red"],
                                                    resolution=20))
        assert response.status_code == 201, response.text
        jobs[name] = response.json()["jobID"]
    items = {}
    for name, job_id in jobs.items():
        done = wait_final(client, job_id)
        assert done["status"] == "successful", done
        items[name] = client.get(f"/products/{job_id}").json()
    return items


def inner(bbox: list[float], margin: float = 0.01) -> list[float]:
    """A box well inside ``bbox``: it meets no neighbouring product."""
    w, s, e, n = bbox
    return [w + margin, s + margin / 2, e - margin, n - margin / 2]


def test_pystac_client_opens_the_service_and_lists_the_collections(
        stac_server: Server, products: dict[str, dict[str, Any]]) -> None:
    catalog = Client.open(stac_server.url)
    for conformance in (ConformanceClasses.CORE, ConformanceClasses.ITEM_SEARCH,
                        ConformanceClasses.COLLECTIONS, ConformanceClasses.FEATURES):
        assert catalog.conforms_to(conformance)
    collections = {c.id: c for c in catalog.get_collections()}
    assert {"l3a-synthesis", "l3a-composite", "l3a-median"} <= set(collections)
    synthesis = collections["l3a-synthesis"].extent
    west, south, east, north = synthesis.spatial.bboxes[0]
    for name in ("a", "b"):
        w, s, e, n = products[name]["bbox"]
        assert west <= w and south <= s and east >= e and north >= n
    start, end = synthesis.temporal.intervals[0]
    assert start is not None and end is not None
    assert (start.isoformat(), end.isoformat()) == (
        "2024-07-01T00:00:00+00:00", "2024-07-31T23:59:59+00:00")
    assert [i.id for i in catalog.get_collection("l3a-composite").get_items()] == [
        products["c"]["id"]]


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_search_by_bbox_and_datetime_finds_that_product_only(
        stac_server: Server, products: dict[str, dict[str, Any]], method: str) -> None:
    catalog = Client.open(stac_server.url)
    found = catalog.search(bbox=inner(products["a"]["bbox"]), datetime=JULY, max_items=10,
                           method=method)
    items = list(found.items())
    assert [i.id for i in items] == [products["a"]["id"]]
    assert items[0].collection_id == "l3a-synthesis"
    assert list(catalog.search(bbox=inner(products["a"]["bbox"]), datetime="2023-07",
                               method=method).items()) == []
    every = catalog.search(datetime="2024-07-15T12:00:00Z", method=method,
                           collections=["l3a-synthesis"])
    assert {i.id for i in every.items()} == {products["a"]["id"], products["b"]["id"]}


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_intersects_and_ids_search(stac_server: Server, products: dict[str, dict[str, Any]],
                                   method: str) -> None:
    catalog = Client.open(stac_server.url)
    w, s, e, n = inner(products["c"]["bbox"])
    triangle = {"type": "Polygon", "coordinates": [[[w, s], [e, s], [w, n], [w, s]]]}
    found = catalog.search(intersects=triangle, method=method)
    assert [i.id for i in found.items()] == [products["c"]["id"]]
    ids = [products["a"]["id"], products["c"]["id"], "no-such-product"]
    assert {i.id for i in catalog.search(ids=ids, method=method).items()} == set(ids[:2])


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_paging_one_by_one_returns_every_product_once(
        stac_server: Server, client: httpx.Client, products: dict[str, dict[str, Any]],
        method: str) -> None:
    catalog = Client.open(stac_server.url)
    ids = [i.id for i in catalog.search(limit=1, method=method).items()]
    assert sorted(ids) == sorted(p["id"] for p in products.values())
    synthesis = [i.id for i in catalog.search(limit=1, method=method,
                                              collections=["l3a-synthesis"]).items()]
    assert sorted(synthesis) == sorted([products["a"]["id"], products["b"]["id"]])
    # The first page's next link, as the STAC API spells it for each method.
    if method == "GET":
        first = client.get("/search", params={"limit": 1}).json()
        link = next(link for link in first["links"] if link["rel"] == "next")
        assert "token=" in link["href"] and "limit=1" in link["href"]
    else:
        first = client.post("/search", json={"limit": 1}).json()
        link = next(link for link in first["links"] if link["rel"] == "next")
        assert link["method"] == "POST" and link["body"]["limit"] == 1
        assert link["body"]["token"]
    assert first["numberReturned"] == 1 and first["numberMatched"] == len(products)


def test_collection_items_page_with_next_links(client: httpx.Client,
                                               products: dict[str, dict[str, Any]]) -> None:
    url: str | None = "/collections/l3a-synthesis/items?limit=1"
    seen = []
    while url is not None:
        page = client.get(url)
        assert page.status_code == 200
        assert page.headers["content-type"] == "application/geo+json"
        body = page.json()
        assert body["numberReturned"] == len(body["features"]) <= 1
        seen += [f["id"] for f in body["features"]]
        url = next((link["href"] for link in body["links"] if link["rel"] == "next"), None)
    assert sorted(seen) == sorted([products["a"]["id"], products["b"]["id"]])
    outside = client.get("/collections/l3a-synthesis/items",
                         params={"bbox": ",".join(map(str, inner(products["c"]["bbox"])))})
    assert outside.json()["features"] == []


def test_owslib_lists_the_mosaic_process(stac_server: Server) -> None:
    service = Processes(stac_server.url)
    assert "mosaic" in [p["id"] for p in service.processes()]
    assert service.process("mosaic")["id"] == "mosaic"


def test_landing_collections_and_items_validate_against_the_stac_schemas(
        client: httpx.Client, products: dict[str, dict[str, Any]]) -> None:
    landing = client.get("/", headers={"Accept": "application/json"}).json()
    assert catalog_errors(landing) == []
    assert landing["conformsTo"] == CONFORMANCE
    rels = {(link["rel"], link.get("method")) for link in landing["links"]}
    assert {("search", "GET"), ("search", "POST"), ("data", None), ("conformance", None),
            ("service-desc", None), ("service-doc", None),
            ("http://www.opengis.net/def/rel/ogc/1.0/processes", None),
            ("http://www.opengis.net/def/rel/ogc/1.0/job-list", None)} <= rels
    collections = client.get("/collections").json()["collections"]
    assert collections
    for collection in collections:
        assert collection_errors(collection) == [], collection["id"]
        one = client.get(f"/collections/{collection['id']}").json()
        assert one == collection
        for item in client.get(f"/collections/{collection['id']}/items",
                               params={"limit": 1000}).json()["features"]:
            assert item["collection"] == collection["id"]
            assert item_errors(item) == [], item["id"]
            alone = client.get(f"/collections/{collection['id']}/items/{item['id']}")
            assert alone.json() == item
    for item in products.values():
        assert item_errors(item) == []


def test_product_items_link_their_collection_and_the_root(
        stac_server: Server, products: dict[str, dict[str, Any]]) -> None:
    url = f"{stac_server.url}/products/{products['c']['id']}"
    item = pystac.Item.from_file(url)
    parent = item.get_parent()
    assert isinstance(parent, pystac.Collection) and parent.id == "l3a-composite"
    assert item.get_collection() is not None
    links = {link.rel: link.href for link in item.links}
    assert links["root"] == f"{stac_server.url}/"
    assert links["self"] == url  # the product URL is kept; its assets too
    assert item.assets["red"].href == f"{url}/assets/red"


def test_browsers_still_get_the_viewer(client: httpx.Client) -> None:
    for headers in ({"Accept": BROWSER}, {"Accept": "text/html"}):
        page = client.get("/", headers=headers)
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "accept" in page.headers["vary"].lower()
    forced = client.get("/?f=json", headers={"Accept": BROWSER})
    assert forced.json()["type"] == "Catalog"
    assert client.get("/?f=html").headers["content-type"].startswith("text/html")


@pytest.mark.parametrize(("accept", "json_wanted"), [
    (None, True), ("", True), (BROWSER, False), ("text/html", False),
    ("*/*", True), ("application/json", True), ("application/geo+json", True),
    ("text/html;q=0.5, application/json", True), ("application/json;q=0.1, text/*", False),
    ("application/*", True), ("image/png", False),
])
def test_content_negotiation(accept: str | None, json_wanted: bool) -> None:
    assert prefers_json(accept) is json_wanted


BAD_GETS = [
    ("/search?bbox=1,2,3", 422, "bbox"),
    ("/search?bbox=a,b,c,d", 422, "bbox"),
    ("/search?bbox=1.4,43.7,1.3,43.6,", 422, "bbox"),
    ("/search?bbox=1.3,43.7,1.4,43.6", 422, "bbox"),  # south of north: inverted
    ("/search?bbox=1,95,2,96", 422, "bbox"),
    ("/search?datetime=yesterday", 422, "datetime"),
    ("/search?datetime=../..", 422, "datetime"),
    ("/search?datetime=2024-07-31T00:00:00Z/2024-07-01T00:00:00Z", 422, "datetime"),
    ("/search?datetime=2024-02-30T00:00:00Z", 422, "datetime"),
    ("/search?limit=0", 422, "limit"),
    ("/search?limit=100000", 422, "limit"),
    ("/search?collections=nope", 404, "collections"),
    ("/search?token=not-a-token", 422, "token"),
    ('/search?intersects={"type":"Polygon"}', 422, "intersects"),
    ("/search?intersects=nope", 422, "intersects"),
    ("/collections/nope", 404, "collection_id"),
    ("/collections/nope/items", 404, "collection_id"),
    ("/collections/l3a-synthesis/items?bbox=1,2", 422, "bbox"),
    ("/collections/l3a-synthesis/items?limit=1001", 422, "limit"),
    ("/collections/l3a-synthesis/items/nope", 404, "item_id"),
    ("/?f=xml", 422, "f"),
]
BAD_POSTS: list[tuple[dict[str, Any], int, str]] = [
    ({"bbox": [1, 2, 3]}, 422, "bbox"),
    ({"bbox": [1.3, 43.7, 1.4, 43.6]}, 422, "bbox"),
    ({"bbox": [0, 0, 1, 1], "intersects": {"type": "Point", "coordinates": [0, 0]}},
     422, "intersects"),
    ({"intersects": {"type": "Polygon", "coordinates": [[[0, 0], [1]]]}}, 422, "intersects"),
    ({"intersects": {"type": "Feature"}}, 422, "intersects"),
    ({"datetime": "2024-13-01T00:00:00Z"}, 422, "datetime"),
    ({"datetime": "2024-07-01T00:00:00Z/2024-06-01T00:00:00Z"}, 422, "datetime"),
    ({"limit": 0}, 422, "limit"),
    ({"limit": 100000}, 422, "limit"),
    ({"collections": ["nope"]}, 404, "collections"),
    ({"ids": "not-a-list"}, 422, "ids"),
    ({"token": "%%%"}, 422, "token"),
    ({"sortby": [{"field": "id", "direction": "asc"}]}, 422, "sortby"),
]


@pytest.mark.parametrize(("url", "status", "field"), BAD_GETS)
def test_bad_get_parameters_are_problems_naming_them(client: httpx.Client, url: str,
                                                     status: int, field: str) -> None:
    assert_problem(client.get(url), status, field)


@pytest.mark.parametrize(("body", "status", "field"), BAD_POSTS,
                         ids=[json.dumps(b)[:40] for b, _, _ in BAD_POSTS])
def test_bad_search_bodies_are_problems_naming_the_field(
        client: httpx.Client, body: dict[str, Any], status: int, field: str) -> None:
    assert_problem(client.post("/search", json=body), status, field)


def test_an_item_is_found_in_its_collection_only(client: httpx.Client,
                                                 products: dict[str, dict[str, Any]]) -> None:
    pid = products["c"]["id"]
    assert client.get(f"/collections/l3a-composite/items/{pid}").status_code == 200
    assert_problem(client.get(f"/collections/l3a-synthesis/items/{pid}"), 404, "item_id")


def test_stac_validator_finds_the_served_items_and_collections_valid(
        stac_server: Server, products: dict[str, dict[str, Any]]) -> None:
    # stac-validator, as a user would run it on the service's URLs, with the offline schemas
    # (its schema map sends every schema URL, and every $ref inside one, to a local file).
    from stac_validator.stac_validator import StacValidate

    schemas = schema_map()
    urls = [f"{stac_server.url}/products/{item['id']}" for item in products.values()]
    urls += [f"{stac_server.url}/collections/{c}" for c in ("l3a-synthesis", "l3a-composite")]
    for url in urls:
        validator = StacValidate(url, schema_map=schemas)
        assert validator.run(), (url, validator.message)
        (report,) = validator.message
        assert report["valid_stac"] is True
        # The item declares its extensions (projection, raster, eo, classification...) and
        # each was checked, from its offline copy, not only the core schema.
        declared = httpx.get(url).json().get("stac_extensions", [])
        assert {schemas[u] for u in declared} <= set(report["schema"]), report["schema"]
        assert len(report["schema"]) == len(declared) + 1
